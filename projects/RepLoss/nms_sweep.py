#!/usr/bin/env python
"""
Miss rate against the test-time NMS threshold for two (or more) Faster R-CNN models: Figure 6 of "Repulsion Loss:
Detecting Pedestrians in a Crowd" (Wang et al., CVPR 2018), which shows RepLoss less sensitive to the NMS threshold than
its baseline.

Each model runs ONCE over the data set; the box head's outputs (per-ROI decoded boxes and class probabilities, before
score threshold and NMS) are kept on the CPU, and for every threshold Detectron2's own
`fast_rcnn_inference_single_image` (score threshold, NMS, top-k) and `detector_postprocess` are replayed on them, so
each point equals a full inference run with MODEL.ROI_HEADS.NMS_THRESH_TEST set to that threshold
(tests/reploss/test_nms_sweep.py checks this). The miss rate is pedet's MissRateEvaluator under the data set's
protocol (CityPersons: Reasonable MR^-2; CrowdHuman / synthetic: mMR), in percent.

    python projects/RepLoss/nms_sweep.py --dataset citypersons_val \
        --model "Faster R-CNN" projects/RepLoss/configs/citypersons/faster_rcnn_R_50_FPN_citypersons_x1.yaml \
            output/reploss/citypersons/faster_rcnn_x1/model_final.pth \
        --model "RepLoss" projects/RepLoss/configs/citypersons/reploss_R_50_FPN_citypersons_x1.yaml \
            output/reploss/citypersons/reploss_x1/model_final.pth \
        --output output/reploss/nms_sweep_citypersons

Writes <output>/nms_sweep.png (the figure) and <output>/nms_sweep.json (every number plotted).

Shape shorthand:  R = ROIs of one image (POST_NMS_TOPK_TEST),  K = foreground classes.
"""
import argparse
import json
import logging
import os
from typing import Dict, List, Sequence

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.modeling.roi_heads.fast_rcnn import fast_rcnn_inference_single_image
from detectron2.utils.logger import setup_logger

import pedet.data  # noqa: F401  (registers the data sets)
from pedet.config import add_pedet_config
from pedet.data import build_pedestrian_test_loader
from pedet.evaluation import MissRateEvaluator
from reploss import add_reploss_config
from pedet.evaluation import miss_rate_metric

logger = logging.getLogger("reploss.nms_sweep")

DEFAULT_THRESHOLDS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]


def load_cfg(config_file: str, opts: Sequence[str] = ()):
    """get_cfg + pedet + reploss keys, merged with a config file and KEY VALUE overrides, frozen."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


@torch.no_grad()
def box_head_outputs(model, batched_inputs: List[dict]) -> List[dict]:
    """
    Run a GeneralizedRCNN-style model up to its box predictor (inference mode) and return, per image, the per-ROI
    decoded boxes (R, 4K) and class probabilities (R, K + 1) on the CPU with the image size the model saw and the
    input's original height / width: everything `fast_rcnn_inference` and `detector_postprocess` need.
    """
    images = model.preprocess_image(batched_inputs)
    features = model.backbone(images.tensor)
    proposals, _ = model.proposal_generator(images, features, None)
    heads = model.roi_heads
    box_features = heads.box_pooler([features[f] for f in heads.box_in_features], [p.proposal_boxes for p in proposals])
    predictions = heads.box_predictor(heads.box_head(box_features))
    boxes = heads.box_predictor.predict_boxes(predictions, proposals)
    scores = heads.box_predictor.predict_probs(predictions, proposals)
    out = []
    for inp, b, s, p in zip(batched_inputs, boxes, scores, proposals):
        out.append({
            "boxes": b.cpu(), "scores": s.cpu(), "image_size": p.image_size,
            "height": inp.get("height", p.image_size[0]), "width": inp.get("width", p.image_size[1]),
            "meta": {k: inp[k] for k in ("image_id", "file_name", "height", "width") if k in inp},
        })
    return out


def detections_at(record: dict, nms_thresh: float, score_thresh: float, topk: int):
    """Detectron2's R-CNN inference for one cached image at one NMS threshold, rescaled to the original size."""
    instances, _ = fast_rcnn_inference_single_image(
        record["boxes"], record["scores"], record["image_size"], score_thresh, nms_thresh, topk
    )
    return detector_postprocess(instances, record["height"], record["width"])


def collect(cfg, weights: str, dataset_name: str, max_images: int = 0) -> List[dict]:
    """Build the model of `cfg`, load `weights`, and cache the box-head outputs of the data set (first N if > 0)."""
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(weights)
    records = []
    for batched_inputs in build_pedestrian_test_loader(cfg, dataset_name):
        records.extend(box_head_outputs(model, batched_inputs))
        if max_images and len(records) >= max_images:
            break
    return records[:max_images] if max_images else records


def sweep(records: List[dict], cfg, dataset_name: str, thresholds: Sequence[float]) -> Dict[float, float]:
    """Miss rate (percent) of the cached model outputs at every NMS threshold."""
    metric = miss_rate_metric(dataset_name)
    task, key = metric.split("/")
    result = {}
    for thresh in thresholds:
        # numbers only: no files, plots, JI or error analysis per threshold
        evaluator = MissRateEvaluator(dataset_name, distributed=False, compute_ji=False, plot=False,
                                      error_analysis_fppi=None)
        evaluator.reset()
        for record in records:
            instances = detections_at(
                record, thresh, cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE
            )
            evaluator.process([record["meta"]], [{"instances": instances}])
        result[float(thresh)] = float(evaluator.evaluate()[task][key])
        logger.info(f"NMS {thresh:.2f}: {metric} = {result[float(thresh)]:.2f}")
    return result


def plot(curves: Dict[str, Dict[float, float]], metric: str, path: str) -> None:
    """One line per model, miss rate (%) against the NMS threshold, as the paper's Figure 6."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, curve in curves.items():
        xs = sorted(curve)
        ax.plot(xs, [curve[x] for x in xs], marker="o", label=name)
    ax.set_xlabel("NMS threshold (test)")
    ax.set_ylabel(f"{metric} (%, lower is better)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None) -> Dict[str, Dict[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs=3, action="append", required=True, metavar=("NAME", "CONFIG", "WEIGHTS"),
                        help="a model to sweep (give two or more)")
    parser.add_argument("--dataset", required=True, help="registered test set, e.g. citypersons_val")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--output", required=True, help="folder for nms_sweep.png and nms_sweep.json")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate the first N images only (0 = all)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides for every model")
    args = parser.parse_args(argv)
    setup_logger(name="reploss")
    os.makedirs(args.output, exist_ok=True)
    curves = {}
    for name, config_file, weights in args.model:
        cfg = load_cfg(config_file, args.opts)
        logger.info(f"{name}: running {config_file} with {weights} on {args.dataset}")
        curves[name] = sweep(collect(cfg, weights, args.dataset, args.max_images), cfg, args.dataset, args.thresholds)
    metric = miss_rate_metric(args.dataset)
    plot(curves, metric, os.path.join(args.output, "nms_sweep.png"))
    with open(os.path.join(args.output, "nms_sweep.json"), "w") as f:
        json.dump({"dataset": args.dataset, "metric": metric, "models": {n: m for n, *m in args.model},
                   "curves": {n: {f"{t:.2f}": v for t, v in c.items()} for n, c in curves.items()}}, f, indent=2)
    logger.info(f"wrote {os.path.join(args.output, 'nms_sweep.png')}")
    return curves


if __name__ == "__main__":
    main()
