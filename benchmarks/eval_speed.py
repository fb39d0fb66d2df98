"""
Speed benchmark of the offline miss-rate evaluator (``python -m pedet.evaluation``), issue 3 §4.

It writes a CrowdHuman-val-scale synthetic set (4370 images, ~23 persons and ~150 scored detections per image,
~5 % ignore regions) in both file formats the command reads:
  * ``gt.odgt`` / ``dt.odgt``            (CrowdHuman format: fbox / vbox / extra.ignore, dtboxes)
  * ``val_gt.json`` / ``dt.json``        (CityPersons COCO-style GT with height / vis_ratio / ignore, COCO results)
and times the command in a subprocess (wall clock, start-up included), single process:
  * crowdhuman: AP + mMR + Recall + JI
  * citypersons: all seven setups in one call

Usage:
    python benchmarks/eval_speed.py [--out-dir DIR] [--images 4370] [--repeats 3] [--seed 0]

The synthetic scenes: people in clusters (crowds), heights log-uniform in [25, 600] px, aspect 0.41, some boxes
extending outside the image (unclipped full boxes), visible boxes cut from the full box; detections are jittered
copies of the GT (true positives and duplicates, no NMS, so JI has large conflict groups) plus background boxes,
scores from separate distributions, listed per image by descending score as a detector outputs them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def _scene(rng: np.random.Generator, n_person: int, width: int, height: int):
    """One image: (n, 4) XYWH full boxes, (n, 4) visible boxes, (n,) ignore flags."""
    n_groups = max(1, n_person // 6)
    centres = np.stack([rng.uniform(0, width, n_groups), rng.uniform(height * 0.3, height, n_groups)], 1)
    g = rng.integers(0, n_groups, n_person)
    h = np.exp(rng.uniform(np.log(25), np.log(600), n_person))
    w = 0.41 * h * rng.uniform(0.85, 1.15, n_person)
    foot = centres[g] + rng.normal(0, 1, (n_person, 2)) * np.stack([w * 1.2, h * 0.15], 1)
    x, y = foot[:, 0] - w / 2, foot[:, 1] - h
    full = np.round(np.stack([x, y, w, h], 1), 1)
    vis_frac = np.clip(rng.beta(2.0, 0.8, n_person), 0.05, 1.0)
    vis = full.copy()
    vis[:, 3] = np.round(full[:, 3] * vis_frac, 1)  # visible part: the top of the body
    ignore = rng.random(n_person) < 0.05
    return full, vis, ignore


def _detections(rng: np.random.Generator, full: np.ndarray, n_det: int, width: int, height: int):
    """(n_det, 4) XYWH boxes and (n_det,) scores."""
    n = full.shape[0]
    boxes, scores = [], []
    found = rng.random(n) < 0.9
    for i in np.flatnonzero(found):
        for k in range(1 + rng.poisson(0.8)):
            j = rng.normal(0, 0.06 if k == 0 else 0.15, 4)
            x, y, w, h = full[i]
            boxes.append([x + j[0] * w, y + j[1] * h, w * np.exp(j[2]), h * np.exp(j[3])])
            scores.append(rng.beta(5, 1.5) if k == 0 else rng.beta(1.5, 4))
    n_bg = max(0, n_det - len(boxes))
    h = np.exp(rng.uniform(np.log(20), np.log(500), n_bg))
    w = 0.41 * h * rng.uniform(0.7, 1.4, n_bg)
    bg = np.stack([rng.uniform(-w / 2, width - w / 2), rng.uniform(-h / 4, height - h / 2), w, h], 1)
    boxes = np.concatenate([np.asarray(boxes).reshape(-1, 4), bg])[:n_det]
    scores = np.round(np.concatenate([np.asarray(scores), rng.beta(1, 6, n_bg)])[:n_det], 4)
    order = np.argsort(-scores, kind="stable")  # detectors list their boxes by descending score
    return np.round(boxes, 2)[order], scores[order]


def generate(out_dir: str, num_images: int = 4370, seed: int = 0) -> dict:
    """Write the four files under ``out_dir``; return their paths."""
    from pedet.utils.file_io import atomic_open, atomic_write  # atomic, fsync'd, the umask's permissions

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = {k: os.path.join(out_dir, k) for k in ("gt.odgt", "dt.odgt", "val_gt.json", "dt.json")}
    coco_images, coco_anns, coco_dets = [], [], []
    # atomic: an interrupted generation must not leave a truncated set that --skip-generate would time later
    with atomic_open(paths["gt.odgt"]) as fg, atomic_open(paths["dt.odgt"]) as fd:
        for i in range(num_images):
            width, height = int(rng.integers(800, 1400)), int(rng.integers(600, 1000))
            full, vis, ignore = _scene(rng, max(1, int(rng.poisson(23))), width, height)
            boxes, scores = _detections(rng, full, max(1, int(rng.poisson(150))), width, height)
            img_id = f"{i:06d},synthetic"
            gtboxes = [
                {"tag": "mask" if ig and k % 2 else "person", "fbox": f.tolist(), "vbox": v.tolist(),
                 "extra": {"ignore": int(ig)}}
                for k, (f, v, ig) in enumerate(zip(full, vis, ignore))
            ]
            fg.write(json.dumps({"ID": img_id, "gtboxes": gtboxes}) + "\n")
            dtboxes = [{"box": b.tolist(), "score": float(s), "tag": 1} for b, s in zip(boxes, scores)]
            fd.write(json.dumps({"ID": img_id, "width": width, "height": height, "dtboxes": dtboxes}) + "\n")
            coco_images.append({"id": i + 1, "file_name": f"{img_id}.jpg", "width": width, "height": height})
            for f, v, ig in zip(full, vis, ignore):
                coco_anns.append({
                    "id": len(coco_anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                    "bbox": f.tolist(), "vis_bbox": v.tolist(), "height": float(f[3]),
                    "vis_ratio": float(v[2] * v[3] / (f[2] * f[3])), "ignore": int(ig),
                })
            coco_dets.extend(
                {"image_id": i + 1, "category_id": 1, "bbox": b.tolist(), "score": float(s)}
                for b, s in zip(boxes, scores)
            )
    atomic_write(paths["val_gt.json"], json.dumps({"images": coco_images, "annotations": coco_anns,
                                                   "categories": [{"id": 1, "name": "pedestrian"}]}))
    atomic_write(paths["dt.json"], json.dumps(coco_dets))
    return paths


def _time(cmd: list[str], repeats: int) -> tuple[list[float], list[float], str]:
    """Wall clock and CPU time (user + sys of the child, i.e. the work without the other jobs' load) per run."""
    walls, cpus, out = [], [], ""
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        out = proc.stdout
    return walls, cpus, out


def main(argv=None) -> None:
    from pedet.utils.cli import check_output_folder, int_at_least

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default="output/eval_speed")
    # 0 images: a ZeroDivisionError after the runs; 0 repeats: a median of no run
    ap.add_argument("--images", type=int_at_least(1), default=4370)
    ap.add_argument("--repeats", type=int_at_least(1), default=3)
    ap.add_argument("--seed", type=int_at_least(0), default=0)
    ap.add_argument("--skip-generate", action="store_true", help="reuse the files in --out-dir")
    args = ap.parse_args(argv)
    check_output_folder(ap, "--out-dir", args.out_dir)
    if args.skip_generate:
        paths = {k: os.path.join(args.out_dir, k) for k in ("gt.odgt", "dt.odgt", "val_gt.json", "dt.json")}
        missing = [p for p in paths.values() if not os.path.isfile(p)]
        if missing:  # was a FileNotFoundError traceback
            ap.error(f"--skip-generate: no {missing[0]} (run once without --skip-generate to write the files)")
    else:
        t0 = time.perf_counter()
        paths = generate(args.out_dir, args.images, args.seed)
        print(f"generated {args.images} images in {time.perf_counter() - t0:.1f} s under {args.out_dir}")
    n_gt = n_dt = n_ign = n_images = 0
    with open(paths["gt.odgt"]) as f:
        for n_images, line in enumerate(f, 1):  # the files' own count (--skip-generate reuses files of any --images)
            r = json.loads(line)
            n_gt += len(r["gtboxes"])
            n_ign += sum(1 for b in r["gtboxes"] if b["tag"] != "person" or b["extra"]["ignore"])
    with open(paths["dt.odgt"]) as f:
        n_dt = sum(len(json.loads(line)["dtboxes"]) for line in f)
    n_images = max(n_images, 1)
    print(f"per image: {n_gt / n_images:.1f} GT boxes ({100 * n_ign / max(n_gt, 1):.1f} % ignore), "
          f"{n_dt / n_images:.1f} detections")
    py = sys.executable
    runs = {
        "crowdhuman (AP+mMR+Recall+JI)": [py, "-m", "pedet.evaluation", "--protocol", "crowdhuman",
                                          "--gt", paths["gt.odgt"], "--dt", paths["dt.odgt"]],
        "citypersons (7 setups)": [py, "-m", "pedet.evaluation", "--protocol", "citypersons",
                                   "--gt", paths["val_gt.json"], "--dt", paths["dt.json"], "--setups",
                                   "Reasonable", "Reasonable_small", "Heavy", "All", "R+HO", "Bare", "Partial"],
    }
    for name, cmd in runs.items():
        load = os.getloadavg()[0]
        walls, cpus, out = _time(cmd, args.repeats)
        print(f"\n$ {' '.join(os.path.relpath(c) if os.path.exists(c) else c for c in cmd)}")
        print(out.rstrip())
        print(f"{name}: wall clock {', '.join(f'{t:.2f}' for t in walls)} s (median {statistics.median(walls):.2f} s), "
              f"CPU {', '.join(f'{t:.2f}' for t in cpus)} s (median {statistics.median(cpus):.2f} s), "
              f"{args.repeats} runs; 1-min load average before: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    from pedet.utils.cli import run_script

    run_script(main)  # a full or read-only --out, | head, Ctrl-C: one line, no traceback
