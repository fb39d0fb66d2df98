"""
Registers every pedestrian benchmark in Detectron2's DatasetCatalog / MetadataCatalog (as detectron2's
data/datasets/builtin.py does for COCO): `import pedet.data` runs `register_builtin_datasets()` as soon as
`detectron2.data` is imported (at once if it already is), which registers everything under `datasets_root()`.

Registration touches no file. The paths below are relative to $DETECTRON2_DATASETS (default `./datasets`, relative
to the working directory, as in Detectron2); a missing file raises FileNotFoundError naming the expected path and
pointing to datasets/README.md when the data set is requested (DatasetCatalog.get).

Names (the layout of each is in datasets/README.md):
    crowdhuman_{train,val}                       evaluator_type "crowdhuman"
    citypersons_train                            train rule "reasonable" (CHOICE C3), evaluator_type "citypersons"
    citypersons_train_lenient                    train rule "lenient" (h >= 30, vis >= 0.45, PEER [R25])
    citypersons_train_all                        every pedestrian a positive (as val_gt.json)
    citypersons_val                              the official COCO-style val_gt.json
    caltech_{train,test}                         new annotations (Zhang et al. 2016), evaluator_type "caltech"
    tju_ped_{campus,traffic}_{train,val}         evaluator_type "citypersons"
    synthetic_crowd_*                            registered by pedet.data.synthetic (generated on first use)
"""
from __future__ import annotations

import importlib
import importlib.util
import os

from .caltech import register_caltech
from .citypersons import register_citypersons_json, register_citypersons_per_image
from .common import datasets_root
from .crowdhuman import register_crowdhuman
from .tju import register_tju_ped

# name -> (odgt file, image folder)
_CROWDHUMAN = {
    "crowdhuman_train": ("CrowdHuman/annotation_train.odgt", "CrowdHuman/Images"),
    "crowdhuman_val": ("CrowdHuman/annotation_val.odgt", "CrowdHuman/Images"),
}

# name -> (per-image gt folder, image folder, train rule)
_CITYPERSONS_PER_IMAGE = {
    "citypersons_train": ("cityscapes/gtBboxCityPersons/train", "cityscapes/leftImg8bit/train", "reasonable"),
    "citypersons_train_lenient": ("cityscapes/gtBboxCityPersons/train", "cityscapes/leftImg8bit/train", "lenient"),
    "citypersons_train_all": ("cityscapes/gtBboxCityPersons/train", "cityscapes/leftImg8bit/train", None),
}
# name -> (COCO-style gt file, image folder)
_CITYPERSONS_JSON = {
    "citypersons_val": ("cityscapes/gtBboxCityPersons/val_gt.json", "cityscapes/leftImg8bit/val"),
}

# name -> (annotation folder, frame folder)
_CALTECH = {
    "caltech_train": ("Caltech/annotations_new/anno_train10x_alignedby_RotatedFilters", "Caltech/images"),
    "caltech_test": ("Caltech/annotations_new/anno_test_1xnew", "Caltech/images"),
}

# name -> (annotation file, image folder)
_TJU_PED = {
    f"tju_ped_{scene}_{split}": (
        f"TJU-DHD/dhd_pedestrian/ped_{scene}/annotations/dhd_pedestrian_{scene}_{split}.json",
        f"TJU-DHD/dhd_{scene}/images/{split}",
    )
    for scene in ("campus", "traffic")
    for split in ("train", "val")
}


def register_all_crowdhuman(root: str) -> None:
    for name, (odgt, images) in _CROWDHUMAN.items():
        register_crowdhuman(name, os.path.join(root, odgt), os.path.join(root, images))


def register_all_citypersons(root: str) -> None:
    for name, (gt_dir, images, rule) in _CITYPERSONS_PER_IMAGE.items():
        register_citypersons_per_image(name, os.path.join(root, gt_dir), os.path.join(root, images), rule)
    for name, (gt_file, images) in _CITYPERSONS_JSON.items():
        register_citypersons_json(name, os.path.join(root, gt_file), os.path.join(root, images))


def register_all_caltech(root: str) -> None:
    for name, (annotations, images) in _CALTECH.items():
        register_caltech(name, os.path.join(root, annotations), os.path.join(root, images))


def register_all_tju_ped(root: str) -> None:
    for name, (gt_file, images) in _TJU_PED.items():
        register_tju_ped(name, os.path.join(root, gt_file), os.path.join(root, images))


def register_all_synthetic(root: str) -> bool:
    """
    Register the synthetic crowd set through pedet.data.synthetic.register_synthetic_crowd(root).

    Returns False (and registers nothing) only if that module is absent; if it exists but fails to import or
    register, the error propagates: a broken generator must not hide behind a missing data set.
    """
    if importlib.util.find_spec(f"{__package__}.synthetic") is None:
        return False
    synthetic = importlib.import_module(f"{__package__}.synthetic")
    synthetic.register_synthetic_crowd(root)
    return True


def register_all(root: str) -> None:
    """Register every built-in name under `root` (the value of $DETECTRON2_DATASETS)."""
    register_all_crowdhuman(root)
    register_all_citypersons(root)
    register_all_caltech(root)
    register_all_tju_ped(root)
    register_all_synthetic(root)


_registered = False


def register_builtin_datasets() -> None:
    """`register_all(datasets_root())`, once per process (pedet.data calls it when detectron2.data is imported)."""
    global _registered
    if not _registered:
        _registered = True
        register_all(datasets_root())
