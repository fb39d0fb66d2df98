"""
Key effects (issue 11: nothing may silently change what is trained). A sweep over every leaf key of both projects'
configs, changed alone, found keys whose value reaches the model but shows no effect in a plain probe: they act only
once their switch is on, or only on ignore boxes / conflicting ground truth. These tests pin that each such key still
changes the losses or the detections in that setting, compared with the same setting without it (same seeds, same
images), so that a refactor which stops reading one of them fails here instead of training the same model in silence.
"""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from ..opl.tiny import instances, tiny_cfg
from ..scripts import REPO

# crowded persons (three near-duplicates, two boxes smaller than the stride) and two ignore boxes (class -1)
_BOXES = [[5, 5, 20, 45], [5.5, 5, 20.5, 45], [6, 6, 21, 46], [10, 6, 26, 48], [14, 8, 30, 50], [36, 10, 52, 58],
          [40, 12, 56, 60], [2, 30, 14, 62], [44, 44, 47, 47], [45, 45, 48, 48], [30, 28, 60, 62], [0, 0, 12, 12]]
_CLASSES = [0] * 10 + [-1, -1]


def _batch():
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 64, 64), generator=g).float()
    return [{"image": image, "instances": instances(64, 64, _BOXES, _CLASSES), "height": 64, "width": 64}]


def _run(cfg):
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    with EventStorage(0):
        losses = {k: v.item() for k, v in model(_batch()).items()}
    model.eval()
    with torch.no_grad():
        detections = len(model([{k: v for k, v in _batch()[0].items() if k != "instances"}])[0]["instances"])
    return losses, detections


def _opl(*opts):
    # scores of a random head at 0.5 and boxes of two strides, so that focal negatives and detections are not ~0
    return _run(tiny_cfg(extra=["MODEL.OPL.PRIOR_PROB", 0.5, "MODEL.OPL.BBOX_PRED_BIAS", 2.0,
                                "MODEL.OPL.SCORE_THRESH_TEST", 0.0, *opts]))


@pytest.mark.parametrize("switch,key,value,changed", [
    (["MODEL.OPL.AUX_ONE_TO_MANY", True], "MODEL.OPL.AUX_TOPK", 1, "loss_aux"),
    (["MODEL.OPL.MAIN_ASSIGNER", "fcos"], "MODEL.OPL.FCOS_CENTER_SAMPLING_RADIUS", 0.5, "loss_reg"),
    # REP_POS_IOU 0: every positive enters the repulsion terms (a random head has none above the default 0.5)
    (["MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", 0.0], "MODEL.OPL.REP_GT_DUP_IOU", 0.3, "loss_rep_gt"),
    (["MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", 0.0], "MODEL.OPL.REP_BOX_MAX_PER_IMAGE", 1,
     "loss_rep_box"),
    (["MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", 0.0], "MODEL.OPL.REP_SIGMA_EPS", 0.5, "loss_rep_gt"),
    ([], "MODEL.OPL.POTO_MATCHER", "argmax", "loss_cls_o2o"),  # near-duplicate GTs claim the same location
    ([], "INPUT.IGNORE_MODE", "exclude_bg", "loss_cls_o2o"),  # negatives inside the ignore boxes leave the loss
])
def test_opl_key_changes_the_losses_in_its_setting(switch, key, value, changed):
    base, _ = _opl(*switch)
    losses, _ = _opl(*switch, key, value)
    assert changed in base and losses[changed] != pytest.approx(base[changed], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("switch,key,value,loss", [
    (["MODEL.OPL.AUX_ONE_TO_MANY", True], "MODEL.OPL.AUX_WEIGHT", 0.5, "loss_aux"),  # default 1.0
    (["MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", 0.0], "MODEL.OPL.REP_GT_WEIGHT", 0.25, "loss_rep_gt"),
    (["MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", 0.0], "MODEL.OPL.REP_BOX_WEIGHT", 0.25, "loss_rep_box"),
])
def test_opl_loss_weight_scales_its_loss_once_switched_on(switch, key, value, loss):
    base, _ = _opl(*switch)
    losses, _ = _opl(*switch, key, value)
    default = tiny_cfg().MODEL.OPL[key.split(".")[-1]]
    assert base[loss] > 0 and losses[loss] == pytest.approx(base[loss] * value / default, rel=1e-5)


def test_opl_nms_threshold_changes_the_detections_once_nms_is_on():
    _, kept_06 = _opl("MODEL.OPL.NMS_ON", True)
    _, kept_01 = _opl("MODEL.OPL.NMS_ON", True, "MODEL.OPL.NMS_THRESH_TEST", 0.1)
    _, without = _opl()
    assert without >= kept_06 > kept_01 > 0


def test_reploss_ignore_ioa_thresh_acts_with_exclude_bg_only():
    """MODEL.REPLOSS.IGNORE_IOA_THRESH is documented as read with INPUT.IGNORE_MODE exclude_bg: there it changes
    which RPN anchors and R-CNN proposals count as background; with 'drop' the ignore boxes are gone before."""
    import os

    from detectron2.config import get_cfg

    from pedet.config import add_pedet_config
    from reploss import add_reploss_config

    def losses(*opts):
        cfg = get_cfg()
        add_pedet_config(cfg)
        add_reploss_config(cfg)
        cfg.merge_from_file(os.path.join(REPO, "projects", "RepLoss", "configs", "tiny",
                                         "reploss_R_18_FPN_synthetic_tiny.yaml"))
        cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
        return _run(cfg)[0]

    exclude = losses("INPUT.IGNORE_MODE", "exclude_bg")
    exclude_low = losses("INPUT.IGNORE_MODE", "exclude_bg", "MODEL.REPLOSS.IGNORE_IOA_THRESH", 0.25)
    assert exclude_low["loss_rpn_cls"] != pytest.approx(exclude["loss_rpn_cls"], rel=1e-6)
    assert losses("MODEL.REPLOSS.IGNORE_IOA_THRESH", 0.25) == losses()
