#!/usr/bin/env python
"""
What NMS costs in a crowd (issue 6 §2): post-processing time and end-to-end latency vs persons per image for
OPL (no NMS), FCOS + NMS and Faster R-CNN + NMS, same backbone (R-18 FPN, 64 channels, GN) and input, batch 1.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latency_vs_density.py --out output/latency_vs_density \
        --plot benchmarks/latency_vs_density.png
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latency_vs_density.py --budget smoke --out /tmp/lat_smoke

Method (why the candidate counts are realistic with untrained models). An untrained detector's post-processing sees
the wrong number of candidates (OPL/FCOS: none above the 0.05 score threshold; Faster R-CNN: all proposals at ~0.5),
so for every density one synthetic image (pedet.data.synthetic, the crowd-benchmark generator, N persons placed, drawn
at the input size) is run through the real model, and the head outputs that post-processing reads are replaced by a
*controlled candidate set*, the same for every method: for each annotated (non-ignore) person, K (default 10) boxes
= its full box clipped to the image and jittered (each side moved by N(0, 0.05 x box size)), with scores from U(0.3,
0.95) decaying by 5 % per candidate; nothing else scores above the test threshold. This imitates a trained
dense detector's cluster of candidates around each person (K is a CHOICE; a one-to-one OPL head yields fewer, so OPL's
figure is pessimistic):
  * OPL, FCOS: the K candidates of a person sit at the K locations nearest its centre on the FPN level FCOS would
    assign it (max side ranges 0-64-128-256-512-inf px for P3-P7), with box deltas = box2box_transform.get_deltas
    (location anchor -> candidate box); all other locations get score 0.01. Their own inference_single_image then
    thresholds, takes the per-level top-k, decodes and sorts (OPL) or runs batched_nms (FCOS, IoU 0.6).
  * Faster R-CNN: the real RPN runs its own post-processing (top-k per level, NMS 0.7, post-NMS top-k) on the
    untrained objectness (cost independent of the weights: no score threshold); its proposals are then replaced by
    the candidate boxes (capped at POST_NMS_TOPK_TEST = 1000 in rank-major order: with K x persons > 1000 every
    person keeps its best floor(1000 / persons) or so), filled up with random background boxes to 1000 as a trained
    RPN returns, so the box head always runs on 1000 ROIs; the box predictor outputs are replaced by class scores = the
    candidate scores (background ROIs 0) and zero deltas; its own inference (threshold 0.05, NMS 0.5) follows.
Post-processing time = OPL/FCOS: DenseDetector.forward_inference (score maps -> detections, incl. NMS); Faster R-CNN:
RPN.predict_proposals + FastRCNNOutputLayers.inference. End-to-end = model([{"image"}]) in eval mode under
torch.no_grad, incl. pre-processing and rescaling. Median over --iters runs after --warmup runs, the models taking
turns within each round and every round running every density (so a change in the shared machine's load hits all
cells alike). The substitution itself is precomputed (not timed, apart from a dict update).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import pedet  # noqa: E402,F401  (Pillow alias before any detectron2.data import)
import torch  # noqa: E402

from pedet.utils.cli import check_no_repeats, check_output_file, check_output_folder, int_at_least  # noqa: E402
from pedet.utils.file_io import atomic_open, atomic_write  # noqa: E402  (atomic, fsync'd, the umask's permissions)

DENSITIES = (10, 25, 50, 100, 200, 300)
MODELS = ("opl_no_nms", "fcos_nms", "faster_rcnn_nms")
BUDGETS = {
    "full": dict(size=512, warmup=3, iters=15),
    "smoke": dict(size=128, warmup=1, iters=2),
}
OPL_TINY = "projects/OPL/configs/opl_R18_synthetic_cpu.yaml"
FCOS_ABLATION = "projects/OPL/configs/ablations/fcos_nms_baseline.yaml"
RCNN_TINY = "projects/RepLoss/configs/tiny/faster_rcnn_R_18_FPN_synthetic_tiny.yaml"
FCOS_LEVEL_RANGES = (64, 128, 256, 512)  # max side upper bounds of P3-P6 (FCOS), P7 above


def build_model(name: str, size: int, device: str):
    """One of MODELS on the shared R-18 FPN (64 ch, GN), TEST size = `size`, 1000 detections per image."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model as d2_build

    from pedet.config import add_pedet_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    if name in ("opl_no_nms", "fcos_nms"):
        from opl import add_opl_config

        add_opl_config(cfg)
        cfg.merge_from_file(os.path.join(REPO, OPL_TINY))
        if name == "fcos_nms":  # the MODEL.OPL keys of projects/OPL/configs/ablations/fcos_nms_baseline.yaml
            import yaml
            from detectron2.config import CfgNode

            with open(os.path.join(REPO, FCOS_ABLATION)) as f:
                cfg.merge_from_other_cfg(CfgNode({"MODEL": {"OPL": yaml.safe_load(f)["MODEL"]["OPL"]}}))
    else:
        from reploss import add_reploss_config

        add_reploss_config(cfg)
        cfg.merge_from_file(os.path.join(REPO, RCNN_TINY))
        cfg.merge_from_list(["MODEL.REPLOSS.ALPHA", "0.0", "MODEL.REPLOSS.BETA", "0.0",
                             "MODEL.RPN.PRE_NMS_TOPK_TEST", "1000", "MODEL.RPN.POST_NMS_TOPK_TEST", "1000"])
    cfg.merge_from_list([
        "MODEL.DEVICE", device, "MODEL.WEIGHTS", "", "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.NORM", "GN",
        "MODEL.RESNETS.STRIDE_IN_1X1", "False", "MODEL.FPN.OUT_CHANNELS", "64", "MODEL.FPN.NORM", "GN",
        "MODEL.PIXEL_STD", "[57.375, 57.120, 58.395]",
        "INPUT.MIN_SIZE_TEST", str(size), "INPUT.MAX_SIZE_TEST", str(size), "TEST.DETECTIONS_PER_IMAGE", "1000",
    ])
    cfg.freeze()
    torch.manual_seed(0)
    model = d2_build(cfg).eval()
    return model, cfg


def density_image(n: int, size: int, root: str) -> dict:
    """One synthetic image with n persons placed, drawn at size x size (cached under root). Returns a dataset dict."""
    from pedet.data.crowdhuman import load_crowdhuman_odgt
    from pedet.data.synthetic import SplitSpec, generate_synthetic_crowd

    out = os.path.join(root, f"s{size}_n{n}")
    odgt = os.path.join(out, "annotation_val.odgt")
    if not os.path.exists(odgt):
        spec = SplitSpec(num_images=1, seed=7000 + n, persons_per_image=(n, n), image_size=(size, size),
                         group_size=(3, 8), group_spread=0.7, max_height_frac=0.6)
        generate_synthetic_crowd(out, "val", spec)
    return load_crowdhuman_odgt(odgt, os.path.join(out, "Images"))[0]


def candidates(d: dict, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """The controlled candidate set: (boxes (P*k, 4) XYXY, scores (P*k,), P persons) (module docstring)."""
    W, H = d["width"], d["height"]
    persons = [a for a in d["annotations"] if not a.get("ignore", 0) and a.get("category_id", 0) != -1]
    full = []
    for a in persons:
        x, y, w, h = a["bbox"]
        full.append([max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)])
    full = np.asarray(full, dtype=np.float64).reshape(-1, 4)
    s0 = rng.uniform(0.3, 0.95, len(persons))
    boxes, scores = [], []
    # rank-major order (every person's 1st candidate, then every 2nd, ...): where a cap cuts the list (Faster R-CNN's
    # 1000 proposals), each person keeps its best ranks, as a trained RPN's top proposals cover every person
    for j in range(k):
        for b, s in zip(full, s0):
            bw, bh = b[2] - b[0], b[3] - b[1]
            c = b + (rng.normal(0, 0.05, 4) * np.array([bw, bh, bw, bh]) if j else 0.0)
            c[[0, 2]] = np.clip(np.sort(c[[0, 2]]), 0, W)
            c[[1, 3]] = np.clip(np.sort(c[[1, 3]]), 0, H)
            if c[2] - c[0] < 2 or c[3] - c[1] < 2:
                c = b.copy()
            boxes.append(c)
            scores.append(s * 0.95 ** j)
    return np.asarray(boxes).reshape(-1, 4), np.asarray(scores), len(persons)


def dense_injection(model, image: torch.Tensor, boxes: np.ndarray, scores: np.ndarray) -> tuple[list, list]:
    """Per-level (scores (HW_l, 1), deltas (HW_l, 4)) that decode to the candidates (OPL / FCOS inference input)."""
    from detectron2.structures import ImageList

    with torch.no_grad():
        images = ImageList.from_tensors([image.float()], model.backbone.size_divisibility)
        feats = model.backbone(images.tensor.to(model.device))
        feats = [feats[f] for f in model.head_in_features]
        anchors = model.anchor_generator(feats)
    lv_scores = [torch.full((len(a), 1), 0.01) for a in anchors]
    lv_deltas = [torch.zeros(len(a), 4) for a in anchors]
    centres = [a.get_centers().cpu() for a in anchors]
    taken = [torch.zeros(len(a), dtype=torch.bool) for a in anchors]
    b = torch.as_tensor(boxes, dtype=torch.float32)
    # each candidate takes the free location nearest its centre on its person's FCOS level
    for i in range(b.shape[0]):
        side = float(max(b[i, 2] - b[i, 0], b[i, 3] - b[i, 1]))
        lv = min(sum(side > r for r in FCOS_LEVEL_RANGES), len(anchors) - 1)
        c = (b[i, :2] + b[i, 2:]) / 2
        dist = ((centres[lv] - c) ** 2).sum(1)
        dist[taken[lv]] = float("inf")
        j = int(dist.argmin())
        if not torch.isfinite(dist[j]):
            continue
        taken[lv][j] = True
        lv_scores[lv][j, 0] = float(scores[i])
        lv_deltas[lv][j] = model.box2box_transform.get_deltas(anchors[lv].tensor[j:j + 1].cpu(), b[i:i + 1])[0]
    dev = model.device
    return [s.to(dev) for s in lv_scores], [dd.to(dev) for dd in lv_deltas]


class Timed:
    """Wraps a bound method, adds its wall time to .total (synchronised on CUDA)."""

    def __init__(self, fn, device: str):
        self.fn, self.total, self.cuda = fn, 0.0, device.startswith("cuda")

    def __call__(self, *a, **kw):
        if self.cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = self.fn(*a, **kw)
        if self.cuda:
            torch.cuda.synchronize()
        self.total += time.perf_counter() - t
        return out


def instrument(name: str, model, device: str) -> tuple[dict, list]:
    """Install the substitution hooks and post-processing timers. Returns (state to fill per image, timers)."""
    state = {}
    if name != "faster_rcnn_nms":
        real_single = model.inference_single_image

        def single(anchors, scores, deltas, image_size):  # the real code on the injected candidates
            return real_single(anchors, state["scores"], state["deltas"], image_size)

        model.inference_single_image = single
        t = Timed(model.forward_inference, device)
        model.forward_inference = t
        return state, [t]
    from detectron2.structures import Boxes, Instances

    rpn, pred = model.proposal_generator, model.roi_heads.box_predictor
    real_pp = Timed(rpn.predict_proposals, device)

    def predict_proposals(*a, **kw):
        real_pp(*a, **kw)  # the RPN's real post-processing (timed), then the controlled proposals
        return [state["proposals"]]

    rpn.predict_proposals = predict_proposals
    real_fwd = pred.forward

    def box_predictor_forward(x):
        real_fwd(x)  # the real compute; outputs replaced
        return state["logits"], state["box_deltas"]

    pred.forward = box_predictor_forward
    t_inf = Timed(pred.inference, device)
    pred.inference = t_inf

    def set_rcnn(boxes, scores, image_size, n_rois, rng):
        n_c = min(len(boxes), n_rois)
        H, W = image_size
        xy = rng.uniform(0, 1, (n_rois - n_c, 2)) * [W, H]
        wh = rng.uniform(0.05, 0.4, (n_rois - n_c, 2)) * [W, H]
        bg = np.concatenate([xy, np.minimum(xy + wh, [W, H])], 1)
        all_b = torch.as_tensor(np.concatenate([boxes[:n_c], bg]), dtype=torch.float32, device=model.device)
        p = Instances(image_size, proposal_boxes=Boxes(all_b),
                      objectness_logits=torch.zeros(n_rois, device=model.device))
        s = torch.zeros(n_rois, device=model.device)
        s[:n_c] = torch.as_tensor(scores[:n_c], dtype=torch.float32)
        person = torch.logit(s.clamp(1e-4, 1 - 1e-4))  # softmax([z, 0]) = sigmoid(z) = s
        state.update(proposals=p, logits=torch.stack([person, torch.zeros_like(person)], 1),
                     box_deltas=torch.zeros(n_rois, pred.bbox_pred.out_features, device=model.device))
        return n_c

    state["set_rcnn"] = set_rcnn
    return state, [real_pp, t_inf]


def run(args) -> dict:
    b = BUDGETS[args.budget]
    size, warmup, iters = b["size"], args.warmup, args.iters
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    data_root = os.path.join(args.out, "images")
    imgs = {n: density_image(n, size, data_root) for n in args.densities}
    result = {"budget": args.budget, "input": f"{size}x{size}", "k_per_person": args.k, "warmup": warmup,
              "iters": iters, "threads": args.threads, "command": "benchmarks/latency_vs_density.py "
              + " ".join(sys.argv[1:] if args.argv is None else args.argv), "rows": {}}
    for device in devices:
        import cv2

        models = {m: build_model(m, size, device) for m in MODELS}
        hooks = {m: instrument(m, models[m][0], device) for m in MODELS}
        dev_name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({os.cpu_count()} cores visible)"
        prepared = {}  # density -> input, annotated persons, per-model substitution state and candidate count
        for n in args.densities:
            d = imgs[n]
            rng = np.random.default_rng(n)
            boxes, scores, persons = candidates(d, args.k, rng)
            image = torch.as_tensor(np.ascontiguousarray(cv2.imread(d["file_name"]).transpose(2, 0, 1)))
            prep = {"inp": [{"image": image.to(device), "height": d["height"], "width": d["width"]}],
                    "persons": persons, "state": {}, "cands": {}}
            for m in MODELS:
                model, cfg = models[m]
                st = hooks[m][0]
                if m == "faster_rcnn_nms":
                    prep["cands"][m] = st["set_rcnn"](boxes, scores, (d["height"], d["width"]),
                                                      cfg.MODEL.RPN.POST_NMS_TOPK_TEST, rng)
                    prep["state"][m] = {k: st[k] for k in ("proposals", "logits", "box_deltas")}
                else:
                    s, dl = dense_injection(model, image, boxes, scores)
                    prep["state"][m] = {"scores": s, "deltas": dl}
                    prep["cands"][m] = int(sum(int((x > 0.05).sum()) for x in s))
            prepared[n] = prep
        e2e = {(n, m): [] for n in args.densities for m in MODELS}
        post = {(n, m): [] for n in args.densities for m in MODELS}
        n_out = {}
        load0 = os.getloadavg()
        with torch.no_grad():
            # every round runs every (density, model) pair once, so a change in the machine's load hits all alike
            for r in range(warmup + iters):
                for n in args.densities:
                    for m in MODELS:
                        model, timers = models[m][0], hooks[m][1]
                        hooks[m][0].update(prepared[n]["state"][m])
                        for t in timers:
                            t.total = 0.0
                        if device == "cuda":
                            torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        out = model(prepared[n]["inp"])
                        if device == "cuda":
                            torch.cuda.synchronize()
                        dt = time.perf_counter() - t0
                        n_out[n, m] = len(out[0]["instances"])
                        if r >= warmup:
                            e2e[n, m].append(dt * 1e3)
                            post[n, m].append(sum(t.total for t in timers) * 1e3)
        for n in args.densities:
            for m in MODELS:
                row = result["rows"].setdefault(device, {}).setdefault(m, {})
                row[str(n)] = {
                    "persons_placed": n, "persons_annotated": prepared[n]["persons"],
                    "candidates": prepared[n]["cands"][m], "detections_out": n_out[n, m],
                    "postprocess_ms": float(np.median(post[n, m])), "e2e_ms": float(np.median(e2e[n, m])),
                    "postprocess_ms_runs": post[n, m], "e2e_ms_runs": e2e[n, m],
                }
            print(f"[{device}] {n} persons: " + ", ".join(
                f"{m} post {result['rows'][device][m][str(n)]['postprocess_ms']:.1f} / e2e "
                f"{result['rows'][device][m][str(n)]['e2e_ms']:.1f} ms" for m in MODELS), flush=True)
        result.setdefault("load_average_at_start", {})[device] = [round(x, 2) for x in load0]
        result.setdefault("devices", {})[device] = dev_name
    load = os.getloadavg()
    result["machine"] = (f"{os.cpu_count()}-core CPU, torch {torch.__version__}, load average at the end "
                         f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    return result


def write_outputs(result: dict, out: str, plot: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    os.makedirs(out, exist_ok=True)
    atomic_write(os.path.join(out, "latency.json"), json.dumps(result, indent=1) + "\n")
    lines = [f"Input {result['input']}, batch 1, K = {result['k_per_person']} candidates per person, median of "
             f"{result['iters']} runs after {result['warmup']} warm-up, {result['threads']} thread(s). "
             f"{result['machine']}; load average at the start {result.get('load_average_at_start')}.", ""]
    head = ["device", "persons placed", "persons annotated"] + [f"{m} {q}" for m in MODELS for q in
                                                                ("cands", "post ms", "e2e ms")]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for device, rows in result["rows"].items():
        for n in rows[MODELS[0]]:
            r0 = rows[MODELS[0]][n]
            cells = [result["devices"][device], n, str(r0["persons_annotated"])]
            for m in MODELS:
                r = rows[m][n]
                cells += [str(r["candidates"]), f"{r['postprocess_ms']:.2f}", f"{r['e2e_ms']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
    atomic_write(os.path.join(out, "latency.md"), "\n".join(lines) + "\n")
    fig = Figure(figsize=(9.0, 3.6), dpi=90)
    for i, (key, label) in enumerate((("postprocess_ms", "post-processing (ms)"), ("e2e_ms", "end-to-end (ms)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for device, rows in result["rows"].items():
            for m in MODELS:
                xs = [int(n) for n in rows[m]]
                ax.plot(xs, [rows[m][str(n)][key] for n in xs], marker="o", label=f"{m} ({device})")
        ax.set_xlabel("persons per image (placed)")
        ax.set_ylabel(label)
        ax.grid(True, linestyle=":", linewidth=0.6)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(f"Latency vs crowd density, {result['input']}, batch 1, K={result['k_per_person']}", fontsize=10)
    fig.tight_layout()
    for p in [os.path.join(out, "latency_vs_density.png")] + ([plot] if plot else []):
        with atomic_open(p, "wb") as f:
            fig.savefig(f, format="png")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    p.add_argument("--densities", nargs="+", type=int_at_least(1), default=list(DENSITIES))
    p.add_argument("--k", type=int_at_least(1), default=10,
                   help="candidates per person (CHOICE, see the module docstring)")
    p.add_argument("--warmup", type=int_at_least(0), default=None, help="default: the budget's")
    p.add_argument("--iters", type=int_at_least(1), default=None, help="default: the budget's")
    p.add_argument("--threads", type=int_at_least(1), default=1)
    p.add_argument("--cpu-only", action="store_true")
    p.add_argument("--out", default=os.path.join(REPO, "output", "latency_vs_density"))
    p.add_argument("--plot", default=None, help="also write the PNG here (e.g. benchmarks/latency_vs_density.png)")
    args = p.parse_args(argv)
    check_no_repeats(p, "--densities", args.densities)  # one row per density: the later replaced the earlier
    check_output_folder(p, "--out", args.out)
    images = os.path.join(args.out, "images")
    if os.path.exists(images) and not os.path.isdir(images):  # a NotADirectoryError traceback at the first image
        p.error(f"--out {args.out}: {images}, where the density images are cached, is a file")
    if args.plot is not None:
        check_output_file(p, "--plot", args.plot)
        # PNG bytes were written under any name (.json, .pdf, none); --out/latency.json or latency.md was replaced
        if not args.plot.lower().endswith(".png"):  # by the plot, in silence
            p.error(f"--plot {args.plot}: the plot is written as PNG; give a .png name")
    b = BUDGETS[args.budget]  # the budget's values where not given (--warmup 0 fell back to them in silence)
    args.warmup, args.iters = (b[k] if getattr(args, k) is None else getattr(args, k) for k in ("warmup", "iters"))
    args.argv = argv
    args.out = os.path.abspath(args.out)
    result = run(args)
    write_outputs(result, args.out, args.plot)
    print(open(os.path.join(args.out, "latency.md")).read())
    return result


if __name__ == "__main__":
    main()
