"""
Fourth bad-input trial of the data side (issue 11): an annotation whose image size is not the image's, and a folder
given where an annotation file is expected. Before, every loader trusted the size a file states: boxes were dropped
as "outside the image" by the wrong size and training stopped only when the mapper read that image; odgt2coco
copied the wrong size into its output.
"""
import json
import re

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_citypersons_json, load_citypersons_per_image, load_crowdhuman_odgt, load_tju_ped
from pedet.data.common import DatasetFormatError, image_size_from_header
from pedet.data.convert import main as convert

from .conftest import write_file as _write, write_image as _image

PERSON = {"tag": "person", "fbox": [1, 2, 10, 10]}
COCO = {"images": [{"id": 7, "file_name": "c_000000_000001_leftImg8bit.png", "height": 48, "width": 64}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 2, 10, 10], "vis_ratio": 1.0,
                         "ignore": 0}],
        "categories": [{"id": 1, "name": "pedestrian"}]}


def _crowdhuman(tmp, size):
    _image(f"{tmp}/Images/a.jpg")
    odgt = _write(f"{tmp}/a.odgt", json.dumps({"ID": "a", "gtboxes": [PERSON], **size}) + "\n")
    return lambda: load_crowdhuman_odgt(odgt, f"{tmp}/Images"), f"{odgt}:1", f"{tmp}/Images/a.jpg"


def _citypersons_per_image(tmp, size):
    _image(f"{tmp}/img/c/c_000000_000001_leftImg8bit.png")
    gt = _write(f"{tmp}/gt/c/c_000000_000001_gtBboxCityPersons.json", json.dumps(
        {"imgHeight": size["height"], "imgWidth": size["width"], "objects": []}))
    return (lambda: load_citypersons_per_image(f"{tmp}/gt", f"{tmp}/img"), gt,
            f"{tmp}/img/c/c_000000_000001_leftImg8bit.png")


def _coco(loader, tmp, size):
    _image(f"{tmp}/img/c/c_000000_000001_leftImg8bit.png")
    data = json.loads(json.dumps(COCO))
    data["images"][0].update(size)
    if loader is load_tju_ped:
        data["images"][0]["file_name"] = "c/" + data["images"][0]["file_name"]
    gt = _write(f"{tmp}/gt.json", json.dumps(data))
    return (lambda: loader(gt, f"{tmp}/img"), f"{gt}: images[0] (id 7)",
            f"{tmp}/img/c/c_000000_000001_leftImg8bit.png")


LOADERS = {
    "crowdhuman": _crowdhuman,
    "citypersons per image": _citypersons_per_image,
    "citypersons json": lambda tmp, size: _coco(load_citypersons_json, tmp, size),
    "tju-ped": lambda tmp, size: _coco(load_tju_ped, tmp, size),
}


@pytest.mark.parametrize("size, hint", [({"height": 48, "width": 64}, ""),
                                        ({"height": 32, "width": 24}, " (width and height swapped, or an EXIF "
                                                                      "rotation?)")])
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_declared_image_size_that_is_not_the_images_is_an_error(tmp_path, loader, size, hint):
    """Before: loaded with the declared size (the 32 x 24 image said to be 64 x 48) without a word."""
    load, where, image = LOADERS[loader](str(tmp_path), size)
    with pytest.raises(DatasetFormatError) as e:
        load()
    assert str(e.value) == (f"{where}: image '{image}' is 32x24 pixels (width x height), the annotation says "
                            f"{size['width']}x{size['height']}{hint}")
    load, _, _ = LOADERS[loader](str(tmp_path / "right"), {"height": 24, "width": 32})
    assert [(d["height"], d["width"]) for d in load()] == [(24, 32)]


def test_odgt2coco_checks_a_declared_size_when_it_has_the_images(tmp_path, capsys):
    """Before: with --image-root, a line's wrong width/height went into the COCO file unchecked (exit 0)."""
    _, where, image = _crowdhuman(str(tmp_path), {"height": 240, "width": 320})
    rc = convert(["odgt2coco", f"{tmp_path}/a.odgt", str(tmp_path / "out.json"), "--image-root", f"{tmp_path}/Images"])
    err = capsys.readouterr().err
    assert rc == 1 and err == (f"error: {where}: image '{image}' is 32x24 pixels (width x height), the annotation "
                               "says 320x240\n")
    assert not (tmp_path / "out.json").exists()
    assert convert(["odgt2coco", f"{tmp_path}/a.odgt", str(tmp_path / "out.json")]) == 0  # no images: as stated


@pytest.mark.parametrize("command", ["odgt2coco", "coco2odgt"])
def test_a_folder_given_as_the_input_file_is_named_as_such(tmp_path, capsys, command):
    """Before: "[Errno 21] Is a directory" (the loaders: an IsADirectoryError)."""
    assert convert([command, str(tmp_path), str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path}: is a folder, not a file\n"
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(tmp_path))}: is a folder, not a file$"):
        load_crowdhuman_odgt(str(tmp_path), str(tmp_path))


def test_png_size_and_orientation_come_from_the_header_alone(tmp_path, monkeypatch):
    """A CityPersons split is checked image by image: a PNG's size must not cost a decode of its pixels."""
    from detectron2.data.detection_utils import read_image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: a 32 x 24 (W x H) file is shown 24 wide, 32 high
    path = str(tmp_path / "a.png")
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(path, exif=exif)
    plain = str(tmp_path / "b.png")
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(plain)
    assert read_image(path, "BGR").shape[:2] == (32, 24)

    def no_decode(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr("PIL.PngImagePlugin.PngImageFile.load", no_decode, raising=False)
    assert image_size_from_header(path) == (32, 24)
    assert image_size_from_header(plain) == (24, 32)
