import io
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image

from pedet.data.common import DatasetFormatError
from pedet.data.convert import citypersons_to_coco, main, odgt_to_coco

from .conftest import fixture_root

CH = os.path.join(fixture_root("crowdhuman"), "CrowdHuman")
GT = os.path.join(fixture_root("citypersons"), "cityscapes", "gtBboxCityPersons")


def _read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("split", ["train", "val"])
def test_odgt_coco_odgt_round_trip_restores_every_line(tmp_path, split):
    odgt = os.path.join(CH, f"annotation_{split}.odgt")
    coco, back = str(tmp_path / "coco.json"), str(tmp_path / "back.odgt")
    assert main(["odgt2coco", odgt, coco, "--image-root", os.path.join(CH, "Images")]) == 0
    assert main(["coco2odgt", coco, back]) == 0
    assert _read_lines(back) == _read_lines(odgt)


def test_odgt_to_coco_fields():
    coco = odgt_to_coco(os.path.join(CH, "annotation_train.odgt"), os.path.join(CH, "Images"))
    assert [(im["id"], im["height"], im["width"]) for im in coco["images"]] == [(1, 48, 64), (2, 48, 64), (3, 48, 64)]
    assert coco["images"][0]["file_name"] == "273271,c9db000d5146c15.jpg"
    first = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert [a["ignore"] for a in first] == [0, 1, 1, 0] and [a["iscrowd"] for a in first] == [0, 1, 1, 0]
    assert first[0]["bbox"] == [-5, 4, 20, 40] and first[0]["area"] == 800  # 20 * 40, unclipped
    assert first[0]["vis_ratio"] == pytest.approx(0.5625)  # 15 * 30 / 800
    assert coco["categories"] == [{"id": 1, "name": "person"}]


def test_odgt_to_coco_without_sizes_or_image_root_is_an_error():
    with pytest.raises(DatasetFormatError, match="annotation_val.odgt:1: the line has no width/height"):
        odgt_to_coco(os.path.join(CH, "annotation_val.odgt"))


def test_citypersons_to_coco_reproduces_the_official_val_gt_fields():
    coco = citypersons_to_coco(os.path.join(GT, "val"))
    with open(os.path.join(GT, "val_gt.json")) as f:
        official = json.load(f)
    assert coco["annotations"] == official["annotations"] and coco["categories"] == official["categories"]
    assert [{k: im[k] for k in ("id", "im_name", "height", "width")} for im in coco["images"]] == official["images"]
    assert all(im["file_name"] == im["im_name"] for im in coco["images"])


def test_citypersons2coco_command_line(tmp_path, capsys):
    out = tmp_path / "train_gt.json"
    assert main(["citypersons2coco", os.path.join(GT, "train"), str(out)]) == 0
    assert "3 images, 7 boxes" in capsys.readouterr().out  # 5 + 0 + 2 objects in the train fixture
    coco = json.loads(out.read_text())
    # the converter keeps the official semantics (ignore = not a pedestrian); train rules belong to the loader
    assert [a["ignore"] for a in coco["annotations"]] == [0, 0, 0, 1, 1, 1, 1]


def test_caltech_seq2jpg_extracts_only_annotated_frames(tmp_path):
    # a .seq-like file: 1024-byte header, then per frame a 4-byte size, the JPEG and 8 padding bytes
    jpegs = []
    for value in (10, 120, 240):
        buf = io.BytesIO()
        Image.fromarray(np.full((8, 16, 3), value, np.uint8)).save(buf, format="JPEG")
        jpegs.append(buf.getvalue())
    os.makedirs(tmp_path / "seq" / "set06")
    with open(tmp_path / "seq" / "set06" / "V000.seq", "wb") as f:
        f.write(b"\0" * 1024 + b"".join(struct.pack("<I", len(j)) + j + b"\0" * 8 for j in jpegs))
    os.makedirs(tmp_path / "anno" / "anno_test_1xnew")
    (tmp_path / "anno" / "anno_test_1xnew" / "set06_V000_I00002.jpg.txt").write_text("% bbGt version=3\n")
    assert main(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"), str(tmp_path / "images")]) == 0
    assert os.listdir(tmp_path / "images") == ["set06_V000_I00002.jpg"]  # frame index 2 (0-based) only
    assert (tmp_path / "images" / "set06_V000_I00002.jpg").read_bytes() == jpegs[2]
