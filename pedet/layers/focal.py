"""
Focal loss (Lin et al., ICCV 2017) on a product of sigmoids, computed in log space from the logits.

OPL (CVPR 2023) and DeFCN train the product S = sigmoid(z_cls) * sigmoid(z_cpn) with a focal loss. Computing it on the
probability S (``F.binary_cross_entropy``) has two defects: CUDA autocast refuses ``binary_cross_entropy`` (so
``SOLVER.AMP.ENABLED`` fails at the first iteration), and the clamp that keeps log(S) finite zeroes the gradient of a
positive whose S is below the clamp, exactly the hard, occluded person CPN is for. Here both logarithms come from the
logits, with no clamp:

    log S     = logsigmoid(z_cls) + logsigmoid(z_cpn)
    log(1-S)  = log1p(-exp(log S))                        where S < 1/2   (1 - S is well conditioned)
              = logsumexp(-z_cls, -z_cpn, -z_cls - z_cpn) + log S   where S >= 1/2
The second line is exact algebra, 1 - S = (e^-a + e^-b + e^-(a+b)) * sigmoid(a) * sigmoid(b), and stays accurate
when 1 - S is far below the fp32 resolution of 1 (a, b large). torchvision has ``sigmoid_focal_loss`` for one logit
only; no library function takes a product of sigmoids, hence this module.
Shape shorthand: any shape (...), applied element-wise (with broadcasting between the two logit tensors).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["focal_loss_on_logit_product", "log_sigmoid_product"]

_LOG_HALF = -math.log(2.0)


def log_sigmoid_product(cls_logits: Tensor, gate_logits: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """
    log S and log(1 - S) of S = sigmoid(cls_logits) * sigmoid(gate_logits), in fp32, finite with finite gradients
    for all finite logits (module docstring).

    Args:
        cls_logits: (...) logits z_cls, any float dtype.
        gate_logits: logits z_cpn broadcastable to ``cls_logits`` (e.g. (..., 1) against (..., K)), or None (S is
            then sigmoid(cls_logits)).
    Returns:
        (log_s, log_one_minus_s), fp32 tensors of the broadcast shape.
    """
    a = cls_logits.float()
    if gate_logits is None:
        # a single sigmoid: log(1 - sigmoid(a)) = logsigmoid(-a), exact
        return F.logsigmoid(a), F.logsigmoid(-a)
    b = gate_logits.float()
    a, b = torch.broadcast_tensors(a, b)
    log_s = F.logsigmoid(a) + F.logsigmoid(b)
    small = log_s < _LOG_HALF
    # each branch gets an input on which it is finite, so torch.where's unused branch cannot produce 0 * inf = nan
    log1m_small = torch.log1p(-torch.exp(torch.where(small, log_s, torch.full_like(log_s, -1.0))))
    log1m_large = torch.logsumexp(torch.stack([-a, -b, -(a + b)]), dim=0) + log_s
    return log_s, torch.where(small, log1m_small, log1m_large)


def focal_loss_on_logit_product(
    cls_logits: Tensor,
    gate_logits: Optional[Tensor],
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    """
    FL(p_t) = -alpha_t * (1 - p_t)^gamma * log(p_t) on S = sigmoid(cls_logits) * sigmoid(gate_logits), with p_t = S
    for targets 1 and 1 - S for targets 0 (soft targets: the binary cross-entropy of S against t, times
    (1 - p_t)^gamma with p_t = S t + (1 - S)(1 - t), as torchvision's ``sigmoid_focal_loss``).

    Computed in fp32 from the logits (``log_sigmoid_product``), so it is accepted under CUDA and CPU autocast, and a
    positive with S = 1e-7 gets its full gradient, about -alpha on each logit (tests/pedet/layers/test_focal.py).
    With ``gate_logits`` None it equals ``torchvision.ops.sigmoid_focal_loss``.

    Args:
        cls_logits: (...) logits z_cls.
        gate_logits: logits z_cpn broadcastable to ``cls_logits``, or None.
        targets: the broadcast shape, values in {0, 1} (soft targets in [0, 1] also work).
        alpha: weight of the positives in [0, 1]; negative = no alpha weighting (as torchvision).
        gamma: focusing exponent >= 0.
        reduction: "none" | "mean" | "sum".
    Returns:
        fp32 tensor of the broadcast shape ("none") or a scalar.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"Invalid reduction {reduction!r}; use 'none', 'mean' or 'sum'")
    log_s, log_1ms = log_sigmoid_product(cls_logits, gate_logits)
    t = targets.float()
    ce = -(t * log_s + (1.0 - t) * log_1ms)
    one_minus_p_t = t * torch.exp(log_1ms) + (1.0 - t) * torch.exp(log_s)
    loss = ce * one_minus_p_t**gamma
    if alpha >= 0:
        loss = (alpha * t + (1.0 - alpha) * (1.0 - t)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
