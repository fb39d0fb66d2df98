"""
What pedet's loaders accept, MissRateEvaluator evaluates: a data set that trained must not be refused when periodic
evaluation reaches it (found by mutating the fixture files: the loaders keep a visible box of negative size as
visibility 0, while the evaluator refused it as a "negative-size box" after the whole inference pass).
"""
import json
import os
import shutil

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances
from pedet.data.caltech import load_caltech
from pedet.data.citypersons import load_citypersons_per_image
from pedet.data.crowdhuman import load_crowdhuman_odgt
from pedet.evaluation import MissRateEvaluator

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def _evaluate(dicts, protocol, **kwargs):
    """MissRateEvaluator on `dicts` registered as a data set; every GT box detected once (score 0.9)."""
    name = f"_loaded_{protocol}_{len(DatasetCatalog.list())}"
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type=protocol)
    try:
        ev = MissRateEvaluator(name, output_dir=None, distributed=False, plot=False, **kwargs)
        ev.reset()
        for d in dicts:
            boxes = torch.tensor([a["bbox"] for a in d["annotations"]] or [[0.0, 0.0, 1.0, 1.0]]).reshape(-1, 4)
            boxes = BoxMode.convert(boxes, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
            inst = Instances((d["height"], d["width"]))
            inst.pred_boxes, inst.scores = Boxes(boxes), torch.full((len(boxes),), 0.9)
            inst.pred_classes = torch.zeros(len(boxes), dtype=torch.long)
            ev.process([{"image_id": d["image_id"]}], [{"instances": inst}])
        return ev.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _vis_of(dicts, image_id, k):
    return next(d for d in dicts if d["image_id"] == image_id)["annotations"][k]["vis_ratio"]


@pytest.mark.parametrize("box", ["full", "visible"])
def test_crowdhuman_negative_visible_box_from_the_loader_evaluates(tmp_path, box):
    lines = [json.loads(x) for x in open(os.path.join(FIX, "crowdhuman", "CrowdHuman", "annotation_val.odgt"))]
    lines[0]["gtboxes"][0]["vbox"] = [10, 6, 12, -5]
    odgt = tmp_path / "a.odgt"
    odgt.write_text("\n".join(json.dumps(x) for x in lines))
    dicts = load_crowdhuman_odgt(str(odgt), os.path.join(FIX, "crowdhuman", "CrowdHuman", "Images"))
    assert _vis_of(dicts, lines[0]["ID"], 0) == 0.0  # the loader's reading
    results = _evaluate(dicts, "crowdhuman", box=box)["crowdhuman"]
    assert 0.0 <= results["Recall"] <= 100.0  # percent, as Detectron2 reports


def test_citypersons_negative_visible_box_from_the_loader_evaluates(tmp_path):
    src = os.path.join(FIX, "citypersons", "cityscapes", "gtBboxCityPersons", "val")
    root = tmp_path / "val"
    shutil.copytree(src, root)
    f = root / "frankfurt" / "frankfurt_000000_000294_gtBboxCityPersons.json"
    doc = json.loads(f.read_text())
    doc["objects"][0]["bboxVis"][3] = -5
    f.write_text(json.dumps(doc))
    dicts = load_citypersons_per_image(str(root), os.path.join(FIX, "citypersons", "cityscapes", "leftImg8bit", "val"))
    assert _vis_of(dicts, "frankfurt_000000_000294", 0) == 0.0
    results = _evaluate(dicts, "citypersons", setups=["All", "Heavy"])["citypersons"]
    assert set(results) >= {"All", "Heavy"}


def test_caltech_occluded_object_with_negative_visible_box_evaluates(tmp_path):
    root = tmp_path / "anno"
    shutil.copytree(os.path.join(FIX, "caltech", "Caltech", "annotations_new", "anno_test_1xnew"), root)
    f = root / "set06_V000_I00059.jpg.txt"
    f.write_text("% bbGt version=3\nperson 5 5 10 20 1 5 5 10 -5 0 0\n")
    dicts = load_caltech(str(root), os.path.join(FIX, "caltech", "Caltech", "images"))
    assert _vis_of(dicts, "set06_V000_I00059", 0) == 0.0
    results = _evaluate(dicts, "caltech", setups=["All"])["caltech"]
    assert "All" in results
