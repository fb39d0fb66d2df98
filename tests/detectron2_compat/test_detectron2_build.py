"""
The Detectron2 v0.6 environment that tools/setup_env.sh builds: every subpackage imports (also in spawned
DataLoader workers), the pure-Python stand-in for ``detectron2._C`` provides what torchvision / plain PyTorch can
and names every other op, and our own packages never depend on the stand-in.
"""
import importlib
import math
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import detectron2

REPO = Path(__file__).resolve().parents[2]

# Modules that cannot import on any current PyTorch, with the reason (documented in the README):
KNOWN_UNIMPORTABLE = {
    # needs caffe2, which PyTorch no longer ships (the one allowed exception)
    "detectron2.export": "caffe2",
    # imports detectron2.export
    "detectron2.utils.analysis": "caffe2",
    # an upstream optional dependency that exists only on GitHub, not on PyPI
    "detectron2.projects.panoptic_deeplab": "panopticapi",
}

_C = importlib.import_module("detectron2._C")
IS_FALLBACK = getattr(_C, "__file__", "").endswith(".py")
needs_fallback = pytest.mark.skipif(not IS_FALLBACK, reason="an official compiled detectron2._C is installed")


def _all_detectron2_modules():
    names = []
    for info in pkgutil.walk_packages(detectron2.__path__, "detectron2.", onerror=lambda name: None):
        names.append(info.name)
    return names


def test_every_detectron2_module_imports_except_the_documented_ones():
    names = _all_detectron2_modules()
    assert len(names) > 100  # the whole package was walked, not an empty namespace
    failures = {}
    for name in names:
        if any(name == k or name.startswith(k + ".") for k in KNOWN_UNIMPORTABLE):
            continue
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - collect them all for one readable failure
            failures[name] = repr(e)
    assert failures == {}


@pytest.mark.parametrize("name,reason", sorted(KNOWN_UNIMPORTABLE.items()))
def test_documented_exceptions_fail_for_the_documented_reason(name, reason):
    try:
        importlib.import_module(name)
    except ImportError as e:
        assert reason in str(e)
    else:  # e.g. a user environment that has caffe2 or panopticapi: nothing to check
        pytest.skip(f"{name} imports in this environment")


def test_model_zoo_configs_are_packaged():
    from detectron2 import model_zoo

    cfg = model_zoo.get_config("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
    assert cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN"
    assert os.path.isfile(model_zoo.get_config_file("COCO-Detection/fcos_R_50_FPN_1x.py"))


def test_distribution_is_visible_to_pip_metadata():
    import importlib.metadata as md

    if IS_FALLBACK:
        dist = md.distribution("pb1-detectron2")
        assert dist.version == "0.6"
        files = {str(f) for f in dist.files}
        assert "detectron2/_C.py" in files  # uninstall removes the stand-in with the package
        assert not any(f.startswith("tools/") for f in files)  # no stray top-level package


class _ImportsInWorker(torch.utils.data.Dataset):
    """Each item imports the detectron2 modules that need ``_C`` at import time, inside the worker."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        import detectron2.evaluation  # noqa: F401  (fast_eval_api: `from detectron2 import _C`)
        import detectron2.layers  # noqa: F401  (rotated_boxes, roi_align_rotated, deform_conv)
        import detectron2.modeling  # noqa: F401

        return torch.tensor(i)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_detectron2_imports_in_spawned_dataloader_workers(start_method):
    loader = torch.utils.data.DataLoader(
        _ImportsInWorker(), batch_size=1, num_workers=1, multiprocessing_context=start_method
    )
    assert [int(x) for x in loader] == [0, 1]


@needs_fallback
def test_fallback_reports_itself_to_collect_env():
    from detectron2.utils.collect_env import collect_env_info

    assert _C.has_cuda() is False
    assert "pure-Python" in _C.get_compiler_version()
    assert "detectron2" in collect_env_info()


@needs_fallback
def test_fallback_unknown_op_names_the_op_and_the_remedy():
    with pytest.raises(NotImplementedError, match=r"roi_align_rotated_forward.*Build Detectron2 from source"):
        _C.roi_align_rotated_forward  # noqa: B018


@needs_fallback
def test_fallback_box_iou_rotated_axis_aligned_equals_plain_iou():
    from detectron2.structures import Boxes, RotatedBoxes, pairwise_iou, pairwise_iou_rotated

    # two 4x2 boxes offset by 2 in x: intersection 2*2 = 4, union 8 + 8 - 4 = 12 -> 1/3
    r = RotatedBoxes(torch.tensor([[2.0, 1.0, 4.0, 2.0, 0.0], [4.0, 1.0, 4.0, 2.0, 0.0]]))
    a = Boxes(torch.tensor([[0.0, 0.0, 4.0, 2.0], [2.0, 0.0, 6.0, 2.0]]))
    got = pairwise_iou_rotated(r, r)
    assert torch.allclose(got, pairwise_iou(a, a), atol=1e-6)
    assert math.isclose(float(got[0, 1]), 1 / 3, rel_tol=1e-6)


@needs_fallback
def test_fallback_box_iou_rotated_45_degrees():
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated

    # unit-diagonal square rotated by 45 deg inside a 2x2 square at the same centre: the rotated square of side
    # sqrt(2) has its corners on the edges of the 2x2 one, so it lies inside: inter = 2, union = 4 -> 0.5
    boxes = RotatedBoxes(torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.0], [0.0, 0.0, math.sqrt(2), math.sqrt(2), 45.0]]))
    assert math.isclose(float(pairwise_iou_rotated(boxes, boxes)[0, 1]), 0.5, rel_tol=1e-5)


@needs_fallback
def test_fallback_nms_rotated_through_detectron2_layers():
    from detectron2.layers import batched_nms_rotated

    boxes = torch.tensor([[10.0, 10, 8, 4, 30], [10.5, 10, 8, 4, 30], [40.0, 40, 8, 4, -20]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = batched_nms_rotated(boxes, scores, torch.zeros(3, dtype=torch.long), 0.5)
    assert keep.tolist() == [0, 2]  # box 1 overlaps box 0 with IoU ~0.88 > 0.5


@needs_fallback
def test_fallback_deform_conv_forward_matches_plain_conv_at_zero_offset():
    from detectron2.layers import DeformConv

    conv = DeformConv(3, 4, kernel_size=3, padding=1, bias=False)
    x = torch.randn(1, 3, 5, 6)
    offset = torch.zeros(1, 18, 5, 6)
    expected = torch.nn.functional.conv2d(x, conv.weight, padding=1)
    assert torch.allclose(conv(x, offset), expected, atol=1e-5)


def test_our_packages_never_touch_the_stand_in():
    pattern = re.compile(r"detectron2\._C|from detectron2 import _C|_C_fallback")
    offenders = []
    for pkg in ("pedet", "projects"):
        for path in (REPO / pkg).rglob("*.py"):
            if pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_pillow_alias_is_only_added_when_missing():
    code = "import PIL.Image as I; had = hasattr(I, 'LINEAR'); import pedet; print(had, I.LINEAR == I.BILINEAR)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "True"
