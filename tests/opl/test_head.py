"""Tests of opl.head: MSFE, CPN equations (6)-(9), C2F structure, and the reduction to FCOS (docs/methods.md §1.10)."""
import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling.meta_arch.fcos import FCOSHead
from torch import nn

from opl.head import CPN, MaxFiltering3D, OPLHead, cpn_flow_f1, cpn_flow_f2, cpn_flow_f3, cpn_score, msfe, neg

ODD_SIZES = [(15, 17), (8, 9), (4, 5), (2, 3), (1, 2)]


def msfe_literal(features, kernel_size=3, level_radius=1):
    """docs/methods.md §1.2 pseudo-code with F.max_pool3d, the reference for the faster implementation."""
    out = []
    for lvl, x in enumerate(features):
        nbrs = [k for k in range(lvl - level_radius, lvl + level_radius + 1) if 0 <= k < len(features)]
        stack = [x if k == lvl else F.interpolate(features[k], size=x.shape[-2:], mode="bilinear",
                                                  align_corners=False) for k in nbrs]
        y = F.max_pool3d(torch.stack(stack, 2), (2 * level_radius + 1, kernel_size, kernel_size), stride=1,
                         padding=(level_radius, kernel_size // 2, kernel_size // 2))
        out.append(y[:, :, nbrs.index(lvl)])
    return out


def test_msfe_shapes_odd_sizes_and_equals_max_pool3d():
    feats = [torch.randn(2, 3, h, w) for h, w in ODD_SIZES]
    out = msfe(feats)
    assert [o.shape for o in out] == [f.shape for f in feats]
    for a, b in zip(out, msfe_literal(feats)):  # D = 2 at both ends, 3 inside
        torch.testing.assert_close(a, b)


def test_msfe_spike_spreads_to_adjacent_levels_only():
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    feats = [torch.zeros(1, 1, h, w) for h, w in sizes]
    feats[2][0, 0, 1, 1] = 1.0
    out = msfe(feats)
    # own level: the 3 x 3 neighbourhood of (1, 1) is 1
    assert out[2][0, 0, 0:3, 0:3].eq(1).all() and out[2][0, 0, 3, 3] == 0
    # level 1 (8 x 8): bilinear x2 up-sampling puts 0.75 * 0.75 = 0.5625 at (2..3, 2..3), then the 3x3 max spreads it
    # to (1..4, 1..4); nothing reaches row/col 6-7
    assert out[1][0, 0, 1:5, 1:5].eq(0.5625).all() and out[1].max() == 0.5625 and out[1][0, 0, 6:, 6:].eq(0).all()
    # level 3 (2 x 2): down-sampling samples (0.5, 0.5) -> 0.5 * 0.5 = 0.25 at (0, 0), the 3x3 max covers the map
    assert out[3].eq(0.25).all()
    # levels 0 and 4 are two levels away: untouched
    assert out[0].eq(0).all() and out[4].eq(0).all()


def test_eq6_f1_is_channel_concatenation():
    f1 = cpn_flow_f1(torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), 3.0))
    assert f1.flatten().tolist() == [2.0, 3.0]


def identity_conv(channels: int, gain: float = 1.0) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 1)
    with torch.no_grad():
        conv.weight.copy_(gain * torch.eye(channels).reshape(channels, channels, 1, 1))
        conv.bias.zero_()
    return conv


def test_eq7_f2_is_msfe_of_conv():
    f1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2).repeat(1, 2, 1, 1)
    # conv = 2 * identity -> [[2, 4], [6, 8]]; one level: MSFE = 3x3 max pool -> 8 everywhere
    (f2,) = cpn_flow_f2([f1], identity_conv(2, 2.0), kernel_size=3, level_radius=1)
    assert f2.eq(8.0).all()


def test_eq8_f3_gates_f1_with_sigmoid_of_negated_reg():
    c, r = torch.full((1, 1, 1, 1), 1.0), torch.full((1, 1, 1, 1), 2.0)
    # f2 = sigmoid(I * [Neg(r), c]) = [sigmoid(-2), sigmoid(1)] = [0.11920, 0.73106]
    # F3 = MSFE(f1 * f2) = [1 * 0.11920, 2 * 0.73106] = [0.11920, 1.46212] (one 1x1 level: MSFE is the identity)
    (f3,) = cpn_flow_f3([c], [r], identity_conv(2), "neg", kernel_size=3, level_radius=1)
    torch.testing.assert_close(f3.flatten(), torch.tensor([0.11920292, 1.46211716]))


def test_eq9_cpn_score_is_conv_relu_gn():
    norm = nn.GroupNorm(1, 2)
    out_conv = nn.Conv2d(2, 1, 1)
    with torch.no_grad():
        out_conv.weight.fill_(1.0)
        out_conv.bias.zero_()
    flow_sum = torch.tensor([1.0, 3.0]).reshape(1, 2, 1, 1)
    # GN: mean 2, var 1 -> [-1, 1] (eps 1e-5); ReLU -> [0, 1]; conv sums -> 1 / sqrt(1 + 1e-5)
    z = cpn_score(flow_sum, norm, out_conv)
    assert z.item() == pytest.approx(1.0 / math.sqrt(1 + 1e-5), rel=1e-6)


def test_neg_modes():
    x = torch.tensor([0.0, 1.0])
    assert neg(x, "neg").tolist() == [0.0, -1.0]
    torch.testing.assert_close(neg(x, "one_minus_sigmoid"), torch.tensor([0.5, 1 - 1 / (1 + math.exp(-1))]))
    torch.testing.assert_close(neg(x, "exp_neg"), torch.tensor([1.0, math.exp(-1)]))
    with pytest.raises(ValueError):
        neg(x, "abs")


@pytest.mark.parametrize("flows", [["F1"], ["F1", "F2"], ["F1", "F2", "F3"]])
def test_cpn_output_shapes_and_start_at_half(flows):
    cpn = CPN(8, flows, conv_kernel=3, neg_mode="neg", gn_groups=4, msfe_kernel=3, msfe_level_radius=1)
    f_cls = [torch.randn(2, 8, h, w) for h, w in ODD_SIZES]
    f_reg = [torch.randn(2, 8, h, w).relu() for h, w in ODD_SIZES]
    out = cpn(f_cls, f_reg)
    assert [o.shape for o in out] == [(2, 1, h, w) for h, w in ODD_SIZES]
    # N(0, 0.01) last conv and bias 0: sigmoid(out) starts close to 0.5 (DeFCN's filter init)
    assert all((torch.sigmoid(o) - 0.5).abs().max() < 0.1 for o in out)


def test_3dmf_filter_shapes():
    flt = MaxFiltering3D(8, gn_groups=4, kernel_size=3, level_radius=1)
    out = flt([torch.randn(1, 8, h, w) for h, w in ODD_SIZES])
    assert [o.shape for o in out] == [(1, 1, h, w) for h, w in ODD_SIZES]


def test_head_c2f_blocks_and_outputs():
    shapes = [ShapeSpec(channels=16, stride=8 * 2 ** i) for i in range(5)]
    head = OPLHead(input_shape=shapes, num_classes=1, num_convs=2, gn_groups=4, num_c2f_blocks=3)
    feats = [torch.randn(2, 16, h, w) for h, w in ODD_SIZES]
    out = head(feats)
    assert len(out["cls_logits"]) == 3 and len(head.c2f_upper) == 3
    assert [z.shape for z in out["cls_logits"][-1]] == [(2, 1, h, w) for h, w in ODD_SIZES]
    assert [d.shape for d in out["box_deltas"]] == [(2, 4, h, w) for h, w in ODD_SIZES]
    # prior bias on every block's bottom conv: sigmoid(-log(99)) = 0.01
    for conv in head.cls_scores:
        assert torch.sigmoid(conv.bias).item() == pytest.approx(0.01)


def test_head_without_c2f_and_cpn_is_fcos_head_without_centerness():
    shapes = [ShapeSpec(channels=16, stride=8 * 2 ** i) for i in range(5)]
    ours = OPLHead(input_shape=shapes, num_classes=1, num_convs=2, norm="", num_c2f_blocks=0, cpn_on=False)
    fcos = FCOSHead(input_shape=shapes, conv_dims=[16, 16], num_classes=1, norm="", prior_prob=0.01)
    # same layers: FCOS has an extra centre-ness conv (16 * 9 + 1); we have one Scale per level (5)
    n_ours, n_fcos = (sum(p.numel() for p in m.parameters()) for m in (ours, fcos))
    assert n_ours == n_fcos - (16 * 9 + 1) + 5
    with torch.no_grad():  # copy FCOS's weights into ours, layer by layer
        for a, b in [(ours.cls_subnet, fcos.cls_subnet), (ours.bbox_subnet, fcos.bbox_subnet),
                     (ours.cls_scores[0], fcos.cls_score), (ours.bbox_pred, fcos.bbox_pred)]:
            a.load_state_dict(b.state_dict())
    feats = [torch.randn(1, 16, h, w) for h, w in ODD_SIZES]
    out = ours(feats)
    logits, deltas, _ = fcos(feats)
    assert out["gate_logits"] is None
    for a, b in zip(out["cls_logits"][0], logits):
        torch.testing.assert_close(a, b)
    for a, b in zip(out["box_deltas"], deltas):  # Scale_l = 1 at init
        torch.testing.assert_close(a, b)


def test_head_rejects_cpn_and_3dmf_together():
    shapes = [ShapeSpec(channels=16, stride=8)]
    with pytest.raises(ValueError):
        OPLHead(input_shape=shapes, num_classes=1, gn_groups=4, cpn_on=True, filter_3dmf=True)


def test_head_with_centerness_is_fcos_head():
    shapes = [ShapeSpec(channels=16, stride=8 * 2 ** i) for i in range(5)]
    ours = OPLHead(input_shape=shapes, num_classes=1, num_convs=2, norm="", num_c2f_blocks=0, cpn_on=False,
                   centerness=True)
    fcos = FCOSHead(input_shape=shapes, conv_dims=[16, 16], num_classes=1, norm="", prior_prob=0.01)
    n_ours, n_fcos = (sum(p.numel() for p in m.parameters()) for m in (ours, fcos))
    assert n_ours == n_fcos + 5  # everything of FCOS's head, plus one Scale per level
    assert ours.ctrness.weight.std().item() == pytest.approx(0.01, rel=0.2) and ours.ctrness.bias.item() == 0.0
    with torch.no_grad():
        for a, b in [(ours.cls_subnet, fcos.cls_subnet), (ours.bbox_subnet, fcos.bbox_subnet),
                     (ours.cls_scores[0], fcos.cls_score), (ours.bbox_pred, fcos.bbox_pred),
                     (ours.ctrness, fcos.ctrness)]:
            a.load_state_dict(b.state_dict())
    feats = [torch.randn(1, 16, h, w) for h, w in ODD_SIZES]
    out = ours(feats)
    _, _, ctrness = fcos(feats)
    for a, b in zip(out["ctrness_logits"], ctrness):
        torch.testing.assert_close(a, b)
    assert OPLHead(input_shape=shapes, num_classes=1, num_convs=1, norm="", num_c2f_blocks=0,
                   cpn_on=False)(feats)["ctrness_logits"] is None
