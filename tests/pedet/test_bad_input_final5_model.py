"""
Bad input found by the fifth final model-side trial (issue 11): the ignore / iscrowd flags of hand-registered
training records.
"""
import numpy as np
import pytest
import torch

from .test_bad_input_final_model import _record
from .test_bad_input_seventeenth_model import _cfg

BAD_FLAGS = {
    "ignore '0' (a CSV string)": ("ignore", "0"),
    "ignore '1'": ("ignore", "1"),
    "ignore 'false'": ("ignore", "false"),
    "ignore 2": ("ignore", 2),
    "ignore -1": ("ignore", -1),
    "ignore None": ("ignore", None),
    "ignore NaN": ("ignore", float("nan")),
    "iscrowd '0'": ("iscrowd", "0"),
    "iscrowd 2": ("iscrowd", 2),
}


def _mapper():
    from pedet.data.mapper import PedestrianDatasetMapper

    cfg = _cfg("OPL", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.RANDOM_FLIP", "none")
    return PedestrianDatasetMapper(cfg, True)


@pytest.mark.parametrize("key,value", list(BAD_FLAGS.values()), ids=list(BAD_FLAGS))
def test_a_flag_that_is_not_0_or_1_is_named_by_the_mapper(tmp_path, key, value):
    """is_ignore_annotation reads the flags with bool(): "0", "false", 2 or -1 made the box an ignore region in
    training without a word (None made it a person), while the evaluator refuses the same record."""
    from pedet.data.common import DatasetFormatError

    with pytest.raises(DatasetFormatError) as e:
        _mapper()(_record(tmp_path, **{key: value}))
    assert str(e.value) == (f"image '{tmp_path / 'a.jpg'}' (image_id 5): annotations[0]: '{key}' is {value!r}, "
                            "not 0 or 1 (1 = an ignore region; leave the key out for 0)")


@pytest.mark.parametrize("key,value", list(BAD_FLAGS.values()), ids=list(BAD_FLAGS))
def test_a_flag_that_is_not_0_or_1_stops_the_train_loader(tmp_path, key, value):
    """The same, found when the training set is read (before any iteration), naming the data set."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.build import build_pedestrian_train_loader
    from pedet.data.common import DatasetFormatError

    records = [_record(tmp_path), _record(tmp_path, **{key: value})]
    records[1]["image_id"] = 6
    DatasetCatalog.register("_tf5_flags", lambda: records)
    MetadataCatalog.get("_tf5_flags").set(thing_classes=["person"])
    cfg = _cfg("OPL", "DATASETS.TRAIN", "('_tf5_flags',)")
    try:
        with pytest.raises(DatasetFormatError, match=rf"^data set\(s\) _tf5_flags: image '.*a\.jpg' \(image_id 6\): "
                                                     rf"annotations\[0\]: '{key}' is .*, not 0 or 1"):
            build_pedestrian_train_loader(cfg)
    finally:
        DatasetCatalog.remove("_tf5_flags")
        MetadataCatalog.remove("_tf5_flags")


@pytest.mark.parametrize("change,expected", [
    ({}, 0), ({"ignore": 0}, 0), ({"ignore": 1}, -1), ({"ignore": True}, -1), ({"ignore": False}, 0),
    ({"ignore": 1.0}, -1), ({"ignore": np.int64(1)}, -1), ({"ignore": np.bool_(True)}, -1), ({"iscrowd": 1}, -1),
    ({"iscrowd": np.float32(0)}, 0), ({"category_id": -1, "ignore": 0}, -1),
])
def test_flags_of_0_and_1_still_train(tmp_path, change, expected):
    """Valid flags (bool, int, float, NumPy scalars) are not refused: 1 is an ignore box (class -1), 0 a person."""
    assert _mapper()(_record(tmp_path, **change))["instances"].gt_classes.tolist() == [expected]


def _demo():
    import os

    from pedet.utils.imports import load_script

    return load_script(os.path.join(os.path.dirname(__file__), "..", "..", "demo", "demo.py"))


@pytest.mark.parametrize("change,label", [
    ({}, "gt"), ({"category_id": "0"}, "gt"), ({"category_id": "-1"}, "ignore"), ({"iscrowd": 1}, "ignore"),
    ({"ignore": True}, "ignore"), ({"category_id": np.int64(-1)}, "ignore"),
])
def test_demo_draws_ground_truth_by_the_training_rule(tmp_path, monkeypatch, change, label):
    """demo --gt-dataset drew an iscrowd 1 box (an ignore region for training and evaluation) as a person box, and a
    category_id "0" (which Detectron2's mapper and ours train) was a TypeError traceback ('<' between str and int)."""
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.visualizer import Visualizer

    labels = []
    overlay = Visualizer.overlay_instances

    def spy(self, *args, **kwargs):
        labels.append(kwargs.get("labels"))
        return overlay(self, *args, **kwargs)

    monkeypatch.setattr(Visualizer, "overlay_instances", spy)
    none = Instances((64, 64), pred_boxes=Boxes(torch.zeros(0, 4)), scores=torch.zeros(0))
    out = _demo().draw(np.zeros((64, 64, 3), np.uint8), none, 0.5, _record(tmp_path, **change))
    assert out.shape == (64, 64, 3) and labels == [[label]]


def test_demo_ground_truth_with_a_bad_flag_is_one_error(tmp_path):
    """A --gt-dataset record whose ignore flag is "0" was drawn as a person box (training and evaluation refuse it)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.common import DatasetFormatError

    record = _record(tmp_path, ignore="0")
    DatasetCatalog.register("_tf5_demo", lambda: [record])
    MetadataCatalog.get("_tf5_demo").set(thing_classes=["person"], image_root=str(tmp_path))
    try:
        with pytest.raises(DatasetFormatError) as e:
            _demo().GroundTruthIndex(["_tf5_demo"]).lookup(record["file_name"])
    finally:
        DatasetCatalog.remove("_tf5_demo")
        MetadataCatalog.remove("_tf5_demo")
    assert str(e.value) == (f"--gt-dataset _tf5_demo: image '{tmp_path / 'a.jpg'}' (image_id 5): annotations[0]: "
                            "'ignore' is '0', not 0 or 1 (1 = an ignore region; leave the key out for 0)")


def test_a_whole_model_saved_with_torch_save_is_named(tmp_path, monkeypatch):
    """torch.save(model) instead of its state dict: the error quoted the first line of torch's message, with terminal
    bold codes and "you have two options" without the options; with trust_pickle, it did not say what to do."""
    import pickle

    from pedet.engine.checkpoint import CheckpointFileError, PedetCheckpointer, load_checkpoint_file

    monkeypatch.delenv("PEDET_TRUST_PICKLE", raising=False)
    path = str(tmp_path / "model.pth")
    torch.save(torch.nn.Linear(2, 1), path)
    with pytest.raises(pickle.UnpicklingError) as e:
        load_checkpoint_file(path)
    assert str(e.value) == (f"{path} cannot be loaded weights-only (it holds Python objects other than tensors and "
                            "containers: e.g. torch.nn.modules.linear.Linear). Loading it runs code from the file: if "
                            "you trust it, pass trust_pickle=True or set PEDET_TRUST_PICKLE=1.")
    with pytest.raises(CheckpointFileError, match=r"holds a Linear, not a state dict or a checkpoint; save "
                                                  r"model\.state_dict\(\) instead of the model$"):
        PedetCheckpointer(torch.nn.Linear(2, 1), trust_pickle=True).load(path)
