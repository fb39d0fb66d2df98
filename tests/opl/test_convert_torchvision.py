"""The torchvision -> Detectron2 ResNet converter produces weights that load into d2's ResNet-18 unchanged."""
import importlib.util
import os
import pickle

import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone.resnet import build_resnet_backbone

from .tiny import CONFIG_DIR, tiny_cfg

SCRIPT = os.path.join(CONFIG_DIR, "..", "tools", "convert_torchvision_resnet.py")


def test_converted_resnet18_loads_into_detectron2(tmp_path):
    spec = importlib.util.spec_from_file_location("convert_torchvision_resnet", SCRIPT)
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    tv = torchvision.models.resnet18(weights=None)
    src, dst = tmp_path / "r18.pth", tmp_path / "r18.pkl"
    torch.save(tv.state_dict(), src)
    conv.main([str(src), str(dst)])
    with open(dst, "rb") as f:
        model_dict = pickle.load(f)["model"]
    assert "stem.conv1.weight" in model_dict and "res2.0.conv1.norm.running_mean" in model_dict
    assert "res3.0.shortcut.weight" in model_dict and not any(k.startswith("fc") for k in model_dict)
    cfg = tiny_cfg(extra=["MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64,
                          "MODEL.RESNETS.STEM_OUT_CHANNELS", 64, "MODEL.RESNETS.NORM", "FrozenBN"])
    resnet = build_resnet_backbone(cfg, ShapeSpec(channels=3))
    wrapper = torch.nn.Module()
    wrapper.backbone = torch.nn.Module()
    wrapper.backbone.bottom_up = resnet
    DetectionCheckpointer(wrapper).load(str(dst))
    torch.testing.assert_close(resnet.stem.conv1.weight, tv.conv1.weight)
    torch.testing.assert_close(resnet.res5[1].conv2.norm.running_var, tv.layer4[1].bn2.running_var)
    torch.testing.assert_close(resnet.res3[0].shortcut.weight, tv.layer2[0].downsample[0].weight)


def _run(*args):
    """The command as a user runs it: (exit status, stderr)."""
    import subprocess
    import sys

    repo = os.path.abspath(os.path.join(CONFIG_DIR, "..", "..", ".."))
    proc = subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": repo, "PYTHONWARNINGS": "ignore"})
    return proc.returncode, proc.stderr


def test_bad_inputs_are_one_line(tmp_path):
    """A missing file, a text file, a Detectron2 checkpoint and a dict of numbers were tracebacks."""
    d2 = tmp_path / "d2.pth"
    torch.save({"stem.conv1.weight": torch.zeros(1), "res2.0.conv1.weight": torch.zeros(1)}, d2)
    other = tmp_path / "other.pth"
    torch.save({"a": 1}, other)
    (tmp_path / "notes.txt").write_text("hello")
    for src, message in [
        (tmp_path / "missing.pth", f"error: {tmp_path / 'missing.pth'}: no such checkpoint file"),
        (tmp_path / "notes.txt", f"error: {tmp_path / 'notes.txt'}: not a PyTorch checkpoint"),
        (d2, f"error: {d2}: not a torchvision ResNet state dict (no conv1.weight / layer1.*); it is in Detectron2's "
             "layout already: give it to MODEL.WEIGHTS as it is"),
        (other, f"error: {other}: holds a dict that is not a state dict of tensors"),
    ]:
        rc, err = _run(src, tmp_path / "out.pkl")
        assert rc == 1 and err.startswith(message) and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.pkl").exists()
