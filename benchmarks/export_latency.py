#!/usr/bin/env python
"""
OPL inference latency on CPU: ONNX Runtime (the graph of tools/export.py) vs eager PyTorch, batch 1.

    OMP_NUM_THREADS=1 python benchmarks/export_latency.py --config-file projects/OPL/configs/opl_R18_synthetic_cpu.yaml \
        --threads 1 --size 256 --warmup 10 --iters 50 [MODEL.WEIGHTS ...]

Three timings per image size, each the median over --iters rounds after --warmup rounds (the three take turns in
each round, so load changes on a shared machine hit all alike), same thread count for both runtimes (torch.set_num_threads / ORT intra_op_num_threads, inter_op 1):
  eager_model:  the detectron2 model as users call it, ``model([{"image": x}])`` (normalise, pad, backbone, head,
                top-k decode, detector_postprocess) under torch.inference_mode;
  eager_graph:  the export module (opl/export.py) itself in PyTorch, same ops as the ONNX graph;
  onnxruntime:  the exported .onnx on ONNX Runtime's CPU provider (graph optimisations: ORT_ENABLE_ALL).
The speed-up reported is eager_model / onnxruntime. Detections are compared too (max |diff| of boxes and scores).
Prints a markdown table and writes it with the raw numbers to --output (JSON).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(REPO, "projects", "OPL"), os.path.join(REPO, "tools")]

import pedet  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pedet.utils.cli import check_no_repeats, check_not_an_input, check_output_file, int_at_least  # noqa: E402
from pedet.utils.file_io import atomic_write  # noqa: E402  (atomic, fsync'd, the umask's permissions)


def interleaved_medians_ms(fns: dict, warmup: int, iters: int) -> dict:
    """Median wall time (ms) of each fn; the fns take turns in every round, so that a machine whose load changes
    (other jobs on it) slows all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1000.0 * statistics.median(t) for name, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--config-file", default=os.path.join(REPO, "projects/OPL/configs/opl_R18_synthetic_cpu.yaml"))
    # out of range: tracebacks (torch.set_num_threads(0), a median of no iteration, a convolution larger than the
    # input) -> argparse's one-line error
    p.add_argument("--threads", type=int_at_least(1), default=1)
    p.add_argument("--size", type=int_at_least(1), nargs="+", default=[256], help="square input sizes (px)")
    p.add_argument("--warmup", type=int_at_least(0), default=10)
    p.add_argument("--iters", type=int_at_least(1), default=50)
    p.add_argument("--output", default=os.path.join(REPO, "output", "benchmarks", "export_latency.json"))
    p.add_argument("opts", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    check_output_file(p, "--output", args.output)
    check_no_repeats(p, "--size", args.size)  # its row was measured and written twice

    import onnxruntime as ort
    from export import build_and_load, export_opl_onnx, setup_cfg  # tools/export.py
    from opl.export import OPLExportModule, export_example_input

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = setup_cfg(args.config_file, args.opts)
    unread = [k for k in args.opts[::2] if k in ("INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST")]
    if unread:  # the timed inputs are the square --size images: the test-time resize keys change nothing here
        print(f"warning: {', '.join(unread)}: not read; this benchmark times square inputs of --size "
              f"{' '.join(map(str, args.size))} px", file=sys.stderr)
    from pedet.config import config_file_inputs

    # the JSON was written over the config (or a _BASE_ of it) or the weights after the timing, in silence
    check_not_an_input(p, "--output", args.output, config_file_inputs(args.config_file) +
                       [("MODEL.WEIGHTS", cfg.MODEL.WEIGHTS)])
    if cfg.MODEL.META_ARCHITECTURE != "OPL":  # a Faster R-CNN was built, then an AttributeError ('nms_on') traceback
        p.error(f"--config-file {args.config_file}: MODEL.META_ARCHITECTURE {cfg.MODEL.META_ARCHITECTURE!r}; this "
                "benchmark times the exported OPL graph (opl/export.py): give an OPL config")
    model = build_and_load(cfg)
    divisor = getattr(model.backbone, "size_divisibility", 0)
    if min(args.size) <= divisor:  # as tools/export.py: a single cell at the coarsest stride cannot be traced
        p.error(f"--size {min(args.size)}: must be > {divisor}, the backbone's size divisibility")
    module = OPLExportModule(model).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = os.path.join(tmp, "opl.onnx")
        export_opl_onnx(module, export_example_input(args.size[0], args.size[0]), onnx_file)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(onnx_file, so, providers=["CPUExecutionProvider"])
        for size in args.size:
            x = export_example_input(size, size)
            feed = {"images": x.numpy()}
            with torch.inference_mode():
                t = interleaved_medians_ms({"model": lambda: model([{"image": x[0]}]), "graph": lambda: module(x),
                                            "ort": lambda: session.run(None, feed)}, args.warmup, args.iters)
                eager = [t_.numpy() for t_ in module(x)]
            t_model, t_graph, t_ort = t["model"], t["graph"], t["ort"]
            out = session.run(None, feed)
            rows.append({
                "size": size, "threads": args.threads, "eager_model_ms": t_model, "eager_graph_ms": t_graph,
                "onnxruntime_ms": t_ort, "speedup_vs_eager_model": t_model / t_ort,
                "speedup_vs_eager_graph": t_graph / t_ort,
                "max_abs_diff_boxes": float(np.abs(out[0] - eager[0]).max()),
                "max_abs_diff_scores": float(np.abs(out[1] - eager[1]).max()),
            })
    load = os.getloadavg()
    lines = ["| input | threads | eager model (ms) | eager export graph (ms) | ORT (ms) | ORT speed-up vs eager model "
             "| vs eager graph |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']}x{r['size']} | {r['threads']} | {r['eager_model_ms']:.1f} | "
                     f"{r['eager_graph_ms']:.1f} | {r['onnxruntime_ms']:.1f} | {r['speedup_vs_eager_model']:.2f}x | "
                     f"{r['speedup_vs_eager_graph']:.2f}x |")
    table = "\n".join(lines)
    print(table)
    print(f"load average during the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    atomic_write(args.output, json.dumps({"rows": rows, "loadavg": load, "torch": torch.__version__,
                                         "onnxruntime": ort.__version__, "config": args.config_file,
                                         "opts": args.opts, "warmup": args.warmup, "iters": args.iters},
                                        indent=2) + "\n")
    return rows


if __name__ == "__main__":
    from pedet.utils.cli import run_script

    run_script(main)  # a full or read-only --out, | head, Ctrl-C: one line, no traceback
