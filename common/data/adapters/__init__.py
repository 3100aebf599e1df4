"""Dataset adapters: turn a dataset's folder into labelled video records.

Each adapter registers under a name (``--dataset NAME``) in its own module: ``folder`` (real/ and fake/
subfolders), ``dfdc``, ``celebdf`` (Celeb-DF v2) and ``celebdf_v1``, ``ffpp`` (FaceForensics++) and ``dfd``
(DeepFakeDetection); what they share is in ``base``. An adapter's options live under ``datasets.<name>`` in
the configuration. Importing the package registers every adapter; the names below are re-exported, so
``from common.data.adapters import X`` works for each of them.
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
    source_options,
)
from common.data.adapters.celebdf import (
    CELEBDF_FAKE_NAME,
    CELEBDF_FOLDERS,
    CELEBDF_LIST_LABELS,
    CELEBDF_REAL_NAME,
    CELEBDF_TEST_LIST,
    celebdf_release,
    celebdf_test_list,
    celebdf_v1_videos,
    celebdf_videos,
)
from common.data.adapters.dfd import (
    DFD_FAKE_NAME,
    DFD_FAKES,
    DFD_METHOD,
    DFD_ORIGINALS,
    DFD_REAL_NAME,
    dfd_videos,
)
from common.data.adapters.dfdc import dfdc_videos
from common.data.adapters.ffpp import (
    FFPP_COMPRESSION_FOLDERS,
    FFPP_FAKE_NAME,
    FFPP_MANIPULATED,
    FFPP_ORIGINALS,
    ffpp_folder,
    ffpp_official_pairs,
    ffpp_videos,
)
from common.data.adapters.folder import folder_labels, folder_videos

__all__ = [
    "ADAPTERS",
    "CELEBDF_FAKE_NAME",
    "CELEBDF_FOLDERS",
    "CELEBDF_LIST_LABELS",
    "CELEBDF_REAL_NAME",
    "CELEBDF_TEST_LIST",
    "DFD_FAKES",
    "DFD_FAKE_NAME",
    "DFD_METHOD",
    "DFD_ORIGINALS",
    "DFD_REAL_NAME",
    "DOWNLOAD_SUFFIX",
    "FFPP_COMPRESSION_FOLDERS",
    "FFPP_FAKE_NAME",
    "FFPP_MANIPULATED",
    "FFPP_ORIGINALS",
    "GROUPING",
    "LABEL_VALUES",
    "SIDECAR_SUFFIXES",
    "VideoRecord",
    "candidate_files",
    "celebdf_release",
    "celebdf_test_list",
    "celebdf_v1_videos",
    "celebdf_videos",
    "dfd_videos",
    "dfdc_videos",
    "download_videos",
    "ffpp_folder",
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
    "source_options",
]
