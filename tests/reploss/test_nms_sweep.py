"""
Tests of projects/RepLoss/nms_sweep.py (the paper's Figure 6): replaying Detectron2's R-CNN inference on cached box-head
outputs equals a real inference run at each NMS threshold, and the command writes its figure and numbers.
"""
import json

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
    assert saved["metric"] == "crowdhuman/mMR" and set(saved["curves"]) == {"A", "B"}
    # same weights -> same curve; miss rates are percentages
    assert curves["A"] == curves["B"] and all(0.0 <= v <= 100.0 for v in curves["A"].values())
    assert saved["curves"]["A"] == {"0.40": curves["A"][0.4], "0.60": curves["A"][0.6]}
