"""
Format converters for pedestrian benchmarks, with a command line (`python -m pedet.data.convert --help`):

    odgt2coco         CrowdHuman .odgt  -> COCO JSON (every odgt field kept, so coco2odgt restores the file)
    coco2odgt         COCO JSON from odgt2coco -> CrowdHuman .odgt
    citypersons2coco  CityPersons per-image gtBboxCityPersons/<split>/ -> COCO-style *_gt.json (the official
                      val_gt.json fields: images {id, im_name, file_name, height, width}; annotations {id, image_id,
                      category_id 1, iscrowd 0, ignore, bbox, vis_bbox, height, vis_ratio})
    caltech_seq2jpg   Caltech set??/V???.seq videos -> Caltech/images/set??_V???_I?????.jpg, only the frames that have
                      an annotation file (frame index 0-based, as in the new annotations' file names)

The converters change the format only: no box is dropped, clipped or re-labelled (degenerate boxes are kept, the
loaders drop them with a warning).

COCO JSON written by odgt2coco (boxes XYWH in px, as in the odgt):
    images:      {id: 1.., file_name: "<ID>.jpg", height, width, crowdhuman_id: "<ID>"}
    annotations: {id: 1.., image_id, category_id 1, bbox: fbox, vis_bbox: vbox, head_bbox: hbox, area: w*h of fbox,
                  height: fbox h, vis_ratio, ignore: 0/1 (CrowdHuman rule), iscrowd: = ignore (so pycocotools' COCOeval
                  treats ignore boxes as crowd regions), tag, extra, head_attr}
    categories:  [{id: 1, name: "person"}]
"""
from __future__ import annotations

import argparse
import glob
import json
import mmap
import os
import sys
from typing import Iterator, Optional

from .citypersons import GT_SUFFIX, IMAGE_SUFFIX, list_gt_files, read_gt_file
from .common import DatasetFormatError, image_size_from_header, parse_box, read_json_file, vis_ratio
from .crowdhuman import IMAGE_EXT, is_ignore_box, iter_odgt

PERSON_CATEGORY = {"id": 1, "name": "person"}
# the category list of the official val_gt.json (every annotation there has category_id 1 and an `ignore` flag)
CITYPERSONS_CATEGORIES = [
    {"id": 1, "name": "pedestrian"}, {"id": 2, "name": "rider"}, {"id": 3, "name": "sitting person"},
    {"id": 4, "name": "other person"}, {"id": 5, "name": "people group"}, {"id": 0, "name": "ignore region"},
]
# odgt box key -> COCO key; the COCO annotation keeps the odgt box under these names
_ODGT_BOX_KEYS = {"fbox": "bbox", "vbox": "vis_bbox", "hbox": "head_bbox"}
_ODGT_EXTRA_KEYS = ("tag", "extra", "head_attr")


def odgt_to_coco(odgt_file: str, image_root: Optional[str] = None) -> dict:
    """
    Convert a CrowdHuman .odgt file to a COCO dict.

    Args:
        odgt_file: the .odgt file.
        image_root: folder of <ID>.jpg; the image size is read from the header when a line has no width/height
            (needed for the official files, which have none).
    Returns:
        the COCO dict described in the module docstring.
    """
    images, annotations = [], []
    for line_no, record in iter_odgt(odgt_file):
        where = f"{odgt_file}:{line_no}"
        image = {"id": len(images) + 1, "file_name": str(record["ID"]) + IMAGE_EXT, "crowdhuman_id": record["ID"]}
        if "width" in record and "height" in record:
            image.update(height=record["height"], width=record["width"], size_in_odgt=True)
        elif image_root is None:
            raise DatasetFormatError(f"{where}: the line has no width/height; pass the image folder (--image-root)")
        else:
            try:
                image["height"], image["width"] = image_size_from_header(os.path.join(image_root, image["file_name"]))
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{where}: {e}") from None
        images.append(image)
        for box in record["gtboxes"]:
            if not isinstance(box, dict):
                raise DatasetFormatError(f"{where}: a 'gtboxes' entry must be an object, got {box!r}")
            fbox = parse_box(box.get("fbox"), where, "fbox")
            vbox = parse_box(box["vbox"], where, "vbox") if "vbox" in box else fbox
            ann = {"id": len(annotations) + 1, "image_id": image["id"], "category_id": PERSON_CATEGORY["id"]}
            ann.update({coco: box[odgt] for odgt, coco in _ODGT_BOX_KEYS.items() if odgt in box})
            ann.update({k: box[k] for k in _ODGT_EXTRA_KEYS if k in box})
            ignore = int(is_ignore_box(box))
            ann.update(area=fbox[2] * fbox[3], height=fbox[3], ignore=ignore, iscrowd=ignore,
                       vis_ratio=vis_ratio(fbox, vbox))
            annotations.append(ann)
    return {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}


def coco_to_odgt_lines(coco: dict) -> list[dict]:
    """
    Convert a COCO dict written by `odgt_to_coco` back to odgt records (one dict per line, in image order).

    Only the odgt fields come back (ID, gtboxes with fbox/vbox/hbox/tag/extra/head_attr; width/height when the
    original line had them); the derived COCO fields (area, ignore, vis_ratio, ...) are dropped.
    """
    by_image: dict = {img["id"]: [] for img in coco["images"]}
    for ann in coco["annotations"]:
        if ann.get("image_id") not in by_image:
            raise DatasetFormatError(f"annotation {ann.get('id')!r}: unknown image_id {ann.get('image_id')!r}")
        box = {odgt: ann[coco_key] for odgt, coco_key in _ODGT_BOX_KEYS.items() if coco_key in ann}
        box.update({k: ann[k] for k in _ODGT_EXTRA_KEYS if k in ann})
        box.setdefault("tag", "mask" if ann.get("ignore") or ann.get("iscrowd") else "person")
        by_image[ann["image_id"]].append(box)
    lines = []
    for img in coco["images"]:
        image_id = img.get("crowdhuman_id", os.path.splitext(img["file_name"])[0])
        line = {"ID": image_id, "gtboxes": by_image[img["id"]]}
        if img.get("size_in_odgt"):
            line.update(width=img["width"], height=img["height"])
        lines.append(line)
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
    for gt_file in files:
        height, width, objects = read_gt_file(gt_file)
        name = os.path.basename(gt_file)[: -len(GT_SUFFIX)] + IMAGE_SUFFIX
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "im_name": name, "height": height, "width": width})
        for label, bbox, vis in objects:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "bbox": bbox, "vis_bbox": vis,
                "height": bbox[3], "vis_ratio": vis_ratio(bbox, vis),
                "ignore": int(label != "pedestrian"), "iscrowd": 0,
            })
    return {"images": images, "annotations": annotations, "categories": CITYPERSONS_CATEGORIES}


# A Caltech frame is a JFIF JPEG inside a Norpix .seq container (1024-byte header, then size-prefixed frames). Like the
# public extractors, we split the file at the JFIF start signature and cut each piece after its last EOI marker, which
# needs no parsing of the Norpix header (no library reads .seq).
_JFIF_START = b"\xff\xd8\xff\xe0\x00\x10JFIF"
_JPEG_END = b"\xff\xd9"


def iter_seq_frames(seq_file: str) -> Iterator[bytes]:
    """Yield the JPEG bytes of every frame of a Caltech .seq video, in order (frame 0 first)."""
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
    wanted = {os.path.basename(p)[: -len(".txt")].replace(".jpg", "")
              for p in glob.glob(os.path.join(annotation_root, "*", "*.txt"))}
    if not wanted:
        raise FileNotFoundError(f"no bbGt '*.txt' file in '{annotation_root}/*/'")
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for seq_file in sorted(glob.glob(os.path.join(seq_root, "set*", "V*.seq"))):
        prefix = f"{os.path.basename(os.path.dirname(seq_file))}_{os.path.basename(seq_file)[:-len('.seq')]}"
        for index, jpeg in enumerate(iter_seq_frames(seq_file)):
            name = f"{prefix}_I{index:05d}"
            if name in wanted:
                with open(os.path.join(out_dir, name + ".jpg"), "wb") as f:
                    f.write(jpeg)
                written += 1
    return written


def _write_json(obj, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pedet.data.convert", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("odgt2coco", help="CrowdHuman .odgt -> COCO JSON")
    p.add_argument("odgt", help="annotation_{train,val}.odgt")
    p.add_argument("output", help="COCO JSON to write")
    p.add_argument("--image-root", help="CrowdHuman/Images, to read image sizes (the official odgt has none)")
    p = sub.add_parser("coco2odgt", help="COCO JSON written by odgt2coco -> CrowdHuman .odgt")
    p.add_argument("coco", help="COCO JSON")
    p.add_argument("output", help=".odgt to write")
    p = sub.add_parser("citypersons2coco", help="gtBboxCityPersons/<split>/ -> COCO-style <split>_gt.json")
    p.add_argument("gt_dir", help="e.g. datasets/cityscapes/gtBboxCityPersons/val")
    p.add_argument("output", help="e.g. datasets/cityscapes/gtBboxCityPersons/val_gt.json")
    p = sub.add_parser("caltech_seq2jpg", help="Caltech .seq videos -> the annotated frames as .jpg")
    p.add_argument("seq_root", help="folder with set00/ ... set10/ holding V???.seq")
    p.add_argument("annotation_root", help="e.g. datasets/Caltech/annotations_new")
    p.add_argument("output", help="e.g. datasets/Caltech/images")
    args = parser.parse_args(argv)

    if args.command == "odgt2coco":
        coco = odgt_to_coco(args.odgt, args.image_root)
        _write_json(coco, args.output)
        print(f"wrote {args.output}: {len(coco['images'])} images, {len(coco['annotations'])} boxes")
    elif args.command == "coco2odgt":
        lines = coco_to_odgt_lines(read_json_file(args.coco))
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        print(f"wrote {args.output}: {len(lines)} lines")
    elif args.command == "caltech_seq2jpg":
        n = caltech_seq_to_jpg(args.seq_root, args.annotation_root, args.output)
        print(f"wrote {n} frames to {args.output}")
    else:
        coco = citypersons_to_coco(args.gt_dir)
        _write_json(coco, args.output)
        print(f"wrote {args.output}: {len(coco['images'])} images, {len(coco['annotations'])} boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
