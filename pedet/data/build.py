"""
Train/test data loaders for pedet data sets: detectron2's builders, minus the class histogram that rejects class -1.

detectron2's get_detection_dataset_dicts prints a class histogram that asserts every non-crowd category_id >= 0
(data/build.py, print_instances_class_histogram). Our ignore boxes are category_id -1, iscrowd 0 (docs/methods.md §3.1)
so with an official build (numpy < 1.24 or detectron2 main) the default train loader would stop with "Got an invalid
category_id=-1". These builders call it with check_consistency=False and log a person / ignore count instead.
Use them in a Trainer's build_train_loader / build_test_loader.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence, Union

import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from detectron2.data import (build_detection_test_loader, build_detection_train_loader,
                             get_detection_dataset_dicts)
from detectron2.data.detection_utils import check_metadata_consistency
from detectron2.data.samplers import RepeatFactorTrainingSampler
from detectron2.utils import comm

from .common import DatasetFormatError
from .mapper import PedestrianDatasetMapper, check_annotations, check_ignore_flags, is_ignore_annotation
from .samplers import ResumableTrainingSampler
from .selection import exclude_selection_holdout

logger = logging.getLogger(__name__)
# names of a training set's class 0 that are the person class (pedet's sets: "person"; coco2odgt also takes "pedestrian")
PERSON_CLASS_NAMES = ("person", "persons", "pedestrian", "pedestrians")


def _check_has_annotations(dicts: list, names: Sequence[str]) -> None:
    """
    A training record without an "annotations" key -> DatasetFormatError naming it and the count. The mapper read it
    as an image without boxes (all background) in silence, while the evaluator refuses the same record and
    detectron2's filter_empty ends in a KeyError: an image without boxes is written "annotations": [].
    """
    missing = [d for d in dicts if "annotations" not in d]
    if missing:
        d = missing[0]
        raise DatasetFormatError(
            f"data set(s) {', '.join(names)}: {len(missing)} of {len(dicts)} records have no 'annotations' key, e.g. "
            f"image '{d.get('file_name')}' (image_id {d.get('image_id')!r}); an image without boxes needs "
            "\"annotations\": [] (a missing key would train it as background)"
        )


def _check_records(dicts: list) -> None:
    """check_annotations on every record (each a dict): the DatasetFormatError of the first that fails."""
    for k, d in enumerate(dicts):
        if not isinstance(d, dict):
            raise DatasetFormatError(f"record {k} is a {type(d).__name__}, not a dict (Detectron2's dataset format)")
        check_annotations(d.get("annotations", []), f"image '{d.get('file_name')}' (image_id {d.get('image_id')!r})")


def get_pedestrian_dataset_dicts(names: Union[str, Sequence[str]], filter_empty: bool = True) -> list:
    """
    Concatenate the dicts of registered data sets, drop images without any box if `filter_empty` (images whose
    boxes are all ignore boxes stay, as in detectron2), check thing_classes agree, and log person/ignore counts.

    The records are checked before detectron2's filter reads them (filter_images_with_only_crowd_annotations, run
    here rather than inside get_detection_dataset_dicts): with `filter_empty`, a record without 'annotations' or with
    annotations that are no list of dicts was its KeyError / AttributeError traceback, and an image whose flags were
    all bad (iscrowd -5 or "0") was dropped as an image of crowd boxes only, in silence.
    """
    from detectron2.data.build import filter_images_with_only_crowd_annotations

    names = [names] if isinstance(names, str) else list(names)
    if not names:  # detectron2's bare "AssertionError: []"
        raise ValueError("get_pedestrian_dataset_dicts: no data set name given (an empty DATASETS.TRAIN or TEST?)")
    try:
        dicts = get_detection_dataset_dicts(names, filter_empty=False, check_consistency=False)
    except ModuleNotFoundError as e:  # e.g. Detectron2's builtin lvis_v1_train needs the lvis package: a traceback
        raise DatasetFormatError(f"data set(s) {', '.join(names)}: the loader needs the Python package {e.name!r}, "
                                 "which is not installed") from None
    except AssertionError as e:  # detectron2's bare assert on an empty set: a traceback
        if "is empty" in str(e):  # "Dataset 'x' is empty!": a registered function that returned no record
            name = str(e).split("'")[1] if str(e).count("'") >= 2 else ", ".join(names)
            raise DatasetFormatError(f"data set {name!r}: its registered loader returned no image") from None
        raise
    check_metadata_consistency("thing_classes", names)
    if filter_empty:  # detectron2's filter reads every record's annotations and flags (check_annotations checks both)
        _check_has_annotations(dicts, names)
        _check_records(dicts)
        dicts = filter_images_with_only_crowd_annotations(dicts)  # (it logs how many images it removed)
        if not dicts:  # detectron2's bare "No valid data found in ..." assert
            raise DatasetFormatError(
                f"data set(s) {', '.join(names)}: no image has a box (person or ignore box), and "
                "DATALOADER.FILTER_EMPTY_ANNOTATIONS True drops images without one: nothing is left to train on"
            )
    else:  # the flags before counting (and training) with them: bool("0") made a box an ignore region in silence
        for d in dicts:
            check_ignore_flags(d.get("annotations", []), f"data set(s) {', '.join(names)}: image "
                                                         f"'{d.get('file_name')}' (image_id {d.get('image_id')!r})")
    try:
        num_ignore = sum(is_ignore_annotation(a) for d in dicts for a in d.get("annotations", []))
    except (AttributeError, TypeError, ValueError, OverflowError, RuntimeError):  # a hand-registered record (an
        # annotation that is no dict, a category_id None or inf) was a traceback: name it (the mapper checks every
        # record it maps)
        _check_records(dicts)
        raise
    num_boxes = sum(len(d.get("annotations", [])) for d in dicts)
    logger.info(f"{','.join(names)}: {len(dicts)} images, {num_boxes - num_ignore} person boxes, "
                f"{num_ignore} ignore boxes")
    return dicts


def build_pedestrian_train_loader(cfg, mapper: Optional[PedestrianDatasetMapper] = None):
    """
    detectron2's build_detection_train_loader over cfg.DATASETS.TRAIN with PedestrianDatasetMapper(cfg, True),
    without the images of the model-selection hold-out (DATASETS.SELECTION_HOLDOUT, pedet.data.selection).

    With DATALOADER.SAMPLER_TRAIN "TrainingSampler" (the default) the sampler is pedet.data.samplers'
    ResumableTrainingSampler (seed cfg.SEED if >= 0, else a random seed shared by the ranks and saved in checkpoints),
    so that ``--resume`` continues the data order; other samplers are detectron2's. RepeatFactorTrainingSampler's
    category frequencies count the boxes the model trains on, not the ignore boxes (category_id -1, iscrowd).
    """
    dicts = get_pedestrian_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    _check_has_annotations(dicts, cfg.DATASETS.TRAIN)
    dicts = exclude_selection_holdout(cfg, dicts)  # the model-selection hold-out never trains (pedet.data.selection)
    check_categories(dicts, cfg)
    sampler = None
    ratio = cfg.DATALOADER.get("RANDOM_SUBSET_RATIO", None)  # a key of newer Detectron2 configs only
    if cfg.DATALOADER.SAMPLER_TRAIN == "RandomSubsetTrainingSampler" and ratio is not None:
        # Detectron2's sampler would stop with a bare "AssertionError" (no message) when int(N * ratio) is 0
        if not 0.0 < ratio <= 1.0 or int(len(dicts) * ratio) < 1:
            raise ValueError(f"DATALOADER.RANDOM_SUBSET_RATIO {ratio!r} of the {len(dicts)} training images of "
                             f"{','.join(cfg.DATASETS.TRAIN)} leaves no image (RandomSubsetTrainingSampler needs a "
                             "ratio in (0, 1] that keeps at least one)")
    if cfg.DATALOADER.SAMPLER_TRAIN == "TrainingSampler":
        sampler = ResumableTrainingSampler(len(dicts), seed=cfg.SEED if cfg.SEED >= 0 else None,
                                           images_per_batch_per_rank=cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size())
    elif cfg.DATALOADER.SAMPLER_TRAIN == "RepeatFactorTrainingSampler":
        # Detectron2 computes the category frequencies over every category_id of the records, so our ignore boxes
        # (category_id -1) would count as a rare class and every image with an ignore region would be repeated, in
        # silence: the frequencies count the boxes the model trains on (the person classes) only
        trained = [dict(d, annotations=[a for a in d.get("annotations", []) if not is_ignore_annotation(a)])
                   for d in dicts]
        sampler = RepeatFactorTrainingSampler(RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
            trained, cfg.DATALOADER.REPEAT_THRESHOLD))
    return build_detection_train_loader(cfg, mapper=mapper or PedestrianDatasetMapper(cfg, True), dataset=dicts,
                                        sampler=sampler)


def check_categories(dicts: list, cfg) -> None:
    """
    Every non-ignore box has a category_id the model has a class for, else DatasetFormatError naming the data set,
    the image and the class. pedet's loaders give persons category_id 0 (ignore boxes -1); a foreign set, e.g. one
    registered with register_coco_instances with persons and cars, gives 1, 2, ...: OPL stopped with an IndexError
    traceback and Faster R-CNN trained those boxes as objects in its RPN but as background in its ROI heads, in
    silence. The model's class count is MODEL.OPL.NUM_CLASSES in an OPL config (opl.add_opl_config), else
    Detectron2's MODEL.ROI_HEADS.NUM_CLASSES.
    """
    from detectron2.data import MetadataCatalog

    for name in cfg.DATASETS.TRAIN:  # a car-only set from register_coco_instances: its class 0 trained as the person
        classes = MetadataCatalog.get(name).get("thing_classes") or []  # class in silence
        if classes and str(classes[0]).strip().lower() not in PERSON_CLASS_NAMES:
            logger.warning(f"DATASETS.TRAIN {name}: its class 0 is named {classes[0]!r}, not a person class; pedet's "
                           "detectors train class 0 as the person class")
    key = "MODEL.OPL.NUM_CLASSES" if "OPL" in cfg.MODEL else "MODEL.ROI_HEADS.NUM_CLASSES"
    num_classes = cfg.MODEL.OPL.NUM_CLASSES if "OPL" in cfg.MODEL else cfg.MODEL.ROI_HEADS.NUM_CLASSES
    for d in dicts:
        for a in d.get("annotations", []):
            if not is_ignore_annotation(a) and int(a.get("category_id", 0)) >= num_classes:
                c = int(a["category_id"])
                names = [n for n in cfg.DATASETS.TRAIN if MetadataCatalog.get(n).get("thing_classes")]
                classes = MetadataCatalog.get(names[0]).thing_classes if names else []
                label = f" ({classes[c]})" if c < len(classes) else ""
                raise DatasetFormatError(
                    f"DATASETS.TRAIN {', '.join(cfg.DATASETS.TRAIN)}: {d.get('file_name')} (image_id "
                    f"{d.get('image_id')}): a box of category_id {a['category_id']!r}{label}, but the model has {num_classes} "
                    f"class(es) ({key} {num_classes}); pedet's detectors train persons (category_id 0): keep only "
                    "the persons, or make the other boxes ignore boxes (category_id -1)")


def build_pedestrian_test_loader(cfg, dataset_name: str, mapper: Optional[PedestrianDatasetMapper] = None):
    """detectron2's build_detection_test_loader over one data set with PedestrianDatasetMapper(cfg, False)."""
    dicts = get_pedestrian_dataset_dicts(dataset_name, filter_empty=False)
    return build_detection_test_loader(dicts, mapper=mapper or PedestrianDatasetMapper(cfg, False),
                                       num_workers=cfg.DATALOADER.NUM_WORKERS)
