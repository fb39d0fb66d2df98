"""
Tests of reploss.meta_arch.PedestrianRCNN on the tiny config: ignore boxes never reach the RPN / ROI matchers as
targets, a training step on one empty + one crowded image, inference, and the config checks.
"""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage


def batch(with_ignore):
    """Image 0: 6 persons in a row (+ 2 ignore boxes); image 1: no person (+ 1 ignore box). 128x128 uint8."""
    g = torch.Generator().manual_seed(0)
    persons = torch.tensor([[8.0 + 14 * i, 20.0, 30.0 + 14 * i, 90.0] for i in range(6)])
    ignore = torch.tensor([[0.0, 95.0, 40.0, 127.0], [90.0, 0.0, 127.0, 30.0]])
    out = []
    for boxes, n_ign in ((persons, 2), (torch.zeros(0, 4), 1)):
        if with_ignore:
            classes = torch.cat([torch.zeros(len(boxes), dtype=torch.long), torch.full((n_ign,), -1)])
            boxes = torch.cat([boxes, ignore[:n_ign]])
        else:
            classes = torch.zeros(len(boxes), dtype=torch.long)
        image = torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8, generator=g)
        out.append({"image": image, "height": 128, "width": 128,
                    "instances": Instances((128, 128), gt_boxes=Boxes(boxes), gt_classes=classes)})
    return out


def test_ignore_boxes_do_not_change_the_losses_in_drop_mode(tiny_cfg):
    model = build_model(tiny_cfg).train()
    with EventStorage():
        torch.manual_seed(3)
        with_ignore = model(batch(with_ignore=True))
        torch.manual_seed(3)
        without = model(batch(with_ignore=False))
    assert with_ignore.keys() == without.keys()
    assert all(torch.allclose(with_ignore[k], without[k]) for k in without)


def test_training_step_on_empty_and_crowded_image_then_inference(tiny_cfg):
    tiny_cfg.INPUT.IGNORE_MODE = "exclude_bg"
    model = build_model(tiny_cfg).train()
    with EventStorage():
        losses = model(batch(with_ignore=True))
    expected = {"loss_cls", "loss_box_reg", "loss_rep_gt", "loss_rep_box", "loss_rpn_cls", "loss_rpn_loc"}
    assert set(losses) == expected and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.roi_heads.box_predictor.bbox_pred.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": batch(False)[0]["image"], "height": 256, "width": 256}])
    boxes = out["instances"].pred_boxes.tensor
    assert len(boxes) <= tiny_cfg.TEST.DETECTIONS_PER_IMAGE and (boxes <= 256).all()  # rescaled to 256 x 256


def test_exclude_bg_needs_reploss_roi_heads(tiny_cfg):
    tiny_cfg.INPUT.IGNORE_MODE = "exclude_bg"
    tiny_cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    with pytest.raises(ValueError, match="exclude_bg"):
        build_model(tiny_cfg)
