"""
One entry point for every protocol, used by both the offline command (``python -m pedet.evaluation``) and the
Detectron2 ``MissRateEvaluator``, so the two give identical numbers on the same input. Pure numpy.

``evaluate(protocol, gt, dt, ...)`` returns an ``EvaluationReport``: flat metrics as fractions (None = undefined),
JSON-friendly details (per-point miss rates, counts, mode), MR-FPPI curves per subset, and a text / Markdown table.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .citypersons import Setup
from .io import (
    DetectionSet,
    EvalInputError,
    GroundTruthSet,
    drop_unmatchable_gt,
    read_coco_gt,
    read_coco_results,
    read_crowdhuman_dt,
    read_crowdhuman_gt,
)

__all__ = ["PROTOCOLS", "EvaluationReport", "evaluate", "json_safe", "read_inputs"]

PROTOCOLS = ("citypersons", "crowdhuman", "caltech")
CROWDHUMAN_KEYS = ("AP", "mMR", "Recall", "JI")


@dataclass
class EvaluationReport:
    """
    Attributes:
        protocol: "citypersons" | "crowdhuman" | "caltech".
        metrics: {key: fraction or None}; keys = setup names, or AP / mMR / Recall / JI.
        details: JSON-friendly per-key details and settings (mode, refs, counts, per-point MRs).
        curves: {subset name: (fppi (N,), miss_rate (N,))}.
        results: the protocol's raw result objects (per-detection status, for error analysis).
    """

    protocol: str
    metrics: dict
    details: dict
    curves: dict = field(repr=False)
    results: Any = field(repr=False)

    def to_json(self) -> dict:
        """Flat fractions plus a ``details`` object (the ``--out`` file); undefined (NaN / inf) values are None."""
        return json_safe({**self.metrics, "details": self.details})

    def percent(self) -> OrderedDict:
        """Detectron2 convention: {protocol: {key: percent}}; undefined values become NaN."""
        return OrderedDict(
            [(self.protocol, {k: (math.nan if v is None else 100.0 * v) for k, v in self.metrics.items()})]
        )

    def log_average_for_legend(self) -> dict:
        """{curve name: MR^-2 fraction or None} (for plot legends)."""
        if self.protocol == "crowdhuman":
            return {"all": self.metrics["mMR"]}
        return dict(self.metrics)

    def format_table(self, markdown: bool = False) -> str:
        """The table the command prints (``markdown=True``: a GitHub table for the evaluator's output dir)."""
        undefined = "\u2014" if markdown else "undefined"
        if self.protocol == "crowdhuman":
            head = ["AP", "mMR", "Recall", "JI", "images", "GT", "ignore", "dets"]
            d = self.details
            rows = [[_pct(self.metrics[k], undefined) for k in CROWDHUMAN_KEYS]
                    + [str(d["num_images"]), str(d["num_gt"]), str(d["num_ignore_gt"]), str(d["num_dets"])]]
            title = f"crowdhuman ({d['box_mode']} box), percent; lower mMR is better"
        else:
            head = ["setup", "MR^-2", "height", "visibility", "GT", "ignore", "dets"]
            rows = []
            for name, v in self.metrics.items():
                d = self.details["setups"][name]
                rows.append([name, _pct(v, undefined), _rng(d["height"]), _rng(d["visibility"]), str(d["num_gt"]),
                             str(d["num_ignore_gt"]), str(d["num_dets"])])
            title = f"{self.protocol} MR^-2 (percent, mode: {self.details['mode']}); lower is better"
        return _table(title, head, rows, markdown)


def json_safe(obj):
    """``obj`` with every non-finite float (NaN: an undefined metric) replaced by None, numpy scalars as Python's."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    return obj


def _pct(v, undefined: str = "undefined") -> str:
    return undefined if v is None else f"{100.0 * v:.2f}"


def _rng(r) -> str:
    lo, hi = r

    def f(x):
        return "inf" if x is None or x >= 1e10 else "-inf" if x <= -1e10 else f"{x:g}"

    return f"[{f(lo)}, {f(hi)}]"


def _table(title: str, head: list, rows: list, markdown: bool) -> str:
    if markdown:
        # a '|' in a cell (a user-defined setup named "a|b") would end the cell and shift the row: GitHub's escape
        lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    lines = [title, fmt.format(*head)] + [fmt.format(*r) for r in rows]
    return "\n".join(lines) + "\n"


def _clamp(x: float) -> float:
    """A subset bound for the report: +-inf (the official script's 1e10) as +-1e10."""
    return max(-1e10, min(x, 1e10))


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def read_inputs(protocol: str, gt_path: str, dt_path: str, box_mode: str = "full") -> tuple:
    """
    Read (GroundTruthSet, DetectionSet) from the files of a protocol (see the command's --help). Every
    EvalInputError names the file it comes from. GT boxes that no detection can match (zero size, entirely outside
    the image) are dropped with a counted warning, as pedet's data loaders drop them (io.drop_unmatchable_gt).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    with _naming(gt_path):
        if protocol == "crowdhuman":
            gt = read_crowdhuman_gt(gt_path, box_key="vbox" if box_mode == "visible" else "fbox")
        elif protocol == "citypersons":
            gt = read_coco_gt(gt_path)
        else:
            gt = read_coco_gt(gt_path, category_id=None, missing_vis="zeros", require_labels=True)
    with _naming(dt_path):
        if protocol == "crowdhuman":
            dt = read_crowdhuman_dt(dt_path, gt)  # may fill in the GT's image sizes
            _require_crowdhuman_sizes(gt, gt_path, dt_path)
        else:
            dt = read_coco_results(dt_path, gt, category_id=1 if protocol == "citypersons" else None)
    return drop_unmatchable_gt(gt, gt_path), dt  # boxes only drop: the detections' image index stays valid


def _require_crowdhuman_sizes(gt, gt_path: str, dt_path: str) -> None:
    """
    Every image has a width / height from one of the two files (the protocol clips boxes to the image). Checked
    here, where both files are known: evaluate_crowdhuman's own check can name neither (CrowdHuman's
    annotation_*.odgt and the synthetic set's have no size; the toolkit reads it from the detection lines).
    """
    missing = np.isnan(gt.image_width) | np.isnan(gt.image_height)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise EvalInputError(
            f"{dt_path}: image {gt.image_ids[i]!r} has no width / height here nor in {gt_path} "
            f"({int(missing.sum())} of {gt.num_images} image(s) without); the CrowdHuman protocol clips boxes to "
            "the image: give 'width' and 'height' in the detection lines (as pedet's predictions.odgt does)"
        )


@contextmanager
def _naming(path: str):
    """Prefix an EvalInputError that does not name ``path`` with it."""
    try:
        yield
    except EvalInputError as e:
        if str(e).startswith(path):
            raise
        raise EvalInputError(f"{path}: {e}") from None


def _check_evaluate_arguments(gt, dt, setups, mode, box_mode, resize_dets, compute_ji):
    """
    The arguments of `evaluate` checked before any work (as MissRateEvaluator checks its own), returning `setups`
    as a list. Before: resize_dets="no" or compute_ji="no" silently meant the opposite (a truthy string), a
    box_mode such as "head" was written into the report as the box evaluated, a generator of setups was used up by
    the evaluation so that the report's per-subset details came out empty, a single string was read as the subsets
    "R", "e", ..., and swapped or missing gt / dt were an AttributeError from deep inside.
    """
    for key, value, cls in (("gt", gt, GroundTruthSet), ("dt", dt, DetectionSet)):
        if not isinstance(value, cls):
            raise TypeError(f"evaluate: {key} must be a {cls.__name__} (pedet.evaluation.read_inputs or the io "
                            f"readers), got {type(value).__name__}")
    for key, value in (("resize_dets", resize_dets), ("compute_ji", compute_ji)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"evaluate: {key} must be True or False, got {value!r}")
    if mode not in ("official", "matlab"):
        raise ValueError(f"evaluate: mode must be 'official' or 'matlab', got {mode!r}")
    if box_mode not in ("full", "visible"):
        raise ValueError(f"evaluate: box_mode must be 'full' or 'visible', got {box_mode!r}")
    if setups is None:
        return None
    if isinstance(setups, (str, bytes, dict)) or not isinstance(setups, Iterable):
        raise ValueError(f"evaluate: setups must be a list of subset names or Setups, got {type(setups).__name__} "
                         f"{setups!r:.80}")
    setups = list(setups)
    bad = [s for s in setups if not isinstance(s, (str, Setup))]
    if bad:  # None: an AttributeError ('split') from the setup parser
        raise ValueError(f"evaluate: setups must hold subset names (str) or Setups, got {type(bad[0]).__name__} "
                         f"{bad[0]!r:.80}")
    return setups


def evaluate(
    protocol: str,
    gt: GroundTruthSet,
    dt: DetectionSet,
    *,
    setups=None,
    mode: str = "official",
    box_mode: str = "full",
    resize_dets: bool = True,
    compute_ji: bool = True,
) -> EvaluationReport:
    """
    Args:
        protocol: one of PROTOCOLS.
        setups: CityPersons / Caltech subsets (names or "NAME:HMIN:HMAX:VMIN:VMAX"); None = the protocol default
            (all seven for CityPersons; Reasonable, All, Heavy for Caltech).
        mode: CityPersons "official" | "matlab".  box_mode: CrowdHuman "full" | "visible" (recorded; the GT
            boxes must have been read accordingly).  resize_dets: Caltech detection squarify.
        compute_ji: CrowdHuman JI on/off.
    Raises:
        TypeError / ValueError before any work for an argument it would misread (see _check_evaluate_arguments).
    """
    setups = _check_evaluate_arguments(gt, dt, setups, mode, box_mode, resize_dets, compute_ji)
    if protocol == "crowdhuman":
        from .crowdhuman import evaluate_crowdhuman

        r = evaluate_crowdhuman(gt, dt, box_mode=box_mode, compute_ji=compute_ji)
        metrics = {k: _num(v) for k, v in r.metrics().items()}
        details = {"protocol": protocol, **r.details(), "mr_rule": "first position with FPPI >= ref",
                   "matching": "IoU > 0.5 (regular), IoA > 0.5 (ignore), boxes clipped to the image"}
        return EvaluationReport(protocol, metrics, details, {"all": (r.fppi, r.miss_rate)}, r)
    if protocol == "citypersons":
        from .citypersons import DEFAULT_SETUPS, evaluate_citypersons

        res = evaluate_citypersons(gt, dt, setups=DEFAULT_SETUPS if setups is None else setups, mode=mode)
        rule = ("final recall where no detection has FPPI <= ref (official script)" if mode == "official"
                else "recall 0 where no detection has FPPI <= ref (MATLAB toolbox)")
        extra = {"mode": mode, "mr_rule": rule, "max_dets": 1000, "matching": "IoU/IoA >= 0.5"}
        from .citypersons import CITYPERSONS_SETUPS, parse_setup

        setup_objs = [parse_setup(s, CITYPERSONS_SETUPS) if isinstance(s, str) else s
                      for s in (DEFAULT_SETUPS if setups is None else setups)]
    elif protocol == "caltech":
        from .caltech import CALTECH_SETUPS, DEFAULT_CALTECH_SETUPS, evaluate_caltech
        from .citypersons import parse_setup

        chosen = DEFAULT_CALTECH_SETUPS if setups is None else setups
        res = evaluate_caltech(gt, dt, setups=chosen, resize_dets=resize_dets)
        extra = {"mode": "matlab", "mr_rule": "recall 0 where no detection has FPPI <= ref (dbEval/bbGt)",
                 "resize_dets": resize_dets, "matching": "IoU/IoA >= 0.5", "aspect_ratio": 0.41,
                 "border": [5, 5, 635, 475]}
        setup_objs = [parse_setup(s, CALTECH_SETUPS, inf=math.inf) if isinstance(s, str) else s for s in chosen]
    else:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    metrics = {name: _num(r.mr) for name, r in res.items()}
    per_setup = {}
    for s in setup_objs:
        d = res[s.name].details()
        d["mr_at_fppi"] = [_num(v) for v in d["mr_at_fppi"]]
        d["height"] = [_num(_clamp(s.height[0])), _num(_clamp(s.height[1]))]
        d["visibility"] = [_num(_clamp(s.visibility[0])), _num(_clamp(s.visibility[1]))]
        per_setup[s.name] = d
    details = {"protocol": protocol, **extra, "setups": per_setup}
    curves = {name: (r.fppi, r.miss_rate) for name, r in res.items()}
    return EvaluationReport(protocol, metrics, details, curves, res)
