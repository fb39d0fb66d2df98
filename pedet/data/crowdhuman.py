"""
CrowdHuman (Shao et al., 2018) in Detectron2 Dataset format: `load_crowdhuman_odgt` and `register_crowdhuman`.

File format (`annotation_{train,val}.odgt`): one JSON object per line,
    {"ID": "273271,c9db000d5146c15", "gtboxes": [{"tag": "person" | "mask", "fbox": [x, y, w, h],
     "vbox": [x, y, w, h], "hbox": [x, y, w, h], "extra": {"box_id", "occ", "ignore"}, "head_attr": {...}}, ...]}
and the image `Images/<ID>.jpg`. The official file has no image size; optional "width"/"height" keys are used when a
line has them, otherwise the size comes from the image header.

A box is an ignore box if its `tag` is "mask" (not "person") or `extra.ignore` is 1 (docs/methods.md §3.1: the
union of the CrowdHuman evaluator's and cvpods' rules). Every box must have a `tag`, "person" or "mask"; anything
else is an error rather than a silent ignore box. Full box = fbox (UNCLIPPED), visible box = vbox, head box = hbox.

Shape shorthand: N = images (lines), G = boxes of one image.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Iterator

from pedet.utils.json_text import NUL_HINT, ends_in_nul_bytes

from .common import (
    TOO_DEEP,
    DatasetFormatError,
    DroppedBoxes,
    DuplicateKeyError,
    MissingKeys,
    UniqueImageFiles,
    UniqueImageIds,
    check_image_size,
    check_path_arguments,
    image_size_from_header,
    is_truncated,
    make_annotation,
    parse_box,
    parse_flag,
    parse_image_size,
    read_text_file,
    reject_null,
    register_dataset,
    require_path,
    unique_keys,
)

IMAGE_EXT = ".jpg"


_LINE_END = re.compile(r"\r\n|\r|\n")
TAGS = ("person", "mask")  # the tags of the official files: "mask" marks an ignore region (a crowd, a reflection)


def _odgt_hint(record: Any) -> str:
    """Why a parsed line is not a CrowdHuman ground-truth record, when it is recognisably something else."""
    if isinstance(record, dict) and "images" in record:
        return "; this looks like a COCO-style file, not an .odgt (convert it with coco2odgt)"
    if isinstance(record, dict) and "dtboxes" in record and "gtboxes" not in record:
        return "; this is a detection line ('dtboxes'), not ground truth ('gtboxes')"
    if isinstance(record, dict) and "objects" in record and "imgHeight" in record:
        return "; this looks like a per-image CityPersons file"
    if isinstance(record, list):
        return "; this looks like a JSON list (e.g. COCO results), not an .odgt"
    return ""


def iter_odgt(odgt_file: str) -> Iterator[tuple[int, dict]]:
    """
    Yield (line number, parsed JSON object) for every non-blank line of an .odgt file.

    Raises DatasetFormatError("<file>:<line>: ...") for a line that is not a JSON object with a usable "ID"
    (a non-empty string or an integer) and a "gtboxes" list, for a file of another format (one JSON document, a
    COCO file, a detection file) and for a file without any record.
    """
    text = read_text_file(odgt_file)
    count = 0
    # lines end in LF, CRLF or a lone CR (old Mac files), as the evaluator reads them (bytes.splitlines)
    for line_no, line in enumerate(_LINE_END.split(text), start=1):
        if line.startswith("\ufeff"):  # a BOM inside the file: .odgt files joined by `cat` (the evaluator reads it)
            line = line[1:]
        if not line.strip():
            continue
        where = f"{odgt_file}:{line_no}"
        try:
            record = json.loads(line, object_pairs_hook=unique_keys)
        except DuplicateKeyError as e:  # e.g. two "tag"s: json would keep the last, a person could become a mask
            raise DatasetFormatError(f"{where}: {e}") from None
        except RecursionError:  # the json module recurses once per nesting level
            raise DatasetFormatError(f"{where}: {TOO_DEEP}") from None
        except json.JSONDecodeError as e:
            if ends_in_nul_bytes(line):  # was "malformed JSON (column 1): Expecting value"
                raise DatasetFormatError(f"{where}: NUL bytes in the line ({NUL_HINT})") from None
            if count == 0:
                try:
                    json.loads(text)
                except (json.JSONDecodeError, RecursionError):
                    pass
                else:
                    raise DatasetFormatError(f"{where}: the file is one JSON document spread over several lines, not "
                                             "an .odgt file (one JSON object per line)") from None
            raise DatasetFormatError(f"{where}: malformed JSON (column {e.colno}): {e.msg}"
                                     + (" (truncated line?)" if is_truncated(line, e) else "")) from None
        if not isinstance(record, dict) or "ID" not in record or not isinstance(record.get("gtboxes"), list):
            raise DatasetFormatError(f"{where}: expected an object with 'ID' and a 'gtboxes' list" + _odgt_hint(record))
        image_id = record["ID"]
        if not isinstance(image_id, (str, int)) or isinstance(image_id, bool) or image_id == "":
            raise DatasetFormatError(f"{where}: 'ID' must be a non-empty string (the image name), got {image_id!r}")
        count += 1
        yield line_no, record
    if count == 0:
        raise DatasetFormatError(f"{odgt_file}:1: the file has no record (empty .odgt)")


def odgt_image_size(record: dict, where: str) -> tuple[int, int] | None:
    """(height, width) from a line's optional "height" / "width" (both or neither), else None."""
    if "width" not in record and "height" not in record:
        return None
    if "width" not in record or "height" not in record:
        raise DatasetFormatError(f"{where}: give both 'width' and 'height' or neither")
    return parse_image_size(record["height"], record["width"], where)


# How to state what a box-level 'ignore' / 'iscrowd' meant, in the odgt's own keys.
_FIX_IGNORE = "for an ignore region set tag 'mask' or 'extra': {'ignore': 1}"
_FIX_PERSON = "for a person set tag 'person' and 'extra': {'ignore': 0}"


def is_ignore_box(gtbox: dict) -> bool:
    """CrowdHuman ignore rule: tag != "person" or extra.ignore != 0."""
    extra = gtbox.get("extra")
    return gtbox.get("tag") != "person" or (isinstance(extra, dict) and bool(extra.get("ignore", 0)))


def parse_odgt_box(gtbox: Any, where: str) -> tuple[list[float], list[float] | None, list[float] | None, bool]:
    """
    Check one "gtboxes" entry.

    Returns:
        (fbox, vbox or None, hbox or None, ignore), boxes as 4 finite floats, XYWH.
    Raises:
        DatasetFormatError: not an object; no 'tag' or an unknown one (a box without tag would otherwise become an
        ignore box without a word); 'extra' not an object or 'extra.ignore' not 0/1; a box that is missing ('fbox'),
        not 4 numbers, or holds NaN/inf.
    """
    if not isinstance(gtbox, dict):
        raise DatasetFormatError(f"{where}: a 'gtboxes' entry must be an object, got {gtbox!r}")
    reject_null(gtbox, ("vbox", "hbox", "extra"), where, ("fbox",))
    if "tag" not in gtbox:
        raise DatasetFormatError(f"{where}: a 'gtboxes' entry has no 'tag' (expected one of {TAGS})")
    if gtbox["tag"] not in TAGS:
        hint = " (tags are case-sensitive)" if str(gtbox["tag"]).strip().lower() in TAGS else ""
        raise DatasetFormatError(f"{where}: unknown tag {gtbox['tag']!r}; expected one of {TAGS}{hint}")
    extra = gtbox.get("extra", {})
    if not isinstance(extra, dict):
        raise DatasetFormatError(f"{where}: 'extra' must be an object, got {extra!r}")
    if "ignore" in extra:
        parse_flag(extra["ignore"], where, "extra.ignore")
    for key in ("ignore", "iscrowd"):  # COCO's keys at the box level: the odgt rule (tag, extra.ignore) ignores them
        if key in gtbox and parse_flag(gtbox[key], where, key) != is_ignore_box(gtbox):
            raise DatasetFormatError(
                f"{where}: {key!r} is {gtbox[key]!r} at the box level, but by its 'tag' and 'extra.ignore' (the only "
                f"ignore rule of the CrowdHuman format) the box is "
                f"{'an ignore region' if is_ignore_box(gtbox) else 'a person'}: "
                f"{_FIX_IGNORE if gtbox[key] else _FIX_PERSON}, or remove {key!r}")
    fbox = parse_box(gtbox.get("fbox"), where, "fbox")
    vbox = parse_box(gtbox["vbox"], where, "vbox") if "vbox" in gtbox else None
    hbox = parse_box(gtbox["hbox"], where, "hbox") if "hbox" in gtbox else None
    return fbox, vbox, hbox, is_ignore_box(gtbox)


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
        iscrowd 0, label (the tag)}. Full boxes of zero/negative size or entirely outside the image are dropped with
        one counted warning.
    Raises:
        DatasetFormatError: malformed line or box (names file and line), duplicate ID, unknown tag.
        FileNotFoundError: an image is missing (names the path and the line).
    """
    dropped, missing = DroppedBoxes(dataset_name or odgt_file), MissingKeys(odgt_file)
    ids, files = UniqueImageIds(), UniqueImageFiles(on_disk=True)
    dicts = []
    for line_no, record in iter_odgt(odgt_file):
        where = f"{odgt_file}:{line_no}"
        image_id = str(record["ID"])
        ids.add(image_id, where)
        file_name = os.path.join(image_root, image_id + IMAGE_EXT)
        files.add(file_name, where, label=f"line {line_no} (ID {image_id!r})")  # 'a' and './a' (or a link): one picture
        size = odgt_image_size(record, where)
        if size is None:
            try:
                size = image_size_from_header(file_name)
            except (FileNotFoundError, DatasetFormatError) as e:
                raise type(e)(f"{where}: {e}") from None
        else:
            check_image_size(file_name, *size, where)
        height, width = size
        annos = []
        for gtbox in record["gtboxes"]:
            fbox, vbox, hbox, ignore = parse_odgt_box(gtbox, where)
            if vbox is None:  # as the COCO-style loaders warn: MissRateEvaluator(box="visible") would score the full
                # box in its place without a word (python -m pedet.evaluation --box visible refuses such a line)
                missing.add("vbox", where, "visible box = full box (visibility 1)")
            if dropped.check(fbox, where, height, width):
                annos.append(make_annotation(fbox, ignore=ignore, vis_bbox=vbox, head_bbox=hbox, label=gtbox["tag"]))
        dicts.append({"file_name": file_name, "image_id": image_id, "height": height, "width": width,
                      "annotations": annos})
    dropped.warn()
    missing.warn()
    return dicts


def register_crowdhuman(name: str, odgt_file: str, image_root: str, evaluator_type: str = "crowdhuman") -> None:
    """
    Register a CrowdHuman-format split. Touches no file: the paths are checked when the data set is requested.

    Metadata: thing_classes ["person"], evaluator_type, gt_file (the .odgt), image_root.
    """
    check_path_arguments(name, odgt_file=odgt_file, image_root=image_root)

    def load() -> list[dict]:
        require_path(odgt_file, name, "annotation file")
        require_path(image_root, name, "image folder")
        return load_crowdhuman_odgt(odgt_file, image_root, name)

    register_dataset(name, load, thing_classes=["person"], evaluator_type=evaluator_type, gt_file=odgt_file,
                     image_root=image_root)
