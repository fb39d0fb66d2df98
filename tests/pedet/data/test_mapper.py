import copy
import logging
import os

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances
from pedet.config import add_pedet_config
from pedet.data import build_pedestrian_train_loader, get_pedestrian_dataset_dicts
from pedet.data.crowdhuman import load_crowdhuman_odgt
from pedet.data.mapper import PedestrianDatasetMapper, split_ignore_instances

from .conftest import fixture_root

CH = os.path.join(fixture_root("crowdhuman"), "CrowdHuman")


@pytest.fixture(scope="module")
def records():
    """The CrowdHuman train fixture: 64 x 48 images (W x H)."""
    return load_crowdhuman_odgt(os.path.join(CH, "annotation_train.odgt"), os.path.join(CH, "Images"))


def _mapper(is_train=True):
    # short side 48 -> 96: scale 2, image 128 x 96 (W x H); then a flip that always happens
    augs = [T.ResizeShortestEdge((96, 96), max_size=1000), T.RandomFlip(prob=1.0, horizontal=True)]
    return PedestrianDatasetMapper(is_train, augmentations=augs, image_format="BGR")


def _ann(bbox, category_id=0, **extra):
    return dict({"bbox": bbox, "bbox_mode": BoxMode.XYWH_ABS, "category_id": category_id, "iscrowd": 0,
                 "ignore": int(category_id < 0)}, **extra)


def test_mapper_keeps_ignore_boxes_through_resize_and_flip_and_clips(records):
    out = _mapper()(records[0])
    assert out["image"].shape == (3, 96, 128) and out["image"].dtype == torch.uint8
    inst = out["instances"]
    # x2 scale, then x -> 128 - x, then clip to [0, 128] x [0, 96]:
    #   person [-5, 4, 20, 40]  -> xyxy [-10, 8, 30, 88]   -> [98, 8, 138, 88] -> [98, 8, 128, 88]
    #   ignore [30, 10, 10, 20] -> xyxy [60, 20, 80, 60]   -> [48, 20, 68, 60]
    #   mask   [45, 5, 15, 30]  -> xyxy [90, 10, 120, 70]  -> [8, 10, 38, 70]
    #   person [50, 20, 20, 40] -> xyxy [100, 40, 140, 120] -> [-12, 40, 28, 120] -> [0, 40, 28, 96]
    expected = torch.tensor([[98, 8, 128, 88], [48, 20, 68, 60], [8, 10, 38, 70], [0, 40, 28, 96]],
                            dtype=torch.float32)
    assert torch.allclose(inst.gt_boxes.tensor, expected)
    assert inst.gt_classes.tolist() == [0, -1, -1, 0]
    assert out["height"] == 48 and out["width"] == 64  # original size, for detector_postprocess


def test_mapper_does_not_modify_the_dataset_dict(records):
    before = copy.deepcopy(records[0])
    _mapper()(records[0])
    assert records[0] == before  # the unclipped boxes stay for the evaluator


def test_mapper_for_evaluation_removes_annotations(records):
    out = _mapper(is_train=False)(records[0])
    assert "annotations" not in out and "instances" not in out
    assert out["image"].shape == (3, 96, 128) and out["image_id"] == "273271,c9db000d5146c15"


def test_mapper_image_with_no_person_gives_empty_instances(records):
    inst = _mapper()(records[1])["instances"]
    assert len(inst) == 0 and inst.gt_boxes.tensor.shape == (0, 4)


def test_mapper_image_with_only_ignore_boxes_keeps_them(records):
    assert _mapper()(records[2])["instances"].gt_classes.tolist() == [-1, -1]


def test_mapper_drops_degenerate_boxes_with_a_counted_warning(records, caplog):
    record = dict(records[1], annotations=[
        _ann([1, 2, 0, 10]),  # zero width
        _ann([1, 2, 5, -3]),  # negative height
        _ann([float("nan"), 2, 5, 10]),
        _ann([1, 2, float("inf"), 10]),
        _ann([1, 2, 5, 10]),
    ])
    mapper = _mapper()
    with caplog.at_level(logging.WARNING, logger="pedet.data.mapper"):
        inst = mapper(record)["instances"]
    assert len(inst) == 1 and mapper.dropped["degenerate"] == 4
    # warned at counts 1, 2 and 4 (powers of two), not at 3
    # only the mapper's own records (Detectron2 main logs other warnings while mapping)
    ours = [r.getMessage() for r in caplog.records if r.name == "pedet.data.mapper"]
    counts = [m.split("dropped ")[1].split(" ")[0] for m in ours]
    assert counts == ["1", "2", "4"]


def test_mapper_drops_box_entirely_outside_the_image_and_counts_it(records):
    record = dict(records[1], annotations=[_ann([70, 2, 10, 10]), _ann([1, 2, 5, 10], category_id=-1)])
    mapper = _mapper()
    inst = mapper(record)["instances"]
    # [70, 2, 80, 12] x2 = [140, 4, 160, 24]: flipped to [-32, 4, -12, 24], nothing left after clipping
    assert inst.gt_classes.tolist() == [-1] and mapper.dropped["outside_image"] == 1


def test_mapper_turns_iscrowd_boxes_into_ignore_boxes(records):
    # detectron2's DatasetMapper would drop an iscrowd = 1 box; here it stays as an ignore box
    record = dict(records[1], annotations=[dict(_ann([1, 2, 5, 10]), iscrowd=1, ignore=0)])
    assert _mapper()(record)["instances"].gt_classes.tolist() == [-1]


def test_mapper_from_config_uses_input_keys():
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.INPUT.MIN_SIZE_TRAIN = (96,)
    mapper = PedestrianDatasetMapper(cfg, is_train=True)
    augs = mapper.augmentations.augs
    assert isinstance(augs[0], T.ResizeShortestEdge) and augs[0].short_edge_length == (96,)
    assert augs[0].max_size == 1333 and isinstance(augs[1], T.RandomFlip) and mapper.image_format == "BGR"


def test_split_ignore_instances():
    inst = Instances((10, 10), gt_boxes=Boxes(torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 4, 4]])),
                     gt_classes=torch.tensor([0, -1, 0]))
    valid, ignore = split_ignore_instances(inst)
    assert valid.gt_classes.tolist() == [0, 0] and ignore.gt_boxes.tensor.tolist() == [[1.0, 1, 3, 3]]


def test_train_loader_keeps_all_ignore_images_and_drops_empty_ones(registered_under):
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.merge_from_list(["DATASETS.TRAIN", ("crowdhuman_train",), "SOLVER.IMS_PER_BATCH", 2,
                         "DATALOADER.NUM_WORKERS", 0, "INPUT.MIN_SIZE_TRAIN", (48,)])
    with registered_under(fixture_root("crowdhuman")):
        dicts = get_pedestrian_dataset_dicts("crowdhuman_train")
        # 3 images: the one with no box is filtered, the one with only ignore boxes stays (iscrowd 0)
        assert [d["image_id"] for d in dicts] == ["273271,c9db000d5146c15", "283554,35288000868e92d4"]
        batch = next(iter(build_pedestrian_train_loader(cfg)))
    assert len(batch) == 2 and all("instances" in x for x in batch)
    assert sorted(len(x["instances"]) for x in batch) == [2, 4]


def test_mapper_from_config_crops_first_in_training_only_as_detectron2_does():
    from detectron2.data import DatasetMapper

    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.merge_from_list(["INPUT.CROP.ENABLED", True, "INPUT.CROP.TYPE", "absolute", "INPUT.CROP.SIZE", [32, 40]])
    for is_train in (True, False):  # the same augmentations, in the same order, as detectron2's DatasetMapper
        ours = PedestrianDatasetMapper(cfg, is_train=is_train).augmentations.augs
        theirs = DatasetMapper(cfg, is_train=is_train).augmentations.augs
        assert [repr(a) for a in ours] == [repr(a) for a in theirs]
    augs = PedestrianDatasetMapper(cfg, is_train=True).augmentations.augs
    assert isinstance(augs[0], T.RandomCrop) and (augs[0].crop_type, augs[0].crop_size) == ("absolute", [32, 40])
    assert not any(isinstance(a, T.RandomCrop) for a in PedestrianDatasetMapper(cfg, False).augmentations.augs)


def test_mapper_crop_clips_and_drops_persons_and_ignore_boxes_alike(records):
    # the 64 x 48 image cropped to its 20 x 16 (W x H) window at (x, y) = (10, 8): boxes move by (-10, -8), are clipped
    # to the window, and those with nothing inside are dropped, whether they are persons or ignore regions
    augs = [T.CropTransform(10, 8, 20, 16)]
    mapper = PedestrianDatasetMapper(True, augmentations=augs, image_format="BGR")
    record = dict(records[1], annotations=[
        _ann([12, 10, 4, 4]),                    # person inside: [2, 2, 6, 6]
        _ann([0, 0, 15, 12], category_id=-1),    # ignore region over the corner: clipped to [0, 0, 5, 4]
        _ann([25, 18, 20, 20]),                  # person over the far corner: clipped to [15, 10, 20, 16]
        _ann([50, 30, 8, 8]),                    # person outside the window: dropped
        _ann([40, 0, 10, 5], category_id=-1),    # ignore region outside the window: dropped
    ])
    out = mapper(record)
    inst = out["instances"]
    assert out["image"].shape == (3, 16, 20) and inst.image_size == (16, 20)
    assert inst.gt_boxes.tensor.tolist() == [[2.0, 2, 6, 6], [0, 0, 5, 4], [15, 10, 20, 16]]
    assert inst.gt_classes.tolist() == [0, -1, 0] and mapper.dropped["outside_image"] == 2


def test_train_loader_with_a_random_crop_gives_boxes_inside_the_crop(registered_under):
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.merge_from_list(["DATASETS.TRAIN", ("crowdhuman_train",), "SOLVER.IMS_PER_BATCH", 2, "DATALOADER.NUM_WORKERS",
                         0, "INPUT.MIN_SIZE_TRAIN", (0,), "INPUT.CROP.ENABLED", True, "INPUT.CROP.TYPE", "absolute",
                         "INPUT.CROP.SIZE", [24, 32], "SEED", 0])
    with registered_under(fixture_root("crowdhuman")):
        batch = next(iter(build_pedestrian_train_loader(cfg)))
    for x in batch:  # MIN_SIZE_TRAIN 0: no resize, so the crop's 24 x 32 (H x W) is the input size
        assert tuple(x["image"].shape) == (3, 24, 32) and x["instances"].image_size == (24, 32)
        boxes = x["instances"].gt_boxes.tensor
        assert ((boxes[:, 0::2] >= 0) & (boxes[:, 0::2] <= 32)).all()
        assert ((boxes[:, 1::2] >= 0) & (boxes[:, 1::2] <= 24)).all()
        assert (x["instances"].gt_boxes.area() > 0).all()
