"""
Hand-registered training records found by mutating records through build_pedestrian_train_loader and one OPL /
RepLoss step (a scratch fuzzer): each was a traceback without the record (KeyError, iopath's TypeError, detectron2's
filter_empty AttributeError); each is now one DatasetFormatError naming the record, and the legal forms still train.
"""
import numpy as np
import pytest
import torch

from .test_bad_input_seventeenth_model import _PERSON, _cfg


def _first_batch(tmp_path, record, filter_empty="True"):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.build import build_pedestrian_train_loader

    DatasetCatalog.register("_fuzz_by_hand", lambda: [record])
    MetadataCatalog.get("_fuzz_by_hand").set(thing_classes=["person"])
    cfg = _cfg("OPL", "DATASETS.TRAIN", "('_fuzz_by_hand',)", "DATALOADER.FILTER_EMPTY_ANNOTATIONS", filter_empty,
               "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.RANDOM_FLIP", "none")
    try:
        return next(iter(build_pedestrian_train_loader(cfg)))
    finally:
        DatasetCatalog.remove("_fuzz_by_hand")
        MetadataCatalog.remove("_fuzz_by_hand")


def _record(tmp_path, **change):
    import cv2

    image = str(tmp_path / "a.jpg")
    cv2.imwrite(image, np.full((64, 64, 3), 90, np.uint8))
    record = {"file_name": image, "image_id": 5, "height": 64, "width": 64, "annotations": [dict(_PERSON)]}
    for key, value in change.items():
        record.pop(key) if value is KeyError else record.__setitem__(key, value)
    return record


@pytest.mark.parametrize("change, message", [
    ({"file_name": KeyError}, "record (image_id 5): no 'file_name'; Detectron2's dataset dicts need the image path as "
                              "a string"),
    ({"file_name": None}, "record (image_id 5): 'file_name' None; Detectron2's dataset dicts need"),
    ({"file_name": ["a.jpg"]}, "record (image_id 5): 'file_name' ['a.jpg']; Detectron2's dataset dicts need"),
    ({"height": KeyError}, "(image_id 5): the record has 'width' but no 'height' (give both, or neither to take the "
                           "image's size)"),
    ({"width": KeyError}, "(image_id 5): the record has 'height' but no 'width'"),
    ({"width": np.array([64.0, 64.0])}, "(image_id 5): its record's width / height must be numbers, got "
                                        "array([64., 64.]) / 64"),
    # flags that are arrays: numpy's / torch's "ambiguous truth value" tracebacks
    ({"annotations": [dict(_PERSON, ignore=np.array([1.0, 0.0]))]},
     "(image_id 5): annotations[0]: 'ignore' is array([1., 0.]), not 0 or 1"),
    ({"annotations": [dict(_PERSON, iscrowd=torch.tensor([0, 1]))]},
     "(image_id 5): annotations[0]: 'iscrowd' is tensor([0, 1]), not 0 or 1"),
    ({"annotations": 1}, "(image_id 5): 'annotations' is an int, not a list of dicts"),
    ({"annotations": [[10, 10, 12, 30]]}, "(image_id 5): annotations[0] is a list, not a dict"),
])
@pytest.mark.parametrize("filter_empty", ["True", "False"])
def test_a_hand_registered_record_is_one_error_naming_it(tmp_path, change, message, filter_empty):
    from pedet.data.common import DatasetFormatError

    with pytest.raises(DatasetFormatError) as e:
        _first_batch(tmp_path, _record(tmp_path, **change), filter_empty)
    assert message in str(e.value)


def test_a_record_without_width_and_height_takes_the_image_size(tmp_path):
    """Legal in Detectron2 (check_image_size fills them in): no wrong refusal."""
    batch = _first_batch(tmp_path, _record(tmp_path, width=KeyError, height=KeyError))
    assert batch[0]["instances"].gt_boxes.tensor.tolist() == [[10.0, 10.0, 22.0, 40.0]]


def test_an_image_whose_flags_are_bad_is_not_dropped_as_crowd_only_in_silence(tmp_path):
    """iscrowd -5 is not 0: detectron2's FILTER_EMPTY_ANNOTATIONS filter dropped the image as one of crowd boxes only
    before any check saw the flag (training went on without it; the evaluator refused the same record)."""
    from pedet.data.common import DatasetFormatError

    with pytest.raises(DatasetFormatError, match=r"annotations\[0\]: 'iscrowd' is -5, not 0 or 1"):
        _first_batch(tmp_path, _record(tmp_path, annotations=[dict(_PERSON, iscrowd=-5)]))


def test_a_box_of_a_python_integer_beyond_int64_is_read_as_a_float(tmp_path):
    """A finite box coordinate of 10**30 (a Python int): torch's "Overflow when unpacking long long" traceback in the
    mapper's degenerate-box check; it is a (huge) finite box, kept as the loaders keep such boxes."""
    batch = _first_batch(tmp_path, _record(tmp_path, annotations=[dict(_PERSON, bbox=[10, 10, 12, 10**30])]))
    assert batch[0]["instances"].gt_boxes.tensor.tolist() == [[10.0, 10.0, 22.0, 64.0]]  # clipped to the image


def test_export_latency_names_the_resize_keys_it_does_not_read(tmp_path, capsys):
    """It times square inputs of --size: INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST overrides changed nothing, in silence."""
    import os

    from pedet.utils.imports import load_script

    from ..scripts import OPL_TINY, REPO

    bench = load_script(os.path.join(REPO, "benchmarks", "export_latency.py"))
    rows = bench.main(["--config-file", OPL_TINY, "--size", "160", "--warmup", "0", "--iters", "1", "--output",
                       str(tmp_path / "l.json"), "INPUT.MIN_SIZE_TEST", "512", "MODEL.FPN.OUT_CHANNELS", "32",
                       "MODEL.OPL.GN_NUM_GROUPS", "8"])
    assert [r["size"] for r in rows] == [160]
    assert capsys.readouterr().err.splitlines()[0] == ("warning: INPUT.MIN_SIZE_TEST: not read; this benchmark times "
                                                       "square inputs of --size 160 px")
