import json
import os
import shutil

import pytest

from pedet.data.citypersons import is_positive, load_citypersons_json, load_citypersons_per_image
from pedet.data.common import DatasetFormatError

from .conftest import fixture_root

CS = os.path.join(fixture_root("citypersons"), "cityscapes")
GT = os.path.join(CS, "gtBboxCityPersons")
IMG = os.path.join(CS, "leftImg8bit")


def _categories(dicts, image_id):
    return [a["category_id"] for d in dicts if d["image_id"] == image_id for a in d["annotations"]]


def test_is_positive_reasonable_and_lenient_thresholds_are_inclusive():
    assert is_positive("pedestrian", 50.0, 0.65, "reasonable")  # h >= 50 and vis >= 0.65, both ends included
    assert not is_positive("pedestrian", 49.9, 1.0, "reasonable")
    assert not is_positive("pedestrian", 80.0, 0.64, "reasonable")
    assert is_positive("pedestrian", 30.0, 0.45, "lenient")
    assert not is_positive("pedestrian", 29.9, 1.0, "lenient")
    assert is_positive("pedestrian", 5.0, 0.0, None)  # evaluation: every pedestrian, the evaluator applies setups
    assert not is_positive("rider", 100.0, 1.0, None)


def test_is_positive_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown CityPersons train rule 'strict'"):
        is_positive("pedestrian", 60.0, 1.0, "strict")


def test_load_citypersons_per_image_train_rules():
    # aachen_000000_000019: pedestrian h 56 vis 1 | pedestrian h 40 vis 1 | pedestrian h 60 vis 0.5 | rider | ignore
    reasonable = load_citypersons_per_image(os.path.join(GT, "train"), os.path.join(IMG, "train"), "reasonable")
    lenient = load_citypersons_per_image(os.path.join(GT, "train"), os.path.join(IMG, "train"), "lenient")
    assert _categories(reasonable, "aachen_000000_000019") == [0, -1, -1, -1, -1]
    assert _categories(lenient, "aachen_000000_000019") == [0, 0, 0, -1, -1]


def test_load_citypersons_per_image_fields():
    dicts = load_citypersons_per_image(os.path.join(GT, "train"), os.path.join(IMG, "train"), "reasonable")
    assert [d["image_id"] for d in dicts] == ["aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"]
    d = dicts[0]
    assert d["file_name"] == os.path.join(IMG, "train", "aachen", "aachen_000000_000019_leftImg8bit.png")
    assert (d["height"], d["width"]) == (64, 128)
    ann = d["annotations"][2]
    assert ann["bbox"] == [60.0, 2.0, 24.0, 60.0] and ann["vis_bbox"] == [60.0, 2.0, 24.0, 30.0]
    assert ann["vis_ratio"] == pytest.approx(0.5)  # 24 * 30 / (24 * 60)
    assert ann["height"] == 60.0 and ann["label"] == "pedestrian"
    assert dicts[1]["annotations"] == []  # image with no person
    assert _categories(dicts, "bochum_000000_000313") == [-1, -1]  # person group + sitting person: all ignore


def test_load_citypersons_json_takes_ignore_height_and_vis_ratio_from_the_file():
    dicts = load_citypersons_json(os.path.join(GT, "val_gt.json"), os.path.join(IMG, "val"))
    assert [d["image_id"] for d in dicts] == [1, 2]
    assert dicts[0]["file_name"] == os.path.join(IMG, "val", "frankfurt", "frankfurt_000000_000294_leftImg8bit.png")
    annos = dicts[0]["annotations"]
    assert [a["category_id"] for a in annos] == [0, -1]
    assert annos[0]["vis_ratio"] == 0.5 and annos[0]["height"] == 58.0
    assert annos[0]["vis_bbox"] == [20.0, 4.0, 25.0, 29.0]


def test_per_image_val_matches_val_gt_json():
    per_image = load_citypersons_per_image(os.path.join(GT, "val"), os.path.join(IMG, "val"))
    coco = load_citypersons_json(os.path.join(GT, "val_gt.json"), os.path.join(IMG, "val"))
    keys = ("bbox", "vis_bbox", "vis_ratio", "height", "ignore", "category_id")
    for a, b in zip(per_image, coco):
        assert a["file_name"] == b["file_name"]
        assert [[x[k] for k in keys] for x in a["annotations"]] == [[x[k] for k in keys] for x in b["annotations"]]


@pytest.fixture
def val_copy(tmp_path):
    """A writable copy of the val split: gtBboxCityPersons/val + leftImg8bit/val + val_gt.json."""
    shutil.copytree(os.path.join(GT, "val"), tmp_path / "gt")
    shutil.copytree(os.path.join(IMG, "val"), tmp_path / "img")
    shutil.copy(os.path.join(GT, "val_gt.json"), tmp_path / "val_gt.json")
    return tmp_path


def test_load_citypersons_per_image_malformed_json_names_file_and_line(val_copy):
    path = val_copy / "gt" / "lindau" / "lindau_000000_000019_gtBboxCityPersons.json"
    path.write_text('{"imgHeight": 64,\n "imgWidth": 128,\n "objects": [,]}')
    with pytest.raises(DatasetFormatError, match=f"{path}:3: malformed JSON"):
        load_citypersons_per_image(str(val_copy / "gt"), str(val_copy / "img"))


def test_load_citypersons_per_image_unknown_label_is_an_error(val_copy):
    path = val_copy / "gt" / "lindau" / "lindau_000000_000019_gtBboxCityPersons.json"
    path.write_text(json.dumps({"imgHeight": 64, "imgWidth": 128, "objects": [
        {"label": "cyclist", "bbox": [1, 1, 5, 10], "bboxVis": [1, 1, 5, 10], "instanceId": 1}]}))
    with pytest.raises(DatasetFormatError, match=r"objects\[0\]: unknown label 'cyclist'"):
        load_citypersons_per_image(str(val_copy / "gt"), str(val_copy / "img"))


def test_load_citypersons_per_image_missing_image_names_the_path(val_copy):
    image = val_copy / "img" / "lindau" / "lindau_000000_000019_leftImg8bit.png"
    os.remove(image)
    with pytest.raises(FileNotFoundError, match=f"image not found: '{image}'"):
        load_citypersons_per_image(str(val_copy / "gt"), str(val_copy / "img"))


def test_load_citypersons_json_duplicate_image_id_is_an_error(val_copy):
    data = json.loads((val_copy / "val_gt.json").read_text())
    data["images"][1]["id"] = 1
    (val_copy / "val_gt.json").write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=r"images\[1\]: duplicate image id 1"):
        load_citypersons_json(str(val_copy / "val_gt.json"), str(val_copy / "img"))


def test_load_citypersons_json_drops_degenerate_box(val_copy):
    data = json.loads((val_copy / "val_gt.json").read_text())
    data["annotations"][0]["bbox"] = [20, 4, 0, 58]  # zero width
    (val_copy / "val_gt.json").write_text(json.dumps(data))
    dicts = load_citypersons_json(str(val_copy / "val_gt.json"), str(val_copy / "img"))
    assert [len(d["annotations"]) for d in dicts] == [1, 1]  # 2 - 1 dropped, 1
