"""
Eighth bad-input trial of the data side (issue 11): the wrong data set's file given to a loader. A CityPersons
val_gt.json (images named by 'im_name') given to the TJU-Ped loader crashed with KeyError: 'file_name'.
"""
import json

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_citypersons_json, load_tju_ped
from pedet.data.common import DatasetFormatError

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
