"""
Thirteenth bad-input trial of the evaluation side (issue 11). The command wrote --out, then --plot replaced it with
the PNG when --out had the PNG's name (see test_bad_input_third.py); it replaced a device given as --out (/dev/null
under root) by a regular file (see tests/pedet/data/test_bad_input_thirteenth.py); an --out link to a path under a
file failed after the evaluation. MissRateEvaluator evaluated outputs made for another image size than the data
set's (a mapper that changed or dropped 'height' / 'width', so the model returned boxes in the resized image's
pixels) without a word, where the command warns about a detection file's other size.
"""
import json
import logging
import os
import stat

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import inference_on_dataset
from detectron2.structures import Boxes, Instances
from pedet.config import add_pedet_config
from pedet.data.build import build_pedestrian_test_loader
from pedet.data.crowdhuman import register_crowdhuman
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.__main__ import main

from ..data.conftest import write_file, write_image

# image ID -> the one person (XYWH) of the 64 x 48 image; a mask box beside it; an image without boxes
PERSONS = {"a": [10, 10, 20, 30], 123: [30, 5, 20, 40], "empty": None}


class _Detector(torch.nn.Module):
    """Finds each image's person exactly, with Detectron2's output convention: boxes in the frame of the input's
    'height' / 'width' (detector_postprocess), here scaled by `scale` from the data set's frame."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, batch):
        outputs = []
        for x in batch:
            box = PERSONS[int(x["image_id"]) if x["image_id"].isdigit() else x["image_id"]]
            xyxy = [] if box is None else [[v * self.scale for v in (box[0], box[1], box[0] + box[2],
                                                                      box[1] + box[3])]]
            inst = Instances((round(x["height"] * self.scale), round(x["width"] * self.scale)))
            inst.pred_boxes = Boxes(torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4))
            inst.scores = torch.full((len(xyxy),), 0.9)
            inst.pred_classes = torch.zeros(len(xyxy), dtype=torch.int64)
            outputs.append({"instances": inst})
        return outputs


@pytest.fixture
def dataset(tmp_path):
    lines = [{"ID": i, "width": 64, "height": 48, "gtboxes": [] if box is None else [
        {"tag": "person", "fbox": box, "vbox": box}, {"tag": "mask", "fbox": [50, 10, 10, 10],
                                                      "vbox": [50, 10, 10, 10]}]}
        for i, box in PERSONS.items()]  # with vbox: the loader announces boxes without one
    odgt = write_file(tmp_path / "gt.odgt", "".join(json.dumps(line) + "\n" for line in lines))
    for i in PERSONS:
        write_image(tmp_path / "images" / f"{i}.jpg", 48, 64)
    name = "pedet_test_thirteenth_crowdhuman"
    register_crowdhuman(name, odgt, str(tmp_path / "images"))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _inference(name, scale):
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.DATALOADER.NUM_WORKERS = 0
    evaluator = MissRateEvaluator(name, distributed=False)
    return inference_on_dataset(_Detector(scale), build_pedestrian_test_loader(cfg, name), evaluator)


def test_inference_on_dataset_with_the_test_loader_evaluates_every_image_quietly(dataset, caplog):
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        result = _inference(dataset, 1.0)
    assert result["crowdhuman"]["mMR"] == 0.0 and result["crowdhuman"]["Recall"] == 100.0
    assert caplog.records == []


def test_outputs_for_another_image_size_are_a_counted_warning(dataset, caplog):
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        result = _inference(dataset, 2.0)
    assert result["crowdhuman"]["Recall"] < 100.0  # the boxes are evaluated as they are: twice too large
    assert [r.getMessage() for r in caplog.records] == [
        f"MissRateEvaluator: the outputs of 3 of 3 image(s) of '{dataset}' are for another image size than the data "
        "set's (first: image 'a', 128 x 96 there, 64 x 48 in the data set); their boxes are evaluated as they are "
        "(they must be in original image pixels: does the mapper keep the dicts' 'height' and 'width'?)"]


def test_command_out_to_a_character_device_writes_to_it_and_keeps_it(tmp_path, capsys):
    """Before: exit 0 and the device node (as /dev/null under root) was replaced by a regular file of metrics."""
    null = str(tmp_path / "null")
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD (root)")
    gt = write_file(tmp_path / "gt.odgt", json.dumps({"ID": "a", "width": 64, "height": 48, "gtboxes": [
        {"tag": "person", "fbox": PERSONS["a"]}]}) + "\n")
    dt = write_file(tmp_path / "dt.odgt", json.dumps({"ID": "a", "dtboxes": [
        {"box": PERSONS["a"], "score": 0.9, "tag": 1}]}) + "\n")
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", null]) == 0
    assert capsys.readouterr().err == ""
    assert stat.S_ISCHR(os.lstat(null).st_mode) and sorted(os.listdir(tmp_path)) == ["dt.odgt", "gt.odgt", "null"]


def test_command_out_a_link_to_a_path_under_a_file_is_refused_before_the_evaluation(tmp_path, capsys):
    """Before: the table was printed, then "cannot write ...: this is a file, not a folder" with exit status 1."""
    write_file(tmp_path / "blocker", "x")
    os.symlink(tmp_path / "blocker" / "m.json", tmp_path / "m.json")
    gt = write_file(tmp_path / "gt.odgt", json.dumps({"ID": "a", "width": 64, "height": 48, "gtboxes": []}) + "\n")
    dt = write_file(tmp_path / "dt.odgt", json.dumps({"ID": "a", "dtboxes": []}) + "\n")
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(tmp_path / "m.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: --out '{tmp_path / 'm.json'}': '{tmp_path / 'blocker'}' is a file, not a folder\n"
