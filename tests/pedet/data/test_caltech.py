import os
import shutil

import pytest

from pedet.data.caltech import caltech_visibility, load_caltech, read_bbgt_file
from pedet.data.common import DatasetFormatError

from .conftest import fixture_root

CA = os.path.join(fixture_root("caltech"), "Caltech")
TRAIN = os.path.join(CA, "annotations_new", "anno_train10x_alignedby_RotatedFilters")
TEST = os.path.join(CA, "annotations_new", "anno_test_1xnew")
IMAGES = os.path.join(CA, "images")


def test_caltech_visibility_follows_dollar_bbload():
    full = [0, 0, 10, 20]
    assert caltech_visibility(False, full, [0, 0, 5, 5]) == 1.0  # not occluded
    assert caltech_visibility(True, full, [0, 0, 0, 0]) == 1.0  # occluded but no visible box
    assert caltech_visibility(True, full, full) == 0.0  # occluded, visible box == full box
    assert caltech_visibility(True, full, [0, 0, 10, 10]) == pytest.approx(0.5)  # 100 / 200


def test_load_caltech_train_frames():
    dicts = load_caltech(TRAIN, IMAGES)
    assert [d["image_id"] for d in dicts] == ["set00_V000_I00002", "set00_V000_I00005"]
    d = dicts[0]
    assert d["file_name"] == os.path.join(IMAGES, "set00_V000_I00002.jpg")
    assert (d["height"], d["width"]) == (48, 64)
    annos = d["annotations"]
    assert [a["label"] for a in annos] == ["person", "person", "people"]
    assert [a["category_id"] for a in annos] == [0, 0, -1]  # "people" is an ignore region
    assert annos[1]["vis_bbox"] == [30.0, 8.0, 10.0, 15.0]
    assert annos[1]["vis_ratio"] == pytest.approx(0.6)  # 10 * 15 / (10 * 25)
    assert annos[1]["height"] == 25.0
    assert dicts[1]["annotations"] == []  # frame with no person


def test_load_caltech_test_frames_accept_jpg_txt_names_and_keep_boxes_unclipped():
    dicts = load_caltech(TEST, IMAGES)
    assert [d["image_id"] for d in dicts] == ["set06_V000_I00029", "set06_V000_I00059"]
    annos = dicts[0]["annotations"]
    assert annos[0]["bbox"] == [50.0, 10.0, 20.0, 40.0]  # 50 + 20 = 70 > 64 kept
    assert [a["category_id"] for a in annos] == [0, -1, -1]  # person | ignore | person? with ign = 1
    assert dicts[1]["annotations"][0]["vis_ratio"] == 0.0  # occluded, visible box == full box


@pytest.fixture
def test_copy(tmp_path):
    shutil.copytree(TEST, tmp_path / "anno")
    shutil.copytree(IMAGES, tmp_path / "images")
    return tmp_path


def test_read_bbgt_file_without_header_names_line_1(test_copy):
    path = test_copy / "anno" / "set06_V000_I00059.jpg.txt"
    path.write_text("person 5 5 10 20 0 0 0 0 0 0 0\n")
    with pytest.raises(DatasetFormatError, match=f"{path}:1: expected the header '% bbGt version=3'"):
        read_bbgt_file(str(path))


def test_read_bbgt_file_short_line_names_file_and_line(test_copy):
    path = test_copy / "anno" / "set06_V000_I00059.jpg.txt"
    path.write_text("% bbGt version=3\nperson 5 5 10 20 0 0 0 0 0 0 0\nperson 5 5 10\n")
    with pytest.raises(DatasetFormatError, match=f"{path}:3: expected 12 fields"):
        read_bbgt_file(str(path))


def test_load_caltech_missing_frame_names_the_path(test_copy):
    os.remove(test_copy / "images" / "set06_V000_I00059.jpg")
    with pytest.raises(FileNotFoundError, match=f"image not found: '{test_copy / 'images' / 'set06_V000_I00059.jpg'}'"):
        load_caltech(str(test_copy / "anno"), str(test_copy / "images"))


def test_load_caltech_duplicate_frame_is_an_error(test_copy):
    shutil.copy(test_copy / "anno" / "set06_V000_I00059.jpg.txt", test_copy / "anno" / "set06_V000_I00059.txt")
    with pytest.raises(DatasetFormatError, match="duplicate image id 'set06_V000_I00059'"):
        load_caltech(str(test_copy / "anno"), str(test_copy / "images"))


def test_load_caltech_drops_zero_size_box(test_copy):
    path = test_copy / "anno" / "set06_V000_I00059.jpg.txt"
    path.write_text("% bbGt version=3\nperson 5 5 0 20 0 0 0 0 0 0 0\nperson 5 5 10 20 0 0 0 0 0 0 0\n")
    dicts = load_caltech(str(test_copy / "anno"), str(test_copy / "images"))
    assert [a["bbox"] for a in dicts[1]["annotations"]] == [[5.0, 5.0, 10.0, 20.0]]
