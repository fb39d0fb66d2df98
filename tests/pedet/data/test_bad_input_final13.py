"""
Thirteenth final bad-input trial of the data side (issue 11): MissRateEvaluator read dataset dicts without
``vis_bbox`` / ``vis_ratio`` (e.g. Detectron2's ``load_coco_json`` records, which keep neither) as fully visible and
without ``height`` as the box height, without a word, while a ground-truth file without these keys gets one counted
warning per default. The defaults decide which persons a subset (Reasonable, Heavy, ...) selects, so the dict path
now announces them alike for the protocols with subsets (CityPersons, Caltech; CrowdHuman's full-box mode selects
none and stays silent); pedet's own records, which carry both keys, give no warning and the same numbers.
"""
import warnings

import numpy as np
import pytest
from PIL import Image

from pedet.evaluation.io import EvalInputWarning, ground_truth_from_dataset_dicts

BOXES = [[10.0, 10.0, 41.0, 100.0], [300.0, 10.0, 41.0, 100.0]]
IGNORE = [600.0, 10.0, 80.0, 100.0]


def _plain_record():
    """A record as Detectron2's load_coco_json gives it: no vis_bbox, vis_ratio, height."""
    anns = [{"bbox": b, "bbox_mode": 1, "category_id": 0, "iscrowd": 0} for b in BOXES]
    anns.append({"bbox": IGNORE, "bbox_mode": 1, "category_id": -1, "iscrowd": 0})
    return {"file_name": "a.png", "image_id": 1, "height": 1024, "width": 2048, "annotations": anns}


def _pedet_record():
    from pedet.data.common import make_annotation

    anns = [make_annotation(b, ignore=False) for b in BOXES] + [make_annotation(IGNORE, ignore=True)]
    return {"file_name": "a.png", "image_id": 1, "height": 1024, "width": 2048, "annotations": anns}


def _read(record, subsets=True):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gt = ground_truth_from_dataset_dicts([record], what="dataset 'x'", subsets=subsets)
    return gt, [str(w.message) for w in caught if issubclass(w.category, EvalInputWarning)]


def test_dataset_dicts_without_visibility_or_height_are_announced():
    gt, messages = _read(_plain_record())
    assert any("2 of 2 person boxes have neither 'vis_bbox' nor 'vis_ratio': fully visible" in m
               and "dataset 'x'" in m for m in messages), messages
    assert any("2 of 2 person boxes have no 'height'" in m for m in messages), messages
    ref, ref_messages = _read(_pedet_record())
    assert ref_messages == []  # pedet's own records carry both keys
    np.testing.assert_array_equal(gt.vis_ratios, ref.vis_ratios)  # same defaults as before, now announced
    np.testing.assert_array_equal(gt.heights, ref.heights)
    np.testing.assert_array_equal(gt.ignore, ref.ignore)
    # CrowdHuman's full-box mode selects no subset: such records are valid there without a word
    assert _read(_plain_record(), subsets=False)[1] == []


def test_missrate_evaluator_announces_visibility_default_of_foreign_records(tmp_path):
    torch = pytest.importorskip("torch")
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import Boxes, Instances

    from pedet.evaluation import MissRateEvaluator

    Image.fromarray(np.zeros((1024, 2048, 3), np.uint8)).save(tmp_path / "a.png")
    name = f"_final13_plain_dicts_{tmp_path.name}"
    record = dict(_plain_record(), file_name=str(tmp_path / "a.png"))
    DatasetCatalog.register(name, lambda: [record])
    MetadataCatalog.get(name).set(evaluator_type="citypersons", thing_classes=["person"])
    try:
        evaluator = MissRateEvaluator(name, output_dir=None)
        evaluator.reset()
        inst = Instances((1024, 2048))
        inst.pred_boxes = Boxes(torch.tensor([[x, y, x + w, y + h] for x, y, w, h in BOXES]))
        inst.scores = torch.tensor([0.9, 0.8])
        inst.pred_classes = torch.zeros(2, dtype=torch.int64)
        evaluator.process([{"image_id": 1, "height": 1024, "width": 2048}], [{"instances": inst}])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = evaluator.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert results["citypersons"]["Reasonable"] == 0.0
    assert sum("nor 'vis_ratio': fully visible" in str(w.message) for w in caught) == 1
