"""
Matching and miss-rate core shared by the CityPersons, CrowdHuman and Caltech protocols (pure numpy).

It implements, vectorised over a whole data set, the rules that docs/evaluation_protocols.md describes for the reference
evaluators (CityPersons ``eval_MR_multisetup.py``, Caltech ``bbGt.m``/``dbEval.m``, CrowdDet ``APMRToolkits``):
per-image candidate pairs from one IoU / IoA matrix per image, greedy score-ordered matching, accumulation in
global score order, miss rate at the 9 FPPI reference points and its log-average (MR^-2), CrowdHuman's AP.

Shape shorthand:  I = images,  G = ground-truth boxes of all images,  D = detections of all images,
P = candidate (detection, ground truth) pairs of all images,  R = 9 FPPI reference points.
Global indices: a detection / GT is addressed by its row in the flat (D,) / (G,) arrays (CSR by image, see io.py).
Within an image detections are in descending score order, so a smaller global index means an earlier detection.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "FPPI_REFS",
    "FPPI_REFS_MATLAB",
    "xywh_to_xyxy",
    "clip_xyxy",
    "overlaps_bbgt",
    "overlaps_crowdhuman",
    "candidate_pairs",
    "greedy_match",
    "recall_at_fppi_last_le",
    "mr_at_fppi_first_ge",
    "log_average",
    "trapezoid_ap",
]

# 10^linspace(-2, 0, 9) rounded to 4 digits, as the CityPersons script (CP:452) and CrowdDet (CDdb:68) write them.
FPPI_REFS = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000])
# The Caltech toolbox's exact samples 10.^(-2:.25:0) (dbEval).
FPPI_REFS_MATLAB = 10.0 ** np.linspace(-2.0, 0.0, 9)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) XYWH -> (N, 4) XYXY, computing x2 = x + w as every reference does."""
    out = boxes.copy()
    out[:, 2] += boxes[:, 0]
    out[:, 3] += boxes[:, 1]
    return out


def clip_xyxy(boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """
    CrowdHuman clipping (CrowdDet image.py ``_clip_boundary``): x1 -> [0, W-1], y1 -> [0, H-1], x2 -> [0, W],
    y2 -> [0, H]. ``width``/``height`` are (N,) per box.
    """
    out = np.empty_like(boxes)
    out[:, 0] = np.minimum(np.maximum(boxes[:, 0], 0), width - 1)
    out[:, 1] = np.minimum(np.maximum(boxes[:, 1], 0), height - 1)
    out[:, 2] = np.maximum(np.minimum(boxes[:, 2], width), 0)
    out[:, 3] = np.maximum(np.minimum(boxes[:, 3], height), 0)
    return out


def overlaps_bbgt(dets: np.ndarray, gts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    IoU and IoA of one image with the arithmetic of bbGt ``compOas`` / CityPersons ``iou()`` (no epsilon;
    corners x + w, areas w * h straight from the XYWH numbers, so the floats equal the references').

    Args:
        dets: (d, 4) XYWH.  gts: (g, 4) XYWH.
    Returns:
        iou, ioa: (d, g) float64; ioa = intersection / detection area. Pairs that do not overlap are 0.
    """
    dx1, dy1, dw, dh = dets[:, 0:1], dets[:, 1:2], dets[:, 2:3], dets[:, 3:4]
    gx1, gy1, gw, gh = gts[:, 0], gts[:, 1], gts[:, 2], gts[:, 3]
    iw = np.minimum(dx1 + dw, gx1 + gw) - np.maximum(dx1, gx1)
    ih = np.minimum(dy1 + dh, gy1 + gh) - np.maximum(dy1, gy1)
    hit = (iw > 0) & (ih > 0)
    # over: a box beyond the float range (the loaders read a 1e308 px wide box) has an infinite area; its IoU is
    # then 0 or NaN (never a match) without numpy's "overflow encountered in multiply" on the console
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inter = np.where(hit, iw * ih, 0.0)
        d_area = dw * dh
        iou = np.where(hit, inter / (d_area + gw * gh - inter), 0.0)
        ioa = np.where(hit, inter / d_area, 0.0)
    return iou, ioa


def overlaps_crowdhuman(dets: np.ndarray, gts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    IoU and IoA of one image with CrowdDet's arithmetic (``box_overlap_opr``, CDimg:177-179): +1e-6 in the
    denominators, areas from the (clipped) XYXY corners.

    Args:
        dets: (d, 4) XYXY.  gts: (g, 4) XYXY.
    Returns:
        iou, ioa: (d, g) float64; ioa = intersection / (detection area + 1e-6).
    """
    iw = np.minimum(dets[:, None, 2], gts[None, :, 2]) - np.maximum(dets[:, None, 0], gts[None, :, 0])
    ih = np.minimum(dets[:, None, 3], gts[None, :, 3]) - np.maximum(dets[:, None, 1], gts[None, :, 1])
    inter = np.maximum(0.0, iw) * np.maximum(0.0, ih)
    d_area = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    g_area = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1])
    iou = inter / (d_area[:, None] + g_area[None, :] - inter + 1e-6)
    ioa = inter / (d_area[:, None] + 1e-6)
    return iou, ioa


def _corners_and_areas(boxes: np.ndarray, convention: str) -> tuple[np.ndarray, ...]:
    """
    Contiguous x1, y1, x2, y2, area columns with each reference's arithmetic (see overlaps_bbgt / _crowdhuman).
    A finite box near the float limit (a 1e308-px detection) gets an infinite corner or area, hence IoU 0 with every
    box, which is what it has; numpy's overflow warning would only leak into the user's output.
    """
    with np.errstate(over="ignore"):
        if convention == "bbgt":  # XYWH in: corners x + w, area w * h
            x1, y1 = boxes[:, 0].copy(), boxes[:, 1].copy()
            return x1, y1, x1 + boxes[:, 2], y1 + boxes[:, 3], boxes[:, 2] * boxes[:, 3]
        if convention == "crowdhuman":  # clipped XYXY in: area from the corners
            x1, y1, x2, y2 = (boxes[:, k].copy() for k in range(4))
            return x1, y1, x2, y2, (x2 - x1) * (y2 - y1)
    raise ValueError(convention)


def candidate_pairs(
    det_boxes: np.ndarray,
    det_offsets: np.ndarray,
    gt_boxes: np.ndarray,
    gt_offsets: np.ndarray,
    convention: str,
    threshold: float,
    strict: bool,
    det_active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """
    All (detection, GT) pairs of every image whose IoA passes the threshold; IoA >= IoU, so this is a superset
    of the pairs any rule (IoU for regular GTs, IoA for ignore GTs) can accept. One intersection matrix per image;
    IoU is then computed for the selected pairs only, with the same float operations as overlaps_bbgt /
    overlaps_crowdhuman (so the values are bit-identical).

    Args:
        det_boxes: (D, 4), det_offsets: (I + 1,).  gt_boxes: (G, 4), gt_offsets: (I + 1,).
        convention: "bbgt" (XYWH boxes, CityPersons / Caltech arithmetic) or "crowdhuman" (clipped XYXY, +1e-6).
        threshold, strict: keep IoA >= threshold (strict=False) or IoA > threshold (strict=True).
        det_active: optional (D,) bool; inactive detections get no pairs (e.g. beyond a top-k cap).
    Returns:
        pair_det (P,) int64, pair_gt (P,) int64 (global indices), pair_iou (P,), pair_ioa (P,) float64.
    """
    with np.errstate(over="ignore"):  # boxes near the float limit: see _corners_and_areas
        return _candidate_pairs(det_boxes, det_offsets, gt_boxes, gt_offsets, convention, threshold, strict,
                                det_active)


def _candidate_pairs(det_boxes, det_offsets, gt_boxes, gt_offsets, convention, threshold, strict, det_active):
    eps = 1e-6 if convention == "crowdhuman" else 0.0
    dx1, dy1, dx2, dy2, da = _corners_and_areas(det_boxes, convention)
    gx1, gy1, gx2, gy2, ga = _corners_and_areas(gt_boxes, convention)
    da_eps = da + eps  # IoA denominator (CrowdDet: det area + 1e-6; bbGt: det area)
    out_d, out_g, out_inter = [], [], []
    n_img = det_offsets.shape[0] - 1
    d_lo, d_hi = det_offsets[:-1].tolist(), det_offsets[1:].tolist()
    g_lo, g_hi = gt_offsets[:-1].tolist(), gt_offsets[1:].tolist()
    if det_active is not None:  # active detections are a prefix of each image's (top-k)
        img_of_det = np.repeat(np.arange(n_img), np.diff(det_offsets))
        d_hi = (det_offsets[:-1] + np.bincount(img_of_det[det_active], minlength=n_img)).tolist()
    for i in range(n_img):
        d0, d1, g0, g1 = d_lo[i], d_hi[i], g_lo[i], g_hi[i]
        if d0 == d1 or g0 == g1:
            continue
        iw = np.minimum(dx2[d0:d1, None], gx2[None, g0:g1]) - np.maximum(dx1[d0:d1, None], gx1[None, g0:g1])
        ih = np.minimum(dy2[d0:d1, None], gy2[None, g0:g1]) - np.maximum(dy1[d0:d1, None], gy1[None, g0:g1])
        if eps:  # CrowdDet: max(0, iw) * max(0, ih)
            inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
            ioa = inter / da_eps[d0:d1, None]
            sel = ioa > threshold if strict else ioa >= threshold
        else:  # bbGt: no overlap unless both sides are positive
            inter = iw * ih
            with np.errstate(divide="ignore", invalid="ignore"):
                ioa = inter / da_eps[d0:d1, None]
            sel = (iw > 0) & (ih > 0) & ((ioa > threshold) if strict else (ioa >= threshold))
        di, gi = np.nonzero(sel)
        if di.size:
            out_d.append(di + d0)
            out_g.append(gi + g0)
            out_inter.append(inter[di, gi])
    if not out_d:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), np.zeros(0), np.zeros(0)
    pd, pg, inter = np.concatenate(out_d), np.concatenate(out_g), np.concatenate(out_inter)
    iou = inter / (da[pd] + ga[pg] - inter + eps) if eps else inter / (da[pd] + ga[pg] - inter)
    return pd, pg, iou, inter / da_eps[pd]


def greedy_match(
    pair_det: np.ndarray, pair_gt: np.ndarray, pair_ovl: np.ndarray, n_det: int, n_gt: int, prefer_later_gt: bool
) -> np.ndarray:
    """
    Score-ordered greedy matching of bbGt ``evalRes`` / CityPersons / CrowdDet ``compare_caltech``: each
    detection, in order, takes the free GT with the largest overlap among its (already thresholded) pairs.

    Ties: ``prefer_later_gt=True`` gives an equal overlap to the later GT (``>=`` scan of CityPersons/bbGt),
    False to the earlier one (``>`` scan of CrowdDet).

    Vectorised over all images in rounds instead of a Python loop over detections (that loop is what makes the
    reference scripts slow). In a round every unresolved detection looks at its best free GT; it is final when no
    earlier unresolved detection of its image still has a pair with that GT (then that GT stays free until the
    detection's turn, and it stays the best of a shrinking set). The earliest unresolved detection of each image
    is always final, so the loop ends; in practice it takes a handful of rounds (the longest chain of conflicts).

    Args:
        pair_det, pair_gt: (P,) global indices (a detection's global index orders it within its image).
        pair_ovl: (P,) overlap used for the choice.
        n_det, n_gt: D and G.
    Returns:
        (D,) int64, the matched GT's global index or -1.
    """
    det_gt = np.full(n_det, -1, dtype=np.int64)
    if pair_det.size == 0:
        return det_gt
    tie = -pair_gt if prefer_later_gt else pair_gt
    order = np.lexsort((tie, -pair_ovl, pair_det))  # per detection: best overlap first, then the tie rule
    pd, pg = pair_det[order], pair_gt[order]
    big = np.iinfo(np.int64).max
    first_claim = np.full(n_gt, big, dtype=np.int64)
    gt_taken = np.zeros(n_gt, dtype=bool)
    det_done = np.zeros(n_det, dtype=bool)
    while pd.size:
        first = np.empty(pd.size, dtype=bool)
        first[0] = True
        np.not_equal(pd[1:], pd[:-1], out=first[1:])
        best_d, best_g = pd[first], pg[first]
        np.minimum.at(first_claim, pg, pd)  # earliest unresolved detection with a pair on each GT
        final = first_claim[best_g] == best_d
        first_claim[pg] = big
        wd, wg = best_d[final], best_g[final]
        det_gt[wd] = wg
        gt_taken[wg] = True
        det_done[wd] = True
        keep = ~(gt_taken[pg] | det_done[pd])
        pd, pg = pd[keep], pg[keep]
    return det_gt


def recall_at_fppi_last_le(fppi: np.ndarray, recall: np.ndarray, refs: np.ndarray, rule: str) -> np.ndarray:
    """
    Recall at each reference FPPI, taken at the LAST detection with FPPI <= ref (CityPersons CP:382-385, bbGt
    ``compRoc``).

    Args:
        fppi, recall: (N,) cumulative curves over the ranked, non-ignored detections.
        refs: (R,) reference FPPIs.
        rule: what to return when no detection has FPPI <= ref: "official" = the final recall (the
            CityPersons script indexes -1: docs/evaluation_protocols.md §1.6), "matlab" = 0 (bbGt prepends (-inf, 0)).
    Returns:
        (R,) recall; all 0 when N == 0 (both references).
    """
    if fppi.size == 0:
        return np.zeros(refs.shape[0])
    idx = np.searchsorted(fppi, refs, side="right") - 1
    if rule == "official":
        return recall[idx]  # idx == -1 -> recall[-1], the final recall
    if rule == "matlab":
        return np.where(idx >= 0, recall[np.maximum(idx, 0)], 0.0)
    raise ValueError(f"unknown rule {rule!r}")


def mr_at_fppi_first_ge(fppi: np.ndarray, mr: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """
    CrowdHuman rule (CrowdDet ``_find_gt``, CDdb:59-63): miss rate at the FIRST detection with FPPI >= ref, or at
    the last detection if FPPI never reaches ref.

    Args:
        fppi, mr: (N,) cumulative curves over the ranked, non-ignored detections.
    Returns:
        (R,) miss rates; all 1 when N == 0 (no detection: nothing is found; CrowdDet would return NaN).
    """
    if fppi.size == 0:
        return np.ones(refs.shape[0])
    idx = np.minimum(np.searchsorted(fppi, refs, side="left"), fppi.size - 1)
    return mr[idx]


def log_average(mrs: np.ndarray) -> float:
    """MR^-2: exp(mean(log(MR_i))); any MR_i == 0 gives exactly 0 (log(0) = -inf, as every reference)."""
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(mrs))))


def trapezoid_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """
    CrowdHuman AP (CrowdDet ``eval_AP``, CDdb:101-141): trapezoids between consecutive (recall, precision) points
    after every ranked detection, starting at the first detection (no (0, 1) anchor, no envelope). Summed left to
    right with np.cumsum so the float result equals the reference's Python loop.
    """
    if recall.size < 2:
        return 0.0
    terms = (recall[1:] - recall[:-1]) * ((precision[:-1] + precision[1:]) / 2)
    return float(np.cumsum(terms)[-1])
