"""
Eleventh bad-input trial of the evaluator (issue 11): a model output with (N, 1) scores was evaluated (its scores
flattened) while (N, 1) classes were an IndexError traceback in ``MissRateEvaluator.process``; both are now read
as the N values they hold (the (N, K) shapes that are not one value per box are an error, see
test_evaluator_bad_input.py).
"""
import copy

import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances
from pedet.evaluation import MissRateEvaluator


def _dicts():
    ann = {"bbox": [10.0, 10.0, 20.0, 40.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0,
           "ignore": 0}
    return [{"file_name": f"{i}.jpg", "image_id": i, "height": 80, "width": 100,
             "annotations": [dict(ann, bbox=[10.0 + 40 * k, 10.0, 20.0, 40.0]) for k in range(2)]} for i in "ab"]


def _evaluate(name, column):
    """Every image: its two GT boxes found (0.9, 0.8) plus a false positive (0.7) of class 1."""
    DatasetCatalog.register(name, lambda: copy.deepcopy(_dicts()))
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    ev = MissRateEvaluator(name, distributed=False, plot=False)
    ev.reset()
    for image_id in "ab":
        scores, classes = torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1])
        inst = Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10, 30, 50], [50, 10, 70, 50],
                                                                   [80, 60, 90, 70]])),
                         scores=scores[:, None] if column else scores,
                         pred_classes=classes[:, None] if column else classes)
        ev.process([{"image_id": image_id}], [{"instances": inst}])
    return ev.evaluate()


def test_column_scores_and_classes_give_the_report_of_flat_ones():
    flat = _evaluate("_eleventh_flat", column=False)
    assert _evaluate("_eleventh_column", column=True) == flat
    assert flat["crowdhuman"]["mMR"] == 0.0 and flat["crowdhuman"]["Recall"] == 100.0
