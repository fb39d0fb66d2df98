"""
Tenth bad-input trial of the data side (issue 11): a converter given a folder as its output converted the whole
input, then said "error: [Errno 21] is a folder, not a file: '<folder>'"; a missing input file was
"error: [Errno 2] No such file or directory: '<file>'". Python's "[Errno N]" prefix tells a user nothing.
"""
import json
import os

import pytest

from pedet.data.convert import main as convert

from .conftest import write_file as _write

LINE = {"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": "person", "fbox": [1, 2, 10, 20]}]}
COCO = {"images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 24}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}]}


@pytest.mark.parametrize("exists", [True, False], ids=["existing folder", "new path ending in '/'"])
@pytest.mark.parametrize("command, example", [("odgt2coco", "annotation_val.json"),
                                              ("coco2odgt", "annotation_val.odgt")])
def test_converter_output_that_is_a_folder_is_refused_before_the_conversion(tmp_path, capsys, command, example,
                                                                            exists):
    """Before: a new "out/" became a FILE named out (the conversion said "wrote out/")."""
    src = _write(tmp_path / "in", json.dumps(LINE) + "\n" if command == "odgt2coco" else json.dumps(COCO))
    out = tmp_path / "out"
    if exists:
        out.mkdir()
    given = str(out) if exists else f"{out}/"
    assert convert([command, src, given]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {given}: is a folder; give the file to write, e.g. {os.path.join(given, example)}\n"
    assert (list(out.iterdir()) == []) if exists else not out.exists()


def test_converter_missing_input_names_the_file_without_errno(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert convert(["coco2odgt", str(missing), str(tmp_path / "x.odgt")]) == 1
    assert capsys.readouterr().err == f"error: {missing}: No such file or directory\n"
    assert not (tmp_path / "x.odgt").exists()
