"""
Focal loss on probabilities (Lin et al., ICCV 2017), for scores that are not a single sigmoid of a logit.

OPL (CVPR 2023) and DeFCN train the product S = sigmoid(z_cls) * sigmoid(z_cpn) with a focal loss, so the loss must
take the probability S itself. For plain logits use ``torchvision.ops.sigmoid_focal_loss`` (numerically better).
Shape shorthand: any shape (...), applied element-wise.
"""
import torch.nn.functional as F
from torch import Tensor


def focal_loss_on_probs(
    probs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    eps: float = 1e-6,
    reduction: str = "none",
) -> Tensor:
    """
    FL(p_t) = -alpha_t * (1 - p_t)^gamma * log(p_t), with p_t = p for targets 1 and 1 - p for targets 0.

    Computed in fp32; ``probs`` is clamped to [eps, 1 - eps] before the logs, so the loss and its gradient stay finite
    at p -> 0 and p -> 1 (the gradient is 0 where the clamp is active, docs/methods.md §1.5).

    Args:
        probs: (...) probabilities in [0, 1], any dtype.
        targets: (...) same shape, values in {0, 1} (soft targets in [0, 1] also work).
        alpha: weight of the positives in [0, 1]; negative = no alpha weighting (as torchvision).
        gamma: focusing exponent >= 0.
        eps: clamp margin.
        reduction: "none" | "mean" | "sum".
    Returns:
        fp32 tensor of the input shape ("none") or a scalar.
    """
    p = probs.float().clamp(min=eps, max=1.0 - eps)
    t = targets.float()
    ce = F.binary_cross_entropy(p, t, reduction="none")
    p_t = p * t + (1.0 - p) * (1.0 - t)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1.0 - alpha) * (1.0 - t)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction != "none":
        raise ValueError(f"Invalid reduction {reduction!r}; use 'none', 'mean' or 'sum'")
    return loss


__all__ = ["focal_loss_on_probs"]

