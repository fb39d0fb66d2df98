import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from detectron2.data.detection_utils import read_image
from detectron2.structures import BoxMode
from pedet.data.common import DatasetFormatError, image_size_from_header
from pedet.data.crowdhuman import load_crowdhuman_odgt

from .conftest import fixture_root

ROOT = os.path.join(fixture_root("crowdhuman"), "CrowdHuman")
TRAIN = os.path.join(ROOT, "annotation_train.odgt")
IMAGES = os.path.join(ROOT, "Images")
PERSON = {"tag": "person", "fbox": [1, 2, 10, 20], "vbox": [1, 2, 10, 20], "hbox": [3, 2, 4, 4],
          "extra": {"box_id": 0, "occ": 0}, "head_attr": {"ignore": 0, "occ": 0, "unsure": 0}}


def _write_odgt(tmp_path, lines, image_ids=("a",)):
    """An odgt file in tmp_path with raw text `lines`, plus 32 x 24 images for `image_ids`."""
    os.makedirs(tmp_path / "Images", exist_ok=True)
    for image_id in image_ids:
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "Images" / f"{image_id}.jpg")
    path = tmp_path / "annotation.odgt"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path), str(tmp_path / "Images")


def test_load_crowdhuman_odgt_fixture_boxes_are_unclipped_with_ignore_as_minus_one():
    dicts = load_crowdhuman_odgt(TRAIN, IMAGES)
    assert [d["image_id"] for d in dicts] == ["273271,c9db000d5146c15", "273275,4e9d1000623d5e0b",
                                             "283554,35288000868e92d4"]
    first = dicts[0]
    assert (first["height"], first["width"]) == (48, 64)  # from the JPEG header; the official odgt has no size
    assert first["file_name"] == os.path.join(IMAGES, "273271,c9db000d5146c15.jpg")
    annos = first["annotations"]
    # person, person with extra.ignore = 1, tag "mask", person
    assert [a["category_id"] for a in annos] == [0, -1, -1, 0]
    assert [a["ignore"] for a in annos] == [0, 1, 1, 0]
    assert all(a["iscrowd"] == 0 and a["bbox_mode"] == BoxMode.XYWH_ABS for a in annos)
    assert annos[0]["bbox"] == [-5.0, 4.0, 20.0, 40.0]  # x < 0 kept: the evaluator needs the original fbox
    assert annos[3]["bbox"] == [50.0, 20.0, 20.0, 40.0]  # x + w = 70 > 64, y + h = 60 > 48 kept too
    assert annos[0]["vis_bbox"] == [0.0, 4.0, 15.0, 30.0]
    assert annos[0]["head_bbox"] == [2.0, 4.0, 8.0, 8.0]
    # visible 15 x 30 = 450 inside the full 20 x 40 = 800 -> 0.5625
    assert annos[0]["vis_ratio"] == pytest.approx(0.5625)
    assert annos[0]["height"] == 40.0
    assert annos[2]["label"] == "mask"


def test_load_crowdhuman_odgt_image_with_no_person_has_empty_annotations():
    assert load_crowdhuman_odgt(TRAIN, IMAGES)[1]["annotations"] == []


def test_load_crowdhuman_odgt_image_with_only_ignore_boxes():
    annos = load_crowdhuman_odgt(TRAIN, IMAGES)[2]["annotations"]
    assert [a["category_id"] for a in annos] == [-1, -1]


def test_load_crowdhuman_odgt_malformed_line_names_file_and_line(tmp_path):
    good = json.dumps({"ID": "a", "gtboxes": [PERSON]})
    odgt, images = _write_odgt(tmp_path, [good, '{"ID": "b", "gtboxes": [}'])
    with pytest.raises(DatasetFormatError, match=f"{odgt}:2: malformed JSON"):
        load_crowdhuman_odgt(odgt, images)


def test_load_crowdhuman_odgt_line_without_gtboxes_names_file_and_line(tmp_path):
    odgt, images = _write_odgt(tmp_path, ['{"ID": "a"}'])
    with pytest.raises(DatasetFormatError, match=f"{odgt}:1: expected an object with 'ID' and a 'gtboxes' list"):
        load_crowdhuman_odgt(odgt, images)


def test_load_crowdhuman_odgt_box_that_is_not_four_numbers_names_line(tmp_path):
    line = json.dumps({"ID": "a", "gtboxes": [dict(PERSON, fbox=[1, 2, 3])]})
    odgt, images = _write_odgt(tmp_path, [line])
    with pytest.raises(DatasetFormatError, match=f"{odgt}:1: 'fbox' must be a list of 4 numbers"):
        load_crowdhuman_odgt(odgt, images)


def test_load_crowdhuman_odgt_missing_image_names_the_path(tmp_path):
    odgt, images = _write_odgt(tmp_path, [json.dumps({"ID": "missing", "gtboxes": []})], image_ids=())
    with pytest.raises(FileNotFoundError, match=f"image not found: '{os.path.join(images, 'missing.jpg')}'"):
        load_crowdhuman_odgt(odgt, images)


def test_load_crowdhuman_odgt_duplicate_id_is_an_error(tmp_path):
    line = json.dumps({"ID": "a", "gtboxes": [PERSON]})
    odgt, images = _write_odgt(tmp_path, [line, line])
    with pytest.raises(DatasetFormatError, match=f"{odgt}:2: duplicate image id 'a' \\(first at {odgt}:1\\)"):
        load_crowdhuman_odgt(odgt, images)


def test_load_crowdhuman_odgt_drops_degenerate_boxes_with_one_counted_warning(tmp_path, caplog):
    boxes = [
        dict(PERSON, fbox=[1, 2, 0, 20]),  # zero width
        dict(PERSON, fbox=[1, 2, 10, -5]),  # negative height
        dict(PERSON, fbox=[40, 2, 10, 20]),  # x >= 32: entirely right of the 32 x 24 image
        dict(PERSON, fbox=[-10, 2, 10, 20]),  # x + w = 0: touches the left border only
        PERSON,
    ]
    odgt, images = _write_odgt(tmp_path, [json.dumps({"ID": "a", "gtboxes": boxes})])
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        dicts = load_crowdhuman_odgt(odgt, images, dataset_name="tiny")
    assert [a["bbox"] for a in dicts[0]["annotations"]] == [[1.0, 2.0, 10.0, 20.0]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "tiny: dropped 4 box(es) (2 of zero or negative size, 2 entirely outside the image)" in warnings[0]


def test_load_crowdhuman_odgt_checks_width_height_of_the_line_against_the_image(tmp_path):
    # the image on disk is 32 x 24; a line that states another size is an error (it was trusted: boxes were dropped
    # as "outside the image" by the wrong size, and training stopped only when the mapper read the image)
    odgt, images = _write_odgt(tmp_path, [json.dumps({"ID": "a", "gtboxes": [], "width": 32, "height": 24})])
    d = load_crowdhuman_odgt(odgt, images)[0]
    assert (d["height"], d["width"]) == (24, 32)
    odgt, images = _write_odgt(tmp_path, [json.dumps({"ID": "a", "gtboxes": [], "width": 320, "height": 240})])
    with pytest.raises(DatasetFormatError, match=r"annotation.odgt:1: image '.*a.jpg' is 32x24 pixels \(width x "
                                                 r"height\), the annotation says 320x240$"):
        load_crowdhuman_odgt(odgt, images)


def test_image_size_from_header_applies_exif_rotation_like_read_image(tmp_path):
    path = str(tmp_path / "rotated.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW": a 32 x 24 (W x H) file is shown 24 wide, 32 high
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(path, exif=exif)
    assert image_size_from_header(path) == (32, 24)
    assert read_image(path, "BGR").shape[:2] == (32, 24)
