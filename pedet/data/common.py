"""
Shared pieces of the pedet data loaders: the one record format, box validation, and the errors a user sees.

Every loader (CrowdHuman, CityPersons, Caltech, TJU-Ped) turns its file format into Detectron2 Dataset dicts with
the annotation fields built by `make_annotation`, so the mapper and the miss-rate evaluator never need to know which
benchmark a record came from.

Boxes are XYWH_ABS lists [x, y, w, h] in pixels, as the dataset files give them, UNCLIPPED (a full box may extend
outside the image; the evaluator needs the original box).
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
from typing import Any, Callable, Sequence

from PIL import Image

import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from pedet.utils.json_text import (  # noqa: F401  (re-exported)
    NUL_HINT, DuplicateKeyError, ends_in_nul_bytes, is_metrics_file, is_truncated, shorten, unique_keys,
)

logger = logging.getLogger(__name__)

README_HINT = "see datasets/README.md for the expected layout and how to prepare it"
ENV_VAR = "DETECTRON2_DATASETS"

# EXIF orientations that swap width and height; detectron2's read_image applies them, so the header size must too.
_EXIF_ORIENTATION_TAG = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


class DatasetFormatError(ValueError):
    """
    A data file does not follow its published format. The message names the file and the record
    (``<file>:<line>: ...`` or ``<file>: images[3] (id 7): ...``) and says what is wrong.
    """


def datasets_root() -> str:
    """The root of all data sets: $DETECTRON2_DATASETS, default ``datasets`` (relative to the cwd, as Detectron2)."""
    return os.path.expanduser(os.getenv(ENV_VAR, "datasets"))


def register_dataset(name: str, load: Callable[[], list], **metadata: Any) -> None:
    """
    ``DatasetCatalog.register(name, load)`` and ``MetadataCatalog.get(name).set(**metadata)``, all or nothing.

    Detectron2's own order (the loader first, then the metadata) leaves a half-registered name where the metadata
    cannot be set: an empty name (MetadataCatalog's bare AssertionError), or metadata left behind by an earlier
    registration that ``DatasetCatalog.remove`` alone undid (its old `gt_file` stayed beside the new file's loader).
    Both are found here before anything is registered; a name registered twice is Detectron2's AssertionError.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog  # here: importing it loads torch

    if not isinstance(name, str) or not name:
        raise ValueError(f"a data set name must be a non-empty string, got {name!r}")
    if name in MetadataCatalog.list() and name not in DatasetCatalog.list():
        old = MetadataCatalog.get(name)
        for key, value in metadata.items():
            if key in old.as_dict() and old.get(key) != value:
                raise ValueError(
                    f"data set '{name}': MetadataCatalog still holds {key}={old.get(key)!r} from an earlier "
                    f"registration (DatasetCatalog.remove leaves the metadata), not {value!r}; call "
                    f"MetadataCatalog.remove('{name}') too before registering it again")
    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(**metadata)


def check_path_arguments(dataset_name: Any, **paths: Any) -> None:
    """
    TypeError unless every path given to a register_* function is a str or an os.PathLike (as detectron2's
    register_coco_instances asserts), raised at registration: bytes, a list or None failed only when the data set
    was requested (often mid-training) with "stat: path should be string, ..." naming neither the set nor the argument.
    """
    for key, path in paths.items():
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"data set {dataset_name!r}: {key} must be a path (a str or an os.PathLike), got "
                            f"{type(path).__name__} {_short(path)}")


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


def read_text_file(path: str) -> str:
    """The text of a UTF-8 file; a binary or compressed file is a DatasetFormatError naming the file and the line."""
    if os.path.isdir(path):
        raise DatasetFormatError(f"{path}: is a folder, not a file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        raise DatasetFormatError(f"{path}:1: this is a compressed archive (gzip/zip), not a text file: unpack it first")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DatasetFormatError(f"{path}:{line}: not a UTF-8 text file (byte {e.start} cannot be decoded)") from None


def describe_json_error(path: str, text: str, e: json.JSONDecodeError) -> str:
    """
    The message for a JSON syntax error, in the user's terms: empty file, truncated file, or a file of another
    format (one JSON object per line, i.e. an .odgt) rather than the parser's "Extra data: line 2 column 1".
    """
    where = f"{path}:{e.lineno}"
    if not text.strip():
        return f"{path}:1: the file is empty, expected JSON"
    if ends_in_nul_bytes(text):  # was "more data after the end of the JSON document" or "Expecting value"
        return f"{path}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: NUL bytes in the text ({NUL_HINT})"
    if e.msg == "Extra data":
        first = text.lstrip().split("\n", 1)[0]
        try:
            first_is_object = isinstance(json.loads(first), dict)
        except json.JSONDecodeError:
            first_is_object = False
        if first_is_object:
            return (f"{where}: this looks like an .odgt file (one JSON object per line), not one JSON document; "
                    "CrowdHuman-format files are read by the CrowdHuman loader / the odgt2coco converter")
        return f"{where}: more data after the end of the JSON document (column {e.colno})"
    if is_truncated(text, e):
        return f"{where}: the JSON ends early (truncated file?): {e.msg}"
    return f"{where}: malformed JSON (column {e.colno}): {e.msg}"


def read_json_file(path: str) -> Any:
    """
    json.loads of a UTF-8 file; any syntax error or a key named twice in one object is a DatasetFormatError naming
    the file (and line), in plain words.
    """
    text = read_text_file(path)
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except DuplicateKeyError as e:
        raise DatasetFormatError(f"{path}: {e}") from None
    except json.JSONDecodeError as e:
        raise DatasetFormatError(describe_json_error(path, text, e)) from None
    except RecursionError:  # the json module recurses once per nesting level
        raise DatasetFormatError(f"{path}:1: {TOO_DEEP}") from None


TOO_DEEP = "the JSON is nested too deeply (thousands of levels of lists or objects): not an annotation file"


def image_size_from_header(path: str) -> tuple[int, int]:
    """
    (height, width) of an image as detectron2's read_image will return it, from the file header only.

    PIL's open() parses the header lazily and decodes no pixels; EXIF orientations 5-8 swap the two sides, because
    read_image applies the EXIF rotation. Raises FileNotFoundError naming the path if the image is missing.
    """
    if not os.path.isfile(path):  # !r: an ID with a line break ("a\\nb" in the .odgt) keeps the message on one line
        raise FileNotFoundError(f"image not found: {path!r}")
    try:
        with Image.open(path) as img:
            width, height = img.size
            # PNG: Pillow's getexif() decodes every pixel to look for an eXIf chunk after the image data; the chunk
            # before it (the usual place, and the only one a header read sees) is in img.info
            exif = img.getexif() if img.format != "PNG" else Image.Exif()
            if img.format == "PNG" and img.info.get("exif"):
                exif.load(img.info["exif"])
            orientation = exif.get(_EXIF_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise DatasetFormatError(f"cannot read the size of image {path!r}: {e}") from None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return height, width


def check_image_size(path: str, height: int, width: int, where: str) -> None:
    """
    Raise unless the image at `path` exists and has the size its record gives (as detectron2's read_image returns
    it; see `image_size_from_header`).

    A wrong size in an annotation file would otherwise decide which boxes are dropped as outside the image at
    loading, and stop training or evaluation only when the mapper reads that image (detectron2's check_image_size).

    Raises:
        FileNotFoundError / DatasetFormatError: "<where>: image not found: ..." / "<where>: image '...' is W x H
        pixels (width x height), the annotation says ...".
    """
    try:
        real = image_size_from_header(path)
    except (FileNotFoundError, DatasetFormatError) as e:
        raise type(e)(f"{where}: {e}") from None
    if real != (height, width):
        hint = " (width and height swapped, or an EXIF rotation?)" if real == (width, height) else ""
        raise DatasetFormatError(f"{where}: image '{path}' is {real[1]}x{real[0]} pixels (width x height), the "
                                 f"annotation says {width}x{height}{hint}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: float) -> bool:
    """math.isfinite that also answers for integers too large for a float (JSON allows any number of digits)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# Largest image side accepted (px): far above any camera image, small enough that an int tensor holds an area.
MAX_IMAGE_SIDE = 100_000


def parse_number(value: Any, where: str, key: str, *, minimum: float | None = None,
                 maximum: float | None = None) -> float:
    """
    A finite JSON number (not a string, not a bool, not NaN/inf) within [minimum, maximum], as float.

    Raises DatasetFormatError("<where>: '<key>' ...") otherwise.
    """
    if not _is_number(value):
        raise DatasetFormatError(f"{where}: '{key}' must be a number, got {value!r}")
    if not _is_finite(value):
        raise DatasetFormatError(f"{where}: '{key}' must be finite, got {_short(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise DatasetFormatError(f"{where}: '{key}' must be in [{minimum}, {maximum}], got {value!r}")
    return float(value)


def parse_image_size(height: Any, width: Any, where: str,
                     keys: tuple[str, str] = ("height", "width")) -> tuple[int, int]:
    """
    (height, width) as positive integers (640 or 640.0, not "640", 640.5, 0, -1 or above MAX_IMAGE_SIDE), else
    DatasetFormatError.
    """
    out = []
    for value, key in zip((height, width), keys):
        if (not _is_number(value) or not _is_finite(value) or value != int(value) or value <= 0
                or value > MAX_IMAGE_SIDE):
            raise DatasetFormatError(f"{where}: '{key}' must be a positive integer up to {MAX_IMAGE_SIDE} (image size "
                                     f"in px), got {_short(value)}")
        out.append(int(value))
    return out[0], out[1]


def parse_flag(value: Any, where: str, key: str) -> bool:
    """A 0/1 flag (JSON 0, 1, false or true) as bool; "1", 2 or None are DatasetFormatError."""
    if value not in (0, 1) or not isinstance(value, (int, float, bool)):
        raise DatasetFormatError(f"{where}: '{key}' must be 0 or 1, got {value!r}")
    return bool(value)


def reject_null(entry: dict, keys: Sequence[str], where: str, required: Sequence[str] = ()) -> None:
    """
    DatasetFormatError for a key given as JSON null: an optional one is never read as "absent" (its default could
    change what a box counts as; the evaluator reads files by the same rule), a required one is named as null (not
    as "missing").
    """
    for key in (*required, *keys):
        if key in entry and entry[key] is None:
            hint = "a value is required" if key in required else "write the value or leave the key out"
            raise DatasetFormatError(f"{where}: '{key}' is null; {hint}")


def parse_box(value: Any, where: str, key: str) -> list[float]:
    """
    A box [x, y, w, h] of 4 finite numbers, as floats. Negative x, y are valid (unclipped boxes); a zero or negative
    w, h is returned as is (see `is_valid_box`: the loaders drop such boxes with a counted warning).

    Raises DatasetFormatError("<where>: ...") if it is missing, not 4 numbers, holds a string or NaN / infinity.
    """
    if value is None:
        raise DatasetFormatError(f"{where}: '{key}' is missing")
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DatasetFormatError(f"{where}: '{key}' must be a list of 4 numbers [x, y, w, h], got {value!r}")
    if not all(_is_number(v) for v in value):
        raise DatasetFormatError(f"{where}: '{key}' must hold numbers, got {value!r}")
    if not all(_is_finite(v) for v in value):
        if all(isinstance(v, int) or math.isfinite(v) for v in value):
            raise DatasetFormatError(f"{where}: '{key}' holds a number too large for a float: {_short(value)}")
        raise DatasetFormatError(f"{where}: '{key}' holds NaN or infinity: {value!r}")
    return [float(v) for v in value]


def _short(value: Any, limit: int = 80) -> str:
    """repr(value), shortened in the middle (a 400-digit number must not flood the one-line error)."""
    return shorten(value, limit)


def is_valid_box(box: Sequence[float]) -> bool:
    """True if the XYWH box has finite coordinates and a positive width and height."""
    return all(math.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0


def is_outside_image(box: Sequence[float], height: float, width: float) -> bool:
    """True if the XYWH box does not overlap the image [0, width] x [0, height] at all (touching is outside)."""
    return box[0] >= width or box[1] >= height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0


def vis_ratio(full: Sequence[float], vis: Sequence[float]) -> float:
    """
    Visible fraction of a full box: area(vis ∩ full) / area(full), in [0, 1]. Both boxes XYWH.

    Equals CityPersons' area(vis) / area(full) whenever the visible box lies inside the full box (the usual case);
    the intersection keeps the ratio in [0, 1] for the few annotations where it does not.
    """
    iw = min(full[0] + full[2], vis[0] + vis[2]) - max(full[0], vis[0])
    ih = min(full[1] + full[3], vis[1] + vis[3]) - max(full[1], vis[1])
    if iw <= 0 or ih <= 0 or not math.isfinite(iw) or not math.isfinite(ih):
        return 0.0
    area, full_area = iw * ih, full[2] * full[3]
    if math.isfinite(area) and math.isfinite(full_area) and full_area > 0:
        return float(min(1.0, area / full_area))
    return float(min(1.0, (iw / full[2]) * (ih / full[3])))  # per side: huge (1e200 px) or tiny boxes


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
    One annotation in the pedet record format (datasets/README.md, "The record format and the ignore convention").

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
        "bbox_mode": _xywh_abs(),
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


@functools.lru_cache(maxsize=None)
def _xywh_abs():
    """detectron2's BoxMode.XYWH_ABS, imported on first use: the file readers and converters run without torch."""
    from detectron2.structures import BoxMode

    return BoxMode.XYWH_ABS


class DroppedBoxes:
    """
    Collects the boxes a loader or converter drops and logs ONE counted warning per file or split.

    Two kinds are dropped, for training and evaluation alike: boxes of zero or negative width or height, and boxes
    entirely outside the image. Neither can ever be matched by a detection, so as regular ground truth they would
    only add misses that no detector can avoid.
    """

    SIZE = "of zero or negative size"
    OUTSIDE = "entirely outside the image"

    def __init__(self, source: str):
        self.source = source
        self.where: list[str] = []
        self.reasons: dict[str, int] = {}

    def check(self, box: Sequence[float], where: str, height: float | None = None,
              width: float | None = None) -> bool:
        """True if `box` (XYWH, finite) is kept; otherwise records it (with the reason) and returns False."""
        if not is_valid_box(box):
            reason = self.SIZE
        elif height is not None and width is not None and is_outside_image(box, height, width):
            reason = self.OUTSIDE
        else:
            return True
        self.add(where, box, reason)
        return False

    def add(self, where: str, box: Sequence[float], reason: str = SIZE) -> None:
        self.where.append(f"{where} {list(box)} ({reason})")
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def __len__(self) -> int:
        return len(self.where)

    def warn(self) -> None:
        if self.where:
            counts = ", ".join(f"{n} {reason}" for reason, n in self.reasons.items())
            logger.warning(f"{self.source}: dropped {len(self.where)} box(es) ({counts}); first: {self.where[0]}")


class MissingKeys:
    """Counts annotations that lack an optional key whose default changes the ground truth; one warning per file."""

    def __init__(self, source: str):
        self.source = source
        self.counts: dict[str, list] = {}

    def add(self, key: str, where: str, consequence: str) -> None:
        self.counts.setdefault(key, [0, where, consequence])[0] += 1

    def warn(self) -> None:
        for key, (n, first, consequence) in self.counts.items():
            logger.warning(f"{self.source}: {n} annotation(s) have no '{key}': {consequence}; first: {first}")


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


class UniqueImageFiles:
    """
    Raises DatasetFormatError on the second record whose image path is the file of an earlier record (CrowdHuman IDs
    'a' and './a', COCO file names 'a.jpg' and 'x/../a.jpg'): each record would hold part of that picture's boxes,
    and training would see the other record's persons as background.

    With `on_disk` (the loaders, whose paths name files that exist), two paths of one file on disk are one image too:
    a symbolic link to the image folder ('../Images_link/a'), a hard link, a case-insensitive file system. os.stat's
    device and inode tell, as os.path.samefile does; the loaders stat every image anyway (its size is checked).
    """

    def __init__(self, on_disk: bool = False):
        self.seen: dict[Any, str] = {}
        self.on_disk = on_disk

    def add(self, file_name: str, where: str, label: str | None = None) -> None:
        """`where` names the record in the error; `label` (default `where`) names it in a later record's error."""
        label = label or where
        keys: list[Any] = [os.path.normpath(file_name)]
        if self.on_disk:
            try:
                st = os.stat(file_name)
            except (OSError, ValueError):  # missing, unreadable, a NUL in the name: the image check names it
                pass
            else:
                keys.append((st.st_dev, st.st_ino))
        for key in keys:
            first = self.seen.setdefault(key, label)
            if first != label:
                how = "" if isinstance(key, str) else " (the same file on disk, through a link)"
                raise DatasetFormatError(f"{where}: image file {file_name!r} is also the file of {first}{how}; one "
                                         "image needs one entry")


def _describe_other_format(data: Any) -> str:
    """A hint when a JSON document of another known format is given where a COCO-style file is expected."""
    if isinstance(data, dict) and "gtboxes" in data:
        return "; this looks like one line of a CrowdHuman .odgt file"
    if isinstance(data, dict) and "objects" in data and "imgHeight" in data:
        return "; this looks like a per-image CityPersons file (gtBboxCityPersons/<split>/<city>/*.json)"
    if isinstance(data, list) and data and isinstance(data[0], dict) and "score" in data[0]:
        return "; this looks like a COCO results (detections) file, not ground truth"
    if is_metrics_file(data):
        return "; this is a metrics file (written by python -m pedet.evaluation --out or MissRateEvaluator)"
    return ""


def coco_sections(data: Any, json_file: str, *, require_categories: bool) -> tuple[list, list, dict]:
    """
    Check the top level of a COCO-style ground-truth document.

    Returns:
        (images, annotations, {category id: category entry}).
    Raises:
        DatasetFormatError naming the missing or malformed section ('annotations' is required: a file without it
        would silently mean "no person anywhere"; 'categories' when `require_categories`).
    """
    if not isinstance(data, dict) or "images" not in data:
        raise DatasetFormatError(f"{json_file}:1: expected a COCO-style object with 'images' and 'annotations'"
                                 + _describe_other_format(data))
    for key in ("images", "annotations") + (("categories",) if require_categories else ()):
        if key not in data:
            raise DatasetFormatError(f"{json_file}: the '{key}' list is missing")
        if not isinstance(data[key], list):
            raise DatasetFormatError(f"{json_file}: '{key}' must be a list, got {type(data[key]).__name__}")
    if data.get("categories") is not None and not isinstance(data["categories"], list):
        raise DatasetFormatError(f"{json_file}: 'categories' must be a list, got {type(data['categories']).__name__}")
    categories = {}
    for i, cat in enumerate(data.get("categories") or []):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise DatasetFormatError(
                f"{json_file}: categories[{i}] must be an object with 'id' and 'name', got {cat!r}")
        if not is_id(cat["id"]):
            raise DatasetFormatError(f"{json_file}: categories[{i}]: 'id' must be an integer or a string, "
                                     f"got {cat['id']!r}")
        if cat["id"] in categories:  # a second entry would silently re-name (and re-label) the first one's boxes
            raise DatasetFormatError(f"{json_file}: categories[{i}]: duplicate category id {cat['id']!r} "
                                     f"({categories[cat['id']]['name']!r} and {cat['name']!r})")
        categories[cat["id"]] = cat
    return data["images"], data["annotations"], categories


def is_id(value: Any) -> bool:
    """True for a usable JSON id: an integer or a string (not a bool, float, list, object or null)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def coco_image(img: Any, where: str) -> tuple[Any, int, int, str]:
    """(id, height, width, file name) of one COCO image entry (file name from 'file_name' or CityPersons' 'im_name')."""
    if not isinstance(img, dict):
        raise DatasetFormatError(f"{where}: an image entry must be an object, got {img!r}")
    for key in ("id", "height", "width"):
        if key not in img:
            raise DatasetFormatError(f"{where}: '{key}' is missing")
    image_id = img["id"]
    if not isinstance(image_id, (int, str)) or isinstance(image_id, bool) or image_id == "":
        raise DatasetFormatError(f"{where}: 'id' must be an integer or a non-empty string, got {image_id!r}")
    height, width = parse_image_size(img["height"], img["width"], f"{where} (id {image_id!r})")
    name = img.get("file_name", img.get("im_name"))
    if not isinstance(name, str) or not name:
        raise DatasetFormatError(f"{where} (id {image_id!r}): 'file_name' (or 'im_name') must be a non-empty string, "
                                 f"got {name!r}")
    return image_id, height, width, name


def load_coco_style_json(
    json_file: str,
    image_root: str,
    *,
    image_path: Callable[[str, dict], str],
    is_ignore: Callable[[dict, dict], bool],
    dataset_name: str | None = None,
    require_categories: bool = False,
    counted_defaults: dict[str, str] | None = None,
    category_id: Any = None,
) -> list[dict]:
    """
    Load a COCO-style pedestrian file (CityPersons `val_gt.json`, TJU-Ped) into pedet records.

    Per annotation the file may give (all optional but `bbox`, `image_id`): `vis_bbox`, `height`, `vis_ratio`,
    `ignore`, `iscrowd`, `category_id`; `height` and `vis_ratio` are taken from the file when present (the
    CityPersons evaluator reads them from the file, docs/evaluation_protocols.md §1.1), otherwise computed from the
    boxes. Per image: `id`, `file_name` (or CityPersons' `im_name`), `height`, `width`. Every value is checked
    (numbers finite, flags 0/1, `vis_ratio` in [0, 1], `category_id` one of the file's categories); boxes of zero or
    negative size or entirely outside the image are dropped with one counted warning.

    Args:
        json_file: the annotation file.
        image_root: folder the image paths are relative to.
        image_path: (image_root, image entry) -> image path; DatasetFormatError for an entry it cannot use.
        is_ignore: (annotation, category entry or {}) -> True for an ignore box.
        dataset_name: only used in messages.
        require_categories: the file must have a 'categories' list and every annotation a known 'category_id'
            (TJU-Ped, where the category decides what is an ignore region).
        counted_defaults: optional key -> what its absence means; each file warns once with the count of
            annotations that lack the key (e.g. {"ignore": "counted as regular pedestrians"}).
        category_id: if given, only annotations of this category (or without 'category_id') are read; the others
            are left out with one counted warning (CityPersons: the official script reads category 1 only).
    Returns:
        one dict per image entry (images without annotations included), in file order; image_id = the file's id.
    """
    images, annotations, categories = coco_sections(read_json_file(json_file), json_file,
                                                    require_categories=require_categories)
    ids = UniqueImageIds()
    records: dict[Any, dict] = {}
    files = UniqueImageFiles(on_disk=True)
    for i, img in enumerate(images):
        where = f"{json_file}: images[{i}]"
        image_id, height, width, _ = coco_image(img, where)
        ids.add(image_id, where)
        try:
            file_name = image_path(image_root, img)
        except DatasetFormatError as e:  # e.g. a key the format needs: name the record
            raise DatasetFormatError(f"{where} (id {image_id!r}): {e}") from None
        files.add(file_name, f"{where} (id {image_id!r})", label=f"images[{i}] (id {image_id!r})")
        check_image_size(file_name, height, width, f"{where} (id {image_id!r})")
        records[image_id] = {"file_name": file_name, "image_id": image_id, "height": height, "width": width,
                             "annotations": []}
    source = dataset_name or json_file
    dropped, missing = DroppedBoxes(source), MissingKeys(source)
    ann_ids: dict[Any, int] = {}
    other_category: list[str] = []
    for i, ann in enumerate(annotations):
        where = f"{json_file}: annotations[{i}]"
        if isinstance(ann, dict) and "id" in ann:
            where += f" (id {_short(ann['id'])})"
            if ann["id"] is not None and (type(ann["id"]) is not int or not -2 ** 63 <= ann["id"] < 2 ** 63):
                raise DatasetFormatError(f"{where}: 'id' must be an integer (64 bits), got {_short(ann['id'])} (as "
                                         "python -m pedet.evaluation reads it)")
            if is_id(ann["id"]) and ann["id"] in ann_ids:  # COCO tools index by id: one box would be read twice
                raise DatasetFormatError(f"{where}: duplicate annotation id (first at annotations[{ann_ids[ann['id']]}]"
                                         "); annotation ids must be unique")
            if is_id(ann["id"]):
                ann_ids[ann["id"]] = i
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise DatasetFormatError(
                f"{where}: an annotation must be an object with 'image_id' and 'bbox', got {ann!r}")
        image_id = ann["image_id"]
        if not isinstance(image_id, (int, str)) or isinstance(image_id, bool) or image_id not in records:
            raise DatasetFormatError(f"{where}: 'image_id' {image_id!r} does not name an image of the file")
        record = records[image_id]
        cat = ann.get("category_id")
        if (category_id is not None and is_id(cat) and cat != category_id
                and (not categories or cat in categories)):  # an unknown one is an error below
            other_category.append(f"{where}: category_id {cat!r}")
            continue
        ann_out = _coco_annotation(ann, where, categories, require_categories, is_ignore, missing,
                                   counted_defaults or {})
        if dropped.check(ann_out["bbox"], where, record["height"], record["width"]):
            record["annotations"].append(ann_out)
    dropped.warn()
    missing.warn()
    if other_category:
        logger.warning(f"{source}: left out {len(other_category)} annotation(s) of a category other than "
                       f"{category_id} (neither persons nor ignore regions, as in the official evaluation); first: "
                       f"{other_category[0]}")
    return list(records.values())


def _coco_annotation(ann: dict, where: str, categories: dict, require_categories: bool,
                     is_ignore: Callable[[dict, dict], bool], missing: MissingKeys,
                     counted_defaults: dict[str, str]) -> dict:
    """One COCO-style annotation, checked, -> pedet annotation (see load_coco_style_json)."""
    reject_null(ann, ("vis_bbox", "height", "vis_ratio", "ignore", "iscrowd", "category_id"), where, ("bbox",))
    bbox = parse_box(ann.get("bbox"), where, "bbox")
    vis = parse_box(ann["vis_bbox"], where, "vis_bbox") if "vis_bbox" in ann else None
    for key in ("ignore", "iscrowd"):
        if key in ann:
            parse_flag(ann[key], where, key)
    for key, consequence in counted_defaults.items():
        # vis_ratio alone is enough; an absent 'ignore' with iscrowd 1 is an ignore region (CityPersons: own warning);
        # a missing 'vis_ratio' is computed from 'vis_bbox' (without both, the 'vis_bbox' default says so)
        if key not in ann and not (key == "vis_bbox" and "vis_ratio" in ann) \
                and not (key == "ignore" and ann.get("iscrowd")) and not (key == "vis_ratio" and "vis_bbox" not in ann):
            missing.add(key, where, consequence)
    height = parse_number(ann["height"], where, "height", minimum=0.0) if "height" in ann else None
    visibility = parse_number(ann["vis_ratio"], where, "vis_ratio", minimum=0.0, maximum=1.0) \
        if "vis_ratio" in ann else None
    if require_categories and "category_id" not in ann:
        raise DatasetFormatError(f"{where}: 'category_id' is missing (the category decides what is an ignore region)")
    category = {}
    if "category_id" in ann and (categories or require_categories):
        if not is_id(ann["category_id"]) or ann["category_id"] not in categories:
            raise DatasetFormatError(f"{where}: 'category_id' {ann['category_id']!r} is not one of the file's "
                                     f"categories {sorted(categories, key=str)}")
        category = categories[ann["category_id"]]
    ignore = is_ignore(ann, category)
    if ann.get("label") == "person" and vis == [0.0, 0.0, 0.0, 0.0] and visibility is None and not ignore:
        # a caltech2coco file, whose [0, 0, 0, 0] means "not occluded": visibility 0 here, so the pedestrian was
        # left out of every evaluation setup (as by python -m pedet.evaluation --protocol citypersons, now refused)
        raise DatasetFormatError(f"{where}: 'label' 'person' with 'vis_bbox' [0, 0, 0, 0] and no 'vis_ratio' is a "
                                 "Caltech ground truth (where that visible box means not occluded), which this loader "
                                 "would read as visibility 0; register the Caltech bbGt folder with register_caltech")
    return make_annotation(bbox, ignore=ignore, vis_bbox=vis, visibility=visibility, height=height,
                           label=category.get("name"))
