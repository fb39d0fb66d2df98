"""
Twenty-second bad-input trial (issue 11), aimed at the code added since the twenty-first: caltech2coco, the box-level
'ignore' / 'iscrowd' checks, the JI score-range and category warnings, coco2odgt's category choice, the new config
refusals. The cases that fit a table are in tests/pedet/evaluation/test_bad_input_fresh.py; these are the others:

- ``coco2odgt`` on a COCO file with one category not named as a person (e.g. only 'car') turned its boxes into
  person boxes without a word; now a warning names the category (``--category`` says so on purpose).
- ``python -m pedet.evaluation --protocol citypersons``: an annotation with ``iscrowd`` 1 and no ``ignore`` key was
  announced as having "'ignore' 0" (the data loader's warning says "absent").
- A caltech2coco file (vis_bbox [0, 0, 0, 0] = not occluded) registered as a CityPersons COCO-style set: read as
  visibility 0, its unoccluded pedestrians left every evaluation setup without a word (the command's case is in the
  fresh table).
"""
import json
import logging

import pytest

from pedet.data import load_citypersons_json
from pedet.data.common import DatasetFormatError
from pedet.data.convert import main as convert_main

from .data.conftest import write_file, write_image
from .evaluation.test_bad_input import CP_GT, _mut, _run


def _coco(tmp_path, name: str):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0}],
        "categories": [{"id": 1, "name": name}],
    }))
    return path


@pytest.mark.parametrize("name,args,warned", [
    ("car", [], True),  # was converted to person boxes in silence
    ("Pedestrian", [], False),
    ("person", [], False),
    ("car", ["--category", "car"], False),  # said on purpose
])
def test_coco2odgt_names_an_only_category_that_is_not_a_person(tmp_path, caplog, name, args, warned):
    out = tmp_path / "gt.odgt"
    with caplog.at_level(logging.WARNING, logger="pedet.data.convert"):
        assert convert_main(["coco2odgt", str(_coco(tmp_path, name)), str(out), *args]) == 0
    assert [json.loads(line)["gtboxes"][0]["tag"] for line in out.read_text().splitlines()] == ["person"]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if warned:
        assert messages == [f"{tmp_path / 'gt.json'}: the only category, {name!r} (id 1), is taken as the person "
                            f"category: its boxes become 'person' boxes (pass --category {name} to say so)"]
    else:
        assert messages == []


def test_evaluator_names_iscrowd_without_an_ignore_key_as_absent(tmp_path, capsys):
    gt = _mut(_mut(CP_GT, ["annotations", 0, "iscrowd"], 1), ["annotations", 0, "ignore"])
    rc, err, gt_file, _ = _run(tmp_path, capsys, "citypersons", json.dumps(gt), None, [])
    assert rc == 0 and "Traceback" not in err
    assert (f"warning: {gt_file}: 1 of 1 annotation(s) have 'iscrowd' 1 but 'ignore' absent: regular pedestrians "
            "(the official script reads 'ignore' only; pedet's data loader makes them ignore regions); first: "
            "annotation 1 (image 1)") in err.splitlines()


def test_citypersons_loader_refuses_a_caltech2coco_file_and_reads_its_own_zero_visible_boxes(tmp_path, capsys):
    frame = "set06_V000_I00029"
    write_file(tmp_path / "anno" / f"{frame}.txt", "% bbGt version=3\nperson 10 10 40 100 0 0 0 0 0 0 0\n")
    write_image(tmp_path / "set06" / f"{frame}.jpg", 480, 640)  # where the CityPersons loader looks (<city>/<name>)
    gt = tmp_path / "test_gt.json"
    assert convert_main(["caltech2coco", str(tmp_path / "anno"), str(gt), "--image-root", str(tmp_path / "set06")]) == 0
    with pytest.raises(DatasetFormatError, match=r"annotations\[0\] \(id 1\): 'label' 'person' with 'vis_bbox' "
                                                 r"\[0, 0, 0, 0\] and no 'vis_ratio' is a Caltech ground truth"):
        load_citypersons_json(str(gt), str(tmp_path))
    coco = json.loads(gt.read_text())
    for key, value in (("vis_ratio", 0.0), ("ignore", 1)):  # a visibility said outright, or an ignore region: read
        write_file(gt, json.dumps(_mut(coco, ["annotations", 0, key], value)))
        (ann,) = load_citypersons_json(str(gt), str(tmp_path))[0]["annotations"]
        assert (ann["vis_ratio"], ann["ignore"]) == (0.0, key == "ignore")
