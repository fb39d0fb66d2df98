"""
Tests of projects/RepLoss/nms_sweep.py (the paper's Figure 6): replaying Detectron2's R-CNN inference on cached box-head
outputs equals a real inference run at each NMS threshold, and the command writes its figure and numbers.
"""
import json

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from .helpers import TINY_CONFIG, load_project_script


def test_replayed_inference_equals_model_inference_at_each_threshold(tiny_cfg):
    nms_sweep = load_project_script("nms_sweep.py")
    model = build_model(tiny_cfg).eval()  # random init: ~uniform scores, many overlapping boxes above 0.05
    g = torch.Generator().manual_seed(0)
    inputs = [{"image": torch.randint(0, 256, (3, 128, 96), dtype=torch.uint8, generator=g), "height": 256,
               "width": 192, "image_id": "a"}]
    (record,) = nms_sweep.box_head_outputs(model, inputs)
    counts = []
    for thresh in (0.3, 0.7):
        model.roi_heads.box_predictor.test_nms_thresh = thresh
        with torch.no_grad():
            want = model(inputs)[0]["instances"]
        got = nms_sweep.detections_at(record, thresh, tiny_cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
                                      tiny_cfg.TEST.DETECTIONS_PER_IMAGE)
        assert torch.equal(got.pred_boxes.tensor, want.pred_boxes.tensor) and torch.equal(got.scores, want.scores)
        counts.append(len(got))
    assert counts[0] < counts[1]  # a looser NMS keeps more boxes (the sweep measures something)


def test_nms_sweep_command_writes_figure_and_numbers(tmp_path):
    nms_sweep = load_project_script("nms_sweep.py")
    cfg = nms_sweep.load_cfg(TINY_CONFIG, ["INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 128,
                                           "DATALOADER.NUM_WORKERS", 0])
    weights = str(tmp_path / "random.pth")
    DetectionCheckpointer(build_model(cfg), save_dir=str(tmp_path)).save("random")
    curves = nms_sweep.main([
        "--model", "A", TINY_CONFIG, weights, "--model", "B", TINY_CONFIG, weights,
        "--dataset", "synthetic_crowd_val", "--thresholds", "0.4", "0.6", "--max-images", "2",
        "--output", str(tmp_path / "sweep"),
        "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "128", "DATALOADER.NUM_WORKERS", "0",
    ])
    assert (tmp_path / "sweep" / "nms_sweep.png").stat().st_size > 0
    saved = json.loads((tmp_path / "sweep" / "nms_sweep.json").read_text())
    assert saved["metrics"] == ["MR@FPPI=0.01", "crowdhuman/mMR"] and set(saved["curves"]) == {"A", "B"}
    # same weights -> same curves; miss rates are percentages; MR at FPPI 0.01 is one of the points MR^-2 averages
    assert curves["A"] == curves["B"]
    for metric in saved["metrics"]:
        assert all(0.0 <= v <= 100.0 for v in curves["A"][metric].values())
        assert saved["curves"]["A"][metric] == {"0.40": curves["A"][metric][0.4], "0.60": curves["A"][metric][0.6]}


def _two_image_set(protocol):
    """
    Two 200 x 200 images, one person each (height 60: inside CityPersons' Reasonable subset). Per image a detection
    on the person and a false positive, ranked: TP (0.9), FP (0.8), TP (0.7), FP (0.6).
    """
    from pedet.evaluation.io import detections_from_arrays, ground_truth_from_dataset_dicts
    from pedet.evaluation.report import evaluate

    def ann(x):
        return {"bbox": [x, 10.0, 24.0, 60.0], "bbox_mode": 1, "category_id": 0, "iscrowd": 0, "ignore": 0}

    gt = ground_truth_from_dataset_dicts([
        {"image_id": "a", "height": 200, "width": 200, "annotations": [ann(10.0)]},
        {"image_id": "b", "height": 200, "width": 200, "annotations": [ann(100.0)]},
    ])
    dt = detections_from_arrays(gt, [("a", [[10.0, 10.0, 24.0, 60.0], [150.0, 100.0, 24.0, 60.0]], [0.9, 0.8]),
                                     ("b", [[100.0, 10.0, 24.0, 60.0], [10.0, 120.0, 24.0, 60.0]], [0.7, 0.6])])
    return evaluate(protocol, gt, dt, compute_ji=False)


@pytest.mark.parametrize("protocol,subset", [("crowdhuman", "mMR"), ("citypersons", "Reasonable")])
def test_miss_rate_at_fppi_0_01_is_the_figure_6_point(protocol, subset):
    nms_sweep = load_project_script("nms_sweep.py")
    report = _two_image_set(protocol)
    # after each ranked detection: FPPI 0, 0.5, 0.5, 1.0 (2 images); miss rate 0.5, 0.5, 0, 0 (2 persons).
    # CrowdHuman: first detection with FPPI >= 0.01 -> the FP at 0.5 -> MR 0.5.
    # CityPersons (official): recall at the last detection with FPPI <= 0.01 -> the first TP -> recall 0.5 -> MR 0.5.
    assert nms_sweep.miss_rate_at(report, subset, 0.01) == pytest.approx(0.5)
    # MR^-2 is a different number: from FPPI 0.562 on, the miss rate is 0, so the log-average is exactly 0
    assert report.metrics[subset] == 0.0
    with pytest.raises(ValueError, match="reference point"):
        nms_sweep.miss_rate_at(report, subset, 0.02)


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "pedet_test_twelfth_not_registered"],
     "--dataset pedet_test_twelfth_not_registered: not registered in DatasetCatalog"),
    (["--dataset", "coco_2017_val"], "--dataset coco_2017_val: evaluator_type 'coco' has no miss-rate metric"),
    (["--dataset", "crowdhuman_val", "--max-images", "-1"], "--max-images must be >= 0 (0 = all images), got -1"),
])
def test_nms_sweep_refuses_bad_arguments_before_running_a_model(tmp_path, capsys, argv, message):
    """Before: the first model's whole inference pass, then a KeyError traceback (or, for --max-images -1, the
    first batch less its last image evaluated without a word)."""
    nms_sweep = load_project_script("nms_sweep.py")
    model = ["--model", "a", str(tmp_path / "no_config.yaml"), str(tmp_path / "no_weights.pth")]
    with pytest.raises(SystemExit) as e:
        nms_sweep.main(model + argv + ["--output", str(tmp_path / "out")])
    assert e.value.code == 2 and message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
