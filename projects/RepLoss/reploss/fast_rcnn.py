"""
Box predictor of Repulsion Loss ("Repulsion Loss: Detecting Pedestrians in a Crowd", Wang et al., CVPR 2018):
Detectron2's FastRCNNOutputLayers plus the RepGT (Eq. 4) and RepBox (Eq. 6) terms of Eq. (1).

Shape shorthand (as detectron2's modeling/roi_heads/fast_rcnn.py):
    N = images in the batch,  R = sampled ROIs in the batch,  K = foreground classes,
    P = foreground ROIs in the batch (P+ of the paper),  P_n = those of image n.
All boxes are XYXY_ABS.

Attraction (Eq. 2) is Detectron2's `loss_box_reg` unchanged (SmoothL1 on the (10, 10, 5, 5)-weighted deltas). The
repulsion terms act on the decoded boxes B^P of the foreground ROIs and need three per-ROI fields that
RepLossROIHeads.label_and_sample_proposals puts on every sampled proposal: `gt_index` (P's target G_Attr in its image),
`rep_boxes` (G_Rep, Eq. 3) and `rep_valid`. Normalisation (docs/methods.md §2.5, CHOICE B2), with L_RepGT and L_RepBox
as in the paper:
    NORM_MODE "d2":    loss_box_reg = Σ SmoothL1 / R,
                       loss_rep_gt = α Σ Smooth_ln(IoG) / R = (|P+| / R) α L_RepGT,
                       loss_rep_box = β (|P+| / R) L_RepBox
    NORM_MODE "paper": loss_box_reg = Σ SmoothL1 / |P+|,    loss_rep_gt = α L_RepGT,  loss_rep_box = β L_RepBox
A term whose weight is 0 is not computed and has no key, so α = β = 0 with "d2" is exactly Detectron2's loss dict.
"""
from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import cat, nonzero_tuple
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.structures import Instances
from detectron2.utils.events import get_event_storage
from torch import Tensor

from pedet.layers.repulsion import REP_BOX_PAIRINGS, rep_box_loss, rep_gt_loss

__all__ = ["RepLossOutputLayers"]

REP_FIELDS = ("gt_index", "rep_boxes", "rep_valid")


class RepLossOutputLayers(FastRCNNOutputLayers):
    """
    FastRCNNOutputLayers whose `losses()` adds `loss_rep_gt` and `loss_rep_box` (weighted by α and β through
    `self.loss_weight`, as Detectron2 weights its own terms). Inference is Detectron2's.
    """

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        rep_gt_weight: float = 0.5,
        rep_box_weight: float = 0.5,
        rep_gt_sigma: float = 1.0,
        rep_box_sigma: float = 0.0,
        sigma_eps: float = 1e-3,
        norm_mode: str = "d2",
        rep_box_max_per_image: int = 0,
        rep_box_pairing: str = "all",
        **kwargs,
    ):
        """
        Args:
            input_shape, **kwargs: as FastRCNNOutputLayers.
            rep_gt_weight: α of Eq. (1), >= 0 (0: no RepGT term, no `loss_rep_gt` key).
            rep_box_weight: β of Eq. (1), >= 0 (0: no RepBox term, no `loss_rep_box` key).
            rep_gt_sigma: Smooth_ln switch point of RepGT, in [0, 1].
            rep_box_sigma: Smooth_ln switch point of RepBox, in [0, 1].
            sigma_eps: Smooth_ln's sigma_eff = min(sigma, 1 - sigma_eps).
            norm_mode: "d2" or "paper" (module docstring).
            rep_box_max_per_image: > 0 caps the positives per image that enter RepBox (random subset); 0 = all.
            rep_box_pairing: the pairs of Eq. 6, "all" or "one_per_gt" (pedet.layers.repulsion.REP_BOX_PAIRINGS).
        """
        super().__init__(input_shape, **kwargs)
        if norm_mode not in ("d2", "paper"):
            raise ValueError(f"REPLOSS.NORM_MODE must be 'd2' or 'paper', got {norm_mode!r}")
        if rep_gt_weight < 0 or rep_box_weight < 0:
            raise ValueError(f"RepLoss weights must be >= 0, got alpha={rep_gt_weight}, beta={rep_box_weight}")
        self.loss_weight = {**self.loss_weight, "loss_rep_gt": rep_gt_weight, "loss_rep_box": rep_box_weight}
        self.rep_gt_sigma = rep_gt_sigma
        self.rep_box_sigma = rep_box_sigma
        self.sigma_eps = sigma_eps
        self.norm_mode = norm_mode
        self.rep_box_max_per_image = rep_box_max_per_image
        if rep_box_pairing not in REP_BOX_PAIRINGS:
            raise ValueError(f"REPLOSS.REP_BOX_PAIRING must be one of {REP_BOX_PAIRINGS}, got {rep_box_pairing!r}")
        self.rep_box_pairing = rep_box_pairing

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["rep_gt_weight"] = cfg.MODEL.REPLOSS.ALPHA  # alpha of Eq. (1)
        ret["rep_box_weight"] = cfg.MODEL.REPLOSS.BETA  # beta of Eq. (1)
        ret["rep_gt_sigma"] = cfg.MODEL.REPLOSS.SIGMA_GT  # sigma of Eq. (5) in RepGT
        ret["rep_box_sigma"] = cfg.MODEL.REPLOSS.SIGMA_BOX  # sigma of Eq. (5) in RepBox
        ret["sigma_eps"] = cfg.MODEL.REPLOSS.SIGMA_EPS
        ret["norm_mode"] = cfg.MODEL.REPLOSS.NORM_MODE
        ret["rep_box_max_per_image"] = cfg.MODEL.REPLOSS.REP_BOX_MAX_PER_IMAGE
        ret["rep_box_pairing"] = cfg.MODEL.REPLOSS.REP_BOX_PAIRING
        return ret

    def losses(self, predictions: Tuple[Tensor, Tensor], proposals: List[Instances]) -> Dict[str, Tensor]:
        """
        Args:
            predictions: (scores (R, K + 1), proposal_deltas (R, 4) or (R, 4K)), as FastRCNNOutputLayers.forward.
            proposals: N Instances with `proposal_boxes`, `gt_classes`, `gt_boxes` (images with GT) and the fields
                `gt_index`, `rep_boxes`, `rep_valid` (every image) from RepLossROIHeads.
        Returns:
            {"loss_cls", "loss_box_reg"} as Detectron2, plus "loss_rep_gt" if α > 0 and "loss_rep_box" if β > 0.
        """
        losses = super().losses(predictions, proposals)
        active = [k for k in ("loss_rep_gt", "loss_rep_box") if self.loss_weight[k] > 0]
        if not len(proposals) or (self.norm_mode == "d2" and not active):
            return losses
        _, proposal_deltas = predictions
        gt_classes = cat([p.gt_classes for p in proposals], dim=0)
        num_rois = max(gt_classes.numel(), 1)
        fg_inds = nonzero_tuple((gt_classes >= 0) & (gt_classes < self.num_classes))[0]
        num_fg = max(fg_inds.numel(), 1)
        if self.norm_mode == "paper":
            losses["loss_box_reg"] = losses["loss_box_reg"] * (num_rois / num_fg)  # Eq. (2) divides by |P+|
        if not active:
            return losses
        missing = [f for f in REP_FIELDS if not proposals[0].has(f)]
        if missing:
            raise KeyError(f"RepLossOutputLayers needs the proposal fields {missing} (use RepLossROIHeads)")

        pred_boxes = self._decode_foreground(proposal_deltas, proposals, gt_classes, fg_inds)  # (P, 4)
        scale = 1.0 / num_rois if self.norm_mode == "d2" else 1.0 / num_fg
        storage = get_event_storage()
        if "loss_rep_gt" in active:
            rep_boxes = cat([p.rep_boxes for p in proposals], dim=0)[fg_inds]
            rep_valid = cat([p.rep_valid for p in proposals], dim=0)[fg_inds]
            loss = rep_gt_loss(pred_boxes, rep_boxes, rep_valid, self.rep_gt_sigma, self.sigma_eps)
            losses["loss_rep_gt"] = loss * scale * self.loss_weight["loss_rep_gt"]
            valid_fraction = rep_valid.float().mean().item() if len(rep_valid) else 0.0
            storage.put_scalar("reploss/rep_gt_valid_fraction", valid_fraction)
        if "loss_rep_box" in active:
            fg_per_image = torch.bincount(self._image_index(proposals)[fg_inds], minlength=len(proposals))
            gt_index = cat([p.gt_index for p in proposals], dim=0)[fg_inds]
            loss = rep_box_loss(
                pred_boxes.split(fg_per_image.tolist()),
                gt_index.split(fg_per_image.tolist()),
                self.rep_box_sigma,
                self.sigma_eps,
                self.rep_box_max_per_image,
                pairing=self.rep_box_pairing,
            )
            # the paper's L_RepBox is a mean over pairs; "d2" scales it by |P+| / R like the two other terms
            fg_fraction = fg_inds.numel() * scale
            losses["loss_rep_box"] = loss * fg_fraction * self.loss_weight["loss_rep_box"]
        return losses

    def _decode_foreground(
        self, proposal_deltas: Tensor, proposals: List[Instances], gt_classes: Tensor, fg_inds: Tensor
    ) -> Tensor:
        """
        Decode B^P for the foreground ROIs with the deltas of their GT class (the same selection as Detectron2's
        box_reg_loss). Returns (P, 4) float32 boxes, differentiable w.r.t. `proposal_deltas`.
        """
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)[fg_inds]
        assert not proposal_boxes.requires_grad, "Proposals should not require gradients!"
        box_dim = proposal_boxes.shape[1]
        if proposal_deltas.shape[1] == box_dim:  # class-agnostic regression
            fg_deltas = proposal_deltas[fg_inds]
        else:
            fg_deltas = proposal_deltas.view(-1, self.num_classes, box_dim)[fg_inds, gt_classes[fg_inds]]
        return self.box2box_transform.apply_deltas(fg_deltas, proposal_boxes)

    @staticmethod
    def _image_index(proposals: List[Instances]) -> Tensor:
        """(R,) int64 index of the image each ROI belongs to."""
        device = proposals[0].proposal_boxes.tensor.device
        lengths = torch.tensor([len(p) for p in proposals], device=device)
        return torch.repeat_interleave(torch.arange(len(proposals), device=device), lengths)
