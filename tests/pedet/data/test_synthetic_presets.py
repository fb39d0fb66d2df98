"""The CPU benchmark's synthetic presets: the sparse layout rule and the appearance knob (issue 14 §1)."""
import dataclasses

import numpy as np

from pedet.data.synthetic import APPEARANCE, PRESETS, SplitSpec, annotate_image, render_synthetic_image, sparse_subset


def _iou_matrix(b):
    b = np.asarray(b, dtype=float)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    inter = iw * ih
    area = b[:, 2] * b[:, 3]
    return inter / (area[:, None] + area - inter)


def test_sparse_subset_hand_computed():
    boxes = [[0, 0, 10, 10],    # kept (first)
             [1, 0, 10, 10],    # IoU with 0 = 90 / 110 = 0.818 > 0.3: dropped
             [20, 0, 10, 10],   # disjoint: kept
             [26, 0, 10, 10],   # IoU with 2 = 40 / 160 = 0.25 <= 0.3: kept
             [5, 0, 10, 10]]    # IoU with 0 = 50 / 150 = 0.333 > 0.3: dropped (box 1 was dropped, 0 counts)
    assert sparse_subset(boxes, 0.3).tolist() == [0, 2, 3]
    assert sparse_subset(boxes, 1.0).tolist() == [0, 1, 2, 3, 4]
    assert sparse_subset(np.zeros((0, 4)), 0.3).tolist() == []


def test_max_pair_iou_removes_persons_from_the_same_scene():
    spec = SplitSpec(num_images=1, seed=5, persons_per_image=(12, 12), image_size=(128, 128), min_height=30.0,
                     group_size=(3, 6), group_spread=0.5, **APPEARANCE["easy"])
    crowd = render_synthetic_image(spec, 0)
    sparse = render_synthetic_image(dataclasses.replace(spec, max_pair_iou=0.3), 0)
    full = [(p.x0, p.y0, p.parts.shape) for p in crowd.persons]
    kept = [(p.x0, p.y0, p.parts.shape) for p in sparse.persons]
    assert 0 < len(kept) < len(full) and all(k in full for k in kept)  # a subset of the same persons
    boxes = [[p.x0, p.y0, p.parts.shape[1], p.parts.shape[0]] for p in sparse.persons]
    iou = _iou_matrix(boxes)
    assert (np.triu(iou, 1) <= 0.3).all()


def test_cpu_presets_sparse_set_has_no_overlapping_pair_and_easy_appearance():
    cpu = PRESETS["cpu"]
    assert set(cpu) == {"train", "sparse", "medium", "crowd"}
    for spec in cpu.values():  # the shared regime: input size, person sizes, appearance
        assert spec.image_size == (160, 160) and spec.occluders_per_image == (0, 0) and spec.far_crowd_prob == 0.0
    spec = dataclasses.replace(cpu["sparse"], num_images=6)
    for i in range(spec.num_images):
        record = annotate_image(render_synthetic_image(spec, i), str(i), spec)
        boxes = [g["fbox"] for g in record["gtboxes"] if g["tag"] == "person"]
        if len(boxes) > 1:
            assert (np.triu(_iou_matrix(boxes), 1) <= 0.3).all()
    # the seeds of all splits differ (no image shared between training and test sets)
    seeds = [s.seed for p in PRESETS.values() for s in p.values()]
    assert len(seeds) == len(set(seeds))
