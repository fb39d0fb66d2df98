"""Tests of opl.meta_arch.OPL: Eq. (1)-(5) by hand, training/inference on tiny inputs, bad input, no NMS."""
import importlib
import math

import numpy as np
import pytest
import torch
import torchvision
from detectron2.structures import Boxes
from detectron2.utils.events import EventStorage

import opl.meta_arch as meta_arch
from opl.meta_arch import centerness_scores, centerness_targets, final_scores, flatten_levels, split_ignore

from .tiny import crowd_boxes, image_batch, instances, tiny_model

LN2 = math.log(2.0)


def test_eq1_box_decode_ltrb_times_stride():
    model = tiny_model()
    anchors = torch.tensor([[0.0, 0.0, 8.0, 8.0]])  # location (4, 4), stride 8
    # ltrb = relu([1, 0.5, 2, -3]) * 8 = [8, 4, 16, 0] -> (4 - 8, 4 - 4, 4 + 16, 4 + 0)
    boxes = model.decode_boxes(torch.tensor([[[1.0, 0.5, 2.0, -3.0]]]), anchors)
    assert boxes.tolist() == [[[-4.0, 0.0, 20.0, 4.0]]]


def test_eq2_score_is_product_of_sigmoids():
    # sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5 -> 0.375; no gate -> sigmoid only (FCOS without centre-ness)
    s = final_scores(torch.tensor([[math.log(3.0)]]), torch.tensor([[0.0]]))
    assert s.item() == pytest.approx(0.375)
    assert final_scores(torch.tensor([[math.log(3.0)]]), None).item() == pytest.approx(0.75)


def test_fcos_centerness_targets_by_hand_and_as_detectron2():
    # location (5, 5) in box (0, 0, 10, 20): l = r = 5, t = 5, b = 15 -> sqrt(1 * 5 / 15) = sqrt(1 / 3)
    # location (2, 18) in the same box: l 2, r 8, t 18, b 2 -> sqrt(2/8 * 2/18) = sqrt(1 / 36) = 1 / 6
    centers = torch.tensor([[5.0, 5.0], [2.0, 18.0], [5.0, 10.0]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0]]).expand(3, 4)
    got = centerness_targets(centers, boxes)
    assert got.tolist() == pytest.approx([math.sqrt(1 / 3), 1 / 6, 1.0])
    from types import SimpleNamespace

    from detectron2.modeling.box_regression import Box2BoxTransformLinear
    from detectron2.modeling.meta_arch.fcos import FCOS

    anchors = torch.cat([centers - 4.0, centers + 4.0], dim=1)  # stride-8 squares at the locations
    fcos = SimpleNamespace(box2box_transform=Box2BoxTransformLinear(normalize_by_size=True))
    try:  # Detectron2 main takes the GT boxes as tensors
        d2 = FCOS.compute_ctrness_targets(fcos, [Boxes(anchors)], [boxes])
    except AttributeError:  # v0.6 takes them as Boxes (it reads m.tensor)
        d2 = FCOS.compute_ctrness_targets(fcos, [Boxes(anchors)], [Boxes(boxes)])
    torch.testing.assert_close(got, d2[0])


def test_fcos_centerness_test_score_is_the_root_of_the_product():
    # S = 0.25, sigmoid(0) = 0.5 -> sqrt(0.125); without the branch S itself
    assert centerness_scores(torch.tensor([[0.25]]), torch.tensor([[0.0]])).item() == pytest.approx(math.sqrt(0.125))
    assert centerness_scores(torch.tensor([[0.25]]), None).item() == 0.25


def test_fcos_centerness_loss_by_hand():
    model = tiny_model("ablations/fcos_nms_baseline.yaml", extra=["MODEL.OPL.CENTERNESS", True])
    gt = [instances(32, 32, [[0.0, 0.0, 10.0, 20.0]], [0])]
    logits = [torch.zeros(1, 2, 1, requires_grad=True)]
    boxes = torch.tensor([[[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 6.0, 6.0]]], requires_grad=True)
    ctr = torch.zeros(1, 2, 1, requires_grad=True)  # sigmoid = 0.5
    centers = torch.tensor([[5.0, 5.0], [20.0, 20.0]])
    with EventStorage():
        losses = model.losses(logits, None, boxes, gt, hand_targets([0, -1], []), ctr, centers)
    # one positive, target t = sqrt(1/3): BCE at p = 0.5 is ln 2 whatever t; / N_pos 1
    assert losses["loss_ctr"].item() == pytest.approx(LN2, rel=1e-5)
    losses["loss_ctr"].backward()
    # d BCE / d logit = p - t at the positive, 0 at the negative
    assert ctr.grad[0, :, 0].tolist() == pytest.approx([0.5 - math.sqrt(1 / 3), 0.0], abs=1e-6)


def test_fcos_centerness_trains_and_scales_the_test_scores():
    model = tiny_model("ablations/fcos_nms_baseline.yaml",
                       extra=["MODEL.OPL.CENTERNESS", True, "MODEL.OPL.SCORE_THRESH_TEST", 0.0])
    model.train()
    with EventStorage():
        losses = model(image_batch([([[10, 10, 40, 60], [30, 5, 70, 60]], [0, 0])]))
    assert "loss_ctr" in losses and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    batch = image_batch([([[10, 10, 40, 60]], [0])])
    with torch.no_grad():
        torch.nn.init.constant_(model.head.ctrness.bias, -2.0)  # sigmoid(-2) = 0.119 at every location
        torch.nn.init.zeros_(model.head.ctrness.weight)
        with_ctr = model(batch)[0]["instances"]
        model.head.ctrness = None  # the same model scored by S alone
        plain = model(batch)[0]["instances"]
    assert len(with_ctr) == len(plain) > 0  # a monotonic rescaling: NMS keeps the same boxes
    torch.testing.assert_close(with_ctr.scores, torch.sqrt(plain.scores * torch.sigmoid(torch.tensor(-2.0))))
    torch.testing.assert_close(with_ctr.pred_boxes.tensor, plain.pred_boxes.tensor)


def test_flatten_levels_matches_anchor_order():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)  # row-major (y, x), as DefaultAnchorGenerator
    assert flatten_levels([x], 1).flatten().tolist() == [0, 1, 2, 3, 4, 5]


def test_split_ignore():
    valid, ign = split_ignore([instances(10, 10, [[0, 0, 5, 5], [1, 1, 4, 4]], [0, -1])])
    assert len(valid[0]) == 1 and len(ign[0]) == 1 and ign[0].gt_classes.item() == -1


def hand_targets(o2o, c2f):
    return [{"o2o": torch.tensor(o2o), "c2f": [torch.tensor(c) for c in c2f], "aux": None,
             "loss_mask": torch.ones(len(o2o), dtype=torch.bool), "num_unmatched": 0}]


def test_eq3_to_eq5_losses_by_hand():
    model = tiny_model(extra=["MODEL.OPL.C2F_M", [16, 4]])
    gt = [instances(16, 16, [[0.0, 0.0, 4.0, 2.0]], [0])]
    gate = torch.full((1, 2, 1), 30.0, requires_grad=True)  # sigmoid(30) = 1 - 9e-14: S = S_cls at 2 locations
    logits = [torch.zeros(1, 2, 1, requires_grad=True) for _ in range(2)]  # sigmoid = 0.5
    boxes = torch.tensor([[[0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]]], requires_grad=True)
    with EventStorage():
        losses = model.losses(logits, gate, boxes, gt, hand_targets([0, -1], [[0, 0], [-1, 0]]))
    # focal at p = 0.5: positive 0.25 * 0.5^2 * ln2 = 0.0625 ln2, negative 0.75 * 0.5^2 * ln2 = 0.1875 ln2
    # L_cls = (0.0625 + 0.1875) ln2 / N_pos(1) = 0.25 ln2
    assert losses["loss_cls_o2o"].item() == pytest.approx(0.25 * LN2, rel=1e-5)
    # L_reg: box [0,0,2,2] vs GT [0,0,4,2]: IoU = 4 / 8 = 0.5, enclosing box = GT -> GIoU 0.5, loss 0.5, x weight 2
    assert losses["loss_reg"].item() == pytest.approx(1.0, rel=1e-5)
    # Eq. (4), block 0: two positives -> 2 * 0.0625 ln2 / 2; block 1: one positive, one negative -> 0.25 ln2 / 1
    assert losses["loss_c2f_0"].item() == pytest.approx(0.0625 * LN2, rel=1e-5)
    assert losses["loss_c2f_1"].item() == pytest.approx(0.25 * LN2, rel=1e-5)
    # Eq. (3) + (5): the trainer sums every loss_* value
    total = sum(losses.values())
    assert total.item() == pytest.approx(0.25 * LN2 + 1.0 + 0.0625 * LN2 + 0.25 * LN2, rel=1e-5)
    total.backward()
    assert all(torch.isfinite(t.grad).all() for t in [gate, boxes] + logits)


def test_focal_on_product_gradient_finite_at_saturation():
    # S = sigmoid(z_cls) * sigmoid(z_cpn) at S ~ 1 (both +30) and S ~ 1e-26 (both -30), targets 1 and 0 both ways
    z_cls = torch.tensor([[30.0], [-30.0], [30.0], [-30.0]], requires_grad=True)
    z_cpn = torch.tensor([[30.0], [-30.0], [30.0], [-30.0]], requires_grad=True)
    from pedet.layers.focal import focal_loss_on_logit_product

    loss = focal_loss_on_logit_product(z_cls, z_cpn, torch.tensor([[1.0], [0.0], [0.0], [1.0]])).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z_cls.grad).all() and torch.isfinite(z_cpn.grad).all()
    # the positive at S ~ 1e-26 (row 3) is pulled up with the full focal gradient -alpha = -0.25 on each logit
    assert z_cls.grad[3].item() == pytest.approx(-0.25, rel=1e-5)
    assert z_cpn.grad[3].item() == pytest.approx(-0.25, rel=1e-5)


def test_train_and_eval_on_bad_and_crowded_input():
    model = tiny_model()
    crowd = crowd_boxes(320, 64, 96, seed=1, min_size=2.0, max_size=30.0)  # 300+ persons, many < stride 8
    batch = image_batch([
        ([[10, 10, 40, 60], [30, 5, 70, 60]], [0, 0]),  # ordinary
        (torch.zeros(0, 4), []),  # no person
        ([[5, 5, 50, 50]], [-1]),  # only an ignore box
        (crowd, [0] * 320),
    ])
    model.train()
    with EventStorage() as storage:
        losses = model(batch)
        total = sum(losses.values())
        total.backward()
        assert storage.latest()["opl/num_gt_unmatched"][0] > 0  # tiny boxes: logged, not a crash
    assert set(losses) == {"loss_cls_o2o", "loss_reg", "loss_c2f_0", "loss_c2f_1"}
    assert all(torch.isfinite(v) for v in losses.values())
    grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        out = model(batch)
    assert len(out) == 4 and all(len(o["instances"]) <= 500 for o in out)


@pytest.mark.parametrize("specs", [[(torch.zeros(0, 4), [])], [([[5, 5, 50, 50]], [-1])]])
def test_no_valid_gt_gives_finite_loss_and_connected_zero_reg(specs):
    model = tiny_model()
    model.train()
    with EventStorage() as storage:
        losses = model(image_batch(specs))
        assert storage.latest()["opl/num_pos_o2o"][0] == 0
    assert losses["loss_reg"].item() == 0.0 and losses["loss_cls_o2o"].item() > 0
    sum(losses.values()).backward()
    assert model.head.bbox_pred.weight.grad is not None  # the zero stays connected to the graph (DDP)


def test_gt_whose_in_box_locations_are_taken_is_logged_not_fatal():
    model = tiny_model()
    centers = torch.tensor([[4.0, 4.0], [12.0, 4.0], [20.0, 4.0]])
    strides = torch.full((3,), 8.0)
    gt = torch.tensor([[0.0, 0.0, 8.0, 8.0], [1.0, 1.0, 7.0, 7.0]])  # both hold location 0 only
    pred = torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 3)
    probs = [torch.full((3, 1), 0.5)] * 2
    t = model.label_single_image(gt, torch.zeros(2, dtype=torch.long), torch.zeros(0, 4), centers, strides, [3],
                                 pred, probs[-1], probs)
    assert (t["o2o"] >= 0).sum() == 1 and t["num_unmatched"] == 1


def test_exclude_bg_drops_negatives_inside_ignore_boxes():
    batch = image_batch([([[-200, -200, 300, 300]], [-1])])  # an ignore box around every location centre
    values = {}
    for mode in ("drop", "exclude_bg"):
        model = tiny_model(extra=["INPUT.IGNORE_MODE", mode])
        model.train()
        with EventStorage():
            values[mode] = model(batch)["loss_cls_o2o"].item()
    assert values["drop"] > 0 and values["exclude_bg"] == 0.0


def _raise(*args, **kwargs):
    raise AssertionError("NMS must not be called")


def test_inference_never_calls_nms(monkeypatch):
    for mod, name in [(torchvision.ops, "nms"), (torchvision.ops, "batched_nms"), (torchvision.ops.boxes, "nms"),
                      (torchvision.ops.boxes, "batched_nms"), (meta_arch, "batched_nms")]:
        monkeypatch.setattr(mod, name, _raise)
    import detectron2.layers as d2_layers

    d2_nms = importlib.import_module("detectron2.layers.nms")  # the package attribute `nms` is the function
    for mod in (d2_layers, d2_nms):
        monkeypatch.setattr(mod, "batched_nms", _raise)
        monkeypatch.setattr(mod, "nms", _raise)
    model = tiny_model(extra=["MODEL.OPL.SCORE_THRESH_TEST", 0.0])  # keep every candidate
    model.eval()
    raw = []  # what the model returns before detector_postprocess (which drops empty boxes)
    inner = model.inference_single_image
    monkeypatch.setattr(model, "inference_single_image", lambda *a: raw.append(inner(*a)) or raw[-1])
    with torch.no_grad():
        out = model(image_batch([([[10, 10, 40, 60]], [0])]))
    n_locations = 8 * 12 + 4 * 6 + 2 * 3 + 1 * 2 + 1 * 1  # 64 x 96 input, strides 8..128
    assert len(raw[0]) == n_locations  # 129 < 500: every candidate kept, none suppressed
    assert len(out[0]["instances"]) <= n_locations


def identical_boxes_inputs():
    # two levels with the same anchor box and the same deltas -> two identical boxes, scores 0.9 and 0.8
    anchors = [Boxes(torch.tensor([[0.0, 0.0, 8.0, 8.0]])), Boxes(torch.tensor([[0.0, 0.0, 8.0, 8.0]]))]
    scores = [torch.tensor([[0.9]]), torch.tensor([[0.8]])]
    deltas = [torch.ones(1, 4), torch.ones(1, 4)]
    return anchors, scores, deltas


def test_two_identical_high_score_boxes_both_survive():
    model = tiny_model()
    result = model.inference_single_image(*identical_boxes_inputs(), (32, 32))
    assert result.scores.tolist() == pytest.approx([0.9, 0.8])
    assert torch.equal(result.pred_boxes.tensor[0], result.pred_boxes.tensor[1])


def test_nms_ablation_switch_suppresses_the_duplicate():
    model = tiny_model(extra=["MODEL.OPL.NMS_ON", True])
    result = model.inference_single_image(*identical_boxes_inputs(), (32, 32))
    assert result.scores.tolist() == pytest.approx([0.9])


def test_inference_threshold_topk_and_max_detections():
    model = tiny_model(extra=["MODEL.OPL.TOPK_CANDIDATES_TEST", 2, "TEST.DETECTIONS_PER_IMAGE", 3])
    anchors = [Boxes(torch.tensor([[0.0, 0, 8, 8]] * 4)), Boxes(torch.tensor([[0.0, 0, 16, 16]] * 2))]
    scores = [torch.tensor([[0.9], [0.04], [0.7], [0.8]]), torch.tensor([[0.6], [0.95]])]
    deltas = [torch.ones(4, 4), torch.ones(2, 4)]
    # level 0: 0.04 < 0.05 dropped, top-2 of (0.9, 0.7, 0.8) = 0.9, 0.8; level 1: 0.95, 0.6; merged top-3
    result = model.inference_single_image(anchors, scores, deltas, (32, 32))
    assert result.scores.tolist() == pytest.approx([0.95, 0.9, 0.8])


@pytest.mark.parametrize("extra", [["MODEL.OPL.C2F_ASSIGNER", "defcn_aux"], ["MODEL.OPL.C2F_ASSIGNER", "hungarian_m"],
                                   ["MODEL.OPL.POTO_MATCHER", "argmax"], ["MODEL.OPL.CPN_CLS_FEATURE", "last_block"],
                                   ["MODEL.OPL.CENTER_SAMPLING_RADIUS", 1.5]])
def test_assignment_switches_train(extra):
    model = tiny_model(extra=extra)
    model.train()
    with EventStorage() as storage:
        losses = model(image_batch([([[10, 10, 40, 60], [30, 5, 70, 60]], [0, 0])]))
        assert storage.latest()["opl/num_fg_per_gt"][0] <= 1.0  # one-to-one
    assert all(torch.isfinite(v) for v in losses.values())


def test_c2f_nested_restricts_later_blocks_to_earlier_positives():
    model = tiny_model(extra=["MODEL.OPL.C2F_NESTED", True, "MODEL.OPL.C2F_M", [4, 2]])
    centers = torch.tensor([[4.0 + 8 * i, 4.0] for i in range(6)])
    strides = torch.full((6,), 8.0)
    gt = torch.tensor([[0.0, 0.0, 48.0, 8.0]])  # holds all 6 locations
    pred = torch.tensor([[0.0, 0.0, 48.0, 8.0]] * 6)
    # block 0 prefers locations 0-3, block 1 prefers 4-5: nested, block 1 must still pick inside 0-3
    p0 = torch.tensor([[0.9], [0.8], [0.7], [0.6], [0.1], [0.1]])
    p1 = torch.tensor([[0.2], [0.1], [0.3], [0.1], [0.9], [0.9]])
    t = model.label_single_image(gt, torch.zeros(1, dtype=torch.long), torch.zeros(0, 4), centers, strides, [6],
                                 pred, p1, [p0, p1])
    assert t["c2f"][0].tolist() == [0, 0, 0, 0, -1, -1]
    # top-2 of block 1 among block 0's positives: 0.3 (loc 2) and 0.2 (loc 0)
    assert t["c2f"][1].tolist() == [0, -1, 0, -1, -1, -1]


def test_vis_period_writes_gt_and_prediction_image_to_the_event_storage():
    # VIS_PERIOD 2: iterations 0 and 2 write one image (GT on top of the predictions, both at the input size);
    # iteration 1 writes nothing; VIS_PERIOD 0 (the default) never does.
    batch = image_batch([([[10, 10, 40, 60], [50, 5, 70, 30]], [0, -1]), ([[5, 5, 30, 50]], [0])])
    model = tiny_model(extra=["VIS_PERIOD", 2, "MODEL.OPL.SCORE_THRESH_TEST", 0.0])  # a random model scores low
    model.train()
    with EventStorage(0) as storage:
        written = []
        for it in range(3):
            storage.iter = it
            model(batch)
            written.append(len(storage._vis_data))
            storage.clear_images()
    assert written == [1, 0, 1]
    with EventStorage(0) as storage:
        model(batch)
        name, img, _ = storage._vis_data[0]
    assert "GT" in name and img.shape == (3, 2 * 64, 96) and img.dtype == np.uint8
    top, bottom = img[:, :64].astype(int), img[:, 64:].astype(int)
    raw = batch[0]["image"].numpy()[::-1].astype(int)  # BGR input -> RGB picture
    assert np.abs(top - raw).max() > 50 and np.abs(bottom - raw).max() > 50  # boxes drawn on both halves
    model0 = tiny_model()
    model0.train()
    with EventStorage(0) as storage:
        model0(batch)
        assert storage._vis_data == []
