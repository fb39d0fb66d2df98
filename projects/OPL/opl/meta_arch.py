"""
OPL meta-architecture (Song et al., "Optimal Proposal Learning for Deployable End-to-End Pedestrian Detection",
CVPR 2023): an NMS-free one-stage detector on detectron2's ``DenseDetector``.

Shape shorthand: N = images, R = locations of all FPN levels concatenated (finest first, row-major inside a level),
K = classes, G = valid GT boxes of one image, n = number of C2F blocks. Boxes are XYXY_ABS in the padded input frame.
Training: POTO one-to-one labels train S = sigmoid(z_n) * sigmoid(z_cpn) (L_cls) and the boxes (L_reg); One-to-M_i
labels train each C2F block (L_i); Eq. (3)-(5). Inference: top-k per level, threshold, no NMS (docs/methods.md §1.6).
Optional extension in neither paper (MODEL.OPL.REPLOSS_ON, docs/methods.md §2.9): RepLoss's RepGT and RepBox terms on
the one-to-one positives whose box localises its target (IoU >= MODEL.OPL.REP_POS_IOU), through
``pedet.layers.repulsion``. Ignore boxes arrive as ``gt_classes == -1`` instances (docs/methods.md §3.1 option 1) and
are split off first.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import batched_nms
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.box_regression import Box2BoxTransformLinear
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.structures import Boxes, Instances, pairwise_iou
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage
from detectron2.utils.logger import log_every_n_seconds
from pedet.data.mapper import check_gt_classes
from pedet.layers.box_ops import matched_iou_safe
from pedet.layers.focal import focal_loss_on_logit_product
from pedet.layers.repulsion import rep_box_loss, rep_gt_loss, select_repulsion_gt
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from .assigner import (
    defcn_aux_assign,
    fcos_assign,
    hungarian_m_assign,
    inside_box_prior,
    pairs_to_matched,
    poto_argmax,
    poto_hungarian,
    quality_score,
    topm_assign,
)
from .head import OPLHead

__all__ = ["OPL", "centerness_scores", "centerness_targets", "final_scores", "flatten_levels", "split_ignore"]
logger = logging.getLogger(__name__)


def flatten_levels(per_level: Sequence[Tensor], channels: int) -> Tensor:
    """L x (N, channels, H_l, W_l) -> (N, R, channels), the anchor order of DefaultAnchorGenerator."""
    return torch.cat([x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, channels) for x in per_level], dim=1)


def final_scores(cls_logits: Tensor, gate_logits: Optional[Tensor]) -> Tensor:
    """
    Eq. (2): S = S_cls * S_cpn with S_cls = sigmoid(z_n) and the class-agnostic S_cpn = sigmoid(z_cpn) (CHOICE A17).
    Without a gate (CPN and 3DMF off) S = S_cls, as FCOS without centre-ness.

    Args:
        cls_logits: (..., K).  gate_logits: (..., 1) or None.
    Returns:
        (..., K) fp32 probabilities.
    """
    s = torch.sigmoid(cls_logits.float())
    return s if gate_logits is None else s * torch.sigmoid(gate_logits.float())


def centerness_targets(centers: Tensor, boxes: Tensor) -> Tensor:
    """
    FCOS Eq. (3): centre-ness* = sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)), with l, t, r, b the distances
    from a location's centre to the left, top, right, bottom sides of its matched box (detectron2's
    ``FCOS.compute_ctrness_targets``). Only for locations inside their box (the FCOS positives).

    Args:
        centers: (P, 2) location centres.  boxes: (P, 4) XYXY matched GT boxes.
    Returns:
        (P,) targets in [0, 1].
    """
    lr = torch.stack([centers[:, 0] - boxes[:, 0], boxes[:, 2] - centers[:, 0]], dim=1)
    tb = torch.stack([centers[:, 1] - boxes[:, 1], boxes[:, 3] - centers[:, 1]], dim=1)
    ratio = (lr.min(dim=1).values / lr.max(dim=1).values) * (tb.min(dim=1).values / tb.max(dim=1).values)
    return torch.sqrt(ratio.clamp(min=0.0))


def centerness_scores(scores: Tensor, ctrness_logits: Optional[Tensor]) -> Tensor:
    """
    FCOS's test score with centre-ness, sqrt(S * sigmoid(ctr)) (detectron2's ``FCOS.forward_inference``); S itself
    without the branch.

    Args:
        scores: (..., K) probabilities S.  ctrness_logits: (..., 1) or None.
    """
    return scores if ctrness_logits is None else torch.sqrt(scores * torch.sigmoid(ctrness_logits.float()))


def split_ignore(gt_instances: Sequence[Instances]) -> Tuple[List[Instances], List[Instances]]:
    """Splits each image's Instances into valid GT (gt_classes >= 0) and ignore boxes (gt_classes < 0)."""
    valid = [t[t.gt_classes >= 0] for t in gt_instances]
    ignored = [t[t.gt_classes < 0] for t in gt_instances]
    return valid, ignored


def _mean_over_processes(count: Tensor) -> float:
    """Loss normaliser max(1, mean over processes of ``count``): DeFCN's all-reduce (docs/methods.md §1.5)."""
    c = count.detach().float().reshape(())
    world = comm.get_world_size()
    if world > 1:
        dist.all_reduce(c)
        c = c / world
    return max(float(c.item()), 1.0)


@META_ARCH_REGISTRY.register()
class OPL(DenseDetector):
    """
    OPL / DeFCN / FCOS-like dense detector; which one is a config (docs/methods.md §1.8), never a code copy.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone,
        head: OPLHead,
        head_in_features: List[str],
        anchor_generator: DefaultAnchorGenerator,
        box2box_transform: Box2BoxTransformLinear,
        num_classes: int,
        c2f_m: Sequence[int] = (16, 4),
        c2f_assigner: str = "topm",
        c2f_nested: bool = False,
        poto_alpha: float = 0.8,
        center_sampling_radius: float = 0.0,
        poto_matcher: str = "hungarian",
        drop_out_of_box_match: bool = True,
        main_assigner: str = "poto",
        fcos_center_sampling_radius: float = 1.5,
        aux_one_to_many: bool = False,
        aux_topk: int = 9,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        reg_weight: float = 2.0,
        c2f_weight: float = 1.0,
        aux_weight: float = 1.0,
        reploss_on: bool = False,
        rep_gt_weight: float = 0.5,
        rep_box_weight: float = 0.5,
        rep_gt_sigma: float = 1.0,
        rep_box_sigma: float = 0.0,
        rep_sigma_eps: float = 1e-3,
        rep_gt_dup_iou: float = 0.95,
        rep_box_max_per_image: int = 0,
        rep_pos_iou: float = 0.5,
        ignore_mode: str = "drop",
        test_score_thresh: float = 0.05,
        test_topk_candidates: int = 1000,
        nms_on: bool = False,
        nms_thresh_test: float = 0.6,
        max_detections_per_image: int = 500,
        vis_period: int = 0,
        input_format: str = "BGR",
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
    ):
        """Arguments mirror MODEL.OPL.* (see ``opl.config``); ``c2f_m`` = M_i of each C2F block (n = len)."""
        super().__init__(backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std)
        choices = {
            "c2f_assigner": (c2f_assigner, ("topm", "defcn_aux", "hungarian_m")),
            "poto_matcher": (poto_matcher, ("hungarian", "argmax")),
            "main_assigner": (main_assigner, ("poto", "fcos")),
            "ignore_mode": (ignore_mode, ("drop", "exclude_bg")),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if list(c2f_m) != sorted(c2f_m, reverse=True):
            logger.warning(f"C2F M-set {list(c2f_m)} is not decreasing; the paper requires M_(i-1) > M_i")
        self.anchor_generator, self.box2box_transform = anchor_generator, box2box_transform
        self.num_classes, self.c2f_m = num_classes, list(c2f_m)
        self.c2f_assigner, self.c2f_nested = c2f_assigner, c2f_nested
        self.poto_alpha, self.center_sampling_radius = poto_alpha, center_sampling_radius
        self.poto_matcher, self.drop_out_of_box_match = poto_matcher, drop_out_of_box_match
        self.main_assigner, self.fcos_center_sampling_radius = main_assigner, fcos_center_sampling_radius
        self.aux_one_to_many, self.aux_topk = aux_one_to_many, aux_topk
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.loss_weight = {"loss_cls_o2o": 1.0, "loss_reg": reg_weight, "loss_c2f": c2f_weight, "loss_aux": aux_weight}
        self.loss_weight.update({"loss_rep_gt": rep_gt_weight, "loss_rep_box": rep_box_weight})
        for name, sigma in (("rep_gt_sigma", rep_gt_sigma), ("rep_box_sigma", rep_box_sigma)):
            if not 0.0 <= sigma <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {sigma}")
        self.reploss_on, self.rep_gt_sigma, self.rep_box_sigma = reploss_on, rep_gt_sigma, rep_box_sigma
        self.rep_sigma_eps, self.rep_gt_dup_iou = rep_sigma_eps, rep_gt_dup_iou
        self.rep_box_max_per_image = rep_box_max_per_image
        if not 0.0 <= rep_pos_iou <= 1.0:
            raise ValueError(f"rep_pos_iou must be in [0, 1], got {rep_pos_iou}")
        self.rep_pos_iou = rep_pos_iou
        self.ignore_mode = ignore_mode
        # v0.6's DenseDetector decode helpers read these attributes (docs/methods.md §1.6); our own decode takes them
        # explicitly, the attributes are kept so that the parent's helpers agree with ours if anyone calls them.
        self.test_score_thresh, self.test_topk_candidates = test_score_thresh, test_topk_candidates
        self.nms_on, self.nms_thresh_test = nms_on, nms_thresh_test
        self.max_detections_per_image = max_detections_per_image
        self.vis_period, self.input_format = vis_period, input_format
        self._vis_inputs = None  # (images, features, predictions) of an iteration to visualise (VIS_PERIOD)

    @classmethod
    def from_config(cls, cfg):
        o = cfg.MODEL.OPL
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        feature_shapes = [shapes[f] for f in o.IN_FEATURES]
        strides = [s.stride for s in feature_shapes]
        ignore_mode = cfg.INPUT.IGNORE_MODE if "IGNORE_MODE" in cfg.INPUT else "drop"  # pedet.config key, optional
        if o.REG_LOSS != "giou":
            raise ValueError(f"MODEL.OPL.REG_LOSS must be 'giou' (CHOICE A9), got {o.REG_LOSS!r}")
        return {
            "backbone": backbone,
            "head": OPLHead(cfg, feature_shapes),
            "head_in_features": list(o.IN_FEATURES),
            # one square "anchor" of size = stride per location at ((i+0.5)s, (j+0.5)s) (DeFCN OFFSET 0.5, d2 FCOS)
            "anchor_generator": DefaultAnchorGenerator(
                sizes=[[float(s)] for s in strides], aspect_ratios=[1.0], strides=strides, offset=0.5
            ),
            # ltrb = relu(delta) * stride (DeFCN NORM_REG_TARGETS)
            "box2box_transform": Box2BoxTransformLinear(normalize_by_size=True),
            "num_classes": o.NUM_CLASSES,
            "c2f_m": list(o.C2F_M),
            "c2f_assigner": o.C2F_ASSIGNER,
            "c2f_nested": o.C2F_NESTED,
            "poto_alpha": o.POTO_ALPHA,
            "center_sampling_radius": o.CENTER_SAMPLING_RADIUS,
            "poto_matcher": o.POTO_MATCHER,
            "drop_out_of_box_match": o.DROP_OUT_OF_BOX_MATCH,
            "main_assigner": o.MAIN_ASSIGNER,
            "fcos_center_sampling_radius": o.FCOS_CENTER_SAMPLING_RADIUS,
            "aux_one_to_many": o.AUX_ONE_TO_MANY,
            "aux_topk": o.AUX_TOPK,
            "focal_alpha": o.FOCAL_ALPHA,
            "focal_gamma": o.FOCAL_GAMMA,
            "reg_weight": o.REG_WEIGHT,
            "c2f_weight": o.C2F_WEIGHT,
            "aux_weight": o.AUX_WEIGHT,
            "reploss_on": o.REPLOSS_ON,
            "rep_gt_weight": o.REP_GT_WEIGHT,
            "rep_box_weight": o.REP_BOX_WEIGHT,
            "rep_gt_sigma": o.REP_GT_SIGMA,
            "rep_box_sigma": o.REP_BOX_SIGMA,
            "rep_sigma_eps": o.REP_SIGMA_EPS,
            "rep_gt_dup_iou": o.REP_GT_DUP_IOU,
            "rep_box_max_per_image": o.REP_BOX_MAX_PER_IMAGE,
            "rep_pos_iou": o.REP_POS_IOU,
            "ignore_mode": ignore_mode,
            "test_score_thresh": o.SCORE_THRESH_TEST,
            "test_topk_candidates": o.TOPK_CANDIDATES_TEST,
            "nms_on": o.NMS_ON,
            "nms_thresh_test": o.NMS_THRESH_TEST,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "vis_period": cfg.VIS_PERIOD,
            "input_format": cfg.INPUT.FORMAT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    # ------------------------------------------------------------------------------------------------ training
    def forward(self, batched_inputs):
        """DenseDetector.forward; in training, every VIS_PERIOD iterations also the image of ``visualize_training``."""
        out = super().forward(batched_inputs)
        if self._vis_inputs is not None:
            with torch.no_grad():
                results = self.forward_inference(*self._vis_inputs)
            self._vis_inputs = None
            self.visualize_training(batched_inputs, results)
        return out

    def visualize_training(self, batched_inputs, results, max_boxes: int = 20) -> None:
        """
        As detectron2's RetinaNet / GeneralizedRCNN: the first image of the batch with its ground truth (top; ignore
        boxes grey) and the ``max_boxes`` highest-scoring predictions (bottom, with their scores), written to the
        event storage (TensorBoard's IMAGES tab).
        """
        from detectron2.data.detection_utils import convert_image_to_rgb
        from detectron2.utils.visualizer import Visualizer

        storage = get_event_storage()
        img = convert_image_to_rgb(batched_inputs[0]["image"].permute(1, 2, 0), self.input_format)
        gt = batched_inputs[0]["instances"]
        colors = ["grey" if c < 0 else "lime" for c in gt.gt_classes.tolist()]
        anno = Visualizer(img, None).overlay_instances(boxes=gt.gt_boxes.tensor.cpu().numpy(),
                                                        assigned_colors=colors).get_image()
        pred = results[0]
        top = pred.scores.argsort(descending=True)[:max_boxes]  # the results are in the input image's frame
        labels = [f"{s:.2f}" for s in pred.scores[top].tolist()]
        pred_img = Visualizer(img, None).overlay_instances(
            boxes=pred.pred_boxes.tensor[top].detach().cpu().numpy(), labels=labels,
            assigned_colors=["red"] * len(labels)).get_image()
        vis = np.concatenate([anno, pred_img], axis=0).transpose(2, 0, 1)
        storage.put_image(f"Top: GT bounding boxes; Bottom: {max_boxes} highest-scoring predictions", vis)

    def forward_training(self, images, features, predictions, gt_instances):
        """
        Args:
            predictions: the ``OPLHead`` output dict.  gt_instances: N Instances(gt_boxes, gt_classes), ignore = -1.
        Returns:
            dict of scalar ``loss_*`` tensors (fp32).
        """
        anchors = self.anchor_generator(features)
        level_sizes = [len(a) for a in anchors]
        anchor_boxes = Boxes.cat(anchors).tensor  # (R, 4)
        centers = (anchor_boxes[:, :2] + anchor_boxes[:, 2:]) / 2
        strides = anchor_boxes[:, 2] - anchor_boxes[:, 0]  # anchor size == stride
        cls_logits = [flatten_levels(b, self.num_classes) for b in predictions["cls_logits"]]  # n' x (N, R, K)
        deltas = flatten_levels(predictions["box_deltas"], 4)
        gate = predictions["gate_logits"]
        gate = flatten_levels(gate, 1) if gate is not None else None
        scores = final_scores(cls_logits[-1], gate)  # (N, R, K) fp32
        pred_boxes = self.decode_boxes(deltas, anchor_boxes)  # (N, R, 4) fp32
        if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
            self._vis_inputs = (images, features, predictions)  # forward() draws them after the losses
        valid, ignored = split_ignore(gt_instances)
        check_gt_classes(valid, self.num_classes, "MODEL.OPL.NUM_CLASSES")
        if not all(torch.isfinite(t).all() for t in (pred_boxes, *cls_logits)):  # a diverged run: scipy's assignment
            # would fail on the NaN quality ("matrix contains invalid numeric entries") before detectron2's NaN-loss check
            raise FloatingPointError("the OPL head's predictions became infinite or NaN (scores or boxes)")
        with torch.no_grad():
            block_probs = [torch.sigmoid(z.detach().float()) for z in cls_logits]
            targets = [
                self.label_single_image(
                    valid[j].gt_boxes.tensor.float(), valid[j].gt_classes, ignored[j].gt_boxes.tensor.float(),
                    centers, strides, level_sizes, pred_boxes[j].detach(), scores[j].detach(),
                    [p[j] for p in block_probs],
                )
                for j in range(len(gt_instances))
            ]
        ctrness = predictions.get("ctrness_logits")
        ctrness = flatten_levels(ctrness, 1) if ctrness is not None else None
        return self.losses(cls_logits, gate, pred_boxes, valid, targets, ctrness, centers)

    def decode_boxes(self, deltas: Tensor, anchor_boxes: Tensor) -> Tensor:
        """
        Eq. (1), box part: B = location centre -/+ relu(Scale_l * delta) * stride_l (ltrb), in fp32.

        Args:
            deltas: (N, R, 4).  anchor_boxes: (R, 4) square boxes of side stride centred at the locations.
        Returns:
            (N, R, 4) XYXY boxes.
        """
        n, r, _ = deltas.shape
        flat = self.box2box_transform.apply_deltas(deltas.float().reshape(-1, 4), anchor_boxes.float().repeat(n, 1))
        return flat.reshape(n, r, 4)

    @torch.no_grad()
    def label_single_image(
        self, gt_boxes: Tensor, gt_classes: Tensor, ignore_boxes: Tensor, centers: Tensor, strides: Tensor,
        level_sizes: List[int], pred_boxes: Tensor, scores: Tensor, block_probs: List[Tensor],
    ) -> Dict[str, object]:
        """
        All labels of one image (fp32, no grad).

        Args:
            gt_boxes: (G, 4) valid GT; gt_classes: (G,); ignore_boxes: (I, 4).
            centers: (R, 2); strides: (R,); level_sizes: locations per level.
            pred_boxes: (R, 4) decoded boxes; scores: (R, K) final S; block_probs: n' x (R, K) sigmoid of each block.
        Returns:
            {"o2o": (R,) matched GT or -1, "c2f": n x (R,), "aux": (R,) or None,
             "loss_mask": (R,) bool, False = excluded from the focal negatives (INPUT.IGNORE_MODE "exclude_bg"),
             "num_unmatched": int, valid GTs without a one-to-one positive (box smaller than the stride, or all its
             in-box locations taken by other GTs; logged, never an error)}
        """
        num_loc, num_gt = centers.shape[0], gt_boxes.shape[0]
        prior = inside_box_prior(centers, strides, gt_boxes, self.center_sampling_radius)  # (G, R)
        ious = pairwise_iou(Boxes(gt_boxes), Boxes(pred_boxes))  # (G, R)

        def quality(probs: Tensor) -> Tensor:  # (R, K) -> (G, R) quality of each GT's class
            return quality_score(probs[:, gt_classes].T, ious, self.poto_alpha)

        if self.main_assigner == "poto":
            matcher = poto_hungarian if self.poto_matcher == "hungarian" else poto_argmax
            gt_idx, loc_idx = matcher(quality(scores), prior, self.drop_out_of_box_match)
            o2o = pairs_to_matched(gt_idx, loc_idx, num_loc)
        else:
            o2o = fcos_assign(centers, strides, level_sizes, gt_boxes, self.fcos_center_sampling_radius)
        num_unmatched = num_gt - int(torch.unique(o2o[o2o >= 0]).numel())
        self._log_unmatched(num_unmatched, num_gt)
        c2f: List[Tensor] = []
        for m, probs in zip(self.c2f_m, block_probs):
            prior_i = prior
            if self.c2f_nested and c2f:
                prior_i = prior & (c2f[-1][None, :] == torch.arange(num_gt, device=prior.device)[:, None])
            if self.c2f_assigner == "topm":
                c2f.append(topm_assign(quality(probs), prior_i, m))
            elif self.c2f_assigner == "hungarian_m":
                c2f.append(hungarian_m_assign(quality(probs), prior_i, m))
            else:
                c2f.append(defcn_aux_assign(quality(probs), prior_i, level_sizes, m))
        aux = None
        if self.aux_one_to_many:
            aux = defcn_aux_assign(quality(block_probs[-1]), prior, level_sizes, self.aux_topk)
        loss_mask = torch.ones(num_loc, dtype=torch.bool, device=centers.device)
        if self.ignore_mode == "exclude_bg" and ignore_boxes.shape[0] > 0:
            loss_mask = ~inside_box_prior(centers, strides, ignore_boxes).any(dim=0)
        return {"o2o": o2o, "c2f": c2f, "aux": aux, "loss_mask": loss_mask, "num_unmatched": num_unmatched}

    @staticmethod
    def _log_unmatched(num_unmatched: int, num_gt: int) -> None:
        if num_unmatched > 0:
            # a box with no location inside (smaller than the stride) or whose in-box locations are all taken
            msg = f"{num_unmatched}/{num_gt} GT got no one-to-one positive (no free location in the box)"
            log_every_n_seconds(logging.WARNING, msg, 60, name=__name__)

    def _one_hot(self, matched: Tensor, gt: Sequence[Instances]) -> Tensor:
        """(N, R) matched GT index -> (N, R, K) fp32 one-hot class targets (0 where unmatched)."""
        n, r = matched.shape
        out = torch.zeros(n, r, self.num_classes, device=matched.device)
        for j in range(n):
            pos = (matched[j] >= 0).nonzero().squeeze(1)
            out[j, pos, gt[j].gt_classes[matched[j, pos]]] = 1.0
        return out

    def losses(
        self, cls_logits: List[Tensor], gate_logits: Optional[Tensor], pred_boxes: Tensor, gt: Sequence[Instances],
        targets: Sequence[Dict[str, object]], ctrness_logits: Optional[Tensor] = None,
        centers: Optional[Tensor] = None,
    ) -> Dict[str, Tensor]:
        """
        Eq. (3): L = L_reg(B) + L_cls(S) + L_c2f, with L_c2f = sum_i L_i (Eq. 5) and L_i of Eq. (4). L_cls is the focal
        loss on S = sigmoid(z_n) * sigmoid(z_cpn) computed in log space from the two logits (``pedet.layers.focal``):
        no clamp, and nothing that autocast refuses.

        Args:
            cls_logits: n' x (N, R, K) logits of each block (the last gives S_cls).
            gate_logits: (N, R, 1) z_cpn (CPN or 3DMF gate), or None (S = S_cls).
            pred_boxes: (N, R, 4).  gt: N valid-GT Instances.  targets: ``label_single_image`` outputs.
            ctrness_logits: (N, R, 1) FCOS centre-ness (MODEL.OPL.CENTERNESS) or None; centers: (R, 2), with it.
        Returns:
            {"loss_cls_o2o", "loss_reg", "loss_c2f_{i}" for each C2F block, "loss_aux" (DeFCN mode),
             "loss_rep_gt" and "loss_rep_box" (only with MODEL.OPL.REPLOSS_ON), "loss_ctr" (with centre-ness: BCE on
             the positives / number of positives, as detectron2's FCOS)}.
        """
        storage = get_event_storage()
        o2o = torch.stack([t["o2o"] for t in targets])  # (N, R)
        keep = torch.stack([t["loss_mask"] for t in targets])  # (N, R)
        pos = o2o >= 0
        num_pos = _mean_over_processes(pos.sum())
        num_gt = sum(len(g) for g in gt)
        storage.put_scalar("opl/num_pos_o2o", pos.sum().item() / len(targets))
        storage.put_scalar("opl/num_fg_per_gt", pos.sum().item() / max(num_gt, 1))
        storage.put_scalar("opl/num_gt_unmatched", float(sum(t["num_unmatched"] for t in targets)))
        weight = (keep | pos).float()[..., None]
        loss_cls = focal_loss_on_logit_product(
            cls_logits[-1], gate_logits, self._one_hot(o2o, gt), self.focal_alpha, self.focal_gamma
        ) * weight
        losses = {"loss_cls_o2o": loss_cls.sum() / num_pos * self.loss_weight["loss_cls_o2o"]}

        matched_boxes = torch.cat([g.gt_boxes.tensor[m[m >= 0]] for g, m in zip(gt, o2o)]).float()
        if matched_boxes.shape[0] > 0:
            reg = generalized_box_iou_loss(pred_boxes[pos], matched_boxes, reduction="sum")
        else:
            reg = pred_boxes.sum() * 0.0  # no positive: a zero that keeps the graph connected (DDP)
        losses["loss_reg"] = reg / num_pos * self.loss_weight["loss_reg"]
        if self.reploss_on:
            losses.update(self.repulsion_losses(pred_boxes, gt, o2o, num_pos))
        if ctrness_logits is not None:
            target = centerness_targets(centers[None].expand(len(gt), -1, -1)[pos], matched_boxes)
            losses["loss_ctr"] = F.binary_cross_entropy_with_logits(
                ctrness_logits[..., 0][pos].float(), target, reduction="sum") / num_pos

        for i in range(len(self.c2f_m)):
            labels = torch.stack([t["c2f"][i] for t in targets])
            losses[f"loss_c2f_{i}"] = self._logit_focal(cls_logits[i], labels, keep, gt) * self.loss_weight["loss_c2f"]
            storage.put_scalar(f"opl/num_pos_per_gt_c2f_{i}", (labels >= 0).sum().item() / max(num_gt, 1))
        if self.aux_one_to_many:
            labels = torch.stack([t["aux"] for t in targets])
            losses["loss_aux"] = self._logit_focal(cls_logits[-1], labels, keep, gt) * self.loss_weight["loss_aux"]
            storage.put_scalar("opl/num_pos_per_gt_aux", (labels >= 0).sum().item() / max(num_gt, 1))
        return losses

    def repulsion_losses(
        self, pred_boxes: Tensor, gt: Sequence[Instances], matched: Tensor, num_pos: float
    ) -> Dict[str, Tensor]:
        """
        RepGT (RepLoss Eq. 4) and RepBox (RepLoss Eq. 6) on the one-to-one positives: an extension in neither paper
        (docs/methods.md §2.9). The detached predicted box plays the proposal P of the paper (an anchor-free location has
        none): a positive enters the repulsion set P+ only when it localises its target, IoU(B, G_Attr) >=
        ``rep_pos_iou`` (0.5, Faster R-CNN's foreground threshold that defines the paper's P+), and its G_Rep is the
        valid GT other than its target with the highest IoU with that box. Ignore boxes are not in ``gt`` (split off
        before), so they never serve as repulsion targets. RepBox pairs positives of different GTs inside each image.

        Why P+ needs the IoU test here: IoU and IoG are scale-free, so their gradient w.r.t. a box edge grows as
        1 / box size. A randomly initialised head predicts boxes of a few pixels; RepBox on such boxes outweighs
        L_reg, shrinks every box through the shared ``bbox_pred`` conv, and once all ltrb outputs are below 0 the
        ReLU of the decoding passes no gradient from any loss (L_reg stuck at 2.0: the regression is dead). Boxes
        with IoU >= 0.5 have at least half their target's area, which bounds that gradient, as proposals do in
        Faster R-CNN.

        Args:
            pred_boxes: (N, R, 4) fp32 decoded boxes.  gt: N valid-GT Instances.
            matched: (N, R) one-to-one matched GT index, -1 = not a positive.
            num_pos: the loss_reg normaliser, max(1, N_pos^o2o averaged over processes).
        Returns:
            {"loss_rep_gt": alpha * sum Smooth_ln(IoG) / num_pos, "loss_rep_box": beta * mean over overlapping pairs},
            fp32 scalars, both connected to the graph even when they are 0 (one GT, or no positive in P+).
        """
        rep_gt_sum = pred_boxes.sum() * 0.0  # connected zero; each image adds its un-normalised sum
        boxes_per_image, targets_per_image, num_localised = [], [], 0
        for j, (g, m) in enumerate(zip(gt, matched)):
            pos = (m >= 0).nonzero().squeeze(1)
            gt_boxes = g.gt_boxes.tensor.float()
            with torch.no_grad():
                localised = matched_iou_safe(pred_boxes[j, pos], gt_boxes[m[pos]]) >= self.rep_pos_iou
            pos = pos[localised]
            boxes, targets = pred_boxes[j, pos].float(), m[pos]
            rep_boxes, valid = select_repulsion_gt(boxes.detach(), gt_boxes, targets, self.rep_gt_dup_iou)
            rep_gt_sum = rep_gt_sum + rep_gt_loss(boxes, rep_boxes, valid, self.rep_gt_sigma, self.rep_sigma_eps)
            boxes_per_image.append(boxes)
            targets_per_image.append(targets)
            num_localised += pos.numel()
        rep_box = rep_box_loss(
            boxes_per_image, targets_per_image, self.rep_box_sigma, self.rep_sigma_eps, self.rep_box_max_per_image
        )
        get_event_storage().put_scalar("opl/num_pos_rep", num_localised / len(gt))
        return {
            # Eq. 4 over P+; positives outside P+ add 0 but stay in the normaliser (as those without a G_Rep, B4)
            "loss_rep_gt": rep_gt_sum / num_pos * self.loss_weight["loss_rep_gt"],
            "loss_rep_box": rep_box * self.loss_weight["loss_rep_box"],
        }

    def _logit_focal(self, logits: Tensor, labels: Tensor, keep: Tensor, gt: Sequence[Instances]) -> Tensor:
        """Eq. (4): sigmoid focal loss of (N, R, K) logits vs (N, R) labels, / max(1, mean N_pos over processes)."""
        pos = labels >= 0
        weight = (keep | pos).float()[..., None]
        loss = sigmoid_focal_loss(logits.float(), self._one_hot(labels, gt), self.focal_alpha, self.focal_gamma)
        return (loss * weight).sum() / _mean_over_processes(pos.sum())

    # ----------------------------------------------------------------------------------------------- inference
    def forward_inference(self, images, features, predictions):
        """Returns N Instances(pred_boxes, scores, pred_classes) in the padded-input frame (DenseDetector rescales)."""
        anchors = self.anchor_generator(features)
        cls_logits = predictions["cls_logits"][-1]  # only the last C2F block scores at inference (PAPER)
        gates = predictions["gate_logits"] or [None] * len(cls_logits)
        ctrness = predictions.get("ctrness_logits") or [None] * len(cls_logits)
        scores = [
            centerness_scores(
                final_scores(flatten_levels([z], self.num_classes), flatten_levels([g], 1) if g is not None else None),
                flatten_levels([c], 1) if c is not None else None)
            for z, g, c in zip(cls_logits, gates, ctrness)
        ]  # L x (N, HW, K)
        deltas = [flatten_levels([d], 4) for d in predictions["box_deltas"]]
        return [
            self.inference_single_image(anchors, [s[j] for s in scores], [d[j] for d in deltas], image_size)
            for j, image_size in enumerate(images.image_sizes)
        ]

    def inference_single_image(
        self, anchors: List[Boxes], scores: List[Tensor], deltas: List[Tensor], image_size: Tuple[int, int]
    ) -> Instances:
        """
        docs/methods.md §1.6: per level keep S > SCORE_THRESH_TEST, then the top TOPK_CANDIDATES_TEST; merge levels,
        sort by score, keep DETECTIONS_PER_IMAGE. No NMS unless the ablation switch ``nms_on`` is set.

        Args:
            anchors: L Boxes (HW_l, 4).  scores: L x (HW_l, K) final S.  deltas: L x (HW_l, 4).
        """
        boxes_all, scores_all, classes_all = [], [], []
        for a, s, d in zip(anchors, scores, deltas):
            flat = s.reshape(-1)
            idx = (flat > self.test_score_thresh).nonzero().squeeze(1)
            top, order = flat[idx].topk(min(self.test_topk_candidates, idx.numel()))
            idx = idx[order]
            loc, cls = idx // self.num_classes, idx % self.num_classes
            boxes_all.append(self.box2box_transform.apply_deltas(d[loc].float(), a.tensor[loc].float()))
            scores_all.append(top)
            classes_all.append(cls)
        boxes, s, c = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(classes_all)
        if self.nms_on:
            keep = batched_nms(boxes, s, c, self.nms_thresh_test)  # ablation / FCOS baseline only
        else:
            keep = torch.argsort(s, descending=True)
        keep = keep[: self.max_detections_per_image]
        return Instances(image_size, pred_boxes=Boxes(boxes[keep]), scores=s[keep], pred_classes=c[keep])
