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


class ConversionError(ValueError):
    """An input this command cannot convert (named with what is wrong): one line on stderr, exit status 1."""


def check_torchvision_resnet(state, path: str) -> None:
    """ConversionError unless `state` is a torchvision ResNet state dict (tensors under conv1.*, bn1.*, layerN.*)."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path}: holds {type(state).__name__ if not isinstance(state, dict) else 'a dict'} "
                              "that is not a state dict of tensors (a torchvision ResNet .pth is one)")
    if "conv1.weight" not in state or not any(k.startswith("layer1.") for k in state):
        d2 = any(k.startswith(("stem.", "backbone.", "res2.")) for k in state)
        raise ConversionError(f"{path}: not a torchvision ResNet state dict (no conv1.weight / layer1.*)"
                              + ("; it is in Detectron2's layout already: give it to MODEL.WEIGHTS as it is" if d2
                                 else f"; its first keys: {list(state)[:3]}"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="torchvision .pth state dict")
    ap.add_argument("output", help="output .pkl for MODEL.WEIGHTS")
    args = ap.parse_args(argv)
    from pedet.engine import load_checkpoint_file
    from pedet.utils.file_io import same_file

    if same_file(args.input, args.output):  # the input would be replaced by the converted file
        ap.error(f"the output is the input file ({args.output}); give another path")
    state = load_checkpoint_file(args.input)  # missing, damaged or not weights-only: one line (pedet.engine)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    check_torchvision_resnet(state, args.input)
    with atomic_open(args.output, "wb") as f:
        pickle.dump({"model": torchvision_to_d2(state), "__author__": "torchvision", "matching_heuristics": True}, f)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    import sys

    from pedet.engine.launch import one_line_errors
    from pedet.utils.file_io import describe_os_error

    try:
        with one_line_errors(ConversionError):  # a missing / damaged input, not a torchvision ResNet
            main()
    except OSError as e:  # the output cannot be written (a full disk, a folder in its place)
        if e.filename is None:
            raise
        sys.exit(f"error: {describe_os_error(e)}")
