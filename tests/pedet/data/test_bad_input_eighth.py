"""
Eighth bad-input trial of the data side (issue 11): the wrong data set's file given to a loader: a CityPersons
val_gt.json (images named by 'im_name') given to the TJU-Ped loader crashed with KeyError: 'file_name'; an output
inside the input folder: citypersons2coco wrote its COCO file as <split>/<city>/*_gtBboxCityPersons.json, which the
per-image loader and the next run then read as one of the split's images (and refused).
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_citypersons_json, load_tju_ped
from pedet.data.common import DatasetFormatError
from pedet.data.convert import main as convert

NAME = "city_000000_000001_leftImg8bit.png"
VAL_GT = {"images": [{"id": 1, "im_name": NAME, "height": 24, "width": 32}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "ignore": 0}],
          "categories": [{"id": 1, "name": "pedestrian"}]}


def test_citypersons_val_gt_given_to_the_tju_loader_is_an_error_naming_the_record(tmp_path):
    (tmp_path / "city").mkdir()
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "city" / NAME)
    gt = tmp_path / "val_gt.json"
    gt.write_text(json.dumps(VAL_GT))
    with pytest.raises(DatasetFormatError, match=rf"^{gt}: images\[0\] \(id 1\): 'file_name' is missing \('im_name' is "
                                                 r"CityPersons' key: is this a CityPersons file\?\)$"):
        load_tju_ped(str(gt), str(tmp_path))
    # the same file is a good CityPersons file
    assert [a["bbox"] for a in load_citypersons_json(str(gt), str(tmp_path))[0]["annotations"]] == [[1, 2, 10, 20]]


@pytest.mark.parametrize("relative", [False, True])
def test_citypersons2coco_refuses_an_output_named_like_a_file_of_the_split(tmp_path, capsys, monkeypatch, relative):
    per_image = tmp_path / "val" / "c" / "c_000000_000001_gtBboxCityPersons.json"
    os.makedirs(per_image.parent)
    per_image.write_text(json.dumps({"imgHeight": 80, "imgWidth": 100, "objects": []}))
    out = tmp_path / "val" / "c" / "all_gtBboxCityPersons.JSON"  # not there yet; ".JSON" is listed too
    monkeypatch.chdir(tmp_path / "val" / "c")
    args = ["..", out.name] if relative else [str(tmp_path / "val"), str(out)]
    with pytest.raises(SystemExit) as e:
        convert(["citypersons2coco", *args])
    assert e.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"error: the output {args[1]} is named like a per-image file of {args[0]} (<city>/*_gtBboxCityPersons.json); "
        "the next run would read it as an image's file: write it outside the split folder\n")
    assert sorted(os.listdir(per_image.parent)) == [per_image.name]
    assert convert(["citypersons2coco", args[0], "val_gt.json" if relative else str(tmp_path / "val" / "c" / "x.json")
                    ]) == 0  # other names in a city folder are not read
