"""Hand-computed one-rule cases of the Caltech protocol (Dollar toolbox, docs/evaluation_protocols.md §1.9)."""
import numpy as np
import pytest

from pedet.evaluation.caltech import evaluate_caltech, squarify
from pedet.evaluation.io import EvalInputWarning

from .helpers import make_dt, make_gt


def _gt(gts, n_empty=0):
    return make_gt([(1, gts)] + [(i, []) for i in range(2, 2 + n_empty)], width=640, height=480)


def test_squarify_keeps_height_and_centre():
    # [10, 0, 20, 100] -> w = .41 * 100 = 41, x = (10 + 20 / 2) - 41 / 2 = -0.5
    assert squarify(np.array([[10.0, 0, 20, 100]])).tolist() == [[-0.5, 0.0, 41.0, 100.0]]


def test_height_range_is_half_open():
    # Reasonable_small [50, 75): 50 regular, 74.9 regular, 75 ignore. All [20, inf): 20 regular.
    gts = [dict(bbox=[10 + 60 * k, 10, 20, h], label="person") for k, h in enumerate([50, 74.9, 75, 20])]
    res = evaluate_caltech(_gt(gts), make_dt(_gt(gts), []), ["Reasonable_small", "All"])
    assert res["Reasonable_small"].gt_regular.tolist() == [True, True, False, False]
    assert res["All"].gt_regular.tolist() == [True, True, True, True]


def test_border_and_labels_make_ignore_gts():
    # x = 4 < 5 -> ignore; x + w = 635 inside; "people" / "person?" are ignore regions; "cyclist" is not loaded
    gts = [dict(bbox=[4, 10, 20, 60], label="person"), dict(bbox=[615, 10, 20, 60], label="person"),
           dict(bbox=[100, 10, 20, 60], label="people"), dict(bbox=[200, 10, 20, 60], label="person?"),
           dict(bbox=[300, 10, 20, 60], label="cyclist")]
    with pytest.warns(EvalInputWarning, match=r"1 box\(es\) have a label other than .* \('cyclist'\)"):
        r = evaluate_caltech(_gt(gts), make_dt(_gt(gts), []), ["Reasonable"])["Reasonable"]
    assert r.gt_regular.tolist() == [False, True, False, False]  # 4 loaded boxes, the cyclist dropped
    assert r.num_ignore_gt == 3


def test_visibility_is_inf_without_a_visible_box():
    # vbox all zeros = not occluded -> vf = inf: in Reasonable [.65, inf], not in Heavy [.2, .65];
    # vbox half the area -> vf = .5: Heavy only
    gts = [dict(bbox=[10, 10, 20, 60], vbox=[0, 0, 0, 0], label="person"),
           dict(bbox=[100, 10, 20, 60], vbox=[100, 10, 20, 30], label="person")]
    res = evaluate_caltech(_gt(gts), make_dt(_gt(gts), []), ["Reasonable", "Heavy"])
    assert res["Reasonable"].gt_regular.tolist() == [True, False]
    assert res["Heavy"].gt_regular.tolist() == [False, True]


def test_recall_is_zero_where_no_detection_has_fppi_below_ref():
    # 10 frames, 1 GT. Ranked FP (frame 2) then TP: FPPI .1 after the first det.
    # refs .01 .. .0562 (10^-2 .. 10^-1.25) -> recall 0 -> MR 1; refs >= .1 -> recall 1 -> MR 0
    gts = [dict(bbox=[100, 10, 24.6, 60], label="person")]  # already aspect .41
    gt = _gt(gts, n_empty=9)
    dt = make_dt(gt, [(2, [100, 10, 24.6, 60], 0.9), (1, [100, 10, 24.6, 60], 0.8)])
    r = evaluate_caltech(gt, dt, ["Reasonable"])["Reasonable"]
    assert r.mrs.tolist() == [1.0] * 4 + [0.0] * 5


def test_detection_resize_changes_the_match():
    # GT 20x60 (squarified to 24.6 x 60 about x-centre 20); det == the original GT box 20x60 at x = 10.
    # resized det -> identical to the squarified GT -> TP; unresized: IoU = 20*60 / (24.6*60) = 0.813 -> also TP.
    # A det 12 x 60 at x = 14: resized -> 24.6 x 60 centred at 20 -> IoU 1 -> TP; unresized IoU = 12/24.6 = .49 -> FP
    gt = _gt([dict(bbox=[10, 10, 20, 60], label="person")])
    dt = make_dt(gt, [(1, [14, 10, 12, 60], 0.9)])
    assert evaluate_caltech(gt, dt, ["Reasonable"])["Reasonable"].num_tp == 1
    assert evaluate_caltech(gt, dt, ["Reasonable"], resize_dets=False)["Reasonable"].num_tp == 0


def test_ignore_gt_keeps_its_box_and_absorbs_by_ioa():
    # "people" region 100 x 60 is not squarified; a det 20 x 60 inside has IoA 1 -> ignored (det resized to
    # 24.6 x 60, still inside)
    gt = _gt([dict(bbox=[100, 10, 100, 60], label="people")])
    r = evaluate_caltech(gt, make_dt(gt, [(1, [140, 10, 20, 60], 0.9)]), ["Reasonable"])["Reasonable"]
    assert r.det_status.tolist() == [-1] and r.mr is None


def test_equal_overlap_goes_to_the_later_gt_and_half_matches():
    # two identical GTs; a det at IoU exactly .5 with both (after squarify: GT 24.6 x 60 at x 10, det 24.6 x 30):
    # inter 24.6 * 30, union 24.6 * 60 -> .5 >= .5 -> TP on the later GT
    gt = _gt([dict(bbox=[10, 10, 24.6, 60], label="person"), dict(bbox=[10, 10, 24.6, 60], label="person")])
    dt = make_dt(gt, [(1, [10, 10, 24.6, 60 / 2], 0.9)])
    r = evaluate_caltech(gt, dt, ["All"], resize_dets=False)["All"]
    assert r.det_gt.tolist() == [1]
    assert r.mrs[-1] == pytest.approx(0.5)  # 1 of 2 found
