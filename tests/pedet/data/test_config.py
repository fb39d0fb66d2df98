from detectron2.config import get_cfg
from pedet.config import IGNORE_MODES, add_pedet_config


def test_add_pedet_config_defaults_to_dropping_ignore_boxes():
    cfg = get_cfg()
    add_pedet_config(cfg)
    assert cfg.INPUT.IGNORE_MODE == "drop" and cfg.INPUT.IGNORE_MODE in IGNORE_MODES
    cfg.merge_from_list(["INPUT.IGNORE_MODE", "exclude_bg"])  # settable from the command line / a yaml
    assert cfg.INPUT.IGNORE_MODE == "exclude_bg"
