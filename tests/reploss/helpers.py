"""Helpers shared by the RepLoss tests: config paths and a config loader shaped like train_net.setup()."""
import importlib.util
import os

from detectron2.config import get_cfg

from pedet.config import add_pedet_config
from reploss import add_reploss_config

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "projects", "RepLoss", "configs")
TINY_CONFIG = os.path.join(CONFIG_DIR, "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")


def load_cfg(path=TINY_CONFIG, *opts):
    """get_cfg + pedet + reploss keys, merged with `path` and `opts` (as train_net.setup, without default_setup)."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(path)
    cfg.merge_from_list(list(opts))
    return cfg


def load_project_script(filename: str):
    """Import a script of projects/RepLoss (train_net.py, nms_sweep.py) as a module named reploss_<stem>."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "projects", "RepLoss", filename)
    spec = importlib.util.spec_from_file_location("reploss_" + os.path.splitext(filename)[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
