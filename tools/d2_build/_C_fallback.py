"""
Pure-Python stand-in for Detectron2's compiled ``detectron2._C`` extension.

It is installed as ``detectron2/_C.py`` *only* into the pure-Python wheel that ``tools/setup_env.sh`` builds
from the ``pb1-detectron2==0.6`` sdist (which ships no C++ sources). An official Detectron2 build has its own
compiled ``_C`` and never receives this file, so it can never shadow a real extension. pedet, opl and reploss do
not import it and do not depend on it.

What it provides:
  * ``get_compiler_version``, ``get_cuda_version``, ``has_cuda``: read by ``collect_env_info`` / ``default_setup``.
  * ``deform_conv_forward``: through ``torchvision.ops.deform_conv2d`` (Detectron2 already uses it on CPU).
  * ``box_iou_rotated`` and the ``torch.ops.detectron2.nms_rotated`` operator: plain PyTorch (see below).
Every other op (rotated ROIAlign, deformable-conv backward, the fast COCOeval) raises an error that names the op
and says how to get a compiled build.
"""
import math

import torch

__all__ = ["get_compiler_version", "get_cuda_version", "has_cuda", "box_iou_rotated", "deform_conv_forward"]

_HOW_TO = (
    "This detectron2 is pedet's pure-Python build of v0.6 (PyPI sdist pb1-detectron2, no C++ sources). "
    "Build Detectron2 from source with its compiled ops (https://detectron2.readthedocs.io/en/latest/"
    "tutorials/install.html) and `pip install -e .` pedet into that environment instead."
)


def get_compiler_version() -> str:
    return "none (pedet pure-Python detectron2 build)"


def get_cuda_version() -> str:
    return "none"


def has_cuda() -> bool:
    return False


def _rotated_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 5) XYWHA boxes (angle in degrees, counter-clockwise) -> (N, 4, 2) corners, counter-clockwise."""
    cx, cy, w, h, a = boxes.unbind(-1)
    theta = a * (math.pi / 180.0)
    cos, sin = torch.cos(theta), torch.sin(theta)
    dx = torch.stack([-w, w, w, -w], dim=-1) / 2
    dy = torch.stack([-h, -h, h, h], dim=-1) / 2
    # Detectron2's convention: y axis down, positive angle = counter-clockwise on screen
    xs = cx[:, None] + dx * cos[:, None] + dy * sin[:, None]
    ys = cy[:, None] - dx * sin[:, None] + dy * cos[:, None]
    return torch.stack([xs, ys], dim=-1)


def _polygon_area(poly: torch.Tensor) -> float:
    """Shoelace area of one (K, 2) polygon."""
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * (x * torch.roll(y, -1) - torch.roll(x, -1) * y).sum().abs())


def _clip_convex(subject: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    """Sutherland-Hodgman clip of one convex polygon by another, both (K, 2) counter-clockwise -> (M, 2)."""
    out = subject
    for i in range(clip.shape[0]):
        if out.shape[0] == 0:
            break
        a, b = clip[i], clip[(i + 1) % clip.shape[0]]
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])  # >= 0: inside (left of edge)
        nxt_pts = torch.roll(out, -1, 0)
        nxt_side = torch.roll(side, -1, 0)
        pts = []
        for p, q, sp, sq in zip(out, nxt_pts, side.tolist(), nxt_side.tolist()):
            if sp >= 0:
                pts.append(p)
            if (sp >= 0) != (sq >= 0):
                t = sp / (sp - sq)
                pts.append(p + t * (q - p))
        out = torch.stack(pts) if pts else out.new_zeros((0, 2))
    return out


def box_iou_rotated(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """
    IoU of rotated boxes, the semantics of Detectron2's compiled ``box_iou_rotated``.

    Args:
        boxes1: (N, 5) XYWHA, angle in degrees.
        boxes2: (M, 5) XYWHA.
    Returns:
        (N, M) float32 IoU. A Python loop over pairs: correct but slow; a compiled build is much faster.
    """
    b1, b2 = boxes1.detach().double().cpu(), boxes2.detach().double().cpu()
    out = torch.zeros((b1.shape[0], b2.shape[0]), dtype=torch.float64)
    if out.numel() == 0:
        return out.float().to(boxes1.device)
    c1, c2 = _rotated_corners(b1), _rotated_corners(b2)
    area1 = (b1[:, 2] * b1[:, 3]).tolist()
    area2 = (b2[:, 2] * b2[:, 3]).tolist()
    for i in range(b1.shape[0]):
        for j in range(b2.shape[0]):
            if area1[i] <= 0 or area2[j] <= 0:
                continue
            inter_poly = _clip_convex(c1[i], c2[j])
            if inter_poly.shape[0] < 3:
                continue
            inter = _polygon_area(inter_poly)
            out[i, j] = inter / max(area1[i] + area2[j] - inter, 1e-12)
    return out.float().to(boxes1.device)


def _nms_rotated(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS over rotated boxes: indices kept, in decreasing score order (as the compiled op)."""
    order = torch.argsort(scores, descending=True, stable=True)
    iou = box_iou_rotated(dets[order], dets[order])
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i].cpu() > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def _register_nms_rotated() -> None:
    # detectron2/layers/nms.py calls torch.ops.detectron2.nms_rotated, which the compiled _C registers.
    if hasattr(torch.ops, "detectron2") and hasattr(torch.ops.detectron2, "nms_rotated"):
        return
    lib = torch.library.Library("detectron2", "DEF")
    lib.define("nms_rotated(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms_rotated", _nms_rotated, "CompositeExplicitAutograd")
    globals()["_LIBRARY"] = lib  # keep the registration alive


try:
    _register_nms_rotated()
except RuntimeError:  # already registered by another copy in this process
    pass


def deform_conv_forward(
    input, weight, offset, output, columns, ones, kW, kH, dW, dH, padW, padH, dilW, dilH, group, deformable_group,
    im2col_step,
):
    """Forward of DeformConv through ``torchvision.ops.deform_conv2d``; writes into ``output`` as _C does."""
    import torchvision

    if group != 1:
        raise NotImplementedError(f"detectron2._C.deform_conv_forward with groups={group}: {_HOW_TO}")
    out = torchvision.ops.deform_conv2d(
        input, offset, weight, stride=(dH, dW), padding=(padH, padW), dilation=(dilH, dilW)
    )
    output.resize_(out.shape).copy_(out)
    return output


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(f"detectron2._C.{name} is a compiled op that is not available. {_HOW_TO}")
