"""
Caltech protocol: the Dollar toolbox rules (``dbEval.m`` v3.2.1 ``loadGt``/``filterGtFun`` + ``bbGt.m`` ``evalRes`` /
``compRoc``, docs/evaluation_protocols.md §1.9), vectorised on the same machinery as CityPersons.

Rules:
  * Labels: "person", "person?", "people" and "ignore" are loaded (dbEval ``loadGt``'s ``lbls``); any other label,
    "person-fa" of the old annotations included, is dropped (a detection on it is a false positive). Only "person"
    can be a regular GT; every other loaded box is an ignore region.
  * A "person" is regular iff ``h >= h0 & h < h1`` (half-open), visibility ``v0 <= vf <= v1`` with
    vf = area(vis) / area(full), or inf when the visible box is all zeros (not occluded), and the box lies inside
    the border [5, 5, 635, 475] (x >= 5, x + w <= 635, y >= 5, y + h <= 475). Otherwise it is an ignore GT.
  * Regular GTs are resized to aspect ratio w/h = 0.41 about their centre, keeping the height; ignore GTs keep
    their box. Detections are resized the same way (toolbox v3.2.1 ``loadDt``; ``resize_dets=False`` gives the
    Pedestron/CSP copies, which comment that line out).
  * Detections kept if ``h0/1.25 <= h < h1*1.25``; no cap on their number.
  * Matching as bbGt ``evalRes``: >= 0.5, IoU for regular GTs, IoA for ignore GTs, regular preferred, equal overlaps
    to the later GT. ``compRoc``: images in file order, stable sort on -score, FPPI over all images, recall at the
    last detection with FPPI <= ref, 0 if none; refs exactly 10.^(-2:.25:0); MR^-2 = exp(mean(log(1 - recall))).

Shape shorthand:  I images, G GT boxes, D detections.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from .citypersons import (
    Setup,
    SetupResult,
    accumulate_setup,
    check_unique_names,
    global_rank_order,
    match_subset,
    parse_setup,
)
from .io import DetectionSet, EvalInputError, EvalInputWarning, GroundTruthSet
from .mr import FPPI_REFS_MATLAB, candidate_pairs

__all__ = ["CALTECH_SETUPS", "DEFAULT_CALTECH_SETUPS", "CALTECH_LABELS", "evaluate_caltech", "squarify"]

INF = math.inf
CALTECH_SETUPS = {
    s.name: s
    for s in (
        Setup("Reasonable", (50, INF), (0.65, INF)),
        Setup("Reasonable_small", (50, 75), (0.65, INF)),
        Setup("Heavy", (50, INF), (0.2, 0.65)),
        Setup("All", (20, INF), (0.2, INF)),
        Setup("R+HO", (50, INF), (0.2, INF)),
        Setup("Bare", (50, INF), (0.9, INF)),
        Setup("Partial", (50, INF), (0.65, 0.9)),
    )
}
DEFAULT_CALTECH_SETUPS = ("Reasonable", "All", "Heavy")
CALTECH_LABELS = ("person", "person?", "people", "ignore")  # dbEval v3.2.1 loadGt: no "person-fa"
BORDER = (5.0, 5.0, 635.0, 475.0)
ASPECT = 0.41


def squarify(boxes: np.ndarray, aspect: float = ASPECT) -> np.ndarray:
    """
    bbApply('resize', bb, 1, 0, aspect): width := aspect * height about the box centre, height unchanged.

    Args:
        boxes: (N, 4) XYWH.
    Returns:
        (N, 4) XYWH; x computed as (x + w / 2) - (h * aspect) / 2, the toolbox's order of operations.
    """
    out = boxes.copy()
    new_w = boxes[:, 3] * aspect
    out[:, 0] = (boxes[:, 0] + boxes[:, 2] / 2) - new_w / 2
    out[:, 2] = new_w
    return out


def caltech_visibility(gt: GroundTruthSet) -> np.ndarray:
    """(G,) vf of filterGtFun: inf when the visible box is all zeros, else area(vis) / area(full)."""
    vis, full = gt.vis_boxes, gt.boxes
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over: a 1e308 px box, inf / inf as in MATLAB
        vf = vis[:, 2] * vis[:, 3] / (full[:, 2] * full[:, 3])
    return np.where((vis == 0).all(axis=1), np.inf, vf)


def visible_boxes_as_in_bbgt(gt: GroundTruthSet) -> GroundTruthSet:
    """
    Ground truth from pedet's Caltech records (``pedet.data.caltech``) with the visible boxes of the bbGt files: the
    loader stores a not-occluded object (and an occluded one whose visible box is all zeros) with its full box as
    ``vis_bbox`` and ``vis_ratio`` 1, where the file, ``caltech2coco`` and so the command have [0, 0, 0, 0], which
    ``filterGtFun`` reads as vf = inf. Read as 1, such an object fell in a user setup with a finite upper visibility
    of 1 or more (e.g. the toolbox's own "Occ=partial" [0.65, 1]) in ``MissRateEvaluator`` but not in the command.
    An occluded object whose visible box equals its full box (loader visibility 0) keeps it (vf 1, as in the command).
    """
    same = (gt.vis_boxes == gt.boxes).all(axis=1) & (gt.vis_ratios == 1.0)
    if not same.any():
        return gt
    vis = gt.vis_boxes.copy()
    vis[same] = 0.0
    return dataclasses.replace(gt, vis_boxes=vis)


def _loaded_subset(gt: GroundTruthSet) -> GroundTruthSet:
    """The GT without boxes whose label the toolbox does not load."""
    if gt.labels is None:
        return gt
    keep = np.isin(gt.labels, CALTECH_LABELS)
    if keep.all():
        return gt
    other = sorted({str(lab) for lab in gt.labels[~keep]})
    warnings.warn(f"caltech gt: {int((~keep).sum())} box(es) have a label other than {' / '.join(CALTECH_LABELS)} "
                  f"({', '.join(repr(x) for x in other[:5])}); the toolbox does not load them, so they are neither "
                  "persons nor ignore regions", EvalInputWarning, stacklevel=3)
    counts = np.bincount(gt.image_of_box()[keep], minlength=gt.num_images)
    offsets = np.zeros(gt.num_images + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return GroundTruthSet(
        gt.image_ids, gt.image_width, gt.image_height, offsets, gt.boxes[keep], gt.vis_boxes[keep],
        gt.heights[keep], gt.vis_ratios[keep], gt.ignore[keep], gt.ann_ids[keep], gt.labels[keep],
    )


def evaluate_caltech(
    gt: GroundTruthSet,
    dt: DetectionSet,
    setups=DEFAULT_CALTECH_SETUPS,
    resize_dets: bool = True,
    border=BORDER,
    iou_threshold: float = 0.5,
    exp_filter: float = 1.25,
) -> dict[str, SetupResult]:
    """
    Args:
        gt: boxes, vis_boxes (all zeros = not occluded) and ``labels`` (None: ``ignore`` flag -> "ignore", else
            "person").
        setups: names of CALTECH_SETUPS, "NAME:HMIN:HMAX:VMIN:VMAX" strings or Setup objects.
        resize_dets: squarify detections to aspect 0.41 (toolbox v3.2.1) or not (Pedestron/CSP copies).
    Returns:
        {setup name: SetupResult} (mode "matlab": recall 0 where no detection has FPPI <= ref).
    """
    setups = [s if isinstance(s, Setup) else parse_setup(s, CALTECH_SETUPS, inf=INF) for s in setups]
    check_unique_names(setups)
    w, h = gt.image_width, gt.image_height
    odd = (np.isfinite(w) & (w != 640)) | (np.isfinite(h) & (h != 480))
    if tuple(border) == BORDER and odd.any():
        i = int(np.flatnonzero(odd)[0])
        warnings.warn(f"caltech gt: {int(odd.sum())} image(s) are not 640 x 480 (first: {gt.image_ids[i]!r}, "
                      f"{gt.image_width[i]:g} x {gt.image_height[i]:g}); the ignore border {list(BORDER)} is the "
                      "toolbox's, for Caltech's 640 x 480 frames", EvalInputWarning, stacklevel=2)
    gt = _loaded_subset(gt)
    labels = gt.labels if gt.labels is not None else np.where(gt.ignore, "ignore", "person")
    is_person = (labels == "person") & ~gt.ignore
    if not np.isfinite(dt.boxes).all():
        raise EvalInputError("caltech: non-finite detection box")
    det_boxes = squarify(dt.boxes) if resize_dets else dt.boxes
    # Pairs against squarified GTs (used when the GT is regular) and against the original boxes (ignore GTs).
    pd, pg, piou, _ = candidate_pairs(
        det_boxes, dt.offsets, squarify(gt.boxes), gt.offsets, "bbgt", iou_threshold, strict=False
    )
    qd, qg, _, qioa = candidate_pairs(
        det_boxes, dt.offsets, gt.boxes, gt.offsets, "bbgt", iou_threshold, strict=False
    )
    order = global_rank_order(dt.scores, dt.image_of_det(), np.arange(gt.num_images))  # file (frame) order
    h, vf, b = gt.boxes[:, 3], caltech_visibility(gt), gt.boxes
    inside = (b[:, 0] >= border[0]) & (b[:, 0] + b[:, 2] <= border[2])
    inside &= (b[:, 1] >= border[1]) & (b[:, 1] + b[:, 3] <= border[3])
    results = {}
    for s in setups:
        (h0, h1), (v0, v1) = s.height, s.visibility
        regular = is_person & inside & (h >= h0) & (h < h1) & (vf >= v0) & (vf <= v1)
        keep = (det_boxes[:, 3] >= h0 / exp_filter) & (det_boxes[:, 3] < h1 * exp_filter)
        det_gt, status, _ = match_subset((pd, pg, piou), (qd, qg, qioa), regular, keep, iou_threshold)
        results[s.name] = accumulate_setup(
            s.name, det_gt, status, order, dt.scores, regular, gt.num_images, FPPI_REFS_MATLAB, "matlab"
        )
    return results
