"""
Fourteenth bad-input trial of the evaluation side (issue 11). An --out / --plot or an output_dir that is a loop of
symbolic links was found only after the evaluation (the command replaced an --out loop by the metrics file, exit
status 0; MissRateEvaluator's os.makedirs failed after the whole inference pass). MissRateEvaluator.process printed
numpy's "invalid value encountered in subtract" for an infinite predicted box before evaluate() named it.
(--plot inside --out and --out inside the PNG are in test_bad_input_third.py's table.)
"""
import json
import os
import warnings

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.__main__ import main
from pedet.evaluation.io import EvalInputError

from ..data.conftest import write_file

GT = json.dumps({"ID": "a", "width": 64, "height": 48, "gtboxes": [{"tag": "person", "fbox": [10, 10, 20, 30]}]})
DT = json.dumps({"ID": "a", "dtboxes": [{"box": [10, 10, 20, 30], "score": 0.9, "tag": 1}]})
LOOP_MESSAGE = "is a loop of symbolic links (each points on to another); remove it or give another path"


@pytest.mark.parametrize("flag", ["--out", "--plot"])
def test_command_output_that_is_a_symbolic_link_loop_is_refused_before_the_evaluation(tmp_path, capsys, flag):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    gt, dt = write_file(tmp_path / "gt.odgt", GT + "\n"), write_file(tmp_path / "dt.odgt", DT + "\n")
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, flag, str(loop)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {flag}: '{loop}' {LOOP_MESSAGE}\n"
    assert os.readlink(loop) == str(loop)


@pytest.fixture
def dataset():
    name = "pedet_test_fourteenth"
    DatasetCatalog.register(name, lambda: [{"file_name": "a.jpg", "image_id": "a", "height": 48, "width": 64,
                                            "annotations": []}])
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_evaluator_output_dir_that_is_a_symbolic_link_loop_fails_when_built(tmp_path, dataset):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    with pytest.raises(ValueError, match=rf"^MissRateEvaluator: output_dir: '{loop}' is a loop of symbolic links"):
        MissRateEvaluator(dataset, output_dir=str(loop), distributed=False)


def test_infinite_predicted_box_is_named_by_evaluate_without_a_numpy_warning(dataset):
    inst = Instances((48, 64))
    inst.pred_boxes = Boxes(torch.tensor([[float("inf"), 1.0, float("inf"), 3.0]]))  # XYXY: inf - inf
    inst.scores = torch.tensor([0.9])
    ev = MissRateEvaluator(dataset, distributed=False, plot=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: RuntimeWarning: invalid value encountered in subtract
        ev.process([{"image_id": "a"}], [{"instances": inst}])
    with pytest.raises(EvalInputError, match=r"^predictions: non-finite box .* in image 'a'"):
        ev.evaluate()
