"""
OPL under mixed precision: every loss of every variant (OPL, DeFCN mode, FCOS+NMS, the one-to-one baseline, the
RepLoss extension) runs under CPU bfloat16 autocast with finite losses and gradients, and calls nothing that CUDA
autocast refuses (binary_cross_entropy on probabilities, caught by tests/autocast_guard.py).
"""
import pytest
import torch
from detectron2.utils.events import EventStorage

from ..autocast_guard import refuse_autocast_banned_ops
from .tiny import crowd_boxes, image_batch, tiny_model

VARIANTS = {
    "opl": "Base-OPL.yaml",
    "defcn": "ablations/defcn_poto_3dmf_aux_R_50_crowdhuman_30k.yaml",
    "fcos_nms": "ablations/fcos_nms_baseline.yaml",
    "one_to_one_baseline": "ablations/table5_baseline.yaml",
    "opl_reploss": "ablations/opl_reploss.yaml",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_training_step_under_bfloat16_autocast_calls_no_refused_op(monkeypatch, variant):
    model = tiny_model(VARIANTS[variant], ["MODEL.OPL.CPN_CONV_KERNEL", 1])
    model.train()
    batch = image_batch([
        ([[10, 10, 40, 60], [30, 5, 70, 60], [50, 20, 60, 40]], [0, 0, -1]),  # two persons and an ignore box
        (crowd_boxes(40, 64, 96, seed=2, min_size=6.0, max_size=40.0), [0] * 40),
    ])
    conv_dtypes = []
    model.backbone.bottom_up.stem.conv1.register_forward_hook(lambda m, i, o: conv_dtypes.append(o.dtype))
    with refuse_autocast_banned_ops(monkeypatch), EventStorage():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = model(batch)
            total = sum(losses.values())
        total.backward()
    assert conv_dtypes == [torch.bfloat16]  # autocast was really on
    assert losses and all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values()), losses
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
