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


# every positive in the repulsion set P+, whatever its IoU with its target: the formula tests below use hand-made
# boxes that do not all localise their targets, and a random head's boxes never do
EVERY_POSITIVE = ["MODEL.OPL.REP_POS_IOU", 0.0]


def rep_model(pos_iou=0.0):
    # C2F off: losses() then needs only the last block's logits; RepLoss paper defaults alpha = beta = 0.5,
    # sigma_GT = 1 (sigma_eff = 0.999), sigma_Box = 0
    return tiny_model(extra=["MODEL.OPL.C2F_M", [], "MODEL.OPL.REPLOSS_ON", True, "MODEL.OPL.REP_POS_IOU", pos_iou])


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
    with EventStorage():
        losses = model.losses([torch.zeros(1, 3, 1)], None, boxes, [gt], [targets(o2o)])
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


def test_repulsion_uses_only_positives_that_localise_their_target():
    model = rep_model(pos_iou=0.5)  # the default MODEL.OPL.REP_POS_IOU
    gt, boxes, o2o = two_gt_case()
    boxes = boxes[None].clone().requires_grad_(True)
    with EventStorage() as storage:
        losses = model.losses([torch.zeros(1, 3, 1)], torch.full((1, 3, 1), 0.5), boxes, [gt], [targets(o2o)])
        num_pos_rep = storage.latest()["opl/num_pos_rep"][0]
    # B0 = [0,1,4,3] vs its target G0 = [0,0,4,4]: IoU = 8 / 16 = 0.5 >= 0.5, in P+ (ties count, as in Matcher);
    # B1 = [3,1,7,3] vs G1 = [2,0,6,4]: intersection [3,1,6,3] = 6, IoU = 6 / (8 + 16 - 6) = 1/3 < 0.5, left out
    assert num_pos_rep == 1
    # RepGT: B0 alone, ln(4/3) as in the test above, still divided by both positives: 0.5 * ln(4/3) / 2
    assert losses["loss_rep_gt"].item() == pytest.approx(0.25 * math.log(4.0 / 3.0), rel=1e-5)
    # RepBox: one box in P+, no pair -> 0
    assert losses["loss_rep_box"].item() == 0.0
    (grad,) = torch.autograd.grad(losses["loss_rep_gt"] + losses["loss_rep_box"], boxes)
    assert grad[0, 0].abs().sum() > 0 and grad[0, 1:].abs().sum() == 0  # B1 is left to L_reg alone


def test_repulsion_does_not_shrink_boxes_that_do_not_localise_their_target():
    # The mechanism of the collapse (projects/OPL/README.md, "Why only localising positives"): a random head predicts
    # boxes of a few pixels, the IoU of two such boxes has gradients ~ 1 / box size, and RepBox shrinks them until the
    # ReLU of the ltrb decoding passes no gradient. G0 = [0,0,20,40] and G1 = [10,0,30,40] (area 800 each); their
    # positives B0 = [11,19,13,21] (target G0) and B1 = [12,19,14,21] (target G1): 2 x 2 boxes inside both GTs.
    gt = instances(64, 64, [[0.0, 0.0, 20.0, 40.0], [10.0, 0.0, 30.0, 40.0]], [0, 0])
    boxes = torch.tensor([[[11.0, 19.0, 13.0, 21.0], [12.0, 19.0, 14.0, 21.0]]], requires_grad=True)

    def total_loss_grad(pos_iou):
        with EventStorage():
            losses = rep_model(pos_iou).losses([torch.zeros(1, 2, 1)], torch.full((1, 2, 1), 0.5), boxes, [gt],
                                               [targets([0, 1])])
        total = losses["loss_reg"] + losses["loss_rep_gt"] + losses["loss_rep_box"]
        return torch.autograd.grad(total, boxes)[0][0]

    # default: IoU(B, its target) = 4 / 800 < 0.5, no box in P+; L_reg alone moves every edge outwards
    # (d loss / d (x1, y1, x2, y2) of signs +, +, -, -; e.g. d(1 - GIoU)/d x2 of B0 = -h / |G0| = -2/800)
    outward = torch.tensor([1.0, 1.0, -1.0, -1.0])
    assert (total_loss_grad(0.5) * outward > 0).all()
    # every positive in P+ (the first version): RepBox = beta * IoU(B0, B1), dIoU/dx2 of B0 = 2 / 6 (the intersection
    # grows by 2 per pixel, the union by 0) -> 0.5 * 1/3 = 1/6; RepGT (G_Rep = G1, IoG = 4/800) adds
    # alpha / N_pos * (2/800) / (1 - 4/800) = 0.25 * 0.0025 / 0.995; L_reg -0.0025: B0's right edge is pushed inwards
    expected = 1.0 / 6.0 + 0.25 * 0.0025 / 0.995 - 0.0025
    assert total_loss_grad(0.0)[0, 2].item() == pytest.approx(expected, rel=1e-4)


def test_rep_box_never_pairs_boxes_of_different_images():
    model = rep_model()
    gt0, boxes0, o2o0 = two_gt_case()
    # image 1: one GT (id 0) whose positive has exactly B1's coordinates; B1 of image 0 has target id 1, so a batch-
    # wide pairing would add the pair (B1 img0, B1 img1) with IoU 1 and give the mean (1/7 + 1) / 2.
    gt1 = instances(16, 16, [[0.0, 0.0, 4.0, 4.0]], [0])
    boxes1 = torch.tensor([[3.0, 1.0, 7.0, 3.0], [9.0, 9.0, 10.0, 10.0], [9.0, 9.0, 10.0, 10.0]])
    boxes = torch.stack([boxes0, boxes1])
    with EventStorage():
        losses = model.losses([torch.zeros(2, 3, 1)], None, boxes, [gt0, gt1],
                              [targets(o2o0), targets([0, -1, -1])])
    # per image: image 0 has the one pair with IoU 1/7, image 1 has one positive (no pair) -> beta * 1/7 = 1/14
    assert losses["loss_rep_box"].item() == pytest.approx(1.0 / 14.0, rel=1e-5)
    # RepGT: image 1's only positive has no other GT -> 0, but it stays in N_pos = 3: 0.5 * ln(32/21) / 3
    assert losses["loss_rep_gt"].item() == pytest.approx(0.5 * math.log(32.0 / 21.0) / 3.0, rel=1e-5)


def test_switch_off_removes_the_keys_and_leaves_the_other_losses_unchanged():
    torch.manual_seed(0)
    model_on = tiny_model(extra=["MODEL.OPL.REPLOSS_ON", True] + EVERY_POSITIVE)
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
    model = tiny_model(extra=["MODEL.OPL.REPLOSS_ON", True] + EVERY_POSITIVE)
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


def test_training_with_repulsion_keeps_the_box_regression_learning():
    # 30 SGD steps (lr 0.01, momentum 0.9) of the tiny model on one batch of two 64 x 96 images with the same 12
    # crowded persons. The regression starts from point-like boxes (loss_reg = 2 x GIoU loss of about 1 = 1.99) and
    # must learn as plain OPL does. Measured at step 30 (seeds 0 / 1 of this set-up): plain OPL 0.88 / 0.61, the
    # default P+ 0.99 / 0.82, every positive in P+ (REP_POS_IOU 0, the version that collapsed) 1.72 / 1.86.
    torch.manual_seed(0)
    model = tiny_model(extra=["MODEL.OPL.C2F_M", [], "MODEL.OPL.REPLOSS_ON", True])
    model.train()
    crowd = crowd_boxes(12, 64, 96, seed=3, min_size=12.0, max_size=40.0)
    torch.manual_seed(1)
    batch = image_batch([(crowd, [0] * 12)] * 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(31):
        with EventStorage():
            losses = model(batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    assert losses["loss_reg"].item() < 1.3
    # not by switching the repulsion off: by then some positives localise their targets and are repelled
    assert losses["loss_rep_gt"].item() > 0 and losses["loss_rep_box"].item() > 0
    assert model.head.bbox_pred.weight.grad.abs().sum() > 0  # the regression still gets a gradient
