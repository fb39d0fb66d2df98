"""
Slow, literal implementations of the protocol rules (one Python loop per detection, written from
docs/evaluation_protocols.md, not from the vectorised code), used by the property tests as an independent oracle.

Input: a list of images ``{"id", "w", "h", "gts": [{"bbox", "height", "vis", "ignore", "id", "label", "vbox"}],
"dts": [{"bbox", "score"}]}``; boxes XYWH.
"""
import itertools
import math

REFS = [0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000]


def _inter(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w, h


def bbgt_iou(d, g, ignore):
    w, h = _inter(d, g)
    if w <= 0 or h <= 0:
        return 0.0
    t = w * h
    return t / (d[2] * d[3]) if ignore else t / (d[2] * d[3] + g[2] * g[3] - t)


def _stable_desc(items, key):
    return sorted(items, key=lambda x: -key(x))  # Python's sort is stable


def citypersons(images, hrng, vrng, mode="official", max_dets=1000, thr=0.5):
    """MR^-2 (or None) of one setup, rule by rule (official mode or matlab recall-0 rule)."""
    ranked, npig = [], 0
    for rank, img in enumerate(sorted(images, key=lambda im: im["id"])):
        gts = []
        for g in img["gts"]:
            out_h = g["height"] < hrng[0] or g["height"] > hrng[1]
            ign = g["ignore"] or out_h or g["vis"] < vrng[0] or g["vis"] > vrng[1]
            gts.append(dict(g, ign=bool(ign)))
        gts = [g for g in gts if not g["ign"]] + [g for g in gts if g["ign"]]
        npig += sum(1 for g in gts if not g["ign"])
        dts = _stable_desc(list(enumerate(img["dts"])), lambda x: x[1]["score"])[:max_dets]
        dts = [(k, d) for k, d in dts if hrng[0] / 1.25 <= d["bbox"][3] < hrng[1] * 1.25]
        matched = [False] * len(gts)
        for local, (k, d) in enumerate(dts):
            best, bg, bm = min(thr, 1 - 1e-10), -1, 0
            for j, g in enumerate(gts):
                if matched[j]:
                    continue
                if bm != 0 and g["ign"]:
                    break
                o = bbgt_iou(d["bbox"], g["bbox"], g["ign"])
                if o < best:
                    continue
                best, bg, bm = o, j, (-1 if g["ign"] else 1)
            if bm == 1:
                matched[bg] = True
                tp = gts[bg]["id"] != 0 or mode != "official"
                ranked.append((d["score"], rank, local, 1 if tp else 0))
            elif bm == 0:
                ranked.append((d["score"], rank, local, 0))
    if npig == 0:
        return None
    ranked.sort(key=lambda x: (-x[0], x[1], x[2]))
    tp = fp = 0
    rec, fppi = [], []
    for r in ranked:
        tp += r[3]
        fp += 1 - r[3]
        rec.append(tp / npig)
        fppi.append(fp / len(images))
    out = []
    for ref in REFS:
        idx = max([i for i, f in enumerate(fppi) if f <= ref], default=-1)
        if not rec:
            out.append(0.0)
        elif idx == -1:
            out.append(rec[-1] if mode == "official" else 0.0)
        else:
            out.append(rec[idx])
    mrs = [1 - r for r in out]
    return 0.0 if min(mrs) == 0 else math.exp(sum(math.log(m) for m in mrs) / len(mrs))


def _clip(b, w, h):
    x1, y1, x2, y2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    return [min(max(x1, 0), w - 1), min(max(y1, 0), h - 1), max(min(x2, w), 0), max(min(y2, h), 0)]


def ch_overlap(d, g, ioa):
    iw = min(d[2], g[2]) - max(d[0], g[0])
    ih = min(d[3], g[3]) - max(d[1], g[1])
    inter = max(0, iw) * max(0, ih)
    da = (d[2] - d[0]) * (d[3] - d[1])
    ga = (g[2] - g[0]) * (g[3] - g[1])
    return inter / (da + 1e-6) if ioa else inter / (da + ga - inter + 1e-6)


def crowdhuman(images):
    """(AP, mMR, Recall) or None when there is no regular GT; CrowdDet rules."""
    scorelist, n_pos = [], 0
    for img in images:
        gts = [(_clip(g["bbox"], img["w"], img["h"]), g["ignore"]) for g in img["gts"]]
        gts = [g for g in gts if not g[1]] + [g for g in gts if g[1]]
        n_pos += sum(1 for g in gts if not g[1])
        dts = _stable_desc([(_clip(d["bbox"], img["w"], img["h"]), d["score"]) for d in img["dts"]], lambda x: x[1])
        matched = [False] * len(gts)
        for d, s in dts:
            pos, best = -1, 0.5
            for j, (g, ign) in enumerate(gts):
                if matched[j]:
                    continue
                if not ign:
                    o = ch_overlap(d, g, False)
                    if o > best:
                        best, pos = o, j
                else:
                    if pos >= 0:
                        break
                    if ch_overlap(d, g, True) > 0.5:
                        pos = j
                        break
            if pos >= 0 and not gts[pos][1]:
                matched[pos] = True
                scorelist.append((s, 1))
            elif pos < 0:
                scorelist.append((s, 0))
    if n_pos == 0:
        return None
    scorelist = _stable_desc(scorelist, lambda x: x[0])
    tp = fp = 0
    rec, prec, fppi = [], [], []
    for s, t in scorelist:
        tp += t
        fp += 1 - t
        rec.append(tp / n_pos)
        prec.append(tp / (tp + fp))
        fppi.append(fp / len(images))
    ap = sum((rec[i] - rec[i - 1]) * (prec[i - 1] + prec[i]) / 2 for i in range(1, len(rec)))
    mrs = []
    for ref in REFS:
        idx = next((i for i, f in enumerate(fppi) if f >= ref), len(fppi) - 1)
        mrs.append(1 - rec[idx] if rec else 1.0)
    mmr = 0.0 if min(mrs) == 0 else math.exp(sum(math.log(m) for m in mrs) / len(mrs))
    return ap, mmr, (rec[-1] if rec else 0.0)


def _max_weight_matching(w):
    """Brute force: (best weight, matching as [(i, j)]) over all matchings of the edges w[i][j] > 0."""
    rows = range(len(w))
    cols = range(len(w[0])) if w else range(0)
    best, best_m = 0.0, []
    for k in range(0, min(len(rows), len(cols)) + 1):
        for rs in itertools.combinations(rows, k):
            for cs in itertools.permutations(cols, k):
                if all(w[r][c] > 0 for r, c in zip(rs, cs)):
                    tot = sum(w[r][c] for r, c in zip(rs, cs))
                    if tot > best + 1e-12:
                        best, best_m = tot, list(zip(rs, cs))
    return best, best_m


def ji(images):
    """max over t of the mean per-image k / (m + n - k + 1e-6), CrowdDet compute_JI rules."""
    out = []
    for t in [1e-1 * i for i in range(10)]:
        ratios = []
        for img in images:
            gts = [(_clip(g["bbox"], img["w"], img["h"]), g["ignore"]) for g in img["gts"]]
            reg = [g for g, ign in gts if not ign]
            ign = [g for g, i in gts if i]
            dts = [_clip(d["bbox"], img["w"], img["h"]) for d in img["dts"] if d["score"] > t]
            w = [[(o if (o := ch_overlap(d, g, False)) > 0.5 else 0.0) for g in reg] for d in dts]
            _, m_ = _max_weight_matching(w) if dts and reg else (0, [])
            md = {i for i, _ in m_}
            mg = {j for _, j in m_}
            ign_d = sum(1 for i, d in enumerate(dts) if i not in md and any(ch_overlap(d, g, True) > 0.5 for g in ign))
            ign_g = sum(1 for j, g in enumerate(reg) if j not in mg and any(ch_overlap(g, q, True) > 0.5 for q in ign))
            k = len(m_)
            m = len(reg) - ign_g
            n = len(dts) - ign_d
            ratios.append((k / (m + n - k + 1e-6), m != 0 or n != 0))
        valid = [r for r, v in ratios if v]
        out.append(sum(r for r, _ in ratios) / len(valid) if valid else None)
    vals = [v for v in out if v is not None]
    return max(vals) if vals else None


def ji_lsa(images):
    """
    JI per score threshold (list of 10, None where no image has m + n > 0), CrowdDet compute_JI rules, one image at
    a time: the maximum-weight matching of the IoU > 0.5 edges by scipy's linear_sum_assignment on the IoU matrix
    with 0 for the other pairs (pairs of weight 0 are not matches), then the two ignore discounts. For crowded
    scenes, where the brute force of ``ji`` is too slow.
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    def overlaps(a, b, ioa):  # ch_overlap on every pair of XYXY boxes, as one matrix
        a, b = np.asarray(a, dtype=float).reshape(-1, 4), np.asarray(b, dtype=float).reshape(-1, 4)
        iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
        ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
        inter = np.maximum(0, iw) * np.maximum(0, ih)
        da = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
        if ioa:
            return inter / (da[:, None] + 1e-6)
        ga = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        return inter / (da[:, None] + ga[None, :] - inter + 1e-6)

    out = []
    for t in [1e-1 * i for i in range(10)]:
        ratios = []
        for img in images:
            gts = [(_clip(g["bbox"], img["w"], img["h"]), g["ignore"]) for g in img["gts"]]
            reg = [g for g, i in gts if not i]
            ign = [g for g, i in gts if i]
            dts = [_clip(d["bbox"], img["w"], img["h"]) for d in img["dts"] if d["score"] > t]
            md, mg = set(), set()
            if dts and reg:
                w = overlaps(dts, reg, False)
                w[w <= 0.5] = 0.0
                rows, cols = linear_sum_assignment(w, maximize=True)
                real = w[rows, cols] > 0
                md, mg = set(rows[real].tolist()), set(cols[real].tolist())
            free_d = [d for i, d in enumerate(dts) if i not in md]
            free_g = [g for j, g in enumerate(reg) if j not in mg]
            ign_d = int((overlaps(free_d, ign, True) > 0.5).any(axis=1).sum()) if ign and free_d else 0
            # an unmatched GT's IoA: intersection over its own area
            ign_g = int((overlaps(free_g, ign, True) > 0.5).any(axis=1).sum()) if ign and free_g else 0
            k = len(md)
            m = len(reg) - ign_g
            n = len(dts) - ign_d
            ratios.append((k / (m + n - k + 1e-6), m != 0 or n != 0))
        valid = [r for r, v in ratios if v]
        out.append(sum(r for r, _ in ratios) / len(valid) if valid else None)
    return out
