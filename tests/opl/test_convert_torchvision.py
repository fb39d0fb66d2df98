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
