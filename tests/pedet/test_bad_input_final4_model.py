"""
Bad input found by the fourth final model-side trial (issue 11): a diverging training run, a record whose size is
written as strings, a demo input whose file name holds glob characters.
"""
import logging

import cv2
import numpy as np
import pytest

from pedet.data.common import DatasetFormatError
from pedet.engine.launch import one_line_errors
from pedet.engine.trainer import _OneLineBadInput

from ..scripts import fresh_script

# what detectron2's SimpleTrainer._write_metrics raises when a loss becomes NaN or infinite
DIVERGED = FloatingPointError("Loss became infinite or NaN at iteration=2!\n"
                              "loss_dict = {'loss_cls_o2o': np.float64(nan), 'loss_reg': np.float64(nan)}")


def test_a_diverged_training_run_is_one_line():
    # SOLVER.BASE_LR 1e6 on the tiny OPL config: detectron2's FloatingPointError ended train_net with a traceback
    with pytest.raises(SystemExit) as e:
        with one_line_errors():
            raise DIVERGED
    assert e.value.code.startswith("error: training diverged: Loss became infinite or NaN at iteration=2! loss_dict")
    assert "SOLVER.BASE_LR" in e.value.code and "\n" not in e.value.code


def test_the_training_loop_logs_a_diverged_run_without_its_traceback():
    # detectron2's TrainerBase.train logs "Exception during training:" with exc_info before re-raising
    record = logging.LogRecord("detectron2.engine.train_loop", logging.ERROR, __file__, 1, "Exception during training:",
                               (), (FloatingPointError, DIVERGED, None))
    assert _OneLineBadInput().filter(record)
    assert record.exc_info is None and "training diverged: Loss became infinite" in record.getMessage()


def test_a_record_size_given_as_strings_is_named(tmp_path):
    from detectron2.data import transforms as T

    from pedet.data.mapper import PedestrianDatasetMapper

    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.zeros((48, 64, 3), np.uint8))
    mapper = PedestrianDatasetMapper(True, augmentations=[T.NoOpTransform()], image_format="BGR")
    record = {"file_name": path, "image_id": "a", "height": "48", "width": "64", "annotations": []}
    # was "is 64x48 pixels (width x height), its record says 64x48"
    with pytest.raises(DatasetFormatError, match=r"image '.*a.png' \(image_id 'a'\): its record's width / height must "
                                                 r"be numbers, got '64' / '48'"):
        mapper(record)
    assert mapper(dict(record, height=48.0, width=64.0))["image"].shape == (3, 48, 64)  # JSON floats stay valid


def test_demo_takes_an_existing_file_whose_name_holds_glob_characters(tmp_path):
    demo = fresh_script("demo/demo.py", "final4_demo")
    for name in ("frame[1].png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    # was "--input '.../frame[1].png' matches no file": glob reads [1] as a character class
    assert demo.expand_inputs([str(tmp_path / "frame[1].png")]) == [str(tmp_path / "frame[1].png")]
    assert demo.expand_inputs([str(tmp_path / "[b].png")]) == [str(tmp_path / "b.png")]  # a pattern still globs
    with pytest.raises(FileNotFoundError, match="matches no file"):
        demo.expand_inputs([str(tmp_path / "frame[2].png")])


@pytest.mark.parametrize("part", ["cls_score", "bbox_pred"])
def test_opl_predictions_gone_nan_are_a_diverged_run(part):
    # SOLVER.BASE_LR 1e6 as a subprocess: the NaN weights of iteration 2 reached scipy's assignment first, a ValueError
    # traceback "matrix contains invalid numeric entries" (detectron2's NaN-loss check comes after the losses)
    import torch
    from detectron2.utils.events import EventStorage

    from ..opl.tiny import image_batch, tiny_model

    model = tiny_model().train()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if part in name:
                p.fill_(float("nan"))
    with EventStorage(), pytest.raises(FloatingPointError, match="predictions became infinite or NaN"):
        model(image_batch([([[10, 10, 30, 50], [40, 8, 60, 40]], [0, 0])]))
