"""Dataset adapters: turn a dataset's folder into labelled video records.

Each adapter registers under a name (``--dataset NAME``) in its own module: ``folder`` (real/ and fake/
subfolders), ``dfdc``, ``celebdf`` (Celeb-DF v2) and ``celebdf_v1``, ``ffpp`` (FaceForensics++), ``dfd``
(DeepFakeDetection) and ``uadfv``; what they share is in ``base``. An adapter's options live under
``datasets.<name>`` in
the configuration. Each adapter module declares everything of its dataset: the adapter
(``ADAPTERS.register``), its config section ``datasets.<name>`` with its defaults (``register_options``) and
choices (``register_choices``), what keeps its videos together in a split (``GROUPING``) and its ``--check``
with the official numbers (``CHECKS.register``, a ``Check`` from ``check``). Importing the package registers
every adapter; the names below are re-exported, so ``from common.data.adapters import X`` works for each.
"""

from common.data.adapters.base import (
    ADAPTERS,
    DOWNLOAD_SUFFIX,
    GROUPING,
    LABEL_VALUES,
    SIDECAR_SUFFIXES,
    VideoRecord,
    candidate_files,
    download_videos,
    groups_by_pattern,
    identity_groups,
    label_options,
    list_videos,
    parse_label,
    read_groups,
    read_labels,
    read_video_table,
    regroup,
    relative_name,
    source_options,
)
from common.data.adapters.celebdf import (
    CELEBDF_FAKE_NAME,
    CELEBDF_FOLDERS,
    CELEBDF_LIST_LABELS,
    CELEBDF_REAL_NAME,
    CELEBDF_TEST_LIST,
    CELEBDF_V2_TEST_VIDEOS,
    CELEBDF_V2_VIDEOS,
    celebdf_release,
    celebdf_test_list,
    celebdf_v1_videos,
    celebdf_videos,
    check_celebdf,
)
from common.data.adapters.check import CHECKS, Check
from common.data.adapters.dfd import (
    DFD_FAKE_NAME,
    DFD_FAKES,
    DFD_METHOD,
    DFD_ORIGINALS,
    DFD_REAL_NAME,
    DFD_VIDEOS,
    check_dfd,
    dfd_videos,
)
from common.data.adapters.dfdc import dfdc_videos
from common.data.adapters.ffpp import (
    FFPP_COMPRESSION_FOLDERS,
    FFPP_FAKE_NAME,
    FFPP_MANIPULATED,
    FFPP_METHODS,
    FFPP_ORIGINALS,
    FFPP_SPLIT_VIDEOS,
    FFPP_VIDEOS,
    check_ffpp,
    check_ffpp_options,
    ffpp_folder,
    ffpp_folder_or_none,
    ffpp_official_pairs,
    ffpp_videos,
)
from common.data.adapters.folder import folder_labels, folder_videos
from common.data.adapters.uadfv import UADFV_CLIPS, check_uadfv, uadfv_videos

__all__ = [
    "ADAPTERS",
    "CELEBDF_FAKE_NAME",
    "CELEBDF_FOLDERS",
    "CELEBDF_LIST_LABELS",
    "CELEBDF_REAL_NAME",
    "CELEBDF_TEST_LIST",
    "CELEBDF_V2_TEST_VIDEOS",
    "CELEBDF_V2_VIDEOS",
    "CHECKS",
    "DFD_FAKES",
    "DFD_FAKE_NAME",
    "DFD_METHOD",
    "DFD_ORIGINALS",
    "DFD_REAL_NAME",
    "DFD_VIDEOS",
    "DOWNLOAD_SUFFIX",
    "FFPP_COMPRESSION_FOLDERS",
    "FFPP_FAKE_NAME",
    "FFPP_MANIPULATED",
    "FFPP_METHODS",
    "FFPP_ORIGINALS",
    "FFPP_SPLIT_VIDEOS",
    "FFPP_VIDEOS",
    "GROUPING",
    "LABEL_VALUES",
    "SIDECAR_SUFFIXES",
    "UADFV_CLIPS",
    "Check",
    "VideoRecord",
    "candidate_files",
    "celebdf_release",
    "celebdf_test_list",
    "celebdf_v1_videos",
    "celebdf_videos",
    "check_celebdf",
    "check_dfd",
    "check_ffpp",
    "check_ffpp_options",
    "check_uadfv",
    "dfd_videos",
    "dfdc_videos",
    "download_videos",
    "ffpp_folder",
    "ffpp_folder_or_none",
    "ffpp_official_pairs",
    "ffpp_videos",
    "folder_labels",
    "folder_videos",
    "groups_by_pattern",
    "identity_groups",
    "label_options",
    "list_videos",
    "parse_label",
    "read_groups",
    "read_labels",
    "read_video_table",
    "regroup",
    "relative_name",
    "source_options",
    "uadfv_videos",
]
