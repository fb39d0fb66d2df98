"""The shared core: reference-point rules, log-average, AP trapezoid, greedy matcher, overlaps, clipping."""
import math

import numpy as np
import pytest

from pedet.evaluation.mr import (
    FPPI_REFS,
    FPPI_REFS_MATLAB,
    clip_xyxy,
    greedy_match,
    log_average,
    mr_at_fppi_first_ge,
    overlaps_bbgt,
    overlaps_crowdhuman,
    recall_at_fppi_last_le,
    trapezoid_ap,
)


def test_reference_points():
    assert FPPI_REFS.tolist()[4] == 0.1 and FPPI_REFS.size == 9
    assert FPPI_REFS_MATLAB[1] == pytest.approx(10 ** -1.75) and FPPI_REFS_MATLAB[-1] == 1.0


def test_last_le_rule_and_the_index_minus_one_quirk():
    fppi = np.array([0.05, 0.05, 0.2])
    recall = np.array([0.2, 0.4, 0.4])
    refs = np.array([0.01, 0.05, 1.0])
    # ref .01: no det with FPPI <= .01 -> official: final recall .4; matlab: 0. ref .05: last <= .05 -> .4
    assert recall_at_fppi_last_le(fppi, recall, refs, "official").tolist() == [0.4, 0.4, 0.4]
    assert recall_at_fppi_last_le(fppi, recall, refs, "matlab").tolist() == [0.0, 0.4, 0.4]
    assert recall_at_fppi_last_le(np.zeros(0), np.zeros(0), refs, "official").tolist() == [0, 0, 0]


def test_first_ge_rule():
    fppi = np.array([0.0, 0.01, 0.01, 0.02])
    mr = np.array([0.5, 0.5, 0.0, 0.0])
    # ref .01: first FPPI >= .01 is position 1 (MR .5); ref .5: never reached -> last position
    assert mr_at_fppi_first_ge(fppi, mr, np.array([0.01, 0.5])).tolist() == [0.5, 0.0]
    assert mr_at_fppi_first_ge(np.zeros(0), np.zeros(0), np.array([0.1])).tolist() == [1.0]


def test_log_average():
    # exp((ln .5 + ln .125) / 2) = sqrt(.0625) = .25; a zero point gives exactly 0
    assert log_average(np.array([0.5, 0.125])) == pytest.approx(0.25)
    assert log_average(np.array([0.5, 0.0])) == 0.0


def test_trapezoid_ap():
    # (r, p) = (.5, 1), (1, .5): .5 * (1 + .5) / 2 = .375; a single point has no area
    assert trapezoid_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == 0.375
    assert trapezoid_ap(np.array([1.0]), np.array([1.0])) == 0.0


def test_greedy_match_takes_best_free_gt_in_order():
    # det 0 prefers g0 (.9) over g1 (.6); det 1 only overlaps g0 (.8) -> g0 taken -> unmatched;
    # det 2 overlaps g1 (.7) -> g1
    pd, pg = np.array([0, 0, 1, 2]), np.array([0, 1, 0, 1])
    po = np.array([0.9, 0.6, 0.8, 0.7])
    assert greedy_match(pd, pg, po, 3, 2, prefer_later_gt=True).tolist() == [0, -1, 1]


def test_greedy_match_chain_resolves_in_order():
    # det 0: g0 .6, g1 .7 -> g1; det 1: g1 .9, g2 .6 -> g1 taken -> g2; det 2: g2 .9 -> g2 taken -> none
    pd, pg = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 2])
    po = np.array([0.6, 0.7, 0.9, 0.6, 0.9])
    assert greedy_match(pd, pg, po, 3, 3, prefer_later_gt=False).tolist() == [1, 2, -1]


def test_overlaps_hand_values():
    # det [0, 0, 10, 10] vs gt [5, 0, 10, 10]: inter 50, union 150 -> IoU 1/3, IoA 50 / 100 = .5
    iou, ioa = overlaps_bbgt(np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 10, 10]]))
    assert iou[0, 0] == pytest.approx(1 / 3) and ioa[0, 0] == 0.5
    # CrowdHuman arithmetic takes XYXY and adds 1e-6: 50 / (150 + 1e-6)
    iou, ioa = overlaps_crowdhuman(np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 15, 10]]))
    assert iou[0, 0] == 50 / (150 + 1e-6) and ioa[0, 0] == 50 / (100 + 1e-6)
    # touching boxes do not overlap
    assert overlaps_bbgt(np.array([[0.0, 0, 10, 10]]), np.array([[10.0, 0, 5, 5]]))[0][0, 0] == 0.0


def test_clip_rule():
    # x1 -> [0, W-1], y1 -> [0, H-1], x2 -> [0, W], y2 -> [0, H]  (W = 100, H = 50)
    b = np.array([[-5.0, -5, 120, 60], [150, 10, 160, 20]])
    out = clip_xyxy(b, np.array([100.0, 100]), np.array([50.0, 50]))
    assert out.tolist() == [[0, 0, 100, 50], [99, 10, 100, 20]]
    assert math.isclose(out[1, 2] - out[1, 0], 1.0)  # a box right of the image keeps a 1 px sliver
