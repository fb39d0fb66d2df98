"""
Fifth "second person" data trial of issue 11, on the final tree.

- A user-defined Caltech setup read its "inf" as the CityPersons script's 1e10, below dbEval's visibility inf of a
  not-occluded object: ``--setups Near:80:inf:0.65:inf`` (the README's form) left every not-occluded pedestrian
  out of the subset in the command, in silence (the built-in Caltech setups use a true inf). Now inf is inf there.
- A user-defined Caltech setup with a finite upper visibility of 1 or more (``Partial1:50:inf:0.65:1``, the
  toolbox's own "Occ=partial" range) gave other numbers in ``MissRateEvaluator`` than in the command on the same
  frames. dbEval's ``filterGtFun`` reads a visible box of zeros (a not-occluded object in the bbGt file, and in the
  ``caltech2coco`` file) as visibility inf, outside [0.65, 1]; the loader stores such an object with its full box as
  visible box, which the evaluator read as visibility 1, inside the range: every not-occluded pedestrian was scored
  in the partial-occlusion subset, in silence. The built-in setups (upper bound inf, or 0.65) were not affected.
"""
import json

import pytest
import torch
from detectron2.structures import Boxes, Instances

from pedet.data import convert
from pedet.data.caltech import register_caltech
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation import __main__ as evaluation

from .conftest import CALTECH_FRAMES, write_caltech_frames, write_file as _write

FRAMES = CALTECH_FRAMES
SETUPS = ["Reasonable", "Partial1:50:inf:0.65:1", "None1:50:inf:1:inf"]


@pytest.fixture
def caltech(tmp_path):
    write_caltech_frames(tmp_path, 80)  # the first frame's occluded pedestrian 80 % visible
    return tmp_path


# one detection on each frame's not-occluded pedestrian, one on the 80 %-visible one
DETECTIONS = ((FRAMES[0], [100, 100, 41, 100], 0.9), (FRAMES[1], [100, 100, 41, 100], 0.8),
              (FRAMES[0], [300, 100, 41, 100], 0.7))


def _subsets(metrics: dict) -> dict:
    return {s: (metrics[s], d["num_gt"]) for s, d in metrics["details"]["setups"].items()}


def test_caltech_user_setup_with_a_finite_upper_visibility_gives_the_command_s_numbers(caltech):
    gt, dt, out = caltech / "test_gt.json", caltech / "dt.json", caltech / "metrics.json"
    assert convert.main(["caltech2coco", str(caltech / "anno"), str(gt), "--image-root", str(caltech / "images")]) == 0
    _write(dt, json.dumps([{"image_id": f, "category_id": 1, "bbox": b, "score": s} for f, b, s in DETECTIONS]))
    assert evaluation.main(["--protocol", "caltech", "--gt", str(gt), "--dt", str(dt), "--setups", *SETUPS,
                            "--out", str(out)]) == 0
    command = _subsets(json.loads(out.read_text()))
    name = "final5_caltech_user_setups"
    register_caltech(name, str(caltech / "anno"), str(caltech / "images"))
    evaluator = MissRateEvaluator(name, protocol="caltech", setups=SETUPS, output_dir=str(caltech / "mre"))
    evaluator.reset()
    for frame in FRAMES:
        mine = [(b, s) for f, b, s in DETECTIONS if f == frame]
        boxes = torch.tensor([[x, y, x + w, y + h] for (x, y, w, h), _ in mine], dtype=torch.float32)
        instances = Instances((480, 640), pred_boxes=Boxes(boxes), scores=torch.tensor([s for _, s in mine]),
                              pred_classes=torch.zeros(len(mine), dtype=torch.int64))
        evaluator.process([{"image_id": frame, "height": 480, "width": 640}], [{"instances": instances}])
    evaluator.evaluate()
    assert _subsets(json.loads((caltech / "mre" / "metrics.json").read_text())) == command
    # Partial1 [0.65, 1]: the two occluded pedestrians (0.8, and 1 for the visible box = full box), not the
    # not-occluded ones (inf); the detection finds the first of them. None1 [1, inf]: the three others.
    assert command["Partial1"][1] == 2 and command["None1"][1] == 3 and command["Reasonable"][1] == 4
