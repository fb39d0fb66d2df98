"""
Property tests (hypothesis): the vectorised protocols equal the literal per-detection loops of literal.py on random
tiny scenes (integer boxes make exact-0.5 overlaps and score ties frequent), and the protocol invariants hold.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pedet.evaluation.citypersons import evaluate_citypersons
from pedet.evaluation.crowdhuman import evaluate_crowdhuman
from pedet.evaluation.io import build_detections, build_ground_truth

from . import literal

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

box = st.tuples(st.integers(-4, 16), st.integers(-4, 16), st.integers(1, 8), st.integers(1, 12))
gt_st = st.fixed_dictionaries({
    "bbox": box, "ignore": st.sampled_from([False, False, False, True]),
    "vis": st.sampled_from([0.1, 0.2, 0.5, 0.65, 0.9, 1.0]),
})
det_st = st.fixed_dictionaries({"bbox": box, "score": st.sampled_from([0.05, 0.1, 0.35, 0.5, 0.5, 0.9])})
image_st = st.fixed_dictionaries({"gts": st.lists(gt_st, max_size=4), "dts": st.lists(det_st, max_size=6)})
scene_st = st.lists(image_st, min_size=1, max_size=4)


def _to_sets(scene, ids=None, w=14, h=14):
    ids = ids or [k + 1 for k in range(len(scene))]
    images = []
    for img_id, im in zip(ids, scene):
        gts = [dict(bbox=list(g["bbox"]), height=float(g["bbox"][3]), vis=g["vis"], ignore=g["ignore"],
                    id=j + 1 + 10 * img_id) for j, g in enumerate(im["gts"])]
        images.append({"id": img_id, "w": w, "h": h, "gts": gts, "dts": [dict(d) for d in im["dts"]]})
    gt = build_ground_truth(
        [im["id"] for im in images], [len(im["gts"]) for im in images],
        [g["bbox"] for im in images for g in im["gts"]],
        heights=[g["height"] for im in images for g in im["gts"]],
        vis_ratios=[g["vis"] for im in images for g in im["gts"]],
        ignore=[g["ignore"] for im in images for g in im["gts"]],
        ann_ids=[g["id"] for im in images for g in im["gts"]],
        image_width=[w] * len(images), image_height=[h] * len(images),
    )
    dt = build_detections(gt, [im["id"] for im in images for _ in im["dts"]],
                          [d["bbox"] for im in images for d in im["dts"]],
                          [d["score"] for im in images for d in im["dts"]])
    return images, gt, dt


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)


@SETTINGS
@given(scene_st, st.sampled_from(["official", "matlab"]))
def test_citypersons_equals_literal_rules(scene, mode):
    # Setup [4, 10] x [0.2, 0.9]: small enough for the integer scenes to hit both height bounds and the
    # det filter [3.2, 12.5).
    images, gt, dt = _to_sets(scene)
    setup = "S:4:10:0.2:0.9"
    got = evaluate_citypersons(gt, dt, [setup], mode=mode)["S"].mr
    assert _same(got, literal.citypersons(images, (4, 10), (0.2, 0.9), mode=mode))


@SETTINGS
@given(scene_st)
def test_crowdhuman_equals_literal_rules(scene):
    images, gt, dt = _to_sets(scene)
    r = evaluate_crowdhuman(gt, dt)
    want = literal.crowdhuman(images)
    if want is None:
        assert r.AP is None and r.mMR is None
    else:
        assert _same(r.AP, want[0]) and _same(r.mMR, want[1]) and _same(r.Recall, want[2])
    assert _same(r.JI, literal.ji(images))


@SETTINGS
@given(scene_st, st.randoms(use_true_random=False))
def test_permuting_images_changes_nothing(scene, rnd):
    # Under CrowdHuman, ties between images follow the file order; use distinct scores so the order is defined.
    scene = [dict(im, dts=[dict(d, score=round(0.01 + 0.001 * (10 * k + j) + d["score"] / 2, 6))
                           for j, d in enumerate(im["dts"])]) for k, im in enumerate(scene)]
    _, gt, dt = _to_sets(scene)
    perm = list(range(len(scene)))
    rnd.shuffle(perm)
    _, gt2, dt2 = _to_sets([scene[p] for p in perm], ids=[p + 1 for p in perm])
    a, b = evaluate_crowdhuman(gt, dt), evaluate_crowdhuman(gt2, dt2)
    assert all(_same(x, y) for x, y in zip(a.metrics().values(), b.metrics().values()))
    for mode in ("official", "matlab"):
        ra = evaluate_citypersons(gt, dt, ["Reasonable", "All", "S:4:10:0.2:0.9"], mode=mode)
        rb = evaluate_citypersons(gt2, dt2, ["Reasonable", "All", "S:4:10:0.2:0.9"], mode=mode)
        assert all(_same(ra[k].mr, rb[k].mr) for k in ra)


@SETTINGS
@given(scene_st, st.data())
def test_detection_inside_an_ignore_region_changes_nothing(scene, data):
    # Put an ignore region (20x20 at x=100) in the first image, far from everything else, then add detections
    # inside it with any score: they are absorbed (IoA 1 > 0.5) under both protocols.
    scene[0]["gts"] = list(scene[0]["gts"]) + [{"bbox": (100, 2, 20, 10), "ignore": True, "vis": 1.0}]
    _, gt, dt = _to_sets(scene, w=200, h=200)
    extra = data.draw(st.lists(st.sampled_from([0.05, 0.5, 0.9, 0.99]), min_size=1, max_size=3))
    scene[0]["dts"] = list(scene[0]["dts"]) + [{"bbox": (104, 3, 5, 8), "score": s} for s in extra]
    _, gt2, dt2 = _to_sets(scene, w=200, h=200)
    a, b = evaluate_crowdhuman(gt, dt), evaluate_crowdhuman(gt2, dt2)
    assert all(_same(x, y) for x, y in zip(a.metrics().values(), b.metrics().values()))
    # CityPersons: setup with heights [1, 30] so the 8 px dets pass the height filter [0.8, 37.5)
    ra = evaluate_citypersons(gt, dt, ["S:1:30:0:1"])["S"].mr
    rb = evaluate_citypersons(gt2, dt2, ["S:1:30:0:1"])["S"].mr
    assert _same(ra, rb)


@SETTINGS
@given(scene_st)
def test_perfect_detector_gives_mr_0_and_ap_1(scene):
    # Persons side by side inside the 14x14 image (no clipping, no overlap), one exact detection on each.
    for im in scene:
        for j, g in enumerate(im["gts"]):
            g["bbox"] = (1 + 3 * j, 1, 2, 2 + j)
        im["dts"] = [{"bbox": g["bbox"], "score": 0.5 + 0.01 * j} for j, g in enumerate(im["gts"]) if not g["ignore"]]
    _, gt, dt = _to_sets(scene)
    n_pos = sum(1 for im in scene for g in im["gts"] if not g["ignore"])
    r = evaluate_crowdhuman(gt, dt)
    if n_pos == 0:
        assert r.AP is None and r.mMR is None
        return
    assert r.mMR == 0.0 and r.Recall == 1.0
    # The toolkit's trapezoids start at the first detection, (1/n, 1): a perfect detector has AP = 1 - 1/n,
    # which tends to 1 (CrowdDet eval_AP; there is no (0, 1) anchor).
    assert r.AP == pytest.approx(1 - 1 / n_pos, abs=1e-12)
    assert evaluate_citypersons(gt, dt, ["S:0:100:0:1"])["S"].mr == 0.0


def test_perfect_detector_ap_on_four_images():
    # AP starts at the first ranked detection, so the first point is (1/n, 1):
    # n = 4 images x 1 GT, 4 perfect dets -> AP = (1 - 1/4) * 1 = 0.75; recall 1, MR 0 at every ref.
    gt = build_ground_truth([1, 2, 3, 4], [1, 1, 1, 1], [[1, 1, 4, 8]] * 4, image_width=[14] * 4,
                            image_height=[14] * 4)
    dt = build_detections(gt, [1, 2, 3, 4], [[1, 1, 4, 8]] * 4, [0.9, 0.8, 0.7, 0.6])
    r = evaluate_crowdhuman(gt, dt)
    assert r.AP == pytest.approx(0.75) and r.mMR == 0.0 and r.Recall == 1.0


def test_vectorised_greedy_equals_literal_on_a_dense_random_crowd():
    # 30 GTs and 60 dets in one 40x40 image: long conflict chains for the round-based greedy matcher.
    rng = np.random.default_rng(0)
    gts = [dict(bbox=[int(v) for v in rng.integers(0, 30, 2)] + [int(rng.integers(3, 9)), int(rng.integers(6, 16))],
                vis=1.0, ignore=bool(rng.random() < 0.1)) for _ in range(30)]
    dts = [dict(bbox=[int(v) for v in rng.integers(0, 30, 2)] + [int(rng.integers(3, 9)), int(rng.integers(6, 16))],
                score=float(rng.choice([0.2, 0.4, 0.6, 0.8]))) for _ in range(60)]
    images, gt, dt = _to_sets([{"gts": gts, "dts": dts}], w=40, h=40)
    for mode in ("official", "matlab"):
        got = evaluate_citypersons(gt, dt, ["S:4:16:0:1"], mode=mode)["S"].mr
        assert _same(got, literal.citypersons(images, (4, 16), (0, 1), mode=mode))
    r = evaluate_crowdhuman(gt, dt)
    want = literal.crowdhuman(images)
    assert _same(r.AP, want[0]) and _same(r.mMR, want[1]) and _same(r.Recall, want[2])
