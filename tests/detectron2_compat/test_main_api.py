"""
What changed in detectron2 between v0.6 and main that pedet subclasses or calls, checked on whichever is installed:
the FCOS matching API (``FCOS.match_anchors`` on v0.6, ``FCOS._match_anchors`` on main) against our FCOS rule,
backbone padding (``padding_constraints``, main only), checkpoint path queries (main only), and the LR scheduler
state that resume needs. The trainer-level changes (lazy data iterator, DefaultTrainer.state_dict, AMPTrainer) are
in tests/deploy/test_trainer_compat.py.
"""
from types import SimpleNamespace

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.meta_arch.fcos import FCOS
from detectron2.structures import Boxes, Instances

from opl.assigner import fcos_assign
from pedet.engine import PedetCheckpointer
from pedet.engine.checkpoint import CheckpointFileError


def detectron2_fcos_matches(anchors, gt_boxes: torch.Tensor, radius: float) -> torch.Tensor:
    """detectron2's FCOS matching of one image through whichever API the installed version has: (R,) GT or -1."""
    fcos = SimpleNamespace(center_sampling_radius=radius)  # the only attribute the matching reads
    if hasattr(FCOS, "_match_anchors"):  # main: (M, R) quality matrix, then max with a 1e-5 floor (label_anchors)
        quality = FCOS._match_anchors(fcos, Boxes(gt_boxes), anchors)
        value, idx = quality.max(dim=0)
        idx[value < 1e-5] = -1
        return idx
    inst = Instances((1, 1), gt_boxes=Boxes(gt_boxes))  # v0.6: per-image matched indices
    return FCOS.match_anchors(fcos, anchors, [inst])[0]


def test_fcos_rule_equals_detectron2s_fcos_matching():
    # P3-P7 locations of a 512 x 512 input, as OPL's anchor generator makes them (one square anchor = stride each)
    strides = [8, 16, 32, 64, 128]
    gen = DefaultAnchorGenerator(sizes=[[float(s)] for s in strides], aspect_ratios=[1.0], strides=strides, offset=0.5)
    anchors = gen([torch.zeros(1, 1, 512 // s, 512 // s) for s in strides])
    g = torch.Generator().manual_seed(0)
    h = 20 + 480 * torch.rand(60, generator=g)  # persons from 20 to 500 px: every level gets some
    w = 0.41 * h
    x0, y0 = torch.rand(60, generator=g) * (512 - w), torch.rand(60, generator=g) * (512 - h)
    gt = torch.stack([x0, y0, x0 + w, y0 + h], 1)
    all_anchors = Boxes.cat(anchors).tensor
    centers = (all_anchors[:, :2] + all_anchors[:, 2:]) / 2
    ours = fcos_assign(centers, all_anchors[:, 2] - all_anchors[:, 0], [len(a) for a in anchors], gt, radius=1.5)
    theirs = detectron2_fcos_matches(anchors, gt, 1.5)
    assert (theirs >= 0).sum() > 100  # a real comparison, on every level
    assert torch.equal(ours, theirs)


def test_opl_backbone_asks_for_no_square_padding():
    """main's DenseDetector pads by ``backbone.padding_constraints`` as well as ``size_divisibility``; OPL's FPN must
    ask for nothing beyond the divisibility our exporter also uses (opl/export.py pads to size_divisibility only)."""
    from ..opl.tiny import tiny_model

    model = tiny_model()
    constraints = getattr(model.backbone, "padding_constraints", {})  # absent on v0.6
    assert constraints.get("square_size", 0) == 0
    assert constraints.get("size_divisibility", model.backbone.size_divisibility) == model.backbone.size_divisibility
    images = model.preprocess_image([{"image": torch.zeros(3, 100, 150)}])
    d = model.backbone.size_divisibility
    assert tuple(images.tensor.shape[-2:]) == (-(-100 // d) * d, -(-150 // d) * d)


@pytest.mark.skipif(not hasattr(DetectionCheckpointer, "_torch_load"),
                    reason="checkpoint path queries exist on detectron2 main only")
def test_checkpoint_path_query_is_honoured_as_on_main(tmp_path):
    """main's ``load("x.pth?matching_heuristics=True")`` matches parameter names by suffix; PedetCheckpointer overrides
    the file loading main reads the query in, so it must apply it itself."""
    saved = torch.nn.Linear(2, 2)  # keys weight, bias
    PedetCheckpointer(saved, str(tmp_path)).save("m")
    path = str(tmp_path / "m.pth")

    class Renamed(torch.nn.Module):  # keys layer.weight, layer.bias: only the heuristics (suffix match) find them
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

    with pytest.raises(CheckpointFileError, match="none of the model's 2 parameters is in the checkpoint"):
        PedetCheckpointer(Renamed()).load(path)  # without the heuristics no name matches: never a silent no-op load
    matched = Renamed()
    PedetCheckpointer(matched).load(path + "?matching_heuristics=True")
    assert torch.equal(matched.layer.weight, saved.weight)
    with pytest.raises(ValueError, match="Unsupported query"):
        PedetCheckpointer(Renamed()).load(path + "?no_such_option=1")
