"""RepLoss §3.2 error analysis: FP types and missed GTs by occlusion / crowd occlusion."""
import numpy as np

from pedet.evaluation.citypersons import evaluate_citypersons
from pedet.evaluation.error_analysis import analyze, classify_false_positives, crowd_occlusion

from .helpers import make_dt, make_gt


def test_false_positive_types():
    # GT A [0, 0, 20, 60], GT B [15, 0, 20, 60] (overlap 5 px), GT C [100, 0, 20, 60]
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[15, 0, 20, 60]), dict(bbox=[100, 0, 20, 60])])], 300, 100)
    dt = make_dt(gt, [
        (1, [200, 0, 20, 60], 0.9),  # IoU 0 with all -> background
        (1, [110, 0, 20, 60], 0.8),  # vs C: inter 10 x 60, IoU 600 / 1800 = .33 -> localization
        (1, [8, 0, 20, 60], 0.7),    # vs A: 12 x 60 / (2400 - 720) = .43; vs B: 13 x 60 / 1620 = .48 -> crowd
        (1, [30, 0, 20, 60], 0.6),   # vs B: 5 x 60 / 2100 = .14 (>= .1), vs A: 0 -> localization
    ])
    fp = np.arange(4)
    assert classify_false_positives(gt, dt, fp, ~gt.ignore) == {"background": 1, "localization": 2, "crowd": 1}


def test_crowd_occlusion_is_the_largest_iou_with_another_person():
    # A, B overlap: inter 5 x 60 = 300, union 2400 - 300 = 2100 -> 1/7; C alone -> 0
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60]), dict(bbox=[15, 0, 20, 60]), dict(bbox=[100, 0, 20, 60])])], 300, 100)
    assert np.allclose(crowd_occlusion(gt, ~gt.ignore), [1 / 7, 1 / 7, 0.0])


def test_missed_gts_at_an_operating_point():
    # 10 images; image 1: GT A (vis 1) found by a .9 det, GT B (vis .3) found by a .5 det;
    # FPs at .8 and .7 in image 2. At FPPI .1 (one FP: the cut is before the second FP) only A is found.
    gt = make_gt([(1, [dict(bbox=[0, 0, 20, 60], vis=1.0), dict(bbox=[100, 0, 20, 60], vis=0.3)])]
                 + [(i, []) for i in range(2, 11)], 300, 100)
    dt = make_dt(gt, [(1, [0, 0, 20, 60], 0.9), (2, [0, 0, 20, 60], 0.8), (2, [50, 0, 20, 60], 0.7),
                      (1, [100, 0, 20, 60], 0.5)])
    r = evaluate_citypersons(gt, dt, ["All"])["All"]
    a = analyze(gt, dt, r.order, r.det_status, r.det_gt, r.gt_regular, fppi=0.1)
    assert a["operating_point"] == {"fppi": 0.1, "score": 0.8, "num_dets": 2}
    assert a["num_missed"] == 1
    occ = {row["bin"]: (row["missed"], row["gt"]) for row in a["missed_by_occlusion"]}
    assert occ["bare [0.9, 1]"] == (0, 1) and occ["heavy [0.2, 0.65)"] == (1, 1)
    # by score threshold .5 everything is in: nothing missed, 2 FPs (both background: no GT in image 2)
    b = analyze(gt, dt, r.order, r.det_status, r.det_gt, r.gt_regular, score=0.5)
    assert b["num_missed"] == 0 and b["false_positives"]["background"] == 2
