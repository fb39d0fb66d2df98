"""
RepBox pairings (Eq. 6, MODEL.REPLOSS.REP_BOX_PAIRING): "all" pairs of positives with different targets, or the pairs
of "one_per_gt" positive drawn at random per target. Hand-computed on three positives of two targets.
"""
import pytest
import torch

from pedet.layers.repulsion import one_positive_per_target, rep_box_loss, rep_box_loss_single_image

# positives 0 and 1 regress to target 0, positive 2 to target 1 (sigma 0: Smooth_ln(x) = x)
BOXES = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 4.0], [1.0, 0.0, 3.0, 2.0]])
TARGETS = torch.tensor([0, 0, 1])
IOU_02 = 2.0 / (4.0 + 4.0 - 2.0)  # intersection [1, 2] x [0, 2] = 2 -> 1/3
IOU_12 = 2.0 / (8.0 + 4.0 - 2.0)  # 2 / 10 = 0.2


def test_all_pairs_sums_over_every_pair_with_different_targets():
    loss_sum, num_pairs = rep_box_loss_single_image(BOXES, TARGETS, sigma=0.0, pairing="all")
    # pairs (0, 2) and (1, 2); (0, 1) share a target
    assert num_pairs == 2 and loss_sum.item() == pytest.approx(IOU_02 + IOU_12)


def test_one_per_gt_keeps_one_random_positive_per_target():
    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        loss_sum, num_pairs = rep_box_loss_single_image(BOXES, TARGETS, sigma=0.0, pairing="one_per_gt")
        # positive 2 (the only one of target 1) with positive 0 or positive 1: one pair, IoU 1/3 or 0.2
        assert num_pairs == 1
        seen.add(round(loss_sum.item(), 6))
    assert seen == {round(IOU_02, 6), round(IOU_12, 6)}  # both draws happen over 20 seeds (each has p = 1/2)


def test_one_per_gt_batch_loss_is_the_mean_over_the_drawn_pairs():
    torch.manual_seed(0)
    boxes = BOXES.clone().requires_grad_(True)
    loss = rep_box_loss([boxes], [TARGETS], sigma=0.0, pairing="one_per_gt")
    assert loss.item() == pytest.approx(IOU_02, rel=1e-5) or loss.item() == pytest.approx(IOU_12, rel=1e-5)
    loss.backward()
    assert boxes.grad is not None and boxes.grad[2].abs().sum() > 0  # target 1's positive is always pushed


def test_one_positive_per_target_draws_each_target_once():
    targets = torch.tensor([3, 1, 3, 3, 7, 1])
    torch.manual_seed(1)
    keep = one_positive_per_target(targets)
    assert sorted(targets[keep].tolist()) == [1, 3, 7]
    assert one_positive_per_target(torch.zeros(0, dtype=torch.long)).numel() == 0


def test_one_per_gt_empty_and_single_target_images_are_zero_and_connected():
    boxes = BOXES[:2].clone().requires_grad_(True)  # both positives of target 0: no pair in either reading
    loss_sum, num_pairs = rep_box_loss_single_image(boxes, TARGETS[:2], pairing="one_per_gt")
    assert loss_sum.item() == 0.0 and num_pairs == 0
    loss_sum.backward()
    assert boxes.grad is not None


def test_unknown_pairing_is_an_error():
    with pytest.raises(ValueError, match="pairing"):
        rep_box_loss_single_image(BOXES, TARGETS, pairing="random")
