"""
Third bad-input trial of the data side (issue 11): inputs neither earlier catalogue (test_bad_input.py,
test_bad_input_fresh.py, test_cli_bad_input.py) tried. Values that Python's json reads but JSON cannot hold in keys
the converters copy unchanged, a converter output that names its own input, a synthetic set written over a real
data set, a COCO file whose categories cannot say which boxes are persons, a .seq file without a video in it, a
TJU-Ped file whose categories are not pedestrians; and, as representative passes, files with Windows or classic Mac
line ends, a byte-order mark, unicode names and tab-separated Caltech fields. Each case is an error naming the file
and the record, a counted warning, or the documented result; never a traceback and never a silent change.
"""
import json
import logging
import os
import re

import pytest

from pedet.data import load_caltech, load_crowdhuman_odgt, load_tju_ped
from pedet.data import synthetic as syn
from pedet.data.convert import main as convert

from .conftest import write_file as _write, write_image as _image

NAN, INF = float("nan"), float("inf")  # json.dumps writes them as the NaN / Infinity literals
PERSON = {"tag": "person", "fbox": [1, 2, 10, 20], "vbox": [1, 2, 10, 10], "hbox": [3, 2, 4, 4],
          "extra": {"box_id": 0, "occ": 0}, "head_attr": {"ignore": 0, "occ": 0}}
SIZED = {"width": 32, "height": 24}
COCO = {"images": [{"id": 1, "file_name": "a.jpg", "height": 24, "width": 32}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}]}


def _odgt(*records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _coco(**changes):
    """COCO with changes: "section" replaces a section, "section__key" sets a key of entry 0."""
    data = json.loads(json.dumps(COCO))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section][0][field] = value
        else:
            data[section] = value
    return json.dumps(data)


def _one_line_error(capsys, rc, status=1):
    err = capsys.readouterr().err
    assert rc == status and "Traceback" not in err, err
    lines = [x for x in err.strip().splitlines() if not x.startswith(("usage:", " "))]
    assert len(lines) == 1 and "error: " in lines[0], err
    return lines[0]


def _warnings(caplog):
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# ---------------------------------------------------------------------------------------------------------------------
# Converters: bad input found by this trial (each was a traceback or a silent change before)
# ---------------------------------------------------------------------------------------------------------------------
CONVERT_ERRORS = {
    # json reads the NaN / Infinity literals; the keys are copied unchanged, and writing them was a ValueError traceback
    "odgt2coco extra holds NaN": ("odgt2coco", _odgt(dict(ID="a", gtboxes=[dict(PERSON, extra={"box_id": NAN})],
                                                          **SIZED)),
                                  r"in:1: 'extra' holds NaN or infinity \(nan in \{'box_id': nan\}\)"),
    "odgt2coco head_attr holds Infinity": ("odgt2coco",
                                           _odgt(dict(ID="a", gtboxes=[dict(PERSON, head_attr={"occ": INF})], **SIZED)),
                                           r"in:1: 'head_attr' holds NaN or infinity \(inf in \{'occ': inf\}\)"),
    "coco2odgt extra holds NaN": ("coco2odgt", _coco(annotations__extra={"box_id": NAN}),
                                  r"in: annotations\[0\] \(id 5\): 'extra' holds NaN or infinity"),
    "coco2odgt head_attr holds -Infinity in a list": ("coco2odgt", _coco(annotations__head_attr={"occ": [0, -INF]}),
                                                      r"in: annotations\[0\] \(id 5\): 'head_attr' holds NaN or "
                                                      r"infinity \(-inf in"),
    # before: left out with "categories other than 'person'", although it has no category at all
    "coco2odgt annotation without category_id": ("coco2odgt", json.dumps(dict(COCO, annotations=[
        {"id": 5, "image_id": 1, "bbox": [1, 2, 10, 20]}])),
        r"in: annotations\[0\] \(id 5\): 'category_id' is missing \(the file has categories \[1\]\)"),
    # before: the last one won, the first one's boxes were left out "as another category"
    "coco2odgt two categories named person": ("coco2odgt", _coco(categories=[{"id": 1, "name": "person"},
                                                                            {"id": 2, "name": "Person"}]),
                                              r"in: categories 1 and 2 are both named 'Person' \(names are compared "
                                              r"ignoring case\); merge them first"),
    # fourth trial: a key twice in one object; json keeps the last value (the person became an ignore region, the
    # file's categories were replaced) and so did every other reader of the project
    "odgt2coco tag twice in a box": ("odgt2coco", '{"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": '
                                                  '"person", "fbox": [1, 2, 10, 20], "tag": "mask"}]}\n',
                                     r"in:1: an object has the key 'tag' twice \('person', then 'mask'\); JSON readers "
                                     r"keep the last value without a word: remove the one that is wrong$"),
    # fifth trial: null read as "missing"; an image_id 1.0 found image 1 (a dict lookup), where the loaders refuse it
    "coco2odgt vis_bbox null": ("coco2odgt", _coco(annotations__vis_bbox=None),
                                r"in: annotations\[0\] \(id 5\): 'vis_bbox' is null; write the value or leave the key "
                                r"out$"),
    "coco2odgt image_id 1.0": ("coco2odgt", _coco(annotations__image_id=1.0),
                               r"in: annotations\[0\] \(id 5\): 'image_id' 1.0 does not name an image of the file$"),
    "odgt2coco vbox null": ("odgt2coco", _odgt(dict(ID="a", gtboxes=[dict(PERSON, vbox=None)], **SIZED)),
                            r"in:1: 'vbox' is null; write the value or leave the key out$"),
    "odgt2coco tag Person": ("odgt2coco", _odgt(dict(ID="a", gtboxes=[dict(PERSON, tag="Person")], **SIZED)),
                             r"in:1: unknown tag 'Person'; expected one of \('person', 'mask'\) \(tags are "
                             r"case-sensitive\)$"),
    "coco2odgt categories twice": ("coco2odgt", json.dumps(COCO)[:-1] + ', "categories": []}',
                                   r"in: an object has the key 'categories' twice \(\[\{'id': 1, 'name': 'person'\}\], "
                                   r"then \[\]\)"),
    # thirteenth trial: an empty .odgt was written (exit 0), which the loader and the evaluator then refuse
    "coco2odgt no image": ("coco2odgt", json.dumps(dict(COCO, images=[], annotations=[])),
                           r"in: 'images' is empty; an .odgt has one line per image$"),
    # the zeros a crash leaves at the end of a growing file: was "malformed JSON (column 1): Expecting value"
    "odgt2coco NUL-padded end": ("odgt2coco", _odgt(dict(ID="a", gtboxes=[PERSON], **SIZED)) + "\x00" * 64,
                                 r"in:2: NUL bytes in the line \(the zero-filled end of a file cut short by a crash "
                                 r"or a power loss\? write the file again\)$"),
    "coco2odgt NUL-padded end": ("coco2odgt", json.dumps(COCO, indent=1) + "\n" + "\x00" * 64,
                                 r"in:31: NUL bytes in the text \(the zero-filled end of a file cut short by a crash "
                                 r"or a power loss\? write the file again\)$"),
}


@pytest.mark.parametrize("command, content, message", list(CONVERT_ERRORS.values()), ids=list(CONVERT_ERRORS))
def test_converter_third_trial_bad_input_is_one_line(tmp_path, capsys, command, content, message):
    src = _write(tmp_path / "in", content)
    line = _one_line_error(capsys, convert([command, src, str(tmp_path / "out")]))
    assert re.search(rf"^error: {re.escape(str(tmp_path))}/{message}", line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, content", [("odgt2coco", _odgt(dict(ID="a", gtboxes=[PERSON], **SIZED))),
                                              ("coco2odgt", json.dumps(COCO))])
@pytest.mark.parametrize("how", ["same path", "symlink to the input"])
def test_converter_output_that_is_the_input_is_refused(tmp_path, capsys, command, content, how):
    """Before: exit 0, and the user's annotation file was replaced by the converted one."""
    src = _write(tmp_path / "annotation", content)
    out = src
    if how == "symlink to the input":
        out = str(tmp_path / "link")
        os.symlink(src, out)
    with pytest.raises(SystemExit) as e:  # an argument error, as argparse reports it
        convert([command, src, out])
    line = _one_line_error(capsys, e.value.code, status=2)
    assert line.endswith(f"error: the output is the input file ({out}); give another path"), line
    with open(src) as f:
        assert f.read() == content


def test_caltech_seq2jpg_file_without_a_frame_is_an_error(tmp_path, capsys):
    """Before: exit 0, "1 annotated frame(s) are beyond the end of their video" for a file holding no video at all."""
    _write(tmp_path / "anno" / "a" / "set06_V000_I00000.txt", "% bbGt version=3\n")
    seq = _write(tmp_path / "seq" / "set06" / "V000.seq", b"<html>404 Not Found</html>" + b"\x00" * 2048)
    line = _one_line_error(capsys, convert(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"),
                                            str(tmp_path / "images")]))
    assert line == f"error: {seq}: no JPEG frame in the file (not a Caltech .seq video, or a failed download?)"


# ---------------------------------------------------------------------------------------------------------------------
# python -m pedet.data.synthetic --out onto a real data set
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", ["", "\n", "\r\n", " \t\n"], ids=["plain", "blank-line", "crlf-blank-line",
                                                                     "whitespace-line"])
def test_synthetic_out_never_replaces_a_real_annotation_file(tmp_path, capsys, start):
    """
    Before: --out datasets/CrowdHuman replaced the real annotation_train.odgt; crowdhuman_train then loaded it. Until
    the sixteenth trial, a real file whose first line is blank (which the loaders skip) was taken for an empty one.
    """
    real = start + _odgt({"ID": "273271,c9db000d5146c15", "gtboxes": [PERSON]})
    odgt = _write(tmp_path / "CrowdHuman" / "annotation_train.odgt", real)
    rc = syn.main(["--out", str(tmp_path / "CrowdHuman"), "--num-images", "1", "--size", "32", "32"])
    line = _one_line_error(capsys, rc)
    assert line == (f"error: '{odgt}' exists and was not written by the synthetic generator (its first image is "
                    "'273271,c9db000d5146c15', not 'train_000000'); choose another folder or remove the file")
    with open(odgt, newline="") as f:
        assert f.read() == real
    assert not (tmp_path / "CrowdHuman" / "Images").exists()


def test_synthetic_out_regenerates_its_own_split(tmp_path, capsys):
    """
    The generator's own split is written again: one with its meta file (whatever its ID prefix), and one whose meta
    file a killed run removed.
    """
    args = ["--out", str(tmp_path / "s"), "--num-images", "2", "--size", "32", "32"]
    syn.generate_synthetic_crowd(str(tmp_path / "s"), "train", syn.SplitSpec(num_images=1, image_size=(32, 32)),
                                 id_prefix="older_")
    assert syn.main(args) == 0
    first = (tmp_path / "s" / "annotation_train.odgt").read_text()
    (tmp_path / "s" / "annotation_train.meta.json").unlink()
    assert syn.main(args + ["--seed", "3"]) == 0
    assert (tmp_path / "s" / "annotation_train.odgt").read_text() != first
    assert "error" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# TJU-Ped: categories that are not pedestrians
# ---------------------------------------------------------------------------------------------------------------------
TJU = {"images": [{"id": 1, "file_name": "a.jpg", "height": 24, "width": 32}],
       "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "height": 20,
                        "vis_ratio": 1.0},
                       {"id": 8, "image_id": 1, "category_id": 2, "bbox": [11, 2, 10, 20], "height": 20,
                        "vis_ratio": 1.0}]}


@pytest.mark.parametrize("second, ignore, warned", [
    ("car", 0, "1 positive box(es) of categories ['car'], not named as pedestrians ('pedestrian', 'person'), are "
               "read as pedestrians"),  # e.g. the TJU-DHD object file: before, every car silently a pedestrian
    ("rider", 0, "categories ['rider']"),
    ("Ignore Region", 1, None),  # names of ignore regions: any case
    ("person", 0, None),
])
def test_tju_positives_of_other_categories_are_counted(tmp_path, caplog, second, ignore, warned):
    data = dict(TJU, categories=[{"id": 1, "name": "pedestrian"}, {"id": 2, "name": second}])
    gt = _write(tmp_path / "gt.json", json.dumps(data))
    _image(str(tmp_path / "img" / "a.jpg"))
    with caplog.at_level(logging.WARNING):
        anns = load_tju_ped(gt, str(tmp_path / "img"))[0]["annotations"]
    assert [a["ignore"] for a in anns] == [0, ignore]
    if warned:
        assert _warnings(caplog).startswith(f"{gt}: 1 positive box(es)") and warned in _warnings(caplog)
    else:
        assert _warnings(caplog) == ""


# ---------------------------------------------------------------------------------------------------------------------
# Representative passes: line ends, byte-order marks, unicode, tabs
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["LF", "CRLF", "CR only (classic Mac)", "UTF-8 BOM + CRLF"])
def test_crowdhuman_line_ends_and_bom_give_the_same_records(tmp_path, variant):
    """A CR-only file was "malformed JSON (column 187): Extra data" while the evaluator read it."""
    text = _odgt({"ID": "a", "gtboxes": [PERSON]}, {"ID": "行人 b", "gtboxes": [dict(PERSON, tag="mask")]})
    text = {"LF": text, "CRLF": text.replace("\n", "\r\n"), "CR only (classic Mac)": text.replace("\n", "\r"),
            "UTF-8 BOM + CRLF": "\ufeff" + text.replace("\n", "\r\n")}[variant]
    for name in ("a", "行人 b"):
        _image(str(tmp_path / "Images" / f"{name}.jpg"))
    dicts = load_crowdhuman_odgt(_write(tmp_path / "a.odgt", text), str(tmp_path / "Images"))
    assert [(d["image_id"], [a["ignore"] for a in d["annotations"]]) for d in dicts] == [("a", [0]), ("行人 b", [1])]


@pytest.mark.parametrize("text", ["% bbGt version=3\r\nperson 1 2 10 20 0 0 0 0 0 0 0\r\n",
                                  "\ufeff% bbGt version=3\nperson\t1\t2\t10\t20\t0\t0\t0\t0\t0\t0\t0\n"])
def test_caltech_crlf_bom_and_tabs_load(tmp_path, text):
    _write(tmp_path / "anno" / "set06_V000_I00029.txt", text)
    _image(str(tmp_path / "images" / "set06_V000_I00029.jpg"), 480, 640)
    anns = load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))[0]["annotations"]
    assert [(a["bbox"], a["ignore"]) for a in anns] == [([1.0, 2.0, 10.0, 20.0], 0)]


def test_round_trip_with_unicode_paths_and_ids(tmp_path, capsys):
    folder = tmp_path / "Daten ä 行人"
    records = [{"ID": "ä 1", "gtboxes": [PERSON], **SIZED}, {"ID": 7, "gtboxes": [], **SIZED}]
    src = _write(folder / "gt v1.odgt", _odgt(*records))
    assert convert(["odgt2coco", src, str(folder / "c ä.json")]) == 0
    assert convert(["coco2odgt", str(folder / "c ä.json"), str(folder / "back ä.odgt")]) == 0
    assert [json.loads(x) for x in (folder / "back ä.odgt").read_text().splitlines()] == records
