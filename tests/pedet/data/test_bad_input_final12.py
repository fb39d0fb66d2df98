"""
Twelfth final bad-input trial of the data side (issue 11): the Caltech protocol loaded the old annotations'
"person-fa" boxes as ignore regions, so a detection on one was absorbed; Dollar's dbEval v3.2.1 (``loadGt``: labels
person / person? / people / ignore) does not load them at all, and there such a detection is a false positive. The
command and MissRateEvaluator now drop them with the counted warning of any other label: the result is that of the
same file without those boxes.
"""
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from pedet.evaluation.__main__ import main as evaluate_cli

FRAME = "set06_V000_I00029"
PERSON = [100, 100, 30, 70]
PERSON_FA = [300, 100, 30, 70]
DETS = [(PERSON, 0.8), (PERSON_FA, 0.9), ([500, 100, 30, 70], 0.7)]


def _coco_gt(with_fa: bool) -> dict:
    anns = [{"id": 1, "image_id": FRAME, "category_id": 1, "label": "person", "bbox": PERSON,
             "vis_bbox": [0, 0, 0, 0], "ignore": 0, "height": 70}]
    if with_fa:
        anns.append({"id": 2, "image_id": FRAME, "category_id": 1, "label": "person-fa", "bbox": PERSON_FA,
                     "vis_bbox": [0, 0, 0, 0], "ignore": 1, "height": 70})
    return {"images": [{"id": FRAME, "file_name": FRAME + ".jpg", "width": 640, "height": 480}],
            "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def _run_cli(tmp_path, name, with_fa, capsys):
    gt = tmp_path / f"{name}_gt.json"
    gt.write_text(json.dumps(_coco_gt(with_fa)))
    dt = tmp_path / "dt.json"
    dt.write_text(json.dumps([{"image_id": FRAME, "category_id": 1, "bbox": b, "score": s} for b, s in DETS]))
    out = tmp_path / f"{name}.json"
    capsys.readouterr()
    assert evaluate_cli(["--protocol", "caltech", "--gt", str(gt), "--dt", str(dt), "--out", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().err


def test_caltech_command_drops_person_fa_boxes_as_dbeval(tmp_path, capsys):
    """Before: the person-fa box absorbed the top-scored detection (miss rate 0 at every FPPI, dbEval: 1 below 1)."""
    with_fa, err = _run_cli(tmp_path, "with_fa", True, capsys)
    without, err0 = _run_cli(tmp_path, "without_fa", False, capsys)
    assert err0 == ""
    assert err.startswith("warning: caltech gt: 1 box(es) have a label other than person / person? / people / "
                          "ignore ('person-fa'); the toolbox does not load them")
    keys = ("Reasonable", "All", "Heavy")
    assert {k: with_fa[k] for k in keys} == {k: without[k] for k in keys}
    curve = with_fa["details"]["setups"]["Reasonable"]["mr_at_fppi"]
    assert curve == without["details"]["setups"]["Reasonable"]["mr_at_fppi"]
    # the top detection (on the person-fa box) is a false positive: below FPPI 1 the person is still missed
    assert curve[:8] == [1.0] * 8 and curve[8] == 0.0


def test_missrate_evaluator_drops_person_fa_boxes_of_the_loader(tmp_path):
    """The loader keeps person-fa as an ignore box for training; the evaluator reads it as dbEval does."""
    torch = pytest.importorskip("torch")
    from detectron2.data import DatasetCatalog
    from detectron2.structures import Boxes, Instances

    from pedet.data.caltech import register_caltech
    from pedet.evaluation import MissRateEvaluator

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(images / f"{FRAME}.jpg")
    results = {}
    for with_fa in (True, False):
        anno = tmp_path / f"anno_{with_fa}"
        anno.mkdir()
        lines = ["% bbGt version=3", "person 100 100 30 70 0 0 0 0 0 0 0"]
        if with_fa:
            lines.append("person-fa 300 100 30 70 0 0 0 0 0 0 0")
        (anno / f"{FRAME}.jpg.txt").write_text("\n".join(lines) + "\n")
        name = f"_final12_caltech_fa_{with_fa}_{tmp_path.name}"
        register_caltech(name, str(anno), str(images))
        try:
            evaluator = MissRateEvaluator(name, output_dir=None)
            evaluator.reset()
            inst = Instances((480, 640))
            inst.pred_boxes = Boxes(torch.tensor([[x, y, x + w, y + h] for (x, y, w, h), _ in DETS],
                                                 dtype=torch.float32))
            inst.scores = torch.tensor([s for _, s in DETS])
            inst.pred_classes = torch.zeros(len(DETS), dtype=torch.int64)
            evaluator.process([{"image_id": FRAME, "height": 480, "width": 640}], [{"instances": inst}])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results[with_fa] = evaluator.evaluate()
        finally:
            DatasetCatalog.remove(name)
        messages = [str(w.message) for w in caught if "person-fa" in str(w.message)]
        assert len(messages) == (1 if with_fa else 0)
    assert results[True] == results[False]
