"""
PedestrianDatasetMapper: one pedet dataset dict -> one model input dict, keeping ignore boxes through augmentation.

Detectron2 behaviours this mapper works around:
  * detectron2's DatasetMapper drops annotations with iscrowd = 1 (data/dataset_mapper.py). Our ignore boxes are
    category_id -1 with iscrowd 0, and an iscrowd = 1 box from a foreign dataset is turned into an ignore box here
    rather than lost.
  * All fields of one Instances have one length (structures/instances.py), so ignore boxes ride along as
    gt_classes == -1; models split them off with `split_ignore_instances` before any matching (docs/methods.md §3.1).
    What a model then does with them is cfg.INPUT.IGNORE_MODE (pedet/config.py).
  * FILTER_EMPTY_ANNOTATIONS keeps images whose boxes are all ignore boxes (they are iscrowd 0), so such an image
    reaches the model with zero valid GT.

Augmentations are Detectron2's DatasetMapper's: ResizeShortestEdge and RandomFlip from cfg.INPUT, and in training a
T.RandomCrop(INPUT.CROP.TYPE, INPUT.CROP.SIZE) first when INPUT.CROP.ENABLED. Training boxes are clipped to the
(cropped) image (CHOICE C2, as detectron2's transform_instance_annotations and cvpods do); boxes left empty by the
clipping (entirely outside the image or the crop) are removed by detectron2's filter_empty_instances. Ignore boxes go
through the same crop, clipping and removal as the persons, so an ignore region that reaches into the crop still
covers its part of it.
Boxes of zero/negative/NaN/inf size in the input are dropped with a counted warning instead of crashing the epoch.
An image that is missing, cannot be decoded or does not have the size its record gives raises FileNotFoundError /
DatasetFormatError naming the file and the image_id (entry points print it as one line, also from DataLoader workers).
For evaluation (is_train False) annotations are removed: the evaluator reads the unclipped GT from DatasetCatalog.

Shape shorthand: H, W = image size after augmentation; G = boxes kept in the image (valid + ignore).
"""
from __future__ import annotations

import copy
import logging
import math
import numbers
import os
from collections import Counter
from typing import List, Sequence, Tuple

import numpy as np
import torch

import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode, Instances

from .common import DatasetFormatError

logger = logging.getLogger(__name__)

IGNORE_CLASS = -1

# `ignore_reason` values (pedet.data.citypersons.ignore_reason) of a person that training ignores only for its size or
# occlusion: not a positive, but still a pedestrian, so it may serve as a repulsion GT (MODEL.REPLOSS.
# REP_GT_USE_IGNORED_PERSONS). Riders, groups, other labels and ignore regions ("label") never do.
IGNORED_PERSON_REASONS = ("height", "visibility", "height,visibility")


def is_ignore_annotation(ann: dict) -> bool:
    """An annotation is an ignore box if its ignore flag, a negative category_id, or iscrowd = 1 says so."""
    return bool(ann.get("ignore", 0)) or int(ann.get("category_id", 0)) < 0 or bool(ann.get("iscrowd", 0))


def is_ignored_person(ann: dict) -> bool:
    """True for an ignore box that is a person ignored only for its height or visibility (IGNORED_PERSON_REASONS)."""
    return is_ignore_annotation(ann) and ann.get("ignore_reason") in IGNORED_PERSON_REASONS


def _a(noun: str) -> str:
    """The noun with its indefinite article: 'a list', 'an int'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def check_annotations(annos, where: str) -> None:
    """
    The keys of Detectron2's dataset format that the mapper reads, in a record registered by hand (e.g. with
    DatasetCatalog.register): a list of dicts, each with ``bbox`` (4 numbers), ``bbox_mode`` (XYXY_ABS or XYWH_ABS)
    and ``category_id`` (an integer, -1 = ignore region) -> DatasetFormatError naming the image and the annotation.
    A missing key ended in a KeyError, a rotated or relative mode or a box of 3 or 5 numbers in an assert deep in
    BoxMode.convert, each a traceback without the record. NaN / inf / empty boxes stay a counted skip
    (``_drop_degenerate``); values that Detectron2's own mapper takes (a category_id "0", a tuple or array) pass.
    """
    if not isinstance(annos, (list, tuple)):
        raise DatasetFormatError(f"{where}: 'annotations' is {_a(type(annos).__name__)}, not a list of dicts")
    for k, ann in enumerate(annos):
        at = f"{where}: annotations[{k}]"
        if not isinstance(ann, dict):
            raise DatasetFormatError(f"{at} is {_a(type(ann).__name__)}, not a dict")
        for key in ("bbox", "bbox_mode", "category_id"):
            if key not in ann:
                raise DatasetFormatError(f"{at} has no '{key}' (Detectron2's dataset dicts need bbox, bbox_mode "
                                         "and category_id)")
        mode = ann["bbox_mode"]
        if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or \
                int(mode) not in (BoxMode.XYXY_ABS, BoxMode.XYWH_ABS):
            known = isinstance(mode, (int, np.integer)) and int(mode) in {m.value for m in BoxMode}
            shown = f"{int(mode)} ({BoxMode(int(mode)).name})" if known and not isinstance(mode, bool) else repr(mode)
            raise DatasetFormatError(f"{at}: bbox_mode {shown} is not supported (BoxMode.XYXY_ABS or "
                                     "BoxMode.XYWH_ABS: the pedestrian boxes are absolute and axis-aligned)")
        box = ann["bbox"]
        box = box.tolist() if isinstance(box, (np.ndarray, torch.Tensor)) else box
        if not isinstance(box, (list, tuple)) or len(box) != 4 or \
                not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in box):
            raise DatasetFormatError(f"{at}: bbox {box!r:.60} is not 4 numbers")
        try:
            int(ann["category_id"])
        except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
            raise DatasetFormatError(f"{at}: category_id {ann['category_id']!r:.40} is not an integer (0 = person, "
                                     "-1 = ignore region)") from None
    check_ignore_flags(annos, where)


def check_ignore_flags(annos, where: str) -> None:
    """
    The ``ignore`` / ``iscrowd`` flags of a hand-registered record are 0 or 1 (a bool, an integer, a float or a NumPy
    scalar), as the evaluator requires of the same record -> else DatasetFormatError naming the image and the
    annotation. is_ignore_annotation reads them with bool(): "0" from a CSV file, "false", 2 or -1 made the box an
    ignore region in training, in silence, while the evaluator refused them; None made it a person.
    """
    for k, ann in enumerate(annos if isinstance(annos, (list, tuple)) else ()):
        for key in ("ignore", "iscrowd"):
            if isinstance(ann, dict) and key in ann:
                v = ann[key]
                if not (isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) and v in (0, 1)):
                    raise DatasetFormatError(f"{where}: annotations[{k}]: '{key}' is {v!r:.40}, not 0 or 1 (1 = an "
                                             "ignore region; leave the key out for 0)")


def is_degenerate_annotation(ann: dict) -> bool:
    """True if the annotation's box has a NaN/inf coordinate or a zero/negative width or height."""
    # floats: a Python integer beyond int64 (10**30) was torch's "Overflow when unpacking long long" traceback
    box = BoxMode.convert([float(v) for v in ann["bbox"]], ann["bbox_mode"], BoxMode.XYXY_ABS)
    x0, y0, x1, y1 = (float(v) for v in box)
    return not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0


def split_ignore_instances(instances: Instances) -> Tuple[Instances, Instances]:
    """
    Split ground-truth Instances into (valid, ignore) by gt_classes >= 0 / == -1.

    Args:
        instances: G instances with gt_boxes (Boxes, XYXY_ABS) and gt_classes (int64, -1 = ignore).
    Returns:
        (valid, ignore): two Instances of the same image size, G_valid + G_ignore = G.
    """
    keep = instances.gt_classes >= 0
    return instances[keep], instances[~keep]


def check_gt_classes(valid: Sequence[Instances], num_classes: int, key: str) -> None:
    """
    ValueError naming `key` if a box of a training batch's valid (non-ignore) ground truth has a class >= num_classes,
    e.g. one built by hand in Python: OPL failed deep in its matcher (IndexError), Detectron2's ROI heads read class
    NUM_CLASSES as background in silence and failed in the loss beyond it.
    """
    top = [int(t.gt_classes.max()) for t in valid if len(t)]
    if top and max(top) >= num_classes:
        raise ValueError(f"gt_classes holds {max(top)}, not a class of this model ({key} {num_classes}: classes 0 ... "
                         f"{num_classes - 1}, -1 for ignore boxes)")


class PedestrianDatasetMapper:
    """
    Reads the image, applies the augmentations (as Detectron2's DatasetMapper: [RandomCrop if INPUT.CROP.ENABLED in
    training] + ResizeShortestEdge + RandomFlip from cfg.INPUT), and turns
    the annotations into Instances(gt_boxes, gt_classes) with ignore boxes as gt_classes == -1.

    Output dict: the input dict's keys (file_name, image_id, height, width: original size) plus
        "image": uint8 tensor (C, H, W) in `image_format` channel order,
        "instances" (training only): G instances, boxes XYXY_ABS clipped to (H, W).

    Counters (per mapper object, so per process / DataLoader worker): `dropped["degenerate"]` (input boxes of
    zero/negative/NaN/inf size, warned about at counts 1, 2, 4, 8, ...) and `dropped["outside_image"]` (boxes with
    nothing, i.e. under 1e-5 pixels, left after augmentation and clipping; warned about likewise).
    """

    @configurable
    def __init__(self, is_train: bool, *, augmentations: List, image_format: str):
        """
        Args:
            is_train: training (annotations -> instances) or inference (annotations removed).
            augmentations: detectron2 Augmentations / Transforms applied to image and boxes.
            image_format: read_image format, e.g. "BGR".
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.dropped: Counter = Counter()
        mode = "training" if is_train else "inference"
        logger.info(f"[PedestrianDatasetMapper] augmentations used in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        augs = utils.build_augmentation(cfg, is_train)  # INPUT.MIN_SIZE_*, MAX_SIZE_*, RANDOM_FLIP
        if cfg.INPUT.CROP.ENABLED and is_train:  # as detectron2's DatasetMapper.from_config: crop, then resize
            augs.insert(0, T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
        return {
            "is_train": is_train,
            "augmentations": augs,
            "image_format": cfg.INPUT.FORMAT,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        """
        Args:
            dataset_dict: one pedet record (file_name, image_id, height, width, annotations).
        Returns:
            the model input dict described in the class docstring.
        """
        dataset_dict = copy.deepcopy(dataset_dict)  # modified below
        image = self._read_image(dataset_dict)
        aug_input = T.AugInput(image)
        try:
            transforms = self.augmentations(aug_input)
        except ValueError as e:  # Pillow's resize of a very thin image to a side of 0 pixels
            where = f"image '{dataset_dict['file_name']}' (image_id {dataset_dict.get('image_id')!r})"
            raise DatasetFormatError(f"{where}: {image.shape[1]}x{image.shape[0]} pixels (width x height) cannot be "
                                     f"augmented ({' '.join(str(e).split())}; INPUT.MIN_SIZE_* / MAX_SIZE_* would "
                                     "give it a side of 0 pixels)") from None
        image = aug_input.image
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        annos = dataset_dict.pop("annotations", [])
        check_annotations(annos, f"image '{dataset_dict['file_name']}' (image_id {dataset_dict.get('image_id')!r})")
        annos = self._drop_degenerate(annos, dataset_dict["file_name"])
        dataset_dict["instances"] = self.annotations_to_instances(annos, transforms, image.shape[:2])
        return dataset_dict

    def _read_image(self, dataset_dict: dict) -> np.ndarray:
        """detectron2's read_image + check_image_size, with errors that name the file and the image_id (raised in a
        DataLoader worker, detectron2's own would reach the user as a traceback without the record)."""
        file_name = dataset_dict.get("file_name")
        if not isinstance(file_name, (str, os.PathLike)) or not os.fspath(file_name):  # a KeyError or iopath's
            # TypeError traceback, without the record
            got = "no 'file_name'" if "file_name" not in dataset_dict else f"'file_name' {file_name!r:.40}"
            raise DatasetFormatError(f"record (image_id {dataset_dict.get('image_id')!r}): {got}; Detectron2's "
                                     "dataset dicts need the image path as a string")
        where = f"image '{file_name}' (image_id {dataset_dict.get('image_id')!r})"
        if ("width" in dataset_dict) != ("height" in dataset_dict):  # detectron2's check_image_size: a KeyError
            given, absent = ("width", "height") if "width" in dataset_dict else ("height", "width")
            raise DatasetFormatError(f"{where}: the record has '{given}' but no '{absent}' (give both, or neither "
                                     "to take the image's size)")
        if "width" in dataset_dict:  # "160" (e.g. read from a CSV) is never 160; a tensor was torch's "ambiguous"
            w, h = dataset_dict["width"], dataset_dict["height"]  # traceback in detectron2's check_image_size
            if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (w, h)):
                raise DatasetFormatError(f"{where}: its record's width / height must be numbers, got {w!r:.40} / "
                                         f"{h!r:.40}")
        try:
            image = utils.read_image(file_name, format=self.image_format)
        except FileNotFoundError:
            raise FileNotFoundError(f"{where}: not found") from None
        except (OSError, SyntaxError, ValueError) as e:  # PIL: truncated or unknown file (UnidentifiedImageError)
            raise DatasetFormatError(f"{where}: cannot be decoded ({' '.join(str(e).split())})") from None
        try:
            utils.check_image_size(dataset_dict, image)
        except utils.SizeMismatchError:
            raise DatasetFormatError(f"{where}: is {image.shape[1]}x{image.shape[0]} pixels (width x height), its "
                                     f"record says {dataset_dict['width']}x{dataset_dict['height']}") from None
        return image

    def _drop_degenerate(self, annos: List[dict], file_name: str) -> List[dict]:
        """Remove (and count) the annotations whose box has zero/negative/NaN/inf size; keep the rest in order."""
        kept = []
        for ann in annos:
            if not is_degenerate_annotation(ann):
                kept.append(ann)
                continue
            self._count_dropped("degenerate", f"of zero/negative/NaN/inf size so far in this process; latest in "
                                              f"{file_name}: {list(ann['bbox'])}")
        return kept

    def _count_dropped(self, kind: str, what: str) -> None:
        """Count one dropped box of `kind`; warn at counts 1, 2, 4, 8, ... (a counted warning that cannot flood the
        log): 'dropped <n> box(es) <what>'."""
        self.dropped[kind] += 1
        n = self.dropped[kind]
        if n & (n - 1) == 0:
            logger.warning(f"PedestrianDatasetMapper: dropped {n} box(es) {what}")

    def annotations_to_instances(self, annos: List[dict], transforms, image_size: Tuple[int, int]) -> Instances:
        """
        Transform and clip the boxes (detectron2 transform_instance_annotations), build Instances with ignore boxes
        as class -1, and remove the boxes that clipping left empty.

        Args:
            annos: annotations with finite, positive-size boxes.
            transforms: the TransformList applied to the image.
            image_size: (H, W) after augmentation.
        Returns:
            G instances: gt_boxes (Boxes, XYXY_ABS, inside the image), gt_classes (int64, 0 or -1), ignored_person
            (bool; `is_ignored_person`: True only for some ignore boxes. No "gt_" prefix, so Detectron2's ROI heads
            never copy it onto proposals).
        """
        classes = [IGNORE_CLASS if is_ignore_annotation(a) else int(a["category_id"]) for a in annos]
        ignored_person = torch.tensor([is_ignored_person(a) for a in annos], dtype=torch.bool)
        transformed = [
            # the box as a list: detectron2's BoxMode.convert reads a 1-D array as N x 4 (an IndexError traceback)
            utils.transform_instance_annotations({"bbox": [float(v) for v in a["bbox"]], "bbox_mode": a["bbox_mode"],
                                                  "category_id": c}, transforms, image_size)
            for a, c in zip(annos, classes)
        ]
        instances = utils.annotations_to_instances(transformed, image_size)
        instances.ignored_person = ignored_person
        instances, keep = utils.filter_empty_instances(instances, return_mask=True)
        for i in (~keep).nonzero().flatten().tolist():  # a box of the file the model never sees: counted and warned
            self._count_dropped(
                "outside_image", "with nothing (under 1e-5 pixels) left inside the image after the augmentations "
                f"(crop, resize, clipping) so far in this process; latest: {list(annos[i]['bbox'])} "
                f"({BoxMode(annos[i]['bbox_mode']).name} in the record)")
        return instances
