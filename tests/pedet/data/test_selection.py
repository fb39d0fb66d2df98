"""Tests of pedet.data.selection: the model-selection set (DATASETS.SELECTION / SELECTION_HOLDOUT) and its hold-out."""
import copy

import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

import pedet.data.build as data_build
from pedet.config import add_pedet_config
from pedet.data.selection import exclude_selection_holdout, holdout_size, selection_dataset, selection_holdout_files

TRAIN = "pedet_selection_test_train"
NUM_IMAGES = 10


def _dicts():
    # one person per image, image i at file "img{i}.jpg"; image 9 has no box (filtered out of training)
    return [{"file_name": f"img{i}.jpg", "image_id": i, "height": 100, "width": 100,
             "annotations": [] if i == 9 else [{"bbox": [10.0, 10.0, 20.0, 50.0], "bbox_mode": 1, "category_id": 0,
                                                "iscrowd": 0, "ignore": 0}]}
            for i in range(NUM_IMAGES)]


@pytest.fixture
def cfg():
    if TRAIN not in DatasetCatalog.list():
        DatasetCatalog.register(TRAIN, lambda: copy.deepcopy(_dicts()))
        MetadataCatalog.get(TRAIN).set(thing_classes=["person"], evaluator_type="crowdhuman")
    c = get_cfg()
    add_pedet_config(c)
    c.DATASETS.TRAIN = (TRAIN,)
    c.DATASETS.TEST = ("crowdhuman_val",)
    return c


def test_holdout_size_reads_a_count_or_a_fraction():
    assert holdout_size(None, 10) == 0 and holdout_size(0, 10) == 0
    assert holdout_size(3, 10) == 3 and holdout_size(3.0, 10) == 3
    assert holdout_size(0.25, 10) == 2  # round(0.25 * 10) = round(2.5) = 2 (banker's rounding)
    assert holdout_size(0.01, 10) == 1  # round(0.1) = 0 -> at least one image


@pytest.mark.parametrize("bad", [-1, 2.5, 10, 11, float("nan"), "5"])
def test_holdout_size_rejects_invalid_values(bad):
    with pytest.raises(ValueError, match="SELECTION_HOLDOUT"):
        holdout_size(bad, 10)


def test_selection_dataset_is_none_without_keys(cfg):
    assert selection_dataset(cfg) is None
    assert selection_holdout_files(cfg) == set()


def test_selection_dataset_rejects_a_test_set(cfg):
    cfg.DATASETS.SELECTION = "crowdhuman_val"
    with pytest.raises(ValueError, match="also in DATASETS.TEST"):
        selection_dataset(cfg)


def test_selection_dataset_rejects_a_train_set_and_both_keys(cfg):
    cfg.DATASETS.SELECTION = TRAIN
    with pytest.raises(ValueError, match="also in DATASETS.TRAIN"):
        selection_dataset(cfg)
    cfg.DATASETS.SELECTION = "crowdhuman_train"
    cfg.DATASETS.SELECTION_HOLDOUT = 2
    with pytest.raises(ValueError, match="not both"):
        selection_dataset(cfg)


def test_selection_dataset_accepts_a_named_set_outside_train_and_test(cfg):
    cfg.DATASETS.SELECTION = "crowdhuman_train"  # registered; never read here
    assert selection_dataset(cfg) == "crowdhuman_train"


def test_holdout_is_registered_with_the_train_metadata_and_is_deterministic(cfg):
    cfg.DATASETS.SELECTION_HOLDOUT = 0.3  # round(3.0) = 3 images
    cfg.DATASETS.SELECTION_HOLDOUT_SEED = 7
    name = selection_dataset(cfg)
    assert name == f"{TRAIN}_selection_holdout_0.3_seed7"
    assert MetadataCatalog.get(name).evaluator_type == "crowdhuman"
    held = DatasetCatalog.get(name)
    assert len(held) == 3 and {d["file_name"] for d in held} == selection_holdout_files(cfg)
    assert held == DatasetCatalog.get(name)  # same images at every evaluation
    other = cfg.clone()
    other.DATASETS.SELECTION_HOLDOUT_SEED = 8
    assert selection_holdout_files(other) != selection_holdout_files(cfg)  # 120 draws of 3 out of 10: seeds differ


def test_train_loader_never_sees_the_holdout(cfg, monkeypatch):
    seen = {}

    def fake_loader(cfg, mapper=None, dataset=None, sampler=None):
        seen["dataset"], seen["sampler"] = dataset, sampler
        return "loader"

    monkeypatch.setattr(data_build, "build_detection_train_loader", fake_loader)
    cfg.DATASETS.SELECTION_HOLDOUT = 4
    held = selection_holdout_files(cfg)
    assert data_build.build_pedestrian_train_loader(cfg) == "loader"
    trained = {d["file_name"] for d in seen["dataset"]}
    assert len(held) == 4 and not trained & held
    # the 10 images minus the box-less img9 (FILTER_EMPTY_ANNOTATIONS) minus the hold-out
    assert trained == {f"img{i}.jpg" for i in range(9)} - held
    assert seen["sampler"].state_dict()["size"] == len(trained)


def test_exclude_selection_holdout_is_the_identity_without_holdout(cfg):
    dicts = _dicts()
    assert exclude_selection_holdout(cfg, dicts) is dicts
