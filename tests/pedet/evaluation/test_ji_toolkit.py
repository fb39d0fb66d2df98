"""
JI on crowded scenes (large detection / GT conflict groups, ignore regions, low scores, scores on the thresholds)
equals the CrowdHuman toolkit (CrowdDet compute_JI.py, numbers recorded in the fixture) and a plain per-image
re-derivation of its rules (literal.ji_lsa), to 1e-9; and each exact solver of the vectorised matching equals
scipy's assignment on the components it handles.
"""
import json
import os

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from pedet.evaluation import crowdhuman as ch
from pedet.evaluation.crowdhuman import JI_SCORE_THRESHOLDS, evaluate_crowdhuman
from pedet.evaluation.io import build_detections, build_ground_truth, read_crowdhuman_dt, read_crowdhuman_gt

from . import literal

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "crowdhuman", "ji_crowded")


def _crowd(seed, n_img=12, width=320, height=240):
    """Literal-format images: dense crowds in a 150 px corner, ~15 % ignore, jittered duplicates, low scores."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_img):
        g = int(rng.integers(0, 50))
        cx, cy = rng.uniform(-20, 150, g), rng.uniform(-20, 150, g)
        w = rng.uniform(10, 60, g)
        boxes = np.stack([cx - w / 2, cy - w, w, w * rng.uniform(1.5, 3, g)], 1)
        gts = [{"bbox": b.tolist(), "ignore": bool(rng.random() < 0.15)} for b in boxes]
        dts = []
        for b in boxes:
            for _ in range(int(rng.integers(0, 9))):
                j = b + rng.normal(0, 0.12, 4) * np.r_[b[2], b[3], b[2], b[3]]
                j[2:] = np.maximum(j[2:], 1)
                s = rng.random() if rng.random() < 0.6 else 0.15 * rng.random()
                dts.append({"bbox": j.tolist(), "score": float(s)})
        dts.sort(key=lambda d: -d["score"])
        images.append({"id": i, "w": width, "h": height, "gts": gts, "dts": dts})
    return images


def _sets(images):
    gt = build_ground_truth(
        [im["id"] for im in images], [len(im["gts"]) for im in images],
        [g["bbox"] for im in images for g in im["gts"]], ignore=[g["ignore"] for im in images for g in im["gts"]],
        image_width=[im["w"] for im in images], image_height=[im["h"] for im in images],
    )
    dt = build_detections(gt, [im["id"] for im in images for _ in im["dts"]],
                          [d["bbox"] for im in images for d in im["dts"]],
                          [d["score"] for im in images for d in im["dts"]])
    return gt, dt


def _close(got, want):
    assert len(got) == len(want) == len(JI_SCORE_THRESHOLDS)
    for t, a, b in zip(JI_SCORE_THRESHOLDS, got, want):
        assert (a is None) == (b is None), t
        assert a is None or abs(a - b) <= 1e-9, (t, a, b)


def test_ji_equals_the_crowdhuman_toolkit_on_the_crowded_fixture():
    with open(os.path.join(FIXTURE, "toolkit_ji.json")) as f:
        toolkit = json.load(f)["ji_per_threshold"]
    gt = read_crowdhuman_gt(os.path.join(FIXTURE, "gt.odgt"))
    dt = read_crowdhuman_dt(os.path.join(FIXTURE, "dt.odgt"), gt)
    r = evaluate_crowdhuman(gt, dt)
    _close(r.ji_per_threshold, toolkit)
    assert abs(r.JI - max(toolkit)) <= 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ji_equals_the_plain_rules_on_crowded_scenes(seed):
    images = _crowd(seed)
    gt, dt = _sets(images)
    _close(evaluate_crowdhuman(gt, dt).ji_per_threshold, literal.ji_lsa(images))


def test_plain_rules_reproduce_the_toolkit_fixture():
    # The oracle itself against the toolkit's numbers (so both tests above check against the same rules).
    with open(os.path.join(FIXTURE, "toolkit_ji.json")) as f:
        toolkit = json.load(f)["ji_per_threshold"]
    images = []
    with open(os.path.join(FIXTURE, "gt.odgt")) as fg, open(os.path.join(FIXTURE, "dt.odgt")) as fd:
        for g, d in zip(map(json.loads, fg), map(json.loads, fd)):
            images.append({"w": g["width"], "h": g["height"],
                           "gts": [{"bbox": b["fbox"], "ignore": b["tag"] != "person"} for b in g["gtboxes"]],
                           "dts": [{"bbox": b["box"], "score": b["score"]} for b in d["dtboxes"]]})
    _close(literal.ji_lsa(images), toolkit)


@pytest.mark.parametrize("n_short,n_long", [(6, 7), (7, 9), (8, 12), (9, 11), (10, 14)])
@pytest.mark.parametrize("dets_long", [True, False])
def test_subset_dp_equals_scipy_assignment(n_short, n_long, dets_long):
    # One dense component per case with the short side 6 .. 10 (the DP path; 8 and more overflowed an int8 once).
    rng = np.random.default_rng(n_short * 100 + n_long)
    n_det, n_gt = (n_long, n_short) if dets_long else (n_short, n_long)
    w = np.where(rng.random((n_det, n_gt)) < 0.6, rng.uniform(0.5 + 1e-3, 1.0, (n_det, n_gt)), 0.0)
    w[np.arange(min(n_det, n_gt)), np.arange(min(n_det, n_gt))] = 0.75  # connected through a diagonal ...
    w[np.arange(1, min(n_det, n_gt)), np.arange(min(n_det, n_gt) - 1)] = 0.6  # ... and a sub-diagonal
    if dets_long:
        w[min(n_det, n_gt):, 0] = 0.55  # every extra det touches GT 0
    else:
        w[0, min(n_det, n_gt):] = 0.55
    ed, eg = np.nonzero(w)
    det_m, gt_m, _ = ch.max_weight_matching(ed, eg, w[ed, eg], n_det, n_gt, np.zeros(n_det, dtype=np.int64))
    a, b = linear_sum_assignment(w, maximize=True)
    best = w[a, b].sum()
    # our matched sets must carry a matching of the optimal weight: solve again restricted to them
    sub = w[np.ix_(det_m, gt_m)]
    a2, b2 = linear_sum_assignment(sub, maximize=True)
    assert det_m.sum() == gt_m.sum() == np.count_nonzero(sub[a2, b2])
    assert abs(sub[a2, b2].sum() - best) <= 1e-12
