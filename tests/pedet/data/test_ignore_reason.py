"""
Why a CityPersons box is ignored (pedet.data.citypersons.ignore_reason) and the mapper's `ignored_person` flag: the
persons left out of training only for height or visibility are told apart from riders, groups and ignore regions.
A hand-built per-image file on the 128 x 64 fixture image.
"""
import json
import os
import shutil

import pytest

from pedet.data.citypersons import ignore_reason, is_positive, load_citypersons_per_image
from pedet.data.mapper import PedestrianDatasetMapper, split_ignore_instances

from .conftest import fixture_root

CITY = os.path.join(fixture_root("citypersons"), "cityscapes")
STEM = "lindau_000000_000019"

# (label, bbox, bboxVis), XYWH on the 128 x 64 image; train rule "reasonable": height >= 50, visibility >= 0.65
OBJECTS = [
    ("pedestrian", [4, 2, 20, 60], [4, 2, 20, 60]),  # h 60, vis 1 -> positive
    ("pedestrian", [30, 20, 10, 30], [30, 20, 10, 30]),  # h 30 < 50 -> "height"
    ("pedestrian", [50, 2, 22, 55], [50, 2, 22, 20]),  # vis 20 / 55 = 0.36 < 0.65 -> "visibility"
    ("pedestrian", [80, 30, 10, 25], [80, 30, 10, 5]),  # h 25, vis 0.2 -> "height,visibility"
    ("rider", [95, 2, 20, 58], [95, 2, 20, 58]),  # "label"
    ("ignore", [110, 0, 18, 64], [110, 0, 18, 64]),  # "label"
]


@pytest.fixture
def split(tmp_path):
    os.makedirs(tmp_path / "gt" / "lindau")
    os.makedirs(tmp_path / "img" / "lindau")
    shutil.copy(os.path.join(CITY, "leftImg8bit", "val", "lindau", f"{STEM}_leftImg8bit.png"), tmp_path / "img" / "lindau")
    objects = [{"label": lab, "bbox": box, "bboxVis": vis, "instanceId": i} for i, (lab, box, vis) in enumerate(OBJECTS)]
    (tmp_path / "gt" / "lindau" / f"{STEM}_gtBboxCityPersons.json").write_text(
        json.dumps({"imgHeight": 64, "imgWidth": 128, "objects": objects}))
    return str(tmp_path / "gt"), str(tmp_path / "img")


def test_ignore_reason_names_what_the_train_rule_failed():
    assert ignore_reason("pedestrian", 50.0, 0.65, "reasonable") is None  # inclusive thresholds
    assert ignore_reason("pedestrian", 49.9, 0.65, "reasonable") == "height"
    assert ignore_reason("pedestrian", 50.0, 0.64, "reasonable") == "visibility"
    assert ignore_reason("pedestrian", 30.0, 0.45, "lenient") is None
    assert ignore_reason("pedestrian", 29.0, 0.44, "lenient") == "height,visibility"
    assert ignore_reason("rider", 200.0, 1.0, "reasonable") == "label"
    assert ignore_reason("pedestrian", 5.0, 0.0, None) is None  # evaluation: every pedestrian is a positive
    assert is_positive("pedestrian", 60.0, 1.0, "reasonable") and not is_positive("sitting person", 60, 1, None)


def test_loader_keeps_the_ignore_reason(split):
    (record,) = load_citypersons_per_image(*split, rule="reasonable")
    anns = record["annotations"]
    assert [a["ignore"] for a in anns] == [0, 1, 1, 1, 1, 1]
    assert [a.get("ignore_reason") for a in anns] == [None, "height", "visibility", "height,visibility", "label",
                                                      "label"]


def test_mapper_flags_the_persons_ignored_for_size_or_occlusion(split):
    (record,) = load_citypersons_per_image(*split, rule="reasonable")
    out = PedestrianDatasetMapper(True, augmentations=[], image_format="BGR")(record)
    inst = out["instances"]
    assert inst.gt_classes.tolist() == [0, -1, -1, -1, -1, -1]
    assert inst.ignored_person.tolist() == [False, True, True, True, False, False]
    valid, ignore = split_ignore_instances(inst)
    assert ignore.ignored_person.tolist() == [True, True, True, False, False] and not valid.ignored_person.any()


def test_mapper_flags_nothing_without_ignore_reasons(split):
    (record,) = load_citypersons_per_image(*split, rule=None)  # evaluation rule: reasons are all "label"
    inst = PedestrianDatasetMapper(True, augmentations=[], image_format="BGR")(record)["instances"]
    assert inst.gt_classes.tolist() == [0, 0, 0, 0, -1, -1] and not inst.ignored_person.any()
