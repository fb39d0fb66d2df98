#!/usr/bin/env python
"""
Miss rate against the test-time NMS threshold for two (or more) Faster R-CNN models: Figure 6 of "Repulsion Loss:
Detecting Pedestrians in a Crowd" (Wang et al., CVPR 2018), which shows RepLoss less sensitive to the NMS threshold than
its baseline.

Each model runs ONCE over the data set; the box head's outputs (per-ROI decoded boxes and class probabilities, before
score threshold and NMS) are kept on the CPU, and for every threshold Detectron2's own
`fast_rcnn_inference_single_image` (score threshold, NMS, top-k) and `detector_postprocess` are replayed on them, so
each point equals a full inference run with MODEL.ROI_HEADS.NMS_THRESH_TEST set to that threshold
(tests/reploss/test_nms_sweep.py checks this). Two miss rates per threshold, in percent, both from pedet's miss-rate
evaluation under the data set's protocol (the code MissRateEvaluator runs) on the images swept:
  * the paper's Figure 6 quantity: the miss rate at FPPI = 10^-2 (CityPersons: Reasonable subset, the official
    script's rule, recall at the last detection with FPPI <= 10^-2; CrowdHuman / synthetic: every GT, CrowdDet's rule,
    the first detection with FPPI >= 10^-2). It is the first of the nine reference points of MR^-2;
  * the log-average miss rate over FPPI 10^-2 .. 10^0 (CityPersons: Reasonable MR^-2; CrowdHuman / synthetic: mMR),
    the headline metric the rest of the project reports.

    python projects/RepLoss/nms_sweep.py --dataset citypersons_val \
        --model "Faster R-CNN" projects/RepLoss/configs/citypersons/faster_rcnn_R_50_FPN_citypersons_x1.yaml \
            output/reploss/citypersons/faster_rcnn_x1/model_final.pth \
        --model "RepLoss" projects/RepLoss/configs/citypersons/reploss_R_50_FPN_citypersons_x1.yaml \
            output/reploss/citypersons/reploss_x1/model_final.pth \
        --output output/reploss/nms_sweep_citypersons

Writes <output>/nms_sweep.png (two panels: MR at FPPI 10^-2 as Figure 6, and MR^-2) and <output>/nms_sweep.json
(every number plotted). With --max-images N only the first N images are evaluated (their ground truth only).
The protocol's own settings are used (official mode, every subset, full boxes): TEST.MISS_RATE.PROTOCOL / SETUPS /
MODE / BOX set in a model's config or in the overrides are not applied, and a warning names them.
Overrides of what the command line sets would take no effect and are refused: MODEL.ROI_HEADS.NMS_THRESH_TEST (the
swept key), and MODEL.WEIGHTS / DATASETS.TEST other than each --model's WEIGHTS / --dataset.

Shape shorthand:  R = ROIs of one image (POST_NMS_TOPK_TEST),  K = foreground classes.
"""
import argparse
import logging
import math
import os
from typing import Dict, List, Sequence

import numpy as np

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.modeling.roi_heads.fast_rcnn import fast_rcnn_inference_single_image
from detectron2.utils.logger import setup_logger

import pedet.data  # noqa: F401  (registers the data sets)
from pedet.config import ConfigError, add_pedet_config, check_model_config, merge_config
from pedet.data import build_pedestrian_test_loader
from pedet.engine import PedetCheckpointer
from pedet.engine.checkpoint import CheckpointFileError, check_weights
from pedet.evaluation import miss_rate_metric
from pedet.evaluation.io import detections_from_arrays, ground_truth_from_dataset_dicts
from pedet.evaluation.report import evaluate
from pedet.utils.cli import check_no_repeats, check_output_folder
from pedet.utils.file_io import atomic_open, atomic_write_json
from reploss import add_reploss_config
from reploss.config import check_reploss_config

logger = logging.getLogger("reploss.nms_sweep")

DEFAULT_THRESHOLDS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
# the FPPI of the paper's Figure 6 (miss rate at 10^-2 false positives per image)
FIG6_FPPI = 0.01
MR_AT_FIG6 = "MR@FPPI=0.01"


def load_cfg(config_file: str, opts: Sequence[str] = ()):
    """
    get_cfg + pedet + reploss keys, merged with a config file and KEY VALUE overrides, checked, frozen. A config this
    script cannot sweep (another project's, e.g. an OPL config; a Detectron2 model-zoo RetinaNet; an empty file) or a
    bad value -> ConfigError naming the file or the key (were a KeyError / AttributeError traceback, or a detector of
    another kind swept in silence).
    """
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    merge_config(cfg, config_file, list(opts))  # yacs errors as one line (pedet.config)
    check_model_config(cfg)
    check_reploss_config(cfg)  # MODEL.META_ARCHITECTURE PedestrianRCNN (or a subclass): the box head swept below
    cfg.freeze()
    return cfg


def unused_miss_rate_keys(cfg, dataset_name: str) -> List[str]:
    """
    The TEST.MISS_RATE settings of `cfg` that change what MissRateEvaluator scores but that the sweep does not apply
    (it scores under the data set's own protocol with the protocol's defaults): were ignored without a word, e.g.
    TEST.MISS_RATE.BOX visible swept full boxes.
    """
    node = cfg.TEST.MISS_RATE
    own = MetadataCatalog.get(dataset_name).get("evaluator_type", None)
    unused = []
    if node.PROTOCOL and node.PROTOCOL != own:
        unused.append(f"TEST.MISS_RATE.PROTOCOL {node.PROTOCOL!r}")
    if list(node.SETUPS):
        unused.append(f"TEST.MISS_RATE.SETUPS {list(node.SETUPS)}")
    unused += [f"TEST.MISS_RATE.{key} {node[key]!r}" for key, default in (("MODE", "official"), ("BOX", "full"))
               if node[key] != default]
    return unused


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
    # every parameter from the file, weights-only: Detectron2's loader swept a model with the mismatched or missing
    # parameters randomly initialised (a warning in the log), e.g. R-18 weights given to an R-50 config
    PedetCheckpointer(model, require_all="sweeping").load(weights)
    records = []
    for batched_inputs in build_pedestrian_test_loader(cfg, dataset_name):
        records.extend(box_head_outputs(model, batched_inputs))
        if max_images and len(records) >= max_images:
            break
    return records[:max_images] if max_images else records


def person_detections(instances, person_class: int = 0):
    """(boxes (n, 4) float64 XYWH, scores (n,)) of the predicted persons, as MissRateEvaluator.process keeps them."""
    keep = instances.pred_classes == person_class if instances.has("pred_classes") else slice(None)
    boxes = instances.pred_boxes.tensor[keep].numpy().astype(np.float64).reshape(-1, 4)
    boxes[:, 2:] -= boxes[:, :2]  # XYXY_ABS -> XYWH_ABS
    return boxes, instances.scores[keep].numpy().astype(np.float64).reshape(-1)


def miss_rate_at(report, subset: str, fppi: float) -> float:
    """
    Miss rate (fraction) at one of the protocol's reference FPPIs, from an EvaluationReport: the value the protocol's
    own rule gives there (the same number that enters MR^-2). `subset`: CityPersons / Caltech setup name; ignored for
    CrowdHuman (one curve).
    """
    result = report.results if report.protocol == "crowdhuman" else report.results[subset]
    match = np.flatnonzero(np.isclose(result.refs, fppi))
    if match.size == 0:
        raise ValueError(f"FPPI {fppi} is not a reference point of {report.protocol} ({list(result.refs)})")
    return float(result.mrs[match[0]])  # NaN where undefined (no regular GT)


def sweep(records: List[dict], cfg, dataset_name: str, thresholds: Sequence[float]) -> Dict[str, Dict[float, float]]:
    """
    Miss rates (percent) of the cached model outputs at every NMS threshold, on the images of `records`.

    Returns:
        {headline metric, e.g. "crowdhuman/mMR": {threshold: MR^-2}, MR_AT_FIG6: {threshold: MR at FPPI 10^-2}}.
    """
    metric = miss_rate_metric(dataset_name)
    protocol, key = metric.split("/")
    ids = {r["meta"]["image_id"] for r in records}
    gt = ground_truth_from_dataset_dicts([d for d in DatasetCatalog.get(dataset_name) if d["image_id"] in ids])
    assert protocol == MetadataCatalog.get(dataset_name).evaluator_type
    result = {metric: {}, MR_AT_FIG6: {}}
    for thresh in thresholds:
        predictions = []
        for record in records:
            instances = detections_at(
                record, thresh, cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE
            )
            predictions.append((record["meta"]["image_id"], *person_detections(instances)))
        # numbers only: no files, plots or JI per threshold
        report = evaluate(protocol, gt, detections_from_arrays(gt, predictions), compute_ji=False)
        headline = report.metrics[key]
        result[metric][float(thresh)] = float("nan") if headline is None else 100.0 * headline
        result[MR_AT_FIG6][float(thresh)] = 100.0 * miss_rate_at(report, key, FIG6_FPPI)
        logger.info(f"NMS {thresh:.2f}: {metric} = {result[metric][float(thresh)]:.2f}, "
                    f"{MR_AT_FIG6} = {result[MR_AT_FIG6][float(thresh)]:.2f}")
    return result


def plot(curves: Dict[str, Dict[str, Dict[float, float]]], metrics: Sequence[str], path: str) -> None:
    """
    One panel per metric (MR at FPPI 10^-2 first: the paper's Figure 6; then MR^-2), one line per model, miss rate (%)
    against the test NMS threshold.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, per_metric in curves.items():
            xs = sorted(per_metric[metric])
            ax.plot(xs, [per_metric[metric][x] for x in xs], marker="o", label=name)
        ax.set_xlabel("NMS threshold (test)")
        ax.set_ylabel(f"{metric} (%, lower is better)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_open(path, "wb") as f:  # fsync'd, renamed over `path`: an interrupted run leaves no torn PNG
        fig.savefig(f, format="png", dpi=150)
    plt.close(fig)


def main(argv=None) -> Dict[str, Dict[str, Dict[float, float]]]:
    """Returns {model name: {metric: {threshold: miss rate in percent}}} (metrics: MR_AT_FIG6 and the headline)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs=3, action="append", required=True, metavar=("NAME", "CONFIG", "WEIGHTS"),
                        help="a model to sweep (give two or more)")
    parser.add_argument("--dataset", required=True, help="registered test set, e.g. citypersons_val")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--output", required=True, help="folder for nms_sweep.png and nms_sweep.json")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate the first N images only (0 = all)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides for every model")
    args = parser.parse_args(argv)
    if args.max_images < 0:  # records[:-1] would silently drop an image of the first batch
        parser.error(f"--max-images must be >= 0 (0 = all images), got {args.max_images}")
    # as MODEL.ROI_HEADS.NMS_THRESH_TEST (check_reploss_config): a NaN threshold suppressed nothing, in silence
    bad = [t for t in args.thresholds if not 0.0 <= t <= 1.0]  # NaN fails both comparisons
    if bad:
        parser.error(f"--thresholds {' '.join(map(str, args.thresholds))}: {bad[0]} is not an IoU in [0, 1]")
    # the curves are keyed by the threshold to two decimals and by the model name: a repeat replaced a point / a curve
    keys = [f"{t:.2f}" for t in args.thresholds]
    twice = [(args.thresholds[keys.index(k)], t) for i, (k, t) in enumerate(zip(keys, args.thresholds))
             if k in keys[:i]]
    if twice:
        parser.error(f"--thresholds {' '.join(map(str, args.thresholds))}: {twice[0][0]} and {twice[0][1]} are one "
                     "point (thresholds are kept to two decimals)")
    # the key the sweep sets to each threshold: given as an override it took no effect, in silence
    for key, value in zip(args.opts[0::2], args.opts[1::2]):
        if key == "MODEL.ROI_HEADS.NMS_THRESH_TEST":
            parser.error(f"{key} {value}: the threshold this script sweeps (each --thresholds value replaces it); "
                         f"give {value} in --thresholds")
        # likewise the weights (each --model's WEIGHTS is loaded) and the test set (--dataset is scored): another value
        # as an override swept other weights / another set than the command line says, without a word
        if key == "MODEL.WEIGHTS" and any(value != weights for _, _, weights in args.model):
            parser.error(f"{key} {value}: each --model NAME CONFIG WEIGHTS gives the weights this script sweeps; "
                         "give them there")
    check_no_repeats(parser, "--model NAME", [name for name, _, _ in args.model])
    check_output_folder(parser, "--output", args.output)
    try:  # found before any model runs, not after the first model's whole inference pass
        miss_rate_metric(args.dataset)
    except KeyError as e:
        parser.error(f"--dataset {e.args[0]}")
    cfgs = {}
    for name, config_file, weights in args.model:  # every model's config and weights before the first model runs
        try:
            cfgs[name] = load_cfg(config_file, args.opts)
        except ConfigError as e:
            parser.error(f"--model {name}: {str(e.code).removeprefix('error: ')}")
        if "DATASETS.TEST" in args.opts[0::2] and tuple(cfgs[name].DATASETS.TEST) != (args.dataset,):
            parser.error(f"DATASETS.TEST {tuple(cfgs[name].DATASETS.TEST)}: --dataset {args.dataset} is the set this "
                         "script scores; give the set there")
        if not weights:  # DetectionCheckpointer.load('') swept a randomly initialised model, in silence
            parser.error(f"--model {name} {config_file} '': no WEIGHTS; give the model_final.pth to sweep")
        try:
            check_weights(weights, "sweeping")
        except CheckpointFileError as e:
            parser.error(f"--model {name}: {e}")
    from pedet.engine.launch import BAD_INPUT_ERRORS, bad_input_message

    try:  # its files (registration touches none): missing ones were a FileNotFoundError traceback after a model built
        DatasetCatalog.get(args.dataset)
    except BAD_INPUT_ERRORS as e:
        parser.error(f"--dataset {args.dataset}: {bad_input_message(e)}")
    setup_logger(name="reploss")
    for name in cfgs:
        unused = unused_miss_rate_keys(cfgs[name], args.dataset)
        if unused:
            logger.warning(f"--model {name}: {', '.join(unused)}: not applied; the sweep scores {args.dataset} under its "
                           f"own protocol with the protocol's settings ({miss_rate_metric(args.dataset)}, official "
                           "mode, full boxes)")
    os.makedirs(args.output, exist_ok=True)
    curves = {}
    for name, config_file, weights in args.model:
        cfg = cfgs[name]
        logger.info(f"{name}: running {config_file} with {weights} on {args.dataset}")
        curves[name] = sweep(collect(cfg, weights, args.dataset, args.max_images), cfg, args.dataset, args.thresholds)
    metrics = [MR_AT_FIG6, miss_rate_metric(args.dataset)]
    plot(curves, metrics, os.path.join(args.output, "nms_sweep.png"))
    atomic_write_json(os.path.join(args.output, "nms_sweep.json"),
                      {"dataset": args.dataset, "metrics": metrics, "models": {n: m for n, *m in args.model},
                       "curves": {n: {m: {f"{t:.2f}": (v if math.isfinite(v) else None) for t, v in c[m].items()}
                                      for m in metrics} for n, c in curves.items()}}, indent=2)
    logger.info(f"wrote {os.path.join(args.output, 'nms_sweep.png')}")
    return curves


if __name__ == "__main__":
    from pedet.engine.launch import one_line_errors

    with one_line_errors():  # weights that are not the config's model, a damaged image: one line, no traceback
        main()
