#!/usr/bin/env python
"""
Has a one-to-one (NMS-free) detector learned to suppress its own duplicates? Diagnostics of one trained run of the
crowd benchmark (issue 14), without retraining.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/one_to_one_diagnostics.py output/crowd_cpu/runs/opl_full_seed0 \
        [--set sparse] [--variant nms0.5] [--levels] [--out result.json]

The run directory is what benchmarks/crowd_quality.py leaves per run (config.yaml, model_final.pth); FCOS-style
(project OPL) and Faster R-CNN runs both work. For every valid person of the test set that has at least one detection
with IoU >= 0.5 (its full box), the best and the runner-up score among those detections:

  * best / runner-up medians and their ratio (runner-up / best, median over persons): a detector that has learned
    one-to-one prediction scores one location per person high and its neighbours low (ratio near 0); one that hedges
    between neighbouring locations scores them alike (ratio near 1);
  * share of persons whose runner-up scores >= 0.3 (the benchmark's duplicate threshold) and >= half the best;
  * quantiles of the best score;
  * duplicates per matched GT (crowd_quality's definition, score >= 0.3, IoU >= 0.5).
With --levels (FCOS-style runs only) the duplicates are also counted with one FPN level's scores kept at a time
(the other levels' class logits set to -1e4 before decoding): where the duplicates come from.
"""
from __future__ import annotations

import argparse
import json
import os
import re

import numpy as np

from pedet.utils.cli import check_not_an_input, check_output_file
from pedet.utils.imports import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _crowd_quality():
    """benchmarks/crowd_quality.py as a module (benchmarks/ is not a package): its predict(), duplicate count, configs."""
    return load_script(os.path.join(REPO, "benchmarks", "crowd_quality.py"))


def best_and_runner_up(gt_boxes: np.ndarray, det_boxes: np.ndarray, scores: np.ndarray, iou_thresh: float = 0.5):
    """
    Per GT (XYXY (g, 4)), the best and second-best score among detections (XYXY (d, 4), scores (d,)) with
    IoU >= iou_thresh; GTs without any such detection are left out; a GT with one such detection has runner-up 0.
    Returns two float arrays of the same length.
    """
    import torch
    from torchvision.ops import box_iou

    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return np.zeros(0), np.zeros(0)
    iou = box_iou(torch.as_tensor(det_boxes, dtype=torch.float64),
                  torch.as_tensor(gt_boxes, dtype=torch.float64)).numpy()
    best, second = [], []
    for j in range(iou.shape[1]):
        s = np.sort(scores[iou[:, j] >= iou_thresh])[::-1]
        if len(s):
            best.append(s[0])
            second.append(s[1] if len(s) > 1 else 0.0)
    return np.asarray(best, dtype=np.float64), np.asarray(second, dtype=np.float64)


def summarize(best: np.ndarray, second: np.ndarray) -> dict:
    """The statistics listed in the module docstring from per-GT best and runner-up scores."""
    if len(best) == 0:
        return {"persons_with_a_detection": 0}
    return {
        "persons_with_a_detection": int(len(best)),
        "best_median": float(np.median(best)), "runner_up_median": float(np.median(second)),
        "ratio_median": float(np.median(second / best)),
        "share_runner_up_ge_0.3": float(np.mean(second >= 0.3)),
        "share_runner_up_ge_half_best": float(np.mean(second >= 0.5 * best)),
        "best_quantiles_10_25_50_75_90": [float(q) for q in np.quantile(best, [0.1, 0.25, 0.5, 0.75, 0.9])],
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a crowd_quality run directory (config.yaml, model_final.pth)")
    p.add_argument("--set", default="sparse", choices=("sparse", "medium", "crowd"), help="test set (preset cpu)")
    p.add_argument("--variant", default="", help="a test variant of the row as in crowd_quality.METHODS, e.g. "
                   "nms0.5 for fcos_nms (default: the run's config as it is)")
    p.add_argument("--levels", action="store_true", help="also count duplicates per FPN level (FCOS-style runs)")
    p.add_argument("--out", default=None, help="write the result as JSON here")
    args = p.parse_args(argv)
    if args.out is not None:  # a folder: an IsADirectoryError traceback after the predictions; '' wrote nothing
        check_output_file(p, "--out", args.out)
    for f in ("config.yaml", "model_final.pth"):
        if not os.path.isfile(os.path.join(args.run_dir, f)):
            p.error(f"{args.run_dir}: no {f} (a run directory of benchmarks/crowd_quality.py is expected)")
    if args.out is not None:  # the JSON replaced the run's config or weights after the predictions, in silence
        check_not_an_input(p, "--out", args.out, [(f"the run's {f}", os.path.join(args.run_dir, f))
                                                  for f in ("config.yaml", "model_final.pth")])

    config = os.path.join(args.run_dir, "config.yaml")
    try:
        with open(config, encoding="utf-8") as f:
            text = f.read()  # the MODEL.OPL group, or an OPL model without it (was an AttributeError: OPL)
    except UnicodeDecodeError as e:  # was a UnicodeDecodeError traceback
        p.error(f"{config}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); is it a config file?")
    from pedet.config import config_file_inputs

    # the _BASE_ chain too (a bad chain: ConfigError, one line): a config.yaml of `_BASE_: <an OPL config>` was run as
    # a Faster R-CNN and refused for its MODEL.OPL keys
    for _, base in config_file_inputs(config)[1:]:
        with open(base, encoding="utf-8") as f:
            text += "\n" + f.read()
    project = "opl" if "OPL:" in text or re.search(r"META_ARCHITECTURE:\s*['\"]?OPL\b", text) else "reploss"
    if args.levels and project != "opl":  # was refused only after the predictions
        p.error(f"--levels: needs an FCOS-style (OPL project) run; {args.run_dir} is a Faster R-CNN run")

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cq = _crowd_quality()
    crowd_stats = load_script(os.path.join(REPO, "benchmarks", "crowd_stats.py"))
    import pedet.data  # noqa: F401  (registers the synthetic sets)
    from detectron2.data import DatasetCatalog

    from pedet.config import check_model_config, merge_config
    from pedet.engine import PedetCheckpointer
    from pedet.engine.launch import BAD_INPUT_ERRORS, bad_input_message
    from pedet.evaluation.io import detections_from_arrays, ground_truth_from_dataset_dicts

    cfg = cq.project_defaults(project)
    # a config or weights file the run did not write: one line naming it (were YAML / yacs / unpickling tracebacks)
    merge_config(cfg, os.path.join(args.run_dir, "config.yaml"), [])
    check_model_config(cfg)  # the model's keys, as demo/demo.py and tools/export.py check them
    if project == "opl":
        from opl.config import check_opl_config

        check_opl_config(cfg)
    else:
        from reploss.config import check_reploss_config

        check_reploss_config(cfg)
    cfg.freeze()
    Trainer = cq._import_train_net(project).Trainer
    model = Trainer.build_model(cfg)
    try:
        PedetCheckpointer(model).load(os.path.join(args.run_dir, "model_final.pth"))
    except BAD_INPUT_ERRORS as e:
        p.error(bad_input_message(e))
    model.eval()
    if args.variant:
        method = os.path.basename(os.path.normpath(args.run_dir)).rsplit("_seed", 1)[0]
        variants = dict(cq.METHODS.get(method, {}).get("variants", []))
        if args.variant not in variants:
            p.error(f"--variant {args.variant}: not a test variant of {method!r} (variants: {sorted(variants)})")
        for k, v in variants[args.variant].items():
            setattr(model, k, v)
    name = f"synthetic_crowd_cpu_{args.set}"
    dicts = DatasetCatalog.get(name)
    gt = ground_truth_from_dataset_dicts(dicts, box="full")
    by_id = {d["image_id"]: d for d in dicts}

    def scores_of(preds):
        best, second = [], []
        for image_id, boxes, scores in preds:
            gt_xyxy, _ = crowd_stats.image_boxes(by_id[image_id])  # the valid persons' full boxes
            b, s = best_and_runner_up(gt_xyxy,
                                      np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1), scores)
            best.append(b)
            second.append(s)
        return np.concatenate(best), np.concatenate(second)

    preds = cq.predict(model, Trainer.build_test_loader(cfg, name))
    result = {"run_dir": args.run_dir, "set": args.set, "variant": args.variant, **summarize(*scores_of(preds)),
              "duplicates": cq.duplicates_per_matched_gt(gt, detections_from_arrays(gt, preds))}
    if args.levels:
        head_forward = model.head.forward
        result["per_level"] = {}
        for k, level in enumerate(model.head_in_features):
            def only_level(features, k=k):
                out = head_forward(features)
                out["cls_logits"] = [[x if i == k else torch.full_like(x, -1e4) for i, x in enumerate(block)]
                                     for block in out["cls_logits"]]
                return out

            model.head.forward = only_level
            level_preds = cq.predict(model, Trainer.build_test_loader(cfg, name))
            result["per_level"][level] = {
                "detections_ge_0.3": int(sum((s >= 0.3).sum() for _, _, s in level_preds)),
                "duplicates": cq.duplicates_per_matched_gt(gt, detections_from_arrays(gt, level_preds))}
        model.head.forward = head_forward
    print(json.dumps(result, indent=1))
    if args.out:
        from pedet.utils.file_io import atomic_write

        atomic_write(args.out, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
