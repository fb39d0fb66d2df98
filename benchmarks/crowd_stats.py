#!/usr/bin/env python
"""
Crowd statistics of the synthetic sets and the NMS headroom (issue 14 §1-2), without any model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crowd_stats.py --out benchmarks/crowd_cpu/crowd_stats.json

For every split of the chosen presets (default: all of pedet.data.synthetic.PRESETS), over the valid persons (tag
person, not ignore) of each image:
  * persons_per_image, pairs_iou_gt_0.5_per_image and pairs_iou_gt_0.3_per_image (pairs of unclipped full boxes,
    as CrowdHuman's paper counts them), heavy_share (visible area / full area < 0.65, CityPersons' heavy range);
  * NMS headroom: the share of persons that greedy NMS at IoU 0.5 and 0.6 removes from perfect detections (every GT
    full box, random scores; mean and std over --draws score draws; torchvision.ops.batched_nms). That is the ceiling
    of what an NMS-free detector can gain over the same detector with NMS on that set.
CrowdHuman's own figures (its paper: 22.64 persons and 2.40 pairs with IoU > 0.5 per image) are listed with the one
bound they allow: greedy NMS removes at most one box per overlapping pair, so at 0.5 it removes at most
2.40 / 22.64 = 10.6 % of the persons (at 0.6 at most as many). Per-image box lists of CrowdHuman are not available
here, so the exact shares cannot be derived.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROWDHUMAN = {"persons_per_image": 22.64, "pairs_iou_gt_0.5_per_image": 2.40, "source": "CrowdHuman paper (Shao et al. "
              "2018), full boxes", "nms_removed_0.5_upper_bound": round(2.40 / 22.64, 4)}


def image_boxes(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(full XYXY (n, 4), visible area / full area (n,)) of the valid persons of one dataset dict."""
    anns = [a for a in record["annotations"] if a["category_id"] >= 0 and not a.get("ignore", 0)]
    b = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    vis = np.asarray([a.get("vis_ratio", 1.0) for a in anns], dtype=np.float64)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1), vis


def split_stats(dicts: list, draws: int = 20, seed: int = 0) -> dict:
    """The statistics above for one split (a list of Detectron2 dataset dicts with pedet's annotation fields)."""
    import torch
    from torchvision.ops import box_iou, nms

    rng = np.random.default_rng(seed)
    persons = pairs5 = pairs3 = heavy = 0
    removed = {0.5: np.zeros(draws), 0.6: np.zeros(draws)}
    for d in dicts:
        xyxy, vis = image_boxes(d)
        n = len(xyxy)
        persons += n
        heavy += int((vis < 0.65).sum())
        if n < 2:
            continue
        t = torch.from_numpy(xyxy)
        iou = torch.triu(box_iou(t, t), diagonal=1)
        pairs5 += int((iou > 0.5).sum())
        pairs3 += int((iou > 0.3).sum())
        for k in range(draws):
            scores = torch.from_numpy(rng.random(n))
            for thr in removed:
                removed[thr][k] += n - len(nms(t, scores, thr))
    m = max(len(dicts), 1)
    out = {"images": len(dicts), "persons_per_image": persons / m, "pairs_iou_gt_0.5_per_image": pairs5 / m,
           "pairs_iou_gt_0.3_per_image": pairs3 / m, "heavy_share": heavy / max(persons, 1)}
    for thr, r in removed.items():
        share = r / max(persons, 1)
        out[f"nms_removed_{thr}"] = float(share.mean())
        out[f"nms_removed_{thr}_std"] = float(share.std(ddof=1)) if draws > 1 else None
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=None, help="synthetic presets (default: all)")
    p.add_argument("--draws", type=int, default=20, help="random score draws for the NMS headroom")
    p.add_argument("--out", default=os.path.join(REPO, "benchmarks", "crowd_cpu", "crowd_stats.json"))
    args = p.parse_args(argv)
    if args.draws < 1:
        p.error("--draws must be >= 1")
    from pedet.utils.cli import check_output_file

    check_output_file(p, "--out", args.out)  # a folder or a file on the way: a traceback after the statistics
    import pedet  # noqa: F401
    from detectron2.data import DatasetCatalog

    import pedet.data  # noqa: F401  (registers the synthetic sets)
    from pedet.data.synthetic import PRESETS, synthetic_dataset_name

    presets = args.presets or list(PRESETS)
    unknown = set(presets) - set(PRESETS)
    if unknown:
        p.error(f"unknown presets {sorted(unknown)}; known: {sorted(PRESETS)}")
    t0 = time.perf_counter()
    result = {"crowdhuman": CROWDHUMAN}
    for preset in presets:
        for split in PRESETS[preset]:
            name = synthetic_dataset_name(preset, split)
            result[name] = split_stats(DatasetCatalog.get(name), draws=args.draws)
            print(f"{name}: {result[name]}", file=sys.stderr)
    from pedet.utils.file_io import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write(args.out, json.dumps(result, indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return result


if __name__ == "__main__":
    from pedet.utils.cli import run_script

    run_script(main)  # a full or read-only --out, | head, Ctrl-C: one line, no traceback
