"""demo/demo.py: annotated images (with the ground truth of the registered synthetic set) and an annotated video."""
import os

import cv2
import numpy as np
import pytest

from .conftest import OPL_CONFIG, OPL_TINY_OPTS, VAL_SET  # noqa: F401


@pytest.fixture(scope="module")
def val_files(tiny_root):
    from detectron2.data import DatasetCatalog

    return [d["file_name"] for d in DatasetCatalog.get(VAL_SET)[:2]]


def _demo(*args):
    import demo_demo

    # a random model's scores are ~0.005: the model keeps them (SCORE_THRESH_TEST 0.001) and the demo draws them all
    return demo_demo.main(["--config-file", OPL_CONFIG, "--confidence-threshold", "0.0", *args,
                           "MODEL.OPL.SCORE_THRESH_TEST", "0.001", "TEST.DETECTIONS_PER_IMAGE", "20"])


def test_demo_draws_detections_and_ground_truth_on_images(opl_weights, val_files, tmp_path):
    folder = os.path.dirname(val_files[0])
    pattern = os.path.join(folder, "tiny_val_00000[01].jpg")  # a glob, as users pass it
    written = _demo("--input", pattern, "--output", str(tmp_path / "gt"), *OPL_TINY_OPTS, "MODEL.WEIGHTS", opl_weights)
    assert [os.path.basename(p) for p in written] == [os.path.basename(f) for f in val_files]
    no_gt = _demo("--input", val_files[0], "--output", str(tmp_path / "nogt"), "--no-gt", *OPL_TINY_OPTS,
                  "MODEL.WEIGHTS", opl_weights)
    original, with_gt, without_gt = (cv2.imread(p) for p in (val_files[0], written[0], no_gt[0]))
    assert with_gt.shape == original.shape == without_gt.shape
    assert np.abs(without_gt.astype(int) - original).max() > 50  # the detections are drawn
    # ground truth adds green (BGR: G high, R low) pixels that the prediction-only drawing does not have
    green = lambda im: ((im[..., 1] > 150) & (im[..., 2] < 100) & (im[..., 0] < 100)).sum()  # noqa: E731
    assert green(with_gt) > green(without_gt) + 20


def test_demo_annotates_a_video(opl_weights, val_files, tmp_path):
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (128, 128))
    for i in range(6):
        writer.write(cv2.imread(val_files[i % 2]))
    writer.release()
    out = _demo("--video-input", video, "--output", str(tmp_path / "out"), *OPL_TINY_OPTS, "MODEL.WEIGHTS", opl_weights)
    assert out == str(tmp_path / "out" / "clip.mp4")
    cap = cv2.VideoCapture(out)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    assert frames == 6 and size == (128, 128)


def test_demo_runs_the_exported_onnx_model(opl_onnx, val_files, tmp_path):
    # the graph holds the weights; the config gives the test-time resize
    written = _demo("--input", val_files[0], "--output", str(tmp_path / "onnx"), "--onnx", opl_onnx, *OPL_TINY_OPTS)
    assert os.path.isfile(written[0])
