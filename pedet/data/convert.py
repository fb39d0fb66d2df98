"""
Format converters for pedestrian benchmarks, with a command line (`python -m pedet.data.convert --help`):

    odgt2coco         CrowdHuman .odgt  -> COCO JSON (the odgt fields the loaders read kept, so coco2odgt restores
                      them; other box keys are left out with a counted warning)
    coco2odgt         COCO JSON (from odgt2coco, or any COCO detection file: its person category) -> CrowdHuman .odgt
    citypersons2coco  CityPersons per-image gtBboxCityPersons/<split>/ -> COCO-style *_gt.json (the official
                      val_gt.json fields: images {id, im_name, file_name, height, width}; annotations {id, image_id,
                      category_id 1, iscrowd 0, ignore, bbox, vis_bbox, height, vis_ratio})
    caltech2coco      Caltech bbGt folder (one '*.txt' per frame) -> the COCO-style ground truth that
                      `python -m pedet.evaluation --protocol caltech` reads (images {id: frame name, file_name,
                      height, width}; annotations {id, image_id, category_id 1, label, bbox, vis_bbox (the visible box
                      of an occluded object, else [0, 0, 0, 0] as the toolbox reads it), occ, ign, ignore, height})
    caltech_seq2jpg   Caltech set??/V???.seq videos -> Caltech/images/set??_V???_I?????.jpg, only the frames that have
                      an annotation file (frame index 0-based, as in the new annotations' file names)

The converters change the format only: no box is clipped or re-labelled. The input is checked as the loaders check
it (a bad record is an error naming the file and the record); boxes the loaders would drop (zero or negative size,
entirely outside the image) are left out with one counted warning, so that a converted file and the original give
the same ground truth. Outputs are written atomically (pedet.utils.file_io), JSON without NaN.

COCO JSON written by odgt2coco (boxes XYWH in px, as in the odgt):
    images:      {id: 1.., file_name: "<ID>.jpg", height, width, crowdhuman_id: "<ID>"}
    annotations: {id: 1.., image_id, category_id 1, bbox: fbox, vis_bbox: vbox, head_bbox: hbox, area: w*h of fbox,
                  height: fbox h, vis_ratio, ignore: 0/1 (CrowdHuman rule), iscrowd: = ignore (so pycocotools' COCOeval
                  treats ignore boxes as crowd regions), tag, extra, head_attr}
    categories:  [{id: 1, name: "person"}]
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import logging
import math
import mmap
import os
import re
import sys
from collections import Counter
from typing import Iterator, Optional

from pedet.utils.cli import data_command
from pedet.utils.file_io import (atomic_open, atomic_write, atomic_write_json, describe_os_error, is_inside,
                                 name_too_long, remove_stale_temporaries, same_file, symlink_loop)

from .caltech import IMAGE_EXT as CALTECH_IMAGE_EXT, LABELS as CALTECH_LABELS, frame_name, list_bbgt_files, read_bbgt_file
from .citypersons import _GT_PATTERN, GT_SUFFIX, IMAGE_SUFFIX, list_gt_files, read_gt_file
from .common import (
    DatasetFormatError,
    DroppedBoxes,
    MissingKeys,
    UniqueImageFiles,
    UniqueImageIds,
    check_image_size,
    coco_image,
    coco_sections,
    image_size_from_header,
    is_id,
    parse_box,
    parse_flag,
    read_json_file,
    reject_null,
    vis_ratio,
)
from .crowdhuman import IMAGE_EXT, iter_odgt, odgt_image_size, parse_odgt_box

logger = logging.getLogger(__name__)

PERSON_CATEGORY = {"id": 1, "name": "person"}
# the category list of the official val_gt.json (every annotation there has category_id 1 and an `ignore` flag)
CITYPERSONS_CATEGORIES = [
    {"id": 1, "name": "pedestrian"}, {"id": 2, "name": "rider"}, {"id": 3, "name": "sitting person"},
    {"id": 4, "name": "other person"}, {"id": 5, "name": "people group"}, {"id": 0, "name": "ignore region"},
]
# odgt box key -> COCO key; the COCO annotation keeps the odgt box under these names
_ODGT_BOX_KEYS = {"fbox": "bbox", "vbox": "vis_bbox", "hbox": "head_bbox"}
_ODGT_EXTRA_KEYS = ("tag", "extra", "head_attr")


def check_json_finite(value, where: str, key: str) -> None:
    """
    DatasetFormatError if `value` (a JSON value copied unchanged into the output) holds NaN or infinity anywhere:
    Python's json module reads the NaN / Infinity literals, but JSON has no such number and the output must be JSON.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise DatasetFormatError(f"{where}: '{key}' holds NaN or infinity ({v!r} in {value!r:.80}); "
                                     "JSON has no such number")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def odgt_to_coco(odgt_file: str, image_root: Optional[str] = None) -> dict:
    """
    Convert a CrowdHuman .odgt file to a COCO dict.

    Args:
        odgt_file: the .odgt file.
        image_root: folder of <ID>.jpg; the image size is read from the header when a line has no width/height
            (needed for the official files, which have none).
        Box keys other than fbox / vbox / hbox / tag / extra / head_attr (e.g. "occ") are left out, with one
        warning that counts them.
    Returns:
        the COCO dict described in the module docstring.
    Raises:
        DatasetFormatError as the CrowdHuman loader (malformed line or box, unknown tag, duplicate ID, ...).
    """
    images, annotations = [], []
    ids, files, dropped, missing = UniqueImageIds(), UniqueImageFiles(), DroppedBoxes(odgt_file), MissingKeys(odgt_file)
    unknown: dict = {}  # box key the COCO file cannot keep -> number of boxes that had it
    for line_no, record in iter_odgt(odgt_file):
        where = f"{odgt_file}:{line_no}"
        ids.add(str(record["ID"]), where)
        image = {"id": len(images) + 1, "file_name": str(record["ID"]) + IMAGE_EXT, "crowdhuman_id": record["ID"]}
        files.add(image["file_name"], where, label=f"line {line_no} (ID {record['ID']!r})")  # as the loader checks
        size = odgt_image_size(record, where)
        if size is not None:
            if image_root is not None:  # the images are at hand: a size they do not have is an error, not copied
                check_image_size(os.path.join(image_root, image["file_name"]), *size, where)
            image.update(height=size[0], width=size[1], size_in_odgt=True)
        elif image_root is None:
            raise DatasetFormatError(f"{where}: the line has no width/height; pass the image folder (--image-root)")
        else:
            try:
                image["height"], image["width"] = image_size_from_header(os.path.join(image_root, image["file_name"]))
            except (FileNotFoundError, DatasetFormatError) as e:
                raise type(e)(f"{where}: {e}") from None
        images.append(image)
        for box in record["gtboxes"]:
            fbox, vbox, _, ignore = parse_odgt_box(box, where)
            if vbox is None:  # written as vis_ratio 1 (no vis_bbox): the loader's reading, and its counted warning
                missing.add("vbox", where, "visible box = full box (visibility 1)")
            for key in box.keys() - _ODGT_BOX_KEYS.keys() - set(_ODGT_EXTRA_KEYS):
                unknown[key] = unknown.get(key, 0) + 1
            for key in _ODGT_EXTRA_KEYS:
                check_json_finite(box.get(key), where, key)  # copied as is: JSON has no NaN / Infinity
            if not dropped.check(fbox, where, image["height"], image["width"]):
                continue
            ann = {"id": len(annotations) + 1, "image_id": image["id"], "category_id": PERSON_CATEGORY["id"]}
            ann.update({coco: box[odgt] for odgt, coco in _ODGT_BOX_KEYS.items() if odgt in box})
            ann.update({k: box[k] for k in _ODGT_EXTRA_KEYS if k in box})
            ann.update(area=fbox[2] * fbox[3], height=fbox[3], ignore=int(ignore), iscrowd=int(ignore),
                       vis_ratio=vis_ratio(fbox, vbox if vbox is not None else fbox))
            annotations.append(ann)
    dropped.warn()
    missing.warn()
    if unknown:
        logger.warning(f"{odgt_file}: left out box keys the COCO file does not keep: "
                       + ", ".join(f"{k!r} ({n} box(es))" for k, n in sorted(unknown.items())))
    return {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}


def person_category_id(categories: dict, coco_file: str, name: Optional[str] = None):
    """
    The category id whose boxes are persons: the one named `name`; else the only category; else the one named
    "person" or "pedestrian". DatasetFormatError when none fits (the message lists the names).
    """
    by_name = {}
    for cid, c in categories.items():
        lower = str(c["name"]).lower()
        if lower in by_name:  # the second would silently take the first one's place (its boxes left out)
            raise DatasetFormatError(f"{coco_file}: categories {by_name[lower]!r} and {cid!r} are both named "
                                     f"{c['name']!r} (names are compared ignoring case); merge them first")
        by_name[lower] = cid
    if name is not None:
        if name.lower() not in by_name:
            raise DatasetFormatError(f"{coco_file}: no category named {name!r}; categories: {sorted(by_name)}")
        return by_name[name.lower()]
    if len(categories) == 1:
        (cid, c), = categories.items()
        if str(c["name"]).strip().lower() not in ("person", "persons", "pedestrian", "pedestrians"):
            # e.g. a car-only COCO file: its boxes became persons without a word
            logger.warning(f"{coco_file}: the only category, {c['name']!r} (id {cid!r}), is taken as the person "
                           f"category: its boxes become 'person' boxes (pass --category {c['name']} to say so)")
        return cid
    for candidate in ("person", "pedestrian"):
        if candidate in by_name:
            return by_name[candidate]
    raise DatasetFormatError(f"{coco_file}: cannot tell which category is the person; categories: {sorted(by_name)} "
                             "(pass --category NAME)")


def coco_to_odgt_lines(coco: dict, coco_file: str = "<coco>", category: Optional[str] = None) -> list[dict]:
    """
    Convert a COCO ground-truth dict to odgt records (one dict per line, in image order).

    A file written by `odgt_to_coco` comes back (ID, gtboxes with fbox/vbox/hbox/tag/extra/head_attr;
    width/height when the original line had them). Any other COCO detection file works too: the person category
    (see `person_category_id`) gives the boxes, `iscrowd` or `ignore` 1 gives tag "mask", the image size is written
    on each line, and the ID is the file name without extension. Boxes of other categories are left out (one
    counted warning). The odgt format names images <ID>.jpg: other extensions are announced by a counted warning.

    Raises:
        DatasetFormatError naming `coco_file` and the record: missing or malformed sections, entries or boxes, no
        image at all (the .odgt would be empty),
        duplicate image ids or IDs, an annotation of an unknown image, a Caltech ignore 'label' (people, person?,
        person-fa, ignore) on a box that 'iscrowd' / 'ignore' do not mark (it would become a person), a Caltech
        'vis_bbox' [0, 0, 0, 0] ("not occluded") without 'vis_ratio' (it would become an empty vbox).
    """
    images, annotations, categories = coco_sections(coco, coco_file, require_categories=False)
    if not images:  # the .odgt would be empty, which the CrowdHuman loader and the evaluator refuse
        raise DatasetFormatError(f"{coco_file}: 'images' is empty; an .odgt has one line per image")
    person = person_category_id(categories, coco_file, category) if categories else None
    if person is None and "categories" not in coco:  # no names to tell the persons by: with two or more category
        # ids, the boxes of every category (cars, ignore regions) would silently become persons
        cats = sorted({repr(a["category_id"]) for a in annotations if isinstance(a, dict) and "category_id" in a})
        if len(cats) > 1:
            raise DatasetFormatError(f"{coco_file}: the annotations have {len(cats)} category ids "
                                     f"({', '.join(cats[:5])}) but the file has no 'categories' to tell the person boxes by (add the "
                                     "'categories' list with their names)")
    by_image: dict = {}
    lines, ids, files = [], UniqueImageIds(), UniqueImageFiles()
    sizes = {}
    not_jpg = 0
    for i, img in enumerate(images):
        where = f"{coco_file}: images[{i}]"
        image_id, height, width, name = coco_image(img, where)
        if image_id in by_image:
            raise DatasetFormatError(f"{where}: duplicate image id {image_id!r}")
        odgt_id = img.get("crowdhuman_id", os.path.splitext(name)[0])
        if "crowdhuman_id" not in img and name.lower().endswith(IMAGE_EXT) and odgt_id == name:  # e.g. ".jpg"
            raise DatasetFormatError(f"{where} (id {image_id!r}): file name {name!r} has no name before its "
                                     f"extension (the odgt ID is the file name without {IMAGE_EXT})")
        if not is_id(odgt_id) or odgt_id == "":
            raise DatasetFormatError(f"{where} (id {image_id!r}): 'crowdhuman_id' must be a non-empty string or an "
                                     f"integer (it becomes the odgt ID), got {odgt_id!r}")
        not_jpg += not name.lower().endswith(IMAGE_EXT) and "crowdhuman_id" not in img
        ids.add(str(odgt_id), f"{where} (id {image_id!r})")
        # the CrowdHuman loader reads <ID>.jpg: file names 'a.jpg' and './a.jpg' would be one picture in two lines
        files.add(str(odgt_id) + IMAGE_EXT, f"{where} (id {image_id!r})", label=f"images[{i}] (id {image_id!r})")
        by_image[image_id] = []
        sizes[image_id] = (height, width)
        line = {"ID": odgt_id, "gtboxes": by_image[image_id]}
        if img.get("size_in_odgt") or "crowdhuman_id" not in img:
            line.update(width=img["width"], height=img["height"])
        lines.append(line)
    dropped, other, ann_ids = DroppedBoxes(coco_file), Counter(), {}
    for i, ann in enumerate(annotations):
        where = f"{coco_file}: annotations[{i}]" + (f" (id {ann['id']!r})" if isinstance(ann, dict) and "id" in ann
                                                     else "")
        if not isinstance(ann, dict):
            raise DatasetFormatError(f"{where}: an annotation must be an object, got {ann!r}")
        if is_id(ann.get("id")) and ann["id"] in ann_ids:  # as the loaders: COCO tools would read one box twice
            raise DatasetFormatError(f"{where}: duplicate annotation id (first at annotations[{ann_ids[ann['id']]}]); "
                                     "annotation ids must be unique")
        if is_id(ann.get("id")):
            ann_ids[ann["id"]] = i
        reject_null(ann, ("vis_bbox", "head_bbox", "iscrowd", "ignore", "category_id"), where, ("bbox",))
        if not is_id(ann.get("image_id")) or ann["image_id"] not in by_image:  # 1.0 == 1 and true == 1 in a dict
            raise DatasetFormatError(f"{where}: 'image_id' {ann.get('image_id')!r} does not name an image of the file")
        if person is None and "category_id" in ann and coco.get("categories") == []:
            # no category to tell the persons by: every box would silently become a person (as the loaders, refuse)
            raise DatasetFormatError(f"{where}: 'category_id' {ann['category_id']!r}, but the file's 'categories' "
                                     "list is empty, so the person boxes cannot be told apart (list the categories)")
        if person is not None and "category_id" not in ann:  # it would silently count as "another category"
            raise DatasetFormatError(f"{where}: 'category_id' is missing (the file has categories "
                                     f"{sorted(categories, key=str)})")
        if person is not None and (not is_id(ann["category_id"]) or ann["category_id"] not in categories):
            # as the loaders: it would be left out as "another category" (e.g. a string "1" for the person id 1)
            raise DatasetFormatError(f"{where}: 'category_id' {ann['category_id']!r} is not one of the file's "
                                     f"categories {sorted(categories, key=str)}")
        if person is not None and ann.get("category_id") != person:
            other[categories[ann["category_id"]]["name"]] += 1  # checked above: one of the file's categories
            continue
        fbox = parse_box(ann.get("bbox"), where, "bbox")
        for key in ("vis_bbox", "head_bbox"):
            if key in ann:
                parse_box(ann[key], where, key)
        crowd = any(parse_flag(ann[k], where, k) for k in ("iscrowd", "ignore") if k in ann)
        if ann.get("label") in CALTECH_LABELS and ann.get("vis_bbox") == [0, 0, 0, 0] and "vis_ratio" not in ann:
            # a caltech2coco file, whose [0, 0, 0, 0] means "not occluded": as the odgt's vbox it is an empty visible
            # box (the CrowdHuman loader read visibility 0, --box visible dropped the box), in silence
            raise DatasetFormatError(
                f"{where}: 'label' {ann['label']!r} with 'vis_bbox' [0, 0, 0, 0] and no 'vis_ratio' is a Caltech "
                "ground truth (where that visible box means not occluded); the odgt line would give it an empty "
                "visible box (visibility 0): evaluate the file with --protocol caltech, or remove 'vis_bbox' from such "
                "boxes (the visible box is then the full box)")
        if not crowd and ann.get("label") in CALTECH_LABELS and ann["label"] != "person":
            # a Caltech-style ground truth: its labels, not iscrowd, make the ignore regions (--protocol caltech)
            raise DatasetFormatError(
                f"{where}: 'label' {ann['label']!r} is a Caltech ignore label, but 'iscrowd'/'ignore' do not say "
                "ignore: the odgt line would make it a person (the odgt format has no labels); set 'ignore': 1 on "
                "such boxes, or evaluate the file with --protocol caltech")
        if not dropped.check(fbox, where, *sizes[ann["image_id"]]):
            continue
        box = {odgt: ann[coco_key] for odgt, coco_key in _ODGT_BOX_KEYS.items() if coco_key in ann}
        box.update({k: ann[k] for k in _ODGT_EXTRA_KEYS if k in ann})
        for key in _ODGT_EXTRA_KEYS:
            check_json_finite(box.get(key), where, key)
        box.setdefault("tag", "mask" if crowd else "person")
        _, _, _, ignore = parse_odgt_box(box, where)  # the line the CrowdHuman loader will read: tag, extra, boxes
        if any(k in ann for k in ("iscrowd", "ignore")) and ignore != crowd:
            raise DatasetFormatError(
                f"{where}: 'tag' {box['tag']!r} and 'extra' {box.get('extra')!r} make the box "
                f"{'an ignore region' if ignore else 'a person'}, but 'iscrowd'/'ignore' say "
                f"{'ignore' if crowd else 'person'}; the odgt line cannot keep both")
        by_image[ann["image_id"]].append(box)
    dropped.warn()
    if other:
        # named with their counts: a left-out 'mask' or 'ignore' category held ignore regions, which are now gone
        counts = ", ".join(f"{name!r}: {n}" for name, n in sorted(other.items(), key=lambda kv: (-kv[1], str(kv[0]))))
        logger.warning(f"{coco_file}: left out {sum(other.values())} annotation(s) of categories other than "
                       f"{categories[person]['name']!r} ({counts})")
    if not_jpg:
        logger.warning(f"{coco_file}: {not_jpg} image(s) are not .jpg files; the CrowdHuman loader looks for <ID>.jpg")
    return lines


def citypersons_to_coco(gt_dir: str) -> dict:
    """
    Convert one split of per-image CityPersons JSON files to the COCO-style dict of the official val_gt.json.

    Images are numbered 1.. in sorted file order (city, then name), annotations 1.. in file order. `ignore` is 1 for
    every label but "pedestrian"; `height` = bbox h; `vis_ratio` = area(bboxVis ∩ bbox) / area(bbox).

    Args:
        gt_dir: gtBboxCityPersons/<split>.
    """
    files = list_gt_files(gt_dir)
    if not files:
        raise FileNotFoundError(f"no '*{GT_SUFFIX}' file under '{gt_dir}/<city>/'")
    images, annotations = [], []
    dropped, names = DroppedBoxes(gt_dir), UniqueImageIds()
    for gt_file in files:
        height, width, objects = read_gt_file(gt_file)
        name = os.path.basename(gt_file)[: -len(GT_SUFFIX)] + IMAGE_SUFFIX
        names.add(name, gt_file)  # val_gt.json names an image by its file name only (the city is its prefix)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "im_name": name, "height": height, "width": width})
        for i, (label, bbox, vis) in enumerate(objects):
            if not dropped.check(bbox, f"{gt_file}: objects[{i}]", height, width):
                continue
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "bbox": bbox, "vis_bbox": vis,
                "height": bbox[3], "vis_ratio": vis_ratio(bbox, vis),
                "ignore": int(label != "pedestrian"), "iscrowd": 0,
            })
    dropped.warn()
    return {"images": images, "annotations": annotations, "categories": CITYPERSONS_CATEGORIES}


def caltech_to_coco(annotation_dir: str, image_root: Optional[str] = None) -> dict:
    """
    Convert one folder of Caltech bbGt files to the COCO-style ground truth of the evaluator's caltech protocol.

    The same ground truth as pedet's Caltech loader (pedet.data.caltech.load_caltech) gives MissRateEvaluator: frames
    in sorted file order, image id = frame name (the loader's image_id, so the evaluator's own
    coco_instances_results.json evaluates against this file), boxes unclipped, labels kept; a box is an ignore
    region unless its label is "person" and its ign flag 0. The visible box is written as Dollar's dbEval reads it:
    an object that is not occluded gets [0, 0, 0, 0] (visibility "inf": in every subset's range that includes 1).

    Args:
        annotation_dir: e.g. Caltech/annotations_new/anno_test_1xnew.
        image_root: folder of <frame>.jpg (e.g. Caltech/images): the image sizes are read from the headers, and boxes
            entirely outside their frame are dropped as the loader drops them. Without it the file has no sizes.
    Raises:
        DatasetFormatError as the loader (missing header, bad line, unknown label, the same frame twice, ...).
    """
    files = list_bbgt_files(annotation_dir)
    if not files:
        raise FileNotFoundError(f"no bbGt '*.txt' file in '{annotation_dir}'")
    images, annotations = [], []
    dropped, names = DroppedBoxes(annotation_dir), UniqueImageIds()
    for path in files:
        frame = frame_name(path)
        names.add(frame, path)  # set00_V000_I00002.txt and set00_V000_I00002.jpg.txt both present
        image = {"id": frame, "file_name": frame + CALTECH_IMAGE_EXT}
        if image_root is not None:
            try:
                image["height"], image["width"] = image_size_from_header(os.path.join(image_root, image["file_name"]))
            except (FileNotFoundError, DatasetFormatError) as e:
                raise type(e)(f"{path}: {e}") from None
        images.append(image)
        for i, (label, bbox, occluded, vis, ign) in enumerate(read_bbgt_file(path)):
            if not dropped.check(bbox, f"{path}: object {i}", image.get("height"), image.get("width")):
                continue
            annotations.append({
                "id": len(annotations) + 1, "image_id": frame, "category_id": 1, "label": label, "bbox": bbox,
                "vis_bbox": vis if occluded else [0.0, 0.0, 0.0, 0.0], "occ": int(occluded), "ign": int(ign),
                "ignore": int(label != "person" or ign), "height": bbox[3],
            })
    dropped.warn()
    return {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}


# A Caltech frame is a JFIF JPEG inside a Norpix .seq container (1024-byte header, then size-prefixed frames). Like the
# public extractors, we split the file at the JFIF start signature and cut each piece after its last EOI marker, which
# needs no parsing of the Norpix header (no library reads .seq).
_JFIF_START = b"\xff\xd8\xff\xe0\x00\x10JFIF"
_JPEG_END = b"\xff\xd9"


def iter_seq_frames(seq_file: str) -> Iterator[bytes]:
    """Yield the JPEG bytes of every frame of a Caltech .seq video, in order (frame 0 first)."""
    if os.path.isfile(seq_file) and os.path.getsize(seq_file) == 0:  # mmap cannot map an empty file
        raise DatasetFormatError(f"{seq_file}: the video file is empty (an interrupted download?)")
    with open(seq_file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(_JFIF_START)
        while start != -1:
            nxt = data.find(_JFIF_START, start + 1)
            chunk = data[start: len(data) if nxt == -1 else nxt]
            end = chunk.rfind(_JPEG_END)
            if end == -1:
                raise DatasetFormatError(f"{seq_file}: frame at byte {start} has no JPEG end marker")
            yield chunk[: end + len(_JPEG_END)]
            start = nxt


def caltech_seq_to_jpg(seq_root: str, annotation_root: str, out_dir: str) -> int:
    """
    Extract the annotated frames of every `<seq_root>/set??/V???.seq` to `<out_dir>/<set>_<video>_I<frame>.jpg`.

    Args:
        seq_root: folder holding set00/ ... set10/ with the V???.seq videos.
        annotation_root: folder whose sub-folders hold the bbGt files (e.g. Caltech/annotations_new); a frame is
            written if some `<set>_<video>_I<frame>[.jpg].txt` exists there.
        out_dir: e.g. Caltech/images.
    Returns:
        the number of frames written.
    """
    # the files load_caltech reads ("*.txt" in any case); glob.escape: "[" in a folder name is no pattern
    annotation_files = glob.glob(os.path.join(glob.escape(annotation_root), "*", "*.[tT][xX][tT]"))
    wanted = {frame_name(p) for p in annotation_files}
    if not wanted:
        raise FileNotFoundError(f"no bbGt '*.txt' file in '{annotation_root}/*/'")
    seq_files = sorted(glob.glob(os.path.join(glob.escape(seq_root), "set*", "V*.seq")))
    if not seq_files:
        raise FileNotFoundError(f"no 'set*/V*.seq' video under '{seq_root}'")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(f"'{out_dir}' exists and is not a folder")
    os.makedirs(out_dir, exist_ok=True)
    # a frame's name in out_dir that is a link to a file read here: the frame would replace the video (or the
    # annotation file) behind it, as a link's target is written (before: without a word); one listing of the folder
    inputs = {os.path.realpath(p) for p in (*seq_files, *annotation_files)}
    with os.scandir(out_dir) as entries:
        for entry in entries:
            if (entry.is_symlink() and entry.name.endswith(".jpg") and entry.name[:-len(".jpg")] in wanted
                    and os.path.realpath(entry.path) in inputs):
                raise FileExistsError(f"{entry.path} is a link to {os.path.realpath(entry.path)}, a file this "
                                      "conversion reads; the frame of that name would replace it: remove the link")
    remove_stale_temporaries(out_dir)
    written, frames = set(), {}
    for seq_file in seq_files:
        prefix = f"{os.path.basename(os.path.dirname(seq_file))}_{os.path.basename(seq_file)[:-len('.seq')]}"
        index = -1
        for index, jpeg in enumerate(iter_seq_frames(seq_file)):
            name = f"{prefix}_I{index:05d}"
            if name in wanted:
                # no fsync per frame (tens of thousands of files, ~8 ms each): a rerun rewrites every frame anyway;
                # stale temporaries were removed once above (not one folder listing per frame)
                atomic_write(os.path.join(out_dir, name + ".jpg"), jpeg, fsync=False, remove_stale=False)
                written.add(name)
        if index == -1:  # not "frames beyond the end of the video": there is no video in this file
            raise DatasetFormatError(f"{seq_file}: no JPEG frame in the file (not a Caltech .seq video, or a failed "
                                     "download?)")
        frames[prefix] = index + 1
    missing = sorted(n for n in wanted - written if n.rsplit("_", 1)[0] in frames)
    # a frame part that is not "I" + the frame number as written above (5 digits, f"{index:05d}"; e.g. a renamed
    # "I1"): that frame may well exist, so "beyond the end" would mislead
    unnamed = [n for n in missing if not re.fullmatch(r"I(\d{5}|[1-9]\d{5,})", n.rsplit("_", 1)[1], re.ASCII)]
    beyond = [n for n in missing if n not in unnamed]
    if beyond:
        logger.warning(f"{len(beyond)} annotated frame(s) are beyond the end of their video; first: {beyond[0]} "
                       f"(the video has {frames[beyond[0].rsplit('_', 1)[0]]} frames, numbered from I00000)")
    if unnamed:
        logger.warning(f"{len(unnamed)} annotated frame(s) not extracted: the frame part of the name is not "
                       f"'I' and the 0-based frame number in 5 digits, as frames are named; first: {unnamed[0]}")
    return len(written)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pedet.data.convert", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("odgt2coco", help="CrowdHuman .odgt -> COCO JSON")
    p.add_argument("odgt", help="annotation_{train,val}.odgt")
    p.add_argument("output", help="COCO JSON to write")
    p.add_argument("--image-root", help="CrowdHuman/Images, to read image sizes (the official odgt has none)")
    p = sub.add_parser("coco2odgt", help="COCO JSON (ours or any COCO detection file) -> CrowdHuman .odgt")
    p.add_argument("coco", help="COCO JSON")
    p.add_argument("output", help=".odgt to write")
    p.add_argument("--category", help="name of the person category (default: the only category, else 'person' or "
                                      "'pedestrian')")
    p = sub.add_parser("citypersons2coco", help="gtBboxCityPersons/<split>/ -> COCO-style <split>_gt.json")
    p.add_argument("gt_dir", help="e.g. datasets/cityscapes/gtBboxCityPersons/val")
    p.add_argument("output", help="e.g. datasets/cityscapes/gtBboxCityPersons/val_gt.json")
    p = sub.add_parser("caltech2coco", help="Caltech bbGt folder -> COCO-style ground truth for --protocol caltech")
    p.add_argument("annotation_dir", help="e.g. datasets/Caltech/annotations_new/anno_test_1xnew")
    p.add_argument("output", help="e.g. datasets/Caltech/test_gt.json")
    p.add_argument("--image-root", help="datasets/Caltech/images, to read the frame sizes (and drop boxes entirely "
                                        "outside their frame, as the loader does)")
    p = sub.add_parser("caltech_seq2jpg", help="Caltech .seq videos -> the annotated frames as .jpg")
    p.add_argument("seq_root", help="folder with set00/ ... set10/ holding V???.seq")
    p.add_argument("annotation_root", help="e.g. datasets/Caltech/annotations_new")
    p.add_argument("output", help="e.g. datasets/Caltech/images")
    return parser


def run(args: argparse.Namespace) -> str:
    """Run one converter; returns the summary line."""
    if args.command == "odgt2coco":
        coco = odgt_to_coco(args.odgt, args.image_root)
        atomic_write_json(args.output, coco)
        return f"wrote {args.output}: {len(coco['images'])} images, {len(coco['annotations'])} boxes"
    if args.command == "coco2odgt":
        lines = coco_to_odgt_lines(read_json_file(args.coco), args.coco, args.category)
        with atomic_open(args.output, "w") as f:
            f.writelines(json.dumps(line, allow_nan=False) + "\n" for line in lines)
        return f"wrote {args.output}: {len(lines)} lines"
    if args.command == "caltech2coco":
        coco = caltech_to_coco(args.annotation_dir, args.image_root)
        atomic_write_json(args.output, coco)
        sizes = "" if args.image_root else " (no image sizes: pass --image-root to check boxes against the frames)"
        return f"wrote {args.output}: {len(coco['images'])} frames, {len(coco['annotations'])} boxes{sizes}"
    if args.command == "caltech_seq2jpg":
        n = caltech_seq_to_jpg(args.seq_root, args.annotation_root, args.output)
        return f"wrote {n} frames to {args.output}"
    coco = citypersons_to_coco(args.gt_dir)
    atomic_write_json(args.output, coco)
    return f"wrote {args.output}: {len(coco['images'])} images, {len(coco['annotations'])} boxes"


_DEFAULT_OUTPUT = {"odgt2coco": "annotation_val.json", "coco2odgt": "annotation_val.odgt",
                   "citypersons2coco": "val_gt.json", "caltech2coco": "test_gt.json"}


def _is_gt_file_of(path: str, gt_dir: str) -> bool:
    """True if `list_gt_files(gt_dir)` would list `path` once it exists (<gt_dir>/<city>/*_gtBboxCityPersons.json)."""
    city = os.path.dirname(os.path.abspath(path))
    return (fnmatch.fnmatchcase(os.path.basename(path), _GT_PATTERN)
            and os.path.realpath(os.path.dirname(city)) == os.path.realpath(gt_dir))


@data_command
def main(argv: Optional[list[str]] = None) -> int:
    """Command line; a bad input file is one line on stderr ("error: <file>:<record>: ...") and exit status 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    source = {"odgt2coco": "odgt", "coco2odgt": "coco"}.get(args.command)
    if source and same_file(getattr(args, source), args.output):  # the converted file would replace the original
        parser.error(f"the output is the input file ({args.output}); give another path")
    image_root = getattr(args, "image_root", None)
    if image_root is not None and not os.path.isdir(image_root):  # was "image not found: '<root>/<id>.jpg'" at the
        # first record, naming a path inside a file (or a folder that does not exist)
        parser.error(f"--image-root {image_root}: " + ("is a file, not the folder of the images"
                                                       if os.path.exists(image_root) else "no such folder"))
    real_output = os.path.realpath(args.output)  # the file written: a symbolic link's target (see atomic_open)
    if (args.command in ("odgt2coco", "caltech2coco") and args.image_root and os.path.isfile(real_output)
            and real_output.lower().endswith(IMAGE_EXT) and is_inside(real_output, args.image_root)):
        # before: the image, read for its size, was replaced by the COCO file without a word (also through a link
        # of another name, e.g. out.json -> Images/a.jpg)
        via = f" (a link to {real_output})" if os.path.islink(args.output) else ""
        parser.error(f"the output {args.output}{via} is an image of --image-root {args.image_root}, which the "
                     "conversion reads; give another path, e.g. "
                     + ("annotation_val.json beside the .odgt" if args.command == "odgt2coco"
                        else "test_gt.json beside the annotation folder"))
    if args.command == "caltech2coco" and os.path.isdir(args.annotation_dir) and (
            any(same_file(f, args.output) for f in list_bbgt_files(args.annotation_dir))
            or (args.output.lower().endswith(".txt")
                and os.path.realpath(os.path.dirname(os.path.abspath(args.output)))
                == os.path.realpath(args.annotation_dir))):
        # one of the files it reads, or a new one the loader (and the next run) would read as a frame's bbGt file
        parser.error(f"the output {args.output} is (or would be read as) a bbGt file of {args.annotation_dir}; "
                     "write the JSON outside that folder, e.g. "
                     f"{os.path.join(os.path.dirname(os.path.normpath(args.annotation_dir)), 'test_gt.json')}")
    if args.command == "citypersons2coco" and os.path.isdir(args.gt_dir) and any(
            same_file(f, args.output) for f in list_gt_files(args.gt_dir, warn=False)):  # one of the files it reads
        parser.error(f"the output is one of the input files ({args.output}); give another path, e.g. "
                     f"{os.path.join(os.path.dirname(os.path.normpath(args.gt_dir)), 'val_gt.json')}")
    if args.command == "citypersons2coco" and os.path.isdir(args.gt_dir) and _is_gt_file_of(args.output, args.gt_dir):
        # a new file the per-image loader (and the next run) would read as one of the split's images
        parser.error(f"the output {args.output} is named like a per-image file of {args.gt_dir} (<city>/*{GT_SUFFIX}); "
                     "the next run would read it as an image's file: write it outside the split folder")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # found before the conversion, not after it; a trailing "/" (a folder meant) wrote a FILE of that name
    if args.command != "caltech_seq2jpg" and (os.path.isdir(args.output) or args.output.endswith(("/", os.sep))):
        print(f"error: {args.output}: is a folder; give the file to write, e.g. "
              f"{os.path.join(args.output, _DEFAULT_OUTPUT[args.command])}", file=sys.stderr)
        return 1
    too_long = name_too_long(args.output)  # before: "File name too long" once the whole input was converted
    if too_long:
        print(f"error: {args.output}: {too_long}", file=sys.stderr)
        return 1
    loop = symlink_loop(args.output)  # before: the link was replaced by the converted file without a word
    if loop:
        print(f"error: {loop}", file=sys.stderr)
        return 1
    try:
        summary = run(args)
    except DatasetFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
