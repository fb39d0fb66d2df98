"""
Fourth bad-input trial, model side (issue 11), and what the config checks cost: the projects' checks build the
backbone once, model_best.pth survives --resume. Parametrised config cases that fit the third trial's checks are in
its tables (tests/pedet/test_bad_input_third_model.py); this file holds the new kinds of checks.
"""
import os

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import BACKBONE_REGISTRY

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)
from pedet.config import add_pedet_config

from opl import add_opl_config
from opl.config import check_opl_config
from reploss import add_reploss_config
from reploss.config import check_reploss_config

from ..scripts import OPL_TINY, TINY_DEMO_OPTS, fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_BASE = os.path.join(REPO, "projects", "OPL", "configs", "Base-OPL.yaml")
REPLOSS_BASE = os.path.join(REPO, "projects", "RepLoss", "configs", "Base-RCNN-FPN-Ped.yaml")


def _cfg(base, *opts):
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(base)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


@pytest.mark.parametrize("base, check", [(OPL_BASE, check_opl_config), (REPLOSS_BASE, check_reploss_config)])
def test_project_config_check_builds_the_backbone_once(monkeypatch, base, check):
    cfg = _cfg(base)
    name, built = cfg.MODEL.BACKBONE.NAME, []
    builder = BACKBONE_REGISTRY.get(name)

    def counting_builder(*args, **kwargs):
        built.append(name)
        return builder(*args, **kwargs)

    monkeypatch.setitem(BACKBONE_REGISTRY._obj_map, name, counting_builder)
    check(cfg)  # the heads' IN_FEATURES are read from the model's backbone; was built twice (alone, then in the model)
    assert built == [name]


def test_none_is_kept_where_detectron2_takes_it(tmp_path):
    """MODEL.WEIGHTS None means no weights (the checkpointer starts from scratch), a switch None is off (Detectron2
    reads them by truth value), and keys whose default is None (SOLVER.WEIGHT_DECAY_BIAS, DATASETS.SELECTION_HOLDOUT)
    take None: not refused with the other keys' None."""
    from pedet.config import merge_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    merge_config(cfg, OPL_BASE, ["MODEL.WEIGHTS", "None", "SOLVER.WEIGHT_DECAY_BIAS", "None",
                                 "DATASETS.SELECTION_HOLDOUT", "None", "INPUT.CROP.ENABLED", "None"])
    assert cfg.MODEL.WEIGHTS is None and cfg.SOLVER.WEIGHT_DECAY_BIAS is None


# ------------------------------------------------------------------ launch: more GPUs than visible
def test_more_gpus_than_visible_is_one_line(monkeypatch, capsys):
    """--num-gpus 2 with one visible CUDA GPU: each worker failed an assert (a traceback per process)."""
    import argparse

    import torch

    from pedet.engine.launch import check_launch_args

    monkeypatch.delenv("PEDET_DIST_BACKEND", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    args = argparse.Namespace(num_gpus=2, num_machines=1, machine_rank=0, dist_url="auto")
    with pytest.raises(SystemExit) as e:
        check_launch_args(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --num-gpus 2: only 1 CUDA GPUs are visible here") and err.count("\n") == 1, err
    monkeypatch.setenv("PEDET_DIST_BACKEND", "gloo")  # CPU processes: any number
    check_launch_args(args)


# ------------------------------------------------------------------ demo: images it cannot use
DEMO_OPTS = ["--opts", *TINY_DEMO_OPTS]


def _jpeg(path, fraction=1.0):
    import cv2
    import numpy as np

    ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    path.write_bytes(data.tobytes()[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("make, expected", [
    # OpenCV decoded it into a partly grey image with only libjpeg's "Premature end of JPEG file" on stderr
    (lambda d: _jpeg(d / "cut.jpg", 0.9), "{p}: truncated or damaged image (image file is truncated"),
    # Pillow's resize to a side of 0 pixels: "ValueError: height and width must be > 0"
    (lambda d: _write_image(d / "thin.png", (1, 2000)), "{p}: 2000x1 pixels (width x height): resized to "
                                                        "INPUT.MIN_SIZE_TEST 64 / MAX_SIZE_TEST 96 a side would be 0"),
    # were "matches no file" and "not an image OpenCV can read" without a hint
    (lambda d: d, "{p}: a directory; give image files or a glob pattern (e.g. '{p}/*.jpg')"),
    (lambda d: _write_bytes(d / "clip.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64)),
     "{p}: not an image OpenCV can read; for a video use --video-input"),
    # 21st trial: 'dir/*' over two images and a sub-folder was "matches no file"
    (lambda d: _images_and_a_folder(d), "'{p}' matches 1 folder(s) ("),
])
def test_demo_names_images_it_cannot_use(tmp_path, make, expected):
    demo = fresh_script("demo/demo.py", "fourth_trial_demo")
    path = make(tmp_path)
    with pytest.raises(demo.InputError) as e:
        demo.main(["--config-file", OPL_TINY, "--input", str(path), "--output", str(tmp_path / "out"), *DEMO_OPTS])
    assert str(e.value).startswith("--input " + expected.format(p=path)), str(e.value)


def _images_and_a_folder(folder):
    _write_image(folder / "a.png", (64, 64))
    _write_image(folder / "b.png", (64, 64))
    (folder / "sub").mkdir()
    return str(folder / "*")


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _write_image(path, shape):
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.zeros((*shape, 3), np.uint8))
    return path


def test_demo_warns_when_the_named_gt_dataset_has_no_record_of_an_image(tmp_path, caplog):
    """--gt-dataset names the set whose ground truth to draw; an image outside it was drawn bare, silently."""
    import logging

    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.crowdhuman import register_crowdhuman

    name = "fourth_trial_gt"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    root = os.path.join(REPO, "tests", "fixtures", "crowdhuman", "CrowdHuman")
    register_crowdhuman(name, os.path.join(root, "annotation_val.odgt"), os.path.join(root, "Images"))
    demo = fresh_script("demo/demo.py", "fourth_trial_demo")
    image = _jpeg(tmp_path / "elsewhere.jpg")
    demo_logger = logging.getLogger("pedet.demo")
    demo_logger.addHandler(caplog.handler)  # the demo's setup_logger(name="pedet") stops the propagation to root
    try:
        demo.main(["--config-file", OPL_TINY, "--input", str(image), "--gt-dataset", name, "--output",
                   str(tmp_path / "out"), *DEMO_OPTS])
    finally:
        demo_logger.removeHandler(caplog.handler)
    assert f"--gt-dataset {name}: 1 of 1 images are not in it and are drawn without ground truth (e.g. {image})" \
        in caplog.text


# ------------------------------------------------------------------ the mapper: a very thin image
def test_mapper_names_an_image_the_resize_would_make_empty(tmp_path):
    from detectron2.data import transforms as T

    from pedet.data.common import DatasetFormatError
    from pedet.data.mapper import PedestrianDatasetMapper

    path = _write_image(tmp_path / "thin.png", (1, 2000))
    record = {"file_name": str(path), "image_id": "thin", "height": 1, "width": 2000, "annotations": []}
    mapper = PedestrianDatasetMapper(False, augmentations=[T.ResizeShortestEdge(64, 96)], image_format="BGR")
    with pytest.raises(DatasetFormatError, match=r"image '.*thin.png' \(image_id 'thin'\): 2000x1 pixels \(width x "
                                                 r"height\) cannot be augmented \(height and width must be > 0"):
        mapper(record)  # was Pillow's ValueError, without the file, from a DataLoader worker


# ------------------------------------------------------------------ export: a tracing input too large for memory
def test_export_tracing_input_out_of_memory_is_one_line(tmp_path, capsys):
    export = fresh_script("tools/export.py", "fourth_trial_export")
    with pytest.raises(SystemExit) as e:  # was "RuntimeError: [enforce fail at alloc_cpu.cpp] ... can't allocate"
        export.main(["--config-file", OPL_TINY, "--output", str(tmp_path / "m.onnx"), "--height", "100000",
                     "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1"])
    assert e.value.code == 2 and not (tmp_path / "m.onnx").exists()
    err = [x for x in capsys.readouterr().err.splitlines() if "error:" in x]
    assert len(err) == 1 and err[0].endswith("error: --height 100000 / --width 0: tracing the model at this size runs "
                                             "out of memory; give a smaller tracing input"), err


# ------------------------------------------------------------------ main job: the overrides before any work
@pytest.mark.parametrize("opts, message", [
    (["SOLVER.MAX_ITER", "ten"], "error: config override: SOLVER.MAX_ITER must be of type int (default 900), got the "
                                 "str ten"),
    (["SOLVER.BASE_LR", "-1.0"], "error: config: SOLVER.BASE_LR -1.0: must be a finite number >= 0"),
    (["MODEL.OPL.NOT_A_KEY", "1"], "error: config override: Non-existent key: MODEL.OPL.NOT_A_KEY"),
])
def test_main_job_checks_the_training_config_before_any_work(monkeypatch, tmp_path, opts, message):
    """Were refused by train_net.py only after the data generation and the backbone pre-training (minutes)."""
    import sys

    main_job = fresh_script("tools/main_job.py", "fourth_trial_main_job")

    def no_work():
        raise AssertionError("the work started")

    monkeypatch.setattr(main_job, "prepare_data", no_work)
    monkeypatch.setattr(sys, "argv", ["main_job.py", "--output", str(tmp_path / "out"), *opts])
    with pytest.raises(SystemExit) as e:
        main_job.main()
    assert e.value.code == message


# ------------------------------------------------------------------ demo / export: files that are not theirs to use
def test_demo_refuses_an_onnx_graph_that_is_not_an_opl_export(tmp_path):
    """A graph with other inputs (e.g. a Faster R-CNN export, input 'image'): was onnxruntime's ValueError on the
    first image ("Required inputs (['image']) are missing from input feed (['images'])")."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["boxes"])], "other",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [3, None, None])],
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [3, None, None])])
    path = tmp_path / "rcnn.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what opset 17 needs; onnx's newest IR may be ahead of onnxruntime
    onnx.save(model, str(path))
    demo = fresh_script("demo/demo.py", "fourth_trial_demo")
    expected = (r"--onnx .*rcnn.onnx: not an OPL export graph of tools/export.py \(inputs \['image'\], outputs "
                r"\['boxes'\]; expected the input 'images'")
    with pytest.raises(demo.InputError, match=expected):
        demo.main(["--config-file", OPL_TINY, "--input", str(_jpeg(tmp_path / "a.jpg")), "--onnx", str(path),
                   *DEMO_OPTS])


def test_demo_refuses_to_overwrite_its_input_images(tmp_path):
    demo = fresh_script("demo/demo.py", "fourth_trial_demo")
    image = _jpeg(tmp_path / "a.jpg")
    before = image.read_bytes()
    with pytest.raises(demo.InputError, match=f"--output {tmp_path}: would overwrite the input image {image}"):
        demo.main(["--config-file", OPL_TINY, "--input", str(image), "--output", str(tmp_path), *DEMO_OPTS])
    assert image.read_bytes() == before  # was replaced by the annotated image, silently


def test_export_refuses_to_overwrite_its_config_or_weights(tmp_path, capsys):
    import shutil

    export = fresh_script("tools/export.py", "fourth_trial_export2")
    config = tmp_path / "c.yaml"
    config.write_text(f"_BASE_: {OPL_TINY}\n")
    weights = tmp_path / "w.pth"
    shutil.copy(config, weights)  # any file: the check comes before it is loaded
    for argv, message in [(["--output", str(config)], f"--output {config}: is the config file"),
                          (["--output", str(weights), "--format", "torchscript", "MODEL.WEIGHTS", str(weights)],
                           f"--output {weights}: is MODEL.WEIGHTS")]:
        with pytest.raises(SystemExit) as e:  # both were overwritten by the exported graph, silently
            export.main(["--config-file", str(config), *argv])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert config.read_text() == f"_BASE_: {OPL_TINY}\n" == weights.read_text()
