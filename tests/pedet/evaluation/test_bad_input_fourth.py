"""
Fourth bad-input trial of the evaluation side (issue 11): ground-truth boxes that no detection can match. The data
loaders drop boxes of zero size and boxes entirely outside the image with a counted warning; the command and
``MissRateEvaluator`` fed dicts directly kept them as regular GT, so one annotation file gave two results (and the
reference scripts' "miss that no detector can avoid"). Both now drop them alike, with a counted warning.
"""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from pedet.data.crowdhuman import register_crowdhuman
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.__main__ import main
from pedet.evaluation.io import EvalInputWarning

PERSONS = [[10, 10, 20, 40], [50, 10, 20, 40]]
UNMATCHABLE = {"right of the image": [150, 10, 20, 40], "above the image, touching it": [10, -40, 20, 40],
               "zero width": [30, 10, 0, 40]}


def _gt_line(extra_box):
    boxes = PERSONS + [extra_box]
    return {"ID": "a", "width": 100, "height": 80, "gtboxes": [{"tag": "person", "fbox": b} for b in boxes]}


def _predictions():
    inst = Instances((80, 100))
    inst.pred_boxes = Boxes(torch.tensor([[10.0, 10.0, 30.0, 50.0], [50.0, 10.0, 70.0, 50.0]]))
    inst.scores = torch.tensor([0.9, 0.8])
    inst.pred_classes = torch.zeros(2, dtype=torch.int64)
    return inst


@pytest.mark.parametrize("where", list(UNMATCHABLE))
def test_command_and_detectron2_evaluator_drop_unmatchable_gt_alike(tmp_path, capsys, where):
    box = UNMATCHABLE[where]
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(tmp_path / "a.jpg")
    gt = tmp_path / "gt.odgt"
    gt.write_text(json.dumps(_gt_line(box)) + "\n")
    dt = tmp_path / "dt.odgt"
    dt.write_text(json.dumps({"ID": "a", "width": 100, "height": 80, "dtboxes": [
        {"box": [10, 10, 20, 40], "score": 0.9}, {"box": [50, 10, 20, 40], "score": 0.8}]}) + "\n")
    assert main(["--protocol", "crowdhuman", "--gt", str(gt), "--dt", str(dt), "--out", str(tmp_path / "m.json")]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {gt}: dropped 1 box(es) that no detection can match (1 ") and \
        f"first: image 'a', box {[float(v) for v in box]} (XYWH)" in err, err
    command = json.loads((tmp_path / "m.json").read_text())
    assert command["Recall"] == 1.0 and command["details"]["num_gt"] == 2  # was Recall 2/3 (and 3 GT)

    # the same file as a registered data set, and the same three boxes given to the evaluator as dicts directly
    name = f"_fourth_trial_{where.replace(' ', '_')}"
    register_crowdhuman(name, str(gt), str(tmp_path))
    direct = DatasetCatalog.get(name)
    direct[0]["annotations"].append(dict(direct[0]["annotations"][0], bbox=[float(v) for v in box]))
    DatasetCatalog.register(name + "_direct", lambda: direct)
    MetadataCatalog.get(name + "_direct").set(thing_classes=["person"], evaluator_type="crowdhuman")
    for dataset in (name, name + "_direct"):
        ev = MissRateEvaluator(dataset, distributed=False)
        ev.reset()
        ev.process([{"image_id": "a"}], [{"instances": _predictions()}])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = ev.evaluate()["crowdhuman"]
        assert {k: result[k] / 100 for k in ("AP", "mMR", "Recall", "JI")} == \
            {k: command[k] for k in ("AP", "mMR", "Recall", "JI")}
        dropped = [str(w.message) for w in caught if issubclass(w.category, EvalInputWarning)]
        assert len(dropped) == (dataset != name), dropped  # the loader dropped it already (its own warning)


def test_boxes_of_images_without_a_size_are_kept(tmp_path, capsys):
    """
    Where neither file gives the image size (the protocols do not need it) only zero-size boxes can be told; the
    boxes that cannot be checked against their image are announced, counted (seventh trial: this was silent).
    """
    gt = {"images": [{"id": 1}], "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5000, 100, 41, 100], "height": 100, "vis_ratio": 1.0,
         "ignore": 0}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text("[]")
    assert main(["--protocol", "citypersons", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"),
                 "--setups", "Reasonable", "--out", str(tmp_path / "m.json")]) == 0
    assert capsys.readouterr().err == (f"warning: {tmp_path / 'gt.json'}: 1 of 1 image(s) with annotations have no "
                                       "'width' / 'height': their boxes are not checked against the image (one "
                                       "entirely outside it stays regular ground truth; pedet's data loaders need "
                                       "both); first: image 1\n")
    assert json.loads((tmp_path / "m.json").read_text())["details"]["setups"]["Reasonable"]["num_gt"] == 1


@pytest.mark.parametrize("protocol", [None, "crowdhuman"])
def test_evaluator_for_a_data_set_that_is_not_registered(protocol):
    """Before: "has evaluator_type None; pass protocol=", and with protocol= a KeyError only in evaluate()."""
    with pytest.raises(ValueError, match=r"^MissRateEvaluator: dataset '_fourth_trial_nowhere' is not registered in "
                                         r"DatasetCatalog \(pedet's built-in names are registered by `import "
                                         r"pedet.data`\)$"):
        MissRateEvaluator("_fourth_trial_nowhere", distributed=False, protocol=protocol)
    assert "_fourth_trial_nowhere" not in MetadataCatalog.list()
