"""
CityPersons miss-rate protocol: the official ``eval_MR_multisetup.py`` (docs/evaluation_protocols.md §1),
vectorised; the setup machinery is shared with the Caltech protocol (caltech.py).

Rules (official mode, all reproduced):
  * GT height and visibility are read from the file's ``height`` / ``vis_ratio``; a GT outside the setup's CLOSED
    ranges, or with ``ignore`` set, becomes an ignore GT (kept, matched by IoA).
  * Detections per image: stable sort by score, keep the top 1000, THEN keep ``h0/1.25 <= h < h1*1.25``.
  * Matching threshold 0.5 with ``>=``; regular GTs by IoU, preferred over ignore GTs, one detection each, equal
    overlaps go to the later GT; ignore GTs by IoA = intersection / detection area, absorbing any number of dets.
  * A TP whose GT has annotation id 0 counts as FP (``dtMatches`` holds the GT id and is used as a boolean).
  * Accumulation over image ids in sorted order, stable sort on -score; FPPI over all images of the GT file;
    recall at the last detection with FPPI <= ref, or the FINAL recall when there is none (index -1 quirk);
    ``matlab`` mode returns recall 0 there instead (bbGt ``compRoc``).
  * MR^-2 = exp(mean(log(1 - recall_r))) over the 9 rounded refs; a setup without regular GT is undefined.

Shape shorthand:  I images, G GT boxes, D detections, P candidate pairs, R = 9 reference points.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .io import DetectionSet, EvalInputWarning, GroundTruthSet
from .mr import (
    FPPI_REFS,
    candidate_pairs,
    greedy_match,
    log_average,
    recall_at_fppi_last_le,
)

__all__ = ["Setup", "CITYPERSONS_SETUPS", "DEFAULT_SETUPS", "parse_setup", "SetupResult", "evaluate_citypersons"]

# The official script writes "inf" as 1e5 ** 2 (CP:459-461); detection upper bound = 1e10 * 1.25.
INF = 1e5**2


@dataclass(frozen=True)
class Setup:
    """A subset: GT height range and visibility range (both ends inclusive under CityPersons)."""

    name: str
    height: tuple[float, float]
    visibility: tuple[float, float]


CITYPERSONS_SETUPS = {
    s.name: s
    for s in (
        Setup("Reasonable", (50, INF), (0.65, INF)),
        Setup("Reasonable_small", (50, 75), (0.65, INF)),
        Setup("Heavy", (50, INF), (0.2, 0.65)),  # official label "Reasonable_occ=heavy"
        Setup("All", (20, INF), (0.2, INF)),
        Setup("R+HO", (50, INF), (0.2, INF)),  # Pedestron eval_mr.py ranges
        Setup("Bare", (50, INF), (0.9, INF)),
        Setup("Partial", (50, INF), (0.65, 0.9)),
    )
}
DEFAULT_SETUPS = tuple(CITYPERSONS_SETUPS)


_SETUP_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf(inity)?", re.IGNORECASE | re.ASCII)


def parse_setup(text: str, known: dict | None = None, inf: float = INF) -> Setup:
    """
    A setup name ("Reasonable", ...) or a user-defined "NAME:HMIN:HMAX:VMIN:VMAX" (plain decimals; "inf" and "-inf"
    allowed, read as +-``inf``: the official script's 1e10 here, ``math.inf`` for Caltech, whose not-occluded objects
    have visibility inf and would fall outside a bound of 1e10).
    """
    known = CITYPERSONS_SETUPS if known is None else known
    if text in known:
        return known[text]
    parts = text.split(":")
    if len(parts) != 5:
        raise ValueError(f"unknown setup {text!r}: use one of {sorted(known)} or NAME:HMIN:HMAX:VMIN:VMAX")

    def num(s: str) -> float:
        # float() alone would also read "nan", "1_0" (as 10) and digits of other scripts
        if not _SETUP_NUMBER.fullmatch(s.strip()):
            raise ValueError(f"setup {text!r}: {s!r} is not a number (NAME:HMIN:HMAX:VMIN:VMAX)")
        v = float(s)
        return math.copysign(inf, v) if math.isinf(v) else v  # "-inf" stays a lower bound below every value

    name, h0, h1, v0, v1 = parts[0], *map(num, parts[1:])
    if not name or name in known:  # a custom range under a built-in name would be reported as that subset
        raise ValueError(f"setup {text!r}: give the custom subset a name of its own "
                         + (f"(not the built-in {name!r})" if name else "(NAME:HMIN:HMAX:VMIN:VMAX)"))
    if not (h0 <= h1 and v0 <= v1):
        raise ValueError(f"setup {text!r}: empty range")
    if v0 > 1 or v1 < 0 or h1 < 0:  # no box has such a visible fraction or height: MR "undefined" without a word
        raise ValueError(f"setup {text!r}: no box can fall in it (heights are >= 0 pixels, visible fractions in "
                         "[0, 1], e.g. 0.65 rather than 65)")
    return Setup(name, (h0, h1), (v0, v1))


def check_unique_names(setups: list) -> None:
    """ValueError if two subsets share a name (the second would silently replace the first in the results)."""
    names = [s.name for s in setups]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"setups: the name {dup[0]!r} is given twice; each subset needs its own name")


@dataclass
class SetupResult:
    """
    Result of one subset.

    Attributes:
        mr: MR^-2 as a fraction, or None when the subset has no regular GT (undefined).
        mrs: (R,) miss rate at each reference FPPI.  refs: (R,) the reference FPPIs.
        fppi, miss_rate: (N,) the curve over the ranked, non-ignored detections.
        scores: (N,) their scores (for picking an operating point).
        num_images, num_gt, num_ignore_gt, num_dets, num_tp, num_fp: counts (dets after filters, not ignored).
        det_gt: (D,) matched GT index or -1;  det_status: (D,) int8 1 TP, 0 FP, -1 ignored, -2 filtered out.
        gt_regular: (G,) bool, the regular GTs of this subset.
    """

    name: str
    mr: float | None
    mrs: np.ndarray
    refs: np.ndarray
    fppi: np.ndarray
    miss_rate: np.ndarray
    scores: np.ndarray
    num_images: int
    num_gt: int
    num_ignore_gt: int
    num_dets: int
    num_tp: int
    num_fp: int
    det_gt: np.ndarray = field(repr=False)
    det_status: np.ndarray = field(repr=False)
    gt_regular: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)  # (N,) global det indices of the curve, in rank order

    def details(self) -> dict:
        """JSON-friendly summary (no per-detection arrays)."""
        return {
            "mr": self.mr,
            "mr_at_fppi": [float(v) for v in self.mrs],
            "fppi_refs": [float(v) for v in self.refs],
            "num_images": self.num_images,
            "num_gt": self.num_gt,
            "num_ignore_gt": self.num_ignore_gt,
            "num_dets": self.num_dets,
            "num_tp": self.num_tp,
            "num_fp": self.num_fp,
        }


def global_rank_order(scores: np.ndarray, image_of_det: np.ndarray, image_rank: np.ndarray) -> np.ndarray:
    """
    (D,) permutation: descending score, ties by image rank, then by position within the image (stable sorts of
    CP:345-353 / CDdb:50 / bbGt compRoc, which concatenate images in order and mergesort on -score).
    """
    local = np.arange(scores.shape[0])  # within an image, global index order == within-image rank
    return np.lexsort((local, image_rank[image_of_det], -scores))


def accumulate_setup(
    name: str,
    det_gt: np.ndarray,
    det_status: np.ndarray,
    order: np.ndarray,
    scores: np.ndarray,
    gt_regular: np.ndarray,
    num_images: int,
    refs: np.ndarray,
    rule: str,
) -> SetupResult:
    """
    Curves and MR^-2 of one subset from the per-detection status (1 TP, 0 FP, -1 ignored, -2 filtered).

    Args:
        order: (D,) global rank order of all detections.  rule: "official" | "matlab" (see mr.py).
    """
    ranked = order[det_status[order] >= 0]
    tp = det_status[ranked] == 1
    ctp = np.cumsum(tp).astype(np.float64)
    cfp = np.cumsum(~tp).astype(np.float64)
    npig = int(np.count_nonzero(gt_regular))
    fppi = cfp / num_images
    if npig == 0:
        mr, mrs, miss = None, np.full(refs.shape[0], np.nan), np.full(ctp.shape[0], np.nan)
    else:
        recall = ctp / npig
        mrs = 1 - recall_at_fppi_last_le(fppi, recall, refs, rule)
        mr, miss = log_average(mrs), 1 - recall
    n_tp = int(ctp[-1]) if ctp.size else 0
    return SetupResult(
        name, mr, mrs, refs, fppi, miss, scores[ranked], num_images, npig,
        int(gt_regular.shape[0] - npig), int(ranked.shape[0]), n_tp, int(ranked.shape[0] - n_tp),
        det_gt, det_status, gt_regular, ranked,
    )


def match_subset(
    reg_pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    ign_pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    gt_regular: np.ndarray,
    det_keep: np.ndarray,
    threshold: float,
    prefer_later_gt: bool = True,
    strict: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    bbGt / CityPersons matching of one subset from precomputed candidate pairs.

    Args:
        reg_pairs: (pair_det, pair_gt, pair_iou) candidates for regular GTs.
        ign_pairs: (pair_det, pair_gt, pair_ioa) candidates for ignore GTs.
        gt_regular: (G,) bool.  det_keep: (D,) bool, detections that take part (others are "filtered", -2).
        threshold / strict: accept overlap >= threshold (strict=False) or > threshold.
    Returns:
        det_gt (D,) int64 matched regular GT or -1;  det_status (D,) int8: 1 TP, 0 FP, -1 ignored, -2 filtered;
        on_ignore (D,) bool: the detection passes the overlap test with some ignore GT (matched or not).
    """
    n_det, n_gt = det_keep.shape[0], gt_regular.shape[0]
    pd, pg, po = reg_pairs
    ok = det_keep[pd] & gt_regular[pg] & ((po > threshold) if strict else (po >= threshold))
    det_gt = greedy_match(pd[ok], pg[ok], po[ok], n_det, n_gt, prefer_later_gt)
    qd, qg, qo = ign_pairs
    ok = det_keep[qd] & ~gt_regular[qg] & ((qo > threshold) if strict else (qo >= threshold))
    on_ignore = np.zeros(n_det, dtype=bool)
    on_ignore[qd[ok]] = True
    status = np.full(n_det, -2, dtype=np.int8)
    status[det_keep] = 0
    status[det_keep & on_ignore] = -1  # only unmatched dets reach the ignore GTs (regular match preferred)
    status[det_gt >= 0] = 1
    return det_gt, status, on_ignore


def evaluate_citypersons(
    gt: GroundTruthSet,
    dt: DetectionSet,
    setups=DEFAULT_SETUPS,
    mode: str = "official",
    max_dets: int = 1000,
    iou_threshold: float = 0.5,
    exp_filter: float = 1.25,
) -> dict[str, SetupResult]:
    """
    Evaluate all requested CityPersons setups, sharing the per-image overlaps between them.

    Args:
        setups: names from CITYPERSONS_SETUPS, "NAME:HMIN:HMAX:VMIN:VMAX" strings or Setup objects.
        mode: "official" (eval_MR_multisetup.py, final-recall quirk) or "matlab" (recall 0 rule).
    Returns:
        {setup name: SetupResult}, in the order given.
    """
    if mode not in ("official", "matlab"):
        raise ValueError(f"mode must be 'official' or 'matlab', got {mode!r}")
    setups = [s if isinstance(s, Setup) else parse_setup(s) for s in setups]
    check_unique_names(setups)
    n_zero = int((~gt.ignore & (gt.ann_ids == 0)).sum())
    if mode == "official" and n_zero:
        warnings.warn(f"{n_zero} regular ground-truth box(es) have annotation id 0; the official script reads a match "
                      "to id 0 as no match, so detections of them count as false positives (ids start at 1 in "
                      "val_gt.json; --mode matlab has no such rule)", EvalInputWarning, stacklevel=2)
    n_det = dt.num_dets
    img_of_det = dt.image_of_det()
    local_rank = np.arange(n_det) - dt.offsets[img_of_det]
    capped = local_rank < max_dets  # truncation happens before the height filter (CP:233-235)
    pd, pg, piou, pioa = candidate_pairs(
        dt.boxes, dt.offsets, gt.boxes, gt.offsets, "bbgt", iou_threshold, strict=False, det_active=capped
    )
    # The script evaluates images in sorted-id order (p.imgIds = np.unique(...)).
    image_rank = np.empty(gt.num_images, dtype=np.int64)
    # Ids mixing integers and strings (1 and "1"), which the script cannot sort: integers first, then strings.
    image_rank[sorted(range(gt.num_images), key=lambda i: (isinstance(gt.image_ids[i], str), gt.image_ids[i]))] = \
        np.arange(gt.num_images)
    order = global_rank_order(dt.scores, img_of_det, image_rank)
    det_h = dt.boxes[:, 3]
    zero_id = gt.ann_ids == 0
    results = {}
    for s in setups:
        (h0, h1), (v0, v1) = s.height, s.visibility
        regular = (~gt.ignore) & (gt.heights >= h0) & (gt.heights <= h1) & (gt.vis_ratios >= v0)
        regular &= gt.vis_ratios <= v1
        keep = capped & (det_h >= h0 / exp_filter) & (det_h < h1 * exp_filter)
        det_gt, status, _ = match_subset((pd, pg, piou), (pd, pg, pioa), regular, keep, iou_threshold)
        if mode == "official" and zero_id.any():
            status[(det_gt >= 0) & zero_id[np.maximum(det_gt, 0)]] = 0  # id 0 read as "no match" (CP:358)
        results[s.name] = accumulate_setup(
            s.name, det_gt, status, order, dt.scores, regular, gt.num_images, FPPI_REFS, mode
        )
    return results
