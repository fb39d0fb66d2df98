"""
RepLoss under mixed precision: a training step of Faster R-CNN + RepGT + RepBox runs under CPU bfloat16 autocast
with finite losses and gradients, and calls nothing that CUDA autocast refuses (tests/autocast_guard.py).
"""
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from ..autocast_guard import refuse_autocast_banned_ops


def _batch():
    g = torch.Generator().manual_seed(0)
    out = []
    for boxes, classes in [([[10, 10, 40, 90], [30, 12, 62, 96], [70, 20, 100, 100], [5, 60, 20, 90]], [0, 0, 0, -1]),
                           ([[20, 20, 60, 110], [40, 25, 80, 112]], [0, 0])]:
        inst = Instances((128, 128))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.tensor(classes)
        out.append({"image": torch.randint(0, 256, (3, 128, 128), generator=g).float(), "instances": inst,
                    "height": 128, "width": 128})
    return out


def test_training_step_under_bfloat16_autocast_calls_no_refused_op(monkeypatch, tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.REPLOSS.ALPHA", 0.5, "MODEL.REPLOSS.BETA", 0.5])
    model = build_model(cfg)
    model.train()
    with refuse_autocast_banned_ops(monkeypatch), EventStorage():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = model(_batch())
            total = sum(losses.values())
        total.backward()
    assert {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc", "loss_rep_gt", "loss_rep_box"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.roi_heads.box_predictor.bbox_pred.weight.grad.abs().sum() > 0
