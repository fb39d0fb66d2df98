"""
The bad-input catalogue of the data loaders: every key of every format missing, every number NaN / infinite /
negative / a string, every file empty, truncated, binary or of another format. Each case is either an error
(DatasetFormatError, a ValueError, whose message names the file, the record and what is wrong) or a documented,
counted warning; nothing changes the ground truth silently (datasets/README.md, "Bad input").
"""
import copy
import gzip
import json
import logging

import pytest

from pedet.data import load_caltech, load_citypersons_json, load_citypersons_per_image, load_crowdhuman_odgt
from pedet.data import load_tju_ped
from pedet.data.common import DatasetFormatError

from .conftest import write_file as _write, write_image as _image

NAN, INF = float("nan"), float("inf")


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# ---------------------------------------------------------------------------------------------------------------------
# CrowdHuman .odgt
# ---------------------------------------------------------------------------------------------------------------------
BOX = {"tag": "person", "fbox": [1, 2, 10, 20], "vbox": [1, 2, 10, 10], "hbox": [3, 2, 4, 4],
       "extra": {"box_id": 0, "occ": 1, "ignore": 0}}
LINE = {"ID": "a", "gtboxes": [BOX]}


def _line(**changes):
    """LINE with top-level keys changed (None removes the key)."""
    rec = copy.deepcopy(LINE)
    for k, v in changes.items():
        rec.pop(k) if v is None else rec.__setitem__(k, v)
    return json.dumps(rec)


def _box_line(path=(), value=None, remove=False):
    """LINE whose first box has the key at `path` (e.g. ("extra", "ignore")) set to `value` or removed."""
    rec = copy.deepcopy(LINE)
    node = rec["gtboxes"][0]
    for k in path[:-1]:
        node = node[k]
    node.pop(path[-1]) if remove else node.__setitem__(path[-1], value)
    return json.dumps(rec)


ODGT_ERRORS = {
    # whole file
    "empty file": ("", r":1: the file has no record"),
    "blank lines only": ("\n\n  \n", r":1: the file has no record"),
    "truncated line": ('{"ID": "a", "gtboxes": [{"tag": "person", "fb', r":1: malformed JSON .*truncated line"),
    "one document over lines": (json.dumps(LINE, indent=1), r":1: the file is one JSON document spread over"),
    "COCO file": (json.dumps({"images": [], "annotations": []}), r":1: .*looks like a COCO-style file"),
    "detection odgt": (json.dumps({"ID": "a", "dtboxes": []}), r":1: .*a detection line \('dtboxes'\)"),
    "JSON list": ("[1, 2]", r":1: .*looks like a JSON list"),
    "CityPersons file": (json.dumps({"imgHeight": 2, "imgWidth": 2, "objects": []}), r":1: .*per-image CityPersons"),
    "not UTF-8": (b"\xff\xfe\x00garbage\n", r":1: not a UTF-8 text file"),
    "gzip": (gzip.compress(b"{}\n"), r":1: this is a compressed archive"),
    "second line broken": (_line() + "\n" + "{oops}", r":2: malformed JSON"),
    "duplicate ID": (_line() + "\n" + _line(), r":2: duplicate image id 'a' \(first at .*:1\)"),
    # line keys
    "no ID": (_line(ID=None), r":1: expected an object with 'ID' and a 'gtboxes' list"),
    "ID null": (_line(ID=None) [:-1] + ', "ID": null}', r":1: 'ID' must be a non-empty string"),
    "ID list": (_line(ID=["a"]), r":1: 'ID' must be a non-empty string"),
    "ID empty": (_line(ID=""), r":1: 'ID' must be a non-empty string"),
    "ID bool": (_line(ID=True), r":1: 'ID' must be a non-empty string"),
    "no gtboxes": (_line(gtboxes=None), r":1: expected an object with 'ID' and a 'gtboxes' list"),
    "gtboxes object": (_line(gtboxes={"a": 1}), r":1: expected an object with 'ID' and a 'gtboxes' list"),
    "gtbox string": (_line(gtboxes=["person"]), r":1: a 'gtboxes' entry must be an object"),
    "width without height": (_line(width=32), r":1: give both 'width' and 'height' or neither"),
    "height without width": (_line(height=24), r":1: give both 'width' and 'height' or neither"),
    "width 0": (_line(width=0, height=24), r":1: 'width' must be a positive integer"),
    "width negative": (_line(width=-32, height=24), r":1: 'width' must be a positive integer"),
    "width fractional": (_line(width=32.5, height=24), r":1: 'width' must be a positive integer"),
    "width string": (_line(width="32", height=24), r":1: 'width' must be a positive integer"),
    "height NaN": (_line(width=32, height=NAN), r":1: 'height' must be a positive integer"),
    "height inf": (_line(width=32, height=INF), r":1: 'height' must be a positive integer"),
    # box keys
    "no tag": (_box_line(("tag",), remove=True), r":1: a 'gtboxes' entry has no 'tag'"),
    "unknown tag": (_box_line(("tag",), "Person"), r":1: unknown tag 'Person'; expected one of \('person', 'mask'\)"),
    "tag null": (_box_line(("tag",), None), r":1: unknown tag None"),
    "no fbox": (_box_line(("fbox",), remove=True), r":1: 'fbox' is missing"),
    "fbox 3 numbers": (_box_line(("fbox",), [1, 2, 3]), r":1: 'fbox' must be a list of 4 numbers"),
    "fbox object": (_box_line(("fbox",), {"x": 1}), r":1: 'fbox' must be a list of 4 numbers"),
    "fbox string number": (_box_line(("fbox",), [1, "2", 10, 20]), r":1: 'fbox' must hold numbers"),
    "fbox bool": (_box_line(("fbox",), [1, True, 10, 20]), r":1: 'fbox' must hold numbers"),
    "fbox null": (_box_line(("fbox",), [1, None, 10, 20]), r":1: 'fbox' must hold numbers"),
    "fbox NaN": (_box_line(("fbox",), [NAN, 2, 10, 20]), r":1: 'fbox' holds NaN or infinity"),
    "fbox inf": (_box_line(("fbox",), [1, 2, INF, 20]), r":1: 'fbox' holds NaN or infinity"),
    "fbox -inf": (_box_line(("fbox",), [1, -INF, 10, 20]), r":1: 'fbox' holds NaN or infinity"),
    "vbox NaN": (_box_line(("vbox",), [1, 2, NAN, 10]), r":1: 'vbox' holds NaN or infinity"),
    "vbox short": (_box_line(("vbox",), [1, 2]), r":1: 'vbox' must be a list of 4 numbers"),
    "hbox string": (_box_line(("hbox",), "3 2 4 4"), r":1: 'hbox' must be a list of 4 numbers"),
    "hbox inf": (_box_line(("hbox",), [3, 2, 4, INF]), r":1: 'hbox' holds NaN or infinity"),
    "extra list": (_box_line(("extra",), [0]), r":1: 'extra' must be an object"),
    "extra.ignore 2": (_box_line(("extra", "ignore"), 2), r":1: 'extra.ignore' must be 0 or 1, got 2"),
    "extra.ignore string": (_box_line(("extra", "ignore"), "0"), r":1: 'extra.ignore' must be 0 or 1, got '0'"),
    "extra.ignore null": (_box_line(("extra", "ignore"), None), r":1: 'extra.ignore' must be 0 or 1, got None"),
    "extra.ignore NaN": (_box_line(("extra", "ignore"), NAN), r":1: 'extra.ignore' must be 0 or 1"),
}


@pytest.mark.parametrize("content, message", list(ODGT_ERRORS.values()), ids=list(ODGT_ERRORS))
def test_crowdhuman_bad_input_is_an_error_naming_file_and_line(tmp_path, content, message):
    _image(str(tmp_path / "Images" / "a.jpg"))
    odgt = _write(tmp_path / "annotation.odgt", content)
    with pytest.raises(DatasetFormatError, match=rf"^{odgt}{message}"):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))


def test_crowdhuman_missing_and_unreadable_images(tmp_path):
    odgt = _write(tmp_path / "annotation.odgt", _line() + "\n")
    with pytest.raises(FileNotFoundError, match=rf"^{odgt}:1: image not found: '.*a.jpg'"):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    _write(tmp_path / "Images" / "a.jpg", b"not a JPEG")
    with pytest.raises(DatasetFormatError, match=rf"^{odgt}:1: cannot read the size of image '.*a.jpg'"):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    # a line with its size still needs the image
    odgt = _write(tmp_path / "sized.odgt", _line(ID="b", width=32, height=24) + "\n")
    with pytest.raises(FileNotFoundError, match=rf"^{odgt}:1: image not found: '.*b.jpg'"):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))


@pytest.mark.parametrize("fbox, kept, reason", [
    ([-5, 2, 10, 20], True, None),  # partly outside the 32 x 24 image: kept unclipped
    ([1, 2, 0, 20], False, "of zero or negative size"),
    ([1, 2, 10, -20], False, "of zero or negative size"),
    ([32, 2, 10, 20], False, "entirely outside the image"),  # x >= width
    ([1, 24, 10, 20], False, "entirely outside the image"),  # y >= height
    ([-10, 2, 10, 20], False, "entirely outside the image"),  # x + w <= 0
    ([1, -30, 10, 20], False, "entirely outside the image"),  # y + h <= 0
])
def test_crowdhuman_dropped_boxes_are_counted(tmp_path, caplog, fbox, kept, reason):
    _image(str(tmp_path / "Images" / "a.jpg"))
    odgt = _write(tmp_path / "annotation.odgt", _box_line(("fbox",), fbox) + "\n")
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        annos = load_crowdhuman_odgt(odgt, str(tmp_path / "Images"), dataset_name="tiny")[0]["annotations"]
    assert len(annos) == int(kept)
    if kept:
        assert annos[0]["bbox"] == [float(v) for v in fbox] and not _warnings(caplog)
    else:
        assert _warnings(caplog) == [f"tiny: dropped 1 box(es) (1 {reason}); first: {odgt}:1 "
                                     f"{[float(v) for v in fbox]} ({reason})"]


@pytest.mark.parametrize("vbox, visibility", [
    ([1, 2, 10, 10], 0.5),  # 10 * 10 / (10 * 20)
    ([1, 2, 0, 0], 0.0),  # nothing visible
    ([1, 2, -5, 10], 0.0),  # a negative visible size is "not visible", not an error
])
def test_crowdhuman_visible_box_of_any_finite_size_gives_a_visibility(tmp_path, vbox, visibility):
    _image(str(tmp_path / "Images" / "a.jpg"))
    odgt = _write(tmp_path / "annotation.odgt", _box_line(("vbox",), vbox) + "\n")
    assert load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))[0]["annotations"][0]["vis_ratio"] == visibility


@pytest.mark.parametrize("box, ignore", [
    ({"tag": "person"}, 0), ({"tag": "mask"}, 1), ({"tag": "person", "extra": {"ignore": 1}}, 1),
    ({"tag": "person", "extra": {"ignore": True}}, 1), ({"tag": "person", "extra": {}}, 0),
])
def test_crowdhuman_ignore_rule_on_valid_boxes(tmp_path, box, ignore):
    _image(str(tmp_path / "Images" / "a.jpg"))
    odgt = _write(tmp_path / "annotation.odgt", json.dumps({"ID": "a", "gtboxes": [dict(box, fbox=[1, 2, 10, 20])]}))
    assert load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))[0]["annotations"][0]["ignore"] == ignore


# ---------------------------------------------------------------------------------------------------------------------
# CityPersons, per-image JSON
# ---------------------------------------------------------------------------------------------------------------------
CP_OBJECT = {"label": "pedestrian", "bbox": [1, 2, 10, 20], "bboxVis": [1, 2, 10, 10], "instanceId": 1}
CP_FILE = {"imgHeight": 24, "imgWidth": 32, "objects": [CP_OBJECT]}
CP_NAME = "city_000000_000001"


def _cp(path=(), value=None, remove=False):
    data = copy.deepcopy(CP_FILE)
    node = data
    for k in path[:-1]:
        node = node[k]
    node.pop(path[-1]) if remove else node.__setitem__(path[-1], value)
    return json.dumps(data)


CP_ERRORS = {
    "empty file": ("", r":1: the file is empty"),
    "truncated": (json.dumps(CP_FILE)[:-10], r":1: the JSON ends early \(truncated file\?\)"),
    "odgt given": (_line() + "\n" + _line(ID="b") + "\n", r":2: this looks like an .odgt file"),
    "COCO given": (json.dumps({"images": [], "annotations": []}), r":1: this looks like a COCO-style file"),
    "list": ("[]", r":1: expected a JSON object with 'imgHeight', 'imgWidth' and 'objects', got a list"),
    "not UTF-8": (b"\x80\x81", r":1: not a UTF-8 text file"),
    "no imgHeight": (_cp(("imgHeight",), remove=True), r": 'imgHeight' is missing"),
    "no imgWidth": (_cp(("imgWidth",), remove=True), r": 'imgWidth' is missing"),
    "no objects": (_cp(("objects",), remove=True), r": 'objects' is missing"),
    "objects object": (_cp(("objects",), {}), r": 'objects' must be a list"),
    "imgHeight string": (_cp(("imgHeight",), "24"), r": 'imgHeight' must be a positive integer"),
    "imgHeight 0": (_cp(("imgHeight",), 0), r": 'imgHeight' must be a positive integer"),
    "imgWidth negative": (_cp(("imgWidth",), -32), r": 'imgWidth' must be a positive integer"),
    "imgWidth NaN": (_cp(("imgWidth",), NAN), r": 'imgWidth' must be a positive integer"),
    "object string": (_cp(("objects", 0), "pedestrian"), r": objects\[0\]: an object must be a JSON object"),
    "no label": (_cp(("objects", 0, "label"), remove=True), r": objects\[0\]: 'label' is missing"),
    "unknown label": (_cp(("objects", 0, "label"), "cyclist"), r": objects\[0\]: unknown label 'cyclist'"),
    "no bbox": (_cp(("objects", 0, "bbox"), remove=True), r": objects\[0\]: 'bbox' is missing"),
    "no bboxVis": (_cp(("objects", 0, "bboxVis"), remove=True), r": objects\[0\]: 'bboxVis' is missing"),
    "bbox NaN": (_cp(("objects", 0, "bbox"), [1, 2, NAN, 20]), r": objects\[0\]: 'bbox' holds NaN or infinity"),
    "bbox string": (_cp(("objects", 0, "bbox"), ["1", 2, 10, 20]), r": objects\[0\]: 'bbox' must hold numbers"),
    "bboxVis inf": (_cp(("objects", 0, "bboxVis"), [1, 2, 10, INF]), r": objects\[0\]: 'bboxVis' holds NaN"),
    "bbox 5 numbers": (_cp(("objects", 0, "bbox"), [1, 2, 3, 4, 5]), r": objects\[0\]: 'bbox' must be a list of 4"),
}


def _cp_tree(tmp_path, content):
    gt = _write(tmp_path / "gt" / "city" / f"{CP_NAME}_gtBboxCityPersons.json", content)
    _image(str(tmp_path / "img" / "city" / f"{CP_NAME}_leftImg8bit.png"))
    return gt, str(tmp_path / "gt"), str(tmp_path / "img")


@pytest.mark.parametrize("content, message", list(CP_ERRORS.values()), ids=list(CP_ERRORS))
def test_citypersons_per_image_bad_input_is_an_error_naming_the_file(tmp_path, content, message):
    gt_file, gt_dir, img_dir = _cp_tree(tmp_path, content)
    with pytest.raises(DatasetFormatError, match=rf"^{gt_file}{message}"):
        load_citypersons_per_image(gt_dir, img_dir)


@pytest.mark.parametrize("bbox, reason", [([1, 2, -10, 20], "of zero or negative size"),
                                          ([40, 2, 10, 20], "entirely outside the image")])
def test_citypersons_per_image_dropped_boxes_are_counted(tmp_path, caplog, bbox, reason):
    _, gt_dir, img_dir = _cp_tree(tmp_path, _cp(("objects", 0, "bbox"), bbox))
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        assert load_citypersons_per_image(gt_dir, img_dir, dataset_name="cp")[0]["annotations"] == []
    assert len(_warnings(caplog)) == 1 and f"cp: dropped 1 box(es) (1 {reason})" in _warnings(caplog)[0]


def test_citypersons_per_image_empty_split_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no '\\*_gtBboxCityPersons.json' file under"):
        load_citypersons_per_image(str(tmp_path), str(tmp_path))


# ---------------------------------------------------------------------------------------------------------------------
# COCO-style: CityPersons val_gt.json and TJU-Ped
# ---------------------------------------------------------------------------------------------------------------------
COCO = {
    "images": [{"id": 1, "im_name": f"{CP_NAME}_leftImg8bit.png", "height": 24, "width": 32}],
    "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "vis_bbox": [1, 2, 10, 10],
                     "height": 20, "vis_ratio": 0.5, "ignore": 0, "iscrowd": 0}],
    "categories": [{"id": 1, "name": "pedestrian"}, {"id": 0, "name": "ignore region"}],
}


def _coco(path=(), value=None, remove=False, base=COCO):
    data = copy.deepcopy(base)
    node = data
    for k in path[:-1]:
        node = node[k]
    node.pop(path[-1]) if remove else node.__setitem__(path[-1], value)
    return json.dumps(data)


A0 = r": annotations\[0\] \(id 7\)"
COCO_ERRORS = {
    "empty file": ("", r":1: the file is empty"),
    "truncated": (json.dumps(COCO)[:40], r":1: the JSON ends early"),
    "odgt given": (_line() + "\n" + _line(ID="b"), r":2: this looks like an .odgt file"),
    "results given": (json.dumps([{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]),
                      r":1: expected a COCO-style object .*COCO results \(detections\) file"),
    "per-image file given": (json.dumps(CP_FILE), r":1: expected a COCO-style object .*per-image CityPersons"),
    "no images": (_coco(("images",), remove=True), r":1: expected a COCO-style object with 'images'"),
    "no annotations": (_coco(("annotations",), remove=True), r": the 'annotations' list is missing"),
    "annotations object": (_coco(("annotations",), {}), r": 'annotations' must be a list"),
    "image not an object": (_coco(("images", 0), 1), r": images\[0\]: an image entry must be an object"),
    "image no id": (_coco(("images", 0, "id"), remove=True), r": images\[0\]: 'id' is missing"),
    "image no height": (_coco(("images", 0, "height"), remove=True), r": images\[0\]: 'height' is missing"),
    "image no name": (_coco(("images", 0, "im_name"), remove=True), r": images\[0\] \(id 1\): 'file_name'"),
    "image id list": (_coco(("images", 0, "id"), [1]), r": images\[0\]: 'id' must be an integer or"),
    "image id bool": (_coco(("images", 0, "id"), True), r": images\[0\]: 'id' must be an integer or"),
    "image height string": (_coco(("images", 0, "height"), "24"), r": images\[0\] \(id 1\): 'height' must be"),
    "image width 0": (_coco(("images", 0, "width"), 0), r": images\[0\] \(id 1\): 'width' must be a positive"),
    "image width NaN": (_coco(("images", 0, "width"), NAN), r": images\[0\] \(id 1\): 'width' must be a positive"),
    "duplicate image id": (_coco(("images",), COCO["images"] * 2), r": images\[1\]: duplicate image id 1"),
    "annotation string": (_coco(("annotations", 0), "x"), r": annotations\[0\]: an annotation must be an object"),
    "no image_id": (_coco(("annotations", 0, "image_id"), remove=True), A0 + r": an annotation must be an object"),
    "unknown image_id": (_coco(("annotations", 0, "image_id"), 2), A0 + r": 'image_id' 2 does not name an image"),
    "no bbox": (_coco(("annotations", 0, "bbox"), remove=True), A0 + r": 'bbox' is missing"),
    "bbox NaN": (_coco(("annotations", 0, "bbox"), [NAN, 2, 10, 20]), A0 + r": 'bbox' holds NaN or infinity"),
    "bbox strings": (_coco(("annotations", 0, "bbox"), "1,2,10,20"), A0 + r": 'bbox' must be a list of 4"),
    "vis_bbox inf": (_coco(("annotations", 0, "vis_bbox"), [1, 2, INF, 10]), A0 + r": 'vis_bbox' holds NaN"),
    "ignore 2": (_coco(("annotations", 0, "ignore"), 2), A0 + r": 'ignore' must be 0 or 1, got 2"),
    "ignore string": (_coco(("annotations", 0, "ignore"), "1"), A0 + r": 'ignore' must be 0 or 1, got '1'"),
    "iscrowd null": (_coco(("annotations", 0, "iscrowd"), None), A0 + r": 'iscrowd' is null; write the value or "
                                                                      r"leave the key out"),
    "height NaN": (_coco(("annotations", 0, "height"), NAN), A0 + r": 'height' must be finite"),
    "height negative": (_coco(("annotations", 0, "height"), -20), A0 + r": 'height' must be in \[0.0, None\]"),
    "height string": (_coco(("annotations", 0, "height"), "20"), A0 + r": 'height' must be a number"),
    "vis_ratio above 1": (_coco(("annotations", 0, "vis_ratio"), 1.5), A0 + r": 'vis_ratio' must be in \[0.0, 1.0\]"),
    "vis_ratio inf": (_coco(("annotations", 0, "vis_ratio"), INF), A0 + r": 'vis_ratio' must be finite"),
    "unknown category": (_coco(("annotations", 0, "category_id"), 9), A0 + r": 'category_id' 9 is not one of"),
    "category without name": (_coco(("categories", 0), {"id": 1}), r": categories\[0\] must be an object with"),
}


def _coco_tree(tmp_path, content):
    gt = _write(tmp_path / "val_gt.json", content)
    _image(str(tmp_path / "img" / "city" / f"{CP_NAME}_leftImg8bit.png"))
    return gt, str(tmp_path / "img")


@pytest.mark.parametrize("content, message", list(COCO_ERRORS.values()), ids=list(COCO_ERRORS))
def test_citypersons_json_bad_input_is_an_error_naming_file_and_record(tmp_path, content, message):
    gt, img = _coco_tree(tmp_path, content)
    with pytest.raises(DatasetFormatError, match=rf"^{gt}{message}"):
        load_citypersons_json(gt, img)


@pytest.mark.parametrize("key, consequence", [
    ("ignore", "counted as regular pedestrians"),
    ("vis_bbox+vis_ratio", "visible box = full box"),
    # read in silence before (the evaluator command warns alike)
    ("vis_ratio", "computed from 'vis_bbox'"),
    ("height", "the height of 'bbox'"),
    ("category_id", "read as category 1"),
])
def test_citypersons_json_missing_optional_keys_are_counted(tmp_path, caplog, key, consequence):
    data = copy.deepcopy(COCO)
    for k in key.split("+"):
        del data["annotations"][0][k]
    gt, img = _coco_tree(tmp_path, json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        load_citypersons_json(gt, img, dataset_name="cp")
    first = key.split("+")[0]
    assert _warnings(caplog) == [f"cp: 1 annotation(s) have no '{first}': {_consequence(consequence)}; "
                                 f"first: {gt}: annotations[0] (id 7)"]


def _consequence(start):
    return {"counted as regular pedestrians": "counted as regular pedestrians (as the official evaluator does)",
            "visible box = full box": "no 'vis_ratio' either: visible box = full box (visibility 1)",
            "computed from 'vis_bbox'": "computed from 'vis_bbox' as area(vis_bbox ∩ bbox) / area(bbox)",
            "the height of 'bbox'": "the height of 'bbox' (its 4th value)",
            "read as category 1": "read as category 1 (pedestrian)"}[start]


def test_citypersons_json_vis_ratio_without_vis_bbox_is_enough(tmp_path, caplog):
    gt, img = _coco_tree(tmp_path, _coco(("annotations", 0, "vis_bbox"), remove=True))
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        ann = load_citypersons_json(gt, img)[0]["annotations"][0]
    assert ann["vis_ratio"] == 0.5 and not _warnings(caplog)


def test_citypersons_json_boxes_outside_the_image_are_dropped_and_counted(tmp_path, caplog):
    gt, img = _coco_tree(tmp_path, _coco(("annotations", 0, "bbox"), [1, 30, 10, 20]))  # y = 30 >= height 24
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        assert load_citypersons_json(gt, img, dataset_name="cp")[0]["annotations"] == []
    assert "cp: dropped 1 box(es) (1 entirely outside the image)" in _warnings(caplog)[0]


TJU = dict(COCO, images=[{"id": 1, "file_name": "a.jpg", "height": 24, "width": 32}])
TJU_ERRORS = {
    "no categories": (_coco(("categories",), remove=True, base=TJU), r": the 'categories' list is missing"),
    "no category_id": (_coco(("annotations", 0, "category_id"), remove=True, base=TJU),
                       A0 + r": 'category_id' is missing \(the category decides what is an ignore region\)"),
    "unknown category_id": (_coco(("annotations", 0, "category_id"), 3, base=TJU),
                            A0 + r": 'category_id' 3 is not one of the file's categories \[0, 1\]"),
    "categories object": (_coco(("categories",), {}, base=TJU), r": 'categories' must be a list"),
}


@pytest.mark.parametrize("content, message", list(TJU_ERRORS.values()), ids=list(TJU_ERRORS))
def test_tju_ped_needs_its_categories(tmp_path, content, message):
    gt = _write(tmp_path / "tju.json", content)
    _image(str(tmp_path / "img" / "a.jpg"))
    with pytest.raises(DatasetFormatError, match=rf"^{gt}{message}"):
        load_tju_ped(gt, str(tmp_path / "img"))


def test_tju_ped_category_named_ignore_region_is_an_ignore_box(tmp_path):
    gt = _write(tmp_path / "tju.json", _coco(("annotations", 0, "category_id"), 0, base=TJU))
    _image(str(tmp_path / "img" / "a.jpg"))
    ann = load_tju_ped(gt, str(tmp_path / "img"))[0]["annotations"][0]
    assert (ann["ignore"], ann["category_id"], ann["label"]) == (1, -1, "ignore region")


# ---------------------------------------------------------------------------------------------------------------------
# Caltech bbGt
# ---------------------------------------------------------------------------------------------------------------------
HEADER = "% bbGt version=3\n"
CALTECH_ERRORS = {
    "empty file": ("", r":1: expected the header '% bbGt version=3', got '' \(empty file\)"),
    "no header": ("person 1 2 10 20 0 0 0 0 0 0 0\n", r":1: expected the header"),
    "other version": ("% bbGt version=2\n", r":1: expected the header"),
    "not UTF-8": (b"\xff\xd8\xff\xe0 a JPEG", r":1: not a UTF-8 text file"),
    "11 fields": (HEADER + "person 1 2 10 20 0 0 0 0 0 0\n", r":2: expected 12 fields"),
    "13 fields": (HEADER + "person 1 2 10 20 0 0 0 0 0 0 0 0\n", r":2: expected 12 fields"),
    "non-numeric": (HEADER + "person 1 2 ten 20 0 0 0 0 0 0 0\n", r":2: non-numeric field"),
    "NaN": (HEADER + "person 1 2 nan 20 0 0 0 0 0 0 0\n", r":2: NaN or infinity"),
    "inf": (HEADER + "person 1 2 10 inf 0 0 0 0 0 0 0\n", r":2: NaN or infinity"),
    "unknown label": (HEADER + "cyclist 1 2 10 20 0 0 0 0 0 0 0\n", r":2: unknown label 'cyclist'; expected one of"),
    "occ 2": (HEADER + "person 1 2 10 20 2 0 0 0 0 0 0\n", r":2: the 'occ' flag must be 0 or 1, got '2'"),
    "ign 0.5": (HEADER + "person 1 2 10 20 0 0 0 0 0 0.5 0\n", r":2: the 'ign' flag must be 0 or 1, got '0.5'"),
    "ign negative": (HEADER + "person 1 2 10 20 0 0 0 0 0 -1 0\n", r":2: the 'ign' flag must be 0 or 1"),
    # tenth trial: a second header (two files concatenated), a line cut by a crash; a 5000-field line was quoted whole
    "second header": (HEADER + "person 1 2 10 20 0 0 0 0 0 0 0\n" + HEADER, r":3: expected 12 fields"),
    "cut line": (HEADER + "person 1 2 10", r":2: expected 12 fields .*, got 'person 1 2 10'$"),
    "very long line": (HEADER + "person" + " 5" * 5000 + "\n",
                       r":2: expected 12 fields .*, got 'person 5 5 [5 ]{0,40}\.\.\.[5 ]{0,20}'$"),
}


@pytest.mark.parametrize("content, message", list(CALTECH_ERRORS.values()), ids=list(CALTECH_ERRORS))
def test_caltech_bad_input_is_an_error_naming_file_and_line(tmp_path, content, message):
    path = _write(tmp_path / "anno" / "set06_V000_I00029.jpg.txt", content)
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"))
    with pytest.raises(DatasetFormatError, match=rf"^{path}{message}"):
        load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))


@pytest.mark.parametrize("line, reason", [
    ("person 1 2 -10 20 0 0 0 0 0 0 0", "of zero or negative size"),
    ("person 1 2 10 0 0 0 0 0 0 0 0", "of zero or negative size"),
    ("person 40 2 10 20 0 0 0 0 0 0 0", "entirely outside the image"),
])
def test_caltech_dropped_boxes_are_counted(tmp_path, caplog, line, reason):
    _write(tmp_path / "anno" / "set06_V000_I00029.txt", HEADER + line + "\nperson 1 2 10 20 0 0 0 0 0 0 0\n")
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"))
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        annos = load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"), dataset_name="ct")[0]["annotations"]
    assert [a["bbox"] for a in annos] == [[1.0, 2.0, 10.0, 20.0]]
    assert len(_warnings(caplog)) == 1 and f"ct: dropped 1 box(es) (1 {reason})" in _warnings(caplog)[0]


@pytest.mark.parametrize("label, ignore", [("person", 0), ("people", 1), ("person?", 1), ("person-fa", 1),
                                           ("ignore", 1)])
def test_caltech_every_known_label_loads(tmp_path, label, ignore):
    _write(tmp_path / "anno" / "set06_V000_I00029.txt", HEADER + f"{label} 1 2 10 20 0 0 0 0 0 0 0\n")
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"))
    ann = load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))[0]["annotations"][0]
    assert (ann["label"], ann["ignore"]) == (label, ignore)
