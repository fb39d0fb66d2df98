"""
CrowdHuman (Shao et al., 2018) in Detectron2 Dataset format: `load_crowdhuman_odgt` and `register_crowdhuman`.

File format (`annotation_{train,val}.odgt`): one JSON object per line,
    {"ID": "273271,c9db000d5146c15", "gtboxes": [{"tag": "person" | "mask", "fbox": [x, y, w, h],
     "vbox": [x, y, w, h], "hbox": [x, y, w, h], "extra": {"box_id", "occ", "ignore"}, "head_attr": {...}}, ...]}
and the image `Images/<ID>.jpg`. The official file has no image size; optional "width"/"height" keys are used when a
line has them, otherwise the size comes from the image header.

A box is an ignore box if its `tag` is not "person" or `extra.ignore` is non-zero (docs/methods.md §3.1: union of the
CrowdHuman evaluator's and cvpods' rules). Full box = fbox (UNCLIPPED), visible box = vbox, head box = hbox.

Shape shorthand: N = images (lines), G = boxes of one image.
"""
from __future__ import annotations

import json
import math
import os
from typing import Iterator

import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from detectron2.data import DatasetCatalog, MetadataCatalog

from .common import (
    DatasetFormatError,
    DroppedBoxes,
    UniqueImageIds,
    image_size_from_header,
    is_valid_box,
    make_annotation,
    parse_box,
    require_path,
)

IMAGE_EXT = ".jpg"


def iter_odgt(odgt_file: str) -> Iterator[tuple[int, dict]]:
    """
    Yield (line number, parsed JSON object) for every non-blank line of an .odgt file.

    Raises DatasetFormatError("<file>:<line>: ...") for a line that is not a JSON object with "ID" and "gtboxes".
    """
    with open(odgt_file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{odgt_file}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetFormatError(f"{where}: malformed JSON (column {e.colno}): {e.msg}") from None
            if not isinstance(record, dict) or "ID" not in record or not isinstance(record.get("gtboxes"), list):
                raise DatasetFormatError(f"{where}: expected an object with 'ID' and a 'gtboxes' list")
            yield line_no, record


def is_ignore_box(gtbox: dict) -> bool:
    """CrowdHuman ignore rule: tag != "person" or extra.ignore != 0."""
    extra = gtbox.get("extra")
    return gtbox.get("tag") != "person" or (isinstance(extra, dict) and bool(extra.get("ignore", 0)))


def _odgt_annotation(gtbox: dict, where: str, dropped: DroppedBoxes) -> dict | None:
    """One gtboxes entry -> pedet annotation, or None (counted in `dropped`) if the full box is degenerate."""
    if not isinstance(gtbox, dict):
        raise DatasetFormatError(f"{where}: a 'gtboxes' entry must be an object, got {gtbox!r}")
    fbox = parse_box(gtbox.get("fbox"), where, "fbox")
    vbox = parse_box(gtbox["vbox"], where, "vbox") if "vbox" in gtbox else None
    hbox = parse_box(gtbox["hbox"], where, "hbox") if "hbox" in gtbox else None
    if not is_valid_box(fbox) or (vbox is not None and not all(math.isfinite(v) for v in vbox)):
        dropped.add(where, fbox)
        return None
    return make_annotation(fbox, ignore=is_ignore_box(gtbox), vis_bbox=vbox, head_bbox=hbox,
                           label=str(gtbox.get("tag")))


def load_crowdhuman_odgt(odgt_file: str, image_root: str, dataset_name: str | None = None) -> list[dict]:
    """
    Load a CrowdHuman .odgt file into Detectron2 Dataset dicts.

    Args:
        odgt_file: path of annotation_{train,val}.odgt (or a file in the same format).
        image_root: folder holding <ID>.jpg.
        dataset_name: only used in messages.
    Returns:
        N dicts {"file_name", "image_id" (the odgt ID string), "height", "width", "annotations": G dicts with bbox
        (fbox, unclipped, XYWH_ABS), vis_bbox (vbox), head_bbox (hbox), vis_ratio, height, ignore, category_id 0/-1,
        iscrowd 0, label (the tag)}.
    Raises:
        DatasetFormatError: malformed line (names file and line), duplicate ID.
        FileNotFoundError: an image is missing (names the path and the line).
    """
    dropped = DroppedBoxes(dataset_name or odgt_file)
    ids = UniqueImageIds()
    dicts = []
    for line_no, record in iter_odgt(odgt_file):
        where = f"{odgt_file}:{line_no}"
        image_id = str(record["ID"])
        ids.add(image_id, where)
        file_name = os.path.join(image_root, image_id + IMAGE_EXT)
        if "width" in record and "height" in record:
            if not os.path.isfile(file_name):
                raise FileNotFoundError(f"{where}: image not found: '{file_name}'")
            try:
                height, width = int(record["height"]), int(record["width"])
            except (TypeError, ValueError):
                raise DatasetFormatError(f"{where}: 'width' and 'height' must be integers") from None
        else:
            try:
                height, width = image_size_from_header(file_name)
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{where}: {e}") from None
        annos = [_odgt_annotation(b, where, dropped) for b in record["gtboxes"]]
        dicts.append({
            "file_name": file_name,
            "image_id": image_id,
            "height": height,
            "width": width,
            "annotations": [a for a in annos if a is not None],
        })
    dropped.warn()
    return dicts


def register_crowdhuman(name: str, odgt_file: str, image_root: str, evaluator_type: str = "crowdhuman") -> None:
    """
    Register a CrowdHuman-format split. Touches no file: the paths are checked when the data set is requested.

    Metadata: thing_classes ["person"], evaluator_type, gt_file (the .odgt), image_root.
    """

    def load() -> list[dict]:
        require_path(odgt_file, name, "annotation file")
        require_path(image_root, name, "image folder")
        return load_crowdhuman_odgt(odgt_file, image_root, name)

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(
        thing_classes=["person"], evaluator_type=evaluator_type, gt_file=odgt_file, image_root=image_root
    )
