"""Tests of opl.backbone.build_fcos_resnet_fpn_backbone: P3-P7 with P6/P7 from P5; R-18 and trainable norms."""
import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

from .tiny import tiny_cfg


@pytest.mark.parametrize("norm", ["BN", "GN", "SyncBN"])
def test_r18_fpn_levels_strides_and_trainable_norm(norm):
    r18 = ["MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64, "MODEL.RESNETS.STEM_OUT_CHANNELS", 64]
    cfg = tiny_cfg(extra=r18 + ["MODEL.RESNETS.NORM", norm, "MODEL.FPN.NORM", "GN"])
    backbone = build_backbone(cfg, ShapeSpec(channels=3))
    shapes = backbone.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {"p3": 8, "p4": 16, "p5": 32, "p6": 64, "p7": 128}
    assert all(v.channels == 32 for v in shapes.values())
    # the top block reads P5 (32 channels), not res5 (512 channels for R-18)
    assert backbone.top_block.in_feature == "p5" and backbone.top_block.p6.in_channels == 32
    assert all(p.requires_grad for p in backbone.parameters())  # FREEZE_AT 0, trainable norm
    if norm != "SyncBN":  # SyncBN needs a process group to train; it builds and runs in eval mode here
        backbone.train()
        out = backbone(torch.randn(2, 3, 64, 96))
        assert out["p3"].shape == (2, 32, 8, 12) and out["p7"].shape == (2, 32, 1, 1)
    else:
        backbone.eval()
        assert backbone(torch.randn(1, 3, 64, 96))["p7"].shape == (1, 32, 1, 1)


def test_res5_top_block_option():
    backbone = build_backbone(tiny_cfg(extra=["MODEL.OPL.TOP_BLOCK_IN_FEATURE", "res5"]), ShapeSpec(channels=3))
    assert backbone.top_block.p6.in_channels == 128  # slim R-50 res5: 16 * 8 channels
