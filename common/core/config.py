"""One layered, strict configuration for every stage.

Built-in defaults < a YAML file (``--config``) < command-line overrides. An unknown key or a value of the
wrong type is a ``ConfigError`` that names the key. The ``preprocess`` section is shared by stage 02 (training
crops) and stage 05 (inference crops), so both crop faces the same way.
"""

import copy
import logging
from pathlib import Path

import yaml

from common.core.errors import ConfigError
from common.core.manifest import SPLITS

log = logging.getLogger(__name__)

DEFAULTS = {
    "seed": 42,
    "video": {
        "sampling": "fps",  # fps: video.fps per second of video (capped by max_frames) | frames: video.frames
        "fps": 1.0,  # frames sampled per second of video (sampling: fps)
        "max_frames": 0,  # cap per video, spread evenly; 0 = no cap (sampling: fps)
        "frames": 32,  # frames per video, evenly spaced (sampling: frames)
        "jpeg_quality": 95,
        "resize": "width_rule",  # width_rule (common.io.video.WIDTH_RULE) | none: native size
    },
    # options of the dataset adapters (stage 01, and stage 05 with --dataset): each adapter module declares its
    # section, datasets.<name>, with register_options
    "datasets": {},
    "preprocess": {  # face detection and cropping: stage 02 and stage 05
        "detector": "mtcnn",  # mtcnn (LiteRT) | mtcnn_package (the package on TensorFlow) | blazeface
        "min_confidence": 0.95,
        "lone_face_min_confidence": 0.8,  # a frame's only detection is kept from this confidence
        "track_min_confidence": 0.6,  # a detection continuing the track of a face kept above
        "detect_max_width": 1000,  # wider frames are shrunk for detection (crops keep the detail); 0 = never
        "margin": 0.3,  # of the box width/height, on each side
        "min_face_size": 20,  # MTCNN finds nothing at 30 or more
        "jpeg_quality": 95,
        "faces": "all",  # all | main: the video's main track only (most face area over its frames)
    },
    "dataset": {
        "train": 0.8,
        "val": 0.1,
        "test": 0.1,
        # train split only (val and test keep every face): none = keep every face, stage 04's class weights
        # even the loss | frames = every video, fewer evenly spaced frames of each majority-class video |
        # videos = drop whole majority-class videos
        "balance": "none",
        "protocol": "auto",  # official | ratios; auto = official when the adapter gives official splits
    },
    "train": {
        "model": "efficientnet_b0",
        "image_size": 128,
        "weights": "imagenet",  # imagenet | none | path to a weights file
        "epochs": 20,  # fine-tuning epochs (all layers trainable)
        "head_epochs": 0,  # epochs with a frozen backbone before fine-tuning; 0 = skip that phase
        "batch_size": 32,
        "learning_rate": 1.0e-4,
        "finetune_learning_rate": 1.0e-5,  # fine-tuning's, when a head phase ran first (else learning_rate)
        "patience": 5,
        "augment": True,
        "cache": "auto",  # auto (memory when the decoded images fit, else disk) | memory | disk | none
        "mixed_precision": "auto",  # auto (only on GPU) | on | off
        "batchnorm": "auto",  # auto (frozen with pretrained weights, trained from scratch) | frozen | train
        "scratch_batchnorm_momentum": 0.9,  # BatchNorm momentum without pretrained weights (Keras: 0.99)
        "pooling": "auto",  # global pooling: auto (max; avg for efficientnet_b0 from scratch) | max | avg
        "explain": False,  # after training: Grad-CAM and t-SNE of test faces into <run>/explain/
        # after training: fit a temperature T on the val split's frame P(fake) and divide the model's output
        # logit by it, so the saved model outputs calibrated P(fake) (common.training.temperature)
        "temperature_scaling": False,
        "pseudo_fakes": "none",  # none | sbi: self-blended fakes made from the training split's real faces
        "video": {  # video models (<backbone>_lstm)
            "window": 8,  # consecutive sampled crops of one face track per window
        },
        "metric": {  # metric learning: a loss on the embedding besides P(fake)'s cross-entropy
            "loss": "none",  # none | a loss of common.training.metric_losses.LOSSES (triplet, supcon)
            "weight": 1.0,  # of the metric loss (the classification loss has weight 1)
            "margin": 0.5,  # triplet: the margin (its own setting, declared in LOSSES)
            "temperature": 0.5,  # supcon: the temperature (its own setting)
        },
        "sbi": {  # pseudo_fakes: sbi
            "mode": "online",  # online (fresh pairs every epoch, the paper's) | once per run
            "val_fakes": "real",  # real (model selection on val's own fakes) | sbi (on pseudo-fakes of val reals)
        },
    },
    "evaluation": {  # statistics of stage 04's test metrics and stage 05's labelled metrics
        "bootstrap_resamples": 1000,  # 95 % intervals by bootstrap over videos; 0 = no intervals
        "bootstrap_seed": 0,
        "ece_bins": 15,  # equal-width bins of the top-label expected calibration error
    },
    "predict": {
        "frames": 0,  # frames per video, evenly spaced; 0 = sampled as the model's training frames were
        "faces": "model",  # model (the model's preprocess.faces) | all | main
        "aggregate": "vote",  # vote | mean | max: a track's verdict from its frames
        "video_score": "track_max",  # track_max: the most fake track decides | frame_mean: mean frame P(fake)
        "track_min_share": 0.25,  # a track decides only if seen in this share of the frames with a face
        "threshold": 0.5,
        "batch_size": 64,
        "report_max_videos": 200,  # report.html beside the CSVs by default when fewer videos (0: never)
        "report_thumbnail": 48,  # px, the side of each face crop shown in the report
        "review_band": 0.1,  # needs_review when |P(fake) - threshold| <= this
        "review_min_frames": 4,  # needs_review when fewer frames with a scored face
    },
}

BATCHNORM_MODES = ("auto", "frozen", "train")  # see common.models.classifier.freezes_batchnorm
POOLING_MODES = ("auto", "max", "avg")  # see common.models.classifier.resolve_pooling
MIXED_PRECISION_MODES = ("auto", "on", "off")  # see common.training.devices.setup_devices
CACHE_MODES = ("auto", "memory", "disk", "none")  # see common.data.pipeline.choose_cache
PSEUDO_FAKES_MODES = ("online", "once")  # see common.training.sbi.training_rows
VAL_FAKES = ("real", "sbi")  # see common.training.sbi.training_rows
OLD_VALUES = {  # booleans that older configs hold
    "train.cache": {True: "auto", False: "none"},
    "dataset.balance": {True: "videos", False: "none"},  # true meant dropping whole videos
}
# Keys that moved: an old config file's key is read at its new place, with a warning naming it.
MOVED_KEYS = {
    "train.window": "train.video.window",
    "train.metric_learning": "train.metric.loss",
    "train.metric_weight": "train.metric.weight",
    "train.metric_margin": "train.metric.margin",  # or the loss's own setting: MOVED_TO_OWN_SETTING
    "train.pseudo_fakes_mode": "train.sbi.mode",
    "train.val_fakes": "train.sbi.val_fakes",
}
# Old keys read at the own setting (``register_own_settings``) of the name that a choice key holds in the end,
# a command line's over a file's: ``train.metric_margin`` was the triplet margin and the supcon temperature.
MOVED_TO_OWN_SETTING = {"train.metric_margin": "train.metric.loss"}
RESIZE_RULES = ("width_rule", "none")  # see common.io.video.scale_for_width
SAMPLING_RULES = ("fps", "frames")  # see common.io.video.pick_frames
VIDEO_SCORES = ("track_max", "frame_mean")  # see common.evaluation.aggregate.video_scores
SPLIT_PROTOCOLS = ("auto", "official", "ratios")  # see common.data.split.split_by_video


# The keys whose value names something, in the order they are checked: a tuple is a fixed list of modes;
# None is filled in by the plug-ins that register the names (``register_choices``), so the configuration
# imports none of them. ``common.plugins`` imports every plug-in module; the stage scripts load it (through
# ``common.cli``) before they read a config or build their ``--help``.
CHOICE_KEYS = {
    "video.sampling": SAMPLING_RULES,
    "video.resize": RESIZE_RULES,
    "dataset.protocol": SPLIT_PROTOCOLS,
    "dataset.balance": None,  # common.data.split.BALANCE_MODES
    "preprocess.detector": None,  # common.faces.base.DETECTORS
    "preprocess.faces": None,  # common.faces.detection.FACE_CHOICES
    "train.model": None,  # common.models.backbones.BACKBONES, then common.models.video's <backbone>_lstm
    "train.mixed_precision": MIXED_PRECISION_MODES,
    "train.cache": CACHE_MODES,
    "train.batchnorm": BATCHNORM_MODES,
    "train.pseudo_fakes": None,  # common.training.pseudo_fakes.PSEUDO_FAKES
    "train.metric.loss": None,  # "none", then common.training.metric_losses.LOSSES
    "train.sbi.mode": PSEUDO_FAKES_MODES,
    "train.sbi.val_fakes": VAL_FAKES,
    "predict.aggregate": None,  # common.evaluation.aggregate.RULES
    "predict.video_score": VIDEO_SCORES,
    "predict.faces": None,  # "model", then common.faces.detection.FACE_CHOICES
}
_PROVIDERS = {}  # dotted key -> functions returning names, in registration order
# sections of DEFAULTS whose subsections the plug-ins declare (register_options)
PLUGIN_SECTIONS = ("datasets",)
_OPTION_CHECKS = {}  # dotted section -> function(section) raising ConfigError, from register_options


def register_options(dotted_section, options, check=None):
    """A plug-in module declares its own config section ``dotted_section`` ("datasets.ffpp"), a subsection of
    one of ``PLUGIN_SECTIONS``: ``options`` maps each key to its built-in default, which ``DEFAULTS`` then
    holds (``configs/default.yaml`` lists it too); ``check``, if given, is called with the resolved section by
    ``validate`` and raises ``ConfigError`` for a value its type alone does not refuse. Its keys may then take
    ``register_choices``. Declaring a section twice is a programming error."""
    parent, _, name = dotted_section.rpartition(".")
    if parent not in PLUGIN_SECTIONS or not name:
        raise ValueError(f"config section '{dotted_section}' is not one that plug-ins declare")
    if name in DEFAULTS[parent]:
        raise ValueError(f"config section '{dotted_section}' is already declared")
    DEFAULTS[parent][name] = copy.deepcopy(options)
    if check is not None:
        _OPTION_CHECKS[dotted_section] = check


def register_choices(dotted_key, names):
    """A plug-in module adds the names that ``names()`` returns (called when asked, so names registered
    later count) to the allowed values of ``dotted_key``: one of ``CHOICE_KEYS`` without a fixed list, or a
    key of a section that a plug-in declared (``register_options``)."""
    section, _, key = dotted_key.rpartition(".")
    parent, _, name = section.rpartition(".")
    declared = parent in PLUGIN_SECTIONS and key in DEFAULTS[parent].get(name, {})
    if CHOICE_KEYS.get(dotted_key, ()) is not None and not declared:
        raise ValueError(f"config key '{dotted_key}' takes no registered choices")
    _PROVIDERS.setdefault(dotted_key, []).append(names)


def choices():
    """The allowed values of the keys that name something: the mode lists above, and the names the loaded
    plug-ins registered (a key none of them filled is not checked here; its registry still refuses an
    unknown name)."""
    found = {}
    for key, fixed in CHOICE_KEYS.items():
        if fixed is not None:
            found[key] = fixed
        elif key in _PROVIDERS:
            found[key] = tuple(name for names in _PROVIDERS[key] for name in names())
    for key, providers in _PROVIDERS.items():  # the keys of declared sections (register_options)
        if key not in CHOICE_KEYS:
            found[key] = tuple(name for names in providers for name in names())
    return found


_OWN_SETTINGS = {}  # dotted key -> function: a name it takes -> the dotted keys of that name's own settings


def register_own_settings(dotted_key, settings_of):
    """A plug-in module says which config keys each name it registers on ``dotted_key`` takes as its own
    settings: ``settings_of(name)`` -> dotted keys, none for a name without (``MOVED_TO_OWN_SETTING``)."""
    _OWN_SETTINGS[dotted_key] = settings_of


def moved_key(dotted_key, chosen=None):
    """The place of an old key (``MOVED_KEYS``) today, else ``dotted_key``. An old key of
    ``MOVED_TO_OWN_SETTING`` goes to the first own setting of ``chosen``, the name its choice key holds in the
    end (``train.metric_margin``: the supcon temperature, the triplet margin), or to its ``MOVED_KEYS`` place
    when that name has none."""
    settings_of = _OWN_SETTINGS.get(MOVED_TO_OWN_SETTING.get(dotted_key))
    own = settings_of(chosen) if settings_of is not None else ()
    return own[0] if own else MOVED_KEYS.get(dotted_key, dotted_key)


def _names_of(dotted_key):
    """``dotted_key`` and the old keys that moved to it."""
    return (dotted_key, *(old for old, new in MOVED_KEYS.items() if new == dotted_key))


def _given(mapping, dotted_key):
    """The value that the sections of ``mapping`` give ``dotted_key``, at its place or an old one; else None."""
    for name in _names_of(dotted_key):
        node = mapping
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def _chosen_in(overrides):
    """The names that the command line's ``overrides`` (dotted keys) give the choice keys of
    ``MOVED_TO_OWN_SETTING``, by choice key."""
    chosen = {}
    for choice in set(MOVED_TO_OWN_SETTING.values()):
        for name in _names_of(choice):
            if overrides.get(name) is not None:
                chosen[choice] = overrides[name]
    return chosen


def _warn_moved(old, new, source):
    log.warning("config key '%s' (%s) is read as '%s': rename it there", old, source, new)


def upgraded(mapping, source, chosen=None):
    """A copy of a config mapping (a YAML file's sections, a saved run's config) with its old keys
    (``MOVED_KEYS``) at their new places, one warning each naming the new key and ``source``; a key given at
    both places is a ``ConfigError``. ``chosen``: names that a command line gives choice keys, by dotted key
    (``_chosen_in``); they decide where an old key of ``MOVED_TO_OWN_SETTING`` goes, else ``mapping``'s own
    names do, else the defaults."""
    mapping = copy.deepcopy(mapping)
    train = mapping.get("train")
    if not isinstance(train, dict):
        return mapping
    for old in MOVED_KEYS:
        leaf = old.split(".")[1]
        if leaf not in train:
            continue
        choice = MOVED_TO_OWN_SETTING.get(old)
        in_force = None
        if choice is not None:
            in_force = (chosen or {}).get(choice, _given(mapping, choice))
            in_force = default(choice) if in_force is None else in_force
        new = moved_key(old, in_force)
        _, section, key = new.split(".")
        node = train.setdefault(section, {})
        if not isinstance(node, dict):
            continue  # the merge names the section that is not a mapping
        if key in node:
            raise ConfigError(f"config key '{old}' is '{new}' now; {source} gives both: keep '{new}'")
        _warn_moved(old, new, source)
        node[key] = train.pop(leaf)
    return mapping


def default(dotted_key):
    """The built-in default of one dotted key ("video.fps")."""
    return _value(DEFAULTS, dotted_key)


def _value(config, dotted_key):
    node = config
    for part in dotted_key.split("."):
        node = node[part]
    return node


def load_config(path=None, overrides=None):
    """Return the resolved config: defaults, then the YAML file at ``path``, then ``overrides``.

    ``overrides`` maps dotted keys ("video.fps") to values; ``None`` values are ignored so that unset
    command-line flags do not override the file. An old key that moved to a loss's own setting
    (``MOVED_TO_OWN_SETTING``) goes where the loss in force says: the command line's, else the file's.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
        _merge(config, upgraded(loaded, f"in {path}", _chosen_in(overrides or {})), prefix="")
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    deciding = {name for choice in MOVED_TO_OWN_SETTING.values() for name in _names_of(choice)}
    for key, value in sorted(overrides.items(), key=lambda item: item[0] not in deciding):  # choices first
        set_key(config, key, value)
    validate(config)
    return config


def config_from(mapping):
    """A resolved config from a saved one (a run's config.yaml): the built-in defaults, then ``mapping``, with
    the checks of ``load_config``; keys added since it was saved get their defaults."""
    config = copy.deepcopy(DEFAULTS)
    _merge(config, upgraded(mapping, "in a saved config"), prefix="")
    validate(config)
    return config


def set_key(config, dotted_key, value):
    """Set one dotted key, with the same checks as a YAML file (an old key, ``MOVED_KEYS``, at its new place)."""
    if dotted_key in MOVED_KEYS:
        choice = MOVED_TO_OWN_SETTING.get(dotted_key)
        new = moved_key(dotted_key, None if choice is None else _value(config, choice))
        _warn_moved(dotted_key, new, "an override")
        dotted_key = new
    *sections, leaf = dotted_key.split(".")
    node = config
    for depth, section in enumerate(sections):
        node = node.get(section) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ConfigError(f"unknown config key '{'.'.join(sections[: depth + 1])}'")
    _merge(node, {leaf: value}, prefix=".".join(sections) + "." if sections else "")


def _merge(base, update, prefix):
    for key, value in update.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(f"{prefix}{k}" for k in base)
            raise ConfigError(f"unknown config key '{name}' (known: {known})")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{name}' must be a section (mapping), got {value!r}")
            _merge(default, value, prefix=f"{name}.")
        else:
            if isinstance(value, bool) and name in OLD_VALUES:
                value = OLD_VALUES[name][value]
            base[key] = _coerce(name, default, value)


def _coerce(name, default, value):
    """Accept ``value`` if it has the type of ``default`` (an int where a float is expected is fine)."""
    is_bool, is_number = isinstance(value, bool), isinstance(value, (int, float))
    if isinstance(default, bool):
        accepted = is_bool
    elif isinstance(default, int):
        accepted = isinstance(value, int) and not is_bool
    elif isinstance(default, float):
        accepted = is_number and not is_bool
    else:
        accepted = isinstance(value, type(default))
    if not accepted:
        raise ConfigError(f"config key '{name}' must be of type {type(default).__name__}, got {value!r}")
    return float(value) if isinstance(default, float) else value


def validate(config):
    """Range checks that types alone cannot express."""
    for dotted, allowed in choices().items():
        value = _value(config, dotted)
        if value not in allowed:
            raise ConfigError(f"config key '{dotted}' must be one of {', '.join(allowed)}, got {value!r}")
    for dotted_section, check in _OPTION_CHECKS.items():
        check(_value(config, dotted_section))
    checks = [
        ("video.fps", config["video"]["fps"] > 0, "must be > 0"),
        ("video.max_frames", config["video"]["max_frames"] >= 0, "must be >= 0 (0 = no cap)"),
        ("video.frames", config["video"]["frames"] >= 1, "must be >= 1"),
        ("video.jpeg_quality", 1 <= config["video"]["jpeg_quality"] <= 100, "must be in 1..100"),
        ("preprocess.jpeg_quality", 1 <= config["preprocess"]["jpeg_quality"] <= 100, "must be in 1..100"),
        ("preprocess.min_confidence", 0 <= config["preprocess"]["min_confidence"] <= 1, "must be in 0..1"),
        (
            "preprocess.lone_face_min_confidence",
            0 <= config["preprocess"]["lone_face_min_confidence"] <= config["preprocess"]["min_confidence"],
            "must be in 0..preprocess.min_confidence",
        ),
        (
            "preprocess.track_min_confidence",
            0
            <= config["preprocess"]["track_min_confidence"]
            <= config["preprocess"]["lone_face_min_confidence"],
            "must be in 0..preprocess.lone_face_min_confidence",
        ),
        (
            "preprocess.detect_max_width",
            config["preprocess"]["detect_max_width"] == 0 or config["preprocess"]["detect_max_width"] >= 64,
            "must be 0 (detect at the frame's size) or >= 64",
        ),
        ("preprocess.margin", 0 <= config["preprocess"]["margin"] <= 2, "must be in 0..2"),
        (
            "preprocess.min_face_size",
            1 <= config["preprocess"]["min_face_size"] < 30,
            "must be in 1..29 (the mtcnn package silently finds no face at 30 or more)",
        ),
        ("train.image_size", config["train"]["image_size"] >= 16, "must be >= 16"),
        ("train.epochs", config["train"]["epochs"] >= 0, "must be >= 0"),
        ("train.head_epochs", config["train"]["head_epochs"] >= 0, "must be >= 0"),
        (
            "train.epochs",
            config["train"]["epochs"] + config["train"]["head_epochs"] > 0,
            "and head_epochs cannot both be 0",
        ),
        ("train.batch_size", config["train"]["batch_size"] >= 1, "must be >= 1"),
        ("train.learning_rate", config["train"]["learning_rate"] > 0, "must be > 0"),
        ("train.finetune_learning_rate", config["train"]["finetune_learning_rate"] > 0, "must be > 0"),
        ("train.patience", config["train"]["patience"] >= 1, "must be >= 1"),
        ("train.video.window", config["train"]["video"]["window"] >= 2, "must be >= 2"),
        ("train.metric.weight", config["train"]["metric"]["weight"] > 0, "must be > 0"),
        ("train.metric.margin", config["train"]["metric"]["margin"] > 0, "must be > 0"),
        ("train.metric.temperature", config["train"]["metric"]["temperature"] > 0, "must be > 0"),
        (
            "train.scratch_batchnorm_momentum",
            0 <= config["train"]["scratch_batchnorm_momentum"] < 1,
            "must be in [0, 1)",
        ),
        (
            "train.sbi.val_fakes",
            config["train"]["sbi"]["val_fakes"] == "real" or config["train"]["pseudo_fakes"] == "sbi",
            "sbi needs train.pseudo_fakes: sbi",
        ),
        (
            "predict.frames",
            config["predict"]["frames"] >= 0,
            "must be >= 0 (0 = as the model's training frames were sampled)",
        ),
        ("predict.track_min_share", 0 <= config["predict"]["track_min_share"] <= 1, "must be in 0..1"),
        ("predict.threshold", 0 < config["predict"]["threshold"] < 1, "must be in (0, 1)"),
        ("predict.batch_size", config["predict"]["batch_size"] >= 1, "must be >= 1"),
        ("predict.report_max_videos", config["predict"]["report_max_videos"] >= 0, "must be >= 0"),
        (
            "predict.report_thumbnail",
            16 <= config["predict"]["report_thumbnail"] <= 256,
            "must be in 16..256",
        ),
        ("predict.review_band", 0 <= config["predict"]["review_band"] < 0.5, "must be in [0, 0.5)"),
        ("predict.review_min_frames", config["predict"]["review_min_frames"] >= 0, "must be >= 0"),
    ]
    for name, ok, message in checks:
        if not ok:
            raise ConfigError(f"config key '{name}' {message}")
    ratios = [config["dataset"][split] for split in SPLITS]
    if min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"config keys 'dataset.train/val/test' must be >= 0 and sum to 1, got {ratios}")


def save_config(config, path):
    """Write the resolved config as YAML (atomically)."""
    from common.core.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
