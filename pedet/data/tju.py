"""
TJU-Ped (the pedestrian part of TJU-DHD, Pang et al., TIP 2020), campus and traffic scenes, in Detectron2 format.

The annotations are COCO-style JSON files as distributed in `dhd_pedestrian_{campus,traffic}_trainval_annos.zip`:
    dhd_pedestrian/ped_{campus,traffic}/annotations/dhd_pedestrian_{campus,traffic}_{train,val}.json
with images {id, file_name, height, width} and annotations {id, image_id, category_id, bbox [x, y, w, h], and,
where the file has them, vis_bbox, height, vis_ratio, ignore, iscrowd}; the images are
    dhd_{campus,traffic}/images/{train,val}/<file_name>
(from `dhd_{campus,traffic}_*_images.zip`). TJU-Ped is evaluated with the CityPersons protocol (the dataset README
points to the CityPersons API), so these sets get evaluator_type "citypersons".

Ignore rule (CHOICE; the public TJU-Ped files were not available to check field by field): a box is an ignore box if
its `ignore` or `iscrowd` flag is set, or its category is named as an ignore region (IGNORE_CATEGORY_NAMES); every
other box is a positive (one counted warning per file lists the categories other than "pedestrian" / "person" that
give positives, e.g. "rider", or "car" in a file that is not a pedestrian file). The file must have its 'categories'
list and every annotation a 'category_id' from it (without them an ignore region named by its category would
silently become a positive). When an annotation has no visible box (nor `vis_ratio`), the visible box is the full
box (visibility 1), announced by one counted warning.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from .common import (
    DatasetFormatError,
    check_path_arguments,
    load_coco_style_json,
    register_dataset,
    require_path,
)

IGNORE_CATEGORY_NAMES = ("ignore", "ignore region", "crowd", "people", "person group", "people group")
# categories whose positives are pedestrians without a word; positives of any other category (e.g. "rider", "car")
# are read as pedestrians too, announced by one counted warning per file
PERSON_CATEGORY_NAMES = ("pedestrian", "person")

logger = logging.getLogger(__name__)


def is_ignore(ann: dict, category: dict) -> bool:
    """TJU-Ped ignore rule of one COCO annotation (see module docstring)."""
    name = str(category.get("name", "")).strip().lower()
    return bool(ann.get("ignore", 0)) or bool(ann.get("iscrowd", 0)) or name in IGNORE_CATEGORY_NAMES


def _image_path(image_dir: str, img: dict) -> str:
    """<image_dir>/<file_name>; TJU-Ped names images by 'file_name' only (an 'im_name' is CityPersons' key)."""
    if "file_name" not in img:
        raise DatasetFormatError("'file_name' is missing" + (" ('im_name' is CityPersons' key: is this a CityPersons "
                                                             "file?)" if "im_name" in img else ""))
    return os.path.join(image_dir, img["file_name"])


def load_tju_ped(json_file: str, image_dir: str, dataset_name: Optional[str] = None) -> list[dict]:
    """
    Load one TJU-Ped annotation file.

    Args:
        json_file: dhd_pedestrian_<scene>_<split>.json.
        image_dir: dhd_<scene>/images/<split>.
    Returns:
        one dict per image of the file (images without person included), image_id = the file's id.
    """
    dicts = load_coco_style_json(
        json_file, image_dir, image_path=_image_path,
        is_ignore=is_ignore, dataset_name=dataset_name, require_categories=True,
        counted_defaults={"vis_bbox": "no 'vis_ratio' either: visible box = full box (visibility 1)",
                          "vis_ratio": "computed from 'vis_bbox' as area(vis_bbox ∩ bbox) / area(bbox)",
                          "height": "the height of 'bbox' (its 4th value)"},
    )
    other = [a["label"] for d in dicts for a in d["annotations"]
             if a["category_id"] == 0 and str(a["label"]).strip().lower() not in PERSON_CATEGORY_NAMES]
    if other:  # e.g. the TJU-DHD object file: its cars would silently be pedestrians
        logger.warning(f"{dataset_name or json_file}: {len(other)} positive box(es) of categories "
                       f"{sorted(set(other))[:5]}, not named as pedestrians {PERSON_CATEGORY_NAMES}, are read as "
                       "pedestrians (every category not named as an ignore region is); is this a pedestrian file?")
    return dicts


def register_tju_ped(name: str, json_file: str, image_dir: str) -> None:
    """Register a TJU-Ped split lazily. Metadata: thing_classes, evaluator_type "citypersons", gt_file."""
    check_path_arguments(name, json_file=json_file, image_dir=image_dir)

    def load() -> list[dict]:
        require_path(json_file, name, "annotation file")
        require_path(image_dir, name, "image folder")
        return load_tju_ped(json_file, image_dir, name)

    register_dataset(name, load, thing_classes=["person"], evaluator_type="citypersons", gt_file=json_file,
                     image_root=image_dir)
