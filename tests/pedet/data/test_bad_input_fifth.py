"""
Fifth bad-input trial of the data side (issue 11): one annotation file read by a loader and by
``python -m pedet.evaluation`` must give one verdict (before, the evaluator read a null key as absent, a mis-cased
tag as an ignore region and an image_id true / 1.0 as image 1, where the loaders stopped); annotation files whose
extension is in upper case and folders whose names hold glob characters ("[", "*") are read, not skipped without a
word; an output under a file is named as such.
"""
import io
import json
import logging
import os
import re

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_caltech, load_citypersons_json, load_citypersons_per_image, load_crowdhuman_odgt
from pedet.data.common import DatasetFormatError
from pedet.data.convert import main as convert
from pedet.evaluation.__main__ import main as evaluate

from .conftest import write_file as _write, write_image


def _image(path, height=80, width=100):
    write_image(path, height, width)

PERSON = {"tag": "person", "fbox": [10, 10, 20, 40], "vbox": [10, 10, 20, 30], "extra": {"ignore": 0}}
COCO = {"images": [{"id": 1, "file_name": "c_000000_000001_leftImg8bit.png", "height": 80, "width": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 40], "vis_ratio": 1.0,
                         "ignore": 0}]}
BBGT = "% bbGt version=3\nperson 100 100 41 100 0 0 0 0 0 0 0\n"


def _odgt(box):
    return json.dumps({"ID": "a", "width": 100, "height": 80, "gtboxes": [box]}) + "\n"


def _coco(**changes):
    data = json.loads(json.dumps(COCO))
    data["annotations"][0].update(changes)
    return json.dumps(data)


# (file text, loader message after "<file>...: ", evaluator message after "<file>: ..."); the key must be named
ODGT_CASES = {
    "tag Person": (_odgt(dict(PERSON, tag="Person")), r":1: unknown tag 'Person'; expected one of .*case-sensitive",
                   r"gtboxes 0: unknown tag 'Person'; expected one of person / mask \(tags are case-sensitive\)"),
    "extra null": (_odgt(dict(PERSON, extra=None)), r":1: 'extra' is null", r"gtboxes 0: 'extra' must be an object"),
    "vbox null": (_odgt(dict(PERSON, vbox=None)), r":1: 'vbox' is null", r"gtboxes 0: 'vbox' must be .*got null"),
    "vbox empty": (_odgt(dict(PERSON, vbox=[])), r":1: 'vbox' must be a list of 4 numbers",
                   r"gtboxes 0: 'vbox' must be \[x, y, w, h\] \(4 numbers\), got 0 values"),
    # sixth trial: the evaluator read 100.5 and a lone width as sizes the loaders refuse
    "width 100.5": (json.dumps({"ID": "a", "width": 100.5, "height": 80, "gtboxes": [PERSON]}) + "\n",
                    r":1: 'width' must be a positive integer up to 100000",
                    r"line 1 \(image 'a'\): 'width' is 100.5, not a positive integer up to 100000"),
    "width alone": (json.dumps({"ID": "a", "width": 100, "gtboxes": [PERSON]}) + "\n",
                    r":1: give both 'width' and 'height' or neither",
                    r"line 1 \(image 'a'\): 'width' without 'height'; give both or neither"),
    # fourteenth trial: the loader read IDs 'a' and './a' as two images of one picture (the person of one record was
    # background in the other); the evaluator as two images
    "ID ./a beside a": (_odgt(PERSON) + json.dumps({"ID": "./a", "width": 100, "height": 80, "gtboxes": []}) + "\n",
                        r":2: image file '.*/img/\./a\.jpg' is also the file of line 1 \(ID 'a'\); one image needs one "
                        r"entry$", r"line 2 \(image '\./a'\): image id '\./a' names the same image as 'a' \(.*line 1"),
}
COCO_CASES = {
    "vis_bbox null": (_coco(vis_bbox=None), r": annotations\[0\] \(id 1\): 'vis_bbox' is null",
                      r"annotation 1 \(image 1\): 'vis_bbox' is null"),
    "height null": (_coco(height=None), r": annotations\[0\] \(id 1\): 'height' is null",
                    r"annotation 1 \(image 1\): 'height' is null"),
    "vis_ratio null": (_coco(vis_ratio=None), r": annotations\[0\] \(id 1\): 'vis_ratio' is null",
                       r"annotation 1 \(image 1\): 'vis_ratio' is null"),
    "iscrowd 2": (_coco(iscrowd=2), r": annotations\[0\] \(id 1\): 'iscrowd' must be 0 or 1, got 2",
                  r"annotation 1 \(image 1\): 'iscrowd' is 2, not 0 or 1"),
    "category_id null": (_coco(category_id=None), r": annotations\[0\] \(id 1\): 'category_id' is null",
                         r"annotation 1 \(image 1\): 'category_id' is null"),
    "image_id true": (_coco(image_id=True), r": annotations\[0\] \(id 1\): 'image_id' True does not name an image",
                      r"annotation 1: 'image_id' is a boolean \(True\)"),
    "image_id 1.0": (_coco(image_id=1.0), r": annotations\[0\] \(id 1\): 'image_id' 1.0 does not name an image",
                     r"annotation 1: 'image_id' is a number \(1.0\)"),
    # sixth trial: the evaluator read 2048.5 and a lone width as sizes the loaders refuse
    "image width 100.5": (json.dumps(dict(COCO, images=[dict(COCO["images"][0], width=100.5)])),
                          r": images\[0\] \(id 1\): 'width' must be a positive integer up to 100000",
                          r"image 1: 'width' is 100.5, not a positive integer up to 100000"),
    # sixth trial: the loaders read an annotation id "1" or 1.5, the evaluator refused it
    "annotation id a string": (_coco(id="1"),
                               r": annotations\[0\] \(id '1'\): 'id' must be an integer \(64 bits\), got '1'",
                               r"annotation '1' \(image 1\): 'id' is a string, not an integer"),
    "annotation id 1.5": (_coco(id=1.5), r": annotations\[0\] \(id 1.5\): 'id' must be an integer \(64 bits\), got 1.5",
                          r"annotation 1.5 \(image 1\): 'id' is a number, not an integer"),
    # sixth trial: both kept the two boxes without a word; COCO tools would read the second one twice
    "annotation id twice": (json.dumps(dict(COCO, annotations=COCO["annotations"] + [
        dict(COCO["annotations"][0], bbox=[50, 10, 20, 40])])),
        r": annotations\[1\] \(id 1\): duplicate annotation id \(first at annotations\[0\]\)",
        r"annotation id 1 is used twice \(images 1 and 1\)"),
}


@pytest.mark.parametrize("case", list(ODGT_CASES) + list(COCO_CASES) + ["good odgt", "good coco"])
def test_loader_and_evaluator_give_one_verdict_on_one_file(tmp_path, capsys, case):
    odgt = case in ODGT_CASES or case == "good odgt"
    text, loader_message, evaluator_message = (ODGT_CASES.get(case) or COCO_CASES.get(case)
                                               or ((_odgt(PERSON) if odgt else json.dumps(COCO)), None, None))
    gt = _write(tmp_path / ("gt.odgt" if odgt else "gt.json"), text)
    if odgt:
        _image(str(tmp_path / "img" / "a.jpg"))
        dt = _write(tmp_path / "dt.odgt", '{"ID": "a", "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}]}\n')
        load = lambda: load_crowdhuman_odgt(gt, str(tmp_path / "img"))  # noqa: E731
    else:
        _image(str(tmp_path / "img" / "c" / COCO["images"][0]["file_name"]))
        dt = _write(tmp_path / "dt.json", '[{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 40], '
                                          '"score": 0.9}]')
        load = lambda: load_citypersons_json(gt, str(tmp_path / "img"))  # noqa: E731
    rc = evaluate(["--protocol", "crowdhuman" if odgt else "citypersons", "--gt", gt, "--dt", dt])
    err = capsys.readouterr().err
    if loader_message is None:  # the control: both read it
        assert rc == 0 and "error" not in err, err
        assert [len(d["annotations"]) for d in load()] == [1]
        return
    assert rc == 1 and re.fullmatch(rf"error: {re.escape(gt)}: .*{evaluator_message}.*\n", err), err
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(gt)}{loader_message}"):
        load()


@pytest.mark.parametrize("names", [["set00_V000_I00002.TXT"], ["set00_V000_I00002.jpg.TXT"],
                                   ["set00_V000_I00002.txt", "set00_V000_I00005.TXT"]])
@pytest.mark.parametrize("folder", ["anno", "anno [v2]*"])
def test_caltech_reads_upper_case_txt_and_folders_with_glob_characters(tmp_path, names, folder):
    """Before: '*.TXT' frames were left out without a word; a folder named 'anno [v2]' had "no bbGt file"."""
    for name in names:
        _write(tmp_path / folder / name, BBGT)
        _image(str(tmp_path / "images" / (name.split(".")[0] + ".jpg")), 480, 640)
    dicts = load_caltech(str(tmp_path / folder), str(tmp_path / "images"))
    assert [(d["image_id"], len(d["annotations"])) for d in dicts] == \
        [(name.split(".")[0], 1) for name in sorted(names)]


def test_caltech_annotation_path_that_is_not_a_folder(tmp_path):
    path = _write(tmp_path / "set00_V000_I00002.txt", BBGT)
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(path)}: not a folder \(the Caltech annotations are a "
                                                 r"folder of bbGt '\*.txt' files, one per frame\)$"):
        load_caltech(path, str(tmp_path))


def test_caltech_seq2jpg_finds_the_frames_the_loader_reads(tmp_path, capsys):
    """'*.TXT' annotations and a '[' in a folder name: the frames were "not annotated" (none written)."""
    _write(tmp_path / "anno [1]" / "test" / "set06_V000_I00001.JPG.TXT", BBGT)
    os.makedirs(tmp_path / "seq [1]" / "set06")
    frames = []
    for value in (10, 200):
        buf = io.BytesIO()
        Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(buf, format="JPEG")
        frames.append(buf.getvalue())
    (tmp_path / "seq [1]" / "set06" / "V000.seq").write_bytes(b"\x00" * 16 + b"".join(frames))
    assert convert(["caltech_seq2jpg", str(tmp_path / "seq [1]"), str(tmp_path / "anno [1]"),
                    str(tmp_path / "images")]) == 0, capsys.readouterr().err
    assert os.listdir(tmp_path / "images") == ["set06_V000_I00001.jpg"]
    with Image.open(tmp_path / "images" / "set06_V000_I00001.jpg") as im:
        assert abs(int(np.asarray(im).mean()) - 200) < 5  # frame 1, the second one


CP = {"imgHeight": 80, "imgWidth": 100, "objects": [{"label": "pedestrian", "bbox": [10, 10, 20, 40],
                                                     "bboxVis": [10, 10, 20, 30]}]}


def test_citypersons_per_image_upper_case_json_glob_characters_and_stray_files(tmp_path, caplog):
    """Before: a '.JSON' file among '.json' ones, and a file outside the city folders, were left out silently."""
    gt, img = tmp_path / "gt [val]", tmp_path / "img"
    for frame, ext in ((1, "json"), (2, "JSON")):
        _write(gt / "c" / f"c_000000_00000{frame}_gtBboxCityPersons.{ext}", json.dumps(CP))
        _image(str(img / "c" / f"c_000000_00000{frame}_leftImg8bit.png"))
    stray = _write(gt / "c_000000_000003_gtBboxCityPersons.json", json.dumps(CP))
    with caplog.at_level(logging.WARNING):
        dicts = load_citypersons_per_image(str(gt), str(img))
    assert [d["image_id"] for d in dicts] == ["c_000000_000001", "c_000000_000002"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{gt}: 1 '*_gtBboxCityPersons.json' file(s) directly in the split folder are not read (the layout is "
        f"<split>/<city>/*_gtBboxCityPersons.json); first: {stray}"]


def test_citypersons_bboxvis_null_is_named_null(tmp_path):
    """Before: "'bboxVis' is missing" for a key that is there."""
    path = _write(tmp_path / "gt" / "c" / "c_000000_000001_gtBboxCityPersons.json",
                  json.dumps(dict(CP, objects=[dict(CP["objects"][0], bboxVis=None)])))
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(path)}: objects\[0\]: 'bboxVis' is null; a value is "
                                                 r"required$"):
        load_citypersons_per_image(str(tmp_path / "gt"), str(tmp_path / "img"))


@pytest.mark.parametrize("command", ["odgt2coco", "coco2odgt"])
def test_converter_output_under_a_file_is_named(tmp_path, capsys, command):
    """Before: "error: [Errno 17] File exists: '<the file>'" (odgt2coco), naming neither the output nor the problem."""
    src = _write(tmp_path / "in", _odgt(PERSON) if command == "odgt2coco" else _coco())
    blocker = _write(tmp_path / "notes.txt", "x")
    assert convert([command, src, f"{blocker}/sub/out"]) == 1
    assert capsys.readouterr().err == (f"error: {blocker}: cannot write '{blocker}/sub/out': this is a file, not a "
                                       "folder\n")
