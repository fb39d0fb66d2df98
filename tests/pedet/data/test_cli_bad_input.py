"""
The bad-input catalogue of the data command lines: `python -m pedet.data.convert` (every converter) and
`python -m pedet.data.synthetic`. A bad file is one line on stderr (`error: <file>...: what is wrong`), exit status
1 and no traceback; an out-of-range argument is argparse's one-line error with status 2.
"""
import gzip
import json
import logging
import os
import re

import pytest

from pedet.data import load_crowdhuman_odgt
from pedet.data import synthetic as syn
from pedet.data.convert import main as convert

from .conftest import write_file as _write, write_image as _image

NAN = float("nan")


def _odgt(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


def _one_line_error(capsys, rc, expected_rc=1):
    err = capsys.readouterr().err
    assert rc == expected_rc, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


PERSON = {"tag": "person", "fbox": [1, 2, 10, 20]}
SIZED = {"width": 32, "height": 24}

ODGT2COCO_ERRORS = {
    "duplicate ID": (_odgt(dict(ID="a", gtboxes=[], **SIZED), dict(ID="a", gtboxes=[], **SIZED)),
                     r"odgt:2: duplicate image id 'a' \(first at .*odgt:1\)"),
    # fourteenth trial: IDs naming one picture were two COCO images (the loader now refuses them, see test_bad_input_fifth)
    "IDs a and x/../a": (_odgt(dict(ID="a", gtboxes=[], **SIZED), dict(ID="x/../a", gtboxes=[], **SIZED)),
                         r"odgt:2: image file 'x/\.\./a\.jpg' is also the file of line 1 \(ID 'a'\); one image needs "
                         r"one entry$"),
    "NaN box": (_odgt(dict(ID="a", gtboxes=[dict(PERSON, fbox=[NAN, 2, 10, 20])], **SIZED)),
                r"odgt:1: 'fbox' holds NaN or infinity"),
    "no tag": (_odgt(dict(ID="a", gtboxes=[{"fbox": [1, 2, 10, 20]}], **SIZED)), r"odgt:1: .* has no 'tag'"),
    "no size, no image root": (_odgt(dict(ID="a", gtboxes=[])), r"odgt:1: the line has no width/height"),
    "size as string": (_odgt(dict(ID="a", gtboxes=[], width="32", height=24)), r"odgt:1: 'width' must be a positive"),
    "empty file": ("", r"odgt:1: the file has no record"),
    "COCO file": (json.dumps({"images": [], "annotations": [], "categories": []}), r"odgt:1: .*COCO-style file"),
    "binary": (gzip.compress(b"x"), r"odgt:1: this is a compressed archive"),
}


@pytest.mark.parametrize("content, message", list(ODGT2COCO_ERRORS.values()), ids=list(ODGT2COCO_ERRORS))
def test_odgt2coco_bad_input_is_one_line(tmp_path, capsys, content, message):
    odgt = _write(tmp_path / "in.odgt", content)
    line = _one_line_error(capsys, convert(["odgt2coco", odgt, str(tmp_path / "out.json")]))
    assert line.startswith(f"error: {odgt[:-len('odgt')]}") and re.search(message, line), line
    assert not (tmp_path / "out.json").exists()


def _warnings(caplog):
    """Warnings the command logged (on stderr outside pytest: `WARNING: ...`, see test_pure_data_commands)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_odgt2coco_leaves_out_degenerate_and_outside_boxes_with_a_count(tmp_path, capsys, caplog):
    boxes = [PERSON, dict(PERSON, fbox=[1, 2, -3, 20]), dict(PERSON, fbox=[50, 2, 10, 20])]  # 2nd, 3rd dropped
    odgt = _write(tmp_path / "in.odgt", _odgt(dict(ID="a", gtboxes=boxes, **SIZED)))
    with caplog.at_level(logging.WARNING):
        assert convert(["odgt2coco", odgt, str(tmp_path / "out.json")]) == 0
    assert "1 images, 1 boxes" in capsys.readouterr().out
    assert "dropped 2 box(es) (1 of zero or negative size, 1 entirely outside the image)" in _warnings(caplog)
    assert [a["bbox"] for a in json.loads((tmp_path / "out.json").read_text())["annotations"]] == [[1, 2, 10, 20]]


# fourteenth trial: a symbolic link loop as the output was replaced by the converted file (exit status 0); an output
# in a folder that takes no new file (/proc) named the writer's temporary file ("/proc/.o.json.<host>...tmp")
@pytest.mark.parametrize("what", ["input missing", "input is a folder", "output is a folder",
                                  "output is a symbolic link loop", "output in a folder that takes no new file"])
def test_converter_file_system_errors_are_one_line(tmp_path, capsys, what):
    if what.endswith("no new file") and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc")
    odgt = _write(tmp_path / "in.odgt", _odgt(dict(ID="a", gtboxes=[], **SIZED)))
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    args = {"input missing": [str(tmp_path / "none.odgt"), str(tmp_path / "o.json")],
            "input is a folder": [str(tmp_path / "folder"), str(tmp_path / "o.json")],
            "output is a folder": [odgt, str(tmp_path / "folder")],
            "output is a symbolic link loop": [odgt, str(tmp_path / "loop")],
            "output in a folder that takes no new file": [odgt, "/proc/o.json"]}[what]
    line = _one_line_error(capsys, convert(["odgt2coco", *args]))
    named = {"input missing": str(tmp_path / "none.odgt"), "output is a symbolic link loop": str(tmp_path / "loop"),
             "output in a folder that takes no new file": "/proc/o.json"}.get(what, str(tmp_path / "folder"))
    assert named in line and ".tmp" not in line, line
    assert os.readlink(tmp_path / "loop") == str(tmp_path / "loop")  # the link is left as it was


COCO = {"images": [{"id": 1, "file_name": "a.jpg", "height": 24, "width": 32}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}]}


def _coco(**changes):
    data = json.loads(json.dumps(COCO))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if not field:
            data.pop(section) if value is None else data.__setitem__(section, value)
        elif value is None:
            data[section][0].pop(field)
        else:
            data[section][0][field] = value
    return json.dumps(data)


COCO2ODGT_ERRORS = {
    "empty file": ("", r"json:1: the file is empty"),
    # fourteenth trial: 'a.jpg' and './a.jpg' gave the lines 'a' and './a', which the CrowdHuman loader now refuses;
    # a file named '.jpg' gave the ID '.jpg', whose image the loader looks for at '.jpg.jpg'
    "one image under two file names": (_coco(images=[dict(COCO["images"][0]), dict(COCO["images"][0], id=2,
                                                                                   file_name="./a.jpg")]),
                                       r"json: images\[1\] \(id 2\): image file '\./a\.jpg' is also the file of "
                                       r"images\[0\] \(id 1\); one image needs one entry$"),
    "file name .jpg": (_coco(images__file_name=".jpg"), r"json: images\[0\] \(id 1\): file name '\.jpg' has no name "
                                                       r"before its extension"),
    "odgt given": (_odgt(dict(ID="a", gtboxes=[]), dict(ID="b", gtboxes=[])), r"json:2: this looks like an .odgt"),
    "results list": (json.dumps([{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 1}]), r"json:1: .*results"),
    "no images": (_coco(images=None), r"json:1: expected a COCO-style object with 'images'"),
    "no annotations": (_coco(annotations=None), r"json: the 'annotations' list is missing"),
    "image without file_name": (_coco(images__file_name=None), r"json: images\[0\] \(id 1\): 'file_name'"),
    "image id null": (_coco(images__id=None) .replace('"height"', '"id": null, "height"'),
                      r"json: images\[0\]: 'id' must be an integer"),
    "duplicate image id": (_coco(images=COCO["images"] * 2), r"json: images\[1\]: duplicate image id 1"),
    "duplicate file name": (_coco(images=[COCO["images"][0], dict(COCO["images"][0], id=2)]),
                            r"json: images\[1\] \(id 2\): duplicate image id 'a'"),
    "unknown image": (_coco(annotations__image_id=3), r"json: annotations\[0\] \(id 5\): 'image_id' 3 does not"),
    "no bbox": (_coco(annotations__bbox=None), r"json: annotations\[0\] \(id 5\): 'bbox' is missing"),
    "NaN bbox": (_coco(annotations__bbox=[1, NAN, 10, 20]), r"json: annotations\[0\] \(id 5\): 'bbox' holds NaN"),
    "iscrowd 2": (_coco(annotations__iscrowd=2), r"json: annotations\[0\] \(id 5\): 'iscrowd' must be 0 or 1"),
    "no person category": (_coco(categories=[{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}]),
                           r"json: cannot tell which category is the person; categories: \['bus', 'car'\]"),
    # sixth trial: converted without a word, while the loaders and the evaluator refuse the file
    "duplicate annotation id": (_coco(annotations=COCO["annotations"] * 2),
                                r"json: annotations\[1\] \(id 5\): duplicate annotation id \(first at "
                                r"annotations\[0\]\)"),
    # eighth trial: left out as "categories other than 'person'" (a counted warning naming the wrong reason), while
    # the loaders refuse an annotation whose category_id names no category
    "category_id a string": (_coco(annotations__category_id="1"),
                             r"json: annotations\[0\] \(id 5\): 'category_id' '1' is not one of the file's "
                             r"categories \[1\]$"),
    "category ids strings": (_coco(categories=[{"id": "1", "name": "person"}]),
                             r"json: annotations\[0\] \(id 5\): 'category_id' 1 is not one of the file's "
                             r"categories \['1'\]$"),
    # ninth trial: every annotation was kept as a person, the car as much as the pedestrian
    "categories empty": (_coco(categories=[]),
                         r"json: annotations\[0\] \(id 5\): 'category_id' 1, but the file's 'categories' list is "
                         r"empty, so the person boxes cannot be told apart \(list the categories\)$"),
}


@pytest.mark.parametrize("content, message", list(COCO2ODGT_ERRORS.values()), ids=list(COCO2ODGT_ERRORS))
def test_coco2odgt_bad_input_is_one_line(tmp_path, capsys, content, message):
    coco = _write(tmp_path / "in.json", content)
    line = _one_line_error(capsys, convert(["coco2odgt", coco, str(tmp_path / "out.odgt")]))
    assert re.search(rf"^error: {coco[:-len('json')]}{message}", line), line


def test_coco2odgt_unknown_category_option_is_one_line(tmp_path, capsys):
    coco = _write(tmp_path / "in.json", _coco())
    line = _one_line_error(capsys, convert(["coco2odgt", coco, str(tmp_path / "o.odgt"), "--category", "rider"]))
    assert "no category named 'rider'; categories: ['person']" in line


def test_coco2odgt_converts_any_coco_detection_file(tmp_path, caplog):
    """A COCO file not written by odgt2coco: persons and crowds kept, other categories counted and left out."""
    coco = {
        "images": [{"id": 10, "file_name": "street/a.jpg", "height": 24, "width": 32},
                   {"id": 11, "file_name": "street/b.png", "height": 24, "width": 32}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 3, "bbox": [1, 2, 10, 20], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [12.5, 2, 10, 20], "iscrowd": 1},
            {"id": 3, "image_id": 10, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 0},  # a car: left out
            {"id": 4, "image_id": 11, "category_id": 3, "bbox": [1, 1, 4, 8], "segmentation": [[1, 1, 2, 2]]},
        ],
        "categories": [{"id": 3, "name": "person"}, {"id": 7, "name": "car"}],
    }
    src = _write(tmp_path / "foreign.json", json.dumps(coco))
    out = tmp_path / "out.odgt"
    with caplog.at_level(logging.WARNING):
        assert convert(["coco2odgt", src, str(out)]) == 0
    err = _warnings(caplog)
    assert "left out 1 annotation(s) of categories other than 'person' ('car': 1)" in err  # named: 20th trial
    assert "1 image(s) are not .jpg files" in err
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0] == {"ID": "street/a", "width": 32, "height": 24, "gtboxes": [
        {"fbox": [1, 2, 10, 20], "tag": "person"}, {"fbox": [12.5, 2, 10, 20], "tag": "mask"}]}
    _image(str(tmp_path / "Images" / "street" / "a.jpg"))
    _image(str(tmp_path / "Images" / "street" / "b.jpg"))
    dicts = load_crowdhuman_odgt(str(out), str(tmp_path / "Images"))
    assert [[a["ignore"] for a in d["annotations"]] for d in dicts] == [[0, 1], [0]]


def test_citypersons2coco_bad_input_and_counted_drops(tmp_path, capsys, caplog):
    gt_dir = tmp_path / "gt"
    line = _one_line_error(capsys, convert(["citypersons2coco", str(gt_dir), str(tmp_path / "o.json")]))
    assert "no '*_gtBboxCityPersons.json' file under" in line
    good = {"imgHeight": 24, "imgWidth": 32, "objects": [
        {"label": "pedestrian", "bbox": [1, 2, 10, 20], "bboxVis": [1, 2, 10, 20]},
        {"label": "pedestrian", "bbox": [1, 2, 10, -20], "bboxVis": [1, 2, 10, 20]}]}
    path = _write(gt_dir / "c" / "c_000000_000001_gtBboxCityPersons.json", json.dumps(good))
    with caplog.at_level(logging.WARNING):
        assert convert(["citypersons2coco", str(gt_dir), str(tmp_path / "o.json")]) == 0
    assert "dropped 1 box(es) (1 of zero or negative size)" in _warnings(caplog)
    assert len(json.loads((tmp_path / "o.json").read_text())["annotations"]) == 1
    _write(path, json.dumps(dict(good, objects=[{"label": "pedestrian", "bbox": [1, 2, 10, 20]}])))
    line = _one_line_error(capsys, convert(["citypersons2coco", str(gt_dir), str(tmp_path / "o.json")]))
    assert line == f"error: {path}: objects[0]: 'bboxVis' is missing"


def test_caltech_seq2jpg_bad_folders_are_one_line(tmp_path, capsys):
    _write(tmp_path / "anno" / "anno_test_1xnew" / "set06_V000_I00002.jpg.txt", "% bbGt version=3\n")
    line = _one_line_error(capsys, convert(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"),
                                            str(tmp_path / "images")]))
    assert f"no 'set*/V*.seq' video under '{tmp_path / 'seq'}'" in line
    _write(tmp_path / "seq" / "set06" / "V000.seq", b"\0" * 2048)
    _write(tmp_path / "images", "a file")
    line = _one_line_error(capsys, convert(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"),
                                            str(tmp_path / "images")]))
    assert f"'{tmp_path / 'images'}' exists and is not a folder" in line


def test_convert_arguments_are_checked_by_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        convert(["odgt2png", "a", "b"])
    assert e.value.code == 2 and "invalid choice: 'odgt2png'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# python -m pedet.data.synthetic
# ---------------------------------------------------------------------------------------------------------------------
SYNTHETIC_BAD_ARGS = {
    "size 16 16": (["--size", "16", "16"], "image_size (--size) must have 24 <= H <= 8192 and 1 <= W <= 8192, got 16"),
    "size 0 0": (["--size", "0", "0"], "image_size (--size) must have 24 <= H"),
    "size negative": (["--size", "-24", "32"], "image_size (--size) must have 24 <= H"),
    "size huge": (["--size", "100000", "32"], "image_size (--size) must have 24 <= H <= 8192"),
    "size width 0": (["--size", "32", "0"], "1 <= W <= 8192, got 32 x 0"),
    "size one number": (["--size", "32"], "argument --size: expected 2 arguments"),
    "size string": (["--size", "a", "32"], "argument --size: invalid int value: 'a'"),
    "num-images -5": (["--num-images", "-5"], "num_images (--num-images) must be in [1, 1000000], got -5"),
    "num-images 0": (["--num-images", "0"], "num_images (--num-images) must be in [1, 1000000], got 0"),
    "num-images float": (["--num-images", "2.5"], "argument --num-images: invalid int value: '2.5'"),
    "seed -1": (["--seed", "-1"], "seed (--seed) must be a non-negative integer, got -1"),
    "persons reversed": (["--persons-per-image", "5", "2"], "persons_per_image (--persons-per-image) must be LO HI"),
    "persons negative": (["--persons-per-image", "-1"], "persons_per_image (--persons-per-image) must be LO HI"),
    "persons too many": (["--persons-per-image", "5000"], "0 <= LO <= HI <= 1000"),
    "persons three numbers": (["--persons-per-image", "1", "2", "3"], "--persons-per-image takes N or LO HI"),
    "workers 0": (["--workers", "0"], "--workers must be in [1, 256], got 0"),
    "workers negative": (["--workers", "-2"], "--workers must be in [1, 256], got -2"),
    "preview-images 0": (["--preview", "p.png", "--preview-images", "0"],
                         "--preview-images must be in [1, 100], got 0"),
    "preview-images -3": (["--preview-images", "-3"], "--preview-images must be in [1, 100], got -3"),
    "split with a slash": (["--split", "../evil"], "--split must be a name of letters, digits"),
    "split empty": (["--split", ""], "--split must be a name of letters, digits"),
    "split twice": (["--split", "train", "--split", "train"], "--split names a split twice: train train"),  # rendered
    "unknown preset": (["--preset", "d7"], "argument --preset: invalid choice: 'd7'"),
    # fifth trial: "[Errno 20] Not a directory" when the first file was written; the preview after the whole split
    "out under a file": (["--out", __file__ + "/set"], f"--out '{__file__}/set': '{__file__}' is a file, not a folder"),
    "preview under a file": (["--preview", __file__ + "/p.png"],
                             f"--preview '{__file__}/p.png': '{__file__}' is a file, not a folder"),
    # fifteenth trial: options of preset splits were ignored without a word with --out
    "root with --out": (["--root", "elsewhere"], "--root applies to preset splits (written under "
                                                 "<root>/synthetic_crowd/<preset>/), not to a split written to --out"),
    "force with --out": (["--force"], "--force applies to preset splits"),
}


@pytest.mark.parametrize("args, message", list(SYNTHETIC_BAD_ARGS.values()), ids=list(SYNTHETIC_BAD_ARGS))
def test_synthetic_cli_out_of_range_arguments_are_one_argparse_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(tmp_path / "set"), "--num-images", "1", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("python -m pedet.data.synthetic: error: ")
    assert message in err.strip().splitlines()[-1], err
    assert not (tmp_path / "set").exists()


def test_synthetic_cli_unusable_paths(tmp_path, capsys):
    _write(tmp_path / "file", "x")
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(tmp_path / "file")])
    assert e.value.code == 2 and f"--out '{tmp_path / 'file'}' exists and is not a folder" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(tmp_path / "set"), "--num-images", "1", "--preview", str(tmp_path / "folder")])
    assert e.value.code == 2 and "is a folder; give the PNG file to write" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(24, 24), (24, 1), (200, 8)])
def test_synthetic_smallest_images_work(tmp_path, size):
    """The smallest height that fits a person (ceil(20 / 0.85) = 24 px) and any width >= 1 are drawn and load."""
    assert syn.main(["--out", str(tmp_path), "--num-images", "3", "--persons-per-image", "0", "30",
                     "--size", str(size[0]), str(size[1])]) == 0
    dicts = load_crowdhuman_odgt(str(tmp_path / "annotation_train.odgt"), str(tmp_path / "Images"))
    assert [(d["height"], d["width"]) for d in dicts] == [size] * 3


@pytest.mark.parametrize("field, value, message", [
    ("num_images", 0, "num_images (--num-images) must be in"),
    ("image_size", (16, 16), "image_size (--size) must have 24 <= H"),
    ("group_size", (0, 3), "group_size must be LO HI with 1 <= LO <= HI"),
    ("far_crowd_prob", 1.5, "far_crowd_prob must be in [0, 1]"),
    ("min_visible_fraction", float("nan"), "min_visible_fraction must be in [0, 1]"),
    ("jpeg_quality", 101, "jpeg_quality must be an integer in [0, 100]"),
    ("max_height_frac", 0.0, "min_height must be > 0 and max_height_frac in (0, 1]"),
])
def test_split_spec_rejects_out_of_range_fields(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        syn.SplitSpec(**{field: value})


def test_synthetic_cli_normal_run_prints_no_warning(tmp_path, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        assert syn.main(["--out", str(tmp_path), "--num-images", "1", "--size", "48", "48"]) == 0
    assert capsys.readouterr().err == "" and not [r for r in caplog.records if r.levelno >= logging.WARNING]
