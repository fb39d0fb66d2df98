"""
Sixteenth bad-input trial of the evaluation side (issue 11), the (read, write) pairs of every entry point tried in
turn. The command's --plot PNG that was the --gt (by its name) or the --dt (through a link) replaced it, exit status
0; MissRateEvaluator wrote its predictions.odgt / metrics.md over the data set's own annotation file (a data set of
last round's predictions, or a link); a ground-truth box whose area is beyond the float range, which the loaders read,
was "non-finite vis_ratio in image 'a'" (no line, no box); an output device that is full said only "No space left on
device". (JSON true / false among a box's numbers are in test_bad_input_fresh.py's table.)
"""
import json
import os
import warnings

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from pedet.data.crowdhuman import register_crowdhuman
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.__main__ import main

from ..data.conftest import write_file, write_image

GT = json.dumps({"ID": "a", "width": 64, "height": 48, "gtboxes": [{"tag": "person", "fbox": [10, 10, 20, 30]}]}) + "\n"
DT = json.dumps({"ID": "a", "dtboxes": [{"box": [10, 10, 20, 30], "score": 0.9, "tag": 1}]}) + "\n"


@pytest.mark.parametrize("which", ["--gt", "--dt"])
def test_command_plot_whose_png_is_an_input_is_refused_before_the_evaluation(tmp_path, capsys, which):
    """--gt named like the PNG in the --plot folder; a PNG name in --plot that is a link to the --dt."""
    plots = tmp_path / "plots"
    png = plots / "mr_fppi_crowdhuman.png"
    if which == "--gt":
        gt, dt = write_file(png, GT), write_file(tmp_path / "dt.odgt", DT)
    else:
        gt, dt = write_file(tmp_path / "gt.odgt", GT), write_file(tmp_path / "dt.odgt", DT)
        plots.mkdir()
        os.symlink(dt, png)
    rc = main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--plot", str(plots)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err == (
        f"error: --plot '{plots}': the PNG it writes there, {png}, is the {which} file "
        f"({gt if which == '--gt' else dt}); give the PNGs another folder\n")
    with open(gt) as f_gt, open(dt) as f_dt:
        assert f_gt.read() == GT and f_dt.read() == DT


def test_command_out_to_a_full_device_names_it(tmp_path, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    gt, dt = write_file(tmp_path / "gt.odgt", GT), write_file(tmp_path / "dt.odgt", DT)
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", "/dev/full"]) == 1
    assert capsys.readouterr().err == "error: /dev/full: No space left on device\n"  # before: no file named


@pytest.mark.parametrize("how", ["the data set's file is named predictions.odgt", "metrics.md links to it"])
def test_evaluator_output_that_is_the_data_sets_annotation_file_fails_when_built(tmp_path, how):
    """Before: evaluate() replaced the ground truth with the predictions (or the Markdown table) without a word."""
    write_image(tmp_path / "Images" / "a.jpg", 48, 64)
    name = "pedet_test_sixteenth_output"
    if how.endswith("predictions.odgt"):
        odgt, clash = write_file(tmp_path / "predictions.odgt", GT), "predictions.odgt"
    else:
        odgt, clash = write_file(tmp_path / "gt.odgt", GT), "metrics.md"
        os.symlink(odgt, tmp_path / clash)
    register_crowdhuman(name, odgt, str(tmp_path / "Images"))
    try:
        with pytest.raises(ValueError) as e:
            MissRateEvaluator(name, output_dir=str(tmp_path), distributed=False)
        assert str(e.value) == (f"MissRateEvaluator: output_dir '{tmp_path}': the file '{clash}' the evaluator writes "
                                f"there is the data set's gt_file '{odgt}'; give another output_dir")
        with open(odgt) as f:
            assert f.read() == GT
        ev = MissRateEvaluator(name, output_dir=str(tmp_path / "out"), distributed=False, plot=False)  # elsewhere
        inst = Instances((48, 64))
        inst.pred_boxes, inst.scores = Boxes(torch.tensor([[10.0, 10.0, 30.0, 40.0]])), torch.tensor([0.9])
        ev.process([{"image_id": "a"}], [{"instances": inst}])
        assert ev.evaluate()["crowdhuman"]["mMR"] == 0.0
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


HUGE_GT = {  # a 1e308 px wide box beside a regular one; the detection finds the regular one
    "crowdhuman": (json.dumps({"ID": "a", "width": 64, "height": 48, "gtboxes": [
        {"tag": "person", "fbox": [10, 10, 1e308, 30]}, {"tag": "person", "fbox": [10, 10, 20, 30]}]}) + "\n", DT,
        ["--error-analysis", "0.1"]),
    "citypersons": (json.dumps({"images": [{"id": 1, "width": 640, "height": 480}], "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 1e308, 100], "vis_bbox": [10, 10, 1e308, 100],
         "height": 100, "ignore": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 100], "vis_ratio": 1.0, "height": 100,
         "ignore": 0}]}),
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 100], "score": 0.9}]), ["--setups", "All"]),
    "caltech": (json.dumps({"images": [{"id": 1, "width": 640, "height": 480}], "annotations": [
        {"id": 1, "image_id": 1, "bbox": [10, 10, 1e308, 100], "vis_bbox": [10, 10, 1e308, 50], "label": "person"},
        {"id": 2, "image_id": 1, "bbox": [10, 10, 40, 100], "label": "person"}]}),
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 100], "score": 0.9}]), ["--setups", "All"]),
}


@pytest.mark.parametrize("protocol", list(HUGE_GT))
def test_ground_truth_box_beyond_the_float_range_is_evaluated_without_numpy_warnings(tmp_path, capsys, protocol):
    """
    Its area is inf, its visibility inf / inf; the loaders give it the ratio per side. Before: "ground truth:
    non-finite vis_ratio in image 'a'" (crowdhuman, citypersons without vis_ratio; no line, no box), or numpy's
    "overflow encountered in multiply" (--error-analysis, caltech).
    """
    gt_text, dt_text, args = HUGE_GT[protocol]
    ext = "odgt" if protocol == "crowdhuman" else "json"
    gt, dt = write_file(tmp_path / f"gt.{ext}", gt_text), write_file(tmp_path / f"dt.{ext}", dt_text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc = main(["--protocol", protocol, "--gt", gt, "--dt", dt, *args, "--out", str(tmp_path / "m.json")])
    # citypersons: annotation 1's visibility is derived from its vis_bbox (a counted warning says so)
    assert rc == 0 and capsys.readouterr().err == ("" if protocol != "citypersons" else
                                                   f"warning: {gt}: 1 of 2 annotation(s) have 'vis_bbox' but no "
                                                   "'vis_ratio': visibility area(vis_bbox ∩ bbox) / area(bbox), as "
                                                   "pedet's data loaders; first: annotation 1 (image 1)\n")
    metrics = json.loads((tmp_path / "m.json").read_text())
    if protocol == "crowdhuman":
        assert metrics["details"]["num_gt"] == 2 and metrics["Recall"] == 0.5
