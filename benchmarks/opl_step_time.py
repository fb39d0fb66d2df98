#!/usr/bin/env python
"""
Training step time of OPL vs the FCOS baseline on the same backbone, input and batch, and the share of the step spent
in label assignment (POTO + One-to-M for OPL; FCOS's rule for the baseline), at 25 and 100 persons per image.

Goal of issue 4 §5: OPL <= 1.25x FCOS, assignment <= 10 % of the step. Synthetic person-shaped boxes (aspect 0.41,
heights spread over the image) on random images; SGD step included. Times are medians over the timed steps, in
seconds: wall time, and the process CPU time (``time.process_time``), which with one thread is the work itself on a
shared machine. The variants of one density are timed round-robin (one step of each per round), so a change of load
during the run affects all of them alike.

    .venv/bin/python benchmarks/opl_step_time.py --warmup 1 --steps 3  # R-50-FPN, 512x512, batch 2, 1 thread
    .venv/bin/python benchmarks/opl_step_time.py --size 800 --steps 5  # bigger input
    .venv/bin/python benchmarks/opl_step_time.py --flops               # forward MACs per variant (no timing)
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

import pedet  # noqa: F401
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import opl
from pedet.utils.cli import check_no_repeats, check_output_file, int_at_least
from pedet.utils.file_io import atomic_write  # atomic, fsync'd, the umask's permissions

CONFIG_DIR = os.path.join(os.path.dirname(opl.__file__), "..", "configs")
VARIANTS = {  # name -> (config file, extra overrides)
    "fcos_baseline": ("ablations/fcos_nms_baseline.yaml", []),
    "opl": ("Base-OPL.yaml", []),
    "opl_cpn_1x1": ("Base-OPL.yaml", ["MODEL.OPL.CPN_CONV_KERNEL", 1]),
}


def person_boxes(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n person-shaped XYXY boxes (w = 0.41 h, h in [0.06, 0.6] x size) inside a size x size image."""
    h = size * (0.06 + 0.54 * torch.rand(n, generator=gen))
    w = 0.41 * h
    x0 = torch.rand(n, generator=gen) * (size - w)
    y0 = torch.rand(n, generator=gen) * (size - h)
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def make_batch(batch: int, size: int, persons: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch):
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(person_boxes(persons, size, gen))
        inst.gt_classes = torch.zeros(persons, dtype=torch.long)
        out.append({"image": torch.randint(0, 256, (3, size, size), generator=gen).float(), "instances": inst})
    return out


def build(variant: str, depth: int):
    cfg = get_cfg()
    opl.add_opl_config(cfg)
    config_file, extra = VARIANTS[variant]
    cfg.merge_from_file(os.path.join(CONFIG_DIR, config_file))
    cfg.merge_from_list(["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cuda" if torch.cuda.is_available() else "cpu",
                         "MODEL.RESNETS.DEPTH", depth] + extra
                        + (["MODEL.RESNETS.RES2_OUT_CHANNELS", 64] if depth in (18, 34) else []))
    model = build_model(cfg)
    model.train()
    return model


class _StepTimer:
    """One variant's model, optimizer and batch, with the assignment (``label_single_image``) timed inside it."""

    def __init__(self, variant: str, depth: int, batch: int, size: int, persons: int):
        self.variant, self.persons = variant, persons
        self.model = build(variant, depth)
        self.optimizer = torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=1e-4,
                                         momentum=0.9)
        self.data = make_batch(batch, size, persons, seed=persons)
        self.assign_time = [0.0, 0.0]  # wall, CPU
        inner = self.model.label_single_image

        def timed_label(*args, **kwargs):  # time of the assignment (no grad, fp32), per image
            t0, c0 = time.perf_counter(), time.process_time()
            out = inner(*args, **kwargs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.assign_time[0] += time.perf_counter() - t0
            self.assign_time[1] += time.process_time() - c0
            return out

        self.model.label_single_image = timed_label
        self.step_times, self.assign_shares, self.cpu_times, self.cpu_shares = [], [], [], []

    def step(self, record: bool) -> None:
        """forward + losses + backward + SGD step; recorded unless a warm-up step."""
        self.assign_time[:] = [0.0, 0.0]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        losses = self.model(self.data)
        self.optimizer.zero_grad()
        sum(losses.values()).backward()
        self.optimizer.step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if record:
            self.step_times.append(dt)
            self.assign_shares.append(self.assign_time[0] / dt)
            self.cpu_times.append(dc)
            self.cpu_shares.append(self.assign_time[1] / dc)

    def result(self) -> dict:
        return {"variant": self.variant, "persons": self.persons, "step_s": statistics.median(self.step_times),
                "assign_share": statistics.median(self.assign_shares),
                "step_cpu_s": statistics.median(self.cpu_times),
                "assign_cpu_share": statistics.median(self.cpu_shares), "steps": self.step_times,
                "cpu_steps": self.cpu_times}


def time_variants(variants: list, depth: int, batch: int, size: int, persons: int, warmup: int, steps: int) -> list:
    """
    Step times of every variant at one density, measured round-robin (one step of each variant per round), so that
    a change of the machine's load during the run hits all variants alike and the ratios stay comparable.
    """
    timers = [_StepTimer(v, depth, batch, size, persons) for v in variants]
    with EventStorage():
        for i in range(warmup + steps):
            for t in timers:
                t.step(record=i >= warmup)
    return [t.result() for t in timers]


def forward_gmacs(variant: str, depth: int, size: int) -> dict:
    """
    Multiply-accumulates of one image's backbone + head forward (fvcore's count: one per MAC for convs), by module;
    independent of the machine and its load, so it says what no implementation of the variant can go below.
    """
    from fvcore.nn import FlopCountAnalysis

    model = build(variant, depth).eval()

    class BackboneAndHead(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            features = self.m.backbone(x)
            return self.m.head([features[f] for f in self.m.head_in_features])

    device = next(model.parameters()).device
    count = FlopCountAnalysis(BackboneAndHead(model), (torch.zeros(1, 3, size, size, device=device),))
    count.unsupported_ops_warnings(False)
    count.uncalled_modules_warnings(False)
    by_module = count.by_module()
    return {"variant": variant, "total": count.total() / 1e9, "backbone": by_module["m.backbone"] / 1e9,
            "head": by_module["m.head"] / 1e9}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # values out of range were tracebacks (torch.set_num_threads(0), a median of no step, a KeyError for an unknown
    # variant or depth) or timed nonsense (a negative warm-up) -> argparse's one-line error before any model is built
    ap.add_argument("--depth", type=int, default=50, choices=(18, 34, 50, 101, 152))
    ap.add_argument("--size", type=int_at_least(1), default=512)
    ap.add_argument("--batch", type=int_at_least(1), default=2)
    ap.add_argument("--persons", type=int_at_least(1), nargs="+", default=[25, 100])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--warmup", type=int_at_least(0), default=2)
    ap.add_argument("--steps", type=int_at_least(1), default=5)
    ap.add_argument("--threads", type=int_at_least(1), default=1)
    ap.add_argument("--json", default="", help="also write the results to this file")
    ap.add_argument("--flops", action="store_true", help="only count the forward MACs per variant (fvcore)")
    args = ap.parse_args(argv)
    for option in ("--persons", "--variants"):  # its rows were measured and written twice
        check_no_repeats(ap, option, getattr(args, option[2:]))
    if args.json:
        check_output_file(ap, "--json", args.json)
    if args.flops:
        counts = [forward_gmacs(v, args.depth, args.size) for v in args.variants]
        base = {c["variant"]: c["total"] for c in counts}.get("fcos_baseline", float("nan"))
        print(f"R-{args.depth}-FPN, {args.size}x{args.size}, one image, forward GMACs (fvcore)")
        print("| variant | backbone (incl. FPN) | head | total | vs FCOS |")
        print("|---|---|---|---|---|")
        for c in counts:
            print(f"| {c['variant']} | {c['backbone']:.2f} | {c['head']:.2f} | {c['total']:.2f} | "
                  f"{c['total'] / base:.3f}x |")
        if args.json:
            atomic_write(args.json, json.dumps({"args": vars(args), "gmacs": counts}, indent=1) + "\n")
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = [r for p in args.persons
            for r in time_variants(args.variants, args.depth, args.batch, args.size, p, args.warmup, args.steps)]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {args.threads} thread(s)"
    print(f"R-{args.depth}-FPN, {args.size}x{args.size}, batch {args.batch}, {device}; median of {args.steps} steps")
    print("| persons/img | variant | step wall s | vs FCOS | assignment share | step CPU s | vs FCOS (CPU) | "
          "assignment share (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = [x for x in rows if x["variant"] == "fcos_baseline" and x["persons"] == r["persons"]]
        b_wall, b_cpu = (base[0]["step_s"], base[0]["step_cpu_s"]) if base else (float("nan"), float("nan"))
        print(f"| {r['persons']} | {r['variant']} | {r['step_s']:.3f} | {r['step_s'] / b_wall:.2f}x | "
              f"{100 * r['assign_share']:.1f} % | {r['step_cpu_s']:.3f} | {r['step_cpu_s'] / b_cpu:.2f}x | "
              f"{100 * r['assign_cpu_share']:.1f} % |")
    if args.json:
        atomic_write(args.json, json.dumps({"args": vars(args), "device": device, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
