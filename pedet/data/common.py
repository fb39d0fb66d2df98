"""
Shared pieces of the pedet data loaders: the one record format, box validation, and the errors a user sees.

Every loader (CrowdHuman, CityPersons, Caltech, TJU-Ped) turns its file format into Detectron2 Dataset dicts with
the annotation fields built by `make_annotation`, so the mapper and the miss-rate evaluator never need to know which
benchmark a record came from.

Boxes are XYWH_ABS lists [x, y, w, h] in pixels, as the dataset files give them, UNCLIPPED (a full box may extend
outside the image; the evaluator needs the original box).
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Callable, Sequence

from PIL import Image

import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from detectron2.structures import BoxMode

logger = logging.getLogger(__name__)

README_HINT = "see datasets/README.md for the expected layout and how to prepare it"
ENV_VAR = "DETECTRON2_DATASETS"

# EXIF orientations that swap width and height; detectron2's read_image applies them, so the header size must too.
_EXIF_ORIENTATION_TAG = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


class DatasetFormatError(ValueError):
    """A data file does not follow its published format. The message starts with ``<file>:<line>:``."""


def datasets_root() -> str:
    """The root of all data sets: $DETECTRON2_DATASETS, default ``datasets`` (relative to the cwd, as Detectron2)."""
    return os.path.expanduser(os.getenv(ENV_VAR, "datasets"))


def require_path(path: str, dataset_name: str, what: str) -> None:
    """
    Raise FileNotFoundError unless `path` exists. Called when a data set is requested, never at registration.

    Args:
        path: the file or folder the data set needs.
        dataset_name: registered name, e.g. "crowdhuman_val".
        what: what the path is, e.g. "annotation file".
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Data set '{dataset_name}': {what} not found at the expected path '{path}' "
            f"(${ENV_VAR}={os.getenv(ENV_VAR, '<unset>, default ./datasets')}); {README_HINT}."
        )


def read_json_file(path: str) -> Any:
    """json.load with an error that names the file, line and column of a syntax error."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"{path}:{e.lineno}: malformed JSON (column {e.colno}): {e.msg}") from None


def image_size_from_header(path: str) -> tuple[int, int]:
    """
    (height, width) of an image as detectron2's read_image will return it, from the file header only.

    PIL's open() parses the header lazily and decodes no pixels; EXIF orientations 5-8 swap the two sides, because
    read_image applies the EXIF rotation. Raises FileNotFoundError naming the path if the image is missing.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: '{path}'")
    with Image.open(path) as img:
        width, height = img.size
        orientation = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return height, width


def parse_box(value: Any, where: str, key: str) -> list[float]:
    """
    Check that `value` is a list of 4 numbers and return it as floats (NaN/inf pass; see `is_valid_box`).

    Raises DatasetFormatError("<where>: ...") if it is not a box at all (wrong length, strings, missing).
    """
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DatasetFormatError(f"{where}: '{key}' must be a list of 4 numbers [x, y, w, h], got {value!r}")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise DatasetFormatError(f"{where}: '{key}' must hold numbers, got {value!r}") from None


def is_valid_box(box: Sequence[float]) -> bool:
    """True if the XYWH box has finite coordinates and a positive width and height."""
    return all(math.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0


def vis_ratio(full: Sequence[float], vis: Sequence[float]) -> float:
    """
    Visible fraction of a full box: area(vis ∩ full) / area(full), in [0, 1]. Both boxes XYWH.

    Equals CityPersons' area(vis) / area(full) whenever the visible box lies inside the full box (the usual case);
    the intersection keeps the ratio in [0, 1] for the few annotations where it does not.
    """
    iw = min(full[0] + full[2], vis[0] + vis[2]) - max(full[0], vis[0])
    ih = min(full[1] + full[3], vis[1] + vis[3]) - max(full[1], vis[1])
    if iw <= 0 or ih <= 0 or not math.isfinite(iw * ih):
        return 0.0
    return float(min(1.0, (iw * ih) / (full[2] * full[3])))


def make_annotation(
    bbox: Sequence[float],
    *,
    ignore: bool,
    vis_bbox: Sequence[float] | None = None,
    visibility: float | None = None,
    height: float | None = None,
    head_bbox: Sequence[float] | None = None,
    label: str | None = None,
) -> dict:
    """
    One annotation in the pedet record format (the keys listed in pedet/data/__init__.py and datasets/README.md).

    Args:
        bbox: full box [x, y, w, h], unclipped; must pass `is_valid_box`.
        ignore: ignore region / not a trainable person -> category_id -1 and ignore 1.
        vis_bbox: visible box [x, y, w, h]; None means unknown (then bbox, and the visibility defaults to 1).
        visibility: visible fraction as the dataset file says it; None -> computed by `vis_ratio`.
        height: full-box height as the dataset file says it; None -> bbox[3].
        head_bbox: optional head box [x, y, w, h] (CrowdHuman).
        label: optional original label string (CityPersons, Caltech, TJU-Ped).
    """
    bbox = [float(v) for v in bbox]
    vis_bbox = list(bbox) if vis_bbox is None else [float(v) for v in vis_bbox]
    ratio = vis_ratio(bbox, vis_bbox) if visibility is None else float(visibility)
    ann = {
        "bbox": bbox,
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": -1 if ignore else 0,
        "iscrowd": 0,  # never 1: detectron2's DatasetMapper would drop the box (ignore boxes ride as class -1)
        "ignore": int(bool(ignore)),
        "vis_bbox": vis_bbox,
        "vis_ratio": ratio,
        "height": float(bbox[3] if height is None else height),
    }
    if head_bbox is not None:
        ann["head_bbox"] = [float(v) for v in head_bbox]
    if label is not None:
        ann["label"] = label
    return ann


class DroppedBoxes:
    """
    Collects the boxes a loader drops (zero/negative/NaN/inf size) and logs ONE counted warning per file.

    Dropping a degenerate GT is safe for training and evaluation alike: it can never be matched by a detection.
    """

    def __init__(self, source: str):
        self.source = source
        self.where: list[str] = []

    def add(self, where: str, box: Sequence[float]) -> None:
        self.where.append(f"{where} {list(box)}")

    def __len__(self) -> int:
        return len(self.where)

    def warn(self) -> None:
        if self.where:
            logger.warning(
                f"{self.source}: dropped {len(self.where)} box(es) of zero/negative/NaN/inf size; "
                f"first: {self.where[0]}"
            )


class UniqueImageIds:
    """Raises DatasetFormatError on the second record with an image_id (the evaluator keys results by image_id)."""

    def __init__(self):
        self.seen: dict[Any, str] = {}

    def add(self, image_id: Any, where: str) -> None:
        """`where` names the record, e.g. "<file>:<line>"; both places are in the error."""
        if image_id in self.seen:
            raise DatasetFormatError(
                f"{where}: duplicate image id {image_id!r} (first at {self.seen[image_id]}); image ids must be unique"
            )
        self.seen[image_id] = where


def load_coco_style_json(
    json_file: str,
    image_root: str,
    *,
    image_path: Callable[[str, dict], str],
    is_ignore: Callable[[dict, dict], bool],
    dataset_name: str | None = None,
) -> list[dict]:
    """
    Load a COCO-style pedestrian file (CityPersons `val_gt.json`, TJU-Ped) into pedet records.

    Per annotation the file may give (all optional but `bbox`, `image_id`): `vis_bbox`, `height`, `vis_ratio`,
    `ignore`, `iscrowd`, `category_id`; `height` and `vis_ratio` are taken from the file when present (the
    CityPersons evaluator reads them from the file, docs/evaluation_protocols.md §1.1), else computed from the boxes.
    Per image: `id`, `file_name` (or CityPersons' `im_name`), `height`, `width`.

    Args:
        json_file: the annotation file.
        image_root: folder the image paths are relative to.
        image_path: (image_root, image entry) -> image path.
        is_ignore: (annotation, category entry or {}) -> True for an ignore box.
        dataset_name: only used in messages.
    Returns:
        one dict per image entry (images without annotations included), in file order; image_id = the file's id.
    """
    data = read_json_file(json_file)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetFormatError(f"{json_file}:1: expected a COCO-style object with an 'images' list")
    categories = {c.get("id"): c for c in data.get("categories", []) if isinstance(c, dict)}
    ids = UniqueImageIds()
    records: dict[Any, dict] = {}
    for i, img in enumerate(data["images"]):
        where = f"{json_file}: images[{i}]"
        try:
            image_id, height, width = img["id"], int(img["height"]), int(img["width"])
            name = img.get("file_name", img.get("im_name"))
        except (KeyError, TypeError, ValueError):
            raise DatasetFormatError(f"{where}: needs 'id', 'height', 'width' and 'file_name', got {img!r}") from None
        if name is None:
            raise DatasetFormatError(f"{where}: needs 'file_name' (or 'im_name')")
        ids.add(image_id, where)
        file_name = image_path(image_root, img)
        if not os.path.isfile(file_name):
            raise FileNotFoundError(f"{where}: image not found: '{file_name}'")
        records[image_id] = {"file_name": file_name, "image_id": image_id, "height": height, "width": width,
                             "annotations": []}
    dropped = DroppedBoxes(dataset_name or json_file)
    for i, ann in enumerate(data.get("annotations", [])):
        where = f"{json_file}: annotations[{i}]"
        if not isinstance(ann, dict) or ann.get("image_id") not in records:
            raise DatasetFormatError(f"{where}: 'image_id' does not name an image of the file: {ann!r}")
        bbox = parse_box(ann.get("bbox"), where, "bbox")
        vis = parse_box(ann["vis_bbox"], where, "vis_bbox") if "vis_bbox" in ann else None
        if not is_valid_box(bbox) or (vis is not None and not all(math.isfinite(v) for v in vis)):
            dropped.add(where, bbox)
            continue
        category = categories.get(ann.get("category_id"), {})
        records[ann["image_id"]]["annotations"].append(make_annotation(
            bbox, ignore=is_ignore(ann, category), vis_bbox=vis,
            visibility=ann.get("vis_ratio"),
            height=ann.get("height"), label=category.get("name"),
        ))
    dropped.warn()
    return list(records.values())
