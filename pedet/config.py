"""
add_pedet_config(cfg): the config keys that both projects (OPL, RepLoss) and pedet's data pipeline read.

Call it right after get_cfg(), before the project's own add_*_config (as every project's train_net.py setup() does).
"""
# What a model does with the ignore boxes it receives as gt_classes == -1 (docs/methods.md §3.1).
IGNORE_MODES = ("drop", "exclude_bg")


def add_pedet_config(cfg) -> None:
    """Add pedet's keys to a detectron2 CfgNode in place; nothing if they are there (add_opl_config and
    add_reploss_config call it, so a set-up calling it first, as train_net does, keeps working)."""
    if "IGNORE_MODE" in cfg.INPUT:
        return
    # How training uses the ignore boxes (CrowdHuman tag "mask" / extra.ignore, CityPersons non-pedestrian labels,
    # Caltech "people"/"ignore", TJU-Ped ignore flag). The mapper always passes them as gt_classes == -1; every model
    # splits them off (pedet.data.mapper.split_ignore_instances) before matching, then:
    #   "drop":       ignore them: they are neither positives nor excluded from the negatives.
    #                 CHOICE C1, docs/methods.md §3.1: matches the DeFCN CrowdHuman numbers and detectron2's
    #                 handling of iscrowd boxes.
    #   "exclude_bg": also remove from the background / focal negatives what lies in an ignore box: for Faster R-CNN
    #                 (reploss), RPN anchors and R-CNN proposals labelled background whose IoA (over their own area)
    #                 with an ignore box exceeds MODEL.REPLOSS.IGNORE_IOA_THRESH (CrowdDet-like, PEER [R18]); for a
    #                 dense head, locations inside an ignore box that are not positives.
    # One of IGNORE_MODES.
    cfg.INPUT.IGNORE_MODE = "drop"
    add_selection_config(cfg)
    add_miss_rate_config(cfg)


def add_selection_config(cfg) -> None:
    """
    Add the keys of the model-selection set (pedet.data.selection; add_pedet_config calls it). ``model_best.pth`` is
    kept by the headline miss rate on this set; the TEST sets are evaluated too, but never rank checkpoints. CHOICE:
    the papers report the final model, so with neither key set no best checkpoint is kept.
    """
    # A registered data set name that ranks checkpoints; "" = none. Must not be in DATASETS.TEST or DATASETS.TRAIN.
    cfg.DATASETS.SELECTION = ""
    # Or a hold-out carved from the concatenated DATASETS.TRAIN and removed from training: None / 0 = none, an integer
    # count >= 1, or a fraction in (0, 1) of the training images (yacs accepts either type because the default is None).
    cfg.DATASETS.SELECTION_HOLDOUT = None
    # Seed of the hold-out draw (numpy RandomState; independent of cfg.SEED, so every run holds out the same images).
    cfg.DATASETS.SELECTION_HOLDOUT_SEED = 0


def add_miss_rate_config(cfg) -> None:
    """
    Add ``cfg.TEST.MISS_RATE`` (read by pedet.evaluation.build_miss_rate_evaluator; add_pedet_config calls it).
    Without these keys the evaluator uses the defaults below.
    """
    from detectron2.config import CfgNode as CN

    cfg.TEST.MISS_RATE = CN()
    # Protocol: "" = the dataset's MetadataCatalog evaluator_type; else "crowdhuman" | "citypersons" | "caltech".
    # CHOICE.
    cfg.TEST.MISS_RATE.PROTOCOL = ""
    # CityPersons / Caltech subsets: [] = protocol default (7 CityPersons setups; Caltech Reasonable, All, Heavy),
    # else names or "NAME:HMIN:HMAX:VMIN:VMAX". PEER (eval_MR_multisetup.py, Pedestron eval_mr.py, dbEval.m).
    cfg.TEST.MISS_RATE.SETUPS = []
    # CityPersons: "official" (eval_MR_multisetup.py numbers) or "matlab" (toolbox recall-0 rule). PEER.
    cfg.TEST.MISS_RATE.MODE = "official"
    # CrowdHuman GT box: "full" (fbox, the published numbers) or "visible" (vbox). PEER.
    cfg.TEST.MISS_RATE.BOX = "full"
    # CrowdHuman JI (10 score thresholds, maximum-weight matching) on/off. CHOICE.
    cfg.TEST.MISS_RATE.JI_ON = True
    # MR-FPPI PNG in the output dir on/off. CHOICE.
    cfg.TEST.MISS_RATE.PLOTS_ON = True
    # RepLoss §3.2 error analysis in metrics.json on/off, at FPPI ERROR_ANALYSIS_FPPI (> 0). PAPER (RepLoss §3.2).
    cfg.TEST.MISS_RATE.ERROR_ANALYSIS_ON = True
    cfg.TEST.MISS_RATE.ERROR_ANALYSIS_FPPI = 0.1


class ConfigError(SystemExit):
    """A config file or override that cannot be merged: one line on stderr, exit status 1, no traceback."""


def merge_config(cfg, config_file: str, opts) -> None:
    """
    ``cfg.merge_from_file(config_file)`` then ``cfg.merge_from_list(opts)``, as every entry point does, with yacs'
    errors (unknown key, wrong value type, odd override list, unreadable or invalid YAML, missing ``_BASE_``) turned into
    one line that names the file or the override and what is wrong (``ConfigError``, exit status 1).
    """
    _check_yaml_chain(config_file, cfg)
    defaults = cfg.clone()
    try:
        cfg.merge_from_file(config_file)
    except OSError as e:
        raise ConfigError(f"error: config file {config_file}: cannot be read ({e.strerror or e})") from None
    except (KeyError, ValueError, AssertionError, TypeError) as e:
        raise ConfigError(f"error: config file {config_file}: {_yacs_message(e)}{_project_hint(e)}") from None
    from pedet.utils.cli import override_pairs_problem

    opts = list(opts or [])
    problem = override_pairs_problem(opts)  # an odd count, or Detectron2 LazyConfig's key=value items
    if problem:
        raise ConfigError(f"error: {problem}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError, TypeError) as e:
        raise ConfigError(f"error: config override: {_yacs_message(e)}") from None
    _check_no_none(cfg, defaults)


# Keys whose None Detectron2 handles like their default ("" = no weights: the checkpointer starts from scratch).
NONE_ACCEPTED = ("MODEL.WEIGHTS",)


def _check_no_none(cfg, defaults, prefix: str = "") -> None:
    """
    yacs' type check lets ``None`` replace any value (``KEY None`` on the command line, ``KEY: null`` or ``KEY:`` in
    YAML), and Detectron2 then fails deep inside (``len(None)``, ``None > 0``, ``torch.device(None)``) or only at the
    first evaluation. A key whose default is not None gets None -> ConfigError naming it and the expected type. Left
    alone: the keys of NONE_ACCEPTED, and switches (a bool default), which Detectron2 reads by truth value (None = off).
    """
    for key, default in defaults.items():
        name = f"{prefix}{key}"
        value = cfg[key]
        if isinstance(default, dict):
            _check_no_none(value, default, f"{name}.")
        elif value is None and default is not None and not isinstance(default, bool) and name not in NONE_ACCEPTED:
            raise config_error(name, None, f"must be of type {type(default).__name__}, like its default {default!r} "
                                           "(yacs lets None through for any key)")


def _check_yaml_chain(config_file: str, cfg=None, _chain: tuple = ()) -> list:
    """
    Each file of the ``_BASE_`` chain is readable UTF-8 YAML whose top level is a mapping of config keys, and the
    chain has no loop, and no top-level group of ``cfg`` (e.g. MODEL) is given a plain value; otherwise ConfigError
    naming the file (Detectron2 would fail deep inside with an AttributeError, a TypeError or a RecursionError). ``_BASE_`` paths are resolved as ``CfgNode.load_yaml_with_base`` does (relative to the file
    that names them, ``~`` expanded; a list of bases is allowed); URLs are left to Detectron2. Returns the local files
    of the chain, ``config_file`` first.
    """
    import os

    import yaml

    where = f"config file {config_file}" + (f" (the _BASE_ of {_chain[-1]})" if _chain else "")
    real = os.path.realpath(config_file)
    if config_file.endswith(".py"):  # yacs would read it as YAML and fail on its first line
        raise ConfigError(f"error: {where}: a Python (LazyConfig) file; this script takes a YAML config (yacs "
                          "CfgNode), as Detectron2's tools/train_net.py does")
    if real in _chain:
        raise ConfigError(f"error: {where}: the _BASE_ chain loops ({' -> '.join(_chain + (config_file,))})")
    try:
        with open(config_file, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"error: {where}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"error: {where}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                          "is it a config file?") from None
    if not text.strip():
        raise ConfigError(f"error: {where}: is empty")
    try:
        loaded = yaml.safe_load(text)
    except yaml.constructor.ConstructorError:
        return [config_file]  # a Python tag: Detectron2 loads it unsafely (merge_from_file allows it); no more checks
    except yaml.YAMLError as e:
        reason = getattr(e, "problem", None) or str(e).splitlines()[0]
        mark = getattr(e, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"error: {where}: cannot be read as YAML ({reason}{at})") from None
    if not isinstance(loaded, dict):
        what = "no settings (only comments or null)" if loaded is None else f"a {type(loaded).__name__}"
        raise ConfigError(f"error: {where}: holds {what}, not a mapping of config keys (KEY: value)")
    for key, value in loaded.items():
        if cfg is not None and isinstance(cfg.get(key), dict) and not isinstance(value, dict):
            raise ConfigError(f"error: {where}: {key} is a group of keys, not a value (got the "
                              f"{type(value).__name__} {str(value)[:80]})")
    dotted = _dotted_key(loaded)
    if dotted:  # yacs: "Non-existent config key: SOLVER.BASE_LR", for a key that exists
        parts = dotted.split(".")
        nested = "".join(f"{p}: {{" for p in parts[:-1]) + f"{parts[-1]}: ..." + "}" * (len(parts) - 1)
        raise ConfigError(f"error: {where}: key {dotted!r} is written with dots; a YAML config nests its groups "
                          f"({nested}); dotted names are for command-line overrides")
    twice = _duplicate_key(text)
    if twice:  # PyYAML keeps the last of two equal keys: a second SOLVER: block dropped the first one's settings
        key, first, second = twice
        raise ConfigError(f"error: {where}: key {key!r} is given twice (lines {first} and {second}); YAML keeps only "
                          "the last, which drops everything set under the first; merge them into one")
    bases, files = loaded.get("_BASE_", []), [config_file]
    for base in bases if isinstance(bases, list) else [bases]:
        if not isinstance(base, str) or not base:
            raise ConfigError(f"error: {where}: _BASE_ must be a file name or a list of file names, got {base!r}")
        if base.startswith(("https://", "http://")):
            continue
        base = os.path.expanduser(base)
        if not os.path.isabs(base):
            base = os.path.join(os.path.dirname(config_file), base)
        files += _check_yaml_chain(base, cfg, _chain + (real,))
    return files


def _duplicate_key(text: str):
    """The first key given twice in one mapping of a YAML text, as (dotted key, first line, second line), or None.
    Keys merged in with ``<<: *anchor`` may be overridden (that is what merging is for)."""
    import yaml

    def walk(node, prefix, seen):
        if id(node) in seen:  # an alias: its node was checked where it was defined
            return None
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                    continue
                name = f"{prefix}{key.value}"
                if key.value in lines:
                    return name, lines[key.value], key.start_mark.line + 1
                lines[key.value] = key.start_mark.line + 1
                found = walk(value, f"{name}.", seen)
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                found = walk(item, prefix, seen)
                if found:
                    return found
        return None

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    return walk(root, "", set()) if root is not None else None


def config_file_inputs(config_file: str) -> list:
    """
    The files a config reads, as (what, path) pairs for pedet.utils.cli.check_not_an_input: the file and each local
    ``_BASE_`` of its chain (an output written over a base changed every config built on it). Call it after
    merge_config (a bad chain is a ConfigError there).
    """
    files = _check_yaml_chain(config_file)
    return [("the config file", files[0])] + [(f"a _BASE_ of {config_file}", f) for f in files[1:]]


# The config group each project adds, and the scripts that read it: a config of one project given to the other's
# script fails on its group as an unknown key, which alone does not say that the config is of the wrong kind.
PROJECT_GROUPS = {
    "MODEL.OPL": "an OPL config (MODEL.OPL); run it with projects/OPL/train_net.py, demo/demo.py or tools/export.py",
    "MODEL.REPLOSS": "a RepLoss / Faster R-CNN config (MODEL.REPLOSS); run it with projects/RepLoss/train_net.py, "
                     "projects/RepLoss/nms_sweep.py, demo/demo.py or tools/export.py",
}


def check_unread_project_keys(cfg, defaults, opts, who: str) -> None:
    """
    ``cfg`` of the demo / the export, which add both groups of PROJECT_GROUPS so that a config of either project
    loads, merged from ``defaults`` with the config file and ``opts``. The model reads one group (MODEL.OPL for the
    OPL meta-architecture, MODEL.REPLOSS for the RepLoss project's R-CNN models); a key of the other group set by the
    file or an override had no effect, in silence (train_net.py, which adds only its project's group, refuses it as
    an unknown key) -> ConfigError naming the key.
    """
    arch = cfg.MODEL.META_ARCHITECTURE
    group_read = "MODEL.OPL" if arch == "OPL" else "MODEL.REPLOSS"
    for group in PROJECT_GROUPS:
        if group == group_read:
            continue
        node, default = cfg, defaults
        for part in group.split("."):
            node, default = node[part], default[part]
        keys = [k for k in node if node[k] != default.get(k)]
        keys += [str(k)[len(group) + 1:] for k in list(opts or [])[0::2] if str(k).startswith(group + ".")]
        if keys:
            key = keys[0]
            raise config_error(f"{group}.{key}", node.get(key), f"{who} runs this config's {arch} model, which "
                               f"reads {group_read}, not {group} (the other project's keys): the value would have "
                               "no effect")


def _project_hint(e: Exception) -> str:
    """
    ': KIND; run it with ...' when ``e`` is yacs' unknown-key error on a group of PROJECT_GROUPS itself, else ''.
    yacs names the first missing level, so a misspelt key inside a group this config has (MODEL.OPL.POTO_ALPA in an
    OPL run) is not a config of the other project.
    """
    msg = e.args[0] if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str) else ""
    key = msg.split("\n")[0].removeprefix("Non-existent config key: ") if msg.startswith("Non-existent") else ""
    return next((f": {kind}" for group, kind in PROJECT_GROUPS.items() if key == group), "")


def _dotted_key(node: dict, prefix: str = "") -> str:
    """The first key path of a loaded YAML mapping whose own name holds a dot (e.g. 'SOLVER.BASE_LR'), else ''."""
    for key, value in node.items():
        if isinstance(key, str) and "." in key:
            return prefix + key
        found = _dotted_key(value, f"{prefix}{key}.") if isinstance(value, dict) else ""
        if found:
            return found
    return ""


def _yacs_message(e: Exception) -> str:
    """
    yacs' message on one line (a KeyError's repr quotes it; Detectron2 adds a second line for renamed keys). A type
    mismatch is restated with the type names and the key, without yacs' dump of a whole config group.
    """
    import re

    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    m = re.fullmatch(r"(Non-existent (?:config )?key): (.*)", msg.split("\n")[0])
    if m and any(part != part.strip() for part in m.group(2).split(".")):  # "BASE_LR : 0.01" in a YAML file: the
        # space is part of the name, and invisible in yacs' message ("Non-existent config key: SOLVER.BASE_LR")
        return f"{m.group(1)}: {m.group(2)!r}: a key name with spaces around it"
    msg = " ".join(msg.split())
    m = re.fullmatch(r"Type mismatch \(<class '([\w.]+)'> vs\. <class '([\w.]+)'>\) with values \((.*)\) for config "
                     r"key: (\S+)", msg)
    if m:
        expected, got, values, key = m.groups()
        expected, got = expected.rsplit(".", 1)[-1], got.rsplit(".", 1)[-1]
        if expected == "CfgNode":
            return f"{key} is a group of keys, not a value (got the {got} {values.rsplit(' vs. ', 1)[-1][:80]})"
        default, value = values.rsplit(" vs. ", 1) if " vs. " in values else ("?", values)
        return f"{key} must be of type {expected} (default {default[:80]}), got the {got} {value[:80]}"
    return msg


def config_error(key: str, value, problem: str) -> ConfigError:
    """The one-line error of a config value: ``error: config: KEY VALUE: problem``."""
    return ConfigError(f"error: config: {key} {value!r}: {problem}")


def check_numbers(cfg, keys, finite: bool = False) -> None:
    """
    Each dotted key of ``keys`` holds a number, or a list / tuple of numbers; ``finite``: also no NaN / inf. yacs
    lets elements of another type through where the default is a list (``['a']``), and a YAML file may hold nested
    lists; the value checks that follow compare numbers, so this comes first -> ConfigError naming the key instead of
    a TypeError.
    """
    import math

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and (not finite or math.isfinite(v))

    what = "a finite number" if finite else "a number"
    for key in keys:
        value = cfg
        for part in key.split("."):
            value = value[part]
        if isinstance(value, (list, tuple)):
            if not all(number(v) for v in value):
                raise config_error(key, value, f"every value must be {what}")
        elif not number(value):
            raise config_error(key, value, f"must be {what}")


def check_config(cfg, training: bool = True, world_size: int = 0) -> None:
    """
    Values of Detectron2's and pedet's keys that would crash deep inside Detectron2 or PyTorch (with a traceback that
    does not name the key) or silently train nonsense (a negative or infinite learning rate, a negative warm-up factor
    or clipping value: gradient ascent) -> ConfigError naming the key. What Detectron2 accepts and handles (e.g.
    SOLVER.STEPS beyond MAX_ITER: a warning; INPUT.MIN_SIZE_TRAIN 0: no resize; TEST.EVAL_PERIOD <= 0: no periodic
    evaluation) is left alone. Each train_net.py calls it in setup(), after merge_config; it creates OUTPUT_DIR.

    Args:
        training: also check the keys only training reads (SOLVER, DATASETS.TRAIN, the train loader).
        world_size: number of processes; 0 = detectron2.utils.comm.get_world_size().
    """
    import os

    check_model_config(cfg)
    check_numbers(cfg, ["SEED"])
    if cfg.SEED >= 2 ** 32:
        raise config_error("SEED", cfg.SEED, "must be < 2**32 (numpy's seed range; negative = a random seed)")
    out = cfg.OUTPUT_DIR
    if not isinstance(out, str) or not out.strip():  # Detectron2's default_setup fails on it (FileNotFoundError '')
        raise config_error("OUTPUT_DIR", out, "must name a folder (the log, the config and the checkpoints go there)")
    if "://" in out:  # a PathManager folder (e.g. manifold://): only with a handler registered for its scheme
        from detectron2.utils.file_io import PathManager
        from iopath.common.file_io import NativePathHandler

        get_handler = getattr(PathManager, "_PathManager__get_path_handler", None)  # iopath's lookup by prefix
        if get_handler is not None and isinstance(get_handler(out), NativePathHandler):
            raise config_error("OUTPUT_DIR", out, f"no PathManager handler is registered for "
                               f"{out.split('://')[0]}://, so Detectron2 would write a local folder named "
                               f"'{out.split('://')[0]}:'")
    if "://" not in out:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise config_error("OUTPUT_DIR", out, f"cannot be created ({e.strerror})") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise config_error("OUTPUT_DIR", out, "is not writable")
    if cfg.MODEL.LOAD_PROPOSALS:  # Detectron2's loaders would read DATASETS.PROPOSAL_FILES_*; pedet's do not
        raise config_error("MODEL.LOAD_PROPOSALS", True, "precomputed proposals are not read by pedet's data loaders "
                                                         "(PedestrianRCNN has its own RPN; OPL uses none)")
    _check_datasets(cfg, training)
    _check_miss_rate(cfg)
    _check_expected_results(cfg)
    if training:
        _check_crop(cfg)
        _check_solver(cfg, world_size)
        _check_precise_bn(cfg)
        _check_batch_norm_map(cfg, world_size)


def check_model_config(cfg) -> None:
    """
    The keys that building and running a model read (MODEL.DEVICE, the registered names, pixel statistics, INPUT.*,
    TEST.DETECTIONS_PER_IMAGE): the part of ``check_config`` that the demo and the export use too.
    """
    import math

    import torch
    from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY

    try:
        device = torch.device(cfg.MODEL.DEVICE)
    except RuntimeError:
        raise config_error("MODEL.DEVICE", cfg.MODEL.DEVICE, "not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise config_error("MODEL.DEVICE", cfg.MODEL.DEVICE, "no CUDA GPU is available here; use MODEL.DEVICE cpu")
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.mps, torch.xpu, ...: an accelerator torch runs
    if device.type != "cpu" and not (hasattr(backend, "is_available") and backend.is_available()):
        raise config_error("MODEL.DEVICE", cfg.MODEL.DEVICE, f"no {device.type} device that runs a model is "
                           "available here; use MODEL.DEVICE cpu")
    for key, registry, name in (("MODEL.META_ARCHITECTURE", META_ARCH_REGISTRY, cfg.MODEL.META_ARCHITECTURE),
                                ("MODEL.BACKBONE.NAME", BACKBONE_REGISTRY, cfg.MODEL.BACKBONE.NAME)):
        if name not in registry:
            raise config_error(key, name, f"not registered (known: {', '.join(sorted(n for n, _ in registry))})")
    check_numbers(cfg, ["MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD", "TEST.DETECTIONS_PER_IMAGE"])
    mean, std = list(cfg.MODEL.PIXEL_MEAN), list(cfg.MODEL.PIXEL_STD)
    if len(mean) != 3 or len(std) != 3:
        if cfg.INPUT.FORMAT not in ("BGR", "RGB"):  # e.g. "L" with one-channel means: "3 each" named the wrong key
            _check_input(cfg)
        raise config_error("MODEL.PIXEL_MEAN / PIXEL_STD", (mean, std), "need one value per channel (3 each)")
    if not all(math.isfinite(m) for m in mean):
        raise config_error("MODEL.PIXEL_MEAN", mean, "every value must be a finite number")
    if not all(0 < s < math.inf for s in std):
        raise config_error("MODEL.PIXEL_STD", std, "every value must be > 0 and finite (images are divided by it)")
    if "resnet" in cfg.MODEL.BACKBONE.NAME:
        _check_resnet_fpn(cfg)
    if cfg.TEST.DETECTIONS_PER_IMAGE < 1:
        raise config_error("TEST.DETECTIONS_PER_IMAGE", cfg.TEST.DETECTIONS_PER_IMAGE, "must be >= 1")
    _check_input(cfg)


def _check_resnet_fpn(cfg) -> None:
    """MODEL.RESNETS.* and MODEL.FPN.* of a ResNet(-FPN) backbone: values that fail inside its constructor (a KeyError
    or an assert without the key) or build layers of zero channels."""
    from detectron2.layers import get_norm

    r, fpn = cfg.MODEL.RESNETS, cfg.MODEL.FPN
    check_numbers(cfg, [f"MODEL.RESNETS.{k}" for k in ("STEM_OUT_CHANNELS", "RES2_OUT_CHANNELS", "WIDTH_PER_GROUP",
                                                       "NUM_GROUPS")] + ["MODEL.FPN.OUT_CHANNELS"])
    if r.DEPTH not in (18, 34, 50, 101, 152):
        raise config_error("MODEL.RESNETS.DEPTH", r.DEPTH, "must be 18, 34, 50, 101 or 152")
    for key in ("STEM_OUT_CHANNELS", "RES2_OUT_CHANNELS", "WIDTH_PER_GROUP", "NUM_GROUPS"):
        if r[key] < 1:
            raise config_error(f"MODEL.RESNETS.{key}", r[key], "must be >= 1")
    stages = ("stem", "res2", "res3", "res4", "res5")
    if not r.OUT_FEATURES or any(f not in stages for f in r.OUT_FEATURES):
        raise config_error("MODEL.RESNETS.OUT_FEATURES", list(r.OUT_FEATURES), f"must be among {', '.join(stages)}")
    if r.DEPTH >= 50 and len(r.DEFORM_ON_PER_STAGE) < 4:  # indexed per stage: an IndexError without the key
        raise config_error("MODEL.RESNETS.DEFORM_ON_PER_STAGE", list(r.DEFORM_ON_PER_STAGE),
                           "needs one value per stage (res2 ... res5: 4)")
    for key, norm in (("MODEL.RESNETS.NORM", r.NORM), ("MODEL.FPN.NORM", fpn.NORM)):
        try:
            get_norm(norm, 64)
        except KeyError:
            raise config_error(key, norm, "not a normalisation Detectron2 knows (\"\", BN, SyncBN, FrozenBN, GN, "
                                          "...)") from None
    if "fpn" in cfg.MODEL.BACKBONE.NAME:
        if fpn.OUT_CHANNELS < 1:
            raise config_error("MODEL.FPN.OUT_CHANNELS", fpn.OUT_CHANNELS, "must be >= 1")
        if fpn.FUSE_TYPE not in ("sum", "avg"):
            raise config_error("MODEL.FPN.FUSE_TYPE", fpn.FUSE_TYPE, "must be sum or avg")
        if not fpn.IN_FEATURES or any(f not in r.OUT_FEATURES for f in fpn.IN_FEATURES):
            raise config_error("MODEL.FPN.IN_FEATURES", list(fpn.IN_FEATURES),
                               f"must be among MODEL.RESNETS.OUT_FEATURES {list(r.OUT_FEATURES)}")


def build_meta_model(cfg) -> tuple:
    """
    The model of ``cfg`` built once on the meta device (no memory, no initialisation cost) by its registered
    meta-architecture, for the projects' config checks: ``(model, None)``, or ``(None, error)`` when a constructor
    refuses the configuration. The error is not raised here: the caller first checks what names a key more precisely
    (a head's IN_FEATURES against ``backbone_output_names(cfg, model)``), then ``check_model_builds(cfg, built)``
    raises it, so the backbone is built once per check (inside the model) and the messages keep their order.
    """
    import torch
    from detectron2.modeling import META_ARCH_REGISTRY

    try:
        with torch.device("meta"):
            return META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg), None
    except Exception as e:  # noqa: BLE001  (kept and raised by check_model_builds, after the finer checks)
        return None, e


def backbone_output_names(cfg, model=None) -> list:
    """
    The names of the backbone's outputs (e.g. ["p2", ..., "p6"]), so that the heads' IN_FEATURES can be checked
    against what the configured backbone really gives: read from ``model.backbone`` when a model built by
    ``build_meta_model`` is given, else from the backbone alone built on the meta device. A backbone that cannot be
    built -> ConfigError naming the backbone's keys.
    """
    import torch
    from detectron2.modeling import Backbone, build_backbone

    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Backbone):
        return list(backbone.output_shape())
    try:
        with torch.device("meta"):
            return list(build_backbone(cfg).output_shape())
    except (AssertionError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as e:
        raise ConfigError(f"error: config: the backbone (MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME!r} and its "
                          f"MODEL.RESNETS / MODEL.FPN keys) cannot be built: {type(e).__name__} "
                          f"{' '.join(str(e).split())}") from None


def check_model_builds(cfg, built: tuple = None) -> None:
    """
    The model of ``cfg`` is built on the meta device by its registered meta-architecture (or ``built``, the result of
    ``build_meta_model(cfg)``, is used): a combination of registered parts that Detectron2 refuses with an assert or a
    KeyError deep in a constructor (e.g. Res5ROIHeads on an FPN, a rotated RPN) -> ConfigError naming the parts,
    before training. Other exceptions propagate unchanged.
    """
    _, e = built if built is not None else build_meta_model(cfg)
    if e is None:
        return
    if not isinstance(e, (AssertionError, KeyError, ValueError, TypeError, IndexError, RuntimeError,
                          NotImplementedError)):
        raise e
    m = cfg.MODEL
    raise ConfigError(f"error: config: the model (MODEL.META_ARCHITECTURE {m.META_ARCHITECTURE!r}, BACKBONE.NAME "
                      f"{m.BACKBONE.NAME!r}, PROPOSAL_GENERATOR.NAME {m.PROPOSAL_GENERATOR.NAME!r}, "
                      f"ROI_HEADS.NAME {m.ROI_HEADS.NAME!r}, ROI_BOX_HEAD.NAME {m.ROI_BOX_HEAD.NAME!r}) cannot be "
                      f"built: {type(e).__name__} {' '.join(str(e).split())}".rstrip()) from None


def check_meta_architecture(cfg, models: tuple, who: str) -> None:
    """
    MODEL.META_ARCHITECTURE names one of ``models`` (model classes, or their subclasses) -> else ConfigError naming
    the key, e.g. for the demo and the export, which run both projects' models: a Detectron2 model-zoo config
    (RetinaNet, GeneralizedRCNN) was told about MODEL.RPN.IN_FEATURES instead. An unregistered name is
    check_model_config's.
    """
    from detectron2.modeling import META_ARCH_REGISTRY

    arch = cfg.MODEL.META_ARCHITECTURE
    if arch in META_ARCH_REGISTRY and not issubclass(META_ARCH_REGISTRY.get(arch), models):
        raise config_error("MODEL.META_ARCHITECTURE", arch, f"{who} runs {' or '.join(m.__name__ for m in models)} "
                           "(or a subclass)")


def check_in_features(key: str, features, available: list) -> None:
    """A head's IN_FEATURES: a non-empty list of the backbone's outputs, each once (a level given twice would be
    matched and trained twice)."""
    features = list(features)
    if not features or any(f not in available for f in features):
        raise config_error(key, features, f"must be among the backbone's outputs {available}")
    if len(set(features)) != len(features):
        raise config_error(key, features, "lists a level twice")


def _check_datasets(cfg, training: bool) -> None:
    """Every named data set is registered (a close name is suggested); at least one training set (training) or test
    set (evaluation only)."""
    import difflib

    from detectron2.data import DatasetCatalog

    from pedet.data.selection import SelectionError, check_selection_keys

    known = DatasetCatalog.list()
    keys = [("DATASETS.TEST", list(cfg.DATASETS.TEST)), ("DATASETS.SELECTION", [cfg.DATASETS.SELECTION] if
                                                         cfg.DATASETS.SELECTION else [])]
    # a _BASE_ file (e.g. the RepLoss project's Base-RCNN-FPN-Ped.yaml) leaves the data sets to the configs built on it
    base_hint = " (is the config a _BASE_ file? run one of the configs built on it)"
    if training:
        if not cfg.DATASETS.TRAIN:
            raise config_error("DATASETS.TRAIN", cfg.DATASETS.TRAIN, f"no training data set{base_hint}")
        keys.insert(0, ("DATASETS.TRAIN", list(cfg.DATASETS.TRAIN)))
    elif not cfg.DATASETS.TEST:  # --eval-only evaluated nothing, printed no metric and exited 0
        raise config_error("DATASETS.TEST", cfg.DATASETS.TEST, f"no test data set: nothing to evaluate{base_hint}")
    for key, names in keys:
        for name in names:
            if not isinstance(name, str):
                raise config_error(key, name, "not a data set name (give registered names as strings)")
            if name not in known:
                near = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(near)}?)" if near else " (see datasets/README.md)"
                raise config_error(key, name, f"not a registered data set{hint}")
    try:
        check_selection_keys(cfg)  # both keys, SELECTION also a TEST / TRAIN set, the hold-out value's range
    except SelectionError as e:
        raise ConfigError(f"error: config: {e}") from None


def _check_input(cfg) -> None:
    """INPUT.*: sizes, resize sampling, format, flip, the ignore mode."""
    i = cfg.INPUT
    if i.IGNORE_MODE not in IGNORE_MODES:
        raise config_error("INPUT.IGNORE_MODE", i.IGNORE_MODE, f"must be one of {', '.join(IGNORE_MODES)}")
    check_numbers(cfg, [f"INPUT.{k}" for k in ("MIN_SIZE_TRAIN", "MAX_SIZE_TRAIN", "MIN_SIZE_TEST", "MAX_SIZE_TEST")],
                  finite=True)  # a NaN size failed in the resize of the first image
    for key in ("MIN_SIZE_TRAIN", "MAX_SIZE_TRAIN", "MIN_SIZE_TEST", "MAX_SIZE_TEST"):
        values = i[key] if isinstance(i[key], (list, tuple)) else [i[key]]
        if not values or any(v < 0 for v in values):
            raise config_error(f"INPUT.{key}", i[key], "sizes must be >= 0 (0 = no resize)")
    if i.MIN_SIZE_TRAIN_SAMPLING not in ("choice", "range"):
        raise config_error("INPUT.MIN_SIZE_TRAIN_SAMPLING", i.MIN_SIZE_TRAIN_SAMPLING, "must be choice or range")
    low_high = list(i.MIN_SIZE_TRAIN) if isinstance(i.MIN_SIZE_TRAIN, (list, tuple)) else [i.MIN_SIZE_TRAIN]
    if i.MIN_SIZE_TRAIN_SAMPLING == "range" and (len(low_high) != 2 or low_high[0] > low_high[1]):
        raise config_error("INPUT.MIN_SIZE_TRAIN", i.MIN_SIZE_TRAIN, "sampling 'range' needs (low, high), low <= high")
    for split in ("TRAIN", "TEST"):  # ResizeShortestEdge scales the longer side to MAX_SIZE: 0 gives an empty image
        min_size = i[f"MIN_SIZE_{split}"]
        if i[f"MAX_SIZE_{split}"] < 1 and any(min_size if isinstance(min_size, (list, tuple)) else [min_size]):
            raise config_error(f"INPUT.MAX_SIZE_{split}", i[f"MAX_SIZE_{split}"], "must be >= 1 (the longest side "
                               f"after resizing; INPUT.MIN_SIZE_{split} 0 turns resizing off)")
    if i.FORMAT not in ("BGR", "RGB"):  # YUV-BT.601: Detectron2's read_image gives float64 YUV in [0, 1], which
        # failed at the first step ("expected scalar type Double but found Float"); the demo fed it BGR in silence
        raise config_error("INPUT.FORMAT", i.FORMAT, "must be BGR or RGB (the 0-255 images the model and the demo "
                           "take; Detectron2's DefaultPredictor accepts only these two)")
    if i.RANDOM_FLIP not in ("none", "horizontal", "vertical"):
        raise config_error("INPUT.RANDOM_FLIP", i.RANDOM_FLIP, "must be none, horizontal or vertical")


def _check_crop(cfg) -> None:
    """
    INPUT.CROP (training only; PedestrianDatasetMapper adds detectron2's T.RandomCrop(TYPE, SIZE) as DatasetMapper
    does): values that T.RandomCrop rejects with an assert, crops with a slice-index TypeError, or that crop an image
    to nothing, named before training instead of in a DataLoader worker.
    """
    import math

    crop = cfg.INPUT.CROP
    if not crop.ENABLED:
        return
    types = ("relative_range", "relative", "absolute", "absolute_range")
    if crop.TYPE not in types:
        raise config_error("INPUT.CROP.TYPE", crop.TYPE, f"must be one of {', '.join(types)}")
    size = list(crop.SIZE)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in size)
    if len(size) != 2 or not numbers:
        raise config_error("INPUT.CROP.SIZE", crop.SIZE, "must be two finite numbers")
    if crop.TYPE.startswith("relative") and not all(0 < v <= 1 for v in size):
        raise config_error("INPUT.CROP.SIZE", crop.SIZE, f"a {crop.TYPE} crop takes fractions of the image in (0, 1]")
    if crop.TYPE == "absolute" and not all(isinstance(v, int) and v >= 1 for v in size):
        raise config_error("INPUT.CROP.SIZE", crop.SIZE, "an absolute crop takes (height, width) as integers >= 1")
    if crop.TYPE == "absolute_range" and not 1 <= size[0] <= size[1]:
        raise config_error("INPUT.CROP.SIZE", crop.SIZE, "an absolute_range crop takes (min, max) sides with "
                                                         "1 <= min <= max")


def _check_miss_rate(cfg) -> None:
    """TEST.MISS_RATE.*: checked before training, not when the first evaluation runs."""
    node = cfg.TEST.get("MISS_RATE", None)
    if node is None:
        return
    choices = (("PROTOCOL", ("", "crowdhuman", "citypersons", "caltech")), ("MODE", ("official", "matlab")),
               ("BOX", ("full", "visible")))
    for key, allowed in choices:
        if node[key] not in allowed:
            raise config_error(f"TEST.MISS_RATE.{key}", node[key], f"must be one of {', '.join(map(repr, allowed))}")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.evaluation.caltech import CALTECH_SETUPS
    from pedet.evaluation.citypersons import CITYPERSONS_SETUPS, parse_setup
    from pedet.evaluation.evaluator import _check_arguments
    from pedet.evaluation.report import PROTOCOLS

    for setup in node.SETUPS:
        if not isinstance(setup, str):
            raise config_error("TEST.MISS_RATE.SETUPS", list(node.SETUPS), "give the subsets as strings (NAME or "
                                                                           "NAME:HMIN:HMAX:VMIN:VMAX)")
        try:
            parse_setup(setup, {**CITYPERSONS_SETUPS, **CALTECH_SETUPS})
        except ValueError as e:
            raise config_error("TEST.MISS_RATE.SETUPS", list(node.SETUPS), str(e)) from None
    if node.ERROR_ANALYSIS_ON:
        check_numbers(cfg, ["TEST.MISS_RATE.ERROR_ANALYSIS_FPPI"])
    if node.ERROR_ANALYSIS_ON and not node.ERROR_ANALYSIS_FPPI > 0:
        raise config_error("TEST.MISS_RATE.ERROR_ANALYSIS_FPPI", node.ERROR_ANALYSIS_FPPI, "must be > 0")
    # what the evaluator of each evaluated set refuses when it is built (after training, for the TEST sets): an
    # evaluator_type without a miss-rate protocol, an option of another protocol (BOX visible with CityPersons, ...)
    evaluated = [("DATASETS.TEST", n) for n in cfg.DATASETS.TEST]
    if cfg.DATASETS.SELECTION:
        evaluated.append(("DATASETS.SELECTION", cfg.DATASETS.SELECTION))
    elif cfg.DATASETS.get("SELECTION_HOLDOUT", None):  # a hold-out has its training set's evaluator_type
        evaluated += [("DATASETS.TRAIN", n) for n in cfg.DATASETS.TRAIN]
    known = DatasetCatalog.list()
    for key, name in evaluated:
        if name not in known:
            continue
        protocol = node.PROTOCOL or MetadataCatalog.get(name).get("evaluator_type", None)
        if protocol not in PROTOCOLS:
            raise config_error(key, name, f"its evaluator_type {protocol!r} has no miss-rate protocol; set "
                                          f"TEST.MISS_RATE.PROTOCOL to one of {', '.join(PROTOCOLS)}")
        try:
            _check_arguments(protocol, list(node.SETUPS) or None, node.MODE, node.BOX,
                             node.ERROR_ANALYSIS_FPPI if node.ERROR_ANALYSIS_ON else None)
        except ValueError as e:
            problem = str(e).split(": ", 1)[-1]
            raise ConfigError(f"error: config: TEST.MISS_RATE for {key} {name!r} ({protocol} protocol): "
                              f"{problem}") from None


def _check_expected_results(cfg) -> None:
    """
    TEST.EXPECTED_RESULTS, read by Detectron2's ``verify_results`` after ``--eval-only`` and after training: each entry
    ``[task, metric, expected, tolerance]`` with the task the protocol of the one TEST set (its results are
    ``{protocol: {metric: value}}``). An entry of another length, a task the results do not hold or no TEST set
    failed there with a ValueError or a KeyError traceback, after the evaluation or the whole training; a metric they
    do not hold failed it as "Result verification failed".
    """
    import math

    expected = [list(e) if isinstance(e, (list, tuple)) else e for e in cfg.TEST.EXPECTED_RESULTS]
    if not expected:
        return
    for entry in expected:
        if not (isinstance(entry, list) and len(entry) == 4 and all(isinstance(v, str) for v in entry[:2])
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in entry[2:]) and entry[3] >= 0):
            raise config_error("TEST.EXPECTED_RESULTS", entry, "each entry must be [task, metric, expected value, "
                                                               "tolerance >= 0], e.g. ['crowdhuman', 'mMR', 42.0, 0.5]")
    if len(cfg.DATASETS.TEST) != 1:
        raise config_error("TEST.EXPECTED_RESULTS", expected, f"are checked on the results of one TEST set; "
                                                              f"DATASETS.TEST has {len(cfg.DATASETS.TEST)}")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    name = cfg.DATASETS.TEST[0]
    if name not in DatasetCatalog.list():
        return  # named by _check_datasets
    miss_rate = cfg.TEST.get("MISS_RATE", None)
    protocol = (miss_rate.PROTOCOL if miss_rate is not None else "") or MetadataCatalog.get(name).get("evaluator_type")
    for task, *_ in expected:
        if task != protocol:
            raise config_error("TEST.EXPECTED_RESULTS", expected, f"task {task!r}: the results of DATASETS.TEST "
                                                                  f"{name!r} are under {protocol!r}")
    # a metric the results never hold failed the verification after the whole training ("Result verification failed")
    from pedet.evaluation.caltech import CALTECH_SETUPS, DEFAULT_CALTECH_SETUPS
    from pedet.evaluation.citypersons import CITYPERSONS_SETUPS, DEFAULT_SETUPS, parse_setup
    from pedet.evaluation.report import CROWDHUMAN_KEYS

    if protocol not in ("crowdhuman", "citypersons", "caltech"):
        return
    if protocol == "crowdhuman":
        metrics = list(CROWDHUMAN_KEYS)
    else:  # citypersons / caltech: one MR^-2 per subset, under its name (bad SETUPS are named by the evaluator check)
        known, default = ((CITYPERSONS_SETUPS, DEFAULT_SETUPS) if protocol == "citypersons" else
                          (CALTECH_SETUPS, DEFAULT_CALTECH_SETUPS))
        try:
            metrics = [parse_setup(s, known).name for s in (list(miss_rate.SETUPS) if miss_rate is not None and
                                                           miss_rate.SETUPS else default)]
        except (ValueError, TypeError):
            return
    for _, metric, *_ in expected:
        if metric not in metrics:
            raise config_error("TEST.EXPECTED_RESULTS", expected, f"metric {metric!r}: the {protocol} results of "
                                                                  f"DATASETS.TEST {name!r} hold {', '.join(metrics)}")


def _check_precise_bn(cfg) -> None:
    """TEST.PRECISE_BN (training): NUM_ITER 0 set every BN's running variance to 0 in silence (fvcore's estimate of
    no batch), a negative count failed in itertools.islice after the last iteration."""
    node = cfg.TEST.PRECISE_BN
    if not node.ENABLED:
        return
    check_numbers(cfg, ["TEST.PRECISE_BN.NUM_ITER"])
    if node.NUM_ITER < 1:
        raise config_error("TEST.PRECISE_BN.NUM_ITER", node.NUM_ITER, "must be >= 1 with TEST.PRECISE_BN.ENABLED "
                                                                      "(batches that re-estimate the BN statistics)")


def single_value_map_size(cfg, split: str, stride: int):
    """
    ("MAX_SIZE_<SPLIT>", size) if every image of `split` ("TRAIN" / "TEST") is resized to at most `stride` px,
    ("MIN_SIZE_<SPLIT>", size) if a square one is (its long side is its short one), else None: a feature map of
    that stride is then 1 x 1, a single value per channel, which PyTorch's BatchNorm (training) and a one-channel
    GroupNorm refuse with a traceback that names no key. MIN_SIZE 0 keeps the images at their own size: None.
    """
    i = cfg.INPUT
    sizes = i[f"MIN_SIZE_{split}"]
    short = [m for m in (sizes if isinstance(sizes, (list, tuple)) else [sizes]) if m > 0]
    if not short:
        return None
    if i[f"MAX_SIZE_{split}"] <= stride:
        return f"MAX_SIZE_{split}", i[f"MAX_SIZE_{split}"]
    if min(short) <= stride:
        return f"MIN_SIZE_{split}", min(short)
    return None


def _check_batch_norm_map(cfg, world_size: int) -> None:
    """Training BatchNorm in a ResNet(-FPN) backbone (MODEL.RESNETS.NORM / MODEL.FPN.NORM BN, SyncBN, ...) normalises
    each channel over the images of one process and their map. One image per process resized to no more than the
    deepest stage's stride (res5: 32 px) leaves a 1 x 1 map there, a single value, and PyTorch stops the first step
    with "Expected more than 1 value per channel when training", a traceback that names no key. FrozenBN and GN are
    unaffected; so is evaluation (running statistics)."""
    from detectron2.utils import comm

    per_process = cfg.SOLVER.IMS_PER_BATCH // (world_size or comm.get_world_size())
    if "resnet" not in cfg.MODEL.BACKBONE.NAME or per_process != 1:
        return
    norms = [("MODEL.RESNETS.NORM", cfg.MODEL.RESNETS.NORM)]
    if "fpn" in cfg.MODEL.BACKBONE.NAME:
        norms.append(("MODEL.FPN.NORM", cfg.MODEL.FPN.NORM))
    batch_norms = [(key, norm) for key, norm in norms
                   if isinstance(norm, str) and "BN" in norm and norm != "FrozenBN"]
    strides = {"stem": 4, "res2": 4, "res3": 8, "res4": 16, "res5": 32}
    stride = max(strides.get(f, 4) for f in cfg.MODEL.RESNETS.OUT_FEATURES)
    single = single_value_map_size(cfg, "TRAIN", stride)
    if not batch_norms or single is None:
        return
    size_key, size = single
    which = "every image, resized to at most" if size_key.startswith("MAX") else "a square image resized to"
    key, norm = batch_norms[0]
    raise config_error(key, norm, f"training BatchNorm at one image per process (SOLVER.IMS_PER_BATCH "
                       f"{cfg.SOLVER.IMS_PER_BATCH}) has a single value to normalise on the 1 x 1 map (stride {stride}) "
                       f"of {which} {size} px (INPUT.{size_key}), which PyTorch refuses; use larger images, more "
                       "images per process, or FrozenBN / GN")


def _check_solver(cfg, world_size: int) -> None:
    """SOLVER.*, the train loader's keys and the LR schedule (built once on a dummy parameter, as training will)."""
    import math

    import torch
    from detectron2.data import samplers
    from detectron2.solver import build_lr_scheduler
    from detectron2.utils import comm

    s, world_size = cfg.SOLVER, world_size or comm.get_world_size()
    check_numbers(cfg, [f"SOLVER.{k}" for k in ("BASE_LR", "MOMENTUM", "WEIGHT_DECAY", "GAMMA", "WARMUP_FACTOR",
                                                 "BIAS_LR_FACTOR", "WEIGHT_DECAY_NORM", "MAX_ITER", "IMS_PER_BATCH",
                                                 "REFERENCE_WORLD_SIZE", "CHECKPOINT_PERIOD", "WARMUP_ITERS", "STEPS")]
                  + ["DATALOADER.NUM_WORKERS"])
    finite = {"BASE_LR": s.BASE_LR, "MOMENTUM": s.MOMENTUM, "WEIGHT_DECAY": s.WEIGHT_DECAY, "GAMMA": s.GAMMA,
              "WARMUP_FACTOR": s.WARMUP_FACTOR, "BIAS_LR_FACTOR": s.BIAS_LR_FACTOR,
              "WEIGHT_DECAY_NORM": s.WEIGHT_DECAY_NORM}
    if s.get("WEIGHT_DECAY_BIAS", None) is not None:  # None = WEIGHT_DECAY
        finite["WEIGHT_DECAY_BIAS"] = s.WEIGHT_DECAY_BIAS
    for key, value in finite.items():
        if not (math.isfinite(value) and value >= 0):
            raise config_error(f"SOLVER.{key}", value, "must be a finite number >= 0")
    if s.NESTEROV and s.MOMENTUM <= 0:
        raise config_error("SOLVER.NESTEROV", s.NESTEROV, "Nesterov momentum needs SOLVER.MOMENTUM > 0")
    if not 1 <= s.MAX_ITER < 2 ** 31:  # Detectron2's ETA (a timedelta) overflows long before 2**63
        raise config_error("SOLVER.MAX_ITER", s.MAX_ITER, "must be >= 1 to train (and < 2**31)")
    if s.IMS_PER_BATCH < 1 or s.IMS_PER_BATCH % world_size:
        raise config_error("SOLVER.IMS_PER_BATCH", s.IMS_PER_BATCH,
                           f"must be >= 1 and divisible by the number of processes ({world_size})")
    ref = s.REFERENCE_WORLD_SIZE
    if ref < 0 or (ref and ref != world_size and s.IMS_PER_BATCH % ref):
        raise config_error("SOLVER.REFERENCE_WORLD_SIZE", ref,
                           f"must be 0 or a number of processes that divides SOLVER.IMS_PER_BATCH ({s.IMS_PER_BATCH})")
    if s.CHECKPOINT_PERIOD < 1:
        raise config_error("SOLVER.CHECKPOINT_PERIOD", s.CHECKPOINT_PERIOD, "must be >= 1 (iterations between saves)")
    if s.WARMUP_ITERS < 0:
        raise config_error("SOLVER.WARMUP_ITERS", s.WARMUP_ITERS, "must be >= 0")
    steps = list(s.STEPS)
    if any(b <= a for a, b in zip(steps, steps[1:])) or any(x <= 0 for x in steps) or s.MAX_ITER in steps:
        raise config_error("SOLVER.STEPS", s.STEPS, f"must be increasing iterations in (0, MAX_ITER = {s.MAX_ITER}); "
                           "steps after MAX_ITER are ignored with a warning")
    clip = s.CLIP_GRADIENTS
    if clip.ENABLED:
        check_numbers(cfg, ["SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "SOLVER.CLIP_GRADIENTS.NORM_TYPE"])
        if clip.CLIP_TYPE not in ("value", "norm"):
            raise config_error("SOLVER.CLIP_GRADIENTS.CLIP_TYPE", clip.CLIP_TYPE, "must be value or norm")
        if not (math.isfinite(clip.CLIP_VALUE) and clip.CLIP_VALUE > 0):
            raise config_error("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", clip.CLIP_VALUE, "must be a finite number > 0")
        if not clip.NORM_TYPE > 0:
            raise config_error("SOLVER.CLIP_GRADIENTS.NORM_TYPE", clip.NORM_TYPE, "must be > 0 (inf: max norm)")
    loader = cfg.DATALOADER
    if loader.NUM_WORKERS < 0:
        raise config_error("DATALOADER.NUM_WORKERS", loader.NUM_WORKERS, "must be >= 0 (0 = the main process)")
    if not (loader.SAMPLER_TRAIN.endswith("TrainingSampler") and hasattr(samplers, loader.SAMPLER_TRAIN)):
        known = sorted(n for n in dir(samplers) if n.endswith("TrainingSampler"))
        raise config_error("DATALOADER.SAMPLER_TRAIN", loader.SAMPLER_TRAIN, f"must be one of {', '.join(known)}")
    if loader.SAMPLER_TRAIN == "RepeatFactorTrainingSampler":
        check_numbers(cfg, ["DATALOADER.REPEAT_THRESHOLD"])
    if loader.SAMPLER_TRAIN == "RepeatFactorTrainingSampler" and not (math.isfinite(loader.REPEAT_THRESHOLD) and
                                                                      loader.REPEAT_THRESHOLD >= 0):
        raise config_error("DATALOADER.REPEAT_THRESHOLD", loader.REPEAT_THRESHOLD, "must be a finite number >= 0")
    if loader.SAMPLER_TRAIN == "RandomSubsetTrainingSampler":
        ratio = loader.get("RANDOM_SUBSET_RATIO", None)
        if ratio is None:  # Detectron2 v0.6 has the sampler but not its config key
            raise config_error("DATALOADER.SAMPLER_TRAIN", loader.SAMPLER_TRAIN,
                               "needs DATALOADER.RANDOM_SUBSET_RATIO, which this Detectron2's config does not have")
        if not 0 < ratio <= 1:
            raise config_error("DATALOADER.RANDOM_SUBSET_RATIO", ratio, "must be in (0, 1]")
    try:  # the scheduler name and warm-up method, by the installed Detectron2's own builder
        build_lr_scheduler(cfg, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=s.BASE_LR))
    except (ValueError, AssertionError) as e:
        raise ConfigError(f"error: config: the LR schedule (SOLVER.LR_SCHEDULER_NAME {s.LR_SCHEDULER_NAME!r}, "
                          f"WARMUP_METHOD {s.WARMUP_METHOD!r}, STEPS, MAX_ITER) cannot be built: {e}") from None


# ------------------------------------------------------------------ value rules of the projects' check_*_config
def check_rules(node, prefix: str, rules: dict) -> None:
    """``rules``: KEY -> (test, what is expected); the first value of ``node`` failing its test -> ConfigError naming
    ``prefix.KEY`` (e.g. ``MODEL.OPL.POTO_ALPHA``), its value and the expectation."""
    for key, (test, expected) in rules.items():
        if not test(node[key]):
            raise config_error(f"{prefix}.{key}", node[key], f"must be {expected}")


def number_in(low: float = float("-inf"), high: float = float("inf"), low_open: bool = False,
              high_open: bool = False) -> tuple:
    """A rule: a finite number in [low, high] (``*_open``: the bound excluded); bool is no number."""
    import math

    def test(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    if high == float("inf") and low == float("-inf"):
        return test, "a finite number"
    if high == float("inf"):
        return test, f"a finite number {'>' if low_open else '>='} {low:g}"
    return test, f"in {lo}{low:g}, {high:g}{hi}"


def one_of(*allowed) -> tuple:
    """A rule: one of ``allowed``."""
    return (lambda v: v in allowed), f"one of {', '.join(map(repr, allowed))}"
