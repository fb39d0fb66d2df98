"""
Fourth bad-input trial, model side (issue 11), and what the config checks cost: the projects' checks build the
backbone once, model_best.pth survives --resume. Parametrised config cases that fit the third trial's checks are in
its tables (tests/pedet/test_bad_input_third_model.py); this file holds the new kinds of checks.
"""
import os

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import BACKBONE_REGISTRY

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)
from pedet.config import add_pedet_config

from opl import add_opl_config
from opl.config import check_opl_config
from reploss import add_reploss_config
from reploss.config import check_reploss_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_BASE = os.path.join(REPO, "projects", "OPL", "configs", "Base-OPL.yaml")
REPLOSS_BASE = os.path.join(REPO, "projects", "RepLoss", "configs", "Base-RCNN-FPN-Ped.yaml")


def _cfg(base, *opts):
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(base)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


@pytest.mark.parametrize("base, check", [(OPL_BASE, check_opl_config), (REPLOSS_BASE, check_reploss_config)])
def test_project_config_check_builds_the_backbone_once(monkeypatch, base, check):
    cfg = _cfg(base)
    name, built = cfg.MODEL.BACKBONE.NAME, []
    builder = BACKBONE_REGISTRY.get(name)

    def counting_builder(*args, **kwargs):
        built.append(name)
        return builder(*args, **kwargs)

    monkeypatch.setitem(BACKBONE_REGISTRY._obj_map, name, counting_builder)
    check(cfg)  # the heads' IN_FEATURES are read from the model's backbone; was built twice (alone, then in the model)
    assert built == [name]
