import json
import os
import shutil

import pytest

from pedet.data.tju import is_ignore, load_tju_ped

from .conftest import fixture_root

TJ = os.path.join(fixture_root("tju"), "TJU-DHD")


def _paths(scene, split):
    return (os.path.join(TJ, "dhd_pedestrian", f"ped_{scene}", "annotations", f"dhd_pedestrian_{scene}_{split}.json"),
            os.path.join(TJ, f"dhd_{scene}", "images", split))


def test_load_tju_ped_campus_reads_citypersons_style_fields():
    dicts = load_tju_ped(*_paths("campus", "train"))
    assert [d["image_id"] for d in dicts] == [1, 2]
    assert (dicts[0]["height"], dicts[0]["width"]) == (60, 80)
    annos = dicts[0]["annotations"]
    assert [a["category_id"] for a in annos] == [0, -1]  # second box has "ignore": 1
    assert annos[0]["vis_bbox"] == [10.0, 5.0, 15.0, 20.0] and annos[0]["vis_ratio"] == 0.5
    assert annos[0]["label"] == "pedestrian"
    assert dicts[1]["annotations"] == []  # image with no person


def test_load_tju_ped_traffic_bare_coco_box_is_fully_visible_and_unclipped():
    dicts = load_tju_ped(*_paths("traffic", "val"))
    ann = dicts[1]["annotations"][0]
    assert ann["bbox"] == [60.0, 10.0, 30.0, 45.0]  # 60 + 30 = 90 > 80 kept
    assert ann["vis_bbox"] == ann["bbox"] and ann["vis_ratio"] == 1.0 and ann["height"] == 45.0


def test_is_ignore_flags_and_ignore_categories():
    assert is_ignore({"iscrowd": 1}, {"name": "pedestrian"})
    assert is_ignore({"ignore": 1}, {"name": "pedestrian"})
    assert is_ignore({}, {"name": "Ignore Region"})
    assert not is_ignore({"ignore": 0, "iscrowd": 0}, {"name": "pedestrian"})


def test_load_tju_ped_annotation_of_unknown_image_is_an_error(tmp_path):
    json_file, images = _paths("campus", "val")
    data = json.load(open(json_file))
    data["annotations"][0]["image_id"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{bad}: annotations\[0\] \(id 1\): 'image_id' 99 does not name an image"):
        load_tju_ped(str(bad), images)


def test_load_tju_ped_missing_image_names_the_path(tmp_path):
    json_file, images = _paths("campus", "val")
    shutil.copytree(images, tmp_path / "img")
    os.remove(tmp_path / "img" / "campus_val_0002.jpg")
    with pytest.raises(FileNotFoundError, match=f"image not found: '{tmp_path / 'img' / 'campus_val_0002.jpg'}'"):
        load_tju_ped(json_file, str(tmp_path / "img"))
