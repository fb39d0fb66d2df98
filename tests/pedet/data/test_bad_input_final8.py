"""
Eighth "second person" data trial of issue 11, on the final tree.

- A detection score written as a list in every detection of a file (``"score": [0.9]``, ``[[0.9]]``, or a
  class-probability pair ``[0.1, 0.9]``), in a CrowdHuman ``.odgt`` or a COCO results file: a one-element list was
  read as its number without a word (the reference says a list is no number), and the pair was read as two
  detections' scores, then refused with numpy's "all the input array dimensions ... must match exactly" (no file,
  no record) or "2 image ids, 2 boxes, 4 scores". Each is now the error of a single list score: the file, the
  detection and "'score' is a list".
"""
import json
import re

import pytest

from pedet.evaluation import __main__ as evaluation

from .conftest import write_file as _write

_GT_ODGT = {"ID": "a", "width": 640, "height": 480,
            "gtboxes": [{"tag": "person", "fbox": [10, 10, 40, 100], "vbox": [10, 10, 40, 100]}]}
_DT_BOXES = [([10, 10, 40, 100], 0.9), ([300, 10, 40, 100], 0.4)]
_COCO_GT = {"images": [{"id": 1, "im_name": "a_leftImg8bit.png", "height": 1024, "width": 2048}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "ignore": 0,
                             "bbox": [100, 100, 40, 100], "vis_bbox": [100, 100, 40, 100], "height": 100,
                             "vis_ratio": 1.0}],
            "categories": [{"id": 1, "name": "pedestrian"}]}


@pytest.mark.parametrize("score", [lambda s: [s], lambda s: [[s]], lambda s: [round(1 - s, 3), s]],
                         ids=["one", "nested", "pair"])
@pytest.mark.parametrize("protocol", ["crowdhuman", "citypersons"])
def test_a_score_given_as_a_list_in_every_detection_is_refused(tmp_path, capsys, protocol, score):
    if protocol == "crowdhuman":
        gt = _write(tmp_path / "gt.odgt", json.dumps(_GT_ODGT) + "\n")
        dt = _write(tmp_path / "dt.odgt", json.dumps(
            {"ID": "a", "width": 640, "height": 480,
             "dtboxes": [{"box": b, "score": score(s), "tag": "person"} for b, s in _DT_BOXES]}) + "\n")
        where = r"line 1 \(image 'a'\): dtboxes 0"
    else:
        gt = _write(tmp_path / "gt.json", json.dumps(_COCO_GT))
        dt = _write(tmp_path / "dt.json", json.dumps(
            [{"image_id": 1, "category_id": 1, "bbox": b, "score": score(s)} for b, s in _DT_BOXES]))
        where = "detection in image 1"
    assert evaluation.main(["--protocol", protocol, "--gt", gt, "--dt", dt]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {dt}: ") and err.count("\n") == 1, err
    assert f"'score' is a list ({json.dumps(score(0.9))})" in err and "not a number" in err, err
    assert re.search(where, err), err
