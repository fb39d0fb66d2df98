"""
Final bad-input trial of the data side (issue 11), on the merged tree. Two findings:

- ``MissRateEvaluator.process`` took the model's boxes and scores to numpy before casting them, and numpy has no
  bfloat16: the outputs of an inference under ``torch.autocast(dtype=torch.bfloat16)`` ended the evaluation (and a
  training run's periodic one) with torch's ``TypeError: Got unsupported ScalarType BFloat16``. They are now cast in
  torch and evaluated as the float32 outputs are.
- A CrowdHuman ``.odgt`` box without ``vbox`` was given its full box as the visible box without a word, so
  ``MissRateEvaluator(box="visible")`` scored full boxes in its place (``python -m pedet.evaluation --box visible``
  refuses such a line). The loader now warns once per file with the count, as the COCO-style loaders do for an
  annotation without ``vis_bbox``.
"""
import copy
import json
import logging

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances
from pedet.data import load_crowdhuman_odgt
from pedet.evaluation import MissRateEvaluator

from .conftest import write_file as _write, write_image as _image


def _dicts():
    ann = {"bbox": [10.0, 10.0, 20.0, 40.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0,
           "ignore": 0}
    return [{"file_name": f"{i}.jpg", "image_id": i, "height": 80, "width": 100,
             "annotations": [dict(ann, bbox=[10.0 + 40 * k, 10.0, 20.0, 40.0]) for k in range(2)]} for i in "ab"]


def _evaluate(name, dtype):
    """Every image: its two GT boxes found (0.9, 0.8) plus a false positive (0.5), in `dtype`."""
    DatasetCatalog.register(name, lambda: copy.deepcopy(_dicts()))
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    ev = MissRateEvaluator(name, distributed=False, plot=False)
    ev.reset()
    for image_id in "ab":
        inst = Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10, 30, 50], [50, 10, 70, 50],
                                                                   [80, 60, 90, 70]], dtype=dtype)),
                         scores=torch.tensor([0.9, 0.8, 0.5], dtype=dtype), pred_classes=torch.tensor([0, 0, 0]))
        ev.process([{"image_id": image_id}], [{"instances": inst}])
    return ev.evaluate()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_outputs_give_the_report_of_float32_ones(dtype):
    # the boxes and scores are exact in both half formats, so the reports are equal
    full = _evaluate(f"_final_float32_vs_{str(dtype)[6:]}", torch.float32)
    assert _evaluate(f"_final_{str(dtype)[6:]}", dtype) == full
    assert full["crowdhuman"]["mMR"] == 0.0 and full["crowdhuman"]["Recall"] == 100.0


def _odgt(tmp_path, boxes):
    _image(tmp_path / "Images" / "a.jpg", 100, 200)
    return _write(tmp_path / "gt.odgt", json.dumps({"ID": "a", "gtboxes": boxes}) + "\n")


def test_odgt_boxes_without_vbox_are_announced_with_their_count(tmp_path, caplog):
    odgt = _odgt(tmp_path, [{"tag": "person", "fbox": [10, 10, 20, 50], "vbox": [10, 10, 20, 30]},
                            {"tag": "person", "fbox": [60, 10, 20, 50]}, {"tag": "mask", "fbox": [120, 10, 40, 60]}])
    with caplog.at_level(logging.WARNING):
        (record,) = load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    assert [a["vis_bbox"] for a in record["annotations"]] == [[10, 10, 20, 30], [60, 10, 20, 50], [120, 10, 40, 60]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{odgt}: 2 annotation(s) have no 'vbox': visible box = full box (visibility 1); first: "
                        f"{odgt}:1"]


def test_odgt_boxes_with_vbox_load_without_a_warning(tmp_path, caplog):
    odgt = _odgt(tmp_path, [{"tag": "person", "fbox": [10, 10, 20, 50], "vbox": [10, 10, 20, 30]},
                            {"tag": "mask", "fbox": [120, 10, 40, 60], "vbox": [120, 10, 40, 60]}])
    with caplog.at_level(logging.WARNING):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == []
