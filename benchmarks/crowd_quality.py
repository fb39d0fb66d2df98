#!/usr/bin/env python
"""
The crowd benchmark (issue 6 §1): every method under one budget, evaluated at three crowd densities.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crowd_quality.py --budget smoke --out output/crowd_quality_smoke
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crowd_quality.py --budget cpu --out output/crowd_quality_cpu
    .venv/bin/python benchmarks/crowd_quality.py --budget gpu --out output/crowd_quality_gpu   # CUDA machine

Per method and seed: one model is trained in this process with the project's own ``Trainer`` (projects/OPL/train_net.py
or projects/RepLoss/train_net.py, imported by path) on the same data, backbone (R-18 FPN, 64 channels), backbone
initialisation, input size, batch, iterations and learning-rate schedule (``BUDGETS``), then evaluated on the three
density sets (synthetic_crowd_val_d5 / _d20 / _d50: 5 / 20 / 50 persons placed per image, same generator). The cpu
budget's backbone is pre-trained once per --out on crops of the training set (benchmarks/pretrain_backbone.py, the
stand-in for ImageNet weights: from random init no method got below mMR ~95 in the few hundred iterations a CPU
allows) and shared by every method and seed. Metrics,
all computed with pedet.evaluation's numpy core on the dataset dicts' ground truth (unclipped full box, vis_ratio,
height, ignore):
  * CrowdHuman protocol: AP, mMR, Recall, JI (percent);
  * CityPersons-style MR^-2 subsets by visibility: Reasonable, Heavy, R+HO, All (official mode; percent);
  * dup_per_matched_gt: detections with score >= 0.3 whose IoU >= 0.5 is with a GT already matched by a
    higher-scoring detection (greedy, score order), divided by the matched GTs (own code: no library counts this);
  * error analysis (RepLoss §3.2, pedet.evaluation.error_analysis) at FPPI 0.1 on the CrowdHuman ranking:
    background / localization / crowd false positives and missed GTs by occlusion.
Rows are aggregated over seeds (mean, sample std, min, max, per-seed values). Outputs in --out: results.json,
results.md, mr_fppi_<row>.png (CrowdHuman MR-FPPI, one curve per density, first seed), runs/<method>_seed<s>/
(config, Detectron2 log and metrics, model_final.pth, result.json, curves_<row>.npz). A finished method x seed is
reused by later calls with the same budget and --out (--force retrains), so the cpu budget can be run in pieces
(e.g. `--methods opl_full --seeds 1`) and the full command then only aggregates.

The FCOS+NMS model is trained once per seed and evaluated twice (test NMS 0.5 and 0.6); the one-to-one baseline and the
full OPL are also evaluated with NMS 0.6 switched on (rows ``*_nms0.6``: a diagnostic of leftover duplicates, not a
method). The OPL + RepLoss row
(ablations/opl_reploss.yaml: full OPL + RepGT/RepBox) needs the MODEL.OPL.REPLOSS_ON key of projects/OPL/opl/config.py;
where it is missing the row is reported as "not available".
The smoke budget draws its own tiny sets (160 px, a few images) under <out>/smoke_data and checks the script end to
end; its numbers are NOT results.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import pedet  # noqa: E402,F401  (Pillow alias before any detectron2.data import)
import torch  # noqa: E402

# ----------------------------------------------------------------------------------------------------------------------
# Methods and budgets
# ----------------------------------------------------------------------------------------------------------------------
OPL_TINY = "projects/OPL/configs/opl_R18_synthetic_cpu.yaml"
RCNN_TINY = "projects/RepLoss/configs/tiny/faster_rcnn_R_18_FPN_synthetic_tiny.yaml"
ABL = "projects/OPL/configs/ablations/"

# name -> project, base config, method-specific config (OPL ablation file, its MODEL.OPL keys only) or opts,
# and the test-time variants (row suffix, attribute overrides on the trained model).
OPL_DIAGNOSTIC = [("", {}), ("nms0.6", {"nms_on": True, "nms_thresh_test": 0.6})]
METHODS = {
    "fcos_nms": dict(project="opl", ablation=ABL + "fcos_nms_baseline.yaml",
                     variants=[("nms0.5", {"nms_thresh_test": 0.5}), ("nms0.6", {"nms_thresh_test": 0.6})]),
    # "_nms0.6": a diagnostic, not a method: the same NMS-free model with NMS 0.6 switched on at test time
    # (ablations/opl_with_nms.yaml); how much it gains shows how many duplicates the one-to-one training left
    "opl_baseline": dict(project="opl", ablation=ABL + "table5_baseline.yaml", variants=OPL_DIAGNOSTIC),
    "opl_c2f": dict(project="opl", ablation=ABL + "table5_c2f.yaml"),
    "opl_cpn": dict(project="opl", ablation=ABL + "table5_cpn.yaml"),
    "opl_full": dict(project="opl", ablation=ABL + "table5_c2f_cpn.yaml", variants=OPL_DIAGNOSTIC),
    "defcn": dict(project="opl", ablation=ABL + "defcn_poto_3dmf_aux_R_50_crowdhuman_30k.yaml"),
    "faster_rcnn": dict(project="reploss", opts=["MODEL.REPLOSS.ALPHA", 0.0, "MODEL.REPLOSS.BETA", 0.0]),
    "reploss_repgt": dict(project="reploss", opts=["MODEL.REPLOSS.ALPHA", 0.5, "MODEL.REPLOSS.BETA", 0.0]),
    "reploss_repbox": dict(project="reploss", opts=["MODEL.REPLOSS.ALPHA", 0.0, "MODEL.REPLOSS.BETA", 0.5]),
    "reploss_both": dict(project="reploss", opts=["MODEL.REPLOSS.ALPHA", 0.5, "MODEL.REPLOSS.BETA", 0.5]),
    # the extension (full OPL + RepGT/RepBox on the POTO positives); needs MODEL.OPL.REPLOSS_ON (checked at run time)
    "opl_reploss": dict(project="opl", ablation=ABL + "opl_reploss.yaml", requires="MODEL.OPL.REPLOSS_ON"),
}

DENSITIES = ("d5", "d20", "d50")
CH_KEYS = ("AP", "mMR", "Recall", "JI")
CP_SETUPS = ("Reasonable", "Heavy", "R+HO", "All")
DUP_SCORE, DUP_IOU = 0.3, 0.5  # issue 6 §1 definition of a duplicate
ERROR_FPPI = 0.1  # RepLoss §3.2 analysis point (the evaluator's default TEST.MISS_RATE.ERROR_ANALYSIS_FPPI)

# Everything that must be equal across methods (CHOICE: sizes of the tiny CPU configs).
# Backbone initialisation ("weights"): "pretext" = one ResNet-18 pre-trained once per --out by
# benchmarks/pretrain_backbone.py on crops of the training set (the stand-in for the papers' ImageNet weights; then
# FrozenBN and FREEZE_AT 2, Detectron2's recipe for pre-trained backbones), "" = random init (then GN everywhere:
# BN is unstable at 2-4 images per batch and FrozenBN diverges from random init, docs/install.md §4).
BUDGETS = {
    "smoke": dict(iters=1, ims_per_batch=2, input=128, warmup=1, seeds=[0], workers=0, device="cpu", save=False,
                  train="crowdbench_smoke_train", val="crowdbench_smoke_val_{d}", smoke_data=True,
                  weights="pretext", norm="FrozenBN", freeze_at=2,
                  pretext=dict(iters=2, batch=6, crop=32, val_crops=6, val="crowdbench_smoke_val_d5")),
    "cpu": dict(iters=640, ims_per_batch=4, input=192, warmup=100, seeds=[0, 1], workers=1, device="cpu", save=True,
                train="synthetic_crowd_train", val="synthetic_crowd_val_{d}", smoke_data=False,
                weights="pretext", norm="FrozenBN", freeze_at=2,
                pretext=dict(iters=700, batch=48, crop=80, val_crops=600, val="synthetic_crowd_val")),
    "gpu": dict(iters=12000, ims_per_batch=16, input=320, warmup=500, seeds=[0, 1], workers=4, device="cuda", save=True,
                train="synthetic_crowd_dense_train", val="synthetic_crowd_val_{d}", smoke_data=False,
                weights="", norm="GN", freeze_at=0),
}

logger = logging.getLogger("crowd_quality")


def _load_script(path: str, name: str):
    """A repository script (not on sys.path) as a module, loaded once per process under ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _import_train_net(project: str):
    """projects/<OPL|RepLoss>/train_net.py as a module (both files are named train_net, so load them by path)."""
    path = os.path.join(REPO, "projects", {"opl": "OPL", "reploss": "RepLoss"}[project], "train_net.py")
    return _load_script(path, f"_crowdbench_train_net_{project}")


def register_smoke_sets(root: str) -> None:
    """Tiny sets for the smoke budget: 4 training images and 2 images per density, 160 x 160 px."""
    from detectron2.data import DatasetCatalog

    from pedet.data.synthetic import SplitSpec, register_synthetic_crowd

    if "crowdbench_smoke_train" in DatasetCatalog.list():
        return
    kw = dict(image_size=(160, 160), group_size=(3, 8), group_spread=0.7, max_height_frac=0.6)
    presets = {"default": {"train": SplitSpec(num_images=4, seed=900, persons_per_image=(3, 8), **kw)}}
    for i, d in enumerate(DENSITIES):
        n = int(d[1:])
        presets[d] = {"val": SplitSpec(num_images=2, seed=910 + i, persons_per_image=(n, n), **kw)}
    register_synthetic_crowd(root, presets, prefix="crowdbench_smoke")


def ablation_opl_keys(path: str) -> dict:
    """The MODEL.OPL keys written in an OPL ablation file itself (not its _BASE_, which is the R-50 recipe)."""
    import yaml

    with open(os.path.join(REPO, path)) as f:
        return dict(yaml.safe_load(f)["MODEL"]["OPL"])


class MissingConfigKey(KeyError):
    """A method needs a config key that this tree does not have yet (the row is reported as not available)."""


def _require_key(cfg, key):
    """MissingConfigKey when a method's config key (e.g. MODEL.OPL.REPLOSS_ON) does not exist in this tree yet."""
    node = cfg
    for part in (key.split(".") if key else []):
        if part not in node:
            raise MissingConfigKey(f"{key} is not a config key (not implemented yet)")
        node = node[part]


def build_cfg(method: str, budget: dict, seed: int, out_dir: str, weights: str = ""):
    """
    The method's config with the shared budget applied; weights: the backbone .pkl (pretext budgets) or "" (random
    init). Returns (cfg, trainer class) or raises KeyError.
    """
    from detectron2.config import CfgNode, get_cfg

    from pedet.config import add_pedet_config

    m = METHODS[method]
    tn = _import_train_net(m["project"])
    cfg = get_cfg()
    add_pedet_config(cfg)
    if m["project"] == "opl":
        from opl import add_opl_config

        add_opl_config(cfg)
        _require_key(cfg, m.get("requires"))
        cfg.merge_from_file(os.path.join(REPO, OPL_TINY))
        if m.get("ablation"):
            cfg.merge_from_other_cfg(CfgNode({"MODEL": {"OPL": ablation_opl_keys(m["ablation"])}}))
    else:
        from reploss import add_reploss_config

        add_reploss_config(cfg)
        cfg.merge_from_file(os.path.join(REPO, RCNN_TINY))
    if m.get("opts"):
        cfg.merge_from_list([str(v) if not isinstance(v, str) else v for v in m["opts"]])
    it, size = budget["iters"], budget["input"]
    steps = sorted({s for s in (int(0.8 * it), int(0.93 * it)) if 0 < s < it})  # LR x0.1 at 80 % and 93 %
    shared = [
        "MODEL.DEVICE", budget["device"], "MODEL.WEIGHTS", weights,
        "MODEL.PIXEL_MEAN", "[103.530, 116.280, 123.675]", "MODEL.PIXEL_STD", "[57.375, 57.120, 58.395]",
        "MODEL.BACKBONE.FREEZE_AT", str(budget["freeze_at"]), "MODEL.RESNETS.DEPTH", "18",
        "MODEL.RESNETS.RES2_OUT_CHANNELS", "64", "MODEL.RESNETS.STRIDE_IN_1X1", "False",
        "MODEL.RESNETS.NORM", budget["norm"],
        "MODEL.FPN.OUT_CHANNELS", "64", "MODEL.FPN.NORM", "GN",
        "INPUT.MIN_SIZE_TRAIN", f"({size},)", "INPUT.MAX_SIZE_TRAIN", str(size),
        "INPUT.MIN_SIZE_TEST", str(size), "INPUT.MAX_SIZE_TEST", str(size),
        "SOLVER.IMS_PER_BATCH", str(budget["ims_per_batch"]), "SOLVER.BASE_LR", "0.01",
        "SOLVER.MAX_ITER", str(it), "SOLVER.STEPS", str(tuple(steps)),
        "SOLVER.WARMUP_ITERS", str(budget["warmup"]), "SOLVER.WARMUP_FACTOR", "0.01",
        "SOLVER.CHECKPOINT_PERIOD", str(10 * it + 1),
        "SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "norm",
        "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "2.0",
        "DATASETS.TRAIN", f"('{budget['train']}',)", "DATASETS.TEST", "()",
        "DATALOADER.NUM_WORKERS", str(budget["workers"]),
        "TEST.EVAL_PERIOD", "0", "TEST.DETECTIONS_PER_IMAGE", "200",
        "SEED", str(seed), "OUTPUT_DIR", out_dir,
    ]
    cfg.merge_from_list(shared)
    cfg.freeze()
    return cfg, tn.Trainer


# ----------------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------------
def duplicates_per_matched_gt(gt, dt, score_thresh: float = DUP_SCORE, iou_thresh: float = DUP_IOU) -> dict:
    """
    Detections (score >= score_thresh, in score order) are greedily matched to the unmatched person GT of highest IoU
    >= iou_thresh; a detection with no such GT but IoU >= iou_thresh with an already matched GT is a duplicate.
    Own loop: no library reports this count. IoU by torchvision.ops.box_iou on the unclipped full boxes.

    Returns:
        {"duplicates", "matched_gt", "dup_per_matched_gt" (None when nothing matched)}.
    """
    from torchvision.ops import box_iou

    dups = matched_total = 0
    for i in range(gt.num_images):
        g0, g1 = int(gt.offsets[i]), int(gt.offsets[i + 1])
        d0, d1 = int(dt.offsets[i]), int(dt.offsets[i + 1])
        g = gt.boxes[g0:g1][~gt.ignore[g0:g1]]
        keep = dt.scores[d0:d1] >= score_thresh  # dt is sorted by descending score within an image
        d = dt.boxes[d0:d1][keep]
        if g.shape[0] == 0 or d.shape[0] == 0:
            continue
        xyxy = lambda b: torch.from_numpy(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1))  # noqa: E731
        iou = box_iou(xyxy(d), xyxy(g)).numpy()  # (D, G)
        matched = np.zeros(g.shape[0], dtype=bool)
        for row in iou:
            free = np.where(matched, -1.0, row)
            j = int(free.argmax())
            if free[j] >= iou_thresh:
                matched[j] = True
            elif (row[matched] >= iou_thresh).any():
                dups += 1
        matched_total += int(matched.sum())
    return {"duplicates": dups, "matched_gt": matched_total,
            "dup_per_matched_gt": (dups / matched_total) if matched_total else None}


def _pct(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else 100.0 * float(v)


@torch.no_grad()
def predict(model, loader) -> list:
    """[(image_id, boxes (n, 4) XYWH in the original image, scores (n,))] for every image of the loader."""
    out = []
    model.eval()
    for inputs in loader:
        for inp, o in zip(inputs, model(inputs)):
            inst = o["instances"].to("cpu")
            b = inst.pred_boxes.tensor.numpy().astype(np.float64).reshape(-1, 4)
            s = inst.scores.numpy().astype(np.float64).reshape(-1)
            if inst.has("pred_classes"):
                k = inst.pred_classes.numpy() == 0
                b, s = b[k], s[k]
            b[:, 2:] -= b[:, :2]
            out.append((inp["image_id"], b, s))
    return out


def evaluate_predictions(dataset_name: str, predictions: list) -> tuple[dict, object]:
    """All metrics of one (model, density set). Returns (JSON-friendly metrics, CrowdHuman report for plots)."""
    from detectron2.data import DatasetCatalog

    from pedet.evaluation import evaluate
    from pedet.evaluation.error_analysis import analyze_report
    from pedet.evaluation.io import detections_from_arrays, ground_truth_from_dataset_dicts

    gt = ground_truth_from_dataset_dicts(DatasetCatalog.get(dataset_name), box="full")
    dt = detections_from_arrays(gt, predictions)
    ch = evaluate("crowdhuman", gt, dt, box_mode="full", compute_ji=True)
    cp = evaluate("citypersons", gt, dt, setups=list(CP_SETUPS), mode="official")
    ea = analyze_report(ch, gt, dt, fppi=ERROR_FPPI)["all"]
    dup = duplicates_per_matched_gt(gt, dt)
    metrics = {f"ch_{k}": _pct(ch.metrics[k]) for k in CH_KEYS}
    metrics.update({f"cp_{k}": _pct(cp.metrics[k]) for k in CP_SETUPS})
    metrics["dup_per_matched_gt"] = dup["dup_per_matched_gt"]
    fp = ea["false_positives"]
    metrics.update({f"fp_{k}": fp[k] for k in ("background", "localization", "crowd")})
    heavy = [r for r in ea["missed_by_occlusion"] if r["bin"].startswith(("heavy", "very heavy"))]
    n_h = sum(r["gt"] for r in heavy)
    metrics["miss_heavy_occ"] = (100.0 * sum(r["missed"] for r in heavy) / n_h) if n_h else None
    detail = {"num_images": gt.num_images, "num_gt": int((~gt.ignore).sum()), "num_dets": dt.num_dets,
              "duplicates": dup, "error_analysis": ea}
    return {"metrics": metrics, "detail": detail}, ch


METRIC_KEYS = ([f"ch_{k}" for k in CH_KEYS] + [f"cp_{k}" for k in CP_SETUPS]
               + ["dup_per_matched_gt", "fp_background", "fp_localization", "fp_crowd", "miss_heavy_occ"])


# ----------------------------------------------------------------------------------------------------------------------
# One method x seed
# ----------------------------------------------------------------------------------------------------------------------
def _row_name(method: str, suffix: str) -> str:
    return method + (f"_{suffix}" if suffix else "")


def evaluate_variants(method: str, model, cfg, Trainer, variants: list, seed: int, train_s: float, run_dir: str,
                      out_root: str, budget: dict) -> dict:
    """Evaluate the trained model once per (suffix, attribute overrides) test variant on every density set."""
    rows = {}
    for suffix, attrs in variants:
        for k, v in attrs.items():
            if not hasattr(model, k):
                raise AttributeError(f"{method}: model has no attribute {k}")
            setattr(model, k, v)
        row = _row_name(method, suffix)
        per_set, curves = {}, {}
        t1 = time.perf_counter()
        for d in DENSITIES:
            name = budget["val"].format(d=d)
            preds = predict(model, Trainer.build_test_loader(cfg, name))
            per_set[d], report = evaluate_predictions(name, preds)
            fppi, miss = report.curves["all"]
            curves[f"{d}_fppi"], curves[f"{d}_miss_rate"] = np.asarray(fppi), np.asarray(miss)
        np.savez_compressed(os.path.join(run_dir, f"curves_{row}.npz"), **curves)
        rows[row] = {"seed": seed, "train_s": train_s, "eval_s": time.perf_counter() - t1, "sets": per_set,
                     "curves": os.path.relpath(os.path.join(run_dir, f"curves_{row}.npz"), out_root)}
        logger.info(f"{row} seed {seed}: " + ", ".join(
            f"{d} mMR {per_set[d]['metrics']['ch_mMR']:.1f}" for d in DENSITIES))
    return rows


def run_one(method: str, budget: dict, seed: int, out_root: str, force: bool = False, weights: str = "") -> dict:
    """
    Train one model and evaluate every test variant on every density. Returns {row: {...}} (one row per variant).
    The result is kept in runs/<method>_seed<seed>/result.json (+ curves_<row>.npz for the plots); a later call with
    the same budget reuses it unless force, so a long budget can be run in pieces (--methods / --seeds) into one --out.
    A test variant added to METHODS after the run is evaluated on the stored model_final.pth (no retraining).
    """
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.utils.env import seed_all_rng

    run_dir = os.path.join(out_root, "runs", f"{method}_seed{seed}")
    done = os.path.join(run_dir, "result.json")
    variants = METHODS[method].get("variants", [("", {})])
    if not force and os.path.exists(done):
        with open(done) as f:
            stored = json.load(f)
        if stored["budget_settings"] == json.loads(json.dumps(budget)):
            missing = [v for v in variants if _row_name(method, v[0]) not in stored["rows"]]
            final = os.path.join(run_dir, "model_final.pth")
            if not missing:
                logger.info(f"{method} seed {seed}: reusing {done}")
                return {_row_name(method, v[0]): stored["rows"][_row_name(method, v[0])] for v in variants}
            if os.path.exists(final):
                first = variants.index(missing[0])
                if any(_row_name(method, v[0]) in stored["rows"] for v in variants[first:]):
                    raise RuntimeError(f"{method}: new test variants must come after the stored ones in METHODS")
                logger.info(f"{method} seed {seed}: evaluating new test variants {[v[0] for v in missing]} on {final}")
                cfg, Trainer = build_cfg(method, budget, seed, run_dir, weights)
                model = Trainer.build_model(cfg)
                DetectionCheckpointer(model).load(final)
                for _, attrs in variants[:first]:  # earlier overrides apply in order, as after training
                    for k, v in attrs.items():
                        setattr(model, k, v)
                train_s = next(iter(stored["rows"].values()))["train_s"]
                stored["rows"].update(evaluate_variants(method, model, cfg, Trainer, variants[first:], seed, train_s,
                                                        run_dir, out_root, budget))
                with open(done, "w") as f:
                    json.dump(stored, f, indent=1)
                return {_row_name(method, v[0]): stored["rows"][_row_name(method, v[0])] for v in variants}
    os.makedirs(run_dir, exist_ok=True)
    cfg, Trainer = build_cfg(method, budget, seed, run_dir, weights)
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    seed_all_rng(seed)
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    if not budget["save"]:  # smoke: no 90 MB model_final.pth per run
        from detectron2.engine import hooks

        trainer._hooks = [h for h in trainer._hooks if not isinstance(h, hooks.PeriodicCheckpointer)]
    trainer.resume_or_load(resume=False)
    trainer.train()
    train_s = time.perf_counter() - t0
    model = trainer.model
    rows = evaluate_variants(method, model, cfg, Trainer, variants, seed, train_s, run_dir, out_root, budget)
    del trainer, model
    with open(done, "w") as f:
        json.dump({"budget_settings": budget, "rows": rows}, f, indent=1)
    return rows


def pretext_weights(budget: dict, out_root: str) -> str:
    """
    The budget's backbone weights: "" for random init; for "pretext", <out>/pretext/R18_synthetic.pkl, trained by
    benchmarks/pretrain_backbone.py with budget["pretext"] unless a file from the same settings is there already.
    """
    if not budget.get("weights"):
        return ""
    if budget["weights"] != "pretext":
        raise ValueError(f"budget weights must be '' or 'pretext', got {budget['weights']!r}")
    path = os.path.join(out_root, "pretext", "R18_synthetic.pkl")
    settings = dict(train=budget["train"], **budget["pretext"])
    if os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json") as f:
            info = json.load(f)
        # the settings as pretrain_backbone.py records them (val_crops is stored as held_out_crops)
        expected = {("held_out_crops" if k == "val_crops" else k): v for k, v in settings.items()}
        if all(info.get(k) == v for k, v in expected.items()):
            logger.info(f"pretext backbone: reusing {path} (held-out accuracy {100 * info['held_out_accuracy']:.1f} %)")
            return path
    pre = _load_script(os.path.join(REPO, "benchmarks", "pretrain_backbone.py"), "_crowdbench_pretrain")
    pre.pretrain(path, log=logger.info, **settings)
    return path


def aggregate(values: list) -> dict:
    """Mean, sample std (n >= 2), min, max over seeds of the defined values; None where none is defined."""
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0, "values": values}
    a = np.asarray(v, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else None, "min": float(a.min()),
            "max": float(a.max()), "n": int(a.size), "values": values}


def plot_row(row: str, run: dict, out_dir: str) -> str:
    """One MR-FPPI PNG per row (its first seed): the CrowdHuman curve of each density (pedet's plot_mr_fppi)."""
    from pedet.evaluation.plots import plot_mr_fppi

    c = np.load(os.path.join(out_dir, run["curves"]))
    curves = {d: (c[f"{d}_fppi"], c[f"{d}_miss_rate"]) for d in DENSITIES}
    legend = {d: (None if run["sets"][d]["metrics"]["ch_mMR"] is None else run["sets"][d]["metrics"]["ch_mMR"] / 100)
              for d in DENSITIES}
    fake = SimpleNamespace(protocol="crowdhuman", curves=curves, details={"box_mode": "full"},
                           log_average_for_legend=lambda: legend)
    return plot_mr_fppi(fake, out_dir, file_name=f"mr_fppi_{row}.png",
                        title=f"{row}, seed {run['seed']} (legend: mMR)")[0]


def plot_all_rows(rows: dict, out_dir: str, file_name: str = "mr_fppi_all.png") -> str:
    """
    One PNG comparing every row: a panel per density, the CrowdHuman MR-FPPI curve of each row's first seed, mMR
    (mean over seeds) in the legend. Returns its path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from pedet.evaluation.evaluator_io import atomic_write
    from pedet.evaluation.plots import _step_curve

    ok = {row: r for row, r in rows.items() if r.get("status") == "ok"}
    fig = Figure(figsize=(6.0 * len(DENSITIES), 5.6), dpi=90)
    styles = ["-", "--", "-.", ":"]
    for i, d in enumerate(DENSITIES):
        ax = fig.add_subplot(1, len(DENSITIES), i + 1)
        for j, (row, r) in enumerate(ok.items()):
            c = np.load(os.path.join(out_dir, r["runs"][0]["curves"]))
            x, y = _step_curve(c[f"{d}_fppi"], c[f"{d}_miss_rate"])
            mmr = r["aggregate"][d]["ch_mMR"]["mean"]
            label = f"{mmr:.1f} {row}" if mmr is not None else f"undef {row}"
            ax.step(x, np.maximum(y, 1e-4), where="post", label=label, linewidth=1.4,
                    linestyle=styles[j // 10 % len(styles)], color=f"C{j % 10}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1e-3, 1e2)
        ax.set_ylim(0.03, 1.0)
        ax.grid(True, which="major", linestyle=":", linewidth=0.6)
        ax.set_xlabel("false positives per image")
        ax.set_ylabel("miss rate")
        ax.set_title(f"{d} ({d[1:]} persons placed per image); legend: mMR %")
        ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, file_name)
    atomic_write(path, lambda f: fig.savefig(f, format="png"), binary=True)
    return path


def _fmt(agg: dict, digits: int = 1) -> str:
    if agg["mean"] is None:
        return "undef"
    s = f"{agg['mean']:.{digits}f}"
    if agg["std"] is not None:
        s += f" ± {agg['std']:.{digits}f}"
    return s


def headline_table(result: dict) -> list:
    """Markdown lines of the compact table: mMR per density, then AP / JI / dup/GT / crowd FP / Heavy at d50."""
    head = (["row"] + [f"mMR {d}" for d in DENSITIES]
            + ["AP d50", "JI d50", "Recall d50", "MR⁻² Heavy d50", "dup/GT d50", "crowd FP d50"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cols = [("ch_AP", 1), ("ch_JI", 1), ("ch_Recall", 1), ("cp_Heavy", 1), ("dup_per_matched_gt", 3), ("fp_crowd", 1)]
    for row, r in result["rows"].items():
        if r.get("status") != "ok":
            continue
        agg = r["aggregate"]
        cells = [_fmt(agg[d]["ch_mMR"]) for d in DENSITIES] + [_fmt(agg["d50"][k], n) for k, n in cols]
        lines.append("| " + " | ".join([row] + cells) + " |")
    return lines


def write_markdown(result: dict, path: str) -> None:
    lines = [f"# Crowd benchmark, budget `{result['budget']}`", "",
             f"Command: `{result['command']}`  ", f"Machine: {result['machine']}  ",
             f"Budget: {json.dumps(result['budget_settings'])}  ", "Values: mean ± sample std over seeds "
             f"{result['seeds']} (percent, except dup/GT and FP counts at FPPI {ERROR_FPPI}).", ""]
    if result["budget"] == "smoke":
        lines += ["**SMOKE BUDGET: a check of the script, NOT a result.**", ""]
    lines += headline_table(result) + ["", "All metrics:", ""]
    head = ["row", "density"] + METRIC_KEYS
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, r in result["rows"].items():
        if r.get("status") != "ok":
            lines.append(f"| {row} | — | not available: {r.get('reason')} |" + " |" * (len(head) - 3))
            continue
        for d in DENSITIES:
            cells = [_fmt(r["aggregate"][d][k], 3 if k == "dup_per_matched_gt" else 1) for k in METRIC_KEYS]
            lines.append("| " + " | ".join([row, d] + cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--budget", choices=sorted(BUDGETS), default="smoke")
    p.add_argument("--methods", nargs="+", default=list(METHODS), help=f"subset of {list(METHODS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the budget's seeds")
    p.add_argument("--iters", type=int, default=None, help="override the budget's iterations (estimates only)")
    p.add_argument("--force", action="store_true", help="retrain runs whose result.json exists in --out")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 on the shared CPU)")
    p.add_argument("--out", default=None, help="output dir (default output/crowd_quality_<budget>)")
    args = p.parse_args(argv)
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}")
    budget = dict(BUDGETS[args.budget])
    if args.iters:
        budget["iters"] = args.iters
    seeds = args.seeds if args.seeds is not None else budget["seeds"]
    out = os.path.abspath(args.out or os.path.join(REPO, "output", f"crowd_quality_{args.budget}"))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    from detectron2.utils.logger import setup_logger

    d2_logger = setup_logger(os.path.join(out, "log.txt"), name="detectron2", abbrev_name="d2")
    for h in list(d2_logger.handlers):  # Detectron2's INFO lines go to log.txt only, not to the terminal
        if type(h) is logging.StreamHandler:
            d2_logger.removeHandler(h)
    setup_logger(os.path.join(out, "log.txt"), name="crowd_quality")
    import pedet.data  # noqa: F401  (registers synthetic_crowd_*)

    if budget["smoke_data"]:
        register_smoke_sets(os.path.join(out, "smoke_data"))
    t_start = time.perf_counter()
    weights = pretext_weights(budget, out)
    rows = {}
    for method in args.methods:
        for seed in seeds:
            try:
                got = run_one(method, budget, seed, out, force=args.force, weights=weights)
            except MissingConfigKey as e:  # e.g. MODEL.OPL.REPLOSS_ON before the extension exists
                logger.warning(f"{method}: not available: {e}")
                rows.setdefault(method, {"status": "not available", "reason": str(e).strip("'\""), "runs": []})
                break
            for row, r in got.items():
                rows.setdefault(row, {"status": "ok", "method": method, "runs": []})["runs"].append(r)
    for row, r in rows.items():
        if r["status"] != "ok":
            continue
        r["aggregate"] = {d: {k: aggregate([run["sets"][d]["metrics"][k] for run in r["runs"]]) for k in METRIC_KEYS}
                          for d in DENSITIES}
        r["plot"] = os.path.relpath(plot_row(row, r["runs"][0], out), out)
    load = os.getloadavg()
    result = {
        "budget": args.budget, "budget_settings": budget, "seeds": seeds, "densities": list(DENSITIES),
        "metric_keys": METRIC_KEYS, "command": "benchmarks/crowd_quality.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{os.cpu_count()}-core CPU, torch {torch.__version__}, cuda {torch.cuda.is_available()}, "
                   f"load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}",
        "total_s": time.perf_counter() - t_start, "rows": rows,
    }
    if any(r["status"] == "ok" for r in rows.values()):
        result["plot_all"] = os.path.relpath(plot_all_rows(rows, out), out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    write_markdown(result, os.path.join(out, "results.md"))
    logger.info(f"wrote {out}/results.json and results.md in {result['total_s']:.1f} s")
    return result


if __name__ == "__main__":
    main()
