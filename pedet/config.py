"""
add_pedet_config(cfg): the config keys that both projects (OPL, RepLoss) and pedet's data pipeline read.

Call it right after get_cfg(), before the project's own add_*_config (as every project's train_net.py setup() does).
"""
# What a model does with the ignore boxes it receives as gt_classes == -1 (docs/methods.md §3.1).
IGNORE_MODES = ("drop", "exclude_bg")


def add_pedet_config(cfg) -> None:
    """Add pedet's keys to a detectron2 CfgNode in place."""
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
    import yaml

    try:
        with open(config_file) as f:
            if not f.read().strip():
                raise ConfigError(f"error: config file {config_file}: is empty")
        cfg.merge_from_file(config_file)
    except (OSError, yaml.YAMLError) as e:
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
        raise ConfigError(f"error: config file {config_file}: cannot be read as YAML ({reason})") from None
    except (KeyError, ValueError, AssertionError, TypeError) as e:
        raise ConfigError(f"error: config file {config_file}: {_yacs_message(e)}") from None
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"error: config overrides come as KEY VALUE pairs, got {len(opts)} items: {' '.join(opts)}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError, TypeError) as e:
        raise ConfigError(f"error: config override: {_yacs_message(e)}") from None


def _yacs_message(e: Exception) -> str:
    """yacs' message on one line (a KeyError's repr quotes it; Detectron2 adds a second line for renamed keys)."""
    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    return " ".join(msg.split())
