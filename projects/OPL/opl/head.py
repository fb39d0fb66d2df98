"""
The OPL detection head (CVPR 2023): FCOS towers without centre-ness (an option for the FCOS baseline only),
Coarse-to-Fine classifier (C2F) and Completed Proposal Network (CPN) with its Multi-Scale Feature Enhancement (MSFE);
plus DeFCN's 3DMF filter for the reproduction.

Shape shorthand (per FPN level l, all levels share weights):
    N = images, C = FPN channels, K = classes, H_l x W_l = level size, L = number of levels.
    f_cls, f_reg: (N, C, H_l, W_l) outputs of the 4-conv cls / reg sub-nets.
    cls logits z_i: (N, K, H_l, W_l) of C2F block i; the last one is S_cls = sigmoid(z_n) (Eq. 1).
    box deltas: (N, 4, H_l, W_l) ltrb / stride (decoded by Box2BoxTransformLinear, which applies ReLU and x stride).
    CPN logits: (N, 1, H_l, W_l); S_cpn = sigmoid(.) is class-agnostic (CHOICE A17); S = S_cls * S_cpn (Eq. 2).
"""
import math
from typing import Dict, List, Optional, Sequence

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from torch import Tensor, nn

__all__ = ["Scale", "msfe", "neg", "cpn_flow_f1", "cpn_flow_f2", "cpn_flow_f3", "cpn_score", "CPN", "MaxFiltering3D",
           "OPLHead"]


class Scale(nn.Module):
    """Learnable scalar multiplier of one FPN level's regression output (FCOS/DeFCN; init 1.0)."""

    def __init__(self, init_value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _conv(in_ch: int, out_ch: int, kernel: int) -> nn.Conv2d:
    """Conv with N(0, 0.01) weights and zero bias (PEER init, docs/methods.md §1.2)."""
    conv = nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=1, padding=kernel // 2)
    nn.init.normal_(conv.weight, mean=0.0, std=0.01)
    nn.init.constant_(conv.bias, 0.0)
    return conv


def _conv_norm_relu(in_ch: int, out_ch: int, norm: str, gn_groups: int) -> List[nn.Module]:
    """conv3x3 -> [GN] -> ReLU. Only "GN" or "" here: a BN shared by levels of different statistics is avoided."""
    layers: List[nn.Module] = [_conv(in_ch, out_ch, 3)]
    if norm == "GN":
        layers.append(nn.GroupNorm(gn_groups, out_ch))
    elif norm:
        raise ValueError(f"MODEL.OPL.NORM must be 'GN' or '' (got {norm!r})")
    layers.append(nn.ReLU())
    return layers


def msfe(features: Sequence[Tensor], kernel_size: int = 3, level_radius: int = 1) -> List[Tensor]:
    """
    Multi-Scale Feature Enhancement (OPL Sec. 3.3; DeFCN's 3D max filtering without its conv/residual/GN, CHOICE A7).

    For level l the levels k in [l - r, l + r] are resized bilinearly (align_corners=False) to level l's size,
    stacked on a depth axis (D = 2 at the finest/coarsest level for r = 1), and max-pooled with a
    (2r+1, k, k) 3-D window, stride 1, -inf padding; the slice of level l is returned. Because every stacked level lies
    within r of l, the depth window of that slice covers the whole stack, so the 3-D pool equals a max over depth
    followed by a k x k 2-D max pool; we compute it that way (D times fewer pooling ops; the test checks equality with
    ``F.max_pool3d``), the depth max as an elementwise ``torch.maximum`` chain (no stacked copy: 18 % less time than
    ``torch.stack(...).amax`` for forward + backward on CPU).

    Args:
        features: L tensors (N, C, H_l, W_l), finest first, same N and C.
    Returns:
        L tensors of the same shapes.
    """
    out = []
    num_levels = len(features)
    for lvl, x in enumerate(features):
        lo, hi = max(0, lvl - level_radius), min(num_levels, lvl + level_radius + 1)
        depth_max = x
        for k in range(lo, hi):
            if k != lvl:
                resized = F.interpolate(features[k], size=x.shape[-2:], mode="bilinear", align_corners=False)
                depth_max = torch.maximum(depth_max, resized)
        out.append(F.max_pool2d(depth_max, kernel_size=kernel_size, stride=1, padding=kernel_size // 2))
    return out


def neg(x: Tensor, mode: str = "neg") -> Tensor:
    """Neg() of Eq. (8): "neg" = -x (CHOICE A6, the literal negation), "one_minus_sigmoid", "exp_neg"."""
    if mode == "neg":
        return -x
    if mode == "one_minus_sigmoid":
        return 1.0 - torch.sigmoid(x)
    if mode == "exp_neg":
        return torch.exp(-x)
    raise ValueError(f"Unknown MODEL.OPL.CPN_NEG {mode!r}")


def cpn_flow_f1(f_cls: Tensor, f_reg: Tensor) -> Tensor:
    """Eq. (6): F1 = C(f_cls, f_reg), channel concatenation. (N, C, H, W) x2 -> (N, 2C, H, W)."""
    return torch.cat([f_cls, f_reg], dim=1)


def cpn_flow_f2(f1_per_level: Sequence[Tensor], conv: nn.Module, kernel_size: int, level_radius: int) -> List[Tensor]:
    """Eq. (7): F2 = MSFE(Conv(C(f_cls, f_reg))); input the F1 maps of all levels. L x (N, 2C, H_l, W_l)."""
    return msfe([conv(x) for x in f1_per_level], kernel_size, level_radius)


def cpn_flow_f3(
    f_cls: Sequence[Tensor], f_reg: Sequence[Tensor], gate_conv: nn.Module, neg_mode: str, kernel_size: int,
    level_radius: int,
) -> List[Tensor]:
    """
    Eq. (8): f1 = C(f_cls, f_reg), f2 = sigmoid(Conv(C(Neg(f_reg), f_cls))), F3 = MSFE(f1 * f2).

    f2 is a per-channel gate (CHOICE A8). Inputs L x (N, C, H_l, W_l); output L x (N, 2C, H_l, W_l).
    """
    gated = []
    for c, r in zip(f_cls, f_reg):
        f1 = torch.cat([c, r], dim=1)
        f2 = torch.sigmoid(gate_conv(torch.cat([neg(r, neg_mode), c], dim=1)))
        gated.append(f1 * f2)
    return msfe(gated, kernel_size, level_radius)


def cpn_score(flow_sum: Tensor, norm: nn.Module, out_conv: nn.Module) -> Tensor:
    """Eq. (9) before the sigmoid: Conv(ReLU(GN(F1 + F2 + F3))). (N, 2C, H, W) -> (N, 1, H, W) logits."""
    return out_conv(F.relu(norm(flow_sum)))


class CPN(nn.Module):
    """
    Completed Proposal Network (Eq. 6-9): class-agnostic completeness logits from f_cls and f_reg of every level.

    Parameters shared by all levels (GN included, as DeFCN's 3DMF GN). The last conv keeps bias 0, so
    S_cpn = 0.5 at the start, like DeFCN's filter (docs/methods.md §1.2).
    """

    def __init__(self, channels: int, flows: Sequence[str], conv_kernel: int, neg_mode: str, gn_groups: int,
                 msfe_kernel: int, msfe_level_radius: int):
        super().__init__()
        flows = tuple(flows)
        if not flows or any(f not in ("F1", "F2", "F3") for f in flows):
            raise ValueError(f"MODEL.OPL.CPN_FLOWS must be a non-empty subset of F1, F2, F3 (got {flows})")
        self.flows, self.neg_mode = flows, neg_mode
        self.msfe_kernel, self.msfe_level_radius = msfe_kernel, msfe_level_radius
        c2 = 2 * channels
        if "F2" in flows:
            self.f2_conv = _conv(c2, c2, conv_kernel)  # Eq. (7): 2C -> 2C, no norm, no activation
        if "F3" in flows:
            self.gate_conv = _conv(c2, c2, conv_kernel)  # Eq. (8): f2 gate
        self.norm = nn.GroupNorm(gn_groups, c2)
        self.out_conv = _conv(c2, 1, 3)  # Eq. (9): 2C -> 1, bias 0

    def forward(self, f_cls: Sequence[Tensor], f_reg: Sequence[Tensor]) -> List[Tensor]:
        """f_cls, f_reg: L x (N, C, H_l, W_l) -> L x (N, 1, H_l, W_l) CPN logits."""
        f1 = [cpn_flow_f1(c, r) for c, r in zip(f_cls, f_reg)]
        total = [torch.zeros_like(x) for x in f1] if "F1" not in self.flows else list(f1)
        if "F2" in self.flows:
            f2 = cpn_flow_f2(f1, self.f2_conv, self.msfe_kernel, self.msfe_level_radius)
            total = [t + x for t, x in zip(total, f2)]
        if "F3" in self.flows:
            f3 = cpn_flow_f3(f_cls, f_reg, self.gate_conv, self.neg_mode, self.msfe_kernel, self.msfe_level_radius)
            total = [t + x for t, x in zip(total, f3)]
        return [cpn_score(t, self.norm, self.out_conv) for t in total]


class MaxFiltering3D(nn.Module):
    """
    DeFCN's 3DMF filter branch on f_reg (reproduction mode): conv -> MSFE -> + input -> GN -> ReLU, then conv3x3 -> 1.

    Input L x (N, C, H_l, W_l); output L x (N, 1, H_l, W_l) filter logits (S = sigmoid(z) * sigmoid(filter)).
    """

    def __init__(self, channels: int, gn_groups: int, kernel_size: int, level_radius: int):
        super().__init__()
        self.kernel_size, self.level_radius = kernel_size, level_radius
        self.conv = _conv(channels, channels, 3)
        self.norm = nn.GroupNorm(gn_groups, channels)
        self.out_conv = _conv(channels, 1, 3)

    def forward(self, f_reg: Sequence[Tensor]) -> List[Tensor]:
        pooled = msfe([self.conv(x) for x in f_reg], self.kernel_size, self.level_radius)
        return [self.out_conv(F.relu(self.norm(p + x))) for p, x in zip(pooled, f_reg)]


class OPLHead(nn.Module):
    """
    Shared head: cls sub-net -> C2F blocks (or one final conv), reg sub-net -> Scale -> ltrb, and CPN (or 3DMF).

    With ``num_c2f_blocks = 0`` and no CPN/3DMF it is exactly FCOS's head without centre-ness (tested against
    detectron2's ``FCOSHead``).
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: List[ShapeSpec],
        num_classes: int,
        num_convs: int = 4,
        norm: str = "GN",
        gn_groups: int = 32,
        prior_prob: float = 0.01,
        use_scale: bool = True,
        num_c2f_blocks: int = 2,
        cpn_on: bool = True,
        cpn_flows: Sequence[str] = ("F1", "F2", "F3"),
        cpn_conv_kernel: int = 3,
        cpn_cls_feature: str = "subnet",
        cpn_neg: str = "neg",
        msfe_kernel: int = 3,
        msfe_level_radius: int = 1,
        filter_3dmf: bool = False,
        bbox_pred_bias: float = 0.0,
        centerness: bool = False,
    ):
        """
        Args:
            input_shape: one ShapeSpec per level (same channels C).
            bbox_pred_bias: initial bias of the ltrb conv, in strides (0 = FCOS/DeFCN). ltrb = ReLU(Scale * delta):
                a location whose delta is negative gets no gradient, and when the shared conv pushes a whole level
                below 0 that level's boxes stay at zero size for good; a positive start (e.g. 1: boxes of two
                strides) keeps every location on the live side of the ReLU at the start of training.
            num_c2f_blocks: n of Eq. (5); 0 = one final conv on the cls sub-net (FCOS).
            cpn_on / filter_3dmf: the score gate; at most one of them.
            centerness: FCOS's centre-ness conv on the reg sub-net (the FCOS baseline; detectron2's ``FCOSHead``).
            Other args: see ``opl.config`` (MODEL.OPL.*).
        """
        super().__init__()
        channels = {s.channels for s in input_shape}
        if len(channels) != 1:
            raise ValueError(f"All head input levels must have the same channels, got {channels}")
        if cpn_on and filter_3dmf:
            raise ValueError("MODEL.OPL.CPN_ON and MODEL.OPL.FILTER_3DMF are exclusive")
        if cpn_cls_feature not in ("subnet", "last_block"):
            raise ValueError(f"Unknown MODEL.OPL.CPN_CLS_FEATURE {cpn_cls_feature!r}")
        c = channels.pop()
        self.num_levels, self.num_classes, self.cpn_cls_feature = len(input_shape), num_classes, cpn_cls_feature
        self.cls_subnet = nn.Sequential(*[m for _ in range(num_convs) for m in _conv_norm_relu(c, c, norm, gn_groups)])
        self.bbox_subnet = nn.Sequential(*[m for _ in range(num_convs) for m in _conv_norm_relu(c, c, norm, gn_groups)])
        bias = -math.log((1 - prior_prob) / prior_prob)
        # C2F (Eq. 4-5): block i = upper conv (conv3x3 + GN + ReLU, CHOICE A3/A4) and bottom conv (conv3x3 -> K)
        self.c2f_upper = nn.ModuleList(
            [nn.Sequential(*_conv_norm_relu(c, c, norm, gn_groups)) for _ in range(num_c2f_blocks)]
        )
        self.cls_scores = nn.ModuleList([_conv(c, num_classes, 3) for _ in range(max(num_c2f_blocks, 1))])
        for conv in self.cls_scores:
            nn.init.constant_(conv.bias, bias)
        self.bbox_pred = _conv(c, 4, 3)
        nn.init.constant_(self.bbox_pred.bias, bbox_pred_bias)
        self.scales = nn.ModuleList([Scale(1.0) for _ in range(self.num_levels)]) if use_scale else None
        self.cpn = (
            CPN(c, cpn_flows, cpn_conv_kernel, cpn_neg, gn_groups, msfe_kernel, msfe_level_radius) if cpn_on else None
        )
        self.filter = MaxFiltering3D(c, gn_groups, msfe_kernel, msfe_level_radius) if filter_3dmf else None
        self.ctrness = _conv(c, 1, 3) if centerness else None  # N(0, 0.01), bias 0: detectron2's FCOSHead init

    @classmethod
    def from_config(cls, cfg, input_shape: List[ShapeSpec]):
        o = cfg.MODEL.OPL
        return {
            "input_shape": input_shape,
            "num_classes": o.NUM_CLASSES,
            "num_convs": o.NUM_CONVS,
            "norm": o.NORM,
            "gn_groups": o.GN_NUM_GROUPS,
            "prior_prob": o.PRIOR_PROB,
            "use_scale": o.USE_SCALE,
            "num_c2f_blocks": len(o.C2F_M),
            "cpn_on": o.CPN_ON,
            "cpn_flows": list(o.CPN_FLOWS),
            "cpn_conv_kernel": o.CPN_CONV_KERNEL,
            "cpn_cls_feature": o.CPN_CLS_FEATURE,
            "cpn_neg": o.CPN_NEG,
            "msfe_kernel": o.MSFE_KERNEL,
            "msfe_level_radius": o.MSFE_LEVEL_RADIUS,
            "filter_3dmf": o.FILTER_3DMF,
            "bbox_pred_bias": o.BBOX_PRED_BIAS,
            "centerness": o.CENTERNESS,
        }

    def forward(self, features: List[Tensor]) -> Dict[str, Optional[List]]:
        """
        Args:
            features: L x (N, C, H_l, W_l), finest first.
        Returns:
            dict with
              "cls_logits": list over blocks (max(n, 1)) of L x (N, K, H_l, W_l); the last one gives S_cls,
              "box_deltas": L x (N, 4, H_l, W_l), Scale_l already applied (ltrb in units of the stride, pre-ReLU),
              "gate_logits": L x (N, 1, H_l, W_l) from CPN (or the 3DMF filter), or None,
              "ctrness_logits": L x (N, 1, H_l, W_l) FCOS centre-ness on the reg sub-net, or None.
        """
        assert len(features) == self.num_levels, (len(features), self.num_levels)
        h0 = [self.cls_subnet(x) for x in features]
        f_reg = [self.bbox_subnet(x) for x in features]
        if len(self.c2f_upper) == 0:
            cls_logits, h = [[self.cls_scores[0](x) for x in h0]], h0
        else:
            cls_logits, h = [], h0
            for upper, bottom in zip(self.c2f_upper, self.cls_scores):
                h = [upper(x) for x in h]  # the upper conv feeds the next block
                cls_logits.append([bottom(x) for x in h])  # the bottom conv scores
        deltas = [self.bbox_pred(x) for x in f_reg]
        if self.scales is not None:
            deltas = [s(d) for s, d in zip(self.scales, deltas)]
        gate = None
        if self.cpn is not None:
            gate = self.cpn(h0 if self.cpn_cls_feature == "subnet" else h, f_reg)
        elif self.filter is not None:
            gate = self.filter(f_reg)
        ctrness = [self.ctrness(x) for x in f_reg] if self.ctrness is not None else None
        return {"cls_logits": cls_logits, "box_deltas": deltas, "gate_logits": gate, "ctrness_logits": ctrness}
