"""
Twentieth bad-input trial of the data side (issue 11): a CrowdHuman box that carries COCO's own 'ignore' /
'iscrowd' keys. The odgt rule reads an ignore box from 'tag' and 'extra.ignore' only; before, a box-level
"ignore": 1 on a "person" stayed a regular ground truth without a word. Flags that disagree with the rule are
errors (test_bad_input_fresh.py); flags that agree with it are read as before, by the loader and the evaluator alike.

Also a CityPersons COCO-style annotation with `iscrowd` 1 but `ignore` 0, which the loader reads as an ignore region
and the official evaluator as a pedestrian: now with a counted warning.
"""
import copy
import json
import logging

import pytest

from pedet.data import load_citypersons_json, load_crowdhuman_odgt
from pedet.evaluation.io import read_crowdhuman_gt

from .conftest import write_file as _write, write_image as _image
from .test_bad_input import COCO, _coco_tree, _warnings

AGREEING = [{"tag": "person", "fbox": [1, 2, 10, 20], "ignore": 0, "iscrowd": False},
            {"tag": "mask", "fbox": [12, 2, 10, 20], "iscrowd": 1},
            {"tag": "person", "fbox": [5, 2, 10, 20], "extra": {"ignore": 1}, "ignore": 1, "iscrowd": True}]


def test_box_level_flags_that_agree_with_the_odgt_rule_are_read_as_without_them(tmp_path):
    _image(str(tmp_path / "Images" / "a.jpg"))
    with_flags = _write(tmp_path / "with.odgt", json.dumps({"ID": "a", "gtboxes": AGREEING}) + "\n")
    plain = [{k: v for k, v in b.items() if k not in ("ignore", "iscrowd")} for b in AGREEING]
    without = _write(tmp_path / "without.odgt", json.dumps({"ID": "a", "gtboxes": plain}) + "\n")
    loaded = [load_crowdhuman_odgt(f, str(tmp_path / "Images"))[0]["annotations"] for f in (with_flags, without)]
    assert [a["category_id"] for a in loaded[0]] == [a["category_id"] for a in loaded[1]] == [0, -1, -1]
    evaluated = [read_crowdhuman_gt(f).ignore.tolist() for f in (with_flags, without)]
    assert evaluated[0] == evaluated[1] == [False, True, True]


@pytest.mark.parametrize("ignore", [0, "absent"])
def test_citypersons_json_iscrowd_without_ignore_is_an_ignore_region_with_a_counted_warning(tmp_path, caplog, ignore):
    """
    CityPersons COCO-style `iscrowd` 1 with `ignore` 0 (or none): the loader makes an ignore region, the official
    evaluator and `python -m pedet.evaluation` a pedestrian. Before, the loader did so without a word (and, with
    no `ignore`, even warned "counted as regular pedestrians"), so MissRateEvaluator on the registered file and the
    command on the same file gave other numbers silently.
    """
    data = copy.deepcopy(COCO)
    data["annotations"][0]["iscrowd"] = 1
    if ignore == "absent":
        del data["annotations"][0]["ignore"]
    gt, img = _coco_tree(tmp_path, json.dumps(data))
    with caplog.at_level(logging.WARNING):
        ann = load_citypersons_json(gt, img, dataset_name="cp")[0]["annotations"][0]
    assert ann["category_id"] == -1
    assert _warnings(caplog) == [
        f"cp: 1 annotation(s) have 'iscrowd' 1 but 'ignore' {ignore}: ignore regions here, while the official "
        f"evaluator and python -m pedet.evaluation read 'ignore' only and count them as pedestrians; first: {gt}: "
        f"annotation id 7 (image 1)"]
