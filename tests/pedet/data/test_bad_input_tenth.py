"""
Tenth bad-input trial of the data side (issue 11): a converter given a folder as its output converted the whole
input, then said "error: [Errno 21] is a folder, not a file: '<folder>'"; a missing input file was
"error: [Errno 2] No such file or directory: '<file>'". Python's "[Errno N]" prefix tells a user nothing. The
synthetic generator with --out wrote two splits drawn with one seed (two names the preset lacks, or --seed given to
both) image for image the same, without a word. coco2odgt made the 'people' / 'person?' / 'ignore' boxes of a
Caltech-style ground truth (labels, iscrowd 0) persons.
"""
import json
import logging
import os

import pytest

from pedet.data import synthetic as syn
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


@pytest.mark.parametrize("argv, first, second, seed", [
    (["--split", "a", "--split", "b"], "a", "b", 0),  # two names the preset lacks: both from 'train', seed 0
    (["--split", "train", "--split", "val", "--seed", "3"], "train", "val", 3),  # --seed given to both
    (["--split", "train", "--split", "test"], "train", "test", 0),
])
def test_synthetic_two_splits_with_one_seed_are_refused(tmp_path, capsys, argv, first, second, seed):
    """Before: both splits were written, image for image the same (a "test" split that was the train split)."""
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(tmp_path / "set"), "--num-images", "1", "--size", "32", "32"] + argv)
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m pedet.data.synthetic: error: --split {first} and --split {second} would hold the same images "
        f"(both drawn with seed {seed}); write each split in its own run with its own --seed")
    assert not (tmp_path / "set").exists()


def test_synthetic_split_the_preset_lacks_warns_whose_images_it_gets(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert syn.main(["--out", str(tmp_path / "set"), "--split", "test", "--num-images", "1", "--size", "32",
                         "32"]) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "split 'test' is not a split of preset 'default' (train, val): it starts from 'train' with its seed 0, so "
        "with the same settings its images are those of 'train'; give --seed for other images"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert syn.main(["--out", str(tmp_path / "set"), "--split", "test", "--num-images", "1", "--size", "32",
                         "32", "--seed", "7"]) == 0
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("label", ["people", "person?", "person-fa", "ignore"])
def test_coco2odgt_refuses_a_caltech_ignore_label_it_would_make_a_person(tmp_path, capsys, label):
    """Before: a Caltech-style GT (--protocol caltech's format) became an odgt where 'people' boxes were persons."""
    coco = json.loads(json.dumps(COCO))
    coco["annotations"][0]["label"] = label
    src = _write(tmp_path / "caltech_gt.json", json.dumps(coco))
    assert convert(["coco2odgt", src, str(tmp_path / "x.odgt")]) == 1
    assert capsys.readouterr().err == (
        f"error: {src}: annotations[0] (id 1): 'label' {label!r} is a Caltech ignore label, but 'iscrowd'/'ignore' "
        "do not say ignore: the odgt line would make it a person (the odgt format has no labels); set 'ignore': 1 "
        "on such boxes, or evaluate the file with --protocol caltech\n")
    assert not (tmp_path / "x.odgt").exists()
    coco["annotations"][0]["ignore"] = 1  # said explicitly: an ignore region, as the label says
    _write(tmp_path / "caltech_gt.json", json.dumps(coco))
    assert convert(["coco2odgt", src, str(tmp_path / "x.odgt")]) == 0
    assert json.loads((tmp_path / "x.odgt").read_text())["gtboxes"][0]["tag"] == "mask"
