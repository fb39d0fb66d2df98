"""Tests of reploss.config.add_reploss_config and of every yaml under projects/RepLoss/configs."""
import glob
import os

import pytest
from detectron2.config import get_cfg

from reploss import add_reploss_config

from .helpers import CONFIG_DIR, load_cfg

ALL_CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, "**", "*.yaml"), recursive=True))
LEAF_CONFIGS = [c for c in ALL_CONFIGS if not os.path.basename(c).startswith("Base-")]


def test_add_reploss_config_defaults_are_the_paper_settings():
    cfg = get_cfg()
    add_reploss_config(cfg)
    r = cfg.MODEL.REPLOSS
    # PAPER Tables 1-2: alpha = beta = 0.5, RepGT sigma 1, RepBox sigma 0; CHOICEs B1, B2, B6, B8
    assert (r.ALPHA, r.BETA, r.SIGMA_GT, r.SIGMA_BOX) == (0.5, 0.5, 1.0, 0.0)
    assert (r.SIGMA_EPS, r.NORM_MODE, r.REP_GT_DUP_IOU, r.REP_GT_USE_IGNORE, r.REP_BOX_MAX_PER_IMAGE) == (
        1e-3, "d2", 0.95, False, 0)


@pytest.mark.parametrize("path", LEAF_CONFIGS, ids=lambda p: os.path.relpath(p, CONFIG_DIR))
def test_every_config_merges_and_uses_the_reploss_model(path):
    cfg = load_cfg(path)
    assert cfg.MODEL.META_ARCHITECTURE == "PedestrianRCNN" and cfg.MODEL.ROI_HEADS.NAME == "RepLossROIHeads"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1 and cfg.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA == 0.25  # CHOICE B3
    assert cfg.OUTPUT_DIR.startswith("./output/reploss/")


@pytest.mark.parametrize("path", [c for c in LEAF_CONFIGS if os.path.basename(c).startswith("reploss_")],
                         ids=os.path.basename)
def test_reploss_config_is_its_baseline_plus_alpha_beta(path):
    baseline = load_cfg(path.replace("reploss_", "faster_rcnn_"))
    ours = load_cfg(path)
    assert (baseline.MODEL.REPLOSS.ALPHA, baseline.MODEL.REPLOSS.BETA) == (0.0, 0.0)
    assert (ours.MODEL.REPLOSS.ALPHA, ours.MODEL.REPLOSS.BETA) == (0.5, 0.5)
    for c in (baseline, ours):
        c.MODEL.REPLOSS.ALPHA = c.MODEL.REPLOSS.BETA = 0.0
        c.OUTPUT_DIR = ""
    assert baseline.dump() == ours.dump()


def test_table2_configs_keep_alpha_plus_beta_one():
    paths = glob.glob(os.path.join(CONFIG_DIR, "ablations", "table2_*.yaml"))
    pairs = sorted((load_cfg(p).MODEL.REPLOSS.ALPHA, load_cfg(p).MODEL.REPLOSS.BETA) for p in paths)
    assert pairs == [(0.3, 0.7), (0.4, 0.6), (0.5, 0.5), (0.6, 0.4), (0.7, 0.3)]
