"""Tests of pedet.layers.box_ops: IoG (Eq. 4 of the RepLoss paper) and the NaN-safe differentiable pairwise IoU."""
import torch
from detectron2.structures import Boxes, pairwise_iou
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pedet.layers.box_ops import box_area, iog, pairwise_iou_safe


def test_iog_divides_by_gt_area_not_union():
    box, gt = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    # intersection 1 x 2 = 2, gt area 4 -> 0.5  (IoU would be 2 / 6)
    assert torch.allclose(iog(box, gt), torch.tensor([0.5]))


def test_iog_is_one_when_box_covers_gt_and_zero_when_disjoint():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 1.0, 1.0]])
    gts = torch.tensor([[2.0, 2.0, 4.0, 6.0], [5.0, 5.0, 6.0, 6.0]])
    # row 0: gt inside the box -> 8 / 8 = 1;  row 1: no overlap -> 0
    assert torch.equal(iog(boxes, gts), torch.tensor([1.0, 0.0]))


def test_iog_zero_area_gt_gives_zero_and_finite_gradient():
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    gt = torch.tensor([[1.0, 0.0, 1.0, 2.0]])  # width 0
    value = iog(box, gt)
    value.sum().backward()
    # intersection 0 x 2 = 0, area clamped to 1e-6 -> 0
    assert value.item() == 0.0 and torch.isfinite(box.grad).all()


def test_box_area_counts_inverted_boxes_as_empty():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 3.0], [2.0, 3.0, 0.0, 0.0]])
    # 2 x 3 = 6;  inverted: both sides negative -> 0 (Boxes.area() would give (-2) x (-3) = 6)
    assert torch.equal(box_area(boxes), torch.tensor([6.0, 0.0]))


def test_pairwise_iou_safe_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    # a0-b0: inter 1 x 2 = 2, union 4 + 4 - 2 = 6 -> 1/3;  a1-b0: x ranges [0,1] and [1,3] touch -> 0
    assert torch.allclose(pairwise_iou_safe(a, b), torch.tensor([[1.0 / 3.0], [0.0]]))


def test_pairwise_iou_safe_equals_detectron2_on_valid_boxes():
    xy = torch.rand(30, 2) * 50
    boxes = torch.cat([xy, xy + 1 + torch.rand(30, 2) * 30], dim=1)
    assert torch.allclose(pairwise_iou_safe(boxes, boxes), pairwise_iou(Boxes(boxes), Boxes(boxes)), atol=1e-6)


def test_pairwise_iou_safe_zero_area_pair_has_finite_gradient_where_detectron2_has_nan():
    # two identical points: inter 0, union 0. detectron2's where(inter > 0, inter / union, 0) back-propagates 0/0.
    boxes = torch.tensor([[5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]], requires_grad=True)
    pairwise_iou(Boxes(boxes), Boxes(boxes)).sum().backward()
    assert torch.isnan(boxes.grad).any()  # the reason pairwise_iou_safe exists
    boxes.grad = None
    value = pairwise_iou_safe(boxes, boxes)
    value.sum().backward()
    assert torch.equal(value, torch.zeros(2, 2)) and torch.isfinite(boxes.grad).all()


# boxes with any corners, including zero-area, inverted, huge and identical ones
coords = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)
box_arrays = st.integers(min_value=1, max_value=12).flatmap(lambda n: arrays("float32", (n, 4), elements=coords))


@settings(max_examples=100, deadline=None)
@given(b1=box_arrays, b2=box_arrays)
def test_box_ops_finite_values_and_gradients_on_arbitrary_boxes(b1, b2):
    b1 = torch.from_numpy(b1).requires_grad_(True)
    b2 = torch.from_numpy(b2).requires_grad_(True)
    iou = pairwise_iou_safe(b1, b2)
    n = min(len(b1), len(b2))
    overlap = iog(b1[:n], b2[:n])
    (iou.sum() + overlap.sum()).backward()
    for t in (iou, overlap, b1.grad, b2.grad):
        assert torch.isfinite(t).all()
    assert ((iou >= 0) & (iou <= 1)).all() and ((overlap >= 0) & (overlap <= 1)).all()
