"""
MissRateEvaluator: a Detectron2 ``DatasetEvaluator`` around the numpy miss-rate core (report.evaluate), so that
``inference_on_dataset`` and ``DefaultTrainer``'s ``EvalHook`` report CrowdHuman AP / mMR / Recall / JI or the
CityPersons / Caltech MR^-2 subsets, exactly as ``python -m pedet.evaluation`` does on the same input.

Data flow: ``process`` keeps, per image, the predicted boxes as float64 XYWH (N, 4) and scores (N,)
on the CPU (every detection: no top-100 cap as in COCOEvaluator); ``evaluate`` gathers them on rank 0
(``comm.gather``; other ranks return {}), builds the ground truth from ``DatasetCatalog.get(dataset_name)`` (the
unclipped ``bbox`` / ``vis_bbox`` / ``height`` / ``vis_ratio`` / ``ignore`` of the team's dict format, not the
mapper's clipped ``instances``), evaluates, writes its files atomically, and returns
``OrderedDict({protocol: {key: percent}})`` (NaN = undefined).

Files in ``output_dir`` (all written as temp file + os.replace): ``predictions.odgt`` (CrowdHuman detection
odgt), ``coco_instances_results.json`` (COCO results), ``metrics.json`` (fractions + details, the command's --out
format), ``metrics.md`` (Markdown table), ``mr_fppi_<protocol>.png`` (MR-FPPI curves).
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import os
from collections.abc import Mapping, Set as AbstractSet

import numpy as np
import torch

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import Boxes
from detectron2.utils import comm

from pedet.config import add_miss_rate_config  # noqa: F401  (re-exported: TEST.MISS_RATE keys)
from pedet.utils.file_io import file_in_the_way, name_too_long, same_file, symlink_loop

from .evaluator_io import atomic_write, atomic_write_json, atomic_write_text, coco_results, odgt_lines
from .io import EvalInputError, _py, detections_from_arrays, drop_unmatchable_gt, ground_truth_from_dataset_dicts
from .report import PROTOCOLS, evaluate, json_safe

__all__ = ["MissRateEvaluator", "build_miss_rate_evaluator", "add_miss_rate_config", "miss_rate_metric"]

logger = logging.getLogger(__name__)


# the files evaluate() writes into output_dir (and mr_fppi_<protocol>.png with plot=True)
OUTPUT_FILES = ("predictions.odgt", "coco_instances_results.json", "metrics.json", "metrics.md")


class MissRateEvaluator(DatasetEvaluator):
    """
    Evaluate person detections with the dataset's miss-rate protocol.

    Args:
        dataset_name: a registered dataset whose dicts follow the team format.
        output_dir: where to write predictions, metrics and plots (None: write nothing).
        distributed: gather predictions from all ranks and evaluate on rank 0.
        protocol: "crowdhuman" | "citypersons" | "caltech"; None = ``MetadataCatalog.get(name).evaluator_type``.
        setups: CityPersons / Caltech subsets (None = protocol default).
        mode: CityPersons "official" | "matlab".  box: CrowdHuman "full" | "visible".
        compute_ji: CrowdHuman JI on/off.  resize_dets: Caltech detection squarify on/off (False with another
            protocol has no effect: a warning says so once, when the evaluator is built).
        plot: write the MR-FPPI PNG.  error_analysis_fppi: FPPI of the RepLoss §3.2 breakdown in metrics.json
            (None: off).
        person_class: the predicted class index that means "person" (thing_classes == ["person"] -> 0).
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        distributed: bool = True,
        protocol: str | None = None,
        setups=None,
        mode: str = "official",
        box: str = "full",
        compute_ji: bool = True,
        resize_dets: bool = True,
        plot: bool = True,
        error_analysis_fppi: float | None = 0.1,
        person_class: int = 0,
    ):
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        if dataset_name not in DatasetCatalog.list():  # MetadataCatalog.get would make an empty entry for it
            raise ValueError(f"MissRateEvaluator: dataset '{dataset_name}' is not registered in DatasetCatalog "
                             "(pedet's built-in names are registered by `import pedet.data`)")
        meta = MetadataCatalog.get(dataset_name)
        self._protocol = protocol or meta.get("evaluator_type", None)
        if self._protocol not in PROTOCOLS:
            raise ValueError(
                f"MissRateEvaluator: protocol={protocol!r} is not one of {PROTOCOLS}" if protocol else
                f"MissRateEvaluator: dataset '{dataset_name}' has evaluator_type {self._protocol!r}; pass protocol= "
                f"one of {PROTOCOLS}"
            )
        if isinstance(setups, (Mapping, AbstractSet)):  # unordered, and a dict would quietly give its keys
            raise ValueError(f"MissRateEvaluator: setups must be a list of subset names, got a "
                             f"{type(setups).__name__} {setups!r:.80}")
        if setups is not None and not isinstance(setups, str):  # a generator would be used up by the checks below
            setups = list(setups)  # (and the evaluation would then silently run every default subset)
        _check_arguments(self._protocol, setups, mode, box, error_analysis_fppi, person_class)
        flags = {"distributed": distributed, "compute_ji": compute_ji, "resize_dets": resize_dets, "plot": plot}
        for key, value in flags.items():  # "no", "false" or 0.0 as a truth value would silently mean the opposite
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"MissRateEvaluator: {key} must be True or False, got {value!r}")
        # JI is a CrowdHuman metric and the detection squarify a Caltech rule: turned off for another protocol they
        # change nothing (that protocol never computes them), which the config's JI_ON = False may well mean; say so
        # once rather than fail (the command rejects --no-ji / --no-det-resize there, as its options are explicit)
        for key, value, applies in (("compute_ji", compute_ji, "crowdhuman"), ("resize_dets", resize_dets, "caltech")):
            if not value and self._protocol != applies:
                logger.warning(f"MissRateEvaluator: {key}=False applies to {applies} only; protocol "
                               f"{self._protocol!r} never computes it, so the setting has no effect")
        if output_dir is not None and not isinstance(output_dir, (str, os.PathLike)):
            # an int was taken as a file descriptor ("output_dir '5' exists and is not a folder"), bytes failed with
            # "a bytes-like object is required, not 'str'"
            raise ValueError(f"MissRateEvaluator: output_dir must be a folder path (a str or an os.PathLike) or None, "
                             f"got {type(output_dir).__name__} {output_dir!r:.80}")
        if output_dir and os.path.exists(output_dir) and not os.path.isdir(output_dir):  # not after a whole pass
            raise ValueError(f"MissRateEvaluator: output_dir '{output_dir}' exists and is not a folder")
        if output_dir and name_too_long(output_dir):  # not after a whole pass
            raise ValueError(f"MissRateEvaluator: output_dir: {name_too_long(output_dir)}")
        if output_dir and symlink_loop(output_dir):  # os.makedirs would fail after the whole pass
            raise ValueError(f"MissRateEvaluator: output_dir: {symlink_loop(output_dir)}")
        if output_dir and file_in_the_way(output_dir):
            raise ValueError(f"MissRateEvaluator: output_dir '{output_dir}' cannot be created: "
                             f"'{file_in_the_way(output_dir)}' is a file, not a folder")
        if output_dir:  # a folder in the place of an output file: an IsADirectoryError after the whole pass
            names = list(OUTPUT_FILES) + ([f"mr_fppi_{self._protocol}.png"] if plot else [])
            in_the_way = [name for name in names if os.path.isdir(os.path.join(output_dir, name))]
            if in_the_way:
                raise ValueError(f"MissRateEvaluator: output_dir '{output_dir}' holds a folder named "
                                 f"'{in_the_way[0]}', the name of a file the evaluator writes there; move it away")
            for key in ("gt_file", "json_file"):  # the data set's annotation file (pedet's loaders, Detectron2's COCO)
                source = meta.get(key, None)
                clash = source and next((n for n in names if same_file(os.path.join(output_dir, n), source)), None)
                if clash:  # before: e.g. a data set of last round's predictions.odgt replaced by this round's
                    raise ValueError(f"MissRateEvaluator: output_dir '{output_dir}': the file '{clash}' the evaluator "
                                     f"writes there is the data set's {key} '{source}'; give another output_dir")
        self._setups = list(setups) if setups else None
        self._mode = mode
        self._box = box
        self._compute_ji = compute_ji
        self._resize_dets = resize_dets
        self._plot = plot
        self._error_fppi = None if error_analysis_fppi is None else float(error_analysis_fppi)  # numpy -> Python
        self._person_class = int(person_class)
        self.reset()

    def reset(self):
        self._predictions = []
        self._other_classes = [0, set(), 0]  # boxes of classes other than person_class, those classes, all boxes

    def process(self, inputs, outputs):
        """Keep every predicted person box (float64 XYWH, original image size) and score, per image_id."""
        if len(inputs) != len(outputs):  # zip would drop the rest: an image would silently lose its predictions
            raise EvalInputError(f"MissRateEvaluator: process() got {len(inputs)} inputs and {len(outputs)} outputs "
                                 "(one output per input is needed)")
        for inp, out in zip(inputs, outputs):
            if "image_id" not in inp:
                raise EvalInputError("MissRateEvaluator: an input has no 'image_id' (the dataset mapper must keep it: "
                                     f"keys {sorted(inp)})")
            if "instances" not in out or not all(out["instances"].has(k) for k in ("pred_boxes", "scores")):
                raise EvalInputError(f"MissRateEvaluator: the output for image {inp.get('image_id')!r} has no "
                                     "'instances' with pred_boxes and scores (a detection model's output is needed)")
            inst = out["instances"].to("cpu")
            if not isinstance(inst.pred_boxes, Boxes) or not isinstance(inst.scores, torch.Tensor):
                raise EvalInputError(f"MissRateEvaluator: the output for image {inp['image_id']!r} has pred_boxes of "
                                     f"type {type(inst.pred_boxes).__name__} and scores of type "
                                     f"{type(inst.scores).__name__}; a detection model's output has Boxes (XYXY_ABS) "
                                     "and a Tensor")
            if inst.pred_boxes.tensor.shape[-1] != 4:  # reshape(-1, 4) would silently cut (N, 5) rotated boxes
                raise EvalInputError(f"MissRateEvaluator: the output for image {inp['image_id']!r} has boxes of "
                                     f"{inst.pred_boxes.tensor.shape[-1]} values (rotated boxes?); the miss-rate "
                                     "protocols need axis-aligned boxes (Boxes, XYXY_ABS)")
            n = len(inst.pred_boxes)  # Instances checks the first dimension only: (N, K) scores or classes pass
            for key in ("scores", "pred_classes"):
                if inst.has(key) and inst.get(key).numel() != n:
                    raise EvalInputError(f"MissRateEvaluator: the output for image {inp['image_id']!r} has {n} boxes "
                                         f"and {key} of shape {tuple(inst.get(key).shape)}; one "
                                         f"{'score' if key == 'scores' else 'class'} per box is needed")
            # cast in torch: numpy has no bfloat16 (outputs of inference under torch.autocast(dtype=torch.bfloat16)
            # failed here with "Got unsupported ScalarType BFloat16")
            boxes = inst.pred_boxes.tensor.to(torch.float64).numpy().reshape(-1, 4)
            scores = inst.scores.to(torch.float64).numpy().reshape(-1)
            self._other_classes[2] += int(scores.size)
            if inst.has("pred_classes"):
                classes = inst.pred_classes.numpy().reshape(-1)
                keep = classes == self._person_class
                boxes, scores = boxes[keep], scores[keep]
                self._other_classes[0] += int((~keep).sum())  # announced with their count in evaluate()
                self._other_classes[1].update(classes[~keep].tolist())
            xywh = boxes.copy()
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: evaluate() names the non-finite box
                xywh[:, 2:] -= boxes[:, :2]  # XYXY_ABS -> XYWH_ABS, the format of every file we write
            # the frame the boxes are in: Detectron2's detector_postprocess scales them to the input's height/width
            size = tuple(int(v) for v in inst.image_size)
            self._predictions.append((inp["image_id"], xywh, scores, size))

    def evaluate(self):
        if self._distributed:
            comm.synchronize()
            gathered = comm.gather((self._predictions, self._other_classes), dst=0)
            if not comm.is_main_process():
                return {}
            predictions = list(itertools.chain(*(p for p, _ in gathered)))
            others = [sum(o[0] for _, o in gathered), set().union(*(o[1] for _, o in gathered)),
                      sum(o[2] for _, o in gathered)]
        else:
            predictions, others = self._predictions, self._other_classes
        if others[0]:
            logger.warning(f"{others[0]} of {others[2]} predicted boxes have a class other than person_class="
                           f"{self._person_class} (classes {sorted(others[1])[:5]}); they are not evaluated"
                           + ("; no box is left: is person_class right?" if others[0] == others[2] else ""))
        gt = self._ground_truth()
        if self._protocol == "caltech":  # the loader's not-occluded visible box (= full box) is the file's zeros
            from .caltech import visible_boxes_as_in_bbgt

            gt = visible_boxes_as_in_bbgt(gt)
        dt = detections_from_arrays(gt, [p[:3] for p in predictions])
        self._warn_other_sizes(gt, predictions)
        gt = drop_unmatchable_gt(gt, f"dataset '{self._dataset_name}'")  # as the command does (dicts fed directly)
        missing = gt.num_images - len(predictions)
        if missing:
            logger.warning(f"{missing} of {gt.num_images} images of '{self._dataset_name}' got no predictions; "
                           "they count as images without detections.")
        report = evaluate(
            self._protocol, gt, dt, setups=self._setups, mode=self._mode, box_mode=self._box,
            resize_dets=self._resize_dets, compute_ji=self._compute_ji,
        )
        logger.info(f"Evaluation results of '{self._dataset_name}':\n{report.format_table()}")
        if self._output_dir:
            self._write(report, gt, dt)
        return report.percent()

    def check_ground_truth(self) -> None:
        """
        Read the data set's ground truth as ``evaluate`` will, without predictions: EvalInputError naming the record
        for one the evaluator cannot use. The trainers call it before the first iteration, so that a bad record of a
        test set stops a run at its start rather than at its first (or final) evaluation.
        """
        self._ground_truth()

    def _ground_truth(self):
        """The data set's ground truth as the evaluator reads it (``ground_truth_from_dataset_dicts``)."""
        return ground_truth_from_dataset_dicts(DatasetCatalog.get(self._dataset_name),
                                               box="visible" if self._box == "visible" else "full",
                                               what=f"dataset '{self._dataset_name}'",
                                               subsets=self._protocol != "crowdhuman")

    def _warn_other_sizes(self, gt, predictions) -> None:
        """One counted warning for outputs whose image size is not the data set's (as the command warns about a
        detection file's width / height): their boxes are in another frame, e.g. a mapper that changed or dropped
        'height' / 'width', so the model returned them in the resized image's pixels."""
        index = gt.index()
        other = []
        for img_id, _, _, (h, w) in predictions:
            i = index[_py(img_id)]
            if (not math.isnan(gt.image_height[i]) and (h, w) != (gt.image_height[i], gt.image_width[i])):
                other.append((img_id, (h, w), (gt.image_height[i], gt.image_width[i])))
        if other:
            img_id, (h, w), (gh, gw) = other[0]
            logger.warning(f"MissRateEvaluator: the outputs of {len(other)} of {len(predictions)} image(s) of "
                           f"'{self._dataset_name}' are for another image size than the data set's (first: image "
                           f"{img_id!r}, {w} x {h} there, {gw:g} x {gh:g} in the data set); their boxes are evaluated "
                           "as they are (they must be in original image pixels: does the mapper keep the dicts' "
                           "'height' and 'width'?)")

    def _write(self, report, gt, dt) -> None:
        os.makedirs(self._output_dir, exist_ok=True)
        out = self._output_dir
        lines = odgt_lines(gt, dt)
        atomic_write_text(os.path.join(out, "predictions.odgt"), "\n".join(lines) + ("\n" if lines else ""))
        _write_json_compact(os.path.join(out, "coco_instances_results.json"), coco_results(gt, dt))
        payload = report.to_json()
        if self._error_fppi is not None:
            from .error_analysis import analyze_report

            payload["details"]["error_analysis"] = analyze_report(report, gt, dt, fppi=self._error_fppi)
        atomic_write_json(os.path.join(out, "metrics.json"), json_safe(payload))
        atomic_write_text(os.path.join(out, "metrics.md"), report.format_table(markdown=True))
        if self._plot:
            from .plots import plot_mr_fppi

            plot_mr_fppi(report, out)


def _check_arguments(protocol: str, setups, mode: str, box: str, error_analysis_fppi, person_class: int = 0) -> None:
    """
    ValueError for an argument the protocol would reject or silently ignore, raised when the evaluator is built
    (as the command's option checks), not after an inference pass over the whole data set.
    """
    if (isinstance(person_class, (bool, np.bool_)) or not isinstance(person_class, (int, np.integer))
            or person_class < 0):
        raise ValueError(f"MissRateEvaluator: person_class must be a class index (an integer >= 0), got "
                         f"{person_class!r}")
    if mode not in ("official", "matlab"):
        raise ValueError(f"MissRateEvaluator: mode must be 'official' or 'matlab', got {mode!r}")
    if box not in ("full", "visible"):
        raise ValueError(f"MissRateEvaluator: box must be 'full' or 'visible', got {box!r}")
    if box != "full" and protocol != "crowdhuman":
        raise ValueError(f"MissRateEvaluator: box={box!r} applies to crowdhuman only, not {protocol}")
    if mode != "official" and protocol != "citypersons":
        raise ValueError(f"MissRateEvaluator: mode={mode!r} applies to citypersons only, not {protocol}")
    if isinstance(setups, str):  # list("Reasonable") would be the subsets "R", "e", ...
        raise ValueError(f"MissRateEvaluator: setups must be a list of subset names, got the string {setups!r}")
    if setups:
        if protocol == "crowdhuman":
            raise ValueError("MissRateEvaluator: setups apply to citypersons / caltech only, not crowdhuman")
        from .caltech import CALTECH_SETUPS
        from .citypersons import CITYPERSONS_SETUPS, parse_setup

        known = CITYPERSONS_SETUPS if protocol == "citypersons" else CALTECH_SETUPS
        names = [parse_setup(s, known).name if isinstance(s, str) else s.name for s in setups]
        if len(set(names)) != len(names):
            raise ValueError(f"MissRateEvaluator: setups name a subset twice: {names}")
    if error_analysis_fppi is not None and not (isinstance(error_analysis_fppi, (int, float, np.integer, np.floating))
                                                and not isinstance(error_analysis_fppi, (bool, np.bool_))
                                                and math.isfinite(error_analysis_fppi) and error_analysis_fppi > 0):
        raise ValueError(f"MissRateEvaluator: error_analysis_fppi must be a positive finite FPPI (e.g. 0.1) or None, "
                         f"got {error_analysis_fppi!r}")


def _write_json_compact(path: str, obj) -> None:
    """JSON without indentation (the results file can be large), atomically."""
    atomic_write(path, lambda f: json.dump(obj, f))


def build_miss_rate_evaluator(cfg, dataset_name: str, output_folder: str | None = None) -> MissRateEvaluator:
    """
    For ``Trainer.build_evaluator`` in a train_net.py: ``return build_miss_rate_evaluator(cfg, dataset_name,
    output_folder)``. Output folder default: ``cfg.OUTPUT_DIR/inference/<dataset_name>``.
    """
    if output_folder is None:
        output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    node = cfg.TEST.get("MISS_RATE", None)
    if node is None:
        return MissRateEvaluator(dataset_name, output_dir=output_folder)
    return MissRateEvaluator(
        dataset_name,
        output_dir=output_folder,
        protocol=node.PROTOCOL or None,
        setups=list(node.SETUPS) or None,
        mode=node.MODE,
        box=node.BOX,
        compute_ji=node.JI_ON,
        plot=node.PLOTS_ON,
        error_analysis_fppi=node.ERROR_ANALYSIS_FPPI if node.ERROR_ANALYSIS_ON else None,
    )


# protocol -> key in MissRateEvaluator's result dict (percent, lower is better) that ranks checkpoints and sweeps:
# CrowdHuman's log-average miss rate, CityPersons' / Caltech's MR^-2 on the Reasonable subset.
HEADLINE_METRIC = {"crowdhuman": "mMR", "citypersons": "Reasonable", "caltech": "Reasonable"}


def miss_rate_metric(dataset_name: str, protocol: str | None = None) -> str:
    """
    The headline miss rate of a registered data set's protocol, as EvalHook stores it in the event storage.

    Args:
        dataset_name: a registered data set with `evaluator_type` metadata.
        protocol: the protocol it is evaluated with when not its own (``TEST.MISS_RATE.PROTOCOL``, as
            build_miss_rate_evaluator passes it); None / "" = its `evaluator_type`.
    Returns:
        the flattened result key, e.g. "crowdhuman/mMR" or "citypersons/Reasonable" (for BestCheckpointer, mode "min").
    Raises:
        KeyError: the name is not registered, or its metadata has no `evaluator_type` with a miss-rate metric.
    """
    if dataset_name not in DatasetCatalog.list():  # MetadataCatalog.get would make an empty entry for it
        raise KeyError(f"{dataset_name}: not registered in DatasetCatalog, so it has no miss-rate metric "
                       "(pedet's built-in names are registered by `import pedet.data`)")
    # .get, not the attribute: Detectron2's "metadata is empty" AttributeError for a set registered without it
    protocol = protocol or MetadataCatalog.get(dataset_name).get("evaluator_type", None)
    if protocol not in HEADLINE_METRIC:
        raise KeyError(f"{dataset_name}: evaluator_type {protocol!r} has no miss-rate metric ({sorted(HEADLINE_METRIC)})")
    return f"{protocol}/{HEADLINE_METRIC[protocol]}"
