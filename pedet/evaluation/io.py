"""
Ground truth and detections of a whole data set as flat numpy arrays, and the readers that build them
(CrowdHuman ``.odgt``, CityPersons-style COCO ``val_gt.json``, COCO results JSON), with input validation.

Pure numpy + json: nothing here imports torch or Detectron2, so ``python -m pedet.evaluation`` starts fast.

Shape shorthand:  I = images,  G = ground-truth boxes of all images,  D = detections of all images.
Per-image slices follow the CSR convention: the boxes of image ``i`` are rows ``offsets[i]:offsets[i + 1]``.
Boxes are XYWH_ABS (x, y, width, height) float64, unclipped, as the files store them.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import orjson

from pedet.utils.json_text import (NUL_HINT, DuplicateKeyError, ends_in_nul_bytes, is_metrics_file, is_truncated, shorten,
                                   unique_keys)

__all__ = [
    "EvalInputError",
    "EvalInputWarning",
    "GroundTruthSet",
    "DetectionSet",
    "build_ground_truth",
    "build_detections",
    "read_crowdhuman_gt",
    "read_crowdhuman_dt",
    "read_coco_gt",
    "read_coco_results",
    "read_odgt_lines",
    "ground_truth_from_dataset_dicts",
    "detections_from_arrays",
    "drop_unmatchable_gt",
]

# CrowdHuman label rule (CrowdDet APMRToolkits/image.py, docs/evaluation_protocols.md §2.1): a box is an ignore
# region if its tag is not "person" or its extra.ignore is non-zero.
_CH_PERSON_TAG = "person"


class EvalInputError(ValueError):
    """Invalid evaluation input (unknown or duplicate image id, NaN/inf, negative box size, ...)."""


class EvalInputWarning(UserWarning):
    """Input that is read as documented but deserves a look (records skipped or re-labelled, with their count)."""


# CrowdHuman's tags: "person" (regular) and "mask" (ignore region), the only two of the official files. Any other tag
# is an error, as in pedet's data loaders: the toolkit would read it as an ignore region, so a mis-typed "Person"
# would silently stop counting as a person.
_CH_KNOWN_TAGS = ("person", "mask")

# Largest image side of an odgt line's "width" / "height" (px), as pedet.data.common.MAX_IMAGE_SIDE (not imported:
# pedet.data.common loads Pillow, which the evaluation command does not need).
MAX_IMAGE_SIDE = 100_000


def _short(value, limit: int = 60) -> str:
    """repr(value), shortened in the middle: a 5 000-character id or a whole list must not flood a one-line error."""
    return shorten(value, limit)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_type(v) -> str:
    named = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(v))
    if named is not None:
        return named
    if isinstance(v, (int, float, np.number)):
        return "a number"
    # Python data handed over directly (dataset dicts, a records list): a tuple or an array is not "a number"
    return f"a {type(v).__name__}"


def _bad_number(v, where: str, key: str) -> EvalInputError | None:
    """The error for a value that should be one finite JSON number, else None."""
    if not _is_number(v):
        return EvalInputError(f"{where}: {key!r} is {_json_type(v)} ({v!r:.40}), not a number")
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer of hundreds of digits (JSON has no limit; a float has)
        return EvalInputError(f"{where}: {key!r} is an integer of {len(str(abs(v)))} digits, too large for a float")
    if not finite:
        return EvalInputError(f"{where}: {key!r} is {v}, not a finite number")
    return None


def _bad_flag(v, where: str, key: str) -> EvalInputError | None:
    """The error for a value that should be a 0/1 flag (JSON 0, 1, false, true), else None."""
    if not _is_number(v) and not isinstance(v, bool):
        return _bad_number(v, where, key)
    if v not in (0, 1):  # NaN, 2 or -1 would otherwise silently mean "ignore"
        return EvalInputError(f"{where}: {key!r} is {v!r}, not 0 or 1")
    return None


def _bad_box(v, where: str, key: str) -> EvalInputError | None:
    """The error for a value that should be [x, y, w, h] (4 finite numbers, w, h >= 0), else None."""
    if not isinstance(v, list) or len(v) != 4:
        n = f"{len(v)} values" if isinstance(v, list) else _json_type(v)
        return EvalInputError(f"{where}: {key!r} must be [x, y, w, h] (4 numbers), got {n}")
    for x in v:
        if (e := _bad_number(x, where, key)) is not None:
            return e
    if v[2] < 0 or v[3] < 0:
        return EvalInputError(f"{where}: {key!r} {v} has a negative width or height")
    return None


def _bad_range(v, where: str, key: str, lo: float, hi: float) -> EvalInputError | None:
    """The error for a value that should be a finite number in [lo, hi], else None."""
    e = _bad_number(v, where, key)
    if e is None and not lo <= v <= hi:
        e = EvalInputError(f"{where}: {key!r} is {v}, outside [{lo:g}, {hi:g}]")
    return e


def _raise_first(errors) -> None:
    for e in errors:
        if e is not None:
            raise e


def _id_ok(v) -> bool:
    return isinstance(v, (str, int)) and not isinstance(v, bool)


@dataclass
class GroundTruthSet:
    """
    All ground truth of one data set, in the image order of the annotation file.

    Attributes:
        image_ids: (I,) image ids as in the file (int or str), unique.
        image_width, image_height: (I,) float64 image size, NaN where unknown.
        offsets: (I + 1,) int64 CSR offsets into the G arrays.
        boxes: (G, 4) full boxes, XYWH_ABS.
        vis_boxes: (G, 4) visible boxes, XYWH_ABS (== boxes where the file has none).
        heights: (G,) the "height" the file states (CityPersons reads it instead of boxes[:, 3]).
        vis_ratios: (G,) visible fraction as the file states it (or area(vis) / area(full)).
        ignore: (G,) bool, True for ignore regions (file ``ignore`` flag / non-person tag).
        ann_ids: (G,) int64 annotation ids (CityPersons official mode uses id 0 as "no match", see citypersons.py).
        labels: (G,) object array of label strings (Caltech label handling) or None.
    """

    image_ids: list
    image_width: np.ndarray
    image_height: np.ndarray
    offsets: np.ndarray
    boxes: np.ndarray
    vis_boxes: np.ndarray
    heights: np.ndarray
    vis_ratios: np.ndarray
    ignore: np.ndarray
    ann_ids: np.ndarray
    labels: np.ndarray | None = None

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def image_of_box(self) -> np.ndarray:
        """(G,) int64 image index of every box."""
        return np.repeat(np.arange(self.num_images), np.diff(self.offsets))

    def index(self) -> dict:
        """image id -> image index."""
        return {img_id: i for i, img_id in enumerate(self.image_ids)}


@dataclass
class DetectionSet:
    """
    All detections, aligned to a GroundTruthSet's images.

    Attributes:
        offsets: (I + 1,) int64 CSR offsets (same image order as the GroundTruthSet).
        boxes: (D, 4) XYWH_ABS float64.
        scores: (D,) float64.
    Within an image, detections are sorted by descending score with a stable sort, so equal scores keep the
    order of the input file (the tie rule of every reference evaluator).
    """

    offsets: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    @property
    def num_dets(self) -> int:
        return int(self.scores.shape[0])

    def image_of_det(self) -> np.ndarray:
        """(D,) int64 image index of every detection."""
        return np.repeat(np.arange(self.offsets.shape[0] - 1), np.diff(self.offsets))


def _check_boxes(boxes: np.ndarray, what: str, image_ids: Sequence, image_of: np.ndarray,
                 wheres: Sequence | None = None, key: str = "box") -> None:
    """
    Raise EvalInputError naming the first image whose boxes hold NaN/inf or a negative width/height.
    wheres: per image, the record it was read from ("FILE: line K (image ID)"), or None where unknown; where given,
    the error names that record and the box's place in it (e.g. "gtboxes 2") instead of `what` and the image id.
    """
    for bad, problem in ((~np.isfinite(boxes).all(axis=1), "non-finite box"),
                         ((boxes[:, 2] < 0) | (boxes[:, 3] < 0), "negative-size box")):
        if not bad.any():
            continue
        i = int(np.flatnonzero(bad)[0])
        img = int(image_of[i])
        xywh = " (XYWH)" if problem.startswith("negative") else ""
        where = wheres[img] if wheres is not None else None
        if where is None:
            raise EvalInputError(f"{what}: {problem} {boxes[i].tolist()}{xywh} in image {image_ids[img]!r}")
        k = int((image_of[:i] == img).sum())  # the box's place in its record
        place = key.format(k) if "{}" in key else f"{key} {k}"  # e.g. "gtboxes 2 'fbox'" or "dtboxes 2"
        raise EvalInputError(f"{where}: {place}: {problem} {boxes[i].tolist()}{xywh}")


def _as_boxes(rows: list, what: str) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise EvalInputError(f"{what}: boxes must be lists of 4 numbers ({e})") from None
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise EvalInputError(f"{what}: boxes must be lists of 4 numbers, got shape {arr.shape}")
    return arr


def build_ground_truth(
    image_ids: Sequence,
    counts: Sequence[int],
    boxes: Any,
    *,
    vis_boxes: Any = None,
    heights: Any = None,
    vis_ratios: Any = None,
    ignore: Any = None,
    ann_ids: Any = None,
    labels: Sequence[str] | None = None,
    image_width: Sequence[float] | None = None,
    image_height: Sequence[float] | None = None,
    wheres: Sequence[str] | None = None,
    box_keys: tuple[str, str] = ("box", "visible box"),
) -> GroundTruthSet:
    """
    Validate and pack ground truth given per box (concatenated over images in ``image_ids`` order).

    Args:
        image_ids: (I,) unique ids.  counts: (I,) number of boxes of each image.
        boxes: (G, 4) XYWH full boxes.  vis_boxes: (G, 4) or None (= boxes).
        heights: (G,) or None (= boxes[:, 3]).  vis_ratios: (G,) or None (= area(vis) / area(full), 1 if area 0).
        ignore: (G,) bool-like or None (= all False).  ann_ids: (G,) or None (= 1..G).
        labels: (G,) strings or None.  image_width/height: (I,) or None (NaN = unknown).
        wheres: (I,) the record each image was read from (errors about a box then name it), or None.
        box_keys: the names of the full and the visible box in those records (e.g. "gtboxes" and "gtboxes"/"vbox").
    Raises:
        EvalInputError: duplicate image id, non-finite value, negative box size, inconsistent lengths.
    """
    image_ids = list(image_ids)
    if len(set(image_ids)) != len(image_ids):
        seen, dup = set(), None
        for i in image_ids:
            if i in seen:
                dup = i
                break
            seen.add(i)
        raise EvalInputError(f"ground truth: duplicate image id {dup!r}")
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    n_img = len(image_ids)
    if counts.shape[0] != n_img:
        raise EvalInputError("ground truth: one box count per image expected")
    offsets = np.zeros(n_img + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    boxes = _as_boxes(boxes, "ground truth") if not isinstance(boxes, np.ndarray) else boxes.astype(np.float64)
    boxes = boxes.reshape(-1, 4)
    if boxes.shape[0] != n:
        raise EvalInputError(f"ground truth: {boxes.shape[0]} boxes for {n} counted")
    image_of = np.repeat(np.arange(n_img), counts)
    _check_boxes(boxes, "ground truth", image_ids, image_of, wheres, box_keys[0])
    vis = boxes.copy() if vis_boxes is None else np.asarray(vis_boxes, dtype=np.float64).reshape(-1, 4)
    _check_boxes(vis, "ground truth visible box", image_ids, image_of, wheres, box_keys[1])
    h = boxes[:, 3].copy() if heights is None else np.asarray(heights, dtype=np.float64).reshape(-1)
    if vis_ratios is None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            full_area = boxes[:, 2] * boxes[:, 3]
            vr = np.where(full_area > 0, vis[:, 2] * vis[:, 3] / full_area, 1.0)
            huge = (full_area > 0) & ~np.isfinite(vr)
            if huge.any():  # an area beyond the float range (a 1e308 px wide box, inf / inf): the ratio per side,
                # as pedet's loaders compute it (before: "non-finite vis_ratio" for a box the loaders read)
                vr[huge] = (vis[huge, 2] / boxes[huge, 2]) * (vis[huge, 3] / boxes[huge, 3])
    else:
        vr = np.asarray(vis_ratios, dtype=np.float64).reshape(-1)
    ig = np.zeros(n, dtype=bool) if ignore is None else np.asarray(ignore).astype(bool).reshape(-1)
    ids = np.arange(1, n + 1, dtype=np.int64) if ann_ids is None else np.asarray(ann_ids, dtype=np.int64)
    for name, arr in (("height", h), ("vis_ratio", vr), ("ignore", ig), ("id", ids)):
        if arr.shape[0] != n:
            raise EvalInputError(f"ground truth: {arr.shape[0]} values of '{name}' for {n} boxes")
    for name, arr in (("height", h), ("vis_ratio", vr)):
        if not np.isfinite(arr).all():
            i = int(np.flatnonzero(~np.isfinite(arr))[0])
            where = wheres[image_of[i]] if wheres is not None and wheres[image_of[i]] is not None else \
                f"ground truth: image {image_ids[image_of[i]]!r}"
            raise EvalInputError(f"{where}: non-finite {name} ({arr[i]}) of the box {boxes[i].tolist()} (visible box "
                                 f"{vis[i].tolist()}): a size beyond the float range?")
    lab = None
    if labels is not None:
        lab = np.asarray(list(labels), dtype=object)
        if lab.shape[0] != n:
            raise EvalInputError("ground truth: one label per box expected")
    w = np.full(n_img, np.nan) if image_width is None else np.asarray(image_width, dtype=np.float64)
    hh = np.full(n_img, np.nan) if image_height is None else np.asarray(image_height, dtype=np.float64)
    return GroundTruthSet(image_ids, w, hh, offsets, boxes, vis, h, vr, ig, ids, lab)


def build_detections(
    gt: GroundTruthSet, det_image_ids: Iterable, boxes: Any, scores: Any, *, what: str = "detections"
) -> DetectionSet:
    """
    Validate detections given per box and group them by the ground truth's images.

    Args:
        gt: the ground truth whose image order the result follows.
        det_image_ids: (D,) image id of every detection (must all be in ``gt``).
        boxes: (D, 4) XYWH.  scores: (D,).
    Raises:
        EvalInputError: unknown image id (named), NaN/inf box or score, negative box size.
    """
    index = gt.index()
    det_image_ids = list(det_image_ids)
    try:
        img = np.fromiter((index[i] for i in det_image_ids), dtype=np.int64, count=len(det_image_ids))
    except KeyError as e:
        raise EvalInputError(f"{what}: image id {e.args[0]!r} is not in the ground truth"
                             + _id_kind_hint(e.args[0], index)) from None
    except TypeError as e:  # unhashable id
        raise EvalInputError(f"{what}: bad image id ({e})") from None
    boxes = (boxes.astype(np.float64) if isinstance(boxes, np.ndarray) else _as_boxes(boxes, what)).reshape(-1, 4)
    return _detections_from_index(gt, img, boxes, scores, what)


def _detections_from_index(
    gt: GroundTruthSet, img: np.ndarray, boxes: np.ndarray, scores, what: str, wheres: Sequence | None = None
) -> DetectionSet:
    """
    Validate and group detections given their (D,) image index into ``gt``; wheres: per GT image, the record its
    detections were read from (or None), named by errors about a box.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.shape[0] != img.shape[0] or scores.shape[0] != img.shape[0]:
        raise EvalInputError(f"{what}: {img.shape[0]} image ids, {boxes.shape[0]} boxes, {scores.shape[0]} scores")
    _check_boxes(boxes, what, gt.image_ids, img, wheres, "dtboxes")
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        if wheres is not None and wheres[img[i]] is not None:
            raise EvalInputError(f"{wheres[img[i]]}: dtboxes {int((img[:i] == img[i]).sum())}: non-finite score "
                                 f"{scores[i]}")
        raise EvalInputError(f"{what}: non-finite score {scores[i]} in image {gt.image_ids[img[i]]!r}")
    offsets = np.zeros(gt.num_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(img, minlength=gt.num_images), out=offsets[1:])
    # Stable: image first, then descending score, equal scores in input order (np.lexsort is stable). Detector
    # output usually is in that order already; then the sort is skipped.
    if img.size and (img[1:] >= img[:-1]).all():
        same = img[1:] == img[:-1]
        if not (same & (scores[1:] > scores[:-1])).any():
            return DetectionSet(offsets, boxes, scores)
    order = np.lexsort((-scores, img))
    return DetectionSet(offsets, boxes[order], scores[order])


def drop_unmatchable_gt(gt: GroundTruthSet, what: str = "ground truth") -> GroundTruthSet:
    """
    ``gt`` without the boxes that no detection can ever match, with one counted EvalInputWarning: boxes of zero
    width or height, and boxes entirely outside their image (no overlap with [0, W] x [0, H]; touching is outside;
    checked where the image size is known). pedet's data loaders drop the same boxes (pedet.data.common.DroppedBoxes),
    so a file evaluated by the command and the same file loaded as a registered data set give the same ground
    truth. The reference scripts keep such a box: as a regular GT it is a miss that no detector can avoid.

    The box checked is the evaluated one (``boxes``: the full box, or CrowdHuman's visible box with ``--box
    visible``). Ignore regions are dropped by the same rule (they cannot cover any detection either).
    """
    b, gi = gt.boxes, gt.image_of_box()
    w, h = gt.image_width[gi], gt.image_height[gi]
    empty = (b[:, 2] <= 0) | (b[:, 3] <= 0)
    with np.errstate(invalid="ignore"):  # NaN = unknown image size: never "outside"
        outside = ~empty & ((b[:, 0] >= w) | (b[:, 1] >= h) | (b[:, 0] + b[:, 2] <= 0) | (b[:, 1] + b[:, 3] <= 0))
    drop = empty | outside
    if not drop.any():
        return gt
    first = int(np.flatnonzero(drop)[0])
    counts = ", ".join(f"{int(m.sum())} {reason}" for m, reason in ((empty, "of zero width or height"),
                                                                    (outside, "entirely outside the image")) if m.any())
    warnings.warn(f"{what}: dropped {int(drop.sum())} box(es) that no detection can match ({counts}; the reference "
                  "scripts keep them, a regular one as a miss that no detector can avoid); first: image "
                  f"{gt.image_ids[gi[first]]!r}, box {b[first].tolist()} (XYWH)", EvalInputWarning, stacklevel=2)
    keep = ~drop
    offsets = np.zeros(gt.num_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(gi[keep], minlength=gt.num_images), out=offsets[1:])
    return GroundTruthSet(
        gt.image_ids, gt.image_width, gt.image_height, offsets, b[keep], gt.vis_boxes[keep], gt.heights[keep],
        gt.vis_ratios[keep], gt.ignore[keep], gt.ann_ids[keep], None if gt.labels is None else gt.labels[keep],
    )


# ------------------------------------------------------------------------------------------------- JSON parsing
# 20 digits in a row: an integer that may not fit 64 bits (2**64 has 20 digits), which orjson reads as a float without
# a word (an image id 10**30 became 1e+30, "not an integer"); such text is read by json, which keeps it exact.
_LONG_INTEGER = re.compile(rb"[0-9]{20}")


def _loads(data: bytes, where: str, line: bool = False):
    """
    One JSON document: orjson (2-3x faster than json, the same Python objects), falling back to the standard
    library where orjson refuses the text (NaN / Infinity literals: json reads them, the validation then rejects the
    value naming the image; lone surrogates) or would change it (integers beyond 64 bits, see _LONG_INTEGER). Text
    neither accepts raises EvalInputError naming ``where`` (file and line).
    """
    if _LONG_INTEGER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data)
    except ValueError as e:  # JSONDecodeError, or bytes in no JSON encoding
        if ends_in_nul_bytes(data):  # was "invalid JSON (Expecting value: line 1 column 1 (char 0))"
            raise EvalInputError(f"{where}: NUL bytes in the text ({NUL_HINT})") from None
        if b"\x00" in data:  # was "invalid JSON ('utf-16-be' codec can't decode byte ...)": json guessed an encoding
            raise EvalInputError(f"{where}: invalid JSON (NUL bytes in the text: a binary file?)") from None
        if line and isinstance(e, json.JSONDecodeError):  # the parser's "line 1 column C" contradicted `where`'s line
            cut = " (the line ends early: cut short by a crash?)" if is_truncated(e.doc, e) else ""
            raise EvalInputError(f"{where}: invalid JSON at column {e.colno}: {e.msg}{cut}") from None
        raise EvalInputError(f"{where}: invalid JSON ({e})") from None
    except RecursionError:  # json recurses once per level (orjson stops at 1024 levels)
        raise EvalInputError(f"{where}: the JSON is nested too deeply (thousands of levels of lists or objects); "
                             "not an annotation or detection file") from None


def _check_text(data: bytes, path: str) -> None:
    """EvalInputError for the binary files users pass by mistake: archives (a .pth is a zip) and UTF-16 text."""
    if data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        raise EvalInputError(f"{path}: a compressed archive (gzip / zip; a .pth checkpoint or predictions file is "
                             "one), not a JSON text file; unpack it or give the JSON file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise EvalInputError(f"{path}: a UTF-16 text file; JSON and .odgt files must be UTF-8 (save it as UTF-8)")


def _read_lines(path: str) -> list[tuple[int, bytes]]:
    """(1-based line number, line) of every non-blank line of a file (lines split as text mode does)."""
    with open(path, "rb") as f:
        data = f.read()
    _check_text(data, path)
    return [(k + 1, line) for k, line in enumerate(data.splitlines()) if line.strip()]


# ------------------------------------------------------------------------------- fast paths for detection files
# Detection files are large (CrowdHuman val: ~650k boxes); even orjson spends most of its time building one dict per
# box. For the layout that json.dumps writes (CrowdDet, Detectron2's COCO results, our evaluator), a regex first
# verifies the exact structure, then the numbers alone are parsed as one flat JSON array (orjson) and converted in
# one numpy call. Anything else (other key order, whitespace, NaN, string ids) takes the plain path, so the fast
# path never changes a result; the tests check both paths give identical arrays.
# Numbers are matched loosely here ([-+.0-9eE]+; a strict JSON-number regex is 15x slower); orjson then rejects
# any malformed one, which sends the file to the plain path.
# Possessive quantifiers (*+, ?+, ++; Python >= 3.11) match the same texts here (what follows each one can never
# start inside it: a number ends at "," "]" or "}", an object list at "]"), without saving backtracking points:
# ~3x faster on a 60 MB file.
_NUM = rb"[-+.0-9eE]++"
_DT_OBJ = rb'\{"box": \[N, N, N, N\], "score": N(?:, "tag": N)?+\}'.replace(b"N", _NUM)
_DT_ARRAY = re.compile(rb"\[(?:O(?:, O)*+)?+\]".replace(b"O", _DT_OBJ))
# image and category ids: plain JSON integers of up to 15 digits, exact as float64 (a "1.0" or "1e0" takes the plain
# path, which refuses it; so does a longer id, which the plain path names exactly)
_INT = rb"-?+[0-9]{1,15}+"
_COCO_OBJ = (rb'\{"image_id": I, "category_id": I, "bbox": \[N, N, N, N\], "score": N\}'
             .replace(b"I", _INT).replace(b"N", _NUM))
_COCO_ARRAY = re.compile(rb"\s*+\[(?:O(?:, O)*+)?+\]\s*+".replace(b"O", _COCO_OBJ))

# After the regex has checked the layout, every byte that cannot be part of a number or a separator is deleted (one
# bytes.translate): '{"box": [1, 2, 3, 4], "score": 0.5, "tag": 1}, {...' -> '1, 2, 3, 4, 0.5, 1, ...', a flat
# JSON array once wrapped in brackets. The keys hold "e"s: when the text has exactly the keys' "e"s (no exponent
# like "1e-05" in any number, the usual case), all letters are deleted; otherwise the keys are removed first
# (bytes.replace: after the regex they occur only at their place in the layout) and "e", "E", "+" are kept.
_DT_KEYS = ((b'"score": ', 1),)  # (key text, its number of "e"s) for the keys that hold an "e"
_COCO_KEYS = ((b'"image_id": ', 1), (b'"category_id": ', 1), (b'"score": ', 1))
_NOT_NUMBER = bytes(c for c in range(256) if chr(c) not in "0123456789.-+eE, ")
_NOT_PLAIN_NUMBER = bytes(c for c in range(256) if chr(c) not in "0123456789.-+, ")


def _numbers(texts: list[bytes], n_rows: int, per_row: int, keys: tuple) -> np.ndarray | None:
    """
    The numbers of layout-checked JSON arrays of objects -> (n_rows, per_row) float64, or None if they are not
    exactly that many valid JSON numbers (then the caller falls back to the plain path).

    Args:
        keys: ((key text, its count of "e"), ...) of the object keys that contain an "e" (see _DT_KEYS).
    """
    if n_rows == 0:
        return np.zeros((0, per_row))
    raw = b", ".join(t for t in texts if t)
    if raw.count(b"e") == n_rows * sum(n for _, n in keys) and raw.count(b"E") == 0:
        flat = raw.translate(None, _NOT_PLAIN_NUMBER)
    else:
        for key, _ in keys:
            raw = raw.replace(key, b"")
        flat = raw.translate(None, _NOT_NUMBER)
    try:
        vals = orjson.loads(b"[" + flat + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(vals) != n_rows * per_row:
        return None
    # orjson yields int and float objects only here (other letters are deleted, so no true/false/null)
    return np.array(vals, dtype=np.float64).reshape(n_rows, per_row)


def _fast_dtboxes(line: bytes, where: str = "") -> tuple[dict, bytes, int, int] | None:
    """
    (record without dtboxes, the layout-checked dtboxes text, box count, numbers per box: 5, or 6 with a tag) of a
    canonical odgt detection line, else None.
    """
    if isinstance(line, str):
        line = line.encode()
    k = line.find(b'"dtboxes": [')
    if k < 0:
        return None
    a = k + len(b'"dtboxes": ')
    m = _DT_ARRAY.match(line, a)
    if m is None or line.find(b'"dtboxes"', m.end()) != -1:  # a second "dtboxes" key: json keeps the last one
        return None
    arr = line[a + 1 : m.end() - 1]
    n = arr.count(b"{")
    n_tags = arr.count(b'"tag"')
    if n_tags not in (0, n):
        return None
    head = line[:k] + b'"dtboxes": []' + line[m.end():]
    if _LONG_INTEGER.search(head) is not None:  # the plain path reads such an id exactly
        return None
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict):
        return None
    return header, arr, n, 6 if n_tags else 5


def _header_text(line: bytes) -> bytes:
    """A fast-path detection line with its layout-checked "dtboxes" list emptied (what _fast_dtboxes parsed)."""
    k = line.find(b'"dtboxes": [')
    m = _DT_ARRAY.match(line, k + len(b'"dtboxes": '))
    return line[:k] + b'"dtboxes": []' + line[m.end():]


def _split_rows(fast: list) -> list | None:
    """Parse the box texts of all fast-path lines (one call per row width); split back per line ((n, 5) arrays)."""
    out: list = [None] * len(fast)
    for width in (5, 6):
        idx = [i for i, f in enumerate(fast) if f[3] == width]
        if not idx:
            continue
        counts = [fast[i][2] for i in idx]
        vals = _numbers([fast[i][1] for i in idx], sum(counts), width, _DT_KEYS)
        if vals is None:
            return None
        for i, part in zip(idx, np.split(vals[:, :5], np.cumsum(counts)[:-1])):
            out[i] = part
    return out


# --------------------------------------------------------------------------------------------- CrowdHuman odgt
def read_odgt_lines(path: str) -> list[dict]:
    """One JSON object per non-blank line (errors name the file and line)."""
    lines = _read_lines(path)
    return [_loads_line(path, k, line, lines) for k, line in lines]


def _loads_line(path: str, k: int, line: bytes, lines: list[tuple[int, bytes]]):
    """
    Line `k` of an .odgt file (`lines`: its `_read_lines`). A syntax error names the column in that line; a JSON
    value that starts on the line and ends on a later one (a pretty-printed record, or the metrics.json that --out
    writes) is named as such, not by the parser's "Expecting property name ... line 1 column 2".
    """
    try:
        return _loads(line, f"{path}: line {k}", line=True)
    except EvalInputError as err:
        rest = [(j, text) for j, text in lines if j >= k]
        try:  # the first JSON value of the text from this line on, wherever it ends
            text = b"\n".join(t for _, t in rest).decode("utf-8")
            _, end = json.JSONDecoder().raw_decode(text)
        except (ValueError, RecursionError):
            raise err from None
        last = rest[text[:end].count("\n")][0]
        if last == k:
            raise
        raise EvalInputError(f"{path}: lines {k}-{last} are one JSON value (a pretty-printed file, e.g. the "
                             "metrics.json that --out writes), not one JSON object per line (.odgt)") from None


def _check_record(rec, where: str) -> str:
    """Validate the per-image keys of one odgt record; returns ``where`` extended with the image id."""
    if not isinstance(rec, dict):
        hint = (" (a COCO-style JSON file? those go with --protocol citypersons or caltech)"
                if isinstance(rec, list) else "")
        raise EvalInputError(f"{where}: expected one JSON object per line (odgt), got {_json_type(rec)}{hint}")
    if "ID" not in rec:
        hint = (" (a COCO-style JSON file? those go with --protocol citypersons or caltech)"
                if "images" in rec or "annotations" in rec else "")
        raise EvalInputError(f"{where}: no 'ID'{hint}")
    if not _id_ok(rec["ID"]):
        raise EvalInputError(f"{where}: 'ID' is {_json_type(rec['ID'])}, not a string or an integer")
    if rec["ID"] == "":  # names no image ('.jpg'); pedet's data loaders refuse it alike
        raise EvalInputError(f"{where}: 'ID' is an empty string, not an image name")
    where = f"{where} (image {_short(rec['ID'])})"
    _check_image_size(rec, where)
    return where


def _check_image_size(rec: dict, where: str) -> None:
    """An odgt line's or COCO image's optional "width" / "height": both or neither, positive integers up to
    MAX_IMAGE_SIDE (640 or 640.0), as pedet's data loaders read them."""
    if ("width" in rec) != ("height" in rec):  # half a size is a mistake
        raise EvalInputError(f"{where}: {'width' if 'width' in rec else 'height'!r} without "
                             f"{'height' if 'width' in rec else 'width'!r}; give both or neither")
    for key in ("width", "height"):
        if key in rec:
            e = _bad_number(rec[key], where, key)
            if e is None and (rec[key] <= 0 or rec[key] != int(rec[key]) or rec[key] > MAX_IMAGE_SIDE):
                e = EvalInputError(f"{where}: {key!r} is {rec[key]}, not a positive integer up to {MAX_IMAGE_SIDE} "
                                   "(image size in px, as pedet's data loaders read it)")
            _raise_first([e])


def _check_category_argument(category_id, reader: str) -> None:
    """A category_id argument of another type matched no annotation: '1' dropped the whole ground truth, with a
    warning that read "have category_id 1, not 1"."""
    if category_id is not None and (isinstance(category_id, (bool, np.bool_))
                                    or not isinstance(category_id, (int, np.integer))):
        raise ValueError(f"{reader}: category_id must be an integer (COCO's person is 1) or None for every "
                         f"category, got {type(category_id).__name__} {category_id!r:.40}")


def _path_or_data(path_or_data, what: str, data_kind: str):
    """
    A path as a str (an os.PathLike such as pathlib.Path is taken as its path, as pedet's data loaders take it), or
    the in-memory data unchanged. bytes are refused: they were read as records (a "record 1: ... got a number" for
    each byte) and a Path as "'PosixPath' object is not iterable", neither saying that the argument is wrong.
    """
    if isinstance(path_or_data, os.PathLike):
        path_or_data = os.fspath(path_or_data)
    if isinstance(path_or_data, (bytes, bytearray)):
        raise TypeError(f"{what}: expected a path (a str or an os.PathLike) or {data_kind}, got bytes "
                        f"{_short(path_or_data)}; decode the path first")
    return path_or_data


def _odgt_records(path_or_records: str | list, what: str) -> list[tuple[str, dict]]:
    """[(where, record)] with where = "FILE: line K (image ID)" (or "WHAT: record K (image ID)")."""
    path_or_records = _path_or_data(path_or_records, what, "a list of records")
    if isinstance(path_or_records, str):
        lines = _read_lines(path_or_records)
        if not lines:
            raise EvalInputError(f"{path_or_records}: empty file (no odgt lines)")
        items = [(f"{path_or_records}: line {k}", _loads_line(path_or_records, k, line, lines)) for k, line in lines]
        if what.endswith("gt"):  # ground truth: no key twice in one object
            _check_unique_keys(b"\n".join(line for _, line in lines), [rec for _, rec in items],
                               [(where, line) for (where, _), (_, line) in zip(items, lines)])
    else:
        items = [(f"{what}: record {k + 1}", r) for k, r in enumerate(path_or_records)]
    return [(_check_record(rec, where), rec) for where, rec in items]


def _box_list(rec: dict, key: str, where: str) -> list:
    """rec[key] as a list of box objects (dicts)."""
    if key not in rec:
        raise EvalInputError(f"{where}: no {key!r} (write [] for an image without boxes)")
    boxes = rec[key]
    if not isinstance(boxes, list):
        raise EvalInputError(f"{where}: {key!r} is {_json_type(boxes)}, not a list of box objects")
    for k, b in enumerate(boxes):
        if not isinstance(b, dict):
            raise EvalInputError(f"{where}: {key} {k} is {_json_type(b)}, not an object")
    return boxes


def _numeric(rows: list, per_row: int) -> np.ndarray | None:
    """rows (lists of per_row numbers, or numbers if per_row == 0) as float64, or None if any value is no number."""
    try:
        arr = np.array(rows)
    except (TypeError, ValueError):  # ragged
        return None
    # a row that is no list (null: np.array([None]) is an object array of one) is no number; iterating it was a
    # TypeError, which the command reported as "could not evaluate ... 'NoneType' object is not iterable"
    if arr.size and arr.dtype.kind == "O" and all(
        _is_number(x) for r in rows for x in (r if per_row and isinstance(r, (list, tuple)) else [r])
    ):
        try:  # an integer beyond 64 bits (10**20 px, a legal JSON number) makes an object array: as a float
            arr = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):  # ragged, or too large for a float (named by _bad_number)
            return None
    if arr.size and arr.dtype.kind not in "iuf":  # strings, null, objects, booleans
        return None
    if per_row and len(rows) and (arr.ndim != 2 or arr.shape[1] != per_row):  # also [[], []]: shape (2, 0)
        return None
    # a number per row: a score given as a list ([0.9], or a class-probability pair [0.1, 0.9]) was read as its
    # values (the pair as two detections' scores, refused later with numpy's concatenation message)
    if not per_row and arr.ndim != 1:
        return None
    # numpy reads a JSON true / false among numbers as 1 / 0 ([true, 10, 50, 100] -> [1, 10, 50, 100]) without a
    # word: the plain path names it (one pass over the values in C, ~15 ms per 100 000 boxes)
    if arr.size and bool in map(type, itertools.chain.from_iterable(rows) if per_row else rows):
        return None
    return arr.astype(np.float64).reshape((-1, per_row) if per_row else (-1,))


# How to state what a box-level 'ignore' / 'iscrowd' meant, in the odgt's own keys.
_FIX_IGNORE = "for an ignore region set tag 'mask' or 'extra': {'ignore': 1}"
_FIX_PERSON = "for a person set tag 'person' and 'extra': {'ignore': 0}"


def _check_box_level_flags(box: dict, ignore: bool, where: str) -> None:
    """
    A CrowdHuman box's own 'ignore' / 'iscrowd' (COCO's keys, e.g. copied from a COCO file) must agree with the
    odgt rule (tag / extra.ignore), the only one the format and the toolkit read: a box-level "ignore": 1 on a
    "person" would otherwise silently stay a regular ground truth. pedet's data loaders check it alike.
    """
    for key in ("ignore", "iscrowd"):
        if key in box:
            if (e := _bad_flag(box[key], where, key)) is not None:
                raise e
            if bool(box[key]) != ignore:
                raise EvalInputError(
                    f"{where}: {key!r} is {box[key]!r} at the box level, but by its 'tag' and 'extra.ignore' (the "
                    f"only ignore rule of the CrowdHuman format) the box is "
                    f"{'an ignore region' if ignore else 'a person'}: {_FIX_IGNORE if box[key] else _FIX_PERSON}, "
                    f"or remove {key!r}")


def read_crowdhuman_gt(path_or_records: str | list, box_key: str = "fbox") -> GroundTruthSet:
    """
    CrowdHuman ground truth ``.odgt``: ``{"ID", "gtboxes": [{"tag", "fbox", "vbox", "extra": {"ignore"}}]}``.

    Args:
        box_key: "fbox" (full body, default, as CrowdDet / mmdet) or "vbox" (visible body). The other key
            goes to ``vis_boxes`` (visible mode keeps the full box there).
    Ignore rule: tag != "person" or extra.ignore != 0 (CrowdDet image.py). Image size from "width"/"height"
    if the line has them (the official odgt does not; then the detection file must give them).
    Every line needs "ID" and "gtboxes" (a list), every box a "tag", "person" or "mask" (tags are case-sensitive;
    any other is an error, as in pedet's data loaders), and the box key. An optional key given as null ("extra",
    "vbox" / "fbox") is an error rather than "absent": write the value or leave the key out. Errors name the file,
    line and image.
    """
    if box_key not in ("fbox", "vbox"):  # e.g. None: "gtboxes 0: no None", naming the file, not the argument
        raise ValueError(f"read_crowdhuman_gt: box_key must be 'fbox' or 'vbox', got {box_key!r}")
    items = _odgt_records(path_or_records, "crowdhuman gt")
    other = "vbox" if box_key == "fbox" else "fbox"
    ids, counts, boxes, vis, ign, widths, heights = [], [], [], [], [], [], []
    for where, rec in items:
        gtb = _box_list(rec, "gtboxes", where)
        ids.append(rec["ID"])
        counts.append(len(gtb))
        tags = [b.get("tag") for b in gtb]
        for k, (b, t) in enumerate(zip(gtb, tags)):
            if t not in _CH_KNOWN_TAGS:
                raise EvalInputError(f"{where}: gtboxes {k}: {_tag_error(b)}")
            if box_key not in b:
                raise EvalInputError(f"{where}: gtboxes {k}: no {box_key!r}")
            x = b.get("extra", {})
            if not isinstance(x, dict) or _bad_flag(x.get("ignore", 0), where, "ignore"):
                raise EvalInputError(f"{where}: gtboxes {k}: 'extra' must be an object whose 'ignore' is 0 or 1, got "
                                     + (f"{x.get('ignore')!r}" if isinstance(x, dict) else _json_type(x)))
            if other in b and not isinstance(b[other], list):  # null, 0, "" would silently mean "no such box"
                _raise_first([_bad_box(b[other], f"{where}: gtboxes {k}", other)])
            if "ignore" in b or "iscrowd" in b:  # COCO's keys at the box level: never read by the odgt rule
                _check_box_level_flags(b, t != _CH_PERSON_TAG or bool(x.get("ignore", 0)), f"{where}: gtboxes {k}")
        boxes.extend([b[box_key] for b in gtb])
        vis.extend([b.get(other, b[box_key]) for b in gtb])
        # the ignore rule (_CH_PERSON_TAG above) inline: a function call per box was a tenth of the reading time
        ign.extend([
            t != _CH_PERSON_TAG or bool((x := b.get("extra")) and x.get("ignore", 0) != 0) for b, t in zip(gtb, tags)
        ])
        widths.append(rec.get("width", math.nan))
        heights.append(rec.get("height", math.nan))
    if len({str(i) for i in ids}) != len(ids):  # 7 and "7" name one image, 7.jpg (pedet's loaders: a duplicate)
        first: dict = {}
        for (where, _), i in zip(items, ids):
            if str(i) in first and first[str(i)][1] is not i and type(first[str(i)][1]) is not type(i):
                raise EvalInputError(f"{where}: image id {_short(i)} names the same image as {_short(first[str(i)][1])}"
                                     f" ({first[str(i)][0]}): a duplicate image id")
            first.setdefault(str(i), (where, i))
    if any(isinstance(i, str) and os.path.normpath(i) != i for i in ids):  # 'a' and './a' name one file, a.jpg,
        first = {}  # in the CrowdHuman layout (pedet's loader: one picture in two records)
        for (where, _), i in zip(items, ids):
            key = os.path.normpath(str(i))
            if key in first:
                raise EvalInputError(f"{where}: image id {_short(i)} names the same image as {_short(first[key][1])}"
                                     f" ({first[key][0]}): a duplicate image id")
            first[key] = (where, i)
    boxes_a, vis_a = _numeric(boxes, 4), _numeric(vis, 4)
    if boxes_a is None or vis_a is None:  # find the first bad box and name it
        for where, rec in items:
            for k, b in enumerate(rec["gtboxes"]):
                _raise_first([_bad_box(b[box_key], f"{where}: gtboxes {k}", box_key)]
                             + ([_bad_box(b[other], f"{where}: gtboxes {k}", other)] if other in b else []))
    return build_ground_truth(
        ids, counts, boxes_a, vis_boxes=vis_a, ignore=np.asarray(ign, dtype=bool),
        image_width=widths, image_height=heights, wheres=[where for where, _ in items],
        box_keys=(f"gtboxes {{}} {box_key!r}", f"gtboxes {{}} {other!r}"),
    )


def _tag_error(box: dict) -> str:
    """What is wrong with a GT box's tag (missing, not a string, or not one of the two CrowdHuman tags)."""
    if "tag" not in box:
        return f"no 'tag' (expected one of {' / '.join(_CH_KNOWN_TAGS)})"
    t = box["tag"]
    if not isinstance(t, str):
        return f"'tag' is {_json_type(t)}, not a string"
    hint = " (tags are case-sensitive)" if t.strip().lower() in _CH_KNOWN_TAGS else ""
    return f"unknown tag {t!r:.40}; expected one of {' / '.join(_CH_KNOWN_TAGS)}{hint}"


def _plain_dtboxes(rec: dict, where: str) -> np.ndarray:
    """(n, 5) box + score of one odgt detection record, read the plain way; errors name the box and the key."""
    dtb = _box_list(rec, "dtboxes", where)
    for k, b in enumerate(dtb):
        for key in ("box", "score"):
            if key not in b:
                raise EvalInputError(f"{where}: dtboxes {k}: no {key!r}")
    bx, sc = _numeric([b["box"] for b in dtb], 4), _numeric([b["score"] for b in dtb], 0)
    if bx is None or sc is None or any(type(b["score"]) is bool for b in dtb):
        for k, b in enumerate(dtb):
            _raise_first([_bad_box(b["box"], f"{where}: dtboxes {k}", "box"),
                          _bad_number(b["score"], f"{where}: dtboxes {k}", "score")])
    return np.concatenate([bx, sc[:, None]], axis=1)


def read_crowdhuman_dt(path_or_records: str | list, gt: GroundTruthSet) -> DetectionSet:
    """
    CrowdHuman detection ``.odgt``: ``{"ID", "width", "height", "dtboxes": [{"box", "score", "tag"}]}``.

    Image sizes found here fill the GT's unknown ones (CrowdDet takes the first record that has them).
    Images of the GT without a line have no detections (from a file: one counted warning, the format has a line per
    image). A second line for one ID is an error, as are a line without "dtboxes" and a box without "box" or "score".
    A detection's "tag" is not read: as the CrowdHuman toolkit (its loaders take box and score only), every box in
    "dtboxes" is a person detection, whatever its tag (e.g. 0).
    """
    path_or_records = _path_or_data(path_or_records, "crowdhuman dt", "a list of records")
    if not isinstance(gt, GroundTruthSet):  # else an AttributeError ('index') from deep inside
        raise TypeError(f"read_crowdhuman_dt: gt must be the GroundTruthSet the detections are read against, got "
                        f"{type(gt).__name__}")
    if isinstance(path_or_records, str):
        lines = _read_lines(path_or_records)
        if not lines:
            raise EvalInputError(f"{path_or_records}: empty file (no odgt lines)")
        fast = [_fast_dtboxes(line) for _, line in lines]
        arrays = _split_rows([f for f in fast if f is not None])
        if arrays is None:  # some number was not valid JSON: parse everything the plain way
            fast = [None] * len(lines)
        records = [
            _loads_line(path_or_records, k, line, lines) if f is None else f[0] for (k, line), f in zip(lines, fast)
        ]
        # no key twice in one object (json keeps the last "score"): a fast-path line's boxes have the fixed layout,
        # so only the rest of its line is checked
        texts = [line if f is None else _header_text(line) for (_, line), f in zip(lines, fast)]
        _check_unique_keys(b"\n".join(texts), records,
                           [(f"{path_or_records}: line {k}", t) for (k, _), t in zip(lines, texts)])
        wheres = [_check_record(rec, f"{path_or_records}: line {k}") for (k, _), rec in zip(lines, records)]
        it = iter(arrays or [])
        arrays = [None if f is None else next(it) for f in fast]
    else:
        records, arrays = path_or_records, [None] * len(path_or_records)
        wheres = [_check_record(rec, f"crowdhuman dt: record {k + 1}") for k, rec in enumerate(records)]
    index = gt.index()
    by_name = {str(k): i for k, i in index.items()}  # 7 and "7" name one image, 7.jpg (never both in a GT)
    seen: set = set()
    img_of, rows = [], []
    other_size = []  # (where, size here, size in the GT) of images whose two files disagree
    for rec, arr, where in zip(records, arrays, wheres):
        img_id = rec["ID"]
        i = index.get(img_id, by_name.get(str(img_id)))  # a GT ID 7 and pedet's predictions.odgt "7" (the loader's)
        if i is None:
            raise EvalInputError(f"{where}: image id {_short(img_id)} is not in the ground truth"
                                 + _unicode_hint(img_id, by_name))
        if i in seen:
            raise EvalInputError(f"{where}: duplicate image id {_short(img_id)}")
        seen.add(i)
        gt_size = (gt.image_width[i], gt.image_height[i])
        if any(k in rec and not math.isnan(v) and float(rec[k]) != v for k, v in zip(("width", "height"), gt_size)):
            other_size.append((where, (rec.get("width"), rec.get("height")), gt_size))
        if "width" in rec and math.isnan(gt.image_width[i]):
            gt.image_width[i] = float(rec["width"])
        if "height" in rec and math.isnan(gt.image_height[i]):
            gt.image_height[i] = float(rec["height"])
        if arr is None:
            arr = _plain_dtboxes(rec, where)
        rows.append(arr)
        img_of.append(np.full(arr.shape[0], i, dtype=np.int64))
    if other_size:  # detections of resized images, or of another data set's images of the same name
        where, here, there = other_size[0]
        warnings.warn(f"{where}: the width / height of {len(other_size)} image(s) in the detection file differ from "
                      f"the ground truth's ({here[0]} x {here[1]} here, {there[0]:g} x {there[1]:g} there; first "
                      "shown); the ground truth's are used (detections must be in original image pixels)",
                      EvalInputWarning, stacklevel=2)
    if isinstance(path_or_records, str) and len(seen) < gt.num_images:  # the format has a line per image
        first = next(k for k in range(gt.num_images) if k not in seen)
        warnings.warn(f"{path_or_records}: {gt.num_images - len(seen)} of {gt.num_images} ground-truth image(s) have "
                      f"no detection line (first: {_short(gt.image_ids[first])}); they count as images without "
                      "detections (a file cut short?)", EvalInputWarning, stacklevel=2)
    allr = np.concatenate(rows) if rows else np.zeros((0, 5))
    img = np.concatenate(img_of) if img_of else np.zeros(0, dtype=np.int64)
    line_of = [None] * gt.num_images  # per GT image, the line of its detections (errors about a box name it)
    for rec, where in zip(records, wheres):
        line_of[index.get(rec["ID"], by_name.get(str(rec["ID"])))] = where
    return _detections_from_index(gt, img, allr[:, :4], allr[:, 4], "crowdhuman dt", line_of)


def _unicode_hint(image_id, by_name: dict) -> str:
    """
    For an unknown string id that looks like a ground-truth id: the hint that they differ only in Unicode
    normalization (e.g. "ä" as one code point or as "a" + a combining diaeresis, as macOS file names have it).
    """
    if not isinstance(image_id, str) or image_id.isascii():
        return ""
    import unicodedata

    key = unicodedata.normalize("NFC", image_id)
    same = next((k for k in by_name if not k.isascii() and unicodedata.normalize("NFC", k) == key), None)
    return "" if same is None else (f" (the ground truth's {_short(same)} looks the same but is written with other "
                                    "Unicode code points: normalize both files' ids, e.g. to NFC)")


def _id_kind_hint(image_id, index: dict) -> str:
    """
    For an unknown id of another kind than every ground-truth id (a string among integer ids, or the reverse): the
    hint that the two files number their images differently, e.g. a per-image CityPersons registration (file-name
    ids) against a citypersons2coco file (1, 2, ...).
    """
    kinds = {isinstance(k, str) for k in index}
    if len(kinds) != 1 or isinstance(image_id, str) == kinds.pop() or not _id_ok(image_id):
        return ""
    first = _short(next(iter(index)))
    return (f" (it is {'a string' if isinstance(image_id, str) else 'an integer'}; the ground truth's ids are "
            f"{'integers' if isinstance(image_id, str) else 'strings'}, e.g. {first}: the two files number their "
            "images differently; take both from the same data set registration or converter)")


# ---------------------------------------------------------------------------------------- COCO-style JSON files
def _load_json(path: str, unique_keys: bool = False):
    """The JSON document of a file; ``unique_keys``: a key named twice in one object is an error (ground truth)."""
    with open(path, "rb") as f:
        data = f.read()
    doc = _json_document(data, path)
    if unique_keys:
        _check_unique_keys(data, [doc], [(path, data)])
    return doc


# No file may name a key twice in one object: every JSON reader keeps the last value without a word (a box with
# "tag": "person" and later "tag": "mask" would silently be an ignore region; a detection's second "score" would
# replace its first). orjson has no hook for
# it, and json's object_pairs_hook would make reading several times slower, so the keys are counted: the text's
# key-ends (a quote, optional white space, a colon; outside a string a quote cannot be escaped, inside one it must be)
# against those of the parsed objects written back by orjson (one `":` per key it kept). Only when the two counts
# differ (a duplicate; or a string spelling a quote as \u0022, or an integer beyond 64 bits that orjson does not
# write) is the text parsed again with the hook, which names the duplicate (or finds none).
_SPACED_KEY_END = re.compile(rb'"\s+:')


def _check_unique_keys(data: bytes, docs: list, parts: list) -> None:
    """
    EvalInputError naming the part (``(where, bytes)``: the file, or a line of it) whose JSON names a key twice in
    one object; ``data`` is all the text, ``docs`` its parsed documents.
    """
    try:
        if data.count(b'":') + len(_SPACED_KEY_END.findall(data)) == orjson.dumps(docs).count(b'":'):
            return
    except (orjson.JSONEncodeError, RecursionError):  # an integer beyond 64 bits, very deep nesting: check exactly
        pass

    def hook(pairs):  # pedet's one duplicate-key rule, with the object's id in the message
        try:
            return unique_keys(pairs)
        except DuplicateKeyError as e:
            out = e.obj
            ids = ", ".join(f"{k} {_short(out[k])}" for k in ("ID", "id", "image_id") if k in out and _id_ok(out[k]))
            raise EvalInputError(f"an object{f' ({ids})' if ids else ''} has the key {e.key!r} twice "
                                 f"({_short(e.first)}, then {_short(e.second)}); JSON readers keep the last value "
                                 "without a word: remove the one that is wrong") from None

    for where, text in parts:
        try:
            json.loads(text, object_pairs_hook=hook)
        except EvalInputError as e:
            raise EvalInputError(f"{where}: {e}") from None
        except (ValueError, RecursionError):  # NaN literals and the like were read (and checked) already
            pass


def _json_document(data: bytes, path: str):
    """One JSON document read from ``path``; an empty file, truncated text or an odgt file is named as such."""
    if not data.strip():
        raise EvalInputError(f"{path}: empty file (a JSON document is needed)")
    _check_text(data, path)
    try:
        return _loads(data, path)
    except EvalInputError as err:
        if ends_in_nul_bytes(data):  # a whole document, then zeros: not "more data after the end of the document"
            raise EvalInputError(f"{path}: NUL bytes in the text ({NUL_HINT})") from None
        extra = None  # "Extra data" at line L column C: more text after one whole JSON document
        try:
            json.loads(data.decode("utf-8-sig"))
        except (ValueError, RecursionError) as e:
            if getattr(e, "msg", "") == "Extra data":
                extra = EvalInputError(f"{path}: line {e.lineno} column {e.colno}: more data after the end of the "
                                       "JSON document (two documents in one file?)")
        if extra is not None and b"\n" not in data.strip():  # was "(truncated, or not JSON?) (Extra data: ...)"
            raise extra from None
        first = data.lstrip().split(b"\n", 1)[0]
        try:
            rec = json.loads(first)
        except (ValueError, RecursionError):
            raise (extra or EvalInputError(str(err).replace("invalid JSON", "invalid JSON (truncated, or not JSON?)",
                                                            1))) from None
        if isinstance(rec, dict) and "ID" in rec:
            raise EvalInputError(f"{path}: one JSON object per line (a CrowdHuman odgt file; those go with "
                                 "--protocol crowdhuman), not one COCO-style JSON document") from None
        if isinstance(rec, (dict, list)) and first.strip() != data.strip():  # was "Extra data: line 2 column 1"
            raise EvalInputError(f"{path}: one JSON value per line (JSON Lines), not one JSON document: write the "
                                 "detections as one list [{...}, {...}] and the ground truth as one object") from None
        if extra is not None:
            raise extra from None
        raise


def _coco_where(path_or_obj, what: str) -> str:
    return path_or_obj if isinstance(path_or_obj, str) else what


def _check_dicts(items, where: str, kind: str, keys: tuple) -> None:
    """Every item is an object with every key of ``keys``; errors name the item by its index (and id)."""
    for k, a in enumerate(items):
        if not isinstance(a, dict):
            raise EvalInputError(f"{where}: {kind} {k} is {_json_type(a)}, not an object")
        for key in keys:
            if key not in a:
                name = f" (id {a['id']!r})" if "id" in a else ""
                raise EvalInputError(f"{where}: {kind} {k}{name}: no {key!r}")


def _category_filter(items: list, category_id: int | None, where: str, kind: str, gt: bool,
                     names: dict | None = None) -> list:
    """
    Keep the items of ``category_id`` (a missing category_id counts as 1). Others dropped: a warning with their
    count (and, for a ground truth, the names of their categories, ``names`` {id: name}); a detection file in which
    nothing of that category is left: an error (e.g. contiguous id 0 for person).
    """
    if category_id is None:
        if not gt:
            _announce_mixed_categories({a.get("category_id") for a in items if isinstance(a.get("category_id"), int)},
                                       where)
        return items
    for k, a in enumerate(items):
        c = a.get("category_id", 1)
        if not (_id_ok(c) or c is None):
            raise EvalInputError(f"{where}: {kind} {k}: 'category_id' is {_json_type(c)} ({c!r:.40}), not an integer")
    if not gt:  # (a ground truth's are counted with its other defaults, _announce_defaults)
        absent = [k for k, a in enumerate(items) if "category_id" not in a]
        if absent:
            warnings.warn(f"{where}: {len(absent)} of {len(items)} {kind}s have no 'category_id': read as category 1 "
                          f"(pedestrian); first: {kind} {absent[0]}", EvalInputWarning, stacklevel=3)
    kept = [a for a in items if a.get("category_id", 1) == category_id]
    if len(kept) != len(items):
        cats = {a.get("category_id") for a in items if a.get("category_id", 1) != category_id}
        _report_other_categories(len(items) - len(kept), len(items), cats, category_id, where, kind, gt, names)
    return kept


def _announce_mixed_categories(cats: set, where: str) -> None:
    """A protocol that reads every detection (Caltech: one class, no category filter) given several categories."""
    if len(cats) > 1:
        warnings.warn(f"{where}: the detections have {len(cats)} category ids ({', '.join(map(str, sorted(cats)[:5]))}"
                      "); all are evaluated as persons (this protocol has one class and keeps every detection)",
                      EvalInputWarning, stacklevel=4)


def _report_other_categories(dropped: int, total: int, cats: set, category_id: int, where: str, kind: str,
                             gt: bool, names: dict | None = None) -> None:
    names = names or {}
    shown = ", ".join(sorted(repr(c) + (f" ({names[c]!r})" if c in names else "") for c in cats)[:5])
    own = names.get(category_id) if gt else None  # what the file itself calls the evaluated category
    person = "person" if own is None or own.strip().lower() in _PERSON_CATEGORY_NAMES else (
        f"named {own!r} in this file: its boxes are evaluated as pedestrians")
    msg = (f"{where}: {dropped} of {total} {kind}s have category_id {shown}, not {category_id}; the protocol "
           f"evaluates category {category_id} ({person}) only")
    if dropped == total and not gt:
        raise EvalInputError(msg + " (person has COCO id 1, not Detectron2's contiguous 0)")
    persons = sorted({names[c] for c in cats if c in names and names[c].strip().lower() in _PERSON_CATEGORY_NAMES})
    if gt and persons:  # e.g. 'person' with COCO id 3, or Detectron2's contiguous 0: the file's pedestrians left out
        msg += (f"; the boxes of {', '.join(map(repr, persons))} are left out as the official script leaves them out "
                f"(it reads category_id {category_id} only): give the pedestrians category_id {category_id}")
    ignore_like = sorted({names[c] for c in cats if c in names and names[c].strip().lower() in _IGNORE_CATEGORY_NAMES})
    if gt and ignore_like:  # e.g. a TJU-Ped file: "not evaluated" hid that detections on them become false positives
        msg += (f"; the boxes of {', '.join(map(repr, ignore_like))} are left out as the official script leaves them "
                "out: no ignore regions here, so detections on them count as false positives (pedet's TJU-Ped loader, "
                "unlike its CityPersons one, reads such a category as ignore regions: for a TJU-Ped file give those "
                f"boxes category_id {category_id} and 'ignore': 1 to evaluate them as MissRateEvaluator does)")
        warnings.warn(msg, EvalInputWarning, stacklevel=4)
        return
    warnings.warn(msg + "; the others are not evaluated", EvalInputWarning, stacklevel=4)


# category names of pedestrians (a GT that gives them another id than the protocol's is named in the warning)
_PERSON_CATEGORY_NAMES = ("person", "persons", "pedestrian", "pedestrians")

# category names that pedet's TJU-Ped loader reads as ignore regions (pedet.data.tju.IGNORE_CATEGORY_NAMES; not
# imported: the command imports nothing of pedet.data)
_IGNORE_CATEGORY_NAMES = ("ignore", "ignore region", "crowd", "people", "person group", "people group")


def _category_names(data: dict) -> dict:
    """{id: name} of a COCO file's well-formed 'categories' entries (only used to name categories in messages)."""
    cats = data.get("categories")
    if not isinstance(cats, list):
        return {}
    return {c["id"]: c["name"] for c in cats
            if isinstance(c, dict) and _id_ok(c.get("id")) and isinstance(c.get("name"), str)}


# the Caltech labels that are not a pedestrian (pedet.evaluation.caltech.CALTECH_LABELS but "person", and "person-fa",
# which dbEval does not load; not imported: that module imports this one)
_CALTECH_IGNORE_LABELS = ("person?", "people", "person-fa", "ignore")


def read_coco_gt(
    path_or_dict: str | dict, category_id: int | None = 1, missing_vis: str = "full", require_labels: bool = False
) -> GroundTruthSet:
    """
    CityPersons-style COCO ground truth (``val_gt.json``): images ``{"id", "width", "height"}`` and annotations
    ``{"id", "image_id", "category_id", "bbox", "vis_bbox", "height", "vis_ratio", "ignore"}``; Caltech files use
    the same layout plus a ``"label"`` string per annotation.

    Args:
        category_id: only annotations of this category are read (the official CityPersons script accumulates
            category 1 only, ``catIds = [1]``); None reads all. A missing category_id counts as 1; annotations of
            other categories are dropped with an EvalInputWarning giving their count.
        missing_vis: a missing vis_bbox becomes the full box ("full") or [0, 0, 0, 0] ("zeros": the Caltech
            toolbox's "not occluded").
        require_labels: every annotation must have a "label" string (Caltech).
    Missing fields: vis_bbox -> see missing_vis, height -> bbox[3], vis_ratio -> area(vis_bbox) / area(bbox),
    ignore -> 0. Required: "images" and "annotations" lists, image "id", annotation "image_id" and "bbox".
    CityPersons-style reading (not ``require_labels``): annotations without ``ignore``, without both ``vis_bbox``
    and ``vis_ratio``, or with ``iscrowd`` 1 but ``ignore`` 0 are read as the official script reads them (a regular
    pedestrian, fully visible, regular) with one EvalInputWarning per kind giving the count (pedet's data loader
    announces the first two the same way and makes the third an ignore region).
    """
    path_or_dict = _path_or_data(path_or_dict, "coco gt", "a COCO-style dict")
    _check_category_argument(category_id, "read_coco_gt")
    if missing_vis not in ("full", "zeros"):  # any other value read every missing vis_bbox as the full box
        raise ValueError(f"read_coco_gt: missing_vis must be 'full' or 'zeros', got {missing_vis!r}")
    where = _coco_where(path_or_dict, "coco gt")
    data = _load_json(path_or_dict, unique_keys=True) if isinstance(path_or_dict, str) else path_or_dict
    if not isinstance(data, dict):
        raise EvalInputError(f"{where}: expected a COCO-style object with 'images' and 'annotations', got "
                             f"{_json_type(data)}" + (" (a results file?)" if isinstance(data, list) else ""))
    if is_metrics_file(data):
        raise EvalInputError(f"{where}: this is a metrics file (written by --out or MissRateEvaluator), not a "
                             "COCO-style ground truth with 'images' and 'annotations'")
    if "images" not in data and "annotations" not in data:  # e.g. nms_sweep.json: "no 'images' ... write []" misled
        keys = ", ".join(repr(k) for k in list(data)[:5]) + (", ..." if len(data) > 5 else "")
        raise EvalInputError(f"{where}: expected a COCO-style ground truth with 'images' and 'annotations', got an "
                             f"object with neither" + (f" (its keys: {keys})" if data else " (an empty object)"))
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            got = "no" if key not in data else f"{_json_type(data[key])} as"
            raise EvalInputError(f"{where}: {got} {key!r}, a list is needed (write [] for none)")
    images = data["images"]
    _check_dicts(images, where, "image", ("id",))
    for k, im in enumerate(images):
        if not _id_ok(im["id"]):
            raise EvalInputError(f"{where}: image {k}: 'id' is {_json_type(im['id'])}, not a string or an integer")
        if im["id"] == "":  # pedet's data loaders refuse it alike
            raise EvalInputError(f"{where}: image {k}: 'id' is an empty string, not an image id")
        _check_image_size(im, f"{where}: image {im['id']!r}")
    ids = [im["id"] for im in images]
    pos = {i: k for k, i in enumerate(ids)}
    if len(pos) != len(ids):
        build_ground_truth(ids, [0] * len(ids), np.zeros((0, 4)))  # raises naming the duplicate
    anns = data["annotations"]
    _check_dicts(anns, where, "annotation", ("image_id", "bbox"))
    for k, a in enumerate(anns):  # true and 1.0 would find image 1 in the dict below
        if not _id_ok(a["image_id"]):
            raise EvalInputError(f"{where}: annotation {a.get('id', k)!r}: 'image_id' is {_json_type(a['image_id'])} "
                                 f"({_short(a['image_id'])}), not a string or an integer")
        if "category_id" in a and a["category_id"] is None:  # dropped as "another category" before
            raise EvalInputError(f"{where}: annotation {a.get('id', k)!r} (image {a['image_id']!r}): 'category_id' "
                                 "is null; write the value or leave the key out (a missing one counts as 1)")
    anns = _category_filter(anns, category_id, where, "annotation", gt=True, names=_category_names(data))
    try:
        img = np.fromiter((pos[a["image_id"]] for a in anns), dtype=np.int64, count=len(anns))
    except (KeyError, TypeError):
        bad = next(a for a in anns if not _id_ok(a["image_id"]) or a["image_id"] not in pos)
        raise EvalInputError(f"{where}: annotation {bad.get('id')!r} names unknown image {bad['image_id']!r}") \
            from None
    if img.size and (img[1:] < img[:-1]).any():  # group by image, file order within an image
        anns = [anns[k] for k in np.argsort(img, kind="stable").tolist()]
        img = np.sort(img, kind="stable")
    no_vis = [0.0, 0.0, 0.0, 0.0]
    rows = [(a["bbox"], a.get("vis_bbox"), a.get("height"), a.get("vis_ratio"), a.get("ignore", 0), a.get("id"))
            for a in anns]
    for k, (a, r) in enumerate(zip(anns, rows)):  # one pass of type checks (a string would parse as a number)
        aw = f"{where}: annotation {r[5]!r} (image {a['image_id']!r})"
        for key in ("vis_bbox", "height", "vis_ratio", "iscrowd"):  # null is not "absent" (as pedet's data loaders)
            if key in a and a[key] is None:
                raise EvalInputError(f"{aw}: {key!r} is null; write the value or leave the key out")
        if "iscrowd" in a:  # read for the iscrowd-without-ignore warning: 2 would silently be "not a crowd"
            _raise_first([_bad_flag(a["iscrowd"], aw, "iscrowd")])
        _raise_first([_bad_box(r[0], aw, "bbox"), None if r[1] is None else _bad_box(r[1], aw, "vis_bbox"),
                      None if r[2] is None else _bad_range(r[2], aw, "height", 0.0, math.inf),
                      None if r[3] is None else _bad_range(r[3], aw, "vis_ratio", 0.0, 1.0),
                      _bad_flag(r[4], aw, "ignore"),
                      None if r[5] is None or (type(r[5]) is int and -2 ** 63 <= r[5] < 2 ** 63) else
                      EvalInputError(f"{aw}: 'id' is {_json_type(r[5])}, not an integer") if type(r[5]) is not int
                      else EvalInputError(f"{aw}: 'id' {r[5]} is beyond the 64-bit integer range")])
        if not require_labels and a.get("label") in _CALTECH_IGNORE_LABELS and not r[4]:
            # a Caltech ground truth given with --protocol citypersons: its labels, not 'ignore', make the ignore
            # regions, so the 'people' boxes became pedestrians (with only the "no 'ignore'" count said)
            raise EvalInputError(
                f"{aw}: 'label' {a['label']!r} is a Caltech ignore label, but 'ignore' is not 1: this protocol would "
                "count the box as a pedestrian; evaluate a Caltech ground truth with --protocol caltech (or set "
                "'ignore': 1 on such boxes)")
        if (not require_labels and a.get("label") == "person" and r[1] is not None and r[3] is None and not r[4]
                and all(v == 0 for v in r[1])):
            # caltech2coco's (and dbEval's) "not occluded": read here as visibility 0, so every such pedestrian left
            # every setup and the command printed 'undefined' (or an MR of the occluded ones only) without a word
            raise EvalInputError(
                f"{aw}: 'label' 'person' with 'vis_bbox' [0, 0, 0, 0] and no 'vis_ratio' is a Caltech ground truth "
                "(where that visible box means not occluded): this protocol would read visibility 0 and leave the "
                "box out of every setup; evaluate a Caltech ground truth with --protocol caltech")
        if require_labels and not isinstance(a.get("label"), str):
            raise EvalInputError(
                f"{aw}: no 'label' string (a Caltech ground truth labels every box person / person? / people / "
                "person-fa / ignore; a CityPersons file goes with --protocol citypersons)")
    ann_ids = [r[5] for r in rows if r[5] is not None]
    if len(set(ann_ids)) != len(ann_ids):  # COCO tools index annotations by id: the last box would be read twice
        seen: dict = {}
        for a in anns:
            if a.get("id") in seen:
                raise EvalInputError(f"{where}: annotation id {a['id']!r} is used twice (images {seen[a['id']]!r} and "
                                     f"{a['image_id']!r}); COCO tools index annotations by id and would read one of "
                                     "the two boxes twice: annotation ids must be unique")
            if a.get("id") is not None:
                seen[a["id"]] = a["image_id"]
    if not require_labels:
        _announce_defaults(anns, where)
    # pedet's loaders need every image's size (Detectron2 checks the decoded image against it); the protocols do
    # not, so a file without it is still evaluated, but a box entirely outside its image can then not be found (and
    # stays regular ground truth that no detection matches): say so, counted, for the images with boxes
    unsized = sorted({int(i) for i in img if "width" not in images[i] or "height" not in images[i]})
    if unsized:
        warnings.warn(f"{where}: {len(unsized)} of {len(images)} image(s) with annotations have no 'width' / "
                      "'height': their boxes are not checked against the image (one entirely outside it stays regular "
                      f"ground truth; pedet's data loaders need both); first: image {images[unsized[0]]['id']!r}",
                      EvalInputWarning, stacklevel=2)
    boxes_a = _as_boxes([r[0] for r in rows], where)
    vis_a = _as_boxes(
        [r[1] if r[1] is not None else (no_vis if missing_vis == "zeros" else r[0]) for r in rows], where
    )
    heights = np.array([r[2] if r[2] is not None else r[0][3] for r in rows], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        full_area = boxes_a[:, 2] * boxes_a[:, 3]
        if require_labels:  # Caltech: the toolbox's area(vis) / area(full)
            derived = np.where(full_area > 0, vis_a[:, 2] * vis_a[:, 3] / full_area, 1.0)
        else:  # CityPersons files give vis_ratio; without it, pedet's data loaders' area(vis ∩ full) / area(full)
            # (pedet.data.common.vis_ratio); area(vis) / area(full) exceeds 1 for a box reaching outside the full one
            x0, y0 = np.maximum(boxes_a[:, 0], vis_a[:, 0]), np.maximum(boxes_a[:, 1], vis_a[:, 1])
            iw = np.minimum(boxes_a[:, 0] + boxes_a[:, 2], vis_a[:, 0] + vis_a[:, 2]) - x0
            ih = np.minimum(boxes_a[:, 1] + boxes_a[:, 3], vis_a[:, 1] + vis_a[:, 3]) - y0
            inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
            derived = np.where(full_area > 0, np.minimum(inter / full_area, 1.0), 1.0)
        huge = (full_area > 0) & ~np.isfinite(derived)
        if huge.any():  # an area beyond the float range (inf / inf): the ratio per side, as pedet's data loaders
            derived[huge] = (vis_a[huge, 2] / boxes_a[huge, 2]) * (vis_a[huge, 3] / boxes_a[huge, 3]) \
                if require_labels else np.minimum((np.clip(iw, 0, None) / boxes_a[:, 2])[huge]
                                                  * (np.clip(ih, 0, None) / boxes_a[:, 3])[huge], 1.0)
    vr = np.array([r[3] if r[3] is not None else np.nan for r in rows], dtype=np.float64)
    vr = np.where(np.isnan(vr), derived, vr)
    has_label = any("label" in a for a in anns)
    labels = [a.get("label", "ignore" if a.get("ignore", 0) else "person") for a in anns] if has_label else None
    return build_ground_truth(
        ids, np.bincount(img, minlength=len(ids)), boxes_a, vis_boxes=vis_a, heights=heights, vis_ratios=vr,
        ignore=np.array([bool(r[4]) for r in rows], dtype=bool),
        ann_ids=np.array([r[5] if r[5] is not None else k + 1 for k, r in enumerate(rows)], dtype=np.int64),
        labels=labels,
        image_width=[im.get("width", math.nan) for im in images],
        image_height=[im.get("height", math.nan) for im in images],
    )


def _announce_defaults(anns: list, where: str) -> None:
    """One counted EvalInputWarning per default that decides what a CityPersons-style annotation counts as."""
    kinds = (
        (lambda a: "ignore" not in a, "have no 'ignore': regular pedestrians (as the official script reads them)"),
        (lambda a: a.get("vis_bbox") is None and a.get("vis_ratio") is None,
         "have neither 'vis_bbox' nor 'vis_ratio': fully visible (visibility 1)"),
        (lambda a: a.get("vis_bbox") is not None and a.get("vis_ratio") is None,
         "have 'vis_bbox' but no 'vis_ratio': visibility area(vis_bbox ∩ bbox) / area(bbox), as pedet's data "
         "loaders"),
        (lambda a: "height" not in a,
         "have no 'height': the height of 'bbox' (its 4th value), as pedet's data loaders"),
        (lambda a: "category_id" not in a, "have no 'category_id': read as category 1 (pedestrian)"),
        (lambda a: a.get("iscrowd", 0) == 1 and not a.get("ignore", 0),
         "have 'iscrowd' 1 but 'ignore' {ignore}: regular pedestrians (the official script reads 'ignore' only; "
         "pedet's data loader makes them ignore regions)"),
    )
    for test, consequence in kinds:
        hits = [a for a in anns if test(a)]
        if hits:
            absent = sum("ignore" not in a for a in hits)  # the loader's wording: 0, absent, or both
            consequence = consequence.replace("{ignore}", "0" if not absent else "absent" if absent == len(hits)
                                              else "0 or absent")
            warnings.warn(f"{where}: {len(hits)} of {len(anns)} annotation(s) {consequence}; first: annotation "
                          f"{hits[0].get('id')!r} (image {hits[0]['image_id']!r})", EvalInputWarning, stacklevel=3)


def read_coco_results(path_or_list: str | list, gt: GroundTruthSet, category_id: int | None = 1) -> DetectionSet:
    """
    COCO results JSON: a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.

    Args:
        category_id: keep only this category (official CityPersons accumulates category 1); None keeps all.
            A missing category_id counts as 1. Detections of other categories: a warning with their count; none
            of this category left in a non-empty file: an error (Detectron2's contiguous id 0 is not COCO's 1).
    An empty list is valid (no detections; the official script would crash on it).
    """
    path_or_list = _path_or_data(path_or_list, "coco results", "a list of detections")
    _check_category_argument(category_id, "read_coco_results")
    if not isinstance(gt, GroundTruthSet):
        raise TypeError(f"read_coco_results: gt must be the GroundTruthSet the detections are read against, got "
                        f"{type(gt).__name__}")
    where = _coco_where(path_or_list, "coco results")
    if isinstance(path_or_list, str):
        with open(path_or_list, "rb") as f:
            text = f.read()
        if not text.strip():
            raise EvalInputError(f"{where}: empty file (a JSON list of detections is needed; [] for none)")
        fast = _fast_coco_results(text, gt, category_id, where)
        if fast is not None:
            return fast
        dets = _json_document(text, path_or_list)
        _check_unique_keys(text, [dets], [(path_or_list, text)])  # the fast path's layout has each key once
    else:
        dets = path_or_list
    if not isinstance(dets, list):
        hint = (" (a ground-truth file?)" if isinstance(dets, dict) and "annotations" in dets else
                " (a metrics file written by --out or MissRateEvaluator)" if is_metrics_file(dets) else
                " (a CrowdHuman odgt line? odgt files go with --protocol crowdhuman)" if isinstance(dets, dict)
                and "ID" in dets else "")
        raise EvalInputError(f"{where}: expected a JSON list of detections, got {_json_type(dets)}{hint}")
    _check_dicts(dets, where, "detection", ("image_id", "bbox", "score"))
    dets = _category_filter(dets, category_id, where, "detection", gt=False)
    for k, d in enumerate(dets):
        if not _id_ok(d["image_id"]):
            raise EvalInputError(f"{where}: detection {k}: 'image_id' is {_json_type(d['image_id'])} "
                                 f"({_short(d['image_id'])}), not a string or an integer")
    boxes, scores = _numeric([d["bbox"] for d in dets], 4), _numeric([d["score"] for d in dets], 0)
    if boxes is None or scores is None or any(type(d["score"]) is bool for d in dets):
        for d in dets:
            dw = f"{where}: detection in image {d['image_id']!r}"
            _raise_first([_bad_box(d["bbox"], dw, "bbox"), _bad_number(d["score"], dw, "score")])
    return build_detections(gt, [d["image_id"] for d in dets], boxes, scores, what=where)


_EXACT_INT = 2 ** 53  # every integer of smaller magnitude is exact in a float64


def _fast_coco_results(
    text: bytes, gt: GroundTruthSet, category_id: int | None, where: str = "coco results"
) -> DetectionSet | None:
    """The canonical json.dumps layout with integer image ids (see _NUM above), else None."""
    if isinstance(text, str):
        text = text.encode()
    # ids are compared as float64 below: exact only up to 2**53 (beyond, two ids could share one float)
    if (not all(type(i) is int and -_EXACT_INT < i < _EXACT_INT for i in gt.image_ids)
            or _COCO_ARRAY.fullmatch(text) is None):
        return None
    n = text.count(b"{")
    rows = _numbers([text], n, 7, _COCO_KEYS)  # image_id, category_id, x, y, w, h, score
    if rows is None:
        return None
    if category_id is None:
        _announce_mixed_categories({int(c) for c in np.unique(rows[:, 1]).tolist()}, where)
    else:
        other = rows[:, 1] != category_id
        if other.any():
            cats = {int(c) if c.is_integer() else c for c in np.unique(rows[other, 1]).tolist()}
            _report_other_categories(int(other.sum()), rows.shape[0], cats, category_id, where, "detection", False)
            rows = rows[~other]
    ids = np.asarray(gt.image_ids, dtype=np.int64)
    o = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[o], rows[:, 0])
    pos = np.minimum(pos, ids.size - 1)
    img = o[pos] if ids.size else pos
    bad = (ids[img] != rows[:, 0]) if ids.size else np.ones(rows.shape[0], dtype=bool)
    if bad.any():
        v = rows[int(np.flatnonzero(bad)[0]), 0]
        raise EvalInputError(f"{where}: image id {int(v) if v.is_integer() else v!r} is not in the ground truth")
    return _detections_from_index(gt, img, rows[:, 2:6].copy(), rows[:, 6].copy(), where)


# ------------------------------------------------------------------------------------- Detectron2 dataset dicts
_XYXY_ABS, _XYWH_ABS = 0, 1  # detectron2.structures.BoxMode values (not imported: this module stays numpy-only)


def _xywh(box, mode, where: str, key: str) -> list:
    """One dataset-dict box (4 finite numbers in XYXY_ABS or XYWH_ABS) as XYWH floats; EvalInputError otherwise."""
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or int(mode) not in (_XYXY_ABS, _XYWH_ABS):
        raise EvalInputError(f"{where}: unsupported bbox_mode {mode!r} (XYXY_ABS or XYWH_ABS expected)")
    if isinstance(box, np.ndarray):
        box = box.tolist()
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise EvalInputError(f"{where}: {key!r} must be 4 numbers, got {box!r:.60}")
    for v in box:
        if (e := _bad_number(_py(v), where, key)) is not None:
            raise e
    box = [float(v) for v in box]
    if int(mode) == _XYXY_ABS:
        box = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
    return box


def _py(v):
    """A numpy scalar as the Python number it holds (dataset dicts may carry np.float32 or np.bool_)."""
    return v.item() if isinstance(v, np.generic) else v


def _dict_record(d, k: int, what: str) -> tuple[str, list]:
    """Check the per-image keys of dataset dict ``k``; returns (where, annotations)."""
    if not isinstance(d, dict) or "image_id" not in d:
        raise EvalInputError(f"{what}: record {k} has no 'image_id'")
    if not _id_ok(_py(d["image_id"])):  # numpy integers (np.int64 ids) are integers too
        raise EvalInputError(f"{what}: record {k}: 'image_id' {d['image_id']!r:.40} is not a string or an integer")
    where = f"{what}: image {_py(d['image_id'])!r}"
    if not isinstance(d.get("annotations"), list):  # without it the image would silently have no ground truth
        got = "no 'annotations'" if "annotations" not in d else f"'annotations' is {_json_type(d['annotations'])}"
        raise EvalInputError(f"{where}: {got}; the evaluator needs the ground truth (a list, [] for none)")
    for key in ("width", "height"):
        v = _py(d.get(key))
        if v is not None and (e := _bad_range(v, where, key, 1e-300, math.inf)) is not None:
            raise e
    return where, d["annotations"]


# `ignore_reason` values of a CityPersons pedestrian that a data set's TRAINING rule (pedet.data.citypersons, e.g.
# citypersons_train: height >= 50 and visibility >= 0.65) made an ignore box: for the protocol it is a pedestrian
# like any other (val_gt.json has ignore 0 for every pedestrian), and each subset applies its own ranges.
TRAIN_RULE_REASONS = ("height", "visibility", "height,visibility")


def _dict_annotation(a, where: str, box: str) -> tuple:
    """
    (box, other box, height, vis ratio, ignore, label, ignored only by a training rule) of one pedet-format
    annotation, checked.
    """
    if not isinstance(a, dict):
        raise EvalInputError(f"{where}: an annotation is {_json_type(a)}, not a dict")
    if "bbox" not in a:
        raise EvalInputError(f"{where}: an annotation has no 'bbox'")
    if "bbox_mode" not in a:  # before: read as XYWH_ABS, so XYXY boxes became other boxes without a word
        raise EvalInputError(f"{where}: an annotation has no 'bbox_mode' (Detectron2's dataset dicts need it: "
                             "BoxMode.XYWH_ABS or BoxMode.XYXY_ABS)")
    mode = a["bbox_mode"]
    full = _xywh(a["bbox"], mode, where, "bbox")
    v = _xywh(a["vis_bbox"], mode, where, "vis_bbox") if a.get("vis_bbox") is not None else full
    if v[2] < 0 or v[3] < 0:  # pedet's loaders keep a visible box of negative size as visibility 0 (an occluded
        # object's, as the files have them): read as a box of no area, not refused once training reached evaluation
        v = [v[0], v[1], max(v[2], 0.0), max(v[3], 0.0)]
    cat = _py(a.get("category_id", 0))
    if isinstance(cat, bool) or cat not in (0, -1):  # another class would silently count as a person
        raise EvalInputError(f"{where}: 'category_id' {cat!r} is neither 0 (person) nor -1 (ignore region); the "
                             "miss-rate protocols score one class, person")
    for key in ("ignore", "iscrowd"):
        if (e := _bad_flag(_py(a.get(key, 0)), where, key)) is not None:
            raise e
    fa = full[2] * full[3]
    height = _py(a.get("height", full[3]))
    ratio = _py(a.get("vis_ratio", v[2] * v[3] / fa if fa > 0 else 1.0))
    _raise_first([_bad_range(height, where, "height", 0.0, math.inf),
                  _bad_range(ratio, where, "vis_ratio", 0.0, 1.0)])
    label = a.get("label")
    if label is not None and not isinstance(label, str):
        raise EvalInputError(f"{where}: 'label' is {_json_type(label)}, not a string")
    ignore = bool(a.get("ignore", 0)) or cat == -1 or bool(a.get("iscrowd", 0))
    by_rule = ignore and a.get("ignore_reason") in TRAIN_RULE_REASONS
    if by_rule:  # a pedestrian that only a training rule left out: the protocol's subsets apply their own ranges
        ignore = False
    return (v, full) if box == "visible" else (full, v), float(height), float(ratio), ignore, label, by_rule


def ground_truth_from_dataset_dicts(dicts: Sequence[dict], box: str = "full",
                                    what: str = "dataset dicts", subsets: bool = False) -> GroundTruthSet:
    """
    Ground truth from Detectron2 dataset dicts in pedet's record format (pedet.data.common.make_annotation).

    Per image: ``image_id`` (string or integer), ``annotations`` (a list; required: an image without it would
    silently have no ground truth), optional ``width`` / ``height`` (positive). Per annotation: ``bbox`` (full box,
    unclipped; ``bbox_mode`` XYWH_ABS or XYXY_ABS, required as in Detectron2), ``vis_bbox`` (visible box, same
    mode; default bbox: with ``box="visible"``, person boxes without one are scored with their full box and
    announced by one counted EvalInputWarning; a set where no person box has one is an EvalInputError),
    ``height`` (>= 0, default box height), ``vis_ratio`` (in [0, 1], default area ratio),
    ``category_id`` 0 (person) or -1 (ignore region); ignore = ``ignore`` or ``category_id == -1`` or ``iscrowd``
    (flags 0 / 1), except a pedestrian that only a training rule made an ignore box (``ignore_reason`` height /
    visibility, e.g. ``citypersons_train``): regular, as in the protocol's own ground truth, with one counted
    EvalInputWarning; optional ``label``.

    Args:
        box: "full" evaluates against ``bbox``; "visible" against ``vis_bbox`` (CrowdHuman visible-body mode).
        what: names the source in errors, e.g. "dataset 'crowdhuman_val'".
        subsets: the protocol selects persons by ``height`` and visibility (CityPersons, Caltech): person boxes
            without ``height``, or without both ``vis_bbox`` and ``vis_ratio`` (records of another loader, e.g.
            Detectron2's ``load_coco_json``), get one counted EvalInputWarning per default, as such a file does.
    Raises:
        EvalInputError naming the image and what is wrong (missing key, a value of the wrong type, NaN / inf,
        out of range, another category).
    """
    if box not in ("full", "visible"):  # any other value ("Visible", "vis") evaluated the full boxes without a word
        raise ValueError(f"{what}: box must be 'full' or 'visible', got {box!r}")
    ids, counts, boxes, vis, heights, ratios, ignore, labels, widths, hs = [], [], [], [], [], [], [], [], [], []
    any_label = False
    by_rule, no_vis, unknown_vis, no_height = [], [], [], []
    for k, d in enumerate(dicts):
        where, anns = _dict_record(d, k, what)
        ids.append(_py(d["image_id"]))
        counts.append(len(anns))
        widths.append(math.nan if d.get("width") is None else d["width"])
        hs.append(math.nan if d.get("height") is None else d["height"])
        for a in anns:
            (b, other), height, ratio, ig, label, rule = _dict_annotation(a, where, box)
            if rule:
                by_rule.append(where)
            if box == "visible" and not ig and a.get("vis_bbox") is None:
                no_vis.append(where)
            # records of another loader (Detectron2's load_coco_json keeps no 'vis_bbox' / 'vis_ratio' / 'height'):
            # the defaults decide which persons a subset selects, as for a file without these keys (counted there)
            if subsets and not ig and a.get("vis_bbox") is None and a.get("vis_ratio") is None:
                unknown_vis.append(where)
            if subsets and not ig and a.get("height") is None:
                no_height.append(where)
            boxes.append(b)
            vis.append(other)
            heights.append(height)
            ratios.append(ratio)
            ignore.append(ig)
            any_label |= label is not None
            labels.append(label)
    regular = sum(not ig for ig in ignore)
    if no_vis:
        # the visible-body mode on records without visible boxes (e.g. a set registered from a COCO json) scored the
        # full boxes as visible ones, without a word
        if len(no_vis) == regular:
            raise EvalInputError(f"{what}: box 'visible' (CrowdHuman visible-body mode), but none of the {regular} "
                                 "person boxes has a 'vis_bbox': their full boxes would be scored as visible ones; "
                                 "evaluate with box 'full' (TEST.MISS_RATE.BOX full) or give the annotations a "
                                 f"'vis_bbox'; first: {no_vis[0]}")
        warnings.warn(f"{what}: box 'visible': {len(no_vis)} of {regular} person boxes have no 'vis_bbox' and are "
                      f"scored with their full box; first: {no_vis[0]}", EvalInputWarning, stacklevel=2)
    for hits, consequence in (
            (unknown_vis, "have neither 'vis_bbox' nor 'vis_ratio': fully visible (visibility 1)"),
            (no_height, "have no 'height': the height of 'bbox'")):
        if hits:  # pedet's loaders write both keys for every box (pedet.data.common.make_annotation)
            warnings.warn(f"{what}: {len(hits)} of {regular} person boxes {consequence}; first: {hits[0]}",
                          EvalInputWarning, stacklevel=2)
    if any_label:
        labels = [lab if lab is not None else ("ignore" if ig else "person") for lab, ig in zip(labels, ignore)]
    if by_rule:
        warnings.warn(f"{what}: {len(by_rule)} pedestrian box(es) are ignore boxes only by the data set's training "
                      "rule ('ignore_reason' height / visibility); they are regular ground truth for the protocol, "
                      f"whose subsets apply their own height and visibility ranges; first: {by_rule[0]}",
                      EvalInputWarning, stacklevel=2)
    with _prefixed(what):
        return build_ground_truth(
            ids, counts, _as_boxes(boxes, what), vis_boxes=_as_boxes(vis, what), heights=heights,
            vis_ratios=ratios, ignore=np.asarray(ignore, dtype=bool), labels=labels if any_label else None,
            image_width=widths, image_height=hs,
        )


@contextmanager
def _prefixed(what: str):
    """Name the source in build_ground_truth's errors ("ground truth: duplicate image id ..." -> "WHAT: ...")."""
    try:
        yield
    except EvalInputError as e:
        raise EvalInputError(f"{what}: {e}".replace(": ground truth: ", ": ", 1)) from None


def detections_from_arrays(gt: GroundTruthSet, per_image: Sequence[tuple]) -> DetectionSet:
    """
    Detections from ``[(image_id, boxes (n, 4) XYWH, scores (n,)), ...]`` (the evaluator's gathered predictions).

    Raises:
        EvalInputError: an image id twice (e.g. a sampler that repeats images), unknown id, NaN/inf, negative size.
    """
    index = gt.index()
    seen: set = set()
    img, boxes, scores = [], [], []
    for img_id, b, s in per_image:
        img_id = _py(img_id)  # a numpy integer id is an integer too
        if not _id_ok(img_id) or img_id not in index:
            raise EvalInputError(f"predictions: image id {img_id!r} is not in the ground truth"
                                 + _id_kind_hint(img_id, index))
        if img_id in seen:
            raise EvalInputError(f"predictions: duplicate image id {img_id!r}")
        seen.add(img_id)
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        img.append(np.full(b.shape[0], index[img_id], dtype=np.int64))
        boxes.append(b)
        scores.append(np.asarray(s, dtype=np.float64).reshape(-1))
    if not img:
        return _detections_from_index(gt, np.zeros(0, dtype=np.int64), np.zeros((0, 4)), np.zeros(0), "predictions")
    return _detections_from_index(gt, np.concatenate(img), np.concatenate(boxes), np.concatenate(scores), "predictions")
