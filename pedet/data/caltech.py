"""
Caltech Pedestrians (Dollar et al.) with the "new annotations" of Zhang et al. (CVPR 2016), in Detectron2 format.

The new annotations are Dollar's bbGt text files, one per extracted frame:
    % bbGt version=3
    lbl l t w h occ lv tv wv hv ign ang          (one object per line; boxes XYWH in px)
e.g. `person 408 178 17 42 1 410 180 15 30 0 0`. Labels are "person", "people", "person?", "ignore" (and
"person-fa" in the old annotations); any other label is an error naming the file and line. Frames are extracted from the .seq videos as `<set>_<video>_<frame>.jpg`
(e.g. `set00_V000_I00002.jpg`); the annotation file of that frame is `set00_V000_I00002.txt` in
`anno_train10x_alignedby_RotatedFilters/` (train, every 3rd frame of set00-05) or `set06_V000_I00029.jpg.txt` in
`anno_test_1xnew/` (test, every 30th frame of set06-10); both spellings are accepted.

Ignore rule (CHOICE, as Dollar's dbEval loads `person` as the only class to detect): a box is a positive if its label is
"person" and its `ign` flag is 0; every other box ("people", "person?", "ignore", ign = 1) is an ignore box. The
Reasonable/height/visibility setups are applied by the evaluator from `height` and `vis_ratio`.

Visibility as Dollar's bbGt.m bbLoad: 1 if not occluded or the visible box is all zero, 0 if an occluded object's
visible box equals its full box, else area(visible) / area(full) (capped at 1).

Shape shorthand: N = frames, G = boxes of one frame.
"""
from __future__ import annotations

import glob
import math
import os
import re
from typing import Optional, Sequence

from .common import (
    DatasetFormatError,
    DroppedBoxes,
    UniqueImageIds,
    _short,
    check_path_arguments,
    image_size_from_header,
    make_annotation,
    read_text_file,
    register_dataset,
    require_path,
)

HEADER = "% bbGt version=3"
# every label of the old and new annotations; any other label is an error (not a silent ignore box)
LABELS = ("person", "people", "person?", "person-fa", "ignore")
NUM_FIELDS = 12  # lbl l t w h occ lv tv wv hv ign ang
IMAGE_EXT = ".jpg"
# a plain decimal number as MATLAB's bbGt writes it (also nan / inf, which are rejected with their own message)
_LINE_END = re.compile(r"\r\n|\r|\n")
_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(nan|inf|infinity)", re.IGNORECASE | re.ASCII)


def caltech_visibility(occluded: bool, bbox: Sequence[float], vis: Sequence[float]) -> float:
    """Dollar's bbLoad visibility of one object (see module docstring). Boxes XYWH."""
    if not occluded or all(v == 0 for v in vis):
        return 1.0
    if list(vis) == list(bbox):
        return 0.0
    if vis[2] <= 0 or vis[3] <= 0:  # a visible box of no (or negative) size: nothing visible, not a negative ratio
        return 0.0
    return float(min(1.0, (vis[2] * vis[3]) / (bbox[2] * bbox[3])))


def frame_name(annotation_file: str) -> str:
    """set00_V000_I00002.txt or set00_V000_I00002.jpg.txt -> set00_V000_I00002."""
    name = os.path.basename(annotation_file)[: -len(".txt")]
    return name[: -len(IMAGE_EXT)] if name.lower().endswith(IMAGE_EXT) else name


def list_bbgt_files(annotation_dir: str) -> list[str]:
    """
    Sorted paths of the bbGt files of a folder: every file whose name ends in ".txt" in any case (a copy made on
    Windows may have "*.TXT"; a case-sensitive glob left those frames out without a word), hidden files excepted.
    """
    if not os.path.isdir(annotation_dir):
        raise DatasetFormatError(f"{annotation_dir}: not a folder (the Caltech annotations are a folder of bbGt "
                                 "'*.txt' files, one per frame)")
    # glob.escape: a folder name with "[" or "*" is a path, not a pattern
    names = glob.glob(os.path.join(glob.escape(annotation_dir), "*.[tT][xX][tT]"))
    return sorted(p for p in names if os.path.isfile(p))


def read_bbgt_file(path: str) -> list[tuple[str, list[float], bool, list[float], bool]]:
    """
    Parse and check one bbGt version-3 file.

    Returns:
        [(label, bbox [l, t, w, h], occluded, visible box [l, t, w, h], ign), ...] in file order.
    Raises:
        DatasetFormatError("<file>:<line>: ...") for a missing header (also: an empty file), a line that is not 12
        fields, a label outside LABELS, a number that is not finite, or an occ / ign flag that is not 0 or 1.
    """
    # lines end in LF, CRLF or CR only (as MATLAB reads them): str.splitlines also cuts at a form feed, a vertical
    # tab or U+0085 / U+2028, which made one line two boxes and moved the line numbers of the errors after it
    lines = _LINE_END.split(read_text_file(path))
    if lines and lines[-1] == "":  # the final line end
        lines.pop()
    if not lines or lines[0].strip() != HEADER:
        raise DatasetFormatError(f"{path}:1: expected the header '{HEADER}', got {_short(lines[0] if lines else '')}"
                                 + (" (empty file)" if not lines else ""))
    objects = []
    for line_no, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{line_no}"
        if len(fields) != NUM_FIELDS:
            raise DatasetFormatError(
                f"{where}: expected {NUM_FIELDS} fields 'lbl l t w h occ lv tv wv hv ign ang', got {_short(line)}"
            )
        if fields[0] not in LABELS:
            raise DatasetFormatError(f"{where}: unknown label {fields[0]!r}; expected one of {LABELS}")
        # float() alone would also read "1_0" as 10 and other scripts' digits; bbGt files hold plain decimals
        if not all(_DECIMAL.fullmatch(v) for v in fields[1:]):
            raise DatasetFormatError(f"{where}: non-numeric field in {_short(line)}")
        values = [float(v) for v in fields[1:]]
        if not all(math.isfinite(v) for v in values):
            raise DatasetFormatError(f"{where}: NaN or infinity in {_short(line)}")
        for index, name in ((4, "occ"), (9, "ign")):
            if values[index] not in (0.0, 1.0):
                raise DatasetFormatError(f"{where}: the '{name}' flag must be 0 or 1, got {fields[index + 1]!r}")
        objects.append((fields[0], values[0:4], bool(values[4]), values[5:9], bool(values[9])))
    return objects


def load_caltech(annotation_dir: str, image_dir: str, dataset_name: Optional[str] = None) -> list[dict]:
    """
    Load every bbGt file of `annotation_dir` (`*.txt` in any case, sorted by name) with its frame from `image_dir`.

    Args:
        annotation_dir: e.g. Caltech/annotations_new/anno_test_1xnew.
        image_dir: e.g. Caltech/images (holds <frame>.jpg).
        dataset_name: only used in messages.
    Returns:
        N dicts (frames without any person included), image_id = "<set>_<video>_<frame>", image size from the
        image header; annotations with label, vis_bbox, vis_ratio, height = h, ignore.
    """
    files = list_bbgt_files(annotation_dir)
    if not files:
        raise FileNotFoundError(f"no bbGt '*.txt' file in '{annotation_dir}'")
    dropped = DroppedBoxes(dataset_name or annotation_dir)
    ids = UniqueImageIds()
    dicts = []
    for path in files:
        image_id = frame_name(path)
        ids.add(image_id, path)  # set00_V000_I00002.txt and set00_V000_I00002.jpg.txt both present
        file_name = os.path.join(image_dir, image_id + IMAGE_EXT)
        try:
            height, width = image_size_from_header(file_name)
        except (FileNotFoundError, DatasetFormatError) as e:
            raise type(e)(f"{path}: {e}") from None
        annos = []
        for i, (label, bbox, occluded, vis, ign) in enumerate(read_bbgt_file(path)):
            if not dropped.check(bbox, f"{path}: object {i}", height, width):
                continue
            visible = vis if occluded and any(v != 0 for v in vis) else bbox
            annos.append(make_annotation(
                bbox, ignore=(label != "person" or ign), vis_bbox=visible,
                visibility=caltech_visibility(occluded, bbox, vis), label=label,
            ))
        dicts.append({"file_name": file_name, "image_id": image_id, "height": height, "width": width,
                      "annotations": annos})
    dropped.warn()
    return dicts


def register_caltech(name: str, annotation_dir: str, image_dir: str) -> None:
    """Register a Caltech split lazily. Metadata: thing_classes, evaluator_type "caltech", gt_dir, image_root."""
    check_path_arguments(name, annotation_dir=annotation_dir, image_dir=image_dir)

    def load() -> list[dict]:
        require_path(annotation_dir, name, "Caltech annotation folder")
        require_path(image_dir, name, "Caltech frame folder")
        return load_caltech(annotation_dir, image_dir, name)

    register_dataset(name, load, thing_classes=["person"], evaluator_type="caltech", gt_dir=annotation_dir,
                     image_root=image_dir)
