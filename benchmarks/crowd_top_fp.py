#!/usr/bin/env python
"""
What are the highest-scoring false positives of a crowd-benchmark model? (A diagnostic for benchmarks/RESULTS.md.)

mMR averages the miss rate at FPPI 0.01 ... 1, so on 150 images its low end is decided by the first one or two false
positives of the whole ranking. This script takes trained runs of ``crowd_quality.py`` (their model_final.pth),
predicts one density set, walks the global score ranking with greedy matching (IoU >= 0.5 with the unclipped full
box, the CrowdHuman rule) and sorts the first ``--top`` false positives by cause:
  * duplicate:     IoU >= 0.5 with a person already matched by a higher-scoring detection;
  * visible part:  IoU < 0.5 with every full box, but IoU >= 0.5 with the visible box of an unmatched person
                   (the detector boxed what it sees of an occluded or truncated person);
  * localization, truncated GT: best IoU in [0.1, 0.5) with a full box that lies more than 10 % outside the image
                   (the evaluator compares with the unclipped full box, which no detector can see);
  * localization:  best IoU in [0.1, 0.5) with a full box otherwise;
  * background:    IoU < 0.1 with every person.
It also gives the recall reached before the first and the ``--top``-th false positive.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crowd_top_fp.py --out output/crowd_quality_cpu \
        --runs opl_full_seed0 opl_baseline_seed0 fcos_nms_seed0 faster_rcnn_seed0 --density sparse --top 15

Own loop (greedy matching in score order): the evaluator's matching lives inside pedet.evaluation's protocol code
and does not report per-detection causes; IoU by torchvision.ops.box_iou.
"""
import argparse
import os

import numpy as np
import torch

from pedet.utils.cli import check_no_repeats, int_at_least
from pedet.utils.imports import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_cq():
    return load_script(os.path.join(REPO, "benchmarks", "crowd_quality.py"))


def _xyxy(b: np.ndarray) -> torch.Tensor:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return torch.from_numpy(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1))


def top_false_positives(dicts: list, predictions: list, top: int) -> dict:
    """
    Args:
        dicts: dataset dicts (XYWH "bbox" full box, "vis_bbox", "ignore").
        predictions: [(image_id, boxes (n, 4) XYWH, scores (n,))].
    Returns:
        {"causes": {cause: count among the first `top` FPs}, "recall_at_first_fp", "recall_at_top_fp", "num_gt"}.
    """
    from torchvision.ops import box_iou

    gts = {}
    for d in dicts:
        persons = [a for a in d["annotations"] if not a.get("ignore", 0) and a["category_id"] >= 0]
        full = _xyxy([a["bbox"] for a in persons])
        vis = _xyxy([a.get("vis_bbox", a["bbox"]) for a in persons])
        area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
        inside = ((full[:, 2].clamp(max=d["width"]) - full[:, 0].clamp(min=0)).clamp(min=0)
                  * (full[:, 3].clamp(max=d["height"]) - full[:, 1].clamp(min=0)).clamp(min=0))
        truncated = (inside < 0.9 * area).numpy()
        gts[d["image_id"]] = (full, vis, np.zeros(len(persons), dtype=bool), truncated)
    num_gt = sum(len(g[2]) for g in gts.values())
    num_truncated = sum(int(g[3].sum()) for g in gts.values())
    ranked = sorted(((float(s), image_id, b) for image_id, boxes, scores in predictions
                     for b, s in zip(boxes, scores)), key=lambda x: -x[0])
    causes = {"duplicate": 0, "visible part": 0, "localization, truncated GT": 0, "localization": 0, "background": 0}
    tp = fp = 0
    recall_first = None
    for _, image_id, box in ranked:
        full, vis, matched, truncated = gts[image_id]
        if len(matched) == 0:
            cause = "background"
        else:
            iou = box_iou(_xyxy(box), full)[0].numpy()
            free = np.where(matched, -1.0, iou)
            j = int(free.argmax())
            if free[j] >= 0.5:
                matched[j] = True
                tp += 1
                continue
            if (iou[matched] >= 0.5).any():
                cause = "duplicate"
            elif (np.where(matched, -1.0, box_iou(_xyxy(box), vis)[0].numpy()) >= 0.5).any():
                cause = "visible part"
            elif iou.max() >= 0.1:
                cause = "localization, truncated GT" if truncated[int(iou.argmax())] else "localization"
            else:
                cause = "background"
        if fp == 0:
            recall_first = tp / max(num_gt, 1)
        causes[cause] += 1
        fp += 1
        if fp == top:
            break
    return {"causes": causes, "recall_at_first_fp": recall_first, "recall_at_top_fp": tp / max(num_gt, 1),
            "num_gt": num_gt, "truncated_gt_share": num_truncated / max(num_gt, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the crowd_quality.py --out folder")
    p.add_argument("--runs", nargs="+", required=True, help="runs/<method>_seed<s> names")
    p.add_argument("--density", default="sparse", help="test set of the budget: sparse, medium or crowd")
    p.add_argument("--top", type=int_at_least(1), default=15,
                   help="false positives to classify (15 = FPPI 0.1 on 150 images)")
    p.add_argument("--budget", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cq = _load_cq()
    # an unknown budget, a run name without _seed<N> or a run without weights: KeyError / ValueError / AssertionError
    # tracebacks, the last after the earlier runs were evaluated
    if args.budget not in cq.BUDGETS:
        p.error(f"--budget {args.budget}: not a budget of crowd_quality.py ({', '.join(sorted(cq.BUDGETS))})")
    if args.density not in cq.SETS:  # d5 / d20 / d50 named sets no budget has: a KeyError after the model was built
        p.error(f"--density {args.density}: not a test set of crowd_quality.py's budgets ({', '.join(cq.SETS)})")
    check_no_repeats(p, "--runs", args.runs)  # a run given twice was computed and printed twice
    for run in args.runs:
        method, _, seed = run.rpartition("_seed")
        if method not in cq.METHODS or not seed.isdigit():
            p.error(f"--runs {run}: not a run name <method>_seed<N> of crowd_quality.py (methods: "
                    f"{', '.join(cq.METHODS)})")
        weights = os.path.join(os.path.abspath(args.out), "runs", run, "model_final.pth")
        if not os.path.isfile(weights):
            p.error(f"--runs {run}: no {weights} (a finished run of crowd_quality.py --out {args.out} is needed)")
    from detectron2.data import DatasetCatalog

    import pedet.data  # noqa: F401
    from pedet.engine import PedetCheckpointer
    from pedet.engine.launch import BAD_INPUT_ERRORS, bad_input_message

    budget = cq.BUDGETS[args.budget]
    if budget["smoke_data"]:  # the smoke sets are registered by crowd_quality.py under its --out (was a KeyError)
        cq.register_smoke_sets(os.path.join(os.path.abspath(args.out), "smoke_data"))
    name = budget["val"].format(d=args.density)
    print(f"first {args.top} false positives of the global ranking on {name}")
    print("| run | duplicate | visible part | localization, truncated GT | localization | background | "
          "recall at 1st FP | recall at last FP | GT > 10 % outside the image |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for run in args.runs:
        method, seed = run.rsplit("_seed", 1)
        run_dir = os.path.join(os.path.abspath(args.out), "runs", run)
        cfg, Trainer = cq.build_cfg(method, budget, int(seed), run_dir)
        model = Trainer.build_model(cfg)
        try:  # a file that is not a checkpoint of the run: one line (was an unpickling traceback)
            PedetCheckpointer(model, require_all="evaluating").load(os.path.join(run_dir, "model_final.pth"))
        except BAD_INPUT_ERRORS as e:
            p.error(bad_input_message(e))
        preds = cq.predict(model, Trainer.build_test_loader(cfg, name))
        r = top_false_positives(DatasetCatalog.get(name), preds, args.top)
        c = r["causes"]
        print(f"| {run} | {c['duplicate']} | {c['visible part']} | {c['localization, truncated GT']} | "
              f"{c['localization']} | {c['background']} | {100 * (r['recall_at_first_fp'] or 0):.1f} % | "
              f"{100 * r['recall_at_top_fp']:.1f} % | {100 * r['truncated_gt_share']:.1f} % |")
        rows.append((run, r))
    return rows


if __name__ == "__main__":
    main()
