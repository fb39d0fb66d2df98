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
from detectron2.data import build_detection_test_loader, build_detection_train_loader, get_detection_dataset_dicts
from detectron2.data.detection_utils import check_metadata_consistency

from .mapper import PedestrianDatasetMapper, is_ignore_annotation
from .samplers import ResumableTrainingSampler
from .selection import exclude_selection_holdout

logger = logging.getLogger(__name__)


def get_pedestrian_dataset_dicts(names: Union[str, Sequence[str]], filter_empty: bool = True) -> list:
    """
    Concatenate the dicts of registered data sets, drop images without any box if `filter_empty` (images whose
    boxes are all ignore boxes stay, as in detectron2), check thing_classes agree, and log person/ignore counts.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:  # detectron2's bare "AssertionError: []"
        raise ValueError("get_pedestrian_dataset_dicts: no data set name given (an empty DATASETS.TRAIN or TEST?)")
    dicts = get_detection_dataset_dicts(names, filter_empty=filter_empty, check_consistency=False)
    check_metadata_consistency("thing_classes", names)
    num_ignore = sum(is_ignore_annotation(a) for d in dicts for a in d.get("annotations", []))
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
    so that ``--resume`` continues the data order; other samplers are detectron2's.
    """
    dicts = get_pedestrian_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    dicts = exclude_selection_holdout(cfg, dicts)  # the model-selection hold-out never trains (pedet.data.selection)
    sampler = None
    ratio = cfg.DATALOADER.get("RANDOM_SUBSET_RATIO", None)  # a key of newer Detectron2 configs only
    if cfg.DATALOADER.SAMPLER_TRAIN == "RandomSubsetTrainingSampler" and ratio is not None:
        # Detectron2's sampler would stop with a bare "AssertionError" (no message) when int(N * ratio) is 0
        if not 0.0 < ratio <= 1.0 or int(len(dicts) * ratio) < 1:
            raise ValueError(f"DATALOADER.RANDOM_SUBSET_RATIO {ratio!r} of the {len(dicts)} training images of "
                             f"{','.join(cfg.DATASETS.TRAIN)} leaves no image (RandomSubsetTrainingSampler needs a "
                             "ratio in (0, 1] that keeps at least one)")
    if cfg.DATALOADER.SAMPLER_TRAIN == "TrainingSampler":
        sampler = ResumableTrainingSampler(len(dicts), seed=cfg.SEED if cfg.SEED >= 0 else None)
    return build_detection_train_loader(cfg, mapper=mapper or PedestrianDatasetMapper(cfg, True), dataset=dicts,
                                        sampler=sampler)


def build_pedestrian_test_loader(cfg, dataset_name: str, mapper: Optional[PedestrianDatasetMapper] = None):
    """detectron2's build_detection_test_loader over one data set with PedestrianDatasetMapper(cfg, False)."""
    dicts = get_pedestrian_dataset_dicts(dataset_name, filter_empty=False)
    return build_detection_test_loader(dicts, mapper=mapper or PedestrianDatasetMapper(cfg, False),
                                       num_workers=cfg.DATALOADER.NUM_WORKERS)
