"""
Bad input found by the final model-side trial (issue 11): hand-registered training records that Detectron2 users
write every day.
"""
import numpy as np
import pytest
import torch

from .test_bad_input_seventeenth_model import _PERSON, _cfg


def _record(tmp_path, **change):
    import cv2

    image = str(tmp_path / "a.jpg")
    cv2.imwrite(image, np.full((64, 64, 3), 90, np.uint8))
    return {"file_name": image, "image_id": 5, "height": 64, "width": 64, "annotations": [{**_PERSON, **change}]}


@pytest.mark.parametrize("box", [np.array([10., 10, 12, 30]), np.array([10, 10, 12, 30], np.float32),
                                 torch.tensor([10., 10, 12, 30])])
def test_an_array_box_trains_like_a_list(tmp_path, box):
    """A box given as a NumPy array or a tensor (boxes[i] of an array of boxes), XYWH_ABS: the record check let it
    through, then detectron2's BoxMode.convert read the 1-D array as N x 4 (IndexError traceback in the mapper)."""
    from pedet.data.mapper import PedestrianDatasetMapper

    cfg = _cfg("OPL", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.RANDOM_FLIP", "none")
    mapper = PedestrianDatasetMapper(cfg, True)
    expected = mapper(_record(tmp_path))["instances"].gt_boxes.tensor
    got = mapper(_record(tmp_path, bbox=box))["instances"].gt_boxes.tensor
    assert got.tolist() == expected.tolist() == [[10.0, 10.0, 22.0, 40.0]]


@pytest.mark.parametrize("filter_empty", ["False", "True"])
@pytest.mark.parametrize("missing", [1, 2])
def test_a_training_record_without_annotations_is_one_error(tmp_path, filter_empty, missing):
    """A training record without an "annotations" key (a misspelt key, or the key left out for images without
    boxes) was trained as an all-background image without a word with FILTER_EMPTY_ANNOTATIONS False (the
    evaluator refuses the same record), and was detectron2's KeyError traceback with True."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.build import build_pedestrian_train_loader
    from pedet.data.common import DatasetFormatError

    records = [_record(tmp_path) for _ in range(2)]
    for k, r in enumerate(records):
        r["image_id"] = k
    for r in records[:missing]:
        r["annotation"] = r.pop("annotations")
    DatasetCatalog.register("_tfm_no_annotations", lambda: records)
    MetadataCatalog.get("_tfm_no_annotations").set(thing_classes=["person"])
    cfg = _cfg("OPL", "DATASETS.TRAIN", "('_tfm_no_annotations',)", "DATALOADER.FILTER_EMPTY_ANNOTATIONS", filter_empty)
    try:
        with pytest.raises(DatasetFormatError) as e:
            build_pedestrian_train_loader(cfg)
    finally:
        DatasetCatalog.remove("_tfm_no_annotations")
        MetadataCatalog.remove("_tfm_no_annotations")
    assert str(e.value) == (
        f"data set(s) _tfm_no_annotations: {missing} of 2 records have no 'annotations' key, e.g. image "
        f"'{records[0]['file_name']}' (image_id 0); an image without boxes needs \"annotations\": [] (a missing key "
        "would train it as background)")


def test_a_training_record_with_empty_annotations_still_trains(tmp_path):
    """The check refuses no valid record: "annotations": [] is an image without boxes (as in Detectron2)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.build import build_pedestrian_train_loader

    records = [_record(tmp_path), {**_record(tmp_path), "image_id": 6, "annotations": []}]
    DatasetCatalog.register("_tfm_empty_annotations", lambda: records)
    MetadataCatalog.get("_tfm_empty_annotations").set(thing_classes=["person"])
    cfg = _cfg("OPL", "DATASETS.TRAIN", "('_tfm_empty_annotations',)", "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
               "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64")
    try:
        batch = next(iter(build_pedestrian_train_loader(cfg)))
    finally:
        DatasetCatalog.remove("_tfm_empty_annotations")
        MetadataCatalog.remove("_tfm_empty_annotations")
    assert len(batch) == 1 and batch[0]["image_id"] in (5, 6)
