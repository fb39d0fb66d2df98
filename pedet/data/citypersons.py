"""
CityPersons (Zhang et al., CVPR 2017) in Detectron2 Dataset format.

Two published file formats are read:
  * per-image JSON `gtBboxCityPersons/<split>/<city>/<city>_<seq>_<frame>_gtBboxCityPersons.json`
    {"imgHeight", "imgWidth", "objects": [{"label", "bbox": [x, y, w, h], "bboxVis": [x, y, w, h], "instanceId"}]}
    with labels "pedestrian", "rider", "sitting person", "person (other)", "person group", "ignore"
    (classes 1, 2, 3, 4, 5, 0 of the original .mat release); the image is
    `leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`.
  * the COCO-style `val_gt.json` of the official evaluation code: images {id, im_name | file_name, height, width},
    annotations {id, image_id, category_id 1, bbox, vis_bbox, height, vis_ratio, ignore}.

Ignore rules (docs/methods.md §3.2):
  * evaluation / `rule=None`: every label but "pedestrian" is an ignore box (as the official val_gt.json).
  * training, CHOICE C3 ("reasonable", the RepLoss paper's train set): positives = "pedestrian" with height >= 50 px
    and visibility >= 0.65; everything else is an ignore box. The lenient public variant ("lenient", [R25]) uses
    height >= 30 and visibility >= 0.45.
The full box of labels other than pedestrian/rider equals the visible box (annotation README), so those boxes are
only ever used as ignore regions.

Shape shorthand: N = images, G = boxes of one image.
"""
from __future__ import annotations

import glob
import logging
import os
from typing import Optional

from .common import (
    DatasetFormatError,
    DroppedBoxes,
    UniqueImageIds,
    check_image_size,
    check_path_arguments,
    load_coco_style_json,
    make_annotation,
    parse_box,
    parse_image_size,
    read_json_file,
    reject_null,
    register_dataset,
    require_path,
    vis_ratio,
)

logger = logging.getLogger(__name__)

LABELS = ("ignore", "pedestrian", "rider", "sitting person", "person (other)", "person group")
GT_SUFFIX = "_gtBboxCityPersons.json"
IMAGE_SUFFIX = "_leftImg8bit.png"

# rule name -> (minimum full-box height in px, minimum visibility) for a training positive (label "pedestrian").
TRAIN_RULES = {
    "reasonable": (50.0, 0.65),  # CHOICE C3 (docs/methods.md §3.2), = the Reasonable evaluation setup
    "lenient": (30.0, 0.45),  # PEER [R25]
}


def ignore_reason(label: str, height: float, visibility: float, rule: Optional[str]) -> Optional[str]:
    """
    Why a CityPersons box is an ignore box rather than a positive (category 0); None for a positive.

    Args:
        label: one of LABELS.
        height: full-box height in px.
        visibility: visible fraction in [0, 1].
        rule: None (evaluation: every pedestrian) or a key of TRAIN_RULES.
    Returns:
        None (positive), "label" (not a "pedestrian": rider, sitting person, person (other), group, ignore region),
        or, for a pedestrian the train rule leaves out, "height", "visibility" or "height,visibility" (the
        annotation key ``ignore_reason``; such persons can serve as repulsion GTs, pedet.data.mapper).
    """
    if label != "pedestrian":
        return "label"
    if rule is None:
        return None
    if rule not in TRAIN_RULES:
        raise ValueError(f"unknown CityPersons train rule {rule!r}; expected None or one of {sorted(TRAIN_RULES)}")
    min_height, min_vis = TRAIN_RULES[rule]
    failed = [name for name, ok in (("height", height >= min_height), ("visibility", visibility >= min_vis)) if not ok]
    return ",".join(failed) or None


def is_positive(label: str, height: float, visibility: float, rule: Optional[str]) -> bool:
    """True if a CityPersons box is a positive (category 0) rather than an ignore box (see `ignore_reason`)."""
    return ignore_reason(label, height, visibility, rule) is None


# the extension in any case (a copy made on Windows may have ".JSON"; a case-sensitive glob skipped those silently)
_GT_PATTERN = "*" + GT_SUFFIX[: -len(".json")] + ".[jJ][sS][oO][nN]"


def list_gt_files(gt_dir: str, warn: bool = True) -> list[str]:
    """
    Sorted paths of every `<city>/*_gtBboxCityPersons.json` under gt_dir (one split; ".JSON" too). Such files directly
    in gt_dir, outside a city folder, are not read: one warning gives their count (warn=False: a caller's look ahead
    at the files it will read, whose reading warns).
    """
    if os.path.isfile(gt_dir):  # e.g. the split's val_gt.json: "no file under 'val_gt.json/<city>/'" would puzzle
        raise NotADirectoryError(f"{gt_dir}: is a file, not a split folder (<split>/<city>/*{GT_SUFFIX}); give "
                                 "the folder, e.g. gtBboxCityPersons/val")
    root = glob.escape(gt_dir)  # "[" in a folder name is a path, not a pattern
    stray = glob.glob(os.path.join(root, _GT_PATTERN))
    if stray and warn:
        logger.warning(f"{gt_dir}: {len(stray)} '*{GT_SUFFIX}' file(s) directly in the split folder are not read (the "
                       f"layout is <split>/<city>/*{GT_SUFFIX}); first: {sorted(stray)[0]}")
    return sorted(glob.glob(os.path.join(root, "*", _GT_PATTERN)))


def image_path_for_gt(gt_file: str, image_dir: str) -> str:
    """leftImg8bit path of a per-image gt file: <image_dir>/<city>/<stem>_leftImg8bit.png."""
    city = os.path.basename(os.path.dirname(gt_file))
    stem = os.path.basename(gt_file)[: -len(GT_SUFFIX)]
    return os.path.join(image_dir, city, stem + IMAGE_SUFFIX)


def read_gt_file(gt_file: str) -> tuple[int, int, list[tuple[str, list[float], list[float]]]]:
    """
    Parse and check one per-image JSON.

    Returns:
        (height, width, [(label, bbox, bboxVis), ...]) with boxes as 4 finite floats, XYWH. Degenerate boxes pass.
    Raises:
        DatasetFormatError naming the file, the object index and what is wrong: a missing key ('imgHeight',
        'imgWidth', 'objects', 'label', 'bbox', 'bboxVis'), an unknown label, a value that is not a finite number,
        or a file of another format.
    """
    data = read_json_file(gt_file)
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{gt_file}:1: expected a JSON object with 'imgHeight', 'imgWidth' and 'objects', "
                                 f"got a {type(data).__name__}")
    if "images" in data and "objects" not in data:
        raise DatasetFormatError(f"{gt_file}:1: this looks like a COCO-style file (it has 'images'), not a per-image "
                                 "CityPersons file; COCO-style files are read by load_citypersons_json")
    for key in ("imgHeight", "imgWidth", "objects"):
        if key not in data:
            raise DatasetFormatError(f"{gt_file}: '{key}' is missing")
    height, width = parse_image_size(data["imgHeight"], data["imgWidth"], gt_file, ("imgHeight", "imgWidth"))
    if not isinstance(data["objects"], list):
        raise DatasetFormatError(f"{gt_file}: 'objects' must be a list, got {type(data['objects']).__name__}")
    out = []
    for i, obj in enumerate(data["objects"]):
        where = f"{gt_file}: objects[{i}]"
        if not isinstance(obj, dict):
            raise DatasetFormatError(f"{where}: an object must be a JSON object, got {obj!r}")
        reject_null(obj, (), where, ("label", "bbox", "bboxVis"))
        if "label" not in obj:
            raise DatasetFormatError(f"{where}: 'label' is missing")
        label = obj["label"]
        if label not in LABELS:
            raise DatasetFormatError(f"{where}: unknown label {label!r}; expected one of {LABELS}")
        out.append((label, parse_box(obj.get("bbox"), where, "bbox"), parse_box(obj.get("bboxVis"), where, "bboxVis")))
    return height, width, out


def load_citypersons_per_image(
    gt_dir: str, image_dir: str, rule: Optional[str] = None, dataset_name: Optional[str] = None
) -> list[dict]:
    """
    Load one split of the per-image CityPersons JSON files.

    Args:
        gt_dir: gtBboxCityPersons/<split>.
        image_dir: leftImg8bit/<split>.
        rule: None (every pedestrian is a positive, as val_gt.json) or a key of TRAIN_RULES.
        dataset_name: only used in messages.
    Returns:
        N dicts (images with no person included), image_id = "<city>_<seq>_<frame>"; annotations carry
        label, vis_bbox (bboxVis), vis_ratio, height = bbox h, ignore, and on ignore boxes ignore_reason.
    """
    files = list_gt_files(gt_dir)
    if not files:
        raise FileNotFoundError(f"no '*{GT_SUFFIX}' file under '{gt_dir}/<city>/'")
    dropped = DroppedBoxes(dataset_name or gt_dir)
    ids = UniqueImageIds()
    dicts = []
    for gt_file in files:
        height, width, objects = read_gt_file(gt_file)
        file_name = image_path_for_gt(gt_file, image_dir)
        check_image_size(file_name, height, width, gt_file)
        image_id = os.path.basename(gt_file)[: -len(GT_SUFFIX)]
        ids.add(image_id, gt_file)
        annos = []
        for i, (label, bbox, vis) in enumerate(objects):
            if not dropped.check(bbox, f"{gt_file}: objects[{i}]", height, width):
                continue
            ratio = vis_ratio(bbox, vis)
            reason = ignore_reason(label, bbox[3], ratio, rule)
            annos.append(make_annotation(bbox, ignore=reason is not None, vis_bbox=vis, visibility=ratio, label=label))
            if reason is not None:
                annos[-1]["ignore_reason"] = reason
        dicts.append({"file_name": file_name, "image_id": image_id, "height": height, "width": width,
                      "annotations": annos})
    dropped.warn()
    return dicts


def _val_gt_image_path(image_dir: str, img: dict) -> str:
    """val_gt.json names the image only ("frankfurt_000000_000294_leftImg8bit.png"); the city is its prefix."""
    name = img.get("file_name", img.get("im_name"))
    return os.path.join(image_dir, os.path.basename(name).split("_")[0], os.path.basename(name))


def load_citypersons_json(json_file: str, image_dir: str, dataset_name: Optional[str] = None) -> list[dict]:
    """
    Load the COCO-style CityPersons file (the official `val_gt.json`, or `*_gt.json` from our converter).

    `ignore`, `height` and `vis_ratio` are taken from the file, as the official evaluator does. Annotations without
    `ignore` count as pedestrians (as in the official evaluator), unless their `iscrowd` is 1, and those without
    `vis_bbox` and `vis_ratio` as fully visible; either is announced by one counted warning per file. `iscrowd` 1
    makes an ignore region even where `ignore` is 0, with one counted warning (the official evaluator reads `ignore`
    only). Annotations whose `category_id` is not 1
    are left out with one counted warning: the official evaluator reads category 1 only (`catIds = [1]`), and so
    does `python -m pedet.evaluation`.

    Args:
        json_file: the *_gt.json file.
        image_dir: leftImg8bit/<split> (images are found under <city>/).
    Returns:
        one dict per image of the file, image_id = the file's integer id.
    """
    crowd_only: list[dict] = []  # iscrowd 1 without ignore 1: an ignore region here, a pedestrian to the script

    def is_ignore(ann: dict, _category: dict) -> bool:
        if ann.get("iscrowd", 0) and not ann.get("ignore", 0):
            crowd_only.append(ann)
        return bool(ann.get("ignore", 0)) or bool(ann.get("iscrowd", 0))

    records = load_coco_style_json(
        json_file, image_dir, image_path=_val_gt_image_path, is_ignore=is_ignore, dataset_name=dataset_name,
        counted_defaults={"ignore": "counted as regular pedestrians (as the official evaluator does)",
                          "vis_bbox": "no 'vis_ratio' either: visible box = full box (visibility 1)",
                          "vis_ratio": "computed from 'vis_bbox' as area(vis_bbox ∩ bbox) / area(bbox)",
                          "height": "the height of 'bbox' (its 4th value)",
                          "category_id": "read as category 1 (pedestrian)"},
        category_id=1,
    )
    if crowd_only:  # was silent: the same file gave other numbers here than in python -m pedet.evaluation
        first = crowd_only[0]
        logger.warning(f"{dataset_name or json_file}: {len(crowd_only)} annotation(s) have 'iscrowd' 1 but 'ignore' "
                       f"{first.get('ignore', 'absent') if len(crowd_only) == 1 else '0 or absent'}: ignore regions "
                       f"here, while the official evaluator and python -m pedet.evaluation read 'ignore' only and "
                       f"count them as pedestrians; first: {json_file}: annotation id {first.get('id')!r} (image "
                       f"{first.get('image_id')!r})")
    return records


def register_citypersons_per_image(name: str, gt_dir: str, image_dir: str, rule: Optional[str]) -> None:
    """Register a per-image split lazily. Metadata: thing_classes, evaluator_type "citypersons", gt_dir."""
    check_path_arguments(name, gt_dir=gt_dir, image_dir=image_dir)

    def load() -> list[dict]:
        require_path(gt_dir, name, "CityPersons annotation folder")
        require_path(image_dir, name, "Cityscapes image folder")
        return load_citypersons_per_image(gt_dir, image_dir, rule, name)

    if rule is not None:
        is_positive("pedestrian", 0.0, 0.0, rule)  # an unknown rule fails at registration, not mid-training
    register_dataset(name, load, thing_classes=["person"], evaluator_type="citypersons", gt_dir=gt_dir,
                     image_root=image_dir, train_rule=rule or "all_pedestrians")


def register_citypersons_json(name: str, json_file: str, image_dir: str) -> None:
    """Register a COCO-style CityPersons file lazily. Metadata: evaluator_type "citypersons", gt_file."""
    check_path_arguments(name, json_file=json_file, image_dir=image_dir)

    def load() -> list[dict]:
        require_path(json_file, name, "annotation file")
        require_path(image_dir, name, "Cityscapes image folder")
        return load_citypersons_json(json_file, image_dir, name)

    register_dataset(name, load, thing_classes=["person"], evaluator_type="citypersons", gt_file=json_file,
                     image_root=image_dir)
