"""
Sixth bad-input trial of the data side (issue 11): citypersons2coco given one of its own input files as the output
(it replaced a ground-truth file), and two COCO-style CityPersons readings where pedet's loader and
``python -m pedet.evaluation`` gave different ground truth without a word: annotations of a category other than 1
(the loader read them as pedestrians, the command left them out as the official script does) and the visibility of
a visible box reaching outside its full box (derived as above 1 by the command, clipped to 1 by the loader).
"""
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_citypersons_json
from pedet.data.convert import main as convert
from pedet.evaluation.io import read_coco_gt

PED = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 40], "vis_bbox": [10, 10, 20, 40], "ignore": 0}
IMAGE = {"id": 1, "im_name": "c_000000_000001_leftImg8bit.png", "height": 80, "width": 100}


def _citypersons(tmp_path, annotations, categories=None):
    """A COCO-style CityPersons file of one 100 x 80 image with `annotations`, and its image folder."""
    path = tmp_path / "gt.json"
    data = {"images": [IMAGE], "annotations": annotations}
    if categories is not None:
        data["categories"] = categories
    path.write_text(json.dumps(data))
    os.makedirs(tmp_path / "img" / "c", exist_ok=True)
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(tmp_path / "img" / "c" / IMAGE["im_name"])
    return str(path), str(tmp_path / "img")


def test_citypersons2coco_refuses_to_write_over_one_of_its_inputs(tmp_path, capsys):
    per_image = tmp_path / "val" / "c" / "c_000000_000001_gtBboxCityPersons.json"
    os.makedirs(per_image.parent)
    text = json.dumps({"imgHeight": 80, "imgWidth": 100, "objects": [
        {"label": "pedestrian", "bbox": [10, 10, 20, 40], "bboxVis": [10, 10, 20, 40]}]})
    per_image.write_text(text)
    with pytest.raises(SystemExit) as e:
        convert(["citypersons2coco", str(tmp_path / "val"), str(per_image)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"error: the output is one of the input files ({per_image}); give another path" in err
    assert per_image.read_text() == text  # before: replaced by the COCO file
    assert convert(["citypersons2coco", str(tmp_path / "val"), str(tmp_path / "val" / "val_gt.json")]) == 0


@pytest.mark.parametrize("categories", [None, [{"id": 1, "name": "pedestrian"}, {"id": 2, "name": "rider"}]])
def test_citypersons_annotations_of_another_category_are_left_out_as_by_the_command(tmp_path, caplog, categories):
    rider = dict(PED, id=2, category_id=2, bbox=[50, 10, 20, 40], vis_bbox=[50, 10, 20, 40])
    gt, img = _citypersons(tmp_path, [PED, rider], categories)
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        dicts = load_citypersons_json(gt, img)
    assert [a["bbox"] for a in dicts[0]["annotations"]] == [[10.0, 10.0, 20.0, 40.0]]  # before: the rider too
    assert f"{gt}: left out 1 annotation(s) of a category other than 1" in caplog.text
    assert "annotations[1] (id 2): category_id 2" in caplog.text
    with pytest.warns(UserWarning, match="1 of 2 annotations have category_id 2"):
        assert read_coco_gt(gt).boxes.tolist() == [[10.0, 10.0, 20.0, 40.0]]


def test_visibility_of_a_visible_box_reaching_outside_the_full_box_is_one_value(tmp_path):
    # the visible box covers the full box and more: visibility 1 (the command derived 80 * 60 / (20 * 40) = 6)
    ped = {k: v for k, v in PED.items() if k != "vis_ratio"}
    gt, img = _citypersons(tmp_path, [dict(ped, vis_bbox=[0, 0, 80, 60]),
                                      dict(ped, id=2, bbox=[50, 10, 20, 40], vis_bbox=[60, 10, 20, 40])])
    loaded = [a["vis_ratio"] for a in load_citypersons_json(gt, img)[0]["annotations"]]
    assert loaded == [1.0, 0.5]
    assert read_coco_gt(gt).vis_ratios.tolist() == loaded
