"""
Bad input found by the third final model-side trial (issue 11): a training batch built by hand, as in a custom
Detectron2 training loop.
"""
import pytest
from detectron2.utils.events import EventStorage

from detectron2.modeling import build_model

from ..opl.tiny import image_batch, tiny_model
from ..reploss.helpers import TINY_CONFIG, load_cfg


@pytest.mark.parametrize("cls", [1, 5])
def test_an_opl_gt_class_beyond_num_classes_is_one_error(cls):
    # Detectron2's classes are 0-based: with MODEL.OPL.NUM_CLASSES 1 the only class is 0 (was an IndexError in the
    # quality score).
    model = tiny_model().train()
    batch = image_batch([([[10, 10, 30, 50], [40, 8, 60, 40]], [0, cls])])
    with pytest.raises(ValueError, match=f"gt_classes holds {cls}, not a class of this model.*NUM_CLASSES 1"):
        model(batch)


def test_opl_gt_classes_in_range_and_ignore_still_train():
    model = tiny_model().train()
    with EventStorage():
        losses = model(image_batch([([[10, 10, 30, 50], [40, 8, 60, 40]], [0, -1]), ([], [])]))
    assert losses and all(v.isfinite() for v in losses.values())


def _reploss_model():
    cfg = load_cfg(TINY_CONFIG, "INPUT.MIN_SIZE_TRAIN", (64,), "INPUT.MAX_SIZE_TRAIN", 64, "MODEL.DEVICE", "cpu")
    return build_model(cfg).train()


@pytest.mark.parametrize("cls", [1, 5])
def test_a_reploss_gt_class_beyond_num_classes_is_one_error(cls):
    # Class 1 with MODEL.ROI_HEADS.NUM_CLASSES 1 trained silently as background (StandardROIHeads' rule), class 5
    # was an IndexError in the cross-entropy.
    batch = image_batch([([[10, 10, 30, 50], [40, 8, 60, 40]], [0, cls])])
    with EventStorage(), pytest.raises(ValueError, match=f"gt_classes holds {cls}.*ROI_HEADS.NUM_CLASSES 1"):
        _reploss_model()(batch)


def test_reploss_gt_classes_in_range_and_ignore_still_train():
    with EventStorage():
        losses = _reploss_model()(image_batch([([[10, 10, 30, 50], [40, 8, 60, 40]], [0, -1]), ([], [])]))
    assert losses and all(v.isfinite() for v in losses.values())
