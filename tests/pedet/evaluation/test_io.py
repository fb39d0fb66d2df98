"""Readers and bad input (issue 3 §5): every rejected input raises EvalInputError naming what is wrong."""
import json

import numpy as np
import pytest

from pedet.evaluation.io import (  # noqa: I001
    EvalInputError,
    EvalInputWarning,
    _fast_coco_results,
    _fast_dtboxes,
    build_detections,
    build_ground_truth,
    detections_from_arrays,
    ground_truth_from_dataset_dicts,
    read_coco_gt,
    read_coco_results,
    read_crowdhuman_dt,
    read_crowdhuman_gt,
)

from .helpers import make_gt


def test_unknown_image_id_is_named():
    gt = make_gt([(1, [])])
    with pytest.raises(EvalInputError, match="'nope'"):
        build_detections(gt, ["nope"], [[0, 0, 1, 1]], [0.5])


@pytest.mark.parametrize("box,score", [([0, 0, float("nan"), 1], 0.5), ([0, 0, 1, 1], float("inf")),
                                       ([float("-inf"), 0, 1, 1], 0.5), ([0, 0, 1, 1], float("nan"))])
def test_nan_and_inf_are_rejected(box, score):
    gt = make_gt([(7, [])])
    with pytest.raises(EvalInputError, match="image 7"):
        build_detections(gt, [7], [box], [score])


def test_negative_size_boxes_are_rejected():
    gt = make_gt([(1, [])])
    with pytest.raises(EvalInputError, match="negative-size"):
        build_detections(gt, [1], [[0, 0, -1, 5]], [0.5])
    with pytest.raises(EvalInputError, match="negative-size"):
        build_ground_truth([1], [1], [[0, 0, 5, -2]])


def test_duplicate_image_ids_are_rejected():
    with pytest.raises(EvalInputError, match="duplicate image id 3"):
        build_ground_truth([3, 3], [0, 0], np.zeros((0, 4)))
    gt = make_gt([("a", [])])
    line = {"ID": "a", "width": 10, "height": 10, "dtboxes": []}
    with pytest.raises(EvalInputError, match="duplicate image id 'a'"):
        read_crowdhuman_dt([line, line], gt)
    with pytest.raises(EvalInputError, match="duplicate image id 'a'"):
        detections_from_arrays(gt, [("a", np.zeros((0, 4)), []), ("a", np.zeros((0, 4)), [])])
    with pytest.raises(EvalInputError, match="duplicate image id 5"):
        read_coco_gt({"images": [{"id": 5}, {"id": 5}], "annotations": []})


def test_images_without_gt_or_detections_are_valid():
    gt = make_gt([(1, []), (2, [dict(bbox=[0, 0, 2, 2])])])
    dt = build_detections(gt, [1], [[0, 0, 1, 1]], [0.3])
    assert dt.offsets.tolist() == [0, 1, 1] and gt.offsets.tolist() == [0, 0, 1]


def test_detections_are_grouped_by_image_and_sorted_stably_by_score():
    gt = make_gt([(1, []), (2, [])])
    dt = build_detections(gt, [2, 1, 2, 2], [[0, 0, 1, 1], [1, 0, 1, 1], [2, 0, 1, 1], [3, 0, 1, 1]],
                          [0.5, 0.1, 0.9, 0.5])
    # image 1: [x=1]; image 2 by score desc, the two 0.5s in input order: x = 2, 0, 3
    assert dt.boxes[:, 0].tolist() == [1, 2, 0, 3]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_fast_and_json_paths_give_identical_arrays(tmp_path):
    rng = np.random.default_rng(0)
    gt = make_gt([(f"img{i}", []) for i in range(3)])
    lines, coco = [], []
    for i in range(3):
        boxes = np.round(rng.uniform(0, 500, (7, 4)), 3)
        scores = rng.uniform(0, 1, 7)  # full-precision floats (17 digits)
        lines.append(json.dumps({"ID": f"img{i}", "width": 640, "height": 480,
                                 "dtboxes": [{"box": b.tolist(), "score": float(s), "tag": 1 + (i == 1)}
                                             for b, s in zip(boxes, scores)]}))  # tag 2 in one image
    path = _write(tmp_path, "dt.odgt", "\n".join(lines) + "\n")
    assert all(_fast_dtboxes(x) is not None for x in lines)  # the fast path is really taken
    fast = read_crowdhuman_dt(path, gt)
    slow = read_crowdhuman_dt([json.loads(x) for x in lines], make_gt([(f"img{i}", []) for i in range(3)]))
    assert np.array_equal(fast.boxes, slow.boxes) and np.array_equal(fast.scores, slow.scores)
    # COCO results, int ids (fast path) vs the same list given as objects (json path)
    gti = make_gt([(i, []) for i in range(1, 4)])
    for i in range(1, 4):
        for b, s in zip(np.round(rng.uniform(0, 500, (5, 4)), 2), rng.uniform(0, 1, 5)):
            coco.append({"image_id": i, "category_id": 1, "bbox": b.tolist(), "score": float(s)})
    coco.append({"image_id": 2, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.99})  # other class: dropped
    path = _write(tmp_path, "dt.json", json.dumps(coco))
    with pytest.warns(EvalInputWarning):
        assert _fast_coco_results(json.dumps(coco), gti, 1) is not None
    with pytest.warns(EvalInputWarning, match="1 of 16 detections have category_id 2, not 1"):
        fast = read_coco_results(path, gti)
    with pytest.warns(EvalInputWarning, match="1 of 16 detections have category_id 2, not 1"):
        slow = read_coco_results(coco, gti)
    assert fast.num_dets == 15
    assert np.array_equal(fast.boxes, slow.boxes) and np.array_equal(fast.scores, slow.scores)


def test_fast_path_falls_back_on_unusual_layout_and_still_validates(tmp_path):
    gt = make_gt([(1, [])])
    path = _write(tmp_path, "dt.json", '[{"score": 0.5, "bbox": [0, 0, 1, 1], "image_id": 1}]')  # other key order
    assert read_coco_results(path, gt).num_dets == 1
    path = _write(tmp_path, "bad.json", '[{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]')
    with pytest.raises(EvalInputError, match="image id 9"):
        read_coco_results(path, gt)
    path = _write(tmp_path, "nan.json", '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]')
    with pytest.raises(EvalInputError, match="non-finite"):
        read_coco_results(path, gt)


def test_coco_gt_reader_fields_and_defaults():
    data = {"images": [{"id": 1, "width": 2048, "height": 1024}, {"id": 2}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 40], "vis_bbox": [0, 0, 10, 20],
                 "height": 41.0, "vis_ratio": 0.5, "ignore": 0},
                {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 40]},  # defaults
                {"id": 3, "image_id": 2, "category_id": 0, "bbox": [0, 0, 10, 40]},  # not category 1: not read
            ]}
    with pytest.warns(EvalInputWarning, match="1 of 3 annotations have category_id 0, not 1"):
        gt = read_coco_gt(data)
    assert gt.offsets.tolist() == [0, 2, 2]
    assert gt.heights.tolist() == [41.0, 40.0] and gt.vis_ratios.tolist() == [0.5, 1.0]
    assert gt.ignore.tolist() == [False, False] and gt.ann_ids.tolist() == [1, 2]
    with pytest.raises(EvalInputError, match="unknown image 9"):
        read_coco_gt({"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 9, "bbox": [0, 0, 1, 1]}]})


def test_dataset_dicts_conversion():
    dicts = [{"image_id": "x", "width": 100, "height": 50, "annotations": [
        {"bbox": [0, 0, 10, 20], "bbox_mode": 1, "category_id": 0, "vis_bbox": [0, 0, 10, 10], "vis_ratio": 0.5,
         "height": 20.0, "ignore": 0},
        {"bbox": [5, 5, 15, 25], "bbox_mode": 0, "category_id": -1, "ignore": 1},  # XYXY -> [5, 5, 10, 20]
    ]}]
    gt = ground_truth_from_dataset_dicts(dicts)
    assert gt.boxes.tolist() == [[0, 0, 10, 20], [5, 5, 10, 20]] and gt.ignore.tolist() == [False, True]
    vis = ground_truth_from_dataset_dicts(dicts, box="visible")
    assert vis.boxes[0].tolist() == [0, 0, 10, 10]
    assert (gt.image_width[0], gt.image_height[0]) == (100, 50)


def test_crowdhuman_gt_without_boxes_and_missing_size():
    gt = read_crowdhuman_gt([{"ID": "a", "gtboxes": []}, {"ID": "b", "gtboxes": []}])
    assert gt.offsets.tolist() == [0, 0, 0]
    from pedet.evaluation.crowdhuman import evaluate_crowdhuman

    dt = read_crowdhuman_dt([{"ID": "a", "width": 10, "height": 10, "dtboxes": []}], gt)
    with pytest.raises(EvalInputError, match="'b' has no width/height"):
        evaluate_crowdhuman(gt, dt)


def test_nan_and_infinity_literals_in_files_give_our_error_naming_the_image(tmp_path):
    # orjson refuses NaN / Infinity literals; the reader falls back to json for that text, and the validation names
    # the image (not a bare parser message).
    gt = make_gt([("a", []), ("b", [])])
    line_a = '{"ID": "a", "width": 10, "height": 10, "dtboxes": [{"box": [0, 0, 1, 1], "score": 0.5, "tag": 1}]}'
    line_b = '{"ID": "b", "width": 10, "height": 10, "dtboxes": [{"box": [0, 0, 1, 1], "score": NaN, "tag": 1}]}'
    path = _write(tmp_path, "dt.odgt", line_a + "\n" + line_b + "\n")
    with pytest.raises(EvalInputError, match=r"dt\.odgt: line 2 \(image 'b'\): dtboxes 0: non-finite score nan"):
        read_crowdhuman_dt(path, gt)
    path = _write(tmp_path, "gt.odgt", '{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [0, 0, Infinity, 5]}]}\n')
    with pytest.raises(EvalInputError,
                       match=r"gt\.odgt: line 1 \(image 'a'\): gtboxes 0 'fbox': non-finite box \[0.0, 0.0, inf, 5.0\]"):
        read_crowdhuman_gt(path)
    coco = ('{"images": [{"id": 4}], '
            '"annotations": [{"id": 1, "image_id": 4, "bbox": [0, 0, 1, 1], "height": -Infinity}]}')
    path = _write(tmp_path, "val_gt.json", coco)
    with pytest.raises(EvalInputError, match=r"annotation 1 \(image 4\): 'height' is -inf, not a finite number"):
        read_coco_gt(path)


def test_invalid_json_names_the_file_and_line(tmp_path):
    gt = make_gt([("a", []), ("b", [])])
    good = '{"ID": "a", "width": 10, "height": 10, "dtboxes": []}'
    path = _write(tmp_path, "dt.odgt", good + "\n\n" + '{"ID": "b", "dtboxes": [}' + "\n")  # line 3 is broken
    with pytest.raises(EvalInputError, match=r"dt\.odgt: line 3: invalid JSON"):
        read_crowdhuman_dt(path, gt)
    path = _write(tmp_path, "gt.odgt", '{"ID": "a", "gtboxes": []}\n{"ID": "b", "gtboxes": [\n')
    with pytest.raises(EvalInputError, match=r"gt\.odgt: line 2: invalid JSON"):
        read_crowdhuman_gt(path)
    path = _write(tmp_path, "dt.json", '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}')
    with pytest.raises(EvalInputError, match=r"dt\.json: invalid JSON"):
        read_coco_results(path, make_gt([(1, [])]))


def test_fast_path_reads_exponents_and_integers_like_json(tmp_path):
    # json.dumps writes small floats with an exponent (1e-05) and whole boxes as integers; the fast path (taken:
    # checked below) must give exactly json's values: score 1e-05 == 0.00001, 2.5E+2 == 250.0, -3e-3 == -0.003.
    gt = make_gt([("a", []), ("b", [])])
    lines = ['{"ID": "a", "width": 10, "height": 10, "dtboxes": [{"box": [1, 2, 3, 4], "score": 1e-05, "tag": 1}, '
             '{"box": [0.5, 2.5E+2, 3, 4], "score": -3e-3, "tag": 1}]}',
             '{"ID": "b", "width": 10, "height": 10, "dtboxes": []}']
    assert all(_fast_dtboxes(x.encode()) is not None for x in lines)
    fast = read_crowdhuman_dt(_write(tmp_path, "dt.odgt", "\n".join(lines) + "\n"), gt)
    assert fast.scores.tolist() == [0.00001, -0.003]
    assert fast.boxes.tolist() == [[1.0, 2.0, 3.0, 4.0], [0.5, 250.0, 3.0, 4.0]]
    coco = '[{"image_id": 1, "category_id": 1, "bbox": [1e1, 2, 3, 4], "score": 5e-06}]'
    gti = make_gt([(1, [])])
    assert _fast_coco_results(coco, gti, 1) is not None
    dt = read_coco_results(_write(tmp_path, "dt.json", coco), gti)
    assert dt.boxes.tolist() == [[10.0, 2.0, 3.0, 4.0]] and dt.scores.tolist() == [0.000005]
    # a malformed number ("1.2.3") is no valid JSON: the fast path gives up and the plain path reports the line
    bad = '{"ID": "a", "width": 10, "height": 10, "dtboxes": [{"box": [1.2.3, 2, 3, 4], "score": 0.5, "tag": 1}]}'
    with pytest.raises(EvalInputError, match="line 1: invalid JSON"):
        read_crowdhuman_dt(_write(tmp_path, "bad.odgt", bad + "\n"), make_gt([("a", [])]))
