#!/usr/bin/env python
"""
The main job (README command 1): train the tiny OPL detector on the built-in synthetic crowd set on CPU, evaluate
it with the CrowdHuman protocol, and write a report folder.

    bash tools/main_job.sh [--output output/main_job] [--threads 2] [extra train_net opts, e.g. SOLVER.MAX_ITER 100]

It runs the crowd benchmark's CPU regime (benchmarks/crowd_quality.py --budget cpu, row opl_full): (1) the synthetic
sets of preset "cpu" are generated on first use (pedet.data.synthetic); (2) a ResNet-18 is pre-trained on crops of
the training set (benchmarks/pretrain_backbone.py, the stand-in for ImageNet weights; reused when the output folder
already has one made with the same settings); (3) projects/OPL/train_net.py trains
projects/OPL/configs/opl_R18_crowd_cpu.yaml from it (Detectron2 prints losses and the ETA every 20 iterations) and
evaluates the final model on synthetic_crowd_cpu_medium with pedet's miss-rate evaluator; (4) the report folder gets
the metrics table, the MR-FPPI curve and a few validation images with the predicted boxes (red, score shown) and the
ground truth (green: person, grey: ignore) drawn. Every step is seeded and data loading runs in the main process,
so a second run on the same machine gives the same figures.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from pedet.data.synthetic import PRESETS
from pedet.utils.cli import override_pairs_problem
from pedet.utils.file_io import atomic_write  # every report file: atomic, fsync'd, the umask's permissions
from pedet.utils.imports import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_crowd_cpu.yaml")
TRAIN_SET, VAL_SET = "synthetic_crowd_cpu_train", "synthetic_crowd_cpu_medium"
PRETEXT_FILE = "R18_synthetic.pkl"  # the pre-trained backbone in <output>/pretext/


def prepare_data() -> None:
    """Generate (once) and load both splits, so that generation is not counted as training time."""
    import pedet.data  # noqa: F401  (registers the names)
    from detectron2.data import DatasetCatalog

    for name in (TRAIN_SET, VAL_SET):
        t0 = time.perf_counter()
        n = len(DatasetCatalog.get(name))
        print(f"[main job] {name}: {n} images ready ({time.perf_counter() - t0:.1f} s)", flush=True)


def pretext_backbone(out_dir: str, threads: int) -> str:
    """
    The pre-trained ResNet-18 of the benchmark's cpu budget (same settings), made once per output folder: reused when
    <out_dir>/R18_synthetic.pkl.json records the same settings. Returns the .pkl path (MODEL.WEIGHTS).
    """
    import torch

    settings = dict(load_script(os.path.join(REPO, "benchmarks", "crowd_quality.py")).BUDGETS["cpu"]["pretext"], train=TRAIN_SET)
    path = os.path.join(out_dir, PRETEXT_FILE)
    expected = {("held_out_crops" if k == "val_crops" else k): v for k, v in settings.items()}
    if os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json") as f:
            info = json.load(f)
        if all(info.get(k) == v for k, v in expected.items()):
            print(f"[main job] pre-trained backbone: reusing {path}", flush=True)
            return path
    torch.set_num_threads(threads)
    pre = load_script(os.path.join(REPO, "benchmarks", "pretrain_backbone.py"))
    pre.pretrain(path, log=lambda m: print(f"[main job] {m}", flush=True), **settings)
    return path


def train_overrides(train_dir: str, weights: str, opts: list[str]) -> list[tuple[str, str]]:
    """Every config override of the training command on top of the config file, as (KEY, VALUE) pairs."""
    flat = ["MODEL.WEIGHTS", weights, "OUTPUT_DIR", train_dir, *opts]
    return list(zip(flat[0::2], flat[1::2]))


def overrides_markdown(train_dir: str, weights: str, opts: list[str]) -> str:
    """The report's record of the overrides (a table), so that the run can be repeated exactly."""
    rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in train_overrides(train_dir, weights, opts))
    return f"Config overrides on top of the file (train_net.py command line):\n\n| key | value |\n|---|---|\n{rows}\n"


def train_and_evaluate(train_dir: str, weights: str, threads: int, opts: list[str]) -> None:
    cmd = [sys.executable, os.path.join(REPO, "projects", "OPL", "train_net.py"), "--config-file", CONFIG,
           *[x for kv in train_overrides(train_dir, weights, opts) for x in kv]]
    print("[main job] " + " ".join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    status = subprocess.run(cmd, cwd=REPO, env=env).returncode
    if status:  # train_net printed its own error (one line for bad input)
        sys.exit(f"error: [main job] training stopped with exit status {status} (its error is printed above)")


def check_training_config(train_dir: str, weights: str, opts: list[str]) -> None:
    """
    The training command's config (the file and every override), checked as train_net.py's setup() checks it, before
    any work: a bad override ends here in one line (pedet.config.ConfigError, exit status 1), not in the training
    step after the data generation and the backbone pre-training.
    """
    opl_dir = os.path.join(REPO, "projects", "OPL")
    if opl_dir not in sys.path:
        sys.path.insert(0, opl_dir)
    import pedet.data  # noqa: F401  (registers the data set names the config refers to)
    from detectron2.config import get_cfg
    from opl import add_opl_config
    from opl.config import check_opl_config
    from pedet.config import add_pedet_config, check_config, merge_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    merge_config(cfg, CONFIG, [x for kv in train_overrides(train_dir, weights, opts) for x in kv])
    check_config(cfg, training=True, world_size=1)
    check_opl_config(cfg)


def draw_validation_images(pred_odgt: str, out_dir: str, num_images: int, score_thresh: float) -> list[str]:
    """Draw predictions (score >= score_thresh) and ground truth on the first `num_images` validation images."""
    import cv2
    from detectron2.data import DatasetCatalog
    from detectron2.utils.visualizer import Visualizer

    preds = {}
    with open(pred_odgt) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                preds[str(rec["ID"])] = rec["dtboxes"]
    written = []
    for d in DatasetCatalog.get(VAL_SET)[:num_images]:
        img = cv2.imread(d["file_name"])[:, :, ::-1]
        vis = Visualizer(img, scale=2.0)
        for a in d["annotations"]:
            x, y, w, h = a["bbox"]
            color = "lightgray" if a["category_id"] < 0 else "lime"
            vis.draw_box((x, y, x + w, y + h), edge_color=color, line_style="--")
        for det in preds.get(str(d["image_id"]), []):
            if det["score"] >= score_thresh:
                x, y, w, h = det["box"]
                vis.draw_box((x, y, x + w, y + h), edge_color="red")
                vis.draw_text(f"{det['score']:.2f}", (x, y), color="red", font_size=6, horizontal_alignment="left")
        path = os.path.join(out_dir, f"val_{d['image_id']}.jpg")
        ok, jpeg = cv2.imencode(".jpg", vis.get_output().get_image()[:, :, ::-1])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {path}")
        atomic_write(path, jpeg.tobytes())
        written.append(path)
    return written


def check_overrides(parser: argparse.ArgumentParser, opts: list[str]) -> None:
    """Overrides that would send the training's outputs where the report does not look for them (it reads
    <output>/train/inference/<VAL_SET>/ after training): refused before any work, not after the training."""
    for key, value in zip(opts[0::2], opts[1::2]):
        if key.startswith("--"):
            parser.error(f"{key}: options go before the config overrides (KEY VALUE pairs come last)")
        if key in ("OUTPUT_DIR", "MODEL.WEIGHTS"):
            parser.error(f"{key}: set by the main job (the training folder is --output/train; the weights are the "
                         "pre-trained backbone); use train_net.py for another one")
        if key == "DATASETS.TEST":
            names = _literal(value)
            if VAL_SET not in (names if isinstance(names, (list, tuple)) else [names]):
                parser.error(f"DATASETS.TEST {value}: must include {VAL_SET} (the report evaluates it)")
        # the report copies metrics.md / metrics.json / mr_fppi_crowdhuman.png of the CrowdHuman evaluation: another
        # protocol's curve (mr_fppi_<protocol>.png) or none at all ended the job in a FileNotFoundError traceback
        # after the whole training
        if key == "TEST.MISS_RATE.PROTOCOL" and _literal(value) not in ("", "crowdhuman"):
            parser.error(f"TEST.MISS_RATE.PROTOCOL {value}: the report evaluates {VAL_SET} with the CrowdHuman "
                         "protocol (its table and mr_fppi_crowdhuman.png); use train_net.py for another protocol")
        if key == "TEST.MISS_RATE.PLOTS_ON" and _literal(value) is False:
            parser.error(f"TEST.MISS_RATE.PLOTS_ON {value}: the report shows the MR-FPPI curve "
                         "(mr_fppi_crowdhuman.png), which this turns off")


def _literal(value: str):
    """An override's value as yacs reads it (a Python literal, else the string itself)."""
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPO, "output", "main_job"))
    parser.add_argument("--num-images", type=int, default=4, help="validation images drawn in the report")
    parser.add_argument("--score-thresh", type=float, default=0.3, help="drawing threshold (not the eval one)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for pre-training and training "
                        "(default 2: both cores of a 2-core machine; the figures depend on it)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="extra train_net.py config overrides")
    args = parser.parse_args()
    if override_pairs_problem(args.opts):  # an odd count, or LazyConfig's key=value items
        parser.error(override_pairs_problem(args.opts))
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.num_images < 0:
        parser.error(f"--num-images {args.num_images}: must be >= 0")
    val_images = PRESETS["cpu"]["medium"].num_images  # VAL_SET's size, known before it is generated
    if args.num_images > val_images:  # the report drew only the images the set has, in silence
        parser.error(f"--num-images {args.num_images}: {VAL_SET} has {val_images} images")
    if not 0.0 <= args.score_thresh <= 1.0:
        parser.error(f"--score-thresh {args.score_thresh}: a score threshold in [0, 1] is needed")
    if not args.output.strip():  # os.path.abspath("") is the working directory: the job wrote into it
        parser.error(f"--output {args.output!r}: must name a folder")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        parser.error(f"--output {args.output}: an existing file; the main job writes a folder")
    check_overrides(parser, args.opts)

    t0 = time.perf_counter()
    out = os.path.abspath(args.output)
    train_dir, report = os.path.join(out, "train"), os.path.join(out, "report")
    try:
        os.makedirs(report, exist_ok=True)
    except OSError as e:
        parser.error(f"--output {args.output}: cannot create {report} ({e.strerror})")
    # README.md, written last, marks a complete report: an earlier run's stayed beside the new metrics files when
    # this run was interrupted while copying them (its table and overrides then described another run)
    if os.path.isfile(os.path.join(report, "README.md")):
        os.remove(os.path.join(report, "README.md"))
    check_training_config(train_dir, os.path.join(out, "pretext", PRETEXT_FILE), args.opts)
    prepare_data()
    t_train = time.perf_counter()
    weights = pretext_backbone(os.path.join(out, "pretext"), args.threads)
    train_and_evaluate(train_dir, weights, args.threads, args.opts)
    t_train = time.perf_counter() - t_train

    inference = os.path.join(train_dir, "inference", VAL_SET)
    for name in ("metrics.md", "metrics.json", "mr_fppi_crowdhuman.png"):  # copied through the one file writer
        with open(os.path.join(inference, name), "rb") as f:
            atomic_write(os.path.join(report, name), f.read())
    images = draw_validation_images(
        os.path.join(inference, "predictions.odgt"), report, args.num_images, args.score_thresh
    )
    total = time.perf_counter() - t0
    with open(os.path.join(report, "metrics.md")) as f:
        table = f.read()
    summary = (
        f"# OPL (tiny, CPU) on the synthetic crowd set (validation: {VAL_SET})\n\n"
        f"Config: `{os.path.relpath(CONFIG, REPO)}`; backbone pre-training + training + evaluation "
        f"{t_train / 60:.1f} min ({args.threads} threads), main job {total / 60:.1f} min in all.\n\n"
        f"{overrides_markdown(os.path.relpath(train_dir, REPO), os.path.relpath(weights, REPO), args.opts)}\n"
        f"{table}\n\n"
        f"![MR-FPPI](mr_fppi_crowdhuman.png)\n\n" + "\n".join(f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                                             for p in images) + "\n"
    )
    atomic_write(os.path.join(report, "README.md"), summary)
    print(table)
    print(f"[main job] done in {total / 60:.1f} min (pre-training + training + evaluation {t_train / 60:.1f} min)")
    print(f"[main job] report: {report}")


if __name__ == "__main__":
    main()
