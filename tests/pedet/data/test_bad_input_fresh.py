"""
Second bad-input trial of the data side (issue 11): inputs the first catalogue (test_bad_input.py,
test_cli_bad_input.py) did not try. Extreme JSON (nesting thousands of levels deep, integers of hundreds of digits,
huge or tiny floats), ids and categories of the wrong type or given twice, numbers Python's float() reads but the
format does not allow, converter outputs that the loaders would reject, and out-of-range command-line arguments.
Each case is an error naming the file and the record, or a documented result; never a traceback.
"""
import copy
import json
import logging
import os
import re

import pytest
from PIL import Image

from pedet.data import load_caltech, load_citypersons_json, load_citypersons_per_image, load_crowdhuman_odgt
from pedet.data import load_tju_ped
from pedet.data import synthetic as syn
from pedet.data.common import MAX_IMAGE_SIDE, DatasetFormatError, vis_ratio
from pedet.data.convert import main as convert

from .conftest import write_file as _write, write_image as _image

DEEP = "[" * 100_000 + "]" * 100_000  # json recurses once per level: Python's recursion limit is 1000
HUGE = "1" + "0" * 400  # a valid JSON integer that no float can hold


def _one_line_error(capsys, rc):
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------------
# CrowdHuman .odgt
# ---------------------------------------------------------------------------------------------------------------------
ODGT_ERRORS = {
    "nested 100000 levels": ('{"ID": "a", "gtboxes": ' + DEEP + "}", r":1: the JSON is nested too deeply"),
    "nested document over lines": ("{\n" + '"ID": ' + DEEP + "}", r":1: "),
    "fbox integer of 401 digits": ('{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [1, 2, ' + HUGE + ", 20]}]}",
                                   r":1: 'fbox' holds a number too large for a float: \[1, 2, 1000"),
    "width integer of 401 digits": ('{"ID": "a", "width": ' + HUGE + ', "height": 24, "gtboxes": []}',
                                    r":1: 'width' must be a positive integer up to 100000 .*got 1000.*\.\.\.0+$"),
    "width 1e20": ('{"ID": "a", "width": 1e20, "height": 24, "gtboxes": []}', r":1: 'width' must be a positive"),
    "width 10**30": ('{"ID": "a", "width": 1000000000000000000000000000000, "height": 24, "gtboxes": []}',
                     r":1: 'width' must be a positive integer up to 100000"),
    # twentieth trial: COCO's 'ignore' / 'iscrowd' at the box level, which the odgt rule never read
    "box-level ignore 1 on a person": ('{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [1, 2, 10, 20], '
                                       '"ignore": 1}]}',
                                       r":1: 'ignore' is 1 at the box level, but by its 'tag' and 'extra.ignore' \(the "
                                       r"only ignore rule of the CrowdHuman format\) the box is a person: for an ignore "
                                       r"region set tag 'mask' or 'extra': \{'ignore': 1\}, or remove 'ignore'$"),
    "box-level iscrowd 0 on a mask": ('{"ID": "a", "gtboxes": [{"tag": "mask", "fbox": [1, 2, 10, 20], '
                                      '"iscrowd": 0}]}',
                                      r":1: 'iscrowd' is 0 at the box level, .* the box is an ignore region: for a "
                                      r"person set tag 'person' and 'extra': \{'ignore': 0\}, or remove 'iscrowd'$"),
    "box-level iscrowd 2": ('{"ID": "a", "gtboxes": [{"tag": "mask", "fbox": [1, 2, 10, 20], "iscrowd": 2}]}',
                            r":1: 'iscrowd' must be 0 or 1, got 2$"),
}


@pytest.mark.parametrize("content, message", list(ODGT_ERRORS.values()), ids=list(ODGT_ERRORS))
def test_crowdhuman_extreme_json_is_an_error_naming_file_and_line(tmp_path, content, message):
    _image(str(tmp_path / "Images" / "a.jpg"))
    odgt = _write(tmp_path / "annotation.odgt", content)
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(odgt)}{message}"):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))


@pytest.mark.parametrize("side", [1e200, 1e308])
def test_crowdhuman_huge_box_keeps_visibility_one(tmp_path, side):
    """A box of 1e308 px is unclipped GT covering the image; area / area overflowed to inf / inf (visibility 0)."""
    _image(str(tmp_path / "Images" / "a.jpg"))
    box = {"tag": "person", "fbox": [0, 0, side, side], "vbox": [0, 0, side, side]}
    odgt = _write(tmp_path / "a.odgt", json.dumps({"ID": "a", "gtboxes": [box]}))
    assert load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))[0]["annotations"][0]["vis_ratio"] == 1.0


def test_vis_ratio_of_huge_and_tiny_boxes():
    assert vis_ratio([0, 0, 1e308, 1e308], [0, 0, 1e308, 0.5e308]) == 0.5  # the products overflow
    assert vis_ratio([0, 0, 1e-200, 1e-200], [0, 0, 1e-200, 0.5e-200]) == 0.5  # the products underflow to 0
    assert vis_ratio([1, 2, 10, 20], [1, 2, 10, 10]) == 0.5  # 10 * 10 / (10 * 20), as before


def test_image_side_limit_accepts_the_limit_itself(tmp_path):
    os.makedirs(tmp_path / "Images")  # a PNG named .jpg (JPEG stops at 65 535 px); the loader checks the size
    Image.new("L", (MAX_IMAGE_SIDE, 24)).save(str(tmp_path / "Images" / "a.jpg"), format="PNG")
    line = {"ID": "a", "width": MAX_IMAGE_SIDE, "height": 24, "gtboxes": []}
    odgt = _write(tmp_path / "a.odgt", json.dumps(line))
    assert load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))[0]["width"] == MAX_IMAGE_SIDE


# ---------------------------------------------------------------------------------------------------------------------
# CityPersons per-image JSON, COCO-style (val_gt.json, TJU-Ped)
# ---------------------------------------------------------------------------------------------------------------------
CP_NAME = "city_000000_000001"
CP_ERRORS = {
    "nested 100000 levels": ('{"imgHeight": 24, "imgWidth": 32, "objects": ' + DEEP + "}",
                             r":1: the JSON is nested too deeply"),
    "imgHeight of 401 digits": ('{"imgHeight": ' + HUGE + ', "imgWidth": 32, "objects": []}',
                                r": 'imgHeight' must be a positive integer up to 100000"),
    "imgHeight 1e300": ('{"imgHeight": 1e300, "imgWidth": 32, "objects": []}',
                        r": 'imgHeight' must be a positive integer up to 100000 .*got 1e\+300"),
    "bbox of 401 digits": ('{"imgHeight": 24, "imgWidth": 32, "objects": [{"label": "pedestrian", "bbox": [1, 2, '
                           + HUGE + ', 20], "bboxVis": [1, 2, 3, 4]}]}',
                           r": objects\[0\]: 'bbox' holds a number too large for a float"),
}


@pytest.mark.parametrize("content, message", list(CP_ERRORS.values()), ids=list(CP_ERRORS))
def test_citypersons_per_image_extreme_json_is_an_error(tmp_path, content, message):
    gt = _write(tmp_path / "gt" / "city" / f"{CP_NAME}_gtBboxCityPersons.json", content)
    _image(str(tmp_path / "img" / "city" / f"{CP_NAME}_leftImg8bit.png"))
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(gt)}{message}"):
        load_citypersons_per_image(str(tmp_path / "gt"), str(tmp_path / "img"))


COCO = {
    "images": [{"id": 1, "file_name": f"{CP_NAME}_leftImg8bit.png", "height": 24, "width": 32}],
    "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "vis_bbox": [1, 2, 10, 10],
                     "height": 20, "vis_ratio": 0.5, "ignore": 0, "iscrowd": 0}],
    "categories": [{"id": 1, "name": "pedestrian"}, {"id": 0, "name": "ignore region"}],
}


def _coco(**changes):
    """COCO with changes: "section" replaces a section, "section__key" sets (or with None removes) a key of entry 0."""
    data = copy.deepcopy(COCO)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if not field:
            data[section] = value
        elif value is None:
            data[section][0].pop(field)
        else:
            data[section][0][field] = value
    return json.dumps(data)


A0 = r": annotations\[0\] \(id 7\)"
COCO_ERRORS = {
    "nested 100000 levels": ('{"images": ' + DEEP + ', "annotations": []}', r":1: the JSON is nested too deeply"),
    "bbox of 401 digits": (_coco().replace("[1, 2, 10, 20]", f"[1, 2, {HUGE}, 20]"),
                           A0 + r": 'bbox' holds a number too large for a float"),
    "height of 401 digits": (_coco().replace('"height": 20', f'"height": {HUGE}'),
                             A0 + r": 'height' must be finite, got 1000"),
    "image height of 401 digits": (_coco().replace('"height": 24', f'"height": {HUGE}'),
                                   r": images\[0\] \(id 1\): 'height' must be a positive integer up to 100000"),
    "category id a list": (_coco(categories=[{"id": [1], "name": "pedestrian"}]),
                           r": categories\[0\]: 'id' must be an integer or a string, got \[1\]"),
    "category id an object": (_coco(categories=[{"id": {"a": 1}, "name": "pedestrian"}]),
                              r": categories\[0\]: 'id' must be an integer or a string"),
    "category id twice": (_coco(categories=[{"id": 1, "name": "pedestrian"}, {"id": 1, "name": "ignore"}]),
                          r": categories\[1\]: duplicate category id 1 \('pedestrian' and 'ignore'\)"),
    "categories an object": (_coco(categories={"1": "pedestrian"}), r": 'categories' must be a list, got dict"),
    "annotation category_id a list": (_coco(annotations__category_id=[1]), A0 + r": 'category_id' \[1\] is not one"),
    "annotation category_id an object": (_coco(annotations__category_id={"a": 1}), A0 + r": 'category_id' \{'a': 1\}"),
    "annotation category_id true": (_coco(annotations__category_id=True), A0 + r": 'category_id' True is not one"),
}


@pytest.mark.parametrize("content, message", list(COCO_ERRORS.values()), ids=list(COCO_ERRORS))
@pytest.mark.parametrize("loader", ["citypersons", "tju"])
def test_coco_style_extreme_values_and_category_ids_are_errors(tmp_path, loader, content, message):
    gt = _write(tmp_path / "gt.json", content)
    _image(str(tmp_path / "img" / f"{CP_NAME}_leftImg8bit.png"))  # TJU-Ped: <image_dir>/<file_name>
    _image(str(tmp_path / "img" / "city" / f"{CP_NAME}_leftImg8bit.png"))  # CityPersons: <image_dir>/<city>/<name>
    load = load_citypersons_json if loader == "citypersons" else load_tju_ped
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(gt)}{message}"):
        load(gt, str(tmp_path / "img"))


def test_tju_category_id_twice_no_longer_turns_persons_into_ignore_regions(tmp_path):
    """Before: the second entry {"id": 1, "name": "ignore"} silently made every pedestrian an ignore box."""
    gt = _write(tmp_path / "gt.json", _coco(categories=[{"id": 1, "name": "pedestrian"}, {"id": 1, "name": "ignore"}]))
    _image(str(tmp_path / "img" / f"{CP_NAME}_leftImg8bit.png"))
    with pytest.raises(DatasetFormatError, match="duplicate category id 1"):
        load_tju_ped(gt, str(tmp_path / "img"))


# ---------------------------------------------------------------------------------------------------------------------
# Caltech bbGt
# ---------------------------------------------------------------------------------------------------------------------
HEADER = "% bbGt version=3\n"
CALTECH_ERRORS = {
    "underscore in a number": ("person 1_0 2 10 20 0 0 0 0 0 0 0", r":2: non-numeric field"),  # float(): 10
    "Arabic-Indic digits": ("person \u0661\u0660 2 10 20 0 0 0 0 0 0 0", r":2: non-numeric field"),  # float(): 10
    "hexadecimal": ("person 0x10 2 10 20 0 0 0 0 0 0 0", r":2: non-numeric field"),
    "number of 401 digits": (f"person 1 2 {HUGE} 20 0 0 0 0 0 0 0", r":2: NaN or infinity"),
    "Infinity spelled out": ("person 1 2 Infinity 20 0 0 0 0 0 0 0", r":2: NaN or infinity"),
    # sixteenth trial: str.splitlines cut at a form feed (one line read as two boxes) or at U+0085 (line numbers moved)
    "form feed inside a line": ("person 1 2 10 20 0 0 0 0 0 0 0\x0cperson 3 4 10 20 0 0 0 0 0 0 0",
                                r":2: expected 12 fields"),
    "U+0085 ending a line, then a bad line": ("person 1 2 10 20 0 0 0 0 0 0 0\u0085\nbad", r":3: expected 12 fields"),
}


@pytest.mark.parametrize("line, message", list(CALTECH_ERRORS.values()), ids=list(CALTECH_ERRORS))
def test_caltech_numbers_that_float_reads_but_bbgt_does_not_write(tmp_path, line, message):
    path = _write(tmp_path / "anno" / "set06_V000_I00029.txt", HEADER + line + "\n")
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"))
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(path)}{message}"):
        load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))


@pytest.mark.parametrize("fields, visibility", [
    ("1 2 10 20 1 1 2 -5 10", 0.0),  # occluded, visible width -5: nothing visible (was -0.25)
    ("1 2 10 20 1 1 2 5 0", 0.0),  # occluded, visible height 0
    ("1 2 10 20 1 1 2 5 10", 0.25),  # 5 * 10 / (10 * 20)
    ("1 2 10 20 1 0 0 100 100", 1.0),  # larger than the full box: capped
    ("1.5e0 2 10 20 0 0 0 0 0", 1.0),  # exponents are plain decimals too
])
def test_caltech_visibility_stays_in_zero_one(tmp_path, fields, visibility):
    _write(tmp_path / "anno" / "set06_V000_I00029.txt", HEADER + f"person {fields} 0 0\n")
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"), 480, 640)
    ann = load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))[0]["annotations"][0]
    assert ann["vis_ratio"] == visibility


# ---------------------------------------------------------------------------------------------------------------------
# Converters
# ---------------------------------------------------------------------------------------------------------------------
def _odgt(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


CONVERT_ERRORS = {
    "odgt2coco nested": ("odgt2coco", '{"ID": "a", "gtboxes": ' + DEEP + "}", r"in:1: the JSON is nested too deeply"),
    "odgt2coco 401 digits": ("odgt2coco", '{"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": "person", '
                             '"fbox": [1, 2, ' + HUGE + ", 20]}]}", r"in:1: 'fbox' holds a number too large"),
    "coco2odgt nested": ("coco2odgt", '{"images": ' + DEEP + "}", r"in:1: the JSON is nested too deeply"),
    "coco2odgt 401 digits": ("coco2odgt", _coco().replace("[1, 2, 10, 20]", f"[1, 2, {HUGE}, 20]"),
                             r"in: annotations\[0\] \(id 7\): 'bbox' holds a number too large"),
    "coco2odgt category id a list": ("coco2odgt", _coco(categories=[{"id": [1], "name": "person"}]),
                                     r"in: categories\[0\]: 'id' must be an integer or a string"),
    "coco2odgt category id twice": ("coco2odgt", _coco(categories=[{"id": 1, "name": "person"},
                                                                   {"id": 1, "name": "car"}]),
                                    r"in: categories\[1\]: duplicate category id 1"),
    "coco2odgt image height 1e300": ("coco2odgt", _coco(images__height=1e300),
                                     r"in: images\[0\] \(id 1\): 'height' must be a positive integer up to 100000"),
    # the odgt line written must be one the CrowdHuman loader reads, with the same ignore flag
    "coco2odgt crowdhuman_id a list": ("coco2odgt", _coco(images__crowdhuman_id=["a"]),
                                       r"in: images\[0\] \(id 1\): 'crowdhuman_id' must be a non-empty string"),
    "coco2odgt crowdhuman_id empty": ("coco2odgt", _coco(images__crowdhuman_id=""),
                                      r"in: images\[0\] \(id 1\): 'crowdhuman_id' must be .*, got ''$"),
    "coco2odgt crowdhuman_id true": ("coco2odgt", _coco(images__crowdhuman_id=True),
                                     r"in: images\[0\] \(id 1\): 'crowdhuman_id' must be .*, got True$"),
    "coco2odgt tag car": ("coco2odgt", _coco(annotations__tag="car"),
                          r"in: annotations\[0\] \(id 7\): unknown tag 'car'; expected one of"),
    "coco2odgt extra a number": ("coco2odgt", _coco(annotations__extra=5), r"in: annotations\[0\] \(id 7\): 'extra' must be an object, got 5"),
    "coco2odgt extra.ignore 2": ("coco2odgt", _coco(annotations__extra={"ignore": 2}),
                                 r"in: annotations\[0\] \(id 7\): 'extra.ignore' must be 0 or 1, got 2"),
    "coco2odgt tag person, iscrowd 1": ("coco2odgt", _coco(annotations__tag="person", annotations__iscrowd=1),
                                        r"in: annotations\[0\] \(id 7\): 'tag' 'person' and 'extra' None make the box a person, but "
                                        r"'iscrowd'/'ignore' say ignore"),
    "coco2odgt tag mask, ignore 0": ("coco2odgt", _coco(annotations__tag="mask"),
                                     r"in: annotations\[0\] \(id 7\): 'tag' 'mask' .* an ignore region, but .* say person"),
}


@pytest.mark.parametrize("command, content, message", list(CONVERT_ERRORS.values()), ids=list(CONVERT_ERRORS))
def test_converter_fresh_bad_input_is_one_line(tmp_path, capsys, command, content, message):
    src = _write(tmp_path / "in", content)
    line = _one_line_error(capsys, convert([command, src, str(tmp_path / "out")]))
    assert re.search(rf"^error: {re.escape(str(tmp_path))}/{message}", line), line
    assert not (tmp_path / "out").exists()


def test_coco2odgt_flags_that_agree_with_tag_and_extra_convert(tmp_path):
    """A file written by odgt2coco: tag person + extra.ignore 1 is an ignore box, and iscrowd / ignore say so."""
    coco = _coco(annotations__tag="person", annotations__extra={"ignore": 1}, annotations__iscrowd=1,
                 annotations__ignore=1)
    src = _write(tmp_path / "in.json", coco)
    assert convert(["coco2odgt", src, str(tmp_path / "out.odgt")]) == 0
    box = json.loads((tmp_path / "out.odgt").read_text())["gtboxes"][0]
    assert (box["tag"], box["extra"]) == ("person", {"ignore": 1})


def test_citypersons2coco_same_image_name_in_two_cities_is_an_error(tmp_path, capsys):
    """val_gt.json names images by file name only; the loader already refused this split, now the converter too."""
    good = {"imgHeight": 24, "imgWidth": 32, "objects": []}
    first = _write(tmp_path / "gt" / "aachen" / f"{CP_NAME}_gtBboxCityPersons.json", json.dumps(good))
    second = _write(tmp_path / "gt" / "bonn" / f"{CP_NAME}_gtBboxCityPersons.json", json.dumps(good))
    line = _one_line_error(capsys, convert(["citypersons2coco", str(tmp_path / "gt"), str(tmp_path / "o.json")]))
    assert line == (f"error: {second}: duplicate image id '{CP_NAME}_leftImg8bit.png' (first at {first}); "
                    "image ids must be unique")


def test_caltech_seq2jpg_empty_video_is_one_line(tmp_path, capsys):
    _write(tmp_path / "anno" / "a" / "set06_V000_I00000.jpg.txt", HEADER)
    seq = _write(tmp_path / "seq" / "set06" / "V000.seq", b"")  # mmap refuses an empty file (was a traceback)
    line = _one_line_error(capsys, convert(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"),
                                            str(tmp_path / "images")]))
    assert line == f"error: {seq}: the video file is empty (an interrupted download?)"


# ---------------------------------------------------------------------------------------------------------------------
# python -m pedet.data.synthetic
# ---------------------------------------------------------------------------------------------------------------------
SYNTHETIC_BAD_ARGS = {
    "workers a million": (["--workers", "1000000"], "--workers must be in [1, 256], got 1000000"),  # was a fork bomb
    "out empty": (["--out", ""], "--out must not be empty"),  # was: "overrides change a preset's data"
    "root empty": (["--root", " "], "--root must not be empty"),
    "preview empty": (["--preview", ""], "--preview must not be empty"),  # was: no preview, no word
    "preview not PNG": (["--preview", "p.jpg"], "--preview writes a PNG file; give a name ending in .png, got 'p.jpg'"),
}


@pytest.mark.parametrize("args, message", list(SYNTHETIC_BAD_ARGS.values()), ids=list(SYNTHETIC_BAD_ARGS))
def test_synthetic_cli_fresh_bad_arguments_are_one_argparse_line(tmp_path, capsys, args, message):
    base = ["--out", str(tmp_path / "set"), "--num-images", "1"]
    with pytest.raises(SystemExit) as e:
        syn.main(base + args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"python -m pedet.data.synthetic: error: {message}"
    assert not (tmp_path / "set").exists()


def test_synthetic_workers_above_the_image_count_render_in_fewer_processes(tmp_path, caplog):
    """--workers 8 for 2 images starts at most 2 processes and gives the images of --workers 1."""
    with caplog.at_level(logging.WARNING):
        for out, workers in (("a", "8"), ("b", "1")):
            args = ["--out", str(tmp_path / out), "--num-images", "2", "--size", "48", "48", "--workers", workers]
            assert syn.main(args) == 0
    odgt = [(tmp_path / out / "annotation_train.odgt").read_text() for out in ("a", "b")]
    assert odgt[0] == odgt[1]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
