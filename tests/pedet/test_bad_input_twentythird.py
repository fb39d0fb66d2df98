"""
Twenty-third bad-input trial (issue 11): every file a pedet tool writes, given to every pedet tool that reads one.
The cases that fit a table are in the existing tables; these are the others:

- ``coco2odgt`` of a caltech2coco ground truth wrote Caltech's "not occluded" visible box [0, 0, 0, 0] as the odgt
  ``vbox``: the CrowdHuman loader read visibility 0 and ``--protocol crowdhuman --box visible`` dropped those boxes,
  in silence. Now an error names the annotation; an occluded box (a real visible box) still converts.
- A metrics.json (``python -m pedet.evaluation --out``, MissRateEvaluator) given as a COCO-style ground truth was
  "expected a COCO-style object with 'images' and 'annotations'" (the loaders; the command said "no 'images', a list
  is needed (write [] for none)", its cases are in the evaluation table): now both say it is a metrics file.
- A TorchScript file (tools/export.py --format torchscript) as MODEL.WEIGHTS: "truncated or damaged checkpoint
  (Cannot use ``weights_only=True`` with TorchScript archives ...)" after a torch warning; now it is named as a
  TorchScript module.
"""
import json

import warnings

import pytest
import torch

from pedet.data import load_caltech, load_citypersons_json, load_crowdhuman_odgt, load_tju_ped
from pedet.data.common import DatasetFormatError
from pedet.data.convert import main as convert_main
from pedet.engine.checkpoint import CheckpointFileError, load_checkpoint_file

from .data.conftest import write_file, write_image

FRAME = "set06_V000_I00029"


def _caltech2coco(tmp_path, lines):
    write_file(tmp_path / "anno" / f"{FRAME}.txt", "% bbGt version=3\n" + "".join(line + "\n" for line in lines))
    write_image(tmp_path / "images" / f"{FRAME}.jpg", 480, 640)
    gt = tmp_path / "test_gt.json"
    assert convert_main(["caltech2coco", str(tmp_path / "anno"), str(gt), "--image-root", str(tmp_path / "images")]) == 0
    return gt


@pytest.mark.parametrize("line,label", [
    ("person 10 10 40 100 0 0 0 0 0 0 0", "person"),  # was vbox [0, 0, 0, 0]: visibility 0 instead of 1
    ("people 10 10 80 100 0 0 0 0 0 0 0", "people"),  # an ignore region: empty under --box visible
    ("person 10 10 40 100 0 0 0 0 0 1 0", "person"),  # ign 1
])
def test_coco2odgt_refuses_caltech_not_occluded_visible_boxes(tmp_path, capsys, line, label):
    gt = _caltech2coco(tmp_path, [line])
    capsys.readouterr()
    assert convert_main(["coco2odgt", str(gt), str(tmp_path / "gt.odgt")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {gt}: annotations[0] (id 1): 'label' {label!r} with 'vis_bbox' [0, 0, 0, 0] and no 'vis_ratio' is a "
        "Caltech ground truth (where that visible box means not occluded); the odgt line would give it an empty "
        "visible box (visibility 0): evaluate the file with --protocol caltech, or remove 'vis_bbox' from such boxes "
        "(the visible box is then the full box)")
    assert not (tmp_path / "gt.odgt").exists()


def test_coco2odgt_of_caltech2coco_keeps_the_loader_visibility_of_occluded_boxes(tmp_path):
    gt = _caltech2coco(tmp_path, ["person 10 10 40 100 1 10 10 40 60 0 0"])
    assert convert_main(["coco2odgt", str(gt), str(tmp_path / "gt.odgt")]) == 0
    (caltech,) = load_caltech(str(tmp_path / "anno"), str(tmp_path / "images"))
    (odgt,) = load_crowdhuman_odgt(str(tmp_path / "gt.odgt"), str(tmp_path / "images"))
    assert [a["vis_ratio"] for a in odgt["annotations"]] == [a["vis_ratio"] for a in caltech["annotations"]] == [0.6]
    # without 'vis_bbox' (the fix the message offers) the visible box is the full box, as Caltech's "not occluded"
    coco = json.loads(gt.read_text())
    del coco["annotations"][0]["vis_bbox"]
    write_file(gt, json.dumps(coco))
    assert convert_main(["coco2odgt", str(gt), str(tmp_path / "gt.odgt")]) == 0
    (odgt,) = load_crowdhuman_odgt(str(tmp_path / "gt.odgt"), str(tmp_path / "images"))
    assert [a["vis_ratio"] for a in odgt["annotations"]] == [1.0]


@pytest.mark.parametrize("loader", [load_citypersons_json, load_tju_ped])
def test_coco_style_loaders_say_a_metrics_file_is_one(tmp_path, loader):
    metrics = write_file(tmp_path / "metrics.json", json.dumps(
        {"Reasonable": 0.25, "details": {"protocol": "citypersons", "mode": "official"}}, indent=1))
    with pytest.raises(DatasetFormatError) as e:
        loader(str(metrics), str(tmp_path))
    assert str(e.value) == (f"{metrics}:1: expected a COCO-style object with 'images' and 'annotations'; this is a "
                            "metrics file (written by python -m pedet.evaluation --out or MissRateEvaluator)")


def test_a_torchscript_file_as_weights_is_named_as_one(tmp_path):
    path = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's own "looks like a TorchScript archive" warning is not reached
        with pytest.raises(CheckpointFileError) as e:
            load_checkpoint_file(str(path))
    assert str(e.value).startswith(f"{path}: a TorchScript archive (e.g. tools/export.py --format torchscript), not "
                                   "a checkpoint")  # (the message in full: test_bad_input_twentieth_model)
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "model.pth")  # torch.save's zip: still a checkpoint
    assert list(load_checkpoint_file(str(tmp_path / "model.pth"))["model"]) == ["w"]
