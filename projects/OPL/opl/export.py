"""
A traceable, NMS-free inference graph of OPL (Song et al., CVPR 2023) for ONNX / TorchScript export.

The module wraps a built ``OPL`` model and computes, with fixed-size tensors only (so that tracing gives one graph for
every batch size and image size):

    normalise ((x - PIXEL_MEAN) / PIXEL_STD) -> zero-pad H, W up to the backbone's size divisibility (128 for P3-P7)
    -> backbone -> head -> S = S_cls * S_cpn (Eq. 2) -> per level: S > SCORE_THRESH_TEST, top TOPK_CANDIDATES_TEST
    -> concatenate levels -> top DETECTIONS_PER_IMAGE -> clip to the (unpadded) input -> no NMS.

These are the steps of ``OPL.forward_inference`` + detectron2's ``detector_postprocess`` at the input resolution, in
the same order, so the outputs equal the eager model's (tests/deploy/test_export.py checks 1e-4).

Shape shorthand: N = images of one batch (same H, W), D = detections per image (TEST.DETECTIONS_PER_IMAGE),
K = classes, L = FPN levels, k = TOPK_CANDIDATES_TEST.

Input:  ``images`` (N, 3, H, W) float32, channels in cfg.INPUT.FORMAT order (BGR for our configs), values 0-255,
        already resized as the test-time ``ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST)`` would (resizing stays
        outside the graph, as in detectron2's DefaultPredictor; see ``preprocess_image``).
Output: ``boxes`` (N, D, 4) float32 XYXY in the input frame (clipped to W, H),
        ``scores`` (N, D) float32 sorted in decreasing order; 0 marks an empty slot (below the score threshold,
        padding when there are fewer than D candidates, or a box that is empty after clipping),
        ``classes`` (N, D) int64 (meaningless where the score is 0),
        ``num_detections`` (N,) int64 = number of slots with score > 0; the valid detections are the first
        ``num_detections[i]`` rows of image i.
Boxes go back to an original image of size (h0, w0) by multiplying x by w0 / W and y by h0 / H (``rescale_boxes``).

Why fixed size: the eager model filters by threshold (data-dependent shapes). Here a below-threshold score becomes 0
instead of being removed, and each level's score vector is padded with k zeros before ``topk(k)`` so that k is a
constant even when a level has fewer than k entries (a traced ``min(k, H_l * W_l * K)`` would freeze the image size).
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .meta_arch import OPL, centerness_scores, final_scores, flatten_levels

__all__ = [
    "OPLExportModule", "OUTPUT_NAMES", "dynamic_axes", "export_example_input", "output_dict", "preprocess_image",
    "rescale_boxes", "valid_detections",
]

OUTPUT_NAMES = ("boxes", "scores", "classes", "num_detections")


class OPLExportModule(nn.Module):
    """Export graph of an ``OPL`` model; shares its parameters (no copy). Call ``.eval()`` on it before tracing."""

    def __init__(self, model: OPL):
        """
        Args:
            model: a built OPL (``nms_on`` must be False: NMS is an ablation switch and is not exported).
        """
        super().__init__()
        if model.nms_on:
            raise ValueError("MODEL.OPL.NMS_ON=True (the NMS ablation) cannot be exported; the export is NMS-free")
        self.backbone, self.head = model.backbone, model.head
        self.head_in_features = list(model.head_in_features)
        self.anchor_generator, self.box2box_transform = model.anchor_generator, model.box2box_transform
        self.num_classes = model.num_classes
        self.size_divisibility = int(model.backbone.size_divisibility)
        self.score_thresh = float(model.test_score_thresh)
        self.topk_candidates = int(model.test_topk_candidates)
        self.max_detections = int(model.max_detections_per_image)
        num_levels = len(self.head_in_features)
        if self.max_detections > num_levels * self.topk_candidates:
            raise ValueError(f"DETECTIONS_PER_IMAGE {self.max_detections} > {num_levels} levels x "
                             f"TOPK_CANDIDATES_TEST {self.topk_candidates}")
        self.register_buffer("pixel_mean", model.pixel_mean.detach().clone().reshape(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", model.pixel_std.detach().clone().reshape(1, -1, 1, 1), False)

    def normalize_and_pad(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) -> (N, 3, H', W') normalised, zero-padded at the bottom/right to multiples of the divisibility
        (detectron2 pads the normalised image with 0, ``ImageList.from_tensors``)."""
        x = (images - self.pixel_mean) / self.pixel_std
        d = self.size_divisibility
        if d <= 1:
            return x
        hw = torch._shape_as_tensor(x)[2:]  # traced as a Shape op, so H, W stay dynamic
        pad = (d - hw % d) % d
        return F.pad(x, [0, pad[1], 0, pad[0]], value=0.0)

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """images (N, 3, H, W) float32 -> (boxes (N, D, 4), scores (N, D), classes (N, D) int64, num_detections (N,))."""
        features = self.backbone(self.normalize_and_pad(images))
        features = [features[f] for f in self.head_in_features]
        pred = self.head(features)
        anchors = self.anchor_generator(features)
        gates = pred["gate_logits"] or [None] * len(features)
        ctrness = pred.get("ctrness_logits") or [None] * len(features)
        per_level = [
            self.level_topk(a.tensor, z, g, d, c)
            for a, z, g, d, c in zip(anchors, pred["cls_logits"][-1], gates, pred["box_deltas"], ctrness)
        ]
        boxes = torch.cat([b for b, _, _ in per_level], dim=1)  # (N, L*k, 4)
        scores = torch.cat([s for _, s, _ in per_level], dim=1)  # (N, L*k)
        classes = torch.cat([c for _, _, c in per_level], dim=1)
        scores, order = scores.topk(self.max_detections, dim=1)  # merge levels, keep D (OPL: no NMS)
        boxes = torch.gather(boxes, 1, order[..., None].expand(-1, -1, 4))
        classes = torch.gather(classes, 1, order)
        return self.clip_and_compact(boxes, scores, classes, torch._shape_as_tensor(images)[2:])

    def level_topk(self, anchors: Tensor, logits: Tensor, gate: Optional[Tensor], deltas: Tensor,
                   ctrness: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """
        One level: S (Eq. 2), threshold -> 0, top k candidates over (location, class), boxes decoded (Eq. 1).

        Args:
            anchors: (HW, 4) stride-sized boxes at the locations.  logits: (N, K, H, W).  gate: (N, 1, H, W) or None.
            deltas: (N, 4, H, W).  ctrness: (N, 1, H, W) FCOS centre-ness logits or None.
        Returns:
            boxes (N, k, 4), scores (N, k) (0 where below the threshold or padding), classes (N, k) int64.
        """
        k, num_classes = self.topk_candidates, self.num_classes
        s = final_scores(flatten_levels([logits], num_classes), None if gate is None else flatten_levels([gate], 1))
        s = centerness_scores(s, None if ctrness is None else flatten_levels([ctrness], 1))
        s = s.flatten(1)  # (N, HW*K), index = location * K + class
        s = torch.where(s > self.score_thresh, s, torch.zeros_like(s))
        s = torch.cat([s, torch.zeros_like(s[:, :1]).expand(-1, k)], dim=1)  # k zero slots keep topk(k) valid
        top, idx = s.topk(k, dim=1)
        loc = torch.div(idx, num_classes, rounding_mode="floor")
        cls = idx - loc * num_classes
        d = flatten_levels([deltas], 4)  # (N, HW, 4)
        n = d.shape[0]
        boxes = self.box2box_transform.apply_deltas(d.float().reshape(-1, 4), anchors.float().repeat(n, 1))
        boxes = boxes.reshape(n, -1, 4)
        boxes = torch.cat([boxes, torch.zeros_like(boxes[:, :1]).expand(-1, k, -1)], dim=1)  # rows for padding slots
        return torch.gather(boxes, 1, loc[..., None].expand(-1, -1, 4)), top, cls

    def clip_and_compact(self, boxes: Tensor, scores: Tensor, classes: Tensor, hw: Tensor):
        """
        detector_postprocess at scale 1: clip to [0, W] x [0, H], zero the score of empty boxes, re-sort so the
        valid detections come first.

        Args:
            boxes (N, D, 4), scores (N, D) sorted, classes (N, D), hw (2,) int64 = input H, W.
        """
        h, w = hw[0].to(boxes.dtype), hw[1].to(boxes.dtype)
        limits = torch.stack([w, h, w, h])
        boxes = torch.minimum(boxes.clamp(min=0.0), limits)
        nonempty = (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
        scores = torch.where(nonempty, scores, torch.zeros_like(scores))
        scores, order = scores.topk(self.max_detections, dim=1)
        valid = scores > 0
        # empty slots get box 0 and class 0: the order of equal (zero) scores is backend-dependent, so without this
        # ONNX Runtime and PyTorch would fill them with different leftovers
        boxes = torch.gather(boxes, 1, order[..., None].expand(-1, -1, 4)) * valid[..., None].to(boxes.dtype)
        classes = torch.gather(classes, 1, order) * valid.to(classes.dtype)
        return boxes, scores, classes, valid.sum(dim=1)


def preprocess_image(bgr: np.ndarray, min_size: int, max_size: int) -> Tuple[np.ndarray, float, float]:
    """
    The test-time resize outside the graph: detectron2's ``ResizeShortestEdge([min_size], max_size)``.

    Args:
        bgr: (h0, w0, 3) uint8 image as read by cv2.imread.
    Returns:
        (1, 3, H, W) float32 network input, and the scale factors (w0 / W, h0 / H) for ``rescale_boxes``.
    """
    from detectron2.data import transforms as T

    shape = getattr(bgr, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        # a grayscale (cv2.IMREAD_GRAYSCALE) or BGRA (cv2.IMREAD_UNCHANGED) array failed in numpy ("axes don't
        # match array") or in ONNX Runtime ("Got: 4 Expected: 3")
        raise ValueError(f"preprocess_image: an (H, W, 3) BGR image is needed (as cv2.imread reads it by default), "
                         f"got shape {shape}; convert it first, e.g. cv2.cvtColor(image, cv2.COLOR_GRAY2BGR or "
                         "cv2.COLOR_BGRA2BGR)")
    h0, w0 = bgr.shape[:2]
    resized = T.ResizeShortestEdge([min_size, min_size], max_size).get_transform(bgr).apply_image(bgr)
    h, w = resized.shape[:2]
    return resized.astype(np.float32).transpose(2, 0, 1)[None].copy(), w0 / w, h0 / h


def rescale_boxes(boxes: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """(..., 4) XYXY boxes in the network-input frame -> the original image frame."""
    return boxes * np.array([scale_x, scale_y, scale_x, scale_y], dtype=boxes.dtype)


def valid_detections(outputs: Dict[str, np.ndarray], i: int = 0) -> Dict[str, np.ndarray]:
    """The first num_detections[i] rows of image i of the exported outputs (dict keyed by OUTPUT_NAMES)."""
    n = int(outputs["num_detections"][i])
    return {"boxes": outputs["boxes"][i, :n], "scores": outputs["scores"][i, :n], "classes": outputs["classes"][i, :n]}


def export_example_input(height: int = 256, width: int = 256, batch: int = 1) -> Tensor:
    """A deterministic (batch, 3, height, width) float32 input in 0-255 for tracing."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, 3, height, width), generator=g).float()


def dynamic_axes() -> Dict[str, Dict[int, str]]:
    """torch.onnx ``dynamic_axes``: batch, height and width of the input; batch of every output."""
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    return axes


def output_dict(outputs: List) -> Dict[str, np.ndarray]:
    """Tuple/list of the four outputs (tensors or arrays) -> dict keyed by OUTPUT_NAMES, as numpy arrays."""
    return {name: (o.detach().cpu().numpy() if isinstance(o, Tensor) else np.asarray(o))
            for name, o in zip(OUTPUT_NAMES, outputs)}
