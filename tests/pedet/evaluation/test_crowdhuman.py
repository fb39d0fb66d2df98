"""Hand-computed one-rule cases of the CrowdHuman protocol (docs/evaluation_protocols.md §2)."""
import numpy as np
import pytest

from pedet.evaluation.citypersons import match_subset
from pedet.evaluation.crowdhuman import evaluate_crowdhuman, max_weight_matching
from pedet.evaluation.io import read_crowdhuman_dt, read_crowdhuman_gt

from .helpers import make_dt, make_gt


def test_strict_threshold_rejects_overlap_exactly_half():
    # one det, one regular GT, one ignore GT, both overlaps exactly 0.5 (no epsilon here)
    pairs = (np.array([0]), np.array([0]), np.array([0.5]))
    ign = (np.array([0]), np.array([1]), np.array([0.5]))
    regular, keep = np.array([True, False]), np.array([True])
    _, strict, _ = match_subset(pairs, ign, regular, keep, 0.5, prefer_later_gt=False, strict=True)
    _, closed, _ = match_subset(pairs, ign, regular, keep, 0.5, prefer_later_gt=True, strict=False)
    assert strict.tolist() == [0] and closed.tolist() == [1]  # CrowdHuman: FP; CityPersons: TP


def test_iou_half_with_epsilon_is_not_a_match():
    # GT 10x100, det 10x50: IoU = 500 / (1000 + 500 - 500 + 1e-6) < 0.5 -> FP, the GT is missed
    gt = make_gt([(1, [dict(bbox=[0, 0, 10, 100])])], width=200, height=200)
    r = evaluate_crowdhuman(gt, make_dt(gt, [(1, [0, 0, 10, 50], 0.9)]))
    assert (r.num_tp, r.num_fp) == (0, 1) and r.Recall == 0.0


def test_ioa_on_ignore_must_exceed_half():
    # ignore GT 10x100. det A 10x100 shifted 50 down: IoA = 500 / (1000 + 1e-6) < 0.5 -> FP.
    # det B 10x40 inside it: IoA = 400 / (400 + 1e-6) > 0.5 -> dropped. Regular GT far away, matched by det C.
    gt = make_gt([(1, [dict(bbox=[0, 0, 10, 100], ignore=True), dict(bbox=[100, 0, 10, 100])])], 300, 300)
    dt = make_dt(gt, [(1, [0, 50, 10, 100], 0.9), (1, [0, 10, 10, 40], 0.8), (1, [100, 0, 10, 100], 0.7)])
    r = evaluate_crowdhuman(gt, dt)
    assert r.det_status.tolist() == [0, -1, 1]


def test_equal_iou_goes_to_the_earlier_gt():
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[0, 0, 20, 60])])])
    r = evaluate_crowdhuman(gt, make_dt(gt, [(1, [0, 0, 20, 60], 0.9)]))
    assert r.det_gt.tolist() == [0]


def test_gt_and_detections_are_clipped_to_the_image():
    # GT x in [-10, 10] in a 100-wide image -> clipped to [0, 10]; det [0, 10] x [0, 60] then has IoU ~1.
    # Unclipped the IoU would be 600 / 1200 = 0.5 -> no match.
    gt = make_gt([(1, [dict(bbox=[-10, 0, 20, 60])])], width=100, height=100)
    r = evaluate_crowdhuman(gt, make_dt(gt, [(1, [0, 0, 10, 60], 0.9)]))
    assert r.num_tp == 1 and r.mMR == 0.0


def test_mr_uses_the_first_position_with_fppi_at_least_ref():
    # 100 images, 2 GTs in image 1. Ranked: TP (.9), FP (.8, FPPI .01), TP (.7), FP (.6, FPPI .02).
    # ref .01: first position with FPPI >= .01 is the FP, recall 1/2 -> MR .5 (CityPersons would give 0).
    # ref .0178: first position with FPPI >= .0178 is the last FP, recall 1 -> MR 0; refs >= .0316 never reached:
    # last position -> MR 0.
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[50, 0, 20, 60])])] + [(i, []) for i in range(2, 101)])
    dt = make_dt(gt, [(1, [0, 0, 20, 60], 0.9), (2, [0, 0, 20, 60], 0.8), (1, [50, 0, 20, 60], 0.7),
                      (3, [0, 0, 20, 60], 0.6)])
    r = evaluate_crowdhuman(gt, dt)
    assert r.mrs.tolist() == [0.5] + [0.0] * 8 and r.mMR == 0.0


def test_ap_is_the_trapezoid_from_the_first_detection():
    # 2 GTs; ranked TP, FP, TP: (recall, precision) = (.5, 1), (.5, .5), (1, 2/3)
    # AP = 0 * (1 + .5) / 2 + .5 * (.5 + 2/3) / 2 = 0.2916666...
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[50, 0, 20, 60])])])
    dt = make_dt(gt, [(1, [0, 0, 20, 60], 0.9), (1, [25, 0, 20, 60], 0.8), (1, [50, 0, 20, 60], 0.7)])
    r = evaluate_crowdhuman(gt, dt)
    assert r.AP == pytest.approx(0.5 * (0.5 + 2 / 3) / 2, abs=1e-15) and r.Recall == 1.0


def test_empty_detections_give_mr_1_and_ap_0():
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60])])])
    r = evaluate_crowdhuman(gt, make_dt(gt, []))
    assert (r.AP, r.mMR, r.Recall, r.JI) == (0.0, 1.0, 0.0, 0.0)


def test_no_regular_gt_is_undefined_not_a_crash():
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60], ignore=True)]), (2, [])])
    r = evaluate_crowdhuman(gt, make_dt(gt, [(2, [0, 0, 20, 60], 0.9)]))
    assert r.AP is None and r.mMR is None and r.Recall is None
    # JI: image 2 has n = 1 det, m = 0 -> ratio 0 over 1 valid image
    assert r.JI == 0.0


def test_max_weight_matching_is_not_max_cardinality():
    # path d0-g0 .51, d0-g1 1.0, d1-g1 .51, d1-g2 1.0, d2-g2 .51:
    # max weight {d0-g1, d1-g2} = 2.0 (2 pairs) beats the perfect matching {d0-g0, d1-g1, d2-g2} = 1.53
    ed, eg = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 2])
    ew = np.array([0.51, 1.0, 0.51, 1.0, 0.51])
    dm, gm, _ = max_weight_matching(ed, eg, ew, 3, 3, np.zeros(3, dtype=np.int64))
    assert dm.tolist() == [True, True, False] and gm.tolist() == [False, True, True]


def test_max_weight_matching_large_component_uses_scipy():
    # a 7 x 7 path (above the enumeration size): g0-d0 .6, d0-g1 .9, g1-d1 .6, ..., d5-g6 .9, g6-d6 .6.
    # A matching takes no two adjacent edges: all six .9 edges = 5.4 beats all seven .6 edges = 4.2 and any mix
    # (e.g. g0-d0 + five .9 edges = 5.1) -> d0..d5 and g1..g6 matched, d6 and g0 free.
    ed = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
    eg = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6])
    ew = np.array([0.6, 0.9] * 6 + [0.6])
    dm, gm, _ = max_weight_matching(ed, eg, ew, 7, 7, np.zeros(7, dtype=np.int64))
    assert dm.tolist() == [True] * 6 + [False] and gm.tolist() == [False] + [True] * 6


def test_ji_per_image_ratio_and_max_over_thresholds():
    # 1 GT, det A exact (score .9), det B far away (score .05, FP).
    # t = 0.0: k = 1, m = 1, n = 2 -> 1 / (1 + 2 - 1 + 1e-6); t >= 0.1: n = 1 -> 1 / (1 + 1e-6)
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60])])])
    r = evaluate_crowdhuman(gt, make_dt(gt, [(1, [0, 0, 20, 60], 0.9), (1, [60, 0, 20, 60], 0.05)]))
    assert r.ji_per_threshold[0] == pytest.approx(1 / (2 + 1e-6), abs=1e-15)
    assert r.JI == pytest.approx(1 / (1 + 1e-6), abs=1e-15)


def test_odgt_readers_ignore_rule_visible_mode_and_image_size_from_dt():
    gt_lines = [{"ID": "a", "gtboxes": [
        {"tag": "person", "fbox": [0, 0, 20, 60], "vbox": [0, 0, 20, 30], "extra": {"ignore": 0}},
        {"tag": "mask", "fbox": [50, 0, 20, 60], "vbox": [50, 0, 20, 60], "extra": {}},
        {"tag": "person", "fbox": [80, 0, 10, 30], "vbox": [80, 0, 10, 30], "extra": {"ignore": 1}},
    ]}]
    dt_lines = [{"ID": "a", "width": 100, "height": 80, "dtboxes": [{"box": [0, 0, 20, 30], "score": 0.9, "tag": 1}]}]
    full = read_crowdhuman_gt(gt_lines)
    assert full.ignore.tolist() == [False, True, True]
    dt = read_crowdhuman_dt(dt_lines, full)
    assert (full.image_width[0], full.image_height[0]) == (100, 80)
    # full mode: det 20x30 vs fbox 20x60 -> IoU 0.5 - eps -> FP; visible mode: det == vbox -> TP
    assert evaluate_crowdhuman(full, dt).num_tp == 0
    vis = read_crowdhuman_gt(gt_lines, box_key="vbox")
    assert evaluate_crowdhuman(vis, read_crowdhuman_dt(dt_lines, vis), box_mode="visible").num_tp == 1


def test_max_weight_matching_subset_dp_beats_greedy():
    # 6 dets x 2 GTs (long side 6 > the enumeration size, short side 2 -> the subset DP):
    # d0-g1 .95, d0-g0 .9, d1-g1 .9, d2-g0 .6, d3-g0 .55, d4-g0 .53, d5-g0 .52.
    # {d0-g0, d1-g1} = .9 + .9 = 1.8 beats the greedy {d0-g1, d2-g0} = .95 + .6 = 1.55 and any other pair
    # (d0-g1 + d3-g0 = 1.5, d1-g1 + d2-g0 = 1.5, ...) -> dets d0, d1 matched, d2..d5 free, both GTs matched.
    ed = np.array([0, 0, 1, 2, 3, 4, 5])
    eg = np.array([1, 0, 1, 0, 0, 0, 0])
    ew = np.array([0.95, 0.9, 0.9, 0.6, 0.55, 0.53, 0.52])
    dm, gm, _ = max_weight_matching(ed, eg, ew, 6, 2, np.zeros(6, dtype=np.int64))
    assert dm.tolist() == [True, True, False, False, False, False] and gm.tolist() == [True, True]
    # the same graph with dets and GTs swapped (2 dets x 6 GTs: the DP runs over the GT side)
    dm, gm, _ = max_weight_matching(eg, ed, ew, 2, 6, np.zeros(2, dtype=np.int64))
    assert gm.tolist() == [True, True, False, False, False, False] and dm.tolist() == [True, True]


def test_max_weight_matching_above_dp_size_uses_scipy():
    # an 11 x 11 path (short side 11 > the DP limit -> scipy linear_sum_assignment), same pattern as the 7 x 7 one:
    # g0-d0 .6, d0-g1 .9, g1-d1 .6, ..., d9-g10 .9, g10-d10 .6. Ten .9 edges = 9.0 beat eleven .6 edges = 6.6
    # and every mix -> d0..d9 and g1..g10 matched, d10 and g0 free.
    ed = np.repeat(np.arange(11), 2)[:-1]
    eg = np.r_[0, np.repeat(np.arange(1, 11), 2)]
    ew = np.array([0.6, 0.9] * 10 + [0.6])
    dm, gm, _ = max_weight_matching(ed, eg, ew, 11, 11, np.zeros(11, dtype=np.int64))
    assert dm.tolist() == [True] * 10 + [False] and gm.tolist() == [False] + [True] * 10


@pytest.mark.parametrize("seed", range(4))
def test_max_weight_matching_is_optimal_on_random_components(seed):
    # Random dense components of 6-8 dets x 2-4 GTs (subset DP) and 4-5 x 4-5 (enumeration), distinct weights in
    # (0.5, 1): the matched dets / GTs must carry a perfect matching whose weight equals the brute-force optimum of
    # the whole graph (literal._max_weight_matching tries every matching).
    from .literal import _max_weight_matching

    rng = np.random.default_rng(seed)
    for _ in range(25):
        nd, ng = (int(rng.integers(6, 9)), int(rng.integers(2, 5))) if rng.random() < 0.7 else \
            (int(rng.integers(4, 6)), int(rng.integers(4, 6)))
        if rng.random() < 0.5:
            nd, ng = ng, nd
        w = np.where(rng.random((nd, ng)) < 0.6, rng.uniform(0.5, 1.0, (nd, ng)), 0.0)
        ed, eg = np.nonzero(w)
        dm, gm, _ = max_weight_matching(ed, eg, w[ed, eg], nd, ng, np.zeros(nd, dtype=np.int64))
        best, _ = _max_weight_matching(w.tolist())
        sub_best, sub = _max_weight_matching(w[np.ix_(dm, gm)].tolist()) if dm.any() else (0.0, [])
        assert len(sub) == dm.sum() == gm.sum()
        assert sub_best == pytest.approx(best, abs=1e-12)
