"""
Ninth bad-input trial of the data side (issue 11): odgt2coco left out box keys it does not know (e.g. "occ") without a
word, while its docstring said every odgt field was kept; the round trip odgt -> COCO -> odgt must give back the
ground truth the loaders read. A split's val_gt.json given where the split folder belongs was "no
'*_gtBboxCityPersons.json' file under 'val_gt.json/<city>/'".
"""
import json
import logging
import re

import pytest

from pedet.data import load_citypersons_per_image, load_crowdhuman_odgt
from pedet.data.convert import main as convert

from .conftest import write_file as _write, write_image as _image

LINE = {"ID": "a", "width": 32, "height": 24, "gtboxes": [
    {"tag": "person", "fbox": [1, 2, 10, 20], "vbox": [1, 2, 10, 10], "hbox": [3, 2, 4, 4],
     "extra": {"box_id": 0, "occ": 1}, "head_attr": {"ignore": 0}, "occ": 1},
    {"tag": "mask", "fbox": [12.5, 2, 10, 20], "extra": {"ignore": 1}, "occ": 0, "blur": 2},
    {"tag": "person", "fbox": [20, 1, 5, 12], "extra": {"ignore": 1}},
]}


def test_odgt_coco_odgt_round_trip_keeps_the_ground_truth_and_counts_the_keys_it_leaves_out(tmp_path, caplog):
    src = _write(tmp_path / "a.odgt", json.dumps(LINE) + "\n")
    _image(str(tmp_path / "Images" / "a.jpg"))
    with caplog.at_level(logging.WARNING):
        assert convert(["odgt2coco", src, str(tmp_path / "a.json")]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{src}: 2 annotation(s) have no 'vbox': visible box = full box (visibility 1); first: "
                        f"{src}:1",  # the loader's counted warning (the line has no vbox)
                        f"{src}: left out box keys the COCO file does not keep: 'blur' (1 box(es)), "
                        "'occ' (2 box(es))"]
    assert convert(["coco2odgt", str(tmp_path / "a.json"), str(tmp_path / "b.odgt")]) == 0
    back = json.loads((tmp_path / "b.odgt").read_text())
    expected = {k: v for k, v in LINE.items() if k != "gtboxes"}
    expected["gtboxes"] = [{k: v for k, v in b.items() if k not in ("occ", "blur")} for b in LINE["gtboxes"]]
    assert back == expected
    # what the loader reads is the same from both files
    first = load_crowdhuman_odgt(src, str(tmp_path / "Images"))
    second = load_crowdhuman_odgt(str(tmp_path / "b.odgt"), str(tmp_path / "Images"))
    assert first == second


def test_a_file_given_as_the_citypersons_split_folder_is_named_as_such(tmp_path, capsys):
    gt = _write(tmp_path / "gtBboxCityPersons" / "val_gt.json", json.dumps({"images": [], "annotations": []}))
    message = (f"{gt}: is a file, not a split folder (<split>/<city>/*_gtBboxCityPersons.json); give the folder, "
               "e.g. gtBboxCityPersons/val")
    assert convert(["citypersons2coco", gt, str(tmp_path / "out.json")]) == 1
    assert capsys.readouterr().err == f"error: {message}\n"
    with pytest.raises(NotADirectoryError, match=f"^{re.escape(message)}$"):
        load_citypersons_per_image(gt, str(tmp_path / "leftImg8bit" / "val"))
