#!/usr/bin/env python
"""
Convert a torchvision ImageNet ResNet checkpoint (``resnet50-*.pth``) to the Detectron2 layout (a ``.pkl`` that
``MODEL.WEIGHTS`` accepts), the same renaming as detectron2's ``tools/convert-torchvision-to-d2.py``:
``conv1/bn1`` -> ``stem.conv1/stem.conv1.norm``, ``layerN`` -> ``res(N+1)``, ``bnK`` -> ``convK.norm``,
``downsample.{0,1}`` -> ``shortcut{,.norm}``; the classifier ``fc`` is dropped.

torchvision models take RGB in [0, 1] normalised by ImageNet mean/std and put the stride in the 3x3 conv, so use:
    INPUT.FORMAT "RGB"  MODEL.PIXEL_MEAN [123.675, 116.280, 103.530]  MODEL.PIXEL_STD [58.395, 57.120, 57.375]
    MODEL.RESNETS.STRIDE_IN_1X1 False   MODEL.WEIGHTS <output>.pkl

    python projects/OPL/tools/convert_torchvision_resnet.py resnet50-0676ba61.pth R-50-torchvision.pkl
"""
import argparse
import pickle
import re
from typing import Dict

import numpy as np
import torch

from pedet.utils.file_io import atomic_open


def torchvision_to_d2(state_dict: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    """Renames torchvision ResNet keys to detectron2's ResNet keys; returns float numpy arrays (fc.* dropped)."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("fc."):
            continue
        k = key if "layer" in key else "stem." + key
        k = re.sub(r"layer(\d)", lambda m: f"res{int(m.group(1)) + 1}", k)
        k = re.sub(r"\bbn(\d)", r"conv\1.norm", k)
        k = k.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")
        out[k] = value.detach().cpu().numpy()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="torchvision .pth state dict")
    ap.add_argument("output", help="output .pkl for MODEL.WEIGHTS")
    args = ap.parse_args(argv)
    state = torch.load(args.input, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    with atomic_open(args.output, "wb") as f:
        pickle.dump({"model": torchvision_to_d2(state), "__author__": "torchvision", "matching_heuristics": True}, f)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
