#!/usr/bin/env python
"""
GPU check of both projects (issue 13 §3): on one CUDA GPU, in a few minutes, does training and inference run in fp32
and with mixed precision, and how fast?

    python benchmarks/gpu_check.py --out output/gpu_check.json            # one CUDA GPU, R-50, 800x1333
    python benchmarks/gpu_check.py --device cpu --smoke --out /tmp/g.json  # the CPU path CI runs (tiny sizes)

Sections (each row of the JSON carries its numbers; the table printed at the end has one line per row):
1. ``train``: a few training iterations of OPL (Base-OPL.yaml, the paper's head) at 25 and 100 persons per image and
   of RepLoss (Faster R-CNN R-50-FPN + RepGT + RepBox, CrowdHuman config) at 25, R-50, batch 2 at 800x1333, in fp32
   (detectron2's SimpleTrainer) and with AMP (``PedetAMPTrainer``, what ``SOLVER.AMP.ENABLED True`` builds: float16
   autocast + GradScaler on CUDA, bfloat16 on the CPU). Reported: losses finite, iterations/s (median step), peak
   memory, and for OPL the share of the step spent in label assignment (``OPL.label_single_image``: POTO with the
   Hungarian matching on the CPU, One-to-M_i; synchronised on entry and exit, so it is the time the step waits for it).
   A share above 10 % is flagged (``assign_over_10pct``): then the assignment must be overlapped with GPU work or
   moved to the GPU.
2. ``inference``: images/s of both models at 800x1333, batch 1 and 8, fp32 and fp16 autocast (bfloat16 on the CPU),
   eval mode, untrained weights (the backbone and head cost do not depend on them; post-processing is in section 3).
3. ``latency``: OPL (no NMS) vs FCOS + NMS end-to-end latency at 10 to 300 persons per image, batch 1, with the
   controlled candidate sets of benchmarks/latency_vs_density.py (its models, images and substitution, here on the
   chosen device and input size).
Synthetic data: random images with person-shaped boxes (w = 0.41 h); no data set is needed. ``--time-budget`` stops
starting new rows after that many seconds (the JSON says which were skipped).
"""
import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from pedet.utils.file_io import atomic_write

from pedet.engine.amp import PedetAMPTrainer
from pedet.utils.cli import check_output_file, finite_above
from pedet.utils.imports import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "opl": os.path.join(REPO, "projects", "OPL", "configs", "Base-OPL.yaml"),
    "reploss": os.path.join(REPO, "projects", "RepLoss", "configs", "crowdhuman", "reploss_R_50_FPN_crowdhuman.yaml"),
}
# sizes and counts: the real check, and the CPU smoke path (slim R-50, tiny images)
BUDGETS = {
    "full": dict(height=800, width=1333, batch=2, warmup=3, steps=10, persons={"opl": [25, 100], "reploss": [25]},
                 infer_batches=[1, 8], infer_warmup=3, infer_iters=10, latency_size=800,
                 densities=[10, 25, 50, 100, 200, 300], latency_warmup=3, latency_iters=10),
    "smoke": dict(height=96, width=128, batch=2, warmup=0, steps=1, persons={"opl": [5], "reploss": [5]},
                  infer_batches=[1, 2], infer_warmup=0, infer_iters=1, latency_size=128,
                  densities=[10, 25], latency_warmup=0, latency_iters=1),
}
SMOKE_MODEL = ["MODEL.RESNETS.STEM_OUT_CHANNELS", 16, "MODEL.RESNETS.RES2_OUT_CHANNELS", 16,
               "MODEL.RESNETS.WIDTH_PER_GROUP", 4, "MODEL.FPN.OUT_CHANNELS", 32, "MODEL.OPL.GN_NUM_GROUPS", 8,
               "MODEL.OPL.NUM_CONVS", 1, "MODEL.OPL.CPN_CONV_KERNEL", 1]


def make_cfg(project: str, device: str, smoke: bool):
    cfg = _bench_module("crowd_quality").project_defaults(project)  # get_cfg + pedet's and the project's keys
    cfg.merge_from_file(CONFIGS[project])
    opts = ["MODEL.WEIGHTS", "", "MODEL.DEVICE", device, "MODEL.RESNETS.DEPTH", 50]
    if smoke:
        for key, value in zip(SMOKE_MODEL[::2], SMOKE_MODEL[1::2]):
            if project == "opl" or not key.startswith("MODEL.OPL"):
                opts += [key, value]
        if project == "reploss":
            opts += ["MODEL.ROI_BOX_HEAD.FC_DIM", 64]
    cfg.merge_from_list(opts)
    return cfg


def person_batch(batch: int, height: int, width: int, persons: int, seed: int) -> list:
    """``batch`` detectron2 inputs: random uint8-valued images and ``persons`` person-shaped XYXY boxes each."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch):
        h = height * (0.06 + 0.5 * torch.rand(persons, generator=g))
        w = 0.41 * h
        x0 = torch.rand(persons, generator=g) * (width - w)
        y0 = torch.rand(persons, generator=g) * (height - h)
        inst = Instances((height, width), gt_boxes=Boxes(torch.stack([x0, y0, x0 + w, y0 + h], 1)),
                         gt_classes=torch.zeros(persons, dtype=torch.long))
        image = torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8).float()
        out.append({"image": image, "instances": inst, "height": height, "width": width})
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(device: str):
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def time_assignment(model, device: str) -> list:
    """Wraps OPL's ``label_single_image`` (per image, no grad) so that its wall time adds up in the returned cell."""
    total = [0.0]
    inner = model.label_single_image

    def timed(*args, **kwargs):
        _sync(device)  # the GPU work queued before is not the assignment's
        t0 = time.perf_counter()
        out = inner(*args, **kwargs)
        _sync(device)
        total[0] += time.perf_counter() - t0
        return out

    model.label_single_image = timed
    return total


def train_row(project: str, precision: str, persons: int, device: str, b: dict, smoke: bool) -> dict:
    """A few iterations of detectron2's SimpleTrainer (fp32) or PedetAMPTrainer (amp) on one repeated batch."""
    cfg = make_cfg(project, device, smoke)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    batch = person_batch(b["batch"], b["height"], b["width"], persons, seed=persons)
    data = itertools.repeat(batch)
    trainer = (PedetAMPTrainer if precision == "amp" else SimpleTrainer)(model, data, optimizer)
    assign = time_assignment(model, device) if project == "opl" else None
    steps, shares, totals = [], [], []
    _reset_peak(device)
    row = {"section": "train", "project": project, "precision": precision, "persons": persons,
           "input": f"{b['batch']}x{b['height']}x{b['width']}"}
    if precision == "amp":
        row["autocast_dtype"] = "float16" if device.startswith("cuda") else str(trainer.cpu_dtype).split(".")[-1]
    try:
        with EventStorage(0) as storage:
            trainer.storage = storage
            for i in range(b["warmup"] + b["steps"]):
                trainer.iter = storage.iter = i
                if assign is not None:
                    assign[0] = 0.0
                _sync(device)
                t0 = time.perf_counter()
                trainer.run_step()
                _sync(device)
                dt = time.perf_counter() - t0
                totals.append(storage.history("total_loss").latest())
                if i >= b["warmup"]:
                    steps.append(dt)
                    if assign is not None:
                        shares.append(assign[0] / dt)
        row["losses_finite"] = all(math.isfinite(v) for v in totals)
    except FloatingPointError as e:  # detectron2's _write_metrics raises on a non-finite loss
        row["losses_finite"], row["error"] = False, str(e).splitlines()[0]
    if steps:
        row.update(step_s=statistics.median(steps), it_per_s=1.0 / statistics.median(steps), steps_s=steps,
                   total_loss=totals)
    row["peak_mem_mib"] = _peak_mib(device)
    if shares:
        row["assign_share"] = statistics.median(shares)
        row["assign_over_10pct"] = row["assign_share"] > 0.10
    return row


def inference_row(project: str, precision: str, batch_size: int, device: str, b: dict, smoke: bool) -> dict:
    cfg = make_cfg(project, device, smoke)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    inputs = [{"image": x["image"].to(device), "height": x["height"], "width": x["width"]}
              for x in person_batch(batch_size, b["height"], b["width"], 1, seed=batch_size)]
    dtype = (torch.float16 if device.startswith("cuda") else torch.bfloat16) if precision == "fp16" else None
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    _reset_peak(device)
    times = []
    with torch.no_grad(), torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(b["infer_warmup"] + b["infer_iters"]):
            _sync(device)
            t0 = time.perf_counter()
            model(inputs)
            _sync(device)
            if i >= b["infer_warmup"]:
                times.append(time.perf_counter() - t0)
    return {"section": "inference", "project": project, "precision": precision, "batch": batch_size,
            "autocast_dtype": str(dtype).split(".")[-1] if dtype else None, "input": f"{b['height']}x{b['width']}",
            "images_per_s": batch_size / statistics.median(times), "batch_s": times, "peak_mem_mib": _peak_mib(device)}


def _bench_module(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is not a package), loaded once per process."""
    return load_script(os.path.join(REPO, "benchmarks", f"{name}.py"))



def latency_rows(device: str, b: dict, work_dir: str, deadline: float, k: int = 10) -> list:
    """OPL vs FCOS+NMS end-to-end latency per density (benchmarks/latency_vs_density.py's method and pieces)."""
    import cv2
    import numpy as np

    lvd = _bench_module("latency_vs_density")
    size = b["latency_size"]
    names = ("opl_no_nms", "fcos_nms")
    models = {m: lvd.build_model(m, size, device)[0] for m in names}
    hooks = {m: lvd.instrument(m, models[m], device) for m in names}
    rows = []
    for n in b["densities"]:
        if time.time() > deadline:
            rows.append({"section": "latency", "persons": n, "skipped": "time budget"})
            continue
        d = lvd.density_image(n, size, os.path.join(work_dir, "latency_images"))
        boxes, scores, annotated = lvd.candidates(d, k, np.random.default_rng(n))
        image = torch.as_tensor(np.ascontiguousarray(cv2.imread(d["file_name"]).transpose(2, 0, 1)))
        inp = [{"image": image.to(device), "height": d["height"], "width": d["width"]}]
        states = {}
        for m in names:
            s, dl = lvd.dense_injection(models[m], image, boxes, scores)
            states[m] = {"scores": s, "deltas": dl}
        e2e, post = {m: [] for m in names}, {m: [] for m in names}
        with torch.no_grad():
            for r in range(b["latency_warmup"] + b["latency_iters"]):
                for m in names:  # the two models take turns, so a change of load hits both
                    hooks[m][0].update(states[m])
                    for t in hooks[m][1]:
                        t.total = 0.0
                    _sync(device)
                    t0 = time.perf_counter()
                    models[m](inp)
                    _sync(device)
                    if r >= b["latency_warmup"]:
                        e2e[m].append((time.perf_counter() - t0) * 1e3)
                        post[m].append(sum(t.total for t in hooks[m][1]) * 1e3)
        row = {"section": "latency", "persons": n, "persons_annotated": annotated, "input": f"{size}x{size}"}
        for m in names:
            row[f"{m}_e2e_ms"] = statistics.median(e2e[m])
            row[f"{m}_post_ms"] = statistics.median(post[m])
        rows.append(row)
    return rows


def format_table(result: dict) -> str:
    lines = [f"device: {result['device']}; torch {result['torch']}; {result['budget']} budget; "
             f"{result['wall_s']:.0f} s in all", "",
             "| section | project / model | precision | persons or batch | it/s or img/s or ms | peak MiB | notes |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        mem = f"{r['peak_mem_mib']:.0f}" if r.get("peak_mem_mib") is not None else "-"
        if r.get("skipped"):
            lines.append(f"| {r['section']} | {r.get('project', '-')} | {r.get('precision', '-')} | "
                         f"{r.get('persons', r.get('batch', '-'))} | skipped | - | {r['skipped']} |")
        elif r["section"] == "train":
            notes = "losses finite" if r["losses_finite"] else f"NON-FINITE {r.get('error', '')}"
            if "assign_share" in r:
                notes += f"; assignment {100 * r['assign_share']:.1f} % of the step"
                notes += " (> 10 %: overlap or move to GPU)" if r["assign_over_10pct"] else ""
            speed = f"{r['it_per_s']:.2f} it/s" if "it_per_s" in r else "-"
            precision = f"amp ({r['autocast_dtype']})" if r["precision"] == "amp" else "fp32"
            lines.append(f"| train | {r['project']} | {precision} | {r['persons']} persons | {speed} | {mem} | "
                         f"{notes} |")
        elif r["section"] == "inference":
            precision = r["autocast_dtype"] or "fp32"  # fp16 rows run bfloat16 autocast on the CPU
            lines.append(f"| inference | {r['project']} | {precision} | batch {r['batch']} | "
                         f"{r['images_per_s']:.1f} img/s | {mem} | {r['input']} |")
        else:
            lines.append(f"| latency | OPL / FCOS+NMS | fp32 | {r['persons']} persons | "
                         f"{r['opl_no_nms_e2e_ms']:.1f} / {r['fcos_nms_e2e_ms']:.1f} ms | - | post-processing "
                         f"{r['opl_no_nms_post_ms']:.2f} / {r['fcos_nms_post_ms']:.2f} ms, {r['input']} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (with --smoke: the CI path)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and one step each (CI)")
    ap.add_argument("--sections", nargs="+", default=["train", "inference", "latency"],
                    choices=["train", "inference", "latency"])
    ap.add_argument("--time-budget", type=finite_above(0), default=450.0,  # <= 0 or NaN skipped every row, silently
                    help="seconds; later rows are skipped after it")
    ap.add_argument("--out", default=os.path.join(REPO, "output", "gpu_check.json"))
    args = ap.parse_args(argv)
    try:
        device_type = torch.device(args.device).type
    except RuntimeError:
        device_type = None
    if device_type not in ("cpu", "cuda"):  # was a RuntimeError traceback from the first build_model
        ap.error(f"--device {args.device}: give cpu or cuda (cuda:N)")
    check_output_file(ap, "--out", args.out)
    images = os.path.join(os.path.dirname(os.path.abspath(args.out)), "latency_images")
    # a file there: a NotADirectoryError traceback after the train and inference sections
    if "latency" in args.sections and os.path.exists(images) and not os.path.isdir(images):
        ap.error(f"--out {args.out}: {images}, where the latency rows cache their images, is a file")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("no CUDA device: run with --device cpu --smoke for the CPU path")
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    b = BUDGETS["smoke" if args.smoke else "full"]
    start = time.time()
    deadline = start + args.time_budget
    device_name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else (
        f"CPU ({os.cpu_count()} cores visible, {torch.get_num_threads()} torch threads)")
    rows = []

    def budget_left() -> bool:
        return time.time() < deadline

    if "train" in args.sections:
        for project in ("opl", "reploss"):
            for persons in b["persons"][project]:
                for precision in ("fp32", "amp"):
                    if not budget_left():
                        rows.append({"section": "train", "project": project, "precision": precision,
                                     "persons": persons, "skipped": "time budget"})
                        continue
                    rows.append(train_row(project, precision, persons, args.device, b, args.smoke))
                    print(format_table({"device": device_name, "torch": torch.__version__, "budget": "-",
                                        "wall_s": time.time() - start, "rows": rows[-1:]}).splitlines()[-1],
                          flush=True)
    if "inference" in args.sections:
        for project in ("opl", "reploss"):
            for precision in ("fp32", "fp16"):
                for batch_size in b["infer_batches"]:
                    if not budget_left():
                        rows.append({"section": "inference", "project": project, "precision": precision,
                                     "batch": batch_size, "skipped": "time budget"})
                        continue
                    rows.append(inference_row(project, precision, batch_size, args.device, b, args.smoke))
    if "latency" in args.sections:
        rows += latency_rows(args.device, b, os.path.dirname(os.path.abspath(args.out)), deadline)
    result = {"device": device_name, "torch": torch.__version__, "budget": "smoke" if args.smoke else "full",
              "command": "benchmarks/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "wall_s": time.time() - start, "rows": rows}
    atomic_write(args.out, json.dumps(result, indent=1) + "\n")  # atomic, fsync'd, the umask's permissions
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
