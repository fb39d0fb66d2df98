"""
Smooth_ln of "Repulsion Loss: Detecting Pedestrians in a Crowd" (Wang et al., CVPR 2018), Eq. (5).

Shape shorthand:  N = any number of overlap values (IoG or IoU), each in [0, 1].

Eq. (5):  Smooth_ln(x; sigma) = -ln(1 - x)                               if x <= sigma
                                 (x - sigma) / (1 - sigma) - ln(1 - sigma)  if x > sigma
It is continuous with a continuous first derivative at sigma. Numerical safety (docs/methods.md §2.6, CHOICE B1):
- sigma = 1 (the paper's best RepGT setting) would make the function -ln(1 - x), which is infinite at x = 1, and IoG = 1
  happens whenever a predicted box covers its repulsion GT. We use sigma_eff = min(sigma, 1 - eps): the value is exactly
  -ln(1 - x) for x <= 1 - eps and grows linearly with slope 1/eps past it (at most -ln(eps) + 1 = 7.91 for eps = 1e-3).
- torch.where back-propagates through the branch it does not select (pytorch/pytorch#23395): a log branch evaluated at
  x = 1 would give 0 * inf = NaN gradients. The log branch is therefore evaluated on min(x, sigma_eff), where it is
  finite; where x > sigma_eff that input is a constant, so the values and gradients are those of Eq. (5).
"""
import torch
from torch import Tensor

__all__ = ["smooth_ln"]


def smooth_ln(x: Tensor, sigma: float, eps: float = 1e-3) -> Tensor:
    """
    Smooth_ln of Eq. (5) of the RepLoss paper: -ln(1 - x) up to `sigma`, linear above it.

    Args:
        x: (N,) overlaps in [0, 1] (IoG for RepGT, IoU for RepBox). Values are not clamped here: the callers clamp.
        sigma: switch point in [0, 1]. sigma = 0 gives Smooth_ln(x) = x exactly (RepBox default); sigma = 1 means
            "-ln(1 - x) with no smoothing" (RepGT default) and is realised as sigma_eff = 1 - eps.
        eps: the distance delta kept between sigma_eff and 1 (MODEL.REPLOSS.SIGMA_EPS), in (0, 1).
    Returns:
        (N,) non-negative values, not reduced, same dtype as `x`.
    """
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"smooth_ln: sigma must be in [0, 1], got {sigma}")
    if not 0.0 < eps < 1.0:
        raise ValueError(f"smooth_ln: eps must be in (0, 1), got {eps}")
    sigma_eff = min(float(sigma), 1.0 - eps)
    above = x > sigma_eff
    # log branch on min(x, sigma_eff): finite value and gradient everywhere (see the module docstring). torch.where
    # rather than clamp: clamp passes no gradient at x == sigma_eff exactly, where the slope must be 1 / (1 - sigma).
    log_part = -torch.log1p(-torch.where(above, torch.full_like(x, sigma_eff), x))
    linear_part = (x - sigma_eff) / (1.0 - sigma_eff)
    # above sigma_eff, log_part is the constant -ln(1 - sigma_eff), so this is exactly the second line of Eq. (5)
    return torch.where(above, log_part + linear_part, log_part)
