"""
Label assignment of OPL (CVPR 2023): one-to-one POTO (as DeFCN) for the final score S and the regression, and
One-to-M_i for each C2F block (docs/methods.md §1.3-1.4); plus DeFCN's auxiliary rule and FCOS's rule for baselines.

Shape shorthand (one image): G = valid GT boxes, R = locations of all levels concatenated, K = classes.
Boxes are XYXY_ABS. Every assigner returns ``matched`` (R,) int64: the GT index of a positive location, -1 otherwise.
No function here has parameters or gradients; all run under ``torch.no_grad`` and in fp32.
"""
from typing import List, Sequence, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

__all__ = [
    "quality_score", "inside_box_prior", "poto_hungarian", "poto_hungarian_full", "poto_argmax", "topm_assign",
    "hungarian_m_assign", "defcn_aux_assign", "fcos_assign", "pairs_to_matched",
]


def quality_score(probs: Tensor, ious: Tensor, alpha: float) -> Tensor:
    """
    Matching quality Q = p^(1 - alpha) * IoU^alpha (DeFCN POTO; used by POTO and every One-to-M_i rule).

    Args:
        probs: (G, R) score of each GT's class at each location (detached).
        ious: (G, R) IoU of each GT with each predicted box.
    Returns:
        (G, R) fp32 in [0, 1].
    """
    return probs.float().clamp(min=0) ** (1.0 - alpha) * ious.float().clamp(min=0) ** alpha


@torch.no_grad()
def inside_box_prior(centers: Tensor, strides: Tensor, gt_boxes: Tensor, radius: float = 0.0) -> Tensor:
    """
    Spatial prior of POTO / One-to-M (docs/methods.md §1.3, A12): location centre strictly in the GT box, and, when
    ``radius > 0``, also within ``radius * stride`` of the GT centre (DeFCN centre sampling).

    Args:
        centers: (R, 2) location centres (x, y).  strides: (R,) stride of each location's level.
        gt_boxes: (G, 4).
    Returns:
        (G, R) bool.
    """
    x, y = centers[:, 0][None], centers[:, 1][None]
    x0, y0, x1, y1 = (gt_boxes[:, i : i + 1] for i in range(4))
    inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
    if radius > 0:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        r = radius * strides[None].to(gt_boxes.dtype)
        inside &= ((x - cx).abs() < r) & ((y - cy).abs() < r)
    return inside


def pairs_to_matched(gt_idx: Tensor, loc_idx: Tensor, num_locations: int) -> Tensor:
    """(P,) GT indices and (P,) location indices -> (R,) int64 matched GT per location, -1 elsewhere."""
    matched = torch.full((num_locations,), -1, dtype=torch.long, device=loc_idx.device)
    matched[loc_idx] = gt_idx
    return matched


def _drop_out_of_prior(gt_idx: Tensor, loc_idx: Tensor, prior: Tensor, drop: bool) -> Tuple[Tensor, Tensor]:
    if not drop or gt_idx.numel() == 0:
        return gt_idx, loc_idx
    keep = prior[gt_idx, loc_idx]
    return gt_idx[keep], loc_idx[keep]


@torch.no_grad()
def poto_hungarian(quality: Tensor, prior: Tensor, drop_out_of_box: bool = True) -> Tuple[Tensor, Tensor]:
    """
    POTO one-to-one match: maximise the total quality with the Hungarian algorithm (scipy), on the reduced matrix.

    Q is set to -1 outside the prior (as DeFCN). Columns outside every GT's prior are identical (-1 for every GT), so
    only the columns inside at least one prior are kept plus G dummy columns of -1 ("some location outside all
    boxes"); the optimum is DeFCN's up to ties (docs/methods.md §1.3). A dummy match means "unmatched". A match outside
    the prior is dropped when ``drop_out_of_box`` (CHOICE A10; with drop off a dummy match is still unmatched, because
    the dummy stands for an unknown location).

    Args:
        quality: (G, R) quality, values in [0, 1].  prior: (G, R) bool.
    Returns:
        (gt_idx, loc_idx): (P,) int64 each, P <= G.
    """
    device = quality.device
    num_gt = quality.shape[0]
    cols = prior.any(dim=0).nonzero().squeeze(1)
    if num_gt == 0 or cols.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    q = torch.where(prior[:, cols], quality[:, cols].float(), torch.full_like(quality[:, cols].float(), -1.0))
    q = torch.cat([q, q.new_full((num_gt, num_gt), -1.0)], dim=1).cpu().numpy()
    rows, sel = linear_sum_assignment(q, maximize=True)
    real = sel < cols.numel()
    gt_idx = torch.as_tensor(rows[real], dtype=torch.long, device=device)
    loc_idx = cols[torch.as_tensor(sel[real], dtype=torch.long, device=device)]
    return _drop_out_of_prior(gt_idx, loc_idx, prior, drop_out_of_box)


@torch.no_grad()
def poto_hungarian_full(quality: Tensor, prior: Tensor, drop_out_of_box: bool = True) -> Tuple[Tensor, Tensor]:
    """DeFCN's original Hungarian over all R columns (reference for the tests; same signature as ``poto_hungarian``)."""
    q = torch.where(prior, quality.float(), torch.full_like(quality.float(), -1.0)).cpu().numpy()
    rows, cols = linear_sum_assignment(q, maximize=True)
    gt_idx = torch.as_tensor(rows, dtype=torch.long, device=quality.device)
    loc_idx = torch.as_tensor(cols, dtype=torch.long, device=quality.device)
    return _drop_out_of_prior(gt_idx, loc_idx, prior, drop_out_of_box)


@torch.no_grad()
def poto_argmax(quality: Tensor, prior: Tensor, drop_out_of_box: bool = True) -> Tuple[Tensor, Tensor]:
    """
    POTO "argmax" matcher (DeFCN ablation): each GT takes its best location; a location claimed by several GTs goes to
    the GT with the highest quality there, the others stay unmatched.

    Args / Returns: as ``poto_hungarian``.
    """
    device = quality.device
    if quality.shape[0] == 0 or quality.shape[1] == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    q = torch.where(prior, quality.float(), torch.full_like(quality.float(), -1.0))
    best_q, best_loc = q.max(dim=1)  # (G,)
    order = torch.argsort(best_q, descending=True)
    # keep, per location, the first (highest-quality) claimant: unique over the sorted claims
    locs_sorted = best_loc[order]
    first = torch.ones_like(locs_sorted, dtype=torch.bool)
    if locs_sorted.numel() > 1:
        _, inverse = torch.unique(locs_sorted, return_inverse=True)
        seen = torch.full((int(inverse.max()) + 1,), locs_sorted.numel(), dtype=torch.long, device=device)
        seen.scatter_reduce_(0, inverse, torch.arange(locs_sorted.numel(), device=device), reduce="amin")
        first = seen[inverse] == torch.arange(locs_sorted.numel(), device=device)
    gt_idx, loc_idx = order[first], locs_sorted[first]
    if not drop_out_of_box:
        return gt_idx, loc_idx
    return _drop_out_of_prior(gt_idx, loc_idx, prior, True)


def _resolve_conflicts(candidates: Tensor, quality: Tensor) -> Tensor:
    """(G, R) bool candidates -> (R,) matched GT: a location wanted by several GTs goes to the max-quality GT."""
    masked = torch.where(candidates, quality.float(), torch.full_like(quality.float(), -float("inf")))
    best_q, best_gt = masked.max(dim=0)
    return torch.where(torch.isfinite(best_q), best_gt, torch.full_like(best_gt, -1))


@torch.no_grad()
def topm_assign(quality: Tensor, prior: Tensor, m: int) -> Tensor:
    """
    One-to-M_i "top-M" rule (CHOICE A1): each GT takes its M highest-quality locations inside its prior (fewer if the
    box holds fewer); a location chosen by several GTs goes to the GT with the highest quality.

    Args:
        quality: (G, R) quality of this C2F block (its own score, shared boxes).  prior: (G, R) bool.  m: M_i.
    Returns:
        (R,) int64 matched GT or -1. Per GT at most M positives, never shared.
    """
    num_gt, num_loc = quality.shape
    if num_gt == 0 or num_loc == 0:
        return torch.full((num_loc,), -1, dtype=torch.long, device=quality.device)
    q = torch.where(prior, quality.float(), torch.full_like(quality.float(), -float("inf")))
    k = min(m, num_loc)
    top_q, top_idx = q.topk(k, dim=1)
    candidates = torch.zeros_like(prior)
    candidates.scatter_(1, top_idx, torch.isfinite(top_q))
    return _resolve_conflicts(candidates, quality)


@torch.no_grad()
def hungarian_m_assign(quality: Tensor, prior: Tensor, m: int) -> Tensor:
    """
    One-to-M_i by Hungarian matching with every GT repeated M times (docs/methods.md §1.4; slow, a check only):
    exactly M distinct in-prior locations per GT where possible. Matches outside the prior are dropped.

    Returns: (R,) int64 matched GT or -1.
    """
    num_gt, num_loc = quality.shape
    if num_gt == 0 or m <= 0:
        return torch.full((num_loc,), -1, dtype=torch.long, device=quality.device)
    rep_q, rep_prior = quality.repeat_interleave(m, dim=0), prior.repeat_interleave(m, dim=0)
    gt_rep, loc_idx = poto_hungarian(rep_q, rep_prior, drop_out_of_box=True)
    return pairs_to_matched(gt_rep // m, loc_idx, num_loc)


@torch.no_grad()
def defcn_aux_assign(quality: Tensor, prior: Tensor, level_sizes: Sequence[int], topk: int) -> Tensor:
    """
    DeFCN's auxiliary one-to-many rule (PEER [R3]): candidates = union over levels of each GT's top-k locations by
    quality; threshold = mean + std of the candidates' quality (ATSS-like); positive = candidate, above threshold and
    inside the prior; conflicts go to the GT with the highest quality.

    Args:
        quality: (G, R) quality from the cls score alone.  prior: (G, R) bool.
        level_sizes: locations per level (sums to R).  topk: k per level.
    Returns:
        (R,) int64 matched GT or -1.
    """
    num_gt, num_loc = quality.shape
    if num_gt == 0:
        return torch.full((num_loc,), -1, dtype=torch.long, device=quality.device)
    q = quality.float()
    cand_idx: List[Tensor] = []
    start = 0
    for size in level_sizes:
        k = min(topk, size)
        if k > 0:
            cand_idx.append(start + q[:, start : start + size].topk(k, dim=1).indices)
        start += size
    cand = torch.cat(cand_idx, dim=1)  # (G, sum_k)
    cand_q = q.gather(1, cand)
    thr = cand_q.mean(dim=1, keepdim=True) + (cand_q.std(dim=1, keepdim=True) if cand.shape[1] > 1 else 0.0)
    candidates = torch.zeros_like(prior).scatter_(1, cand, True) & (q >= thr) & prior
    return _resolve_conflicts(candidates, q)


@torch.no_grad()
def fcos_assign(
    centers: Tensor, strides: Tensor, level_sizes: Sequence[int], gt_boxes: Tensor, radius: float = 1.5
) -> Tensor:
    """
    FCOS's one-to-many rule, for the FCOS-with-NMS baseline: centre inside the box and within radius * stride of the
    GT centre, max ltrb distance inside the level's size range (0-64-128-256-512-inf for strides 8..128, i.e. 4s..8s
    with open ends), the smallest-area GT wins.

    Returns: (R,) int64 matched GT or -1.
    """
    num_loc = centers.shape[0]
    if gt_boxes.shape[0] == 0:
        return torch.full((num_loc,), -1, dtype=torch.long, device=centers.device)
    s = strides.to(gt_boxes.dtype)
    lower, upper = 4 * s, 8 * s
    lower[: level_sizes[0]] = 0
    upper[num_loc - level_sizes[-1] :] = float("inf")
    x, y = centers[:, 0][None], centers[:, 1][None]
    ltrb = torch.stack([x - gt_boxes[:, 0:1], y - gt_boxes[:, 1:2], gt_boxes[:, 2:3] - x, gt_boxes[:, 3:4] - y], 2)
    ok = inside_box_prior(centers, strides, gt_boxes, radius)
    max_d = ltrb.max(dim=2).values
    ok &= (max_d > lower[None]) & (max_d < upper[None])
    area = (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1])
    return _resolve_conflicts(ok, -area[:, None].expand_as(max_d))

