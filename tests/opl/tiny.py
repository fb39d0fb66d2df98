"""Helpers of the OPL tests: a tiny config (slim ResNet, 32 FPN channels, 1 tower conv) and hand-made Instances."""
import os
from typing import Sequence

import pedet  # noqa: F401
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

import opl

CONFIG_DIR = os.path.join(os.path.dirname(opl.__file__), "..", "configs")

# Small enough for CPU unit tests; keeps every OPL switch of the loaded config as it is. The ResNet is a slim R-50
# (16 stem/res2 channels, bottleneck width 4): it builds 3x faster than R-18, whose res2 width d2 pins at 64.
TINY_OVERRIDES = [
    "MODEL.WEIGHTS", "",
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.DEPTH", 50,
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 16,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 4,
    "MODEL.RESNETS.NUM_GROUPS", 1,
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.BACKBONE.FREEZE_AT", 0,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.OPL.GN_NUM_GROUPS", 8,
    "MODEL.OPL.NUM_CONVS", 1,
    "MODEL.OPL.CPN_CONV_KERNEL", 1,
]


def tiny_cfg(config_file: str = "Base-OPL.yaml", extra: Sequence = ()):
    """get_cfg + pedet/opl keys + the yaml under projects/OPL/configs + TINY_OVERRIDES + extra."""
    cfg = get_cfg()
    try:
        from pedet.config import add_pedet_config

        add_pedet_config(cfg)
    except ImportError:  # the data helper's module; the model falls back to "drop"
        pass
    opl.add_opl_config(cfg)
    cfg.merge_from_file(os.path.join(CONFIG_DIR, config_file))
    cfg.merge_from_list(list(TINY_OVERRIDES) + list(extra))
    return cfg


def tiny_model(config_file: str = "Base-OPL.yaml", extra: Sequence = ()):
    return build_model(tiny_cfg(config_file, extra))


def instances(h: int, w: int, boxes, classes) -> Instances:
    """Instances((h, w)) with gt_boxes (XYXY) and gt_classes (-1 = ignore box)."""
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.as_tensor(classes, dtype=torch.long).reshape(-1)
    return inst


def image_batch(specs, h: int = 64, w: int = 96):
    """[(boxes, classes), ...] -> detectron2 model inputs with random uint8-valued images of size (h, w)."""
    return [
        {"image": torch.randint(0, 256, (3, h, w)).float(), "instances": instances(h, w, b, c), "height": h,
         "width": w}
        for b, c in specs
    ]


def crowd_boxes(n: int, h: int, w: int, seed: int = 0, min_size: float = 2.0, max_size: float = 30.0):
    """n random person-like boxes inside an (h, w) image, some smaller than the stride 8."""
    g = torch.Generator().manual_seed(seed)
    size = min_size + torch.rand(n, 2, generator=g) * (max_size - min_size)
    x0 = torch.rand(n, generator=g) * (w - size[:, 0])
    y0 = torch.rand(n, generator=g) * (h - size[:, 1])
    return torch.stack([x0, y0, x0 + size[:, 0], y0 + size[:, 1]], dim=1)
