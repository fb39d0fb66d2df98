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


def _demo(*args, opts=()):
    import demo_demo

    # a random model's scores are ~0.005: the model keeps them (SCORE_THRESH_TEST 0.001) and the demo draws them all
    return demo_demo.main(["--config-file", OPL_CONFIG, "--confidence-threshold", "0.0", *args, "--opts", *opts,
                           "MODEL.OPL.SCORE_THRESH_TEST", "0.001", "TEST.DETECTIONS_PER_IMAGE", "20"])


def test_demo_draws_detections_and_ground_truth_on_images(opl_weights, val_files, tmp_path):
    folder = os.path.dirname(val_files[0])
    pattern = os.path.join(folder, "tiny_val_00000[01].jpg")  # a glob, as users pass it
    written = _demo("--input", pattern, "--output", str(tmp_path / "gt"),
                    opts=[*OPL_TINY_OPTS, "MODEL.WEIGHTS", opl_weights])
    assert [os.path.basename(p) for p in written] == [os.path.basename(f) for f in val_files]
    no_gt = _demo("--input", val_files[0], "--output", str(tmp_path / "nogt"), "--no-gt",
                  opts=[*OPL_TINY_OPTS, "MODEL.WEIGHTS", opl_weights])
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
    out = _demo("--video-input", video, "--output", str(tmp_path / "out"),
                opts=[*OPL_TINY_OPTS, "MODEL.WEIGHTS", opl_weights])
    assert out == str(tmp_path / "out" / "clip.mp4")
    cap = cv2.VideoCapture(out)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    assert frames == 6 and size == (128, 128)


def test_demo_runs_the_exported_onnx_model(opl_onnx, val_files, tmp_path):
    # the graph holds the weights; the config gives the test-time resize
    written = _demo("--input", val_files[0], "--output", str(tmp_path / "onnx"), "--onnx", opl_onnx,
                    opts=OPL_TINY_OPTS)
    assert os.path.isfile(written[0])


def test_demo_feeds_the_onnx_graph_the_channel_order_it_was_exported_for(opl_onnx, val_files, tmp_path):
    """The graph normalises with the exported BGR pixel mean: a config saying INPUT.FORMAT RGB fed it swapped channels
    in silence. The export records INPUT.FORMAT in the ONNX metadata; the demo follows it and warns."""
    import logging

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("pedet.demo").addHandler(handler)
    try:
        rgb = _demo("--input", val_files[0], "--output", str(tmp_path / "rgb"), "--onnx", opl_onnx, "--no-gt",
                    opts=[*OPL_TINY_OPTS, "INPUT.FORMAT", "RGB"])
    finally:
        logging.getLogger("pedet.demo").removeHandler(handler)
    bgr = _demo("--input", val_files[0], "--output", str(tmp_path / "bgr"), "--onnx", opl_onnx, "--no-gt",
                opts=OPL_TINY_OPTS)
    assert (cv2.imread(rgb[0]) == cv2.imread(bgr[0])).all()
    assert [r.getMessage() for r in records if "INPUT.FORMAT" in r.getMessage()] == [
        f"--onnx {opl_onnx}: the graph was exported with INPUT.FORMAT BGR, the config says RGB: feeding BGR images, "
        "as the graph expects"]


@pytest.mark.parametrize("confidence, warned", [("0.0", True), ("0.001", False), ("0.5", False)])
def test_demo_says_when_its_threshold_is_below_the_models(opl_weights, val_files, tmp_path, confidence, warned):
    """The model keeps no box under MODEL.OPL.SCORE_THRESH_TEST: a lower --confidence-threshold drew none of the boxes
    in between, without a word."""
    import logging

    import demo_demo

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("pedet.demo").addHandler(handler)
    try:
        demo_demo.main(["--config-file", OPL_CONFIG, "--confidence-threshold", confidence, "--input", val_files[0],
                        "--output", str(tmp_path / "o"), "--no-gt", "--opts", *OPL_TINY_OPTS, "MODEL.WEIGHTS",
                        opl_weights, "MODEL.OPL.SCORE_THRESH_TEST", "0.001"])
    finally:
        logging.getLogger("pedet.demo").removeHandler(handler)
    messages = [r.getMessage() for r in records if "--confidence-threshold" in r.getMessage()]
    assert messages == (["--confidence-threshold 0.0 is below MODEL.OPL.SCORE_THRESH_TEST 0.001: the model keeps no "
                         "detection under 0.001 (lower MODEL.OPL.SCORE_THRESH_TEST with --opts to see them)"]
                        if warned else [])


@pytest.mark.parametrize("argv,message", [
    (["--input", "a.jpg", "MODEL.WEIGHTS", "m.pth"], "'MODEL.WEIGHTS' looks like a config key: config overrides go "
                                                     "after --opts"),
    (["--input", "a.jpg", "--confidence-threshold", "1.5"], "--confidence-threshold 1.5: a score threshold in [0, 1]"),
    (["--input", "a.jpg", "--confidence-threshold", "-0.1"], "a score threshold in [0, 1]"),
    (["--input", "a.jpg", "--gt-dataset", "x", "--no-gt"], "--gt-dataset and --no-gt contradict each other"),
    (["--input", "a.jpg", "--onnx", "missing.onnx"], "--onnx missing.onnx: no such file"),
    (["--video-input", "missing.mp4"], "--video-input missing.mp4: no such file"),
    (["--input", "a.jpg", "--video-input", "v.mp4"], "give exactly one of --input and --video-input"),
    ([], "give exactly one of --input and --video-input"),
    (["--input", "a.jpg", "--opts", "MODEL.WEIGHTS"], "--opts needs KEY VALUE pairs, got 1 items"),
    # 21st trial: LazyConfig's key=value was told "got 1 items" (one item) or "Non-existent key: MODEL.DEVICE=cpu"
    (["--input", "a.jpg", "--opts", "MODEL.WEIGHTS=m.pth"], "--opts: config override MODEL.WEIGHTS=m.pth: KEY=VALUE "
                                                            "is the LazyConfig syntax"),
    (["--input", "a.jpg", "--opts", "MODEL.DEVICE=cpu", "MODEL.WEIGHTS=m.pth"], "e.g. MODEL.DEVICE cpu"),
])
def test_demo_rejects_bad_arguments_in_one_line(capsys, argv, message):
    import demo_demo

    with pytest.raises(SystemExit) as e:
        demo_demo.main(["--config-file", OPL_CONFIG, *argv])
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and message in err[0], err


def test_demo_opts_stop_input_and_unknown_gt_dataset_is_an_error(capsys):
    import demo_demo

    args = demo_demo.get_parser().parse_args(["--config-file", OPL_CONFIG, "--input", "a.jpg", "b.jpg", "--opts",
                                              "MODEL.WEIGHTS", "m.pth"])
    assert args.input == ["a.jpg", "b.jpg"] and args.opts == ["MODEL.WEIGHTS", "m.pth"]
    with pytest.raises(SystemExit) as e:
        demo_demo.main(["--config-file", OPL_CONFIG, "--input", "a.jpg", "--gt-dataset", "synthetic_crowd_vall"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--gt-dataset 'synthetic_crowd_vall' is not a registered data set" in err and "Traceback" not in err


def test_demo_names_files_it_cannot_use(tmp_path, capsys):
    import demo_demo

    text = tmp_path / "notimage.jpg"
    text.write_text("hello\n")
    with pytest.raises(SystemExit) as e:  # an existing file as the output folder: parser error, before any model
        demo_demo.main(["--config-file", OPL_CONFIG, "--input", str(text), "--output", str(text)])
    assert e.value.code == 2 and f"--output {text}: an existing file" in capsys.readouterr().err
    with pytest.raises(demo_demo.InputError, match=f"--input {text}: not an image OpenCV can read"):
        _demo("--input", str(text), "--output", str(tmp_path / "out"), opts=OPL_TINY_OPTS)  # was a ValueError
    with pytest.raises(demo_demo.InputError, match=f"--onnx {text}: ONNX Runtime cannot load it"):
        _demo("--input", str(text), "--onnx", str(text), opts=OPL_TINY_OPTS)  # was InvalidProtobuf's traceback
    with pytest.raises(demo_demo.InputError, match=f"--video-input {text}: not a video OpenCV can read"):
        _demo("--video-input", str(text), "--output", str(tmp_path / "v"), opts=OPL_TINY_OPTS)


def test_demo_writes_an_image_without_extension_as_jpeg(val_files, tmp_path):
    import shutil

    plain = tmp_path / "frame"  # OpenCV has no writer for a name without extension (was a cv2.error)
    shutil.copy(val_files[0], plain)
    written = _demo("--input", str(plain), "--output", str(tmp_path / "out"), opts=OPL_TINY_OPTS)
    assert written == [str(tmp_path / "out" / "frame.jpg")] and cv2.imread(written[0]) is not None
