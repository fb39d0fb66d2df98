"""Hand-computed one-rule cases of the CityPersons protocol (docs/evaluation_protocols.md §1)."""
import math

import numpy as np
import pytest

from pedet.evaluation.citypersons import evaluate_citypersons, parse_setup
from pedet.evaluation.io import EvalInputWarning

from .helpers import make_dt, make_gt


def _empty_images(n, start=2):
    return [(i, []) for i in range(start, start + n)]


def test_setup_height_and_visibility_ranges_are_closed():
    # heights from the file's "height" field (bbox h 100 everywhere): 49.9 out, 50 and 75 in, 75.1 out of [50, 75]
    gts = [dict(bbox=[10 * k, 0, 5, 100], height=h, vis=1.0) for k, h in enumerate([49.9, 50, 75, 75.1])]
    gt = make_gt([(1, gts)])
    r = evaluate_citypersons(gt, make_dt(gt, []), ["Reasonable_small"])["Reasonable_small"]
    assert r.num_gt == 2 and r.num_ignore_gt == 2
    # visibility 0.65 is in Reasonable [0.65, inf] AND in Heavy [0.2, 0.65]; 0.2 in Heavy, 0.19 nowhere
    gts = [dict(bbox=[10 * k, 0, 5, 100], vis=v) for k, v in enumerate([0.65, 0.2, 0.19])]
    gt = make_gt([(1, gts)])
    res = evaluate_citypersons(gt, make_dt(gt, []), ["Reasonable", "Heavy"])
    assert res["Reasonable"].num_gt == 1 and res["Heavy"].num_gt == 2


def test_iou_exactly_half_matches():
    # GT 10x100, det 10x50 at the top: inter 500, union 1000 + 500 - 500 = 1000 -> IoU 0.5 >= 0.5 -> TP.
    # One image, one GT, one TP -> recall 1 at every ref -> MR 0.
    gt = make_gt([(1, [dict(bbox=[0, 0, 10, 100])])])
    r = evaluate_citypersons(gt, make_dt(gt, [(1, [0, 0, 10, 50], 0.9)]), ["Reasonable"])["Reasonable"]
    assert r.num_tp == 1 and r.mr == 0.0


def test_ioa_exactly_half_on_ignore_gt_absorbs_the_detection():
    # ignore GT 10x100; det 10x100 shifted down 50: inter 10 * 50 = 500, det area 1000 -> IoA 0.5 -> ignored
    gt = make_gt([(1, [dict(bbox=[0, 0, 10, 100], ignore=True), dict(bbox=[100, 0, 10, 100])])])
    dt = make_dt(gt, [(1, [0, 50, 10, 100], 0.9), (1, [100, 0, 10, 100], 0.5)])
    r = evaluate_citypersons(gt, dt, ["Reasonable"])["Reasonable"]
    assert r.det_status.tolist() == [-1, 1]  # dets in score order: 0.9 absorbed, 0.5 TP
    assert (r.num_dets, r.num_fp) == (1, 0)


def test_out_of_range_gt_becomes_ignore_and_absorbs_many_detections():
    # A 30 px tall person is out of Reasonable (h >= 50): an ignore GT matched by IoA; three dets inside it
    # (heights 40 pass the det filter [40, inf)) are all absorbed, none is FP.
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 30])])])
    dt = make_dt(gt, [(1, [0, 0, 10, 40], 0.9), (1, [5, 0, 10, 40], 0.8), (1, [10, 0, 10, 40], 0.7)])
    r = evaluate_citypersons(gt, dt, ["Reasonable"])["Reasonable"]
    # IoA of each: inter 10 x 30 = 300 / det area 400 = 0.75 >= 0.5
    assert r.det_status.tolist() == [-1, -1, -1] and r.num_gt == 0 and r.mr is None


def test_regular_match_is_preferred_over_an_ignore_region():
    # det == regular GT (IoU 1) and inside a big ignore region (IoA 1): the scan stops at the first ignore GT once a
    # regular candidate exists -> TP
    gt = make_gt([(1, [dict(bbox=[0, 0, 100, 100], ignore=True), dict(bbox=[10, 0, 20, 60])])])
    r = evaluate_citypersons(gt, make_dt(gt, [(1, [10, 0, 20, 60], 0.9)]), ["Reasonable"])["Reasonable"]
    assert r.det_status.tolist() == [1]


def test_equal_iou_goes_to_the_later_gt():
    # two identical GTs (global indices 0, 1); one det on them: ">=" scan keeps the later one
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[0, 0, 20, 60])])])
    r = evaluate_citypersons(gt, make_dt(gt, [(1, [0, 0, 20, 60], 0.9)]), ["Reasonable"])["Reasonable"]
    assert r.det_gt.tolist() == [1]


def test_top_1000_truncation_happens_before_the_height_filter():
    # 1000 dets 30 px tall (filtered out of Reasonable: 30 < 40) outrank the one det on the GT.
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60])])])
    small = [(1, [200, 0, 10, 30], 0.9)] * 1000
    r = evaluate_citypersons(gt, make_dt(gt, small + [(1, [0, 0, 20, 60], 0.5)]), ["Reasonable"])["Reasonable"]
    assert r.num_tp == 0 and r.num_dets == 0  # rank 1001 was truncated although 1000 dets were filtered anyway
    r = evaluate_citypersons(gt, make_dt(gt, small[:999] + [(1, [0, 0, 20, 60], 0.5)]), ["Reasonable"])
    assert r["Reasonable"].num_tp == 1


def test_detection_height_filter_is_lower_inclusive_upper_exclusive():
    # Reasonable_small [50, 75] -> dets kept if 50/1.25 = 40 <= h < 75*1.25 = 93.75
    gt = make_gt([(1, [])])
    hs = [39.99, 40.0, 93.74, 93.75]
    dt = make_dt(gt, [(1, [30 * k, 0, 10, h], 0.9 - 0.1 * k) for k, h in enumerate(hs)])
    r = evaluate_citypersons(gt, dt, ["Reasonable_small"])["Reasonable_small"]
    assert r.det_status.tolist() == [-2, 0, 0, -2]


def test_final_recall_quirk_versus_matlab_rule():
    # 10 images; image 1 has 2 GTs, one found. Ranked: FP (image 2, score .9) then TP (score .8).
    # FPPI after the FP = 1/10 = 0.1: refs 0.01 .. 0.0562 have no det with FPPI <= ref.
    # official: they take the final recall 0.5 -> mrs = [.5] * 9 -> MR^-2 = 0.5
    # matlab: recall 0 there -> mrs = [1, 1, 1, 1, .5, .5, .5, .5, .5] -> exp(5 ln .5 / 9) = 0.5 ** (5 / 9)
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[50, 0, 20, 60])])] + _empty_images(9))
    dt = make_dt(gt, [(2, [0, 0, 20, 60], 0.9), (1, [0, 0, 20, 60], 0.8)])
    off = evaluate_citypersons(gt, dt, ["Reasonable"], mode="official")["Reasonable"]
    mat = evaluate_citypersons(gt, dt, ["Reasonable"], mode="matlab")["Reasonable"]
    assert off.mrs.tolist() == [0.5] * 9 and off.mr == pytest.approx(0.5, abs=1e-15)
    assert mat.mrs.tolist() == [1.0] * 4 + [0.5] * 5
    assert mat.mr == pytest.approx(0.5 ** (5 / 9), abs=1e-15)


def test_recall_at_last_detection_with_fppi_at_most_ref():
    # 100 images, 2 GTs in image 1. Ranked: TP (.9), FP (.8, FPPI .01), TP (.7, FPPI .01), FP (.6, FPPI .02).
    # ref 0.01: last det with FPPI <= .01 is the second TP -> recall 1 -> MR 0 (CrowdHuman's rule would stop at
    # the FP and read 0.5, see test_crowdhuman).
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[50, 0, 20, 60])])] + _empty_images(99))
    dt = make_dt(gt, [(1, [0, 0, 20, 60], 0.9), (2, [0, 0, 20, 60], 0.8), (1, [50, 0, 20, 60], 0.7),
                      (3, [0, 0, 20, 60], 0.6)])
    r = evaluate_citypersons(gt, dt, ["Reasonable"])["Reasonable"]
    assert r.mrs[0] == 0.0 and r.mr == 0.0


def test_gt_with_annotation_id_zero_turns_its_tp_into_fp_in_official_mode():
    # dtMatches stores the GT id and is read as a boolean: id 0 -> "unmatched" -> FP (the GT is still consumed)
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60], id=0)])])
    dt = make_dt(gt, [(1, [0, 0, 20, 60], 0.9)])
    with pytest.warns(EvalInputWarning, match="1 regular ground-truth box"):  # said, not silent
        assert evaluate_citypersons(gt, dt, ["Reasonable"], mode="official")["Reasonable"].num_fp == 1
    assert evaluate_citypersons(gt, dt, ["Reasonable"], mode="matlab")["Reasonable"].num_tp == 1


def test_images_without_gt_or_detections_count_in_fppi():
    # 4 images, 1 GT, ranked FP (image 3) then TP: FPPI after the FP = 1/4 = 0.25
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60])]), (2, []), (3, []), (4, [])])
    dt = make_dt(gt, [(3, [0, 0, 20, 60], 0.9), (1, [0, 0, 20, 60], 0.8)])
    r = evaluate_citypersons(gt, dt, ["Reasonable"], mode="matlab")["Reasonable"]
    assert r.fppi.tolist() == [0.25, 0.25]
    # refs < 0.25 (0.01 .. 0.1778, six of them) -> recall 0; 0.3162 .. 1 -> recall 1 -> MR^-2 = 0 (a zero point)
    assert r.mrs.tolist() == [1.0] * 6 + [0.0] * 3 and r.mr == 0.0


def test_empty_detection_list_gives_mr_1():
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60])])])
    r = evaluate_citypersons(gt, make_dt(gt, []), ["Reasonable", "Heavy"])
    assert r["Reasonable"].mr == 1.0
    assert r["Heavy"].mr is None and np.isnan(r["Heavy"].mrs).all()  # no GT with vis in [0.2, 0.65]: undefined


def test_user_defined_setup_parsing():
    s = parse_setup("tall:100:inf:0.5:1")
    assert (s.name, s.height, s.visibility) == ("tall", (100.0, 1e10), (0.5, 1.0))
    with pytest.raises(ValueError):
        parse_setup("nonsense")
    assert math.isclose(parse_setup("Reasonable").visibility[0], 0.65)
