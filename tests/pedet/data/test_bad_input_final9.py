"""
Ninth "second person" data trial of issue 11, on the final tree.

- An image id that is an empty string in a ground truth (a CrowdHuman line's ``"ID": ""``, a COCO-style image's
  ``"id": ""``) was evaluated by ``python -m pedet.evaluation`` as an image of that name, while pedet's data loaders
  refuse it ("'ID' must be a non-empty string"): the command and the loaders read a file by the same rules. With a
  detection file of real names the command blamed the detection file ("image id 'a' is not in the ground truth").
  Each is now one error naming the ground-truth file and the record.
"""
import json

import pytest

from pedet.evaluation import __main__ as evaluation

from .conftest import write_file as _write

_BOX = {"bbox": [100, 100, 40, 100], "vis_bbox": [0, 0, 0, 0], "category_id": 1}
_CASES = {
    "crowdhuman": ("gt.odgt", json.dumps({"ID": "", "width": 640, "height": 480,
                                          "gtboxes": [{"tag": "person", "fbox": [100, 100, 40, 100]}]}) + "\n",
                   "dt.odgt", json.dumps({"ID": "", "dtboxes": [{"box": [100, 100, 40, 100], "score": 0.9}]}) + "\n",
                   "line 1: 'ID' is an empty string, not an image name"),
    "citypersons": ("gt.json", json.dumps({"images": [{"id": "", "im_name": "a_leftImg8bit.png", "height": 1024,
                                                       "width": 2048}],
                                           "annotations": [dict(_BOX, id=1, image_id="", ignore=0, height=100,
                                                                vis_bbox=[100, 100, 40, 100], vis_ratio=1.0)],
                                           "categories": [{"id": 1, "name": "pedestrian"}]}),
                    "dt.json", json.dumps([{"image_id": "", "category_id": 1, "bbox": [100, 100, 40, 100],
                                            "score": 0.9}]),
                    "image 0: 'id' is an empty string, not an image id"),
    "caltech": ("gt.json", json.dumps({"images": [{"id": "", "file_name": ".jpg", "height": 480, "width": 640}],
                                       "annotations": [dict(_BOX, id=1, image_id="", label="person")],
                                       "categories": [{"id": 1, "name": "person"}]}),
                "dt.json", json.dumps([{"image_id": "", "category_id": 1, "bbox": [100, 100, 40, 100],
                                        "score": 0.9}]),
                "image 0: 'id' is an empty string, not an image id"),
}


@pytest.mark.parametrize("protocol", sorted(_CASES))
def test_an_empty_image_id_in_the_ground_truth_is_refused_as_by_the_loaders(tmp_path, capsys, protocol):
    gt_name, gt_text, dt_name, dt_text, message = _CASES[protocol]
    gt, dt = _write(tmp_path / gt_name, gt_text), _write(tmp_path / dt_name, dt_text)
    assert evaluation.main(["--protocol", protocol, "--gt", gt, "--dt", dt]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {gt}: {message}\n", err

