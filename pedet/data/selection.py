"""
The model-selection set: the data on which a training run picks ``model_best.pth``, never a set it reports on.

A run evaluates its ``DATASETS.TEST`` sets every ``TEST.EVAL_PERIOD`` iterations so that users can watch them, but the
best checkpoint is chosen on a separate selection set, configured by one of (``add_pedet_config``):

    DATASETS.SELECTION          a registered data set name, neither a TEST nor a TRAIN set;
    DATASETS.SELECTION_HOLDOUT  a deterministic hold-out carved from the concatenated TRAIN sets and removed from
                                training: a count (>= 1) or a fraction (in (0, 1)) of the images, drawn with
                                ``DATASETS.SELECTION_HOLDOUT_SEED``.

With neither, no best checkpoint is kept and ``model_final.pth`` is the model to report, as the papers do.

The hold-out is registered in DatasetCatalog under a name that spells out its recipe (``holdout_name``), with the
metadata (``evaluator_type``, ``thing_classes``) of the first TRAIN set, so the miss-rate evaluator reads its ground
truth from the same dicts as every other set. Which images are held out depends only on the unfiltered dicts of the
TRAIN sets (their order), the count and the seed: every rank and every resumed run draws the same ones.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Set

import numpy as np

from detectron2.data import DatasetCatalog, MetadataCatalog

__all__ = ["SelectionError", "check_selection_keys", "holdout_name", "holdout_size", "selection_dataset", "selection_holdout_files", "exclude_selection_holdout"]
logger = logging.getLogger(__name__)


class SelectionError(ValueError):
    """
    DATASETS.SELECTION / SELECTION_HOLDOUT cannot be used as given (a ValueError, as before); the entry points report
    it as one line (pedet.engine.launch.BAD_INPUT_ERRORS), also when only the loaded training set shows it.
    """


def holdout_size(holdout, num_images: int) -> int:
    """
    Number of images a ``DATASETS.SELECTION_HOLDOUT`` value holds out of `num_images`.

    Args:
        holdout: None or 0 (off), an integer count >= 1, or a fraction in (0, 1) (rounded, at least 1 image).
        num_images: the number of training images before the hold-out.
    Returns:
        the count; 0 when off. Raises ValueError for a negative value, a fraction >= 1 that is not a whole number, or
        a hold-out that would leave no training image.
    """
    if holdout is None or holdout == 0:
        return 0
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not np.isfinite(holdout) or holdout < 0:
        raise SelectionError(f"DATASETS.SELECTION_HOLDOUT must be a count >= 1 or a fraction in (0, 1), got {holdout!r}")
    if holdout < 1:
        count = max(1, int(round(holdout * num_images)))
    elif float(holdout).is_integer():
        count = int(holdout)
    else:
        raise SelectionError(f"DATASETS.SELECTION_HOLDOUT {holdout!r}: a count must be a whole number (a fraction < 1)")
    if count >= num_images:
        raise SelectionError(f"DATASETS.SELECTION_HOLDOUT {holdout!r} holds out {count} of {num_images} training images: "
                         "nothing would be left to train on")
    return count


def holdout_name(cfg) -> str:
    """The DatasetCatalog name of the hold-out that `cfg` describes (its recipe: train sets, size, seed)."""
    _, holdout, seed = _keys(cfg)
    return f"{'+'.join(cfg.DATASETS.TRAIN)}_selection_holdout_{holdout}_seed{seed}"


def _keys(cfg):
    """(SELECTION, SELECTION_HOLDOUT, SELECTION_HOLDOUT_SEED), with the defaults for a config without these keys."""
    node = cfg.DATASETS
    return node.get("SELECTION", ""), node.get("SELECTION_HOLDOUT", None), node.get("SELECTION_HOLDOUT_SEED", 0)


def _train_dicts(cfg) -> List[dict]:
    return [d for name in cfg.DATASETS.TRAIN for d in DatasetCatalog.get(name)]


def _holdout_indices(cfg, num_images: int) -> np.ndarray:
    _, holdout, seed = _keys(cfg)
    count = holdout_size(holdout, num_images)
    rng = np.random.RandomState(seed)  # independent of cfg.SEED and global RNGs
    return np.sort(rng.permutation(num_images)[:count])


def selection_holdout_files(cfg) -> Set[str]:
    """The ``file_name`` of every image the hold-out of `cfg` takes out of training (empty set when none)."""
    if not _keys(cfg)[1]:
        return set()
    dicts = _train_dicts(cfg)
    held_out = {dicts[i]["file_name"] for i in _holdout_indices(cfg, len(dicts))}
    _check_training_left(cfg, dicts, held_out)
    return held_out


def _check_training_left(cfg, dicts: List[dict], held_out: Set[str]) -> None:
    """
    Every record of a held-out image leaves training, also its copies (a TRAIN set listed twice, two sets sharing
    images): holdout_size counts records, so a hold-out could take every image, and training then failed in
    Detectron2's TrainingSampler with a ValueError traceback (size 0).
    """
    if dicts and all(d["file_name"] in held_out for d in dicts):
        holdout = _keys(cfg)[1]
        raise SelectionError(f"DATASETS.SELECTION_HOLDOUT {holdout!r} holds out {len(held_out)} image file(s), and the "
                             f"{len(dicts)} records of DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} are all of these "
                             "files (an image listed more than once leaves training with every copy): nothing would "
                             "be left to train on")


def exclude_selection_holdout(cfg, dicts: List[dict]) -> List[dict]:
    """Training dicts without the images of the selection hold-out (unchanged when no hold-out is configured)."""
    held_out = selection_holdout_files(cfg)
    if not held_out:
        return dicts
    kept = [d for d in dicts if d["file_name"] not in held_out]
    logger.info(f"Selection hold-out {holdout_name(cfg)}: {len(held_out)} images out of training, "
                f"{len(kept)} training images left")
    return kept


def _register_holdout(cfg) -> str:
    name = holdout_name(cfg)
    if name in DatasetCatalog.list():
        return name
    dicts = _train_dicts(cfg)
    # validates the size now, not at the first evaluation
    _check_training_left(cfg, dicts, {dicts[i]["file_name"] for i in _holdout_indices(cfg, len(dicts))})

    def load_holdout() -> List[dict]:
        train = _train_dicts(cfg)
        drawn = [train[i] for i in _holdout_indices(cfg, len(train))]
        # a TRAIN list naming a set twice (or sets sharing images) can draw two copies of one image: the evaluator
        # refused the hold-out ("duplicate image id") at the first evaluation, after training had run; each held-out
        # image is evaluated once
        seen: Set[str] = set()
        records = [d for d in drawn if not (d["file_name"] in seen or seen.add(d["file_name"]))]
        if len(records) < len(drawn):
            logger.warning(f"Selection hold-out {name}: {len(drawn) - len(records)} of the {len(drawn)} drawn records "
                           "repeat a held-out image (DATASETS.TRAIN lists an image more than once); each image is "
                           f"evaluated once: {len(records)} images")
        ids = [d.get("image_id") for d in records]
        if len(set(map(repr, ids))) < len(ids):
            # TRAIN sets numbered alike (two register_coco_instances files, both from id 1): the evaluator refused
            # the hold-out ("duplicate image id") at the first evaluation; its images are named by file instead
            logger.warning(f"Selection hold-out {name}: images of different files share an image_id (the TRAIN sets "
                           "number their images alike): the hold-out names each image by its file_name")
            records = [dict(d, image_id=d["file_name"]) for d in records]
        return records

    DatasetCatalog.register(name, load_holdout)
    source = MetadataCatalog.get(cfg.DATASETS.TRAIN[0])
    MetadataCatalog.get(name).set(
        thing_classes=list(source.get("thing_classes", ["person"])),
        evaluator_type=source.get("evaluator_type", None),
        selection_holdout_of=list(cfg.DATASETS.TRAIN),
    )
    return name


def check_selection_keys(cfg) -> None:
    """
    The checks that need no data: not both keys; the selection set neither a TEST nor a TRAIN set; a valid hold-out
    value. Raises SelectionError. (Whether the hold-out leaves training images is known once the sets are loaded.)
    """
    name, holdout, seed = _keys(cfg)
    if holdout and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32):
        raise SelectionError(f"DATASETS.SELECTION_HOLDOUT_SEED {seed!r}: must be an integer in [0, 2**32) (numpy's "
                             "seed range)")  # was numpy's ValueError when the train loader was built
    if name and holdout:
        raise SelectionError(f"Set one of DATASETS.SELECTION ({name!r}) and DATASETS.SELECTION_HOLDOUT ({holdout!r}), "
                             "not both")
    if name and name in cfg.DATASETS.TEST:
        raise SelectionError(f"DATASETS.SELECTION {name!r} is also in DATASETS.TEST: a checkpoint chosen on a set "
                             "that is then reported overstates the result; use a held-out set "
                             "(DATASETS.SELECTION_HOLDOUT) or none (report model_final.pth)")
    if name and name in cfg.DATASETS.TRAIN:
        raise SelectionError(f"DATASETS.SELECTION {name!r} is also in DATASETS.TRAIN: it cannot rank checkpoints")
    holdout_size(holdout, 2 ** 62)  # the value's range; its size against the training set is checked on loading


def selection_dataset(cfg) -> Optional[str]:
    """
    The name of the data set that ranks checkpoints, registering the hold-out on first use; None when the config
    names none (then no best checkpoint is kept).

    Raises SelectionError (a ValueError) when the selection set is also a TEST or a TRAIN set, when both keys are set,
    or when the hold-out size is invalid.
    """
    check_selection_keys(cfg)
    name, holdout, _ = _keys(cfg)
    if name:
        return name
    if holdout:
        return _register_holdout(cfg)
    return None
