"""
Tests of pedet.layers.repulsion: the choice of G_Rep (Eq. 3), RepGT (Eq. 4) and RepBox (Eq. 6) of the RepLoss paper,
on 2-4 box toy cases with hand arithmetic, plus gradient direction, per-image pairing and degenerate-box safety.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pedet.layers.box_ops import iog
from pedet.layers.repulsion import rep_box_loss, rep_box_loss_single_image, rep_gt_loss, select_repulsion_gt


def T(*rows):
    return torch.tensor(rows, dtype=torch.float32)


# ----- select_repulsion_gt (Eq. 3) -----

def test_select_repulsion_gt_takes_highest_iou_other_gt_measured_from_reference_box():
    gts = T([0, 0, 4, 8], [2, 0, 6, 8], [3, 0, 7, 8])
    ref = T([1, 0, 5, 8])  # proposal of a positive whose target is GT 0
    # IoU(ref, GT1): inter 3x8 = 24, union 32 + 32 - 24 = 40 -> 0.6;  IoU(ref, GT2): inter 2x8 = 16 -> 16/48 = 1/3
    # IoU(ref, GT0) = 24/40 = 0.6 as well but GT 0 is the target, so G_Rep = GT 1
    rep, valid = select_repulsion_gt(ref, gts, torch.tensor([0]))
    assert torch.equal(rep, gts[1:2]) and valid.tolist() == [True]


def test_select_repulsion_gt_single_gt_image_has_no_repulsion_gt():
    rep, valid = select_repulsion_gt(T([0, 0, 4, 8]), T([0, 0, 4, 8]), torch.tensor([0]))
    assert valid.tolist() == [False]


def test_select_repulsion_gt_without_overlapping_other_gt_is_invalid():
    gts = T([0, 0, 4, 8], [100, 0, 104, 8])
    # the only other GT does not touch the proposal: IoU 0, so there is nothing to repel from
    _, valid = select_repulsion_gt(T([0, 0, 4, 8]), gts, torch.tensor([0]))
    assert valid.tolist() == [False]


def test_select_repulsion_gt_skips_near_duplicate_of_the_target():
    gts = T([0, 0, 10, 10], [0, 0, 10, 10.2], [6, 0, 16, 10])
    ref = T([1, 0, 11, 10])
    # IoU(GT0, GT1) = 100 / 102 = 0.98 >= 0.95: GT1 (IoU with ref 90/112 = 0.80) is a duplicate of the target -> invalid
    _, valid = select_repulsion_gt(ref, gts, torch.tensor([0]), dup_iou=0.95)
    assert valid.tolist() == [False]
    # with dup_iou 0.99 GT1 is accepted
    rep, valid = select_repulsion_gt(ref, gts, torch.tensor([0]), dup_iou=0.99)
    assert valid.tolist() == [True] and torch.equal(rep, gts[1:2])


def test_select_repulsion_gt_uses_extra_boxes_only_when_given():
    gts = T([0, 0, 4, 8], [20, 0, 24, 8])
    ignore = T([2, 0, 6, 8])
    ref = T([0, 0, 4, 8])
    # without ignore boxes: GT 1 does not overlap -> invalid; with them: IoU(ref, ignore) = 16/48 > 0 -> G_Rep = ignore
    assert select_repulsion_gt(ref, gts, torch.tensor([0]))[1].tolist() == [False]
    rep, valid = select_repulsion_gt(ref, gts, torch.tensor([0]), extra_boxes=ignore)
    assert valid.tolist() == [True] and torch.equal(rep, ignore)


# ----- rep_gt_loss (Eq. 4) -----

def test_rep_gt_loss_hand_value_sigma_one_and_zero():
    pred = T([0, 0, 2, 2], [0, 0, 2, 2])
    rep = T([1, 0, 3, 2], [1, 0, 3, 2])
    valid = torch.tensor([True, False])
    # IoG = (1 x 2) / 4 = 0.5 for the valid row only; sigma 1: -ln(1 - 0.5) = ln 2; sigma 0: 0.5
    assert torch.allclose(rep_gt_loss(pred, rep, valid, sigma=1.0), torch.tensor(math.log(2.0)))
    assert torch.allclose(rep_gt_loss(pred, rep, valid, sigma=0.0), torch.tensor(0.5))


def test_rep_gt_loss_empty_is_zero_and_connected():
    pred = torch.zeros(0, 4, requires_grad=True)
    loss = rep_gt_loss(pred, torch.zeros(0, 4), torch.zeros(0, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_rep_gt_gradient_moves_box_away_from_repulsion_gt():
    pred = T([0, 0, 2, 2]).requires_grad_(True)
    rep = T([1, 0, 3, 2])
    rep_gt_loss(pred, rep, torch.tensor([True])).backward()
    # d(IoG)/d(x2) > 0 (growing the box to the right increases the overlap), so descent moves x2 left
    assert pred.grad[0, 2] > 0
    with torch.no_grad():
        moved = pred - 0.1 * pred.grad
    assert iog(moved, rep) < iog(pred.detach(), rep)  # 0.5 before the step


def test_rep_gt_loss_finite_when_box_covers_repulsion_gt_with_sigma_one():
    pred = T([0, 0, 10, 10]).requires_grad_(True)
    rep = T([2, 2, 4, 4])  # IoG = 1: -ln(1 - 1) would be inf
    loss = rep_gt_loss(pred, rep, torch.tensor([True]), sigma=1.0, sigma_eps=1e-3)
    loss.backward()
    # sigma_eff = 0.999: ln 1000 + (1 - 0.999) / 0.001 = ln 1000 + 1
    assert loss.item() == pytest.approx(math.log(1000.0) + 1.0, rel=1e-4)
    assert torch.isfinite(pred.grad).all()


# ----- rep_box_loss (Eq. 6) -----

def test_rep_box_loss_single_image_hand_value_counts_only_pairs_with_different_targets():
    pred = T([0, 0, 2, 2], [0, 0, 2, 2], [1, 0, 3, 2])
    targets = torch.tensor([0, 0, 1])
    # pair (0,1): same target -> not counted (its IoU 1 would dominate); pairs (0,2), (1,2): IoU 2 / 6 = 1/3 each
    loss_sum, num_pairs = rep_box_loss_single_image(pred, targets, sigma=0.0)
    assert torch.allclose(loss_sum, torch.tensor(2.0 / 3.0)) and num_pairs.item() == 2
    # mean over overlapping pairs: (2/3) / 2 = 1/3; with sigma 0.5: IoU 1/3 <= 0.5 -> -ln(2/3) per pair
    assert torch.allclose(rep_box_loss([pred], [targets], sigma=0.0), torch.tensor(1.0 / 3.0))
    assert torch.allclose(rep_box_loss([pred], [targets], sigma=0.5), torch.tensor(-math.log(2.0 / 3.0)))


def test_rep_box_loss_non_overlapping_pairs_add_nothing_to_either_sum():
    pred = T([0, 0, 2, 2], [1, 0, 3, 2], [50, 50, 52, 52])
    # pairs (0,1): 1/3;  (0,2), (1,2): IoU 0, not counted in the denominator -> mean 1/3
    assert torch.allclose(rep_box_loss([pred], [torch.tensor([0, 1, 2])]), torch.tensor(1.0 / 3.0))


def test_rep_box_loss_never_pairs_boxes_of_different_images():
    a, b = T([0, 0, 2, 2]), T([1, 0, 3, 2])
    # as one image: one pair with IoU 1/3; as two images (one box each, per-image target ids both 0): no pairs -> 0
    assert torch.allclose(rep_box_loss([torch.cat([a, b])], [torch.tensor([0, 1])]), torch.tensor(1.0 / 3.0))
    assert rep_box_loss([a, b], [torch.tensor([0]), torch.tensor([1])]).item() == 0.0
    # mixed batch: image 0 holds the pair, image 1 a box identical to one of them (IoU 1 if paired): still 1/3
    loss = rep_box_loss([torch.cat([a, b]), a.clone()], [torch.tensor([0, 1]), torch.tensor([5])])
    assert torch.allclose(loss, torch.tensor(1.0 / 3.0))


def test_rep_box_gradient_pushes_boxes_of_different_targets_apart():
    pred = T([0, 0, 2, 2], [1, 0, 3, 2]).requires_grad_(True)
    rep_box_loss([pred], [torch.tensor([0, 1])]).backward()
    with torch.no_grad():
        moved = pred - 0.1 * pred.grad
    # the left box's right edge moves left, the right box's left edge moves right
    assert pred.grad[0, 2] > 0 and pred.grad[1, 0] < 0
    assert moved[0, 2] < 2 and moved[1, 0] > 1


def test_rep_box_loss_empty_is_zero_and_connected():
    pred = torch.zeros(0, 4, requires_grad=True)
    loss = rep_box_loss([pred], [torch.zeros(0, dtype=torch.long)])
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_rep_box_loss_max_boxes_caps_the_pairs():
    pred = torch.tensor([[float(i), 0.0, i + 10.0, 10.0] for i in range(8)])  # all overlap each other
    targets = torch.arange(8)
    # all: 8 * 7 / 2 = 28 pairs;  capped at 3 boxes: 3 * 2 / 2 = 3 pairs
    assert rep_box_loss_single_image(pred, targets)[1].item() == 28
    assert rep_box_loss_single_image(pred, targets, max_boxes=3)[1].item() == 3


# ----- degenerate boxes -----

def _random_boxes(n, generator):
    """n boxes of which about a third are zero-area, inverted or huge."""
    xy = torch.rand(n, 2, generator=generator) * 200 - 50
    wh = torch.rand(n, 2, generator=generator) * 80
    kind = torch.randint(0, 6, (n,), generator=generator)
    wh[kind == 0] = 0.0  # points
    wh[kind == 1, 0] = 0.0  # zero width
    wh[kind == 2] *= -1.0  # inverted
    wh[kind == 3] *= 1e3  # huge
    return torch.cat([xy, xy + wh], dim=1)


def test_repulsion_terms_finite_on_thousands_of_random_degenerate_boxes():
    g = torch.Generator().manual_seed(0)
    n = 4000
    pred = _random_boxes(n, g).requires_grad_(True)
    rep = _random_boxes(n, g)
    valid = torch.rand(n, generator=g) > 0.2
    per_image = 200  # 20 images of 200 positives, 40 targets each
    targets = torch.randint(0, 40, (n,), generator=g)
    for sigma_gt, sigma_box in [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]:
        pred.grad = None
        loss = rep_gt_loss(pred, rep, valid, sigma_gt) + rep_box_loss(
            pred.split(per_image), targets.split(per_image), sigma_box
        )
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


coords = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=32)


@settings(max_examples=100, deadline=None)
@given(
    boxes=st.integers(min_value=1, max_value=16).flatmap(lambda n: arrays("float32", (n, 8), elements=coords)),
    sigma=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_repulsion_terms_finite_property(boxes, sigma):
    pred = torch.from_numpy(np.ascontiguousarray(boxes[:, :4])).requires_grad_(True)
    rep = torch.from_numpy(np.ascontiguousarray(boxes[:, 4:]))
    targets = torch.arange(len(pred)) % 3
    loss = rep_gt_loss(pred, rep, torch.ones(len(pred), dtype=torch.bool), sigma) + rep_box_loss(
        [pred], [targets], sigma
    )
    loss.backward()
    assert torch.isfinite(loss) and loss >= 0 and torch.isfinite(pred.grad).all()
