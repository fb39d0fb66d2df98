#!/usr/bin/env python
"""
Detectron2-style demo for the pedestrian detectors of this repository (OPL, Faster R-CNN + RepLoss): draws the
detections, and the ground truth of images that belong to a registered data set, with detectron2's Visualizer.

    python demo/demo.py --config-file projects/OPL/configs/opl_R18_synthetic_cpu.yaml \
        --input "datasets/synthetic_crowd/default/Images/default_val_00000*.jpg" --output output/demo \
        --confidence-threshold 0.3 --opts MODEL.WEIGHTS output/opl_R18_synthetic_cpu/model_final.pth
    python demo/demo.py --config-file ... --video-input street.mp4 --output output/demo/street_annotated.mp4 --opts ...
    python demo/demo.py --config-file ... --onnx output/export/opl_R18.onnx --input ...   # ONNX Runtime instead

Ground truth (green; ignore boxes grey) is drawn when an input image lies under the ``image_root`` of one of the
config's DATASETS.TEST / DATASETS.TRAIN (the synthetic crowd sets and the built-in benchmarks set it), or of
``--gt-dataset NAME``; ``--no-gt`` turns it off. Predictions are red with their score. Videos: every frame is run
and written to an mp4 (cv2.VideoWriter, codec mp4v) with a tqdm progress bar.
"""
import argparse
import contextlib
import glob
import logging
import os
import re
import sys
import time
from typing import Dict, List, Optional

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
for _d in (os.path.join(REPO, "projects", "OPL"), os.path.join(REPO, "projects", "RepLoss")):
    if _d not in sys.path:
        sys.path.append(_d)

import pedet  # noqa: E402,F401  (Pillow alias before any detectron2.data import)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pedet.utils.cli import override_pairs_problem  # noqa: E402

logger = logging.getLogger("pedet.demo")
GT_COLOR, IGNORE_COLOR, PRED_COLOR = (0.1, 0.8, 0.1), (0.6, 0.6, 0.6), (0.9, 0.1, 0.1)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="pedet demo (detectron2 style)")
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--input", nargs="+", help="image files or glob patterns, e.g. 'dir/*.jpg'")
    p.add_argument("--video-input", help="a video file")
    p.add_argument("--output", help="folder for annotated images (or, for one image, a new file name such as "
                   "out.jpg); for a video, a file (.mp4) or a folder")
    p.add_argument("--confidence-threshold", type=float, default=0.5, help="draw detections with score >= this")
    p.add_argument("--gt-dataset", default=None, help="registered data set whose ground truth to draw")
    p.add_argument("--no-gt", action="store_true", help="do not draw ground truth")
    p.add_argument("--onnx", default=None, help="run this exported OPL .onnx with ONNX Runtime instead of PyTorch")
    p.add_argument("--opts", default=[], nargs=argparse.REMAINDER,
                   help="config overrides as KEY VALUE pairs, last on the command line (as in Detectron2's demo), "
                        "e.g. --opts MODEL.WEIGHTS model_final.pth")
    return p


_CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")


# what tools/export.py fixes in the OPL graph (opl.export): with --onnx these overrides have no effect (a warning says
# so); the other keys (INPUT.*, the model's shape) are read or describe the graph (the channel order is the one
# the graph's metadata records, when it does: OnnxPredictor). The graph normalises its input with
# the exported PIXEL_MEAN / PIXEL_STD and is NMS-free (export refuses MODEL.OPL.NMS_ON), so those are fixed too.
ONNX_FIXED_KEYS = ("MODEL.WEIGHTS", "MODEL.OPL.SCORE_THRESH_TEST", "MODEL.OPL.TOPK_CANDIDATES_TEST",
                   "TEST.DETECTIONS_PER_IMAGE", "MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD", "MODEL.OPL.NMS_ON",
                   "MODEL.OPL.NMS_THRESH_TEST")


def check_args(p: argparse.ArgumentParser, args) -> None:
    """Bad option values end in parser.error (one line after the usage, exit status 2)."""
    if bool(args.input) == bool(args.video_input):
        p.error("give exactly one of --input and --video-input")
    for item in args.input or []:
        if _CONFIG_KEY.fullmatch(item) and not os.path.exists(item):
            p.error(f"--input {item!r} looks like a config key: config overrides go after --opts, e.g. "
                    f"--opts {item} VALUE")
    if not 0.0 <= args.confidence_threshold <= 1.0:
        p.error(f"--confidence-threshold {args.confidence_threshold}: a score threshold in [0, 1] is needed")
    if args.gt_dataset and args.no_gt:
        p.error("--gt-dataset and --no-gt contradict each other")
    if args.gt_dataset and args.video_input:  # was ignored in silence: video frames are drawn without ground truth
        p.error("--gt-dataset: ground truth is drawn on --input images only, not on --video-input frames")
    for name, value in (("--gt-dataset", args.gt_dataset), ("--onnx", args.onnx)):  # '' was read as "not given":
        if value is not None and not value.strip():  # no ground truth named / PyTorch run instead of ONNX Runtime
            p.error(f"{name} {value!r}: an empty name; give one or leave {name} out")
    if args.output is not None and not args.output.strip():  # ran every image and wrote nothing, in silence
        p.error(f"--output {args.output!r}: an empty name; give a folder or file, or leave --output out")
    for name, path in (("--config-file", args.config_file), ("--onnx", args.onnx), ("--video-input", args.video_input)):
        if path and not os.path.isfile(path):
            p.error(f"{name} {path}: no such file")
    for item in args.opts:  # --opts takes the rest of the line: a later option became a config key ("Non-existent
        if item.startswith("--"):  # key: --output") or made the count odd
            p.error(f"--opts ... {item}: options go before --opts (its KEY VALUE pairs come last)")
    lazy = next((item for item in args.opts[0::2] if "=" in item), None)  # LazyConfig's key=value items
    if lazy is not None and override_pairs_problem(args.opts).startswith("config override "):
        p.error(f"--opts: {override_pairs_problem(args.opts)}")
    if len(args.opts) % 2:
        p.error(f"--opts needs KEY VALUE pairs, got {len(args.opts)} items: {' '.join(args.opts)}")
    if args.output and args.input and os.path.exists(args.output) and not os.path.isdir(args.output):
        p.error(f"--output {args.output}: an existing file; annotated images go to a folder")


class InputError(ValueError):
    """An input or output file the demo cannot use (not an image, not a video, not an ONNX model, not writable):
    one line on stderr, exit status 1."""


def setup_cfg(args):
    """get_cfg + pedet/OPL/RepLoss keys + file + opts + the threshold; MODEL.DEVICE cpu unless CUDA is there."""
    from detectron2.config import get_cfg
    from pedet.config import add_pedet_config, check_unread_project_keys, merge_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    from opl import add_opl_config
    from reploss import add_reploss_config

    add_opl_config(cfg)
    add_reploss_config(cfg)
    defaults = cfg.clone()
    merge_config(cfg, args.config_file, args.opts)  # yacs errors as one line (pedet.config)
    if not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    check_model_keys(cfg)
    check_unread_project_keys(cfg, defaults, args.opts, "the demo")
    cfg.freeze()
    return cfg


def check_model_keys(cfg) -> None:
    """The model's config values (pedet.config.check_model_config and the project's check): one line naming the key."""
    from opl.meta_arch import OPL
    from pedet.config import check_meta_architecture, check_model_config
    from reploss.meta_arch import PedestrianRCNN

    check_model_config(cfg)  # first: an unregistered MODEL.META_ARCHITECTURE is its error
    check_meta_architecture(cfg, (OPL, PedestrianRCNN), "the demo")
    if cfg.MODEL.META_ARCHITECTURE == "OPL":
        from opl.config import check_opl_config

        check_opl_config(cfg)
    else:
        from reploss.config import check_reploss_config

        check_reploss_config(cfg)


class Predictor:
    """detectron2's DefaultPredictor with weights-only loading (PedetCheckpointer): BGR image -> Instances (CPU)."""

    def __init__(self, cfg):
        from detectron2.data import transforms as T
        from detectron2.modeling import build_model
        from pedet.engine import PedetCheckpointer

        from pedet.engine.checkpoint import check_weights

        check_weights(cfg.MODEL.WEIGHTS, "running")
        self.model = build_model(cfg).eval()
        if cfg.MODEL.WEIGHTS:
            PedetCheckpointer(self.model, require_all="running").load(cfg.MODEL.WEIGHTS)
        self.aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
        self.min_size, self.max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        self.input_format = cfg.INPUT.FORMAT

    def __call__(self, bgr: np.ndarray):
        image = bgr[:, :, ::-1] if self.input_format == "RGB" else bgr
        h, w = image.shape[:2]
        resized = self.aug.get_transform(image).apply_image(image)
        tensor = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
        with torch.no_grad():
            return self.model([{"image": tensor, "height": h, "width": w}])[0]["instances"].to("cpu")


class OnnxPredictor:
    """The exported OPL graph (tools/export.py) on ONNX Runtime; same interface as Predictor."""

    def __init__(self, cfg, onnx_file: str):
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...) share no public base class
            reason = str(e).splitlines()[0][:200]
            raise InputError(f"--onnx {onnx_file}: ONNX Runtime cannot load it ({reason})") from None
        from opl.export import OUTPUT_NAMES

        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != ["images"] or not set(OUTPUT_NAMES) <= set(outputs):  # e.g. a Faster R-CNN graph
            raise InputError(f"--onnx {onnx_file}: not an OPL export graph of tools/export.py (inputs {inputs}, "
                             f"outputs {outputs}; expected the input 'images' and the outputs {list(OUTPUT_NAMES)})")
        self.min_size, self.max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        self.input_format = cfg.INPUT.FORMAT
        # the channel order the graph was exported for (tools/export.py records INPUT.FORMAT in the metadata): the
        # graph's normalisation is fixed, so a config with another INPUT.FORMAT would feed swapped channels in
        # silence. Graphs written before the metadata existed have none: the config's INPUT.FORMAT is used.
        recorded = self.session.get_modelmeta().custom_metadata_map.get("pedet.input_format")
        if recorded is not None and recorded != cfg.INPUT.FORMAT:
            if recorded not in ("BGR", "RGB"):
                raise InputError(f"--onnx {onnx_file}: exported for INPUT.FORMAT {recorded!r}; the demo feeds BGR "
                                 "or RGB images only")
            logger.warning(f"--onnx {onnx_file}: the graph was exported with INPUT.FORMAT {recorded}, the config "
                           f"says {cfg.INPUT.FORMAT}: feeding {recorded} images, as the graph expects")
            self.input_format = recorded

    def __call__(self, bgr: np.ndarray):
        from detectron2.structures import Boxes, Instances
        from opl.export import OUTPUT_NAMES, preprocess_image, rescale_boxes, valid_detections

        image = bgr[:, :, ::-1] if self.input_format == "RGB" else bgr
        x, sx, sy = preprocess_image(np.ascontiguousarray(image), self.min_size, self.max_size)
        out = valid_detections(dict(zip(OUTPUT_NAMES, self.session.run(None, {"images": x}))))
        inst = Instances(bgr.shape[:2])
        inst.pred_boxes = Boxes(torch.as_tensor(rescale_boxes(out["boxes"], sx, sy)))
        inst.scores = torch.as_tensor(out["scores"])
        inst.pred_classes = torch.as_tensor(out["classes"])
        return inst


def check_gt_datasets(cfg, registered) -> None:
    """
    The ground truth drawn without --gt-dataset comes from DATASETS.TEST / DATASETS.TRAIN: a name there that is not
    registered would draw no ground truth in silence (--gt-dataset NAME is an error for it) -> ConfigError naming the
    key. --no-gt skips this check, as the demo then reads neither key.
    """
    from pedet.config import config_error

    for key in ("DATASETS.TEST", "DATASETS.TRAIN"):
        for name in cfg[key.split(".")[0]][key.split(".")[1]]:
            if name not in registered:
                raise config_error(key, name, "not a registered data set, so no ground truth could be drawn "
                                              "(register it, name it with --gt-dataset, or give --no-gt)")


class GroundTruthIndex:
    """Ground-truth dicts by absolute file name, from registered data sets whose image_root holds the image."""

    def __init__(self, names: List[str]):
        self.names = [n for n in dict.fromkeys(names) if n]
        self._loaded: Dict[str, Dict[str, dict]] = {}

    def lookup(self, path: str) -> Optional[dict]:
        from detectron2.data import DatasetCatalog, MetadataCatalog

        path = os.path.abspath(path)
        for name in self.names:
            if name not in DatasetCatalog.list():
                continue
            root = MetadataCatalog.get(name).get("image_root", None)
            if root is None or not path.startswith(os.path.abspath(root) + os.sep):
                continue
            if name not in self._loaded:
                self._loaded[name] = {os.path.abspath(d["file_name"]): d for d in DatasetCatalog.get(name)}
            if path in self._loaded[name]:
                d = self._loaded[name][path]
                # the record is read by the training rules (pedet.data.mapper): a record the trainer refuses (a flag
                # "0", a box of 3 numbers) is one error here too, not a traceback or a box drawn as what it is not
                from pedet.data.mapper import check_annotations

                check_annotations(d.get("annotations", []), f"--gt-dataset {name}: image '{d['file_name']}' "
                                                            f"(image_id {d.get('image_id')!r})")
                return d
        return None


def draw(bgr: np.ndarray, instances, threshold: float, gt: Optional[dict] = None) -> np.ndarray:
    """Visualizer drawing: ground truth (green / grey ignore) under the detections with score >= threshold (red)."""
    from detectron2.structures import BoxMode
    from detectron2.utils.visualizer import Visualizer

    from pedet.data.mapper import is_ignore_annotation

    vis = Visualizer(bgr[:, :, ::-1])
    if gt is not None:
        anns = gt.get("annotations", [])
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
        # the training and evaluation rule: ignore 1, a negative category_id (also "-1", as the mapper reads it) or
        # iscrowd 1 (was drawn as a person box); category_id "0" was a TypeError traceback
        ignore = [is_ignore_annotation(a) for a in anns]
        if boxes:
            vis.overlay_instances(boxes=np.array(boxes), labels=["ignore" if i else "gt" for i in ignore],
                                  assigned_colors=[IGNORE_COLOR if i else GT_COLOR for i in ignore])
    keep = instances.scores >= threshold
    boxes, scores = instances.pred_boxes.tensor[keep].numpy(), instances.scores[keep].numpy()
    if len(boxes):
        out = vis.overlay_instances(boxes=boxes, labels=[f"{s:.0%}" for s in scores],
                                    assigned_colors=[PRED_COLOR] * len(boxes))
    else:
        out = vis.output
    return out.get_image()[:, :, ::-1]


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def expand_inputs(patterns: List[str]) -> List[str]:
    """Files and glob patterns -> sorted existing files (a pattern matching nothing is an error)."""
    files = []
    for p in patterns:
        if os.path.isdir(p):
            raise InputError(f"--input {p}: a directory; give image files or a glob pattern (e.g. '{p}/*.jpg')")
        # an existing file is taken as named: 'frame[1].png' is a file name, not a glob of 'frame1.png'
        pattern = any(c in p for c in "*?[") and not os.path.isfile(p)
        matched = sorted(glob.glob(os.path.expanduser(p))) if pattern else [p]
        folders = [m for m in matched if os.path.isdir(m)]
        if folders:  # was "matches no file" for 'dir/*' over image files and a sub-folder
            raise InputError(f"--input {p!r} matches {len(folders)} folder(s) ({folders[0]}) among its "
                             f"{len(matched)} matches; give image files or a pattern of them (e.g. '{p}.jpg')")
        if not matched or not all(os.path.isfile(m) for m in matched):
            raise FileNotFoundError(f"--input {p!r} matches no file")
        files.extend(matched)
    return files


def read_image(path: str, predictor) -> np.ndarray:
    """
    The BGR image of ``path`` as the predictor will get it, or InputError naming the file: not an image, truncated
    (OpenCV decodes a cut JPEG into a partly grey image with only libjpeg's "Premature end of JPEG file" on stderr;
    Pillow, which Detectron2's read_image and the training mapper use, refuses it), or so thin that the test-time
    resize (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST) would give it a side of 0 pixels.
    """
    from detectron2.data import transforms as T
    from PIL import Image, UnidentifiedImageError

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        hint = "; for a video use --video-input" if path.lower().endswith(VIDEO_EXTENSIONS) else ""
        raise InputError(f"--input {path}: not an image OpenCV can read{hint}")
    try:
        with Image.open(path) as im:
            im.load()
    except UnidentifiedImageError:
        pass  # a format only OpenCV reads: what it decoded is all there is
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"--input {path}: truncated or damaged image ({' '.join(str(e).split())})") from None
    h, w = bgr.shape[:2]
    if predictor.min_size > 0:
        new_h, new_w = T.ResizeShortestEdge.get_output_shape(h, w, predictor.min_size, predictor.max_size)
        if min(new_h, new_w) < 1:
            raise InputError(f"--input {path}: {w}x{h} pixels (width x height): resized to INPUT.MIN_SIZE_TEST "
                             f"{predictor.min_size} / MAX_SIZE_TEST {predictor.max_size} a side would be 0 pixels")
    return bgr


def output_file(output: str, to_file: bool, path: str) -> str:
    """The annotated image of input ``path``: ``output`` itself (a file name) or the input's name in that folder."""
    out_file = output if to_file else os.path.join(output, os.path.basename(path))
    if not cv2.haveImageWriter(out_file):  # no or an unknown extension: written as JPEG, named so
        out_file += ".jpg"
    return out_file


def run_images(predictor, files: List[str], args, gt_index: Optional[GroundTruthIndex]) -> List[str]:
    written, without_gt = [], []
    # a new --output with an image extension names the file to write, as in Detectron2's demo (was a folder of that
    # name); it takes one input image
    to_file = bool(args.output) and not os.path.isdir(args.output) and cv2.haveImageWriter(args.output)
    if to_file and len(files) != 1:
        raise InputError(f"--output {args.output}: an image file name takes one input image, --input gives "
                         f"{len(files)}; give a folder")
    folder = os.path.dirname(os.path.abspath(args.output)) if to_file else args.output
    if args.output and not to_file:  # one file name per image in the folder: the later image overwrote the earlier
        first = {}
        for path in files:
            name = os.path.basename(path) + ("" if cv2.haveImageWriter(path) else ".jpg")  # as written below
            other = first.setdefault(name, path)
            if os.path.abspath(other) != os.path.abspath(path):
                raise InputError(f"--input {other} and {path}: both would be written to "
                                 f"{os.path.join(args.output, name)}; give them separate runs or --output folders")
    out_files = {path: output_file(args.output, to_file, path) for path in files} if args.output else {}
    # before any writing: an output that is an input image (the same name, or through '..', a symbolic or a hard link
    # in the --output folder) replaced it, also a later input's, in silence; inputs by real path and by inode (as
    # os.path.samefile compares them), so that a folder of many frames is checked in one pass
    inputs = {}
    for f in files:
        st = os.stat(f)
        inputs[os.path.realpath(f)] = inputs[(st.st_dev, st.st_ino)] = f
    for path, out_file in out_files.items():
        st = os.stat(out_file) if os.path.exists(out_file) else None
        clash = inputs.get(os.path.realpath(out_file)) or (st and inputs.get((st.st_dev, st.st_ino)))
        if clash:
            raise InputError(f"--output {args.output}: would overwrite the input image {clash}"
                             + (f" (with the annotation of {path}, through {out_file})" if clash != path else "")
                             + "; give another folder")
    if args.output:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise InputError(f"--output {args.output}: cannot create the folder ({e.strerror})") from None
    for path in files:
        bgr = read_image(path, predictor)
        t0 = time.perf_counter()
        inst = predictor(bgr)
        n = int((inst.scores >= args.confidence_threshold).sum())
        gt = gt_index.lookup(path) if gt_index else None
        if gt is None and args.gt_dataset:
            without_gt.append(path)
        logger.info(f"{path}: {n} detections >= {args.confidence_threshold} in {time.perf_counter() - t0:.2f} s"
                    + (f", {len(gt['annotations'])} ground-truth boxes" if gt else ""))
        if args.output:
            out_file = out_files[path]
            write_image(out_file, draw(bgr, inst, args.confidence_threshold, gt), args.output)
            written.append(out_file)
    if without_gt:  # asked for that set's ground truth: say which images have none instead of drawing them bare
        logger.warning(f"--gt-dataset {args.gt_dataset}: {len(without_gt)} of {len(files)} images are not in it and "
                       f"are drawn without ground truth (e.g. {without_gt[0]})")
    return written


def run_video(predictor, args) -> Optional[str]:
    from tqdm import tqdm

    cap = cv2.VideoCapture(args.video_input)
    if not cap.isOpened() or not int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)):
        raise InputError(f"--video-input {args.video_input}: not a video OpenCV can read")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out_file, writer = None, None
    stack = contextlib.ExitStack()  # the video is written to a temporary sibling, renamed over out_file at the end
    if args.output:
        out_file = args.output
        if os.path.isdir(args.output) or not os.path.splitext(args.output)[1]:
            os.makedirs(args.output, exist_ok=True)
            out_file = os.path.join(args.output, os.path.splitext(os.path.basename(args.video_input))[0] + ".mp4")
        if cv2.haveImageWriter(out_file):  # OpenCV's image-sequence writer: a broken file of that name, in silence
            raise InputError(f"--output {args.output}: an image file name; the annotated video goes to a video file "
                             "(e.g. .mp4) or a folder")
        if os.path.exists(out_file) and os.path.samefile(out_file, args.video_input):  # was overwritten while read
            raise InputError(f"--output {args.output}: would overwrite the input video {args.video_input}; give "
                             "another file name or folder")
        try:  # a new file's folder is made, as for an annotated image (the README's example needed it to exist)
            os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
        except OSError as e:
            raise InputError(f"--output {args.output}: cannot create the folder ({e.strerror})") from None
        from pedet.utils.file_io import atomic_path, describe_os_error

        try:  # atomic, fsync'd, the umask's permissions; an interrupted run leaves the old file, not a truncated one
            tmp = stack.enter_context(atomic_path(out_file))
        except OSError as e:
            raise InputError(f"--output {args.output}: cannot write {out_file} ({describe_os_error(e)})") from None
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            stack.close()
            raise InputError(f"--output {args.output}: cv2.VideoWriter cannot write {out_file} (mp4v)")
    frames = 0
    with stack:
        try:
            frames = _annotate_frames(cap, writer, predictor, args.confidence_threshold, num_frames, tqdm)
        finally:
            cap.release()
            if writer is not None:
                writer.release()
        if not frames:  # e.g. an image, which OpenCV opens as a sequence: an empty video was written in silence
            hint = "; for an image use --input" if cv2.haveImageReader(args.video_input) else ""
            raise InputError(f"--video-input {args.video_input}: OpenCV opened it but read no frame{hint}")
        if writer is not None:  # inside the with block: a bad video is removed, never renamed over --output
            _check_written_video(tmp, frames, out_file, args.output)
    return out_file


def _check_written_video(path: str, frames: int, out_file: str, output: str) -> None:
    """
    InputError unless the video at ``path`` holds ``frames`` frames. cv2.VideoWriter reports no failed write: on a
    full disk it printed only OpenCV's "Failed to write frame" warnings, and the demo renamed an mp4 without its index
    (unreadable) over --output and ended with status 0.
    """
    cap = cv2.VideoCapture(path)
    try:
        found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    if found != frames:
        try:
            st = os.statvfs(os.path.dirname(path))
            free = f"; {st.f_bavail * st.f_frsize} bytes free on its file system"
        except (AttributeError, OSError):  # no statvfs (Windows)
            free = ""
        raise InputError(f"--output {output}: cv2.VideoWriter could not write {out_file} ({frames} frames drawn, "
                         f"{found} readable){free}")


def _annotate_frames(cap, writer, predictor, threshold: float, num_frames: Optional[int], tqdm) -> int:
    """Draw the detections on every frame of ``cap`` (into ``writer`` if given); returns the count of frames read."""
    frames = 0
    for _ in tqdm(range(num_frames) if num_frames else iter(int, 1), desc="frames", unit="frame"):
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        vis = draw(frame, predictor(frame), threshold)
        if writer is not None:
            writer.write(vis)
    return frames


def write_image(out_file: str, image: np.ndarray, output: str) -> None:
    """
    Encode ``image`` (BGR) by the extension of ``out_file`` and write it through pedet's one file writer (atomic,
    fsync'd, the umask's permissions): ``cv2.imwrite`` wrote in place, so an interrupted run left a truncated image.
    """
    from pedet.utils.file_io import atomic_write, describe_os_error

    try:
        ok, encoded = cv2.imencode(os.path.splitext(out_file)[1], image)
    except cv2.error:  # no encoder for that extension
        ok = False
    if not ok:
        raise InputError(f"--output {output}: cannot write {out_file}")
    try:
        atomic_write(out_file, encoded.tobytes())
    except OSError as e:
        raise InputError(f"--output {output}: cannot write {out_file} ({describe_os_error(e)})") from None


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    from detectron2.utils.logger import setup_logger

    setup_logger(name="pedet")
    fixed = [k for k in args.opts[::2] if k in ONNX_FIXED_KEYS]
    if args.onnx and fixed:  # OnnxPredictor reads INPUT.* only: e.g. MODEL.WEIGHTS was ignored, in silence. A warning,
        # not an error: repeating the export's own overrides is the common case, and the graph does not record them
        logger.warning(f"--opts {', '.join(fixed)}: not read with --onnx: the exported graph's own weights, score "
                       "threshold, top-k, detections per image and pixel mean / std apply, without NMS (export again "
                       "with tools/export.py to change them)")
    import pedet.data  # noqa: F401  (registers the data sets, for ground truth)
    from detectron2.data import DatasetCatalog

    if args.gt_dataset and args.gt_dataset not in DatasetCatalog.list():
        near = [n for n in DatasetCatalog.list() if args.gt_dataset.split("_")[0] in n][:8]
        parser.error(f"--gt-dataset {args.gt_dataset!r} is not a registered data set"
                     + (f" (registered, similar: {', '.join(near)})" if near else ""))

    cfg = setup_cfg(args)
    if not args.onnx:  # the model drops boxes below its own test threshold before the demo sees them: a lower
        # --confidence-threshold drew none of the boxes in between, without a word (Detectron2's demo sets the
        # model's threshold from it; here the config's key stays the model's, as in evaluation)
        opl = cfg.MODEL.META_ARCHITECTURE == "OPL"
        key = "MODEL.OPL.SCORE_THRESH_TEST" if opl else "MODEL.ROI_HEADS.SCORE_THRESH_TEST"
        model_threshold = cfg.MODEL.OPL.SCORE_THRESH_TEST if opl else cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST
        if args.confidence_threshold < model_threshold:
            logger.warning(f"--confidence-threshold {args.confidence_threshold} is below {key} {model_threshold}: the "
                           f"model keeps no detection under {model_threshold} (lower {key} with --opts to see them)")
    predictor = OnnxPredictor(cfg, args.onnx) if args.onnx else Predictor(cfg)
    if args.video_input:
        return run_video(predictor, args)
    gt_index = None
    if not args.no_gt:
        if not args.gt_dataset:
            check_gt_datasets(cfg, DatasetCatalog.list())
        gt_index = GroundTruthIndex([args.gt_dataset] if args.gt_dataset else
                                    list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN))
    return run_images(predictor, expand_inputs(args.input), args, gt_index)


if __name__ == "__main__":
    from pedet.engine.launch import one_line_errors

    with one_line_errors(InputError):  # weights, data set files (--gt-dataset), images: one line
        main()
