"""Nineteenth bad-input trial (issue 11), data side: the boxes and images as Detectron2's training loader sees them
through PedestrianDatasetMapper and build_pedestrian_train_loader."""
import json
import logging

import pytest

from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from pedet.config import add_pedet_config
from pedet.data import build_pedestrian_train_loader
from pedet.data.crowdhuman import load_crowdhuman_odgt, register_crowdhuman
from pedet.data.mapper import PedestrianDatasetMapper

from .conftest import write_file, write_image


def _box(fbox, tag="person"):
    return {"tag": tag, "fbox": fbox, "vbox": fbox, "hbox": fbox, "extra": {}}


@pytest.mark.parametrize("bbox", [
    [-10, 0, 10.0000001, 5],   # overlaps the image by 1e-7 pixels: kept at loading, nothing left after clipping
    [5, 5, 1e-6, 4],           # 1e-6 pixels wide: a valid box at loading, under Detectron2's 1e-5 after resizing
])
def test_mapper_warns_with_a_count_when_a_loaded_box_is_left_empty_by_the_augmentations(tmp_path, caplog, bbox):
    # a 32 x 24 image shrunk to 9 x 7: the box loads (it has a positive size and overlaps the image), then
    # Detectron2's filter_empty_instances drops it: the model never sees a box of the file, so it must be warned about
    write_image(tmp_path / "Images" / "a.jpg")
    odgt = write_file(tmp_path / "a.odgt", json.dumps({"ID": "a", "gtboxes": [_box([2, 2, 10, 10]), _box(bbox)]}))
    (record,) = load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    assert len(record["annotations"]) == 2
    mapper = PedestrianDatasetMapper(True, augmentations=[T.ResizeShortestEdge((7, 7), max_size=9)],
                                     image_format="BGR")
    with caplog.at_level(logging.WARNING, logger="pedet.data.mapper"):
        inst = mapper(record)["instances"]
    assert len(inst) == 1 and mapper.dropped["outside_image"] == 1
    ours = [r.getMessage() for r in caplog.records if r.name == "pedet.data.mapper"]
    assert len(ours) == 1 and "dropped 1 box(es)" in ours[0] and str(list(map(float, bbox))) in ours[0]
    assert BoxMode.XYWH_ABS.name in ours[0]


@pytest.mark.parametrize("ratio,expected", [
    (0.5, "RANDOM_SUBSET_RATIO 0.5 of the 1 training images"),   # int(1 * 0.5) == 0 images
    (0.0, "RANDOM_SUBSET_RATIO 0.0 of the 1 training images"),
    (1.5, "RANDOM_SUBSET_RATIO 1.5 of the 1 training images"),
])
def test_random_subset_sampler_that_keeps_no_image_is_a_clear_error(tmp_path, ratio, expected):
    # was Detectron2's bare "AssertionError" with no message
    write_image(tmp_path / "Images" / "a.jpg")
    odgt = write_file(tmp_path / "a.odgt", json.dumps({"ID": "a", "gtboxes": [_box([2, 2, 10, 10])]}) + "\n")
    name = "badin19_subset"
    register_crowdhuman(name, odgt, str(tmp_path / "Images"))
    try:
        cfg = get_cfg()
        add_pedet_config(cfg)
        cfg.DATASETS.TRAIN = (name,)
        cfg.DATALOADER.SAMPLER_TRAIN = "RandomSubsetTrainingSampler"
        cfg.DATALOADER.RANDOM_SUBSET_RATIO = ratio  # a key of Detectron2 main's config; added here on v0.6
        cfg.DATALOADER.NUM_WORKERS = 0
        with pytest.raises(ValueError) as info:
            build_pedestrian_train_loader(cfg)
        assert expected in str(info.value) and name in str(info.value)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
