"""
Error analysis of "Repulsion Loss: Detecting Pedestrians in a Crowd" (Wang et al., CVPR 2018) §3.2, pure numpy.

At an operating point (a chosen FPPI, or a score threshold) the false positives of a subset are split into
  * background:    IoU < 0.1 with every GT of the image,
  * localization:  IoU >= 0.1 with exactly one GT,
  * crowd:         IoU >= 0.1 with at least two GTs,
where "GT" means the person boxes of the image (not the ignore regions; under CityPersons / Caltech all persons,
whatever the subset's height / visibility range). Missed GTs (regular GTs of the subset without a TP at the
operating point) are counted by occlusion level (visibility bins) and by crowd occlusion (the largest IoU with
another person box of the image), each as misses / GTs per bin.

Shape shorthand:  G GT boxes, D detections, F false positives at the operating point.
"""
from __future__ import annotations

import numpy as np

from .io import DetectionSet, GroundTruthSet
from .mr import overlaps_bbgt

__all__ = ["classify_false_positives", "crowd_occlusion", "analyze", "analyze_report", "format_error_analysis"]

OCCLUSION_BINS = ((0.9, 1.0 + 1e-9, "bare [0.9, 1]"), (0.65, 0.9, "partial [0.65, 0.9)"),
                  (0.2, 0.65, "heavy [0.2, 0.65)"), (0.0, 0.2, "very heavy [0, 0.2)"))
CROWD_BINS = ((0.0, 1e-12, "none (0)"), (1e-12, 0.1, "(0, 0.1)"), (0.1, 0.3, "[0.1, 0.3)"),
              (0.3, 0.5, "[0.3, 0.5)"), (0.5, 1.0 + 1e-9, "[0.5, 1]"))


def classify_false_positives(
    gt: GroundTruthSet, dt: DetectionSet, fp: np.ndarray, person: np.ndarray, low: float = 0.1
) -> dict:
    """
    Args:
        fp: (F,) global indices of false-positive detections.  person: (G,) bool, the GTs to compare with.
        low: the IoU bound (0.1 in the paper).
    Returns:
        {"background", "localization", "crowd"}: counts.
    """
    n_hit = np.zeros(fp.shape[0], dtype=np.int64)
    img = dt.image_of_det()[fp]
    o = np.argsort(img, kind="stable")
    fp_sorted, img_sorted = fp[o], img[o]
    bounds = np.flatnonzero(np.diff(img_sorted)) + 1
    for chunk in np.split(np.arange(fp_sorted.size), bounds):
        if chunk.size == 0:
            continue
        i = int(img_sorted[chunk[0]])
        g0, g1 = int(gt.offsets[i]), int(gt.offsets[i + 1])
        g = np.flatnonzero(person[g0:g1]) + g0
        if g.size:
            iou, _ = overlaps_bbgt(dt.boxes[fp_sorted[chunk]], gt.boxes[g])
            n_hit[o[chunk]] = (iou >= low).sum(axis=1)
    return {"background": int((n_hit == 0).sum()), "localization": int((n_hit == 1).sum()),
            "crowd": int((n_hit >= 2).sum())}


def crowd_occlusion(gt: GroundTruthSet, person: np.ndarray) -> np.ndarray:
    """(G,) largest IoU of each person box with another person box of its image (0 if alone)."""
    out = np.zeros(person.shape[0])
    for i in range(gt.num_images):
        g0, g1 = int(gt.offsets[i]), int(gt.offsets[i + 1])
        g = np.flatnonzero(person[g0:g1]) + g0
        if g.size > 1:
            iou, _ = overlaps_bbgt(gt.boxes[g], gt.boxes[g])
            np.fill_diagonal(iou, 0.0)
            out[g] = iou.max(axis=1)
    return out


def _bins(values: np.ndarray, missed: np.ndarray, bins) -> list:
    rows = []
    for lo, hi, name in bins:
        sel = (values >= lo) & (values < hi)
        n, m = int(sel.sum()), int((sel & missed).sum())
        rows.append({"bin": name, "gt": n, "missed": m, "miss_rate": (m / n) if n else None})
    return rows


def analyze(
    gt: GroundTruthSet,
    dt: DetectionSet,
    ranked: np.ndarray,
    det_status: np.ndarray,
    det_gt: np.ndarray,
    gt_regular: np.ndarray,
    fppi: float | None = 0.1,
    score: float | None = None,
    visibility: np.ndarray | None = None,
) -> dict:
    """
    Args:
        ranked: (N,) global indices of the ranked, non-ignored detections (a result's ``order``).
        det_status: (D,) 1 TP / 0 FP / <0 not counted;  det_gt: (D,) matched GT or -1;  gt_regular: (G,) bool.
        fppi: operating point: the last ranked detection with FPPI <= fppi (the MR rule of CityPersons); or
        score: keep detections with score >= score (used when given).
        visibility: (G,) the visibility the occlusion bins use (default ``gt.vis_ratios``).
    Returns:
        JSON-friendly dict: operating point, FP split, missed GTs by occlusion and crowd occlusion.
    """
    tp = det_status[ranked] == 1
    cfp = np.cumsum(~tp)
    if score is not None:
        cut = int(np.count_nonzero(dt.scores[ranked] >= score))
    else:
        cut = int(np.searchsorted(cfp / gt.num_images, fppi, side="right"))
    top = ranked[:cut]
    fp = top[det_status[top] == 0]
    person = ~gt.ignore
    detected = np.zeros(gt_regular.shape[0], dtype=bool)
    hit = top[det_status[top] == 1]
    detected[det_gt[hit]] = True
    missed = gt_regular & ~detected
    reg = np.flatnonzero(gt_regular)
    occ = crowd_occlusion(gt, person)
    return {
        "operating_point": {"fppi": float(cfp[cut - 1] / gt.num_images) if cut else 0.0,
                            "score": float(dt.scores[top[-1]]) if cut else None, "num_dets": cut},
        "false_positives": classify_false_positives(gt, dt, fp, person),
        "missed_by_occlusion": _bins((gt.vis_ratios if visibility is None else visibility)[reg], missed[reg],
                                     OCCLUSION_BINS),
        "missed_by_crowd_occlusion": _bins(occ[reg], missed[reg], CROWD_BINS),
        "num_regular_gt": int(reg.size),
        "num_missed": int(missed.sum()),
    }


def analyze_report(report, gt: GroundTruthSet, dt: DetectionSet, fppi: float = 0.1, score=None) -> dict:
    """analyze() for every subset of an EvaluationReport: {subset: analysis}."""
    if report.protocol == "crowdhuman":
        r = report.results
        return {"all": analyze(gt, dt, r.order, r.det_status, r.det_gt, r.gt_regular, fppi, score)}
    visibility = None
    if report.protocol == "caltech":
        # the visibility the setups select by (dbEval's: inf for a visible box of zeros, "not occluded"), at most 1.
        # gt.vis_ratios is the file's or the loader's reading: caltech2coco's zeros were read as 0 (every
        # not-occluded pedestrian in "very heavy" from the command), the loader's bbLoad rule gives 0 to an occluded
        # object whose visible box is its full box (that bin from MissRateEvaluator), while both are in every
        # setup's visibility range that includes 1
        from .caltech import caltech_visibility

        visibility = np.minimum(caltech_visibility(gt), 1.0)
    return {name: analyze(gt, dt, r.order, r.det_status, r.det_gt, r.gt_regular, fppi, score, visibility)
            for name, r in report.results.items()}


def format_error_analysis(ea: dict) -> str:
    lines = []
    for name, a in ea.items():
        op, f = a["operating_point"], a["false_positives"]
        n_fp = sum(f.values())
        share = {k: (f"{100.0 * v / n_fp:.1f}%" if n_fp else "—") for k, v in f.items()}  # no FP: undefined
        # no detection kept at this point (none at all, or none ranked: e.g. no regular GT): no score threshold
        cut = f"score >= {op['score']}" if op["score"] is not None else "no detection kept"
        lines.append(f"[{name}] at FPPI {op['fppi']:.3f} ({cut}): {n_fp} FP = "
                     f"background {f['background']} ({share['background']}), localization {f['localization']} "
                     f"({share['localization']}), crowd {f['crowd']} ({share['crowd']}); "
                     f"missed {a['num_missed']} / {a['num_regular_gt']}")
        for key in ("missed_by_occlusion", "missed_by_crowd_occlusion"):
            parts = [f"{r['bin']}: {r['missed']}/{r['gt']}" for r in a[key]]
            lines.append(f"    {key}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"
