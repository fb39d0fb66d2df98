"""Tests of MODEL.OPL.REPLOSS_ON (docs/methods.md §2.9, in neither paper): RepGT / RepBox on one-to-one positives."""
import math

import pytest
import torch
from detectron2.utils.events import EventStorage

from .tiny import crowd_boxes, image_batch, instances, tiny_model

REP_KEYS = {"loss_rep_gt", "loss_rep_box"}


def targets(o2o):
    """Hand-made ``label_single_image`` output (no C2F block, no aux)."""
    return {"o2o": torch.tensor(o2o), "c2f": [], "aux": None, "loss_mask": torch.ones(len(o2o), dtype=torch.bool),
            "num_unmatched": 0}


def rep_model():
    # C2F off: losses() then needs only the last block's logits; RepLoss paper defaults alpha = beta = 0.5,
    # sigma_GT = 1 (sigma_eff = 0.999), sigma_Box = 0
    return tiny_model(extra=["MODEL.OPL.C2F_M", [], "MODEL.OPL.REPLOSS_ON", True])


def two_gt_case():
    # G0 = [0,0,4,4] and G1 = [2,0,6,4] (IoU(G0, G1) = 8 / 24 = 1/3 < 0.95: not near-duplicates).
    # Location 0: positive of G0, box B0 = [0,1,4,3]; location 1: positive of G1, box B1 = [3,1,7,3] (no box edge
    # coincides with the edge of its G_Rep, so the IoG gradients have no min/max ties);
    # location 2: a negative whose box [0,0,6,4] overlaps everything (must not count).
    gt = instances(16, 16, [[0.0, 0.0, 4.0, 4.0], [2.0, 0.0, 6.0, 4.0]], [0, 0])
    boxes = torch.tensor([[0.0, 1.0, 4.0, 3.0], [3.0, 1.0, 7.0, 3.0], [0.0, 0.0, 6.0, 4.0]])
    return gt, boxes, [0, 1, -1]


def test_rep_gt_and_rep_box_by_hand():
    model = rep_model()
    gt, boxes, o2o = two_gt_case()
    boxes = boxes[None].clone().requires_grad_(True)
    scores = torch.full((1, 3, 1), 0.5)
    with EventStorage():
        losses = model.losses([torch.zeros(1, 3, 1)], scores, boxes, [gt], [targets(o2o)])
    assert REP_KEYS <= set(losses) and all(losses[k].dtype == torch.float32 for k in REP_KEYS)
    # B0: G_Rep = G1 (IoU(G1, B0) = 4/20 > 0, G0 is its target); IoG(B0, G1) = |[2,1,4,3]| / |G1| = 4/16 = 1/4
    #     -> -ln(1 - 1/4) = ln(4/3)
    # B1: G_Rep = G0 (IoU(G0, B1) = 2/22 > 0);  IoG(B1, G0) = |[3,1,4,3]| / |G0| = 2/16 = 1/8 -> -ln(7/8) = ln(8/7)
    # loss_rep_gt = alpha * (ln(4/3) + ln(8/7)) / N_pos(2) = 0.5 * ln(32/21) / 2 = 0.25 * ln(32/21) = 0.105276
    assert losses["loss_rep_gt"].item() == pytest.approx(0.25 * math.log(32.0 / 21.0), rel=1e-5)
    # RepBox: one pair (B0, B1) of different GTs, IoU = |[3,1,4,3]| / (8 + 8 - 2) = 2/14 = 1/7, sigma 0 -> 1/7;
    # mean over 1 pair; the negative at location 2 forms no pair. loss_rep_box = beta * 1/7 = 1/14
    assert losses["loss_rep_box"].item() == pytest.approx(1.0 / 14.0, rel=1e-5)
    (grad,) = torch.autograd.grad(losses["loss_rep_gt"], boxes)
    # B0 = (x1, y1, x2, y2) = (0, 1, 4, 3): IoG = (x2 - 2)(y2 - y1) / 16, d(-ln(1 - IoG))/dIoG = 1 / (1 - 1/4) = 4/3,
    # times alpha / N_pos = 1/4: d/dx1 = 0, d/dy1 = -(x2 - 2)/16 * 4/3 / 4 = -1/24, d/dx2 = (y2 - y1)/16 * 1/3 = 1/24,
    # d/dy2 = 1/24: gradient descent shrinks B0 away from G1 (right edge left).
    assert grad[0, 0].tolist() == pytest.approx([0.0, -1.0 / 24.0, 1.0 / 24.0, 1.0 / 24.0], abs=1e-6)
    # B1 = (3, 1, 7, 3): IoG = (4 - x1)(y2 - y1) / 16, slope 1 / (1 - 1/8) = 8/7, times 1/4 = 2/7:
    # d/dx1 = -2/16 * 2/7 = -1/28 (the left edge moves right, away from G0), d/dy1 = -1/16 * 2/7 = -1/56,
    # d/dx2 = 0, d/dy2 = 1/56
    assert grad[0, 1].tolist() == pytest.approx([-1.0 / 28.0, -1.0 / 56.0, 0.0, 1.0 / 56.0], abs=1e-6)
    assert grad[0, 2].abs().sum() == 0  # negatives get no repulsion gradient


def test_rep_box_never_pairs_boxes_of_different_images():
    model = rep_model()
    gt0, boxes0, o2o0 = two_gt_case()
    # image 1: one GT (id 0) whose positive has exactly B1's coordinates; B1 of image 0 has target id 1, so a batch-
    # wide pairing would add the pair (B1 img0, B1 img1) with IoU 1 and give the mean (1/7 + 1) / 2.
    gt1 = instances(16, 16, [[0.0, 0.0, 4.0, 4.0]], [0])
    boxes1 = torch.tensor([[3.0, 1.0, 7.0, 3.0], [9.0, 9.0, 10.0, 10.0], [9.0, 9.0, 10.0, 10.0]])
    boxes = torch.stack([boxes0, boxes1])
    with EventStorage():
        losses = model.losses([torch.zeros(2, 3, 1)], torch.full((2, 3, 1), 0.5), boxes, [gt0, gt1],
                              [targets(o2o0), targets([0, -1, -1])])
    # per image: image 0 has the one pair with IoU 1/7, image 1 has one positive (no pair) -> beta * 1/7 = 1/14
    assert losses["loss_rep_box"].item() == pytest.approx(1.0 / 14.0, rel=1e-5)
    # RepGT: image 1's only positive has no other GT -> 0, but it stays in N_pos = 3: 0.5 * ln(32/21) / 3
    assert losses["loss_rep_gt"].item() == pytest.approx(0.5 * math.log(32.0 / 21.0) / 3.0, rel=1e-5)


def test_switch_off_removes_the_keys_and_leaves_the_other_losses_unchanged():
    torch.manual_seed(0)
    model_on = tiny_model(extra=["MODEL.OPL.REPLOSS_ON", True])
    model_off = tiny_model()
    model_off.load_state_dict(model_on.state_dict())
    crowd = crowd_boxes(12, 64, 96, seed=3, min_size=8.0, max_size=40.0)
    batch = image_batch([([[10, 10, 40, 60], [30, 5, 70, 60]], [0, 0]), (crowd, [0] * 12)])
    losses = {}
    for name, model in (("on", model_on), ("off", model_off)):
        model.train()
        with EventStorage():
            losses[name] = model(batch)
    assert set(losses["on"]) == set(losses["off"]) | REP_KEYS and not REP_KEYS & set(losses["off"])
    for key, value in losses["off"].items():
        assert torch.equal(value, losses["on"][key]), key  # exactly equal, not approximately
    assert losses["on"]["loss_rep_gt"].item() > 0 and losses["on"]["loss_rep_box"].item() >= 0
    sum(losses["on"].values()).backward()
    grads = [p.grad for p in model_on.head.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_one_gt_gives_zero_connected_terms_and_ignore_boxes_are_never_targets():
    torch.manual_seed(0)
    model = tiny_model(extra=["MODEL.OPL.REPLOSS_ON", True])
    model.train()
    whole_image = [0, 0, 96, 64]  # overlaps every predicted box with an area
    specs = [([[10, 10, 40, 60], whole_image], [0, -1]), (torch.zeros(0, 4), [])]
    torch.manual_seed(1)
    batch = image_batch(specs)
    with EventStorage():
        losses = model(batch)
    # one valid GT, and the ignore box is no candidate for G_Rep: nothing to repel from, no pair of different GTs
    assert losses["loss_rep_gt"].item() == 0.0 and losses["loss_rep_box"].item() == 0.0
    (losses["loss_rep_gt"] + losses["loss_rep_box"]).backward()
    assert model.head.bbox_pred.weight.grad is not None  # the zeros stay connected to the graph (DDP)
    # control: the same box as a valid person does become a repulsion GT, so the zero above is not vacuous
    batch[0]["instances"].gt_classes = torch.tensor([0, 0])
    with EventStorage():
        assert model(batch)["loss_rep_gt"].item() > 0
