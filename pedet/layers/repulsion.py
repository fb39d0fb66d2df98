"""
Repulsion terms of "Repulsion Loss: Detecting Pedestrians in a Crowd" (Wang et al., CVPR 2018): the choice of the
repulsion ground truth G_Rep (Eq. 3), RepGT (Eq. 4) and RepBox (Eq. 6). Plain tensors in, so that both the Faster R-CNN
box head (projects/RepLoss) and a one-stage head (projects/OPL, docs/methods.md §2.9) can call them.

Shape shorthand:  P = positive (foreground) predictions of one image,  G = valid ground-truth boxes of one image,
                  I = ignore boxes of one image.  All boxes are XYXY_ABS, as in detectron2.structures.Boxes.

The functions return un-normalised sums (plus a pair count for RepBox); the caller divides, because the normaliser
depends on the detector (docs/methods.md §2.5: Faster R-CNN divides by the number of sampled ROIs R, Eq. 4 by |P+|).
"""
from typing import Optional, Sequence, Tuple

import torch
from detectron2.structures import Boxes, pairwise_iou
from detectron2.structures.boxes import pairwise_intersection
from torch import Tensor

from .box_ops import iog, matched_iou_safe
from .smooth_ln import smooth_ln

__all__ = ["select_repulsion_gt", "rep_gt_loss", "rep_box_loss_single_image", "rep_box_loss"]


@torch.no_grad()
def select_repulsion_gt(
    ref_boxes: Tensor,
    gt_boxes: Tensor,
    target_index: Tensor,
    dup_iou: float = 0.95,
    extra_boxes: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """
    G_Rep of Eq. (3): for each positive, the candidate box with the highest IoU with its *reference* box, its own
    target G_Attr excluded. The reference is the proposal P in Faster R-CNN (the paper measures IoU(G, P), not
    IoU(G, B^P)); a one-stage head without proposals passes its detached predicted boxes (docs/methods.md §2.9).

    A positive gets no repulsion GT (`valid` False; it then adds 0 to RepGT but stays in the normaliser, CHOICE B4)
    when no other candidate overlaps its reference box (this covers images with one GT; with all IoUs 0 the argmax
    would be an arbitrary box), or when the chosen box is a near-duplicate of G_Attr, IoU(G_Attr, G_Rep) >= `dup_iou`
    (CHOICE B6: repelling a duplicate of the target would fight the attraction term).

    Args:
        ref_boxes: (P, 4) reference boxes (proposals, or detached predicted boxes).
        gt_boxes: (G, 4) valid ground-truth boxes of the image (never ignore boxes).
        target_index: (P,) int64 index into `gt_boxes` of each positive's G_Attr.
        dup_iou: near-duplicate threshold in (0, 1] (MODEL.REPLOSS.REP_GT_DUP_IOU).
        extra_boxes: (I, 4) optional extra candidates (ignore boxes when MODEL.REPLOSS.REP_GT_USE_IGNORE; CHOICE B8
            leaves them out by default). They can be G_Rep but never G_Attr.
    Returns:
        rep_boxes: (P, 4) G_Rep per positive (rows where `valid` is False hold the reference box and are unused).
        valid: (P,) bool.
    """
    candidates = gt_boxes if extra_boxes is None else torch.cat([gt_boxes, extra_boxes.to(gt_boxes)], dim=0)
    num_pos = ref_boxes.shape[0]
    if num_pos == 0 or candidates.shape[0] < 2:
        return ref_boxes.clone(), torch.zeros(num_pos, dtype=torch.bool, device=ref_boxes.device)
    # detectron2's pairwise_iou is fine here: no gradient flows through the choice
    iou = pairwise_iou(Boxes(candidates), Boxes(ref_boxes))  # (G + I, P)
    iou[target_index, torch.arange(num_pos, device=iou.device)] = -1.0  # exclude G_Attr
    best_iou, rep_index = iou.max(dim=0)
    dup = pairwise_iou(Boxes(gt_boxes), Boxes(candidates))[target_index, rep_index] >= dup_iou
    valid = (best_iou > 0) & ~dup
    rep_boxes = torch.where(valid[:, None], candidates[rep_index], ref_boxes)
    return rep_boxes, valid


def rep_gt_loss(
    pred_boxes: Tensor, rep_boxes: Tensor, valid: Tensor, sigma: float = 1.0, sigma_eps: float = 1e-3
) -> Tensor:
    """
    Numerator of RepGT, Eq. (4): sum over positives with a repulsion GT of Smooth_ln(IoG(B^P, G_Rep); sigma).
    Eq. (4) divides it by |P+| (all positives, also those with `valid` False); detectron2 by R (docs/methods.md §2.5).

    Args:
        pred_boxes: (P, 4) regressed boxes B^P (requires grad in training).
        rep_boxes: (P, 4) G_Rep per positive, from :func:`select_repulsion_gt`.
        valid: (P,) bool, positives that have a G_Rep.
        sigma: Smooth_ln switch point (MODEL.REPLOSS.SIGMA_GT, paper default 1.0).
        sigma_eps: see :func:`pedet.layers.smooth_ln.smooth_ln`.
    Returns:
        scalar, >= 0; `0 * pred_boxes.sum()` (still connected to the graph) when nothing is valid.
    """
    if not bool(valid.any()):
        return pred_boxes.sum() * 0.0  # connect the gradient (DDP needs every parameter in the graph)
    overlap = iog(pred_boxes[valid], rep_boxes[valid])
    return smooth_ln(overlap, sigma, sigma_eps).sum()


# How RepBox (Eq. 6) forms its pairs. The paper: the positives are split into |G| subsets by target, and "B^{P_i} and
# B^{P_j} are the predicted boxes regressed from two proposals randomly sampled from two different subsets".
#   "all":        every pair of positives with different targets (our reading: a random sample of two proposals from
#                 two subsets, summed over all draws, is all such pairs; the denominator counts them). Default.
#   "one_per_gt": first draw ONE positive per target at random, then every pair of these (|G'|(|G'|-1)/2 pairs for
#                 the |G'| targets that have positives).
REP_BOX_PAIRINGS = ("all", "one_per_gt")


def one_positive_per_target(target_index: Tensor) -> Tensor:
    """
    Indices (T,) of one positive per distinct target, each drawn uniformly among that target's positives (torch RNG).

    Args:
        target_index: (P,) int64 target id of each positive.
    Returns:
        (T,) int64 indices into the P positives, T = number of distinct targets, in increasing target-id order.
    """
    num_pos = target_index.shape[0]
    if num_pos == 0:
        return target_index.new_zeros(0)
    perm = torch.randperm(num_pos, device=target_index.device)
    _, group = torch.unique(target_index[perm], return_inverse=True)
    # the first position of each target in the random order = a uniform draw among its positives
    first = torch.full((int(group.max()) + 1,), num_pos, dtype=torch.long, device=target_index.device)
    first = first.scatter_reduce(0, group, torch.arange(num_pos, device=target_index.device), reduce="amin")
    return perm[first]


def rep_box_loss_single_image(
    pred_boxes: Tensor,
    target_index: Tensor,
    sigma: float = 0.0,
    sigma_eps: float = 1e-3,
    max_boxes: int = 0,
    pairing: str = "all",
) -> Tuple[Tensor, Tensor]:
    """
    Numerator and denominator of RepBox, Eq. (6), for ONE image: over unordered pairs (i < j) of positives whose
    targets differ, sum Smooth_ln(IoU(B_i, B_j); sigma), and count the pairs with IoU > 0. The paper's sum over
    i != j counts each pair twice in both, so the ratio is the same (CHOICE B9). Vectorised, no Python loop.
    `pairing` chooses the reading of Eq. 6's "two proposals randomly sampled from two different subsets"
    (REP_BOX_PAIRINGS): all pairs, or the pairs of one random positive per target.

    Args:
        pred_boxes: (P, 4) regressed boxes of the image's positives (requires grad in training).
        target_index: (P,) int64 id of each positive's target G_Attr (any per-image id: only equality is used).
        sigma: Smooth_ln switch point (MODEL.REPLOSS.SIGMA_BOX, paper default 0: Smooth_ln(x) = x).
        sigma_eps: see :func:`pedet.layers.smooth_ln.smooth_ln`.
        max_boxes: if > 0 and P > max_boxes, a random subset of `max_boxes` positives is used (cost O(max_boxes²);
            MODEL.REPLOSS.REP_BOX_MAX_PER_IMAGE). 0 = all. Applied after the `pairing` draw.
        pairing: "all" or "one_per_gt" (MODEL.REPLOSS.REP_BOX_PAIRING).
    Returns:
        loss_sum: scalar >= 0 (connected to the graph, 0 when there are no pairs).
        num_pairs: scalar int64, the number of counted pairs with IoU > 0 (no gradient).
    """
    if pairing not in REP_BOX_PAIRINGS:
        raise ValueError(f"RepBox pairing must be one of {REP_BOX_PAIRINGS}, got {pairing!r}")
    full_boxes = pred_boxes
    if pairing == "one_per_gt":
        keep = one_positive_per_target(target_index)
        pred_boxes, target_index = pred_boxes[keep], target_index[keep]
    num_pos = pred_boxes.shape[0]
    if max_boxes > 0 and num_pos > max_boxes:
        keep = torch.randperm(num_pos, device=pred_boxes.device)[:max_boxes]
        pred_boxes, target_index, num_pos = pred_boxes[keep], target_index[keep], max_boxes
    with torch.no_grad():
        # Pairs that do not intersect add 0 to the sum, 0 to the count and no gradient, so only the overlapping pairs
        # with different targets go through the differentiable IoU: one cheap P x P test instead of an autograd graph
        # over P x P values (in crowds most pairs are disjoint).
        boxes = Boxes(pred_boxes.detach().float())
        candidates = pairwise_intersection(boxes, boxes) > 0
        candidates &= target_index[:, None] != target_index[None, :]
        candidates = candidates.triu(diagonal=1)  # unordered pairs i < j
        i, j = candidates.nonzero(as_tuple=True)
    overlap = matched_iou_safe(pred_boxes[i], pred_boxes[j])  # (pairs,)
    loss_sum = smooth_ln(overlap, sigma, sigma_eps).sum() + full_boxes.sum() * 0.0  # connected even with no pairs
    num_pairs = (overlap.detach() > 0).sum()
    return loss_sum, num_pairs


def rep_box_loss(
    pred_boxes_per_image: Sequence[Tensor],
    target_index_per_image: Sequence[Tensor],
    sigma: float = 0.0,
    sigma_eps: float = 1e-3,
    max_boxes: int = 0,
    eps: float = 1e-7,
    pairing: str = "all",
) -> Tensor:
    """
    RepBox of Eq. (6) over a batch: the sum of :func:`rep_box_loss_single_image` over the images divided by the total
    number of overlapping pairs + `eps`. Pairs are formed inside each image only, never across images.

    Args:
        pred_boxes_per_image: N tensors (P_n, 4), the regressed boxes of each image's positives.
        target_index_per_image: N tensors (P_n,) int64, each positive's target id in its image.
        sigma, sigma_eps, max_boxes, pairing: as in :func:`rep_box_loss_single_image`.
        eps: the epsilon of Eq. (6)'s denominator.
    Returns:
        scalar >= 0, a mean over overlapping pairs; 0 (connected to the graph) when there are none.
    """
    assert len(pred_boxes_per_image) == len(target_index_per_image) > 0
    loss_sum, num_pairs = 0.0, 0
    for boxes, targets in zip(pred_boxes_per_image, target_index_per_image):
        image_sum, image_pairs = rep_box_loss_single_image(boxes, targets, sigma, sigma_eps, max_boxes, pairing)
        loss_sum, num_pairs = loss_sum + image_sum, num_pairs + image_pairs
    return loss_sum / (num_pairs + eps)
