"""
Fourth "second person" data trial of issue 11, on the final tree.

- Caltech error analysis binned the missed pedestrians by a visibility other than the one the setups select by
  (dbEval's: area(visible) / area(full), "inf" for a visible box of zeros). ``caltech2coco`` writes a not-occluded
  object's visible box as [0, 0, 0, 0], which the evaluation command read as visibility 0: ``--protocol caltech
  --error-analysis`` counted every not-occluded pedestrian as "very heavy [0, 0.2)" (metrics.json and the printed
  table); ``MissRateEvaluator`` did the same for an occluded object whose visible box is its full box (the
  loader's bbLoad rule, visibility 0). Both are in the Reasonable setup (visibility >= 0.65), and the MRs were
  right. The bins now use the setups' visibility (at most 1), from both entry points.
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


@pytest.fixture
def caltech(tmp_path):
    write_caltech_frames(tmp_path, 40)  # the first frame's occluded pedestrian 40 % visible
    return tmp_path


def _missed_by_occlusion(metrics: dict, setup: str) -> dict:
    return {r["bin"].split()[0]: (r["gt"], r["missed"]) for r in metrics["details"]["error_analysis"][setup]
            ["missed_by_occlusion"]}


def test_caltech_error_analysis_bins_by_the_visibility_of_the_setups(caltech, capsys):
    gt, dt, out = caltech / "test_gt.json", caltech / "dt.json", caltech / "metrics.json"
    assert convert.main(["caltech2coco", str(caltech / "anno"), str(gt), "--image-root", str(caltech / "images")]) == 0
    _write(dt, json.dumps([{"image_id": FRAMES[0], "category_id": 1, "bbox": [100, 100, 41, 100], "score": 0.9}]))
    assert evaluation.main(["--protocol", "caltech", "--gt", str(gt), "--dt", str(dt), "--setups", "All",
                            "--error-analysis", "0.1", "--out", str(out)]) == 0
    # All: height >= 20, visibility >= 0.2: the four pedestrians; the one detection finds the first
    assert _missed_by_occlusion(json.loads(out.read_text()), "All") == {
        "bare": (3, 2), "partial": (0, 0), "heavy": (1, 1), "very": (0, 0)}
    assert "very heavy [0, 0.2): 0/0" in capsys.readouterr().out


def test_caltech_error_analysis_of_the_command_equals_missrateevaluator(caltech):
    gt, dt, out = caltech / "test_gt.json", caltech / "dt.json", caltech / "metrics.json"
    convert.main(["caltech2coco", str(caltech / "anno"), str(gt), "--image-root", str(caltech / "images")])
    _write(dt, "[]")
    evaluation.main(["--protocol", "caltech", "--gt", str(gt), "--dt", str(dt), "--setups", "All",
                     "--error-analysis", "0.1", "--out", str(out)])
    name = "final4_caltech_error_analysis"
    register_caltech(name, str(caltech / "anno"), str(caltech / "images"))
    evaluator = MissRateEvaluator(name, protocol="caltech", setups=["All"], error_analysis_fppi=0.1,
                                  output_dir=str(caltech / "mre"))
    evaluator.reset()
    for frame in FRAMES:  # no detection in either frame, as the command's []
        instances = Instances((480, 640), pred_boxes=Boxes(torch.zeros(0, 4)), scores=torch.zeros(0),
                              pred_classes=torch.zeros(0, dtype=torch.int64))
        evaluator.process([{"image_id": frame, "height": 480, "width": 640}], [{"instances": instances}])
    evaluator.evaluate()
    mre = json.loads((caltech / "mre" / "metrics.json").read_text())
    assert _missed_by_occlusion(mre, "All") == _missed_by_occlusion(json.loads(out.read_text()), "All") == {
        "bare": (3, 3), "partial": (0, 0), "heavy": (1, 1), "very": (0, 0)}
