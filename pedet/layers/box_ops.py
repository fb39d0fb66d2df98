"""
Box overlap helpers for the repulsion terms of "Repulsion Loss: Detecting Pedestrians in a Crowd" (Wang et al., CVPR
2018): IoG of Eq. (4) and a differentiable, NaN-safe pairwise IoU for RepBox (Eq. 6).

Shape shorthand:  N, M = numbers of boxes.  All boxes are XYXY_ABS tensors, as in detectron2.structures.Boxes.

Why not only detectron2.structures: `pairwise_intersection` is reused below, but detectron2's `pairwise_iou` and
`pairwise_ioa` compute `torch.where(inter > 0, inter / union, 0)`. When a union is 0 (two zero-area boxes) the
unselected branch is 0/0 and its gradient is NaN, which torch.where still back-propagates (pytorch/pytorch#23395), and
`matched_pairwise_iou` divides by the union with no guard at all. The RepLoss terms differentiate through predicted
boxes, so these helpers clamp every denominator (docs/methods.md §2.6, CHOICE B5). For overlaps used without gradients
(matching, sampling) use detectron2's functions.
"""
import torch
from detectron2.structures import Boxes
from detectron2.structures.boxes import pairwise_intersection
from torch import Tensor

__all__ = ["box_area", "iog", "matched_iou_safe", "pairwise_iou_safe"]


def box_area(boxes: Tensor) -> Tensor:
    """
    Area of XYXY boxes with negative widths/heights counted as 0 (an inverted box has no area, not a positive one
    from the product of two negative sides, which `Boxes.area()` would give).

    Args:
        boxes: (N, 4) XYXY_ABS.
    Returns:
        (N,) areas >= 0.
    """
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
    return wh[:, 0] * wh[:, 1]


def _matched_intersection(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Area of (row i of boxes1) ∩ (row i of boxes2); (N, 4) XYXY_ABS each -> (N,), 0 where they do not overlap."""
    lt = torch.max(boxes1[:, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    return wh[:, 0] * wh[:, 1]


def iog(boxes: Tensor, gt_boxes: Tensor, eps: float = 1e-6) -> Tensor:
    """
    Intersection over ground truth of Eq. (4) of the RepLoss paper, element-wise:
    IoG(B, G) = area(B ∩ G) / area(G).

    Args:
        boxes: (N, 4) XYXY_ABS predicted boxes B (may require grad).
        gt_boxes: (N, 4) XYXY_ABS ground-truth boxes G, row i paired with row i of `boxes`.
        eps: lower bound on area(G) in px² (a GT clipped to the image border can become very thin).
    Returns:
        (N,) float32 IoG values in [0, 1]; finite, with finite gradients, for zero-area or inverted boxes.
    """
    boxes, gt_boxes = boxes.float(), gt_boxes.float()  # fp32 also under AMP
    inter = _matched_intersection(boxes, gt_boxes)
    # inter <= area(G) for valid boxes; the clamp only absorbs float rounding and the eps floor
    return (inter / box_area(gt_boxes).clamp(min=eps)).clamp(min=0.0, max=1.0)


def matched_iou_safe(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """
    IoU of row i of `boxes1` with row i of `boxes2` (detectron2's `matched_pairwise_iou`, with the union clamped).

    Args:
        boxes1: (N, 4) XYXY_ABS.
        boxes2: (N, 4) XYXY_ABS.
        eps: lower bound on the union in px².
    Returns:
        (N,) float32 IoU values in [0, 1]; finite, with finite gradients, for zero-area or inverted boxes.
    """
    boxes1, boxes2 = boxes1.float(), boxes2.float()  # fp32 also under AMP
    inter = _matched_intersection(boxes1, boxes2)
    union = box_area(boxes1) + box_area(boxes2) - inter
    return (inter / union.clamp(min=eps)).clamp(min=0.0, max=1.0)


def pairwise_iou_safe(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """
    IoU between all N x M pairs, differentiable in both arguments and NaN-free (denominator clamped, no torch.where).

    Args:
        boxes1: (N, 4) XYXY_ABS.
        boxes2: (M, 4) XYXY_ABS.
        eps: lower bound on the union in px².
    Returns:
        (N, M) float32 IoU values in [0, 1]; 0 where a box has zero area.
    """
    boxes1, boxes2 = boxes1.float(), boxes2.float()  # fp32 also under AMP (Boxes() would cast anyway)
    inter = pairwise_intersection(Boxes(boxes1), Boxes(boxes2))
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return (inter / union.clamp(min=eps)).clamp(min=0.0, max=1.0)
