"""
CrowdHuman protocol: AP@0.5, mMR, Recall and JI with the semantics of the CrowdHuman toolkit as CrowdDet ships it
(``lib/evaluate/APMRToolkits``, ``compute_JI.py``) and mmdetection ports it (docs/evaluation_protocols.md §2).

Rules:
  * GT boxes: full body ("full" mode, ``fbox``, default) or visible body ("visible" mode, ``vbox``); ignore regions =
    tag != "person" or extra.ignore != 0. GT and detections are clipped to the image (x1 -> [0, W-1],
    y1 -> [0, H-1], x2 -> [0, W], y2 -> [0, H]) before matching. No subsets, size filters, caps or score threshold.
  * Matching: detections by score (stable), regular GTs first; IoU = inter / (union + 1e-6) STRICTLY > 0.5, equal
    IoUs go to the earlier GT; only a detection without a regular match is tested against ignore regions with
    IoA = inter / (det area + 1e-6) > 0.5 and then dropped (neither TP nor FP).
  * mMR: miss rate at the FIRST ranked position with FPPI >= r (or the last position) for the 9 rounded refs,
    geometric mean; AP: trapezoids over the (recall, precision) points after each detection; Recall: final recall.
  * JI (CrowdDet compute_JI.py): for score thresholds t = 0.0, 0.1, ..., 0.9 (dets with score > t), per image a
    MAXIMUM-WEIGHT bipartite matching between dets and regular GTs on edges with IoU > 0.5 (weight = IoU), as
    CrowdDet's Edmonds blossom ``maxWeightMatching`` (not mmdet's maximum-cardinality matching). Unmatched dets
    and unmatched GTs with IoA > 0.5 on an ignore region are removed; JI_img = k / (m + n - k + 1e-6); average
    over images with m + n > 0; JI = max over t.

Shape shorthand:  I images, G GT boxes, D detections, E matching edges (IoU > 0.5), R = 9 reference points.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .io import DetectionSet, EvalInputError, EvalInputWarning, GroundTruthSet
from .mr import (
    FPPI_REFS,
    candidate_pairs,
    clip_xyxy,
    log_average,
    mr_at_fppi_first_ge,
    trapezoid_ap,
    xywh_to_xyxy,
)
from .citypersons import match_subset

__all__ = ["CrowdHumanResult", "evaluate_crowdhuman", "JI_SCORE_THRESHOLDS"]

# CrowdDet compute_JI.py: score_thr = 1e-1 * i for i in range(10) (so 0.30000000000000004 etc.).
JI_SCORE_THRESHOLDS = [1e-1 * i for i in range(10)]


@dataclass
class CrowdHumanResult:
    """
    Attributes:
        AP, mMR, Recall, JI: fractions; None when undefined (no regular GT; JI: no image with m + n > 0).
        mrs: (R,) miss rate at each reference FPPI.  ji_per_threshold: (10,) JI at each score threshold.
        fppi, miss_rate, recall, precision, scores: (N,) curves over the ranked, non-ignored detections.
        det_gt (D,), det_status (D,) int8 1 TP / 0 FP / -1 ignored;  order (N,) ranked global det indices.
    """

    AP: float | None
    mMR: float | None
    Recall: float | None
    JI: float | None
    mrs: np.ndarray
    refs: np.ndarray
    ji_per_threshold: list
    fppi: np.ndarray
    miss_rate: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    scores: np.ndarray
    num_images: int
    num_gt: int
    num_ignore_gt: int
    num_dets: int
    num_tp: int
    num_fp: int
    box_mode: str
    det_gt: np.ndarray = field(repr=False)
    det_status: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)
    gt_regular: np.ndarray = field(repr=False)

    def metrics(self) -> dict:
        return {"AP": self.AP, "mMR": self.mMR, "Recall": self.Recall, "JI": self.JI}

    def details(self) -> dict:
        return {
            "box_mode": self.box_mode,
            "mr_at_fppi": [float(v) for v in self.mrs],
            "fppi_refs": [float(v) for v in self.refs],
            "ji_score_thresholds": [float(t) for t in JI_SCORE_THRESHOLDS],
            "ji_per_threshold": [None if v is None else float(v) for v in self.ji_per_threshold],
            "ji_matching": "maximum-weight bipartite matching (exact: enumeration, subset DP or scipy "
                           "linear_sum_assignment), edges IoU > 0.5",
            "num_images": self.num_images,
            "num_gt": self.num_gt,
            "num_ignore_gt": self.num_ignore_gt,
            "num_dets": self.num_dets,
            "num_tp": self.num_tp,
            "num_fp": self.num_fp,
        }


def clipped_boxes(gt: GroundTruthSet, dt: DetectionSet) -> tuple[np.ndarray, np.ndarray]:
    """(G, 4), (D, 4) XYXY boxes clipped to their image (needs every image's width and height)."""
    missing = np.isnan(gt.image_width) | np.isnan(gt.image_height)
    if missing.any():
        raise EvalInputError(
            f"crowdhuman: image {gt.image_ids[int(np.flatnonzero(missing)[0])]!r} has no width/height "
            "(give them in the GT or the detection odgt)"
        )
    gi, di = gt.image_of_box(), dt.image_of_det()
    g = clip_xyxy(xywh_to_xyxy(gt.boxes), gt.image_width[gi], gt.image_height[gi])
    d = clip_xyxy(xywh_to_xyxy(dt.boxes), gt.image_width[di], gt.image_height[di])
    return g, d


def evaluate_crowdhuman(
    gt: GroundTruthSet, dt: DetectionSet, box_mode: str = "full", compute_ji: bool = True
) -> CrowdHumanResult:
    """
    Args:
        gt: boxes = fbox ("full") or vbox ("visible"); the caller picks them when reading (io.read_crowdhuman_gt).
        box_mode: only recorded in the result ("full" | "visible").
        compute_ji: JI is the slowest metric; False skips it (JI = None).
    """
    g_xyxy, d_xyxy = clipped_boxes(gt, dt)
    n_det, n_gt = dt.num_dets, gt.boxes.shape[0]
    pd, pg, piou, pioa = candidate_pairs(d_xyxy, dt.offsets, g_xyxy, gt.offsets, "crowdhuman", 0.5, True)
    regular = ~gt.ignore
    det_gt, status, on_ignore = match_subset(
        (pd, pg, piou), (pd, pg, pioa), regular, np.ones(n_det, dtype=bool), 0.5, prefer_later_gt=False,
        strict=True,
    )
    order = np.argsort(-dt.scores, kind="stable")  # CSR is in GT-file image order: ties by image, then rank
    ranked = order[status[order] >= 0]
    tp = status[ranked] == 1
    ctp = np.cumsum(tp).astype(np.float64)
    cfp = np.cumsum(~tp).astype(np.float64)
    n_pos = int(np.count_nonzero(regular))
    fppi = cfp / gt.num_images
    precision = ctp / np.maximum(ctp + cfp, 1)
    if n_pos == 0:
        ap = mmr = rec = None
        recall = miss = np.full(ctp.shape[0], np.nan)
        mrs = np.full(FPPI_REFS.shape[0], np.nan)
    else:
        recall = ctp / n_pos
        miss = 1.0 - recall
        mrs = mr_at_fppi_first_ge(fppi, miss, FPPI_REFS)
        mmr = log_average(mrs)
        ap = trapezoid_ap(recall, precision)
        rec = float(recall[-1]) if recall.size else 0.0
    ji, ji_list = (None, [])
    if compute_ji:
        _warn_scores_outside_unit_range(gt, dt)
        edges = (piou > 0.5) & regular[pg]  # CrowdDet compute_matching: IoU > 0.5 with non-ignored GTs
        ji_list = jaccard_index(gt, dt, pd[edges], pg[edges], piou[edges], on_ignore, g_xyxy, regular)
        defined = [v for v in ji_list if v is not None]
        ji = max(defined) if defined else None
    n_tp = int(ctp[-1]) if ctp.size else 0
    return CrowdHumanResult(
        ap, mmr, rec, ji, mrs, FPPI_REFS, ji_list, fppi, miss, recall, precision, dt.scores[ranked],
        gt.num_images, n_pos, int(n_gt - n_pos), int(ranked.shape[0]), n_tp, int(ranked.shape[0] - n_tp),
        box_mode, det_gt, status, ranked, regular,
    )


def _score(value: float) -> str:
    """A score for a message, as short as %g unless that rounds it into or out of [0, 1] (1.0000001 is not "1")."""
    short = f"{value:g}"
    return short if (0 <= float(short) <= 1) == (0 <= value <= 1) else repr(float(value))


def _warn_scores_outside_unit_range(gt: GroundTruthSet, dt: DetectionSet) -> None:
    """
    One counted warning when detection scores leave [0, 1]. JI is the best of the fixed score thresholds
    0.0, 0.1, ..., 0.9 (JI_SCORE_THRESHOLDS), which assume probabilities: scores in [0, 100] pass all of them, logits
    below 0 none, so JI would silently be taken at other operating points than the toolkit's. AP, mMR and Recall read
    the ranking only and are unaffected.
    """
    out = (dt.scores < 0) | (dt.scores > 1)
    if not out.any():
        return
    i = int(np.flatnonzero(out)[0])
    image = gt.image_ids[int(np.searchsorted(dt.offsets, i, side="right") - 1)]
    warnings.warn(
        f"{int(out.sum())} of {dt.num_dets} detection score(s) lie outside [0, 1] (from {_score(dt.scores.min())} to "
        f"{_score(dt.scores.max())}; first: {_score(dt.scores[i])} in image {image!r}); JI is the best of the score "
        f"thresholds 0.0, 0.1, ..., 0.9, which assume scores in [0, 1] (scores in percent? logits?): rescale them "
        f"for a JI comparable to the toolkit's; AP, mMR and Recall depend on the ranking only", EvalInputWarning,
        stacklevel=3,
    )


def _gt_on_ignore(gt: GroundTruthSet, g_xyxy: np.ndarray, regular: np.ndarray) -> np.ndarray:
    """
    (G,) bool: regular GT whose best IoA (intersection over its own area + 1e-6, CrowdDet compute_ioa_matrix) with
    an ignore region of its image is > 0.5. All (regular, ignore) pairs of all images at once: ignore regions are
    few (~1 per image), so the flat pair list stays short.
    """
    img = gt.image_of_box()
    order = np.lexsort((~regular, img))  # per image: regular GTs first
    n_reg = np.bincount(img[regular], minlength=gt.num_images)
    start = np.zeros(gt.num_images, dtype=np.int64)
    start[1:] = np.cumsum(np.bincount(img, minlength=gt.num_images))[:-1]  # first sorted position of each image
    ign = np.flatnonzero(~regular)
    counts = n_reg[img[ign]]
    out = np.zeros(regular.shape[0], dtype=bool)
    if counts.sum() == 0:
        return out
    rep_ign = np.repeat(ign, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rep_reg = order[np.repeat(start[img[ign]], counts) + within]
    g, q = g_xyxy[rep_reg], g_xyxy[rep_ign]
    iw = np.minimum(g[:, 2], q[:, 2]) - np.maximum(g[:, 0], q[:, 0])
    ih = np.minimum(g[:, 3], q[:, 3]) - np.maximum(g[:, 1], q[:, 1])
    inter = np.maximum(0.0, iw) * np.maximum(0.0, ih)
    area = np.maximum(g[:, 2] - g[:, 0], 0) * np.maximum(g[:, 3] - g[:, 1], 0)
    out[rep_reg[inter / (area + 1e-6) > 0.5]] = True
    return out


def jaccard_index(
    gt: GroundTruthSet,
    dt: DetectionSet,
    ed: np.ndarray,
    eg: np.ndarray,
    ew: np.ndarray,
    det_on_ignore: np.ndarray,
    g_xyxy: np.ndarray,
    regular: np.ndarray,
) -> list:
    """
    JI at each threshold of JI_SCORE_THRESHOLDS (None where no image has m + n > 0).

    Args:
        ed, eg, ew: (E,) edges det -> regular GT with IoU > 0.5 (clipped boxes, CrowdDet arithmetic) and weights.
        det_on_ignore: (D,) bool, best IoA (clipped boxes, + 1e-6) with an ignore region of the image > 0.5.
        g_xyxy: (G, 4) clipped GT boxes.  regular: (G,) bool.
    """
    n_img = gt.num_images
    img_of_det, img_of_gt = dt.image_of_det(), gt.image_of_box()
    det_ign = det_on_ignore
    gt_ign = _gt_on_ignore(gt, g_xyxy, regular)
    n_reg = np.bincount(img_of_gt[regular], minlength=n_img)
    out = []
    # Thresholds in increasing order only remove edges. A connected component that loses no edge keeps its
    # matching, so only the components that lost an edge are solved again (on their remaining edges).
    det_m = np.zeros(dt.num_dets, dtype=bool)
    gt_m = np.zeros(gt.boxes.shape[0], dtype=bool)
    cur = np.arange(ed.size)  # indices (into ed/eg/ew) of the edges kept at the previous threshold
    comp = None  # their component labels
    for t in JI_SCORE_THRESHOLDS:
        kept = dt.scores > t
        if comp is None:
            cur = cur[kept[ed[cur]]]
            det_m, gt_m, comp = max_weight_matching(ed[cur], eg[cur], ew[cur], dt.num_dets, gt.boxes.shape[0],
                                                    img_of_det)
        else:
            alive = kept[ed[cur]]
            changed = np.zeros(int(comp.max()) + 1 if comp.size else 0, dtype=bool)
            changed[comp[~alive]] = True
            redo = changed[comp]
            det_m[ed[cur[redo]]] = False
            gt_m[eg[cur[redo]]] = False
            sub = cur[redo & alive]
            dm, gm, sub_comp = max_weight_matching(ed[sub], eg[sub], ew[sub], dt.num_dets, gt.boxes.shape[0],
                                                   img_of_det)
            det_m |= dm
            gt_m |= gm
            keep_old = ~redo
            base = int(comp.max()) + 1 if comp.size else 0
            cur = np.concatenate([cur[keep_old], sub])
            comp = np.concatenate([comp[keep_old], sub_comp + base])
        k = np.bincount(img_of_det[det_m], minlength=n_img)
        n = np.bincount(img_of_det[kept & ~det_m & ~det_ign], minlength=n_img)
        n += k
        m = n_reg - np.bincount(img_of_gt[regular & ~gt_m & gt_ign], minlength=n_img)
        valid = (m != 0) | (n != 0)
        if not valid.any():
            out.append(None)
            continue
        ratio = k / (m + n - k + 1e-6)
        out.append(float(np.sum(ratio[valid]) / np.count_nonzero(valid)))
    return out


def _components(ed: np.ndarray, eg: np.ndarray, n_det: int) -> np.ndarray:
    """
    (E,) connected-component label of every edge of the bipartite graph (dets 0..D-1, GTs D..D+G-1), by min-label
    propagation: the graphs are tiny per image, so this converges in a few sweeps (their diameter).
    """
    nodes, inv = np.unique(np.concatenate([ed, eg + n_det]), return_inverse=True)
    a, b = inv[: ed.size], inv[ed.size:]
    label = np.arange(nodes.size)
    while True:
        m = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]  # pointer jumping speeds up long paths
        if np.array_equal(new, label):
            return label[a]
        label = new


# Components up to this size (max(#dets, #GTs)) are solved by trying every assignment at once in numpy
# (5! = 120 candidates); a scipy call per component would cost ~50 us of Python overhead each, and a CrowdHuman-size
# set has thousands of such components per score threshold. Larger ones: the subset DP or scipy (below).
_ENUM_MAX = 5


def max_weight_matching(
    ed: np.ndarray, eg: np.ndarray, ew: np.ndarray, n_det: int, n_gt: int, img_of_det: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """
    Maximum-weight bipartite matching (weights > 0) of many small per-image graphs at once.

    The graph splits into connected components. A component with one det or one GT (a single edge or a star)
    takes its heaviest edge. Others up to _ENUM_MAX nodes a side: every assignment of the zero-padded weight matrix
    is scored in numpy and the best kept. Larger ones with at most _DP_MAX nodes on their short side: a dynamic
    programme over the subsets of the short side (_match_by_subset_dp). The rest: scipy
    ``linear_sum_assignment(maximize=True)`` on the weight matrix with 0 for non-edges. In all but the first, pairs
    of weight 0 are never taken: they add nothing, so the result is a maximum-weight matching of the real edges
    (as CrowdDet's blossom ``maxWeightMatching``). Ties between equal-weight matchings are broken arbitrarily, as
    there.

    Args:
        ed, eg, ew: (E,) det index, GT index, weight (> 0).  img_of_det: unused by the algorithm (kept for callers).
    Returns:
        det_matched (D,) bool, gt_matched (G,) bool, (E,) connected-component label of each input edge.
    """
    det_m = np.zeros(n_det, dtype=bool)
    gt_m = np.zeros(n_gt, dtype=bool)
    if ed.size == 0:
        return det_m, gt_m, np.zeros(0, dtype=np.int64)
    comp = _components(ed, eg, n_det)
    labels = comp
    o = np.lexsort((eg, ed, comp))
    ed, eg, ew, comp = ed[o], eg[o], ew[o], comp[o]
    start = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    n_edges = np.diff(np.r_[start, comp.size])
    comp_id = np.repeat(np.arange(start.size), n_edges)
    # local row (det) and column (GT) index of every edge inside its component
    new_d = np.r_[True, (ed[1:] != ed[:-1]) | (comp_id[1:] != comp_id[:-1])]
    row = np.cumsum(new_d) - 1
    row -= row[start][comp_id]
    n_rows = np.maximum.reduceat(row, start) + 1
    og = np.lexsort((eg, comp_id))
    new_g = np.r_[True, (eg[og][1:] != eg[og][:-1]) | (comp_id[og][1:] != comp_id[og][:-1])]
    col_sorted = np.cumsum(new_g) - 1
    col_sorted -= col_sorted[np.searchsorted(comp_id[og], comp_id[og], side="left")]
    col = np.empty_like(col_sorted)
    col[og] = col_sorted
    n_cols = np.maximum.reduceat(col, start) + 1

    # stars and single edges: the heaviest edge
    star = (n_rows == 1) | (n_cols == 1)
    e_star = star[comp_id]
    if e_star.any():
        idx = np.flatnonzero(e_star)
        idx = idx[np.lexsort((-ew[idx], comp_id[idx]))]
        best = idx[np.r_[True, comp_id[idx][1:] != comp_id[idx][:-1]]]
        det_m[ed[best]] = True
        gt_m[eg[best]] = True
    size = np.maximum(n_rows, n_cols)
    for k in range(2, _ENUM_MAX + 1):  # by size: a k x k component has k! candidate assignments
        small = ~star & (size == k)
        if small.any():
            _match_by_enumeration(np.flatnonzero(small), k, comp_id, row, col, ed, eg, ew, det_m, gt_m)
    large = ~star & (size > _ENUM_MAX)
    short = np.minimum(n_rows, n_cols)
    for k in range(2, _DP_MAX + 1):  # by the short side: 2^k subsets of it per component
        sel = large & (short == k)
        if sel.any():
            _match_by_subset_dp(np.flatnonzero(sel), k, comp_id, row, col, n_rows, n_cols, ed, eg, ew, det_m, gt_m)
    large &= short > _DP_MAX
    if large.any():
        _match_by_lsa_blocks(np.flatnonzero(large), comp_id, row, col, n_rows, n_cols, ed, eg, ew, det_m, gt_m)
    return det_m, gt_m, labels


# Components above _ENUM_MAX whose short side (the fewer of dets and GTs) has at most this many nodes are solved by
# a dynamic programme over the subsets of the short side (below); only larger ones need scipy. Why our own code:
# importing scipy.optimize costs ~0.7 s of CPU, a fifth of the command's 4 s budget (issue 3 §4), and on a
# CrowdHuman-size set every large component (a crowd without NMS: up to ~20 dets on ~7 GTs) has a short side <= 10.
_DP_MAX = 10


def _match_by_subset_dp(comps, k, comp_id, row, col, n_rows, n_cols, ed, eg, ew, det_m, gt_m) -> None:
    """
    Exact maximum-weight matching of components whose short side has k nodes, all such components at once.

    Dynamic programme over the long side's nodes in order: best[c, S] = the largest total weight that the nodes seen
    so far of component c reach when they are matched to exactly the short-side subset S (-inf if impossible);
    each node either stays free or takes a short-side node j not in S over a real edge (weight > 0). The answer is
    the best S after the last node, read back through the per-step choices. O(L * k * 2^k) per component, L = long
    side. Among equal totals the first found is kept (ties are arbitrary, as with scipy or CrowdDet's blossom).
    """
    pos = np.full(comp_id.max() + 1, -1, dtype=np.int64)
    pos[comps] = np.arange(comps.size)
    sel = np.flatnonzero(pos[comp_id] >= 0)
    p = pos[comp_id[sel]]
    flip = (n_rows < n_cols)[comp_id[sel]]  # long side = dets (rows) unless the GTs are more
    lng = np.where(flip, col[sel], row[sel])
    sht = np.where(flip, row[sel], col[sel])
    n_long = int(np.maximum(n_rows, n_cols)[comps].max())
    w = np.zeros((n_long, comps.size, k))  # w[long node, component, short node]; 0 = no edge
    w[lng, p, sht] = ew[sel]
    e_of = np.full((n_long, comps.size, k), -1, dtype=np.int64)  # edge index (into ed/eg) of each real pair
    e_of[lng, p, sht] = sel
    n_sub = 1 << k
    masks = np.arange(n_sub)
    best = np.full((comps.size, n_sub), -np.inf)
    best[:, 0] = 0.0
    choice = np.full((n_long, comps.size, n_sub), -1, dtype=np.int8)  # short node taken at each step, -1 = free
    for i in range(n_long):
        new = best.copy()
        for j in range(k):
            src = masks[(masks >> j) & 1 == 0]
            dst = src | (1 << j)
            cand = np.where(w[i, :, j, None] > 0, best[:, src] + w[i, :, j, None], -np.inf)
            better = cand > new[:, dst]
            if better.any():
                new[:, dst] = np.where(better, cand, new[:, dst])
                choice[i][:, dst] = np.where(better, j, choice[i][:, dst])
        best = new
    s = np.argmax(best, axis=1)  # the subset matched at the end (first of equal totals)
    c = np.arange(comps.size)
    for i in range(n_long - 1, -1, -1):  # read the matching back, last long node first
        j = choice[i][c, s].astype(np.int64)  # int8 would overflow in 1 << j for j >= 7
        took = j >= 0
        e = e_of[i, c[took], j[took]]
        det_m[ed[e]] = True
        gt_m[eg[e]] = True
        s = np.where(took, s ^ (1 << np.maximum(j, 0)), s)


# Rows per scipy call: large components are packed into one block-diagonal weight matrix (zeros between
# blocks), so one call solves many of them; an optimal assignment of a block-diagonal matrix is optimal on each
# block, and its cross-block pairs have weight 0 and are dropped.
_LSA_BLOCK_ROWS = 128


def _match_by_lsa_blocks(comps, comp_id, row, col, n_rows, n_cols, ed, eg, ew, det_m, gt_m) -> None:
    """Maximum-weight matching of large components with scipy linear_sum_assignment, many per call."""
    from scipy.optimize import linear_sum_assignment  # lazy: only large conflict groups need it

    r_off = np.zeros(comp_id.max() + 1, dtype=np.int64)
    c_off = np.zeros_like(r_off)
    r_off[comps] = np.cumsum(n_rows[comps]) - n_rows[comps]
    c_off[comps] = np.cumsum(n_cols[comps]) - n_cols[comps]
    in_large = np.zeros(comp_id.max() + 1, dtype=bool)
    in_large[comps] = True
    sel = np.flatnonzero(in_large[comp_id])
    gr = r_off[comp_id[sel]] + row[sel]  # global row / column of every edge among all large components
    gc = c_off[comp_id[sel]] + col[sel]
    det_of_row = np.zeros(int(n_rows[comps].sum()), dtype=np.int64)
    gt_of_col = np.zeros(int(n_cols[comps].sum()), dtype=np.int64)
    det_of_row[gr] = ed[sel]
    gt_of_col[gc] = eg[sel]
    group = r_off[comps] // _LSA_BLOCK_ROWS  # consecutive components, about _LSA_BLOCK_ROWS rows per call
    edge_group = (r_off // _LSA_BLOCK_ROWS)[comp_id[sel]]
    for grp in np.unique(group).tolist():
        cs = comps[group == grp]
        r0, r1 = int(r_off[cs[0]]), int(r_off[cs[-1]] + n_rows[cs[-1]])
        c0, c1 = int(c_off[cs[0]]), int(c_off[cs[-1]] + n_cols[cs[-1]])
        e = edge_group == grp
        w = np.zeros((r1 - r0, c1 - c0))
        w[gr[e] - r0, gc[e] - c0] = ew[sel[e]]
        a, b = linear_sum_assignment(w, maximize=True)
        real = w[a, b] > 0
        det_m[det_of_row[a[real] + r0]] = True
        gt_m[gt_of_col[b[real] + c0]] = True


_PERMS = {}


def _perms(k: int) -> np.ndarray:
    """(k!, k) all permutations of range(k)."""
    if k not in _PERMS:
        from itertools import permutations

        _PERMS[k] = np.array(list(permutations(range(k))), dtype=np.int64)
    return _PERMS[k]


def _match_by_enumeration(comps, k, comp_id, row, col, ed, eg, ew, det_m, gt_m) -> None:
    """Best assignment of each component of size k (padded to k x k with zeros) by trying all k! of them."""
    pos = np.full(comp_id.max() + 1, -1, dtype=np.int64)
    pos[comps] = np.arange(comps.size)
    sel = np.flatnonzero(pos[comp_id] >= 0)
    p = pos[comp_id[sel]]
    w = np.zeros((comps.size, k, k))
    w[p, row[sel], col[sel]] = ew[sel]
    dets = np.full((comps.size, k), -1, dtype=np.int64)
    dets[p, row[sel]] = ed[sel]
    gts = np.full((comps.size, k), -1, dtype=np.int64)
    gts[p, col[sel]] = eg[sel]
    perms = _perms(k)  # (k!, k): row i -> column perm[i]
    totals = w[:, np.arange(k)[None, :], perms].sum(axis=2)  # (C, k!)
    best = perms[np.argmax(totals, axis=1)]  # (C, k)
    chosen = np.take_along_axis(w, best[:, :, None], axis=2)[:, :, 0] > 0  # (C, k) real edges only
    ci, ri = np.nonzero(chosen)
    det_m[dets[ci, ri]] = True
    gt_m[gts[ci, best[ci, ri]]] = True
