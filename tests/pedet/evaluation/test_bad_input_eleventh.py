"""
Eleventh bad-input trial of the evaluator (issue 11): a model output with (N, 1) scores was evaluated (its scores
flattened) while (N, 1) classes were an IndexError traceback in ``MissRateEvaluator.process``; both are now read
as the N values they hold (the (N, K) shapes that are not one value per box are an error, see
test_evaluator_bad_input.py). A folder in ``output_dir`` named like a file the evaluator writes (metrics.md, the
curve PNG) was "IsADirectoryError: [Errno 21]" after the whole inference pass, with metrics.json already written;
the command's --plot folder holding a folder mr_fppi_<protocol>.png was "error: [Errno 21] is a folder, not a file"
after the evaluation, with --out already written.
"""
import copy
import json

import pytest
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


def _evaluate(name, column=False, dtype=torch.float32):
    """Every image: its two GT boxes found (0.9, 0.8) plus a false positive (0.7) of class 1; boxes and scores in
    `dtype`, scores and classes as (N, 1) columns if `column`."""
    DatasetCatalog.register(name, lambda: copy.deepcopy(_dicts()))
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    ev = MissRateEvaluator(name, distributed=False, plot=False)
    ev.reset()
    for image_id in "ab":
        scores, classes = torch.tensor([0.9, 0.8, 0.7], dtype=dtype), torch.tensor([0, 0, 1])
        inst = Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10, 30, 50], [50, 10, 70, 50],
                                                                   [80, 60, 90, 70]], dtype=dtype)),
                         scores=scores[:, None] if column else scores,
                         pred_classes=classes[:, None] if column else classes)
        ev.process([{"image_id": image_id}], [{"instances": inst}])
    return ev.evaluate()


def test_column_scores_and_classes_give_the_report_of_flat_ones():
    flat = _evaluate("_eleventh_flat", column=False)
    assert _evaluate("_eleventh_column", column=True) == flat
    assert flat["crowdhuman"]["mMR"] == 0.0 and flat["crowdhuman"]["Recall"] == 100.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_outputs_give_the_report_of_float32_ones(dtype):
    """numpy has no bfloat16: the outputs of an inference under torch.autocast(dtype=torch.bfloat16) ended the
    evaluation (and a training run's periodic one) with torch's 'Got unsupported ScalarType BFloat16' (final data-side
    trial). The boxes and scores are exact in both half formats, so the reports are equal."""
    full = _evaluate(f"_eleventh_float32_vs_{str(dtype)[6:]}")
    assert _evaluate(f"_eleventh_{str(dtype)[6:]}", dtype=dtype) == full
    assert full["crowdhuman"]["mMR"] == 0.0 and full["crowdhuman"]["Recall"] == 100.0


@pytest.mark.parametrize("name, plot", [("metrics.md", False), ("predictions.odgt", False),
                                        ("mr_fppi_crowdhuman.png", True)])
def test_a_folder_named_like_an_output_file_fails_when_the_evaluator_is_built(tmp_path, name, plot):
    (tmp_path / name).mkdir()
    DatasetCatalog.register(f"_eleventh_{name}", _dicts)
    MetadataCatalog.get(f"_eleventh_{name}").set(thing_classes=["person"], evaluator_type="crowdhuman")
    with pytest.raises(ValueError, match=rf"^MissRateEvaluator: output_dir '{tmp_path}' holds a folder named "
                                         rf"'{name}', the name of a file the evaluator writes there; move it away$"):
        MissRateEvaluator(f"_eleventh_{name}", output_dir=str(tmp_path), distributed=False, plot=plot)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_folder_named_like_the_curve_is_no_obstacle_without_plot(tmp_path):
    (tmp_path / "mr_fppi_crowdhuman.png").mkdir()
    DatasetCatalog.register("_eleventh_no_plot", _dicts)
    MetadataCatalog.get("_eleventh_no_plot").set(thing_classes=["person"], evaluator_type="crowdhuman")
    ev = MissRateEvaluator("_eleventh_no_plot", output_dir=str(tmp_path), distributed=False, plot=False)
    ev.reset()
    assert ev.evaluate()["crowdhuman"]["mMR"] == 100.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco_instances_results.json", "metrics.json", "metrics.md",
                                                          "mr_fppi_crowdhuman.png", "predictions.odgt"]


def test_command_plot_folder_holding_a_folder_named_like_the_curve_fails_before_the_evaluation(tmp_path, capsys):
    from pedet.evaluation.__main__ import main

    (tmp_path / "gt.odgt").write_text(json.dumps({"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [10, 10, 20, 40]}]}) + "\n")
    dt = {"ID": "a", "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}]}
    (tmp_path / "dt.odgt").write_text(json.dumps(dt) + "\n")
    (tmp_path / "plots" / "mr_fppi_crowdhuman.png").mkdir(parents=True)
    assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt"),
                 "--out", str(tmp_path / "m.json"), "--plot", str(tmp_path / "plots")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"error: --plot '{tmp_path / 'plots'}' holds a folder named 'mr_fppi_crowdhuman.png', "
                                 "the name of the PNG to write there; move it away\n")
    assert not (tmp_path / "m.json").exists()
