#!/usr/bin/env python
"""
A stand-in for ImageNet pre-training, for the crowd benchmark's cpu budget: a torchvision ResNet-18 trained to
classify square crops of the synthetic crowd training set, converted to Detectron2's layout for ``MODEL.WEIGHTS``.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/pretrain_backbone.py --out output/pretext/R18_synthetic.pkl

Why: every method of both papers starts from an ImageNet backbone, and none can be downloaded here. Trained from
random initialisation for the few hundred iterations a 2-core CPU allows, every detector of the crowd benchmark stayed
near mMR 95 (benchmarks/RESULTS.md), far too close to chance to separate the methods. One backbone, pre-trained once on
a task that favours no detector, is given to all of them, as ImageNet weights are in the papers (CHOICE).

The pretext task (CHOICE): three classes of square crops drawn from the training images only, resized to
``--crop`` px: 0 = background (IoU < 0.2 with every person's square box), 1 = a person, centred (IoU >= 0.6),
2 = a person, off-centre or at the wrong scale (0.2 <= IoU < 0.5). Class 2 asks for features that see where a person
is, not only whether one is there. Inputs are BGR with the benchmark's pixel mean and std (Detectron2's default
format), so the converted weights see exactly what they saw here. The held-out accuracy on crops of
``synthetic_crowd_val`` is printed and stored next to the weights (``<out>.json``).

Own loop: a few lines of standard supervised training; no library trains a classifier on crops of detection sets.
"""
import argparse
import json
import math
import os
import pickle
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from pedet.utils.imports import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIXEL_MEAN = np.array([103.530, 116.280, 123.675], dtype=np.float32)  # BGR, as MODEL.PIXEL_MEAN of the benchmark
PIXEL_STD = np.array([57.375, 57.120, 58.395], dtype=np.float32)
CLASSES = ("background", "person_centred", "person_off_centre")
VAL_CROPS = 600  # held-out crops of --val


def _square(box_xywh: np.ndarray) -> np.ndarray:
    """(N, 4) XYWH -> (N, 4) XYXY squares of side max(w, h) around the same centres."""
    c = box_xywh[:, :2] + box_xywh[:, 2:] / 2
    s = box_xywh[:, 2:].max(axis=1, keepdims=True) / 2
    return np.concatenate([c - s, c + s], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box a (4,) with boxes b (N, 4) -> (N,) (torchvision.ops.box_iou for one row, in numpy)."""
    from torchvision.ops import box_iou

    return box_iou(torch.from_numpy(a[None]).double(), torch.from_numpy(b).double())[0].numpy()


class CropSampler:
    """
    Labelled square crops from a list of Detectron2 dataset dicts (images kept in memory, crops drawn on the fly).

    Args:
        dicts: dataset dicts with "file_name" and "annotations" (XYWH "bbox", "vis_ratio", "ignore").
        crop: output side in px.
        seed: numpy seed of the sampler.
    """

    def __init__(self, dicts: list, crop: int, seed: int):
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.images, self.squares = [], []
        for d in dicts:
            img = cv2.imread(d["file_name"], cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(d["file_name"])
            persons = [a for a in d["annotations"] if not a.get("ignore", 0) and a["category_id"] >= 0]
            boxes = np.array([a["bbox"] for a in persons], dtype=np.float64).reshape(-1, 4)
            vis = np.array([a.get("vis_ratio", 1.0) for a in persons], dtype=np.float64)
            self.images.append(img)
            self.squares.append((_square(boxes), vis))

    def _cut(self, img: np.ndarray, box: np.ndarray, flip: bool) -> np.ndarray:
        """Crop XYXY box (outside the image: mean-padded), resize to crop x crop, normalise -> (3, crop, crop)."""
        x0, y0, x1, y1 = box
        side = max(x1 - x0, 1.0)
        scale = self.crop / side
        # affine map box -> [0, crop]^2; border pixels take the pixel mean (0 after normalisation)
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
        out = cv2.warpAffine(img, m, (self.crop, self.crop), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=PIXEL_MEAN.tolist())
        if flip:
            out = out[:, ::-1]
        out = (out.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    def sample(self, label: int, max_tries: int = 50):
        """One crop of the class, or None when max_tries random draws did not produce one."""
        rng = self.rng
        for _ in range(max_tries):
            i = int(rng.integers(len(self.images)))
            img, (sq, vis) = self.images[i], self.squares[i]
            H, W = img.shape[:2]
            if label == 0 or len(sq) == 0:
                side = float(rng.uniform(0.15, 0.8)) * min(H, W)
                x0, y0 = rng.uniform(-0.1 * side, W - 0.9 * side), rng.uniform(-0.1 * side, H - 0.9 * side)
                box = np.array([x0, y0, x0 + side, y0 + side])
            else:
                cand = np.where(vis >= 0.5)[0]
                if len(cand) == 0:
                    continue
                ref = sq[int(rng.choice(cand))]
                side = ref[2] - ref[0]
                jitter, sj = (0.08, 0.1) if label == 1 else (0.45, 0.5)
                c = (ref[:2] + ref[2:]) / 2 + rng.uniform(-jitter, jitter, 2) * side
                s = side * float(np.exp(rng.uniform(-sj, sj)))
                box = np.concatenate([c - s / 2, c + s / 2])
            best = float(_iou(box, sq).max()) if len(sq) else 0.0
            ok = {0: best < 0.2, 1: best >= 0.6, 2: 0.2 <= best < 0.5}[label]
            if ok:
                return self._cut(img, box, flip=bool(rng.integers(2)))
        return None

    def batch(self, n: int):
        """(n, 3, crop, crop) float32 tensor and (n,) int64 labels, classes balanced (a class that cannot be drawn
        is replaced by background)."""
        xs, ys = [], []
        for k in range(n):
            label = k % len(CLASSES)
            x = self.sample(label)
            if x is None:
                label, x = 0, self.sample(0, max_tries=10_000)
            xs.append(x)
            ys.append(label)
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.int64)


def _torchvision_to_d2():
    """projects/OPL/tools/convert_torchvision_resnet.py's key renaming (one converter for the whole repository)."""
    path = os.path.join(REPO, "projects", "OPL", "tools", "convert_torchvision_resnet.py")
    return load_script(path).torchvision_to_d2


def pretrain(out: str, *, train: str = "synthetic_crowd_train", val: str = "synthetic_crowd_val", iters: int = 800,
             batch: int = 48, crop: int = 80, lr: float = 0.1, seed: int = 0, val_crops: int = VAL_CROPS,
             log=print) -> dict:
    """
    Train the pretext classifier and write ``out`` (Detectron2 .pkl of the ResNet-18 trunk, fc dropped) and
    ``out + ".json"`` (settings, held-out accuracy, time). Returns that JSON as a dict.
    """
    from detectron2.data import DatasetCatalog

    import pedet.data  # noqa: F401  (registers the synthetic sets)

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    sampler = CropSampler(DatasetCatalog.get(train), crop, seed)
    held_out = CropSampler(DatasetCatalog.get(val), crop, seed + 1)
    xv, yv = held_out.batch(val_crops)
    model = torchvision.models.resnet18(num_classes=len(CLASSES))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4, nesterov=True)
    warm = max(1, min(100, iters // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, iters) / iters)))
    model.train()
    for it in range(iters):
        x, y = sampler.batch(batch)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (it + 1) % max(1, iters // 10) == 0 or it == 0:
            log(f"pretext iter {it + 1}/{iters}: loss {loss.item():.3f}, {time.perf_counter() - t0:.0f} s")
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xv[i:i + 100]).argmax(1) for i in range(0, len(xv), 100)])
    acc = float((pred == yv).float().mean())
    per_class = {c: float((pred[yv == k] == k).float().mean()) for k, c in enumerate(CLASSES) if (yv == k).any()}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    from pedet.utils.file_io import atomic_open, atomic_write  # atomic, fsync'd, the umask's permissions

    # the settings of the weights replaced next go first: a run interrupted between the two writes left the new
    # weights under the old settings, which crowd_quality and the main job then reused as weights of those settings
    if os.path.isfile(out + ".json"):
        os.remove(out + ".json")
    with atomic_open(out, "wb") as f:
        pickle.dump({"model": _torchvision_to_d2()(model.state_dict()), "__author__": "pedet pretext (synthetic crops)",
                     "matching_heuristics": True}, f)
    info = {"train": train, "val": val, "iters": iters, "batch": batch, "crop": crop, "lr": lr, "seed": seed,
            "classes": list(CLASSES), "held_out_crops": int(len(yv)), "held_out_accuracy": acc,
            "held_out_accuracy_per_class": per_class, "seconds": time.perf_counter() - t0,
            "threads": torch.get_num_threads()}
    atomic_write(out + ".json", json.dumps(info, indent=1) + "\n")
    log(f"pretext: held-out accuracy {100 * acc:.1f} % ({per_class}); wrote {out} in {info['seconds']:.0f} s")
    return info


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """
    Values that failed only after the data were loaded (--iters 0: a ZeroDivisionError in the LR schedule; --batch 0,
    --crop 0, a negative --lr or --seed, an unregistered set: tracebacks; --out a folder: after the training) or that
    wrote untrained weights in silence (--iters < 0) -> parser.error (one line, exit status 2).
    """
    from detectron2.data import DatasetCatalog

    import pedet.data  # noqa: F401  (registers the synthetic sets)
    from pedet.utils.file_io import file_in_the_way

    for name in ("iters", "batch", "crop"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: must be >= 1")
    side = args.crop
    for _ in range(5):  # ResNet-18's stride-2 stages (conv1, max-pool, res3, res4, res5) halve the side, rounding up
        side = (side - 1) // 2 + 1
    if args.batch * side ** 2 < 2:  # a ValueError traceback in the first training step, after the data were loaded
        parser.error(f"--batch {args.batch} with --crop {args.crop}: the last BatchNorm of ResNet-18 sees one value "
                     f"per channel ({side}x{side} map, batch {args.batch}) and cannot train; give --batch >= 2 or "
                     "--crop >= 33")
    crops_bytes = (VAL_CROPS + args.batch) * 3 * args.crop ** 2 * 4  # the held-out crops and one batch, float32
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if crops_bytes > memory:  # allocated after the data were loaded: a MemoryError, or the machine swapping
        parser.error(f"--crop {args.crop}: {VAL_CROPS} held-out and {args.batch} training crops of {args.crop}x"
                     f"{args.crop} px alone need {crops_bytes / 2 ** 30:.0f} GiB, more than this machine's "
                     f"{memory / 2 ** 30:.0f} GiB")
    if not (math.isfinite(args.lr) and args.lr >= 0):
        parser.error(f"--lr {args.lr}: must be a finite number >= 0")
    if not 0 <= args.seed < 2 ** 32:
        parser.error(f"--seed {args.seed}: must be in [0, 2**32) (numpy's seed range)")
    for option, name in (("--train", args.train), ("--val", args.val)):
        if name not in DatasetCatalog.list():
            parser.error(f"{option} {name}: not a registered data set (see datasets/README.md)")
    if os.path.isdir(args.out) or not os.path.basename(args.out):
        parser.error(f"--out {args.out}: a folder; give the .pkl file to write")
    if not args.out.endswith(".pkl"):  # a model-zoo pickle: under .pth / .pt, MODEL.WEIGHTS read it with torch.load,
        # which failed on it only when a training started from it (a "damaged checkpoint" message)
        parser.error(f"--out {args.out}: the weights are written as a Detectron2 model-zoo pickle; give a .pkl name "
                     "(Detectron2 reads MODEL.WEIGHTS by its extension)")
    blocking = file_in_the_way(args.out)  # the folder is made after the training: a file on the way failed only then
    if blocking:
        parser.error(f"--out {args.out}: {blocking} is a file, not a folder")
    side = args.out + ".json"  # written next to the weights after the training: an IsADirectoryError traceback
    if os.path.isdir(side):
        parser.error(f"--out {args.out}: {side}, written next to the weights, is a folder")
    from pedet.engine.launch import BAD_INPUT_ERRORS, bad_input_message

    for option, name in (("--train", args.train), ("--val", args.val)):  # last: reads the files (registration does not)
        try:  # a set whose files are absent (e.g. citypersons_train before the download) was a FileNotFoundError
            DatasetCatalog.get(name)
        except BAD_INPUT_ERRORS as e:
            parser.error(f"{option} {name}: {bad_input_message(e)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output .pkl (MODEL.WEIGHTS)")
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--crop", type=int, default=80)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", default="synthetic_crowd_train")
    p.add_argument("--val", default="synthetic_crowd_val")
    args = p.parse_args(argv)
    check_args(p, args)
    return pretrain(args.out, train=args.train, val=args.val, iters=args.iters, batch=args.batch, crop=args.crop,
                    lr=args.lr, seed=args.seed)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
