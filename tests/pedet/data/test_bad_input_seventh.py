"""
Seventh bad-input trial of the data side (issue 11): the synthetic generator run again into the same --out with fewer
images (the images of the larger run stayed in Images/, in no annotation file); a COCO-style file (TJU-Ped,
CityPersons) with two image entries for one image file (each record held part of the picture's boxes: a training
image with unlabelled persons, without a word).
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_citypersons_json, load_tju_ped
from pedet.data import synthetic as syn
from pedet.data.common import DatasetFormatError


def _run(out, num_images, split="val"):
    assert syn.main(["--out", str(out), "--split", split, "--num-images", str(num_images), "--size", "64", "80", "--persons-per-image", "1", "2",
                     "--seed", "3"]) == 0


def test_fewer_images_into_the_same_out_leaves_no_stale_image(tmp_path):
    out = tmp_path / "set"
    _run(out, 4)
    (out / "Images" / "notes.txt").write_text("mine")  # not a name the generator writes: stays
    (out / "Images" / "val_12.jpg").write_bytes(b"x")  # not f"val_{i:06d}": stays
    _run(out, 2)
    assert sorted(os.listdir(out / "Images")) == ["notes.txt", "val_000000.jpg", "val_000001.jpg", "val_12.jpg"]
    with open(out / "annotation_val.odgt") as f:
        assert len(f.readlines()) == 2
    _run(out, 3, "train")  # another split's images are not this split's surplus
    assert sorted(os.listdir(out / "Images")) == ["notes.txt", "train_000000.jpg", "train_000001.jpg",
                                                  "train_000002.jpg", "val_000000.jpg", "val_000001.jpg", "val_12.jpg"]


@pytest.mark.parametrize("loader", ["tju", "citypersons"])
def test_two_image_entries_for_one_image_file_are_an_error(tmp_path, loader):
    name = "c_000000_000001_leftImg8bit.png" if loader == "citypersons" else "a.jpg"
    folder = tmp_path / ("c" if loader == "citypersons" else "")
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(folder / name)
    key = "im_name" if loader == "citypersons" else "file_name"
    images = [{"id": 1, key: name, "height": 80, "width": 100}, {"id": 2, key: name, "height": 80, "width": 100}]
    box = {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 40], "vis_bbox": [10, 10, 20, 40], "ignore": 0}
    data = {"images": images, "annotations": [dict(box, id=1), dict(box, id=2, image_id=2)],
            "categories": [{"id": 1, "name": "pedestrian"}]}
    (tmp_path / "gt.json").write_text(json.dumps(data))
    load = load_citypersons_json if loader == "citypersons" else load_tju_ped
    with pytest.raises(DatasetFormatError, match=rf"gt.json: images\[1\] \(id 2\): image file '.*{name}' is also the "
                                                 r"file of images\[0\] \(id 1\); one image needs one entry$"):
        load(str(tmp_path / "gt.json"), str(tmp_path))
    data["images"][1][key] = name.replace("1_left", "2_left").replace("a.jpg", "b.jpg")  # two files: both load
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(folder / data["images"][1][key])
    (tmp_path / "gt.json").write_text(json.dumps(data))
    assert [len(d["annotations"]) for d in load(str(tmp_path / "gt.json"), str(tmp_path))] == [1, 1]
