"""Fixtures of the deployment tests: a tiny synthetic crowd set (8 train / 6 val images, 128 px) and a seeded tiny OPL."""
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from .runner import PROJECT_DIRS, REPO, TRAIN_SET, VAL_SET, register_tiny_sets  # noqa: F401

OPL_CONFIG = os.path.join(PROJECT_DIRS["opl"], "configs", "opl_R18_synthetic_cpu.yaml")
REPLOSS_CONFIG = os.path.join(PROJECT_DIRS["reploss"], "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
PYTHON = sys.executable

# the tiny OPL config shrunk further (32 FPN channels, 1 tower conv, 128 px) and pointed at the tiny set
OPL_TINY_OPTS = [
    "DATASETS.TRAIN", f"('{TRAIN_SET}',)", "DATASETS.TEST", f"('{VAL_SET}',)",
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "128",
    "INPUT.MAX_SIZE_TEST", "128", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8",
    "MODEL.OPL.NUM_CONVS", "1", "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2",
]
REPLOSS_TINY_OPTS = [
    "DATASETS.TRAIN", f"('{TRAIN_SET}',)", "DATASETS.TEST", f"('{VAL_SET}',)",
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "128",
    "INPUT.MAX_SIZE_TEST", "128", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2",
]


def _load_script(module_name: str, path: str):
    """Import a script (tools/export.py, demo/demo.py: folders without __init__) under a module name."""
    import importlib.util

    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


_load_script("tools_export", os.path.join(REPO, "tools", "export.py"))
_load_script("demo_demo", os.path.join(REPO, "demo", "demo.py"))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> str:
    """Datasets root holding the generated tiny set; registers deploy_crowd_tiny_train/_val in this process."""
    root = str(tmp_path_factory.mktemp("deploy_datasets"))
    register_tiny_sets(root)
    from detectron2.data import DatasetCatalog

    DatasetCatalog.get(VAL_SET)  # generate both splits once, before subprocesses race for them
    DatasetCatalog.get(TRAIN_SET)
    return root


def runner_command(project: str, root: str, train_argv: list, num_procs: int = 1, record: str = "",
                   result: str = "") -> list:
    """Command line of tests/deploy/runner.py (a project's train_net.main under pedet.engine.launch)."""
    cmd = [PYTHON, os.path.join(os.path.dirname(__file__), "runner.py"), "--project", project, "--root", root,
           "--num-procs", str(num_procs)]
    if record:
        cmd += ["--record", record]
    if result:
        cmd += ["--result", result]
    return cmd + ["--", *train_argv]


def subprocess_env() -> dict:
    """Environment of the training subprocesses: one thread each, repository and projects importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([REPO, *PROJECT_DIRS.values(), env.get("PYTHONPATH", "")])
    return env


def eager_detections(model, image: torch.Tensor) -> dict:
    """Eager OPL on one (3, H, W) input (no rescale: height/width = input size) as numpy arrays."""
    with torch.no_grad():
        inst = model([{"image": image}])[0]["instances"]
    return {"boxes": inst.pred_boxes.tensor.numpy(), "scores": inst.scores.numpy(),
            "classes": inst.pred_classes.numpy()}


@pytest.fixture(scope="session")
def val_images(tiny_root):
    """Three synthetic validation images as (3, 128, 128) float BGR tensors."""
    from detectron2.data import DatasetCatalog

    dicts = DatasetCatalog.get(VAL_SET)[:3]
    return [torch.as_tensor(cv2.imread(d["file_name"]).transpose(2, 0, 1).astype("float32")) for d in dicts]


@pytest.fixture(scope="session")
def opl_model(val_images):
    """Seeded tiny OPL, threshold between two distinct scores so that the first image has <= 60 detections (D = 100)."""
    import tools_export
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    cfg = tools_export.setup_cfg(OPL_CONFIG, OPL_TINY_OPTS + ["MODEL.OPL.SCORE_THRESH_TEST", "0.0",
                                                              "TEST.DETECTIONS_PER_IMAGE", "100"])

    model = build_model(cfg).eval()
    scores = eager_detections(model, val_images[0])["scores"]
    levels = np.unique(scores)[::-1]  # a random model has many equal scores (same features, e.g. flat background)
    i = max(j for j in range(len(levels) - 1) if (scores >= levels[j]).sum() <= 60)
    model.test_score_thresh = float(levels[i] + levels[i + 1]) / 2  # between two distinct scores: no tie at the cut
    return model


@pytest.fixture(scope="session")
def opl_weights(opl_model, tmp_path_factory) -> str:
    """opl_model's weights as a checkpoint written by PedetCheckpointer (loaded back weights-only)."""
    from pedet.engine import PedetCheckpointer

    folder = str(tmp_path_factory.mktemp("opl_weights"))
    PedetCheckpointer(opl_model, folder).save("seeded")
    return os.path.join(folder, "seeded.pth")


@pytest.fixture(scope="session")
def opl_onnx(opl_model, opl_weights, tmp_path_factory) -> str:
    """tools/export.py --format onnx of opl_weights with opl_model's threshold (D = 100), verified by the CLI."""
    import tools_export

    path = str(tmp_path_factory.mktemp("opl_onnx") / "export" / "opl.onnx")
    assert tools_export.main(["--config-file", OPL_CONFIG, "--format", "onnx", "--output", path, *OPL_TINY_OPTS,
                              "MODEL.WEIGHTS", opl_weights, "TEST.DETECTIONS_PER_IMAGE", "100",
                              "MODEL.OPL.SCORE_THRESH_TEST", repr(opl_model.test_score_thresh)]) == 0
    return path
