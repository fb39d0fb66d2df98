"""
ROI heads of Repulsion Loss ("Repulsion Loss: Detecting Pedestrians in a Crowd", Wang et al., CVPR 2018): Detectron2's
StandardROIHeads, plus the per-ROI information the repulsion terms need and the `exclude_bg` ignore handling.

Shape shorthand:  S = sampled ROIs of one image,  G = valid GT boxes of one image,  I = ignore boxes of one image,
                  Q = proposals of one image before sampling.  Boxes are XYXY_ABS.

How the target identity reaches the box predictor (docs/methods.md §2.3, the "gt_index trick"): Detectron2's
`label_and_sample_proposals` copies every target field whose name starts with "gt_" onto the sampled proposals,
indexed by the matched GT. Giving each target a field `gt_index = arange(G)` therefore makes each sampled ROI carry the
index of its G_Attr (the Matcher's argmax, the same GT as its `gt_boxes`). G_Rep (Eq. 3) is then found from the
proposal box and all GT of the image and stored in `rep_boxes` / `rep_valid`, names that Detectron2 never re-indexes.

Ignore boxes (gt_classes == -1) are split off by the meta-architecture (reploss.meta_arch.PedestrianRCNN) and arrive as
`ignore_instances`. They are never matched (neither fg nor bg targets) and never attraction or RepBox targets; they can
serve as G_Rep only with MODEL.REPLOSS.REP_GT_USE_IGNORE (all of them, CHOICE B8) or REP_GT_USE_IGNORED_PERSONS (the
persons ignored only for height or visibility), and with INPUT.IGNORE_MODE = "exclude_bg" (docs/methods.md §3.1) a
proposal that would be background and lies in an ignore box (IoA > MODEL.REPLOSS.IGNORE_IOA_THRESH) is not sampled;
PedestrianRPN (reploss.rpn) does the same for RPN anchors.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import ImageList, Instances, pairwise_ioa, pairwise_iou
from detectron2.utils.events import get_event_storage
from torch import Tensor

from pedet.data.mapper import check_gt_classes
from pedet.layers.repulsion import select_repulsion_gt

from .fast_rcnn import RepLossOutputLayers

__all__ = ["RepLossROIHeads"]


@ROI_HEADS_REGISTRY.register()
class RepLossROIHeads(StandardROIHeads):
    """
    StandardROIHeads with RepLossOutputLayers as box predictor. In training each sampled ROI gets `gt_index`,
    `rep_boxes` and `rep_valid`; ignore boxes can exclude background ROIs. Inference is StandardROIHeads'.
    """

    @configurable
    def __init__(
        self,
        *,
        rep_gt_dup_iou: float = 0.95,
        rep_gt_use_ignore: bool = False,
        rep_gt_use_ignored_persons: bool = False,
        exclude_bg_in_ignore: bool = False,
        ignore_ioa_thresh: float = 0.5,
        **kwargs,
    ):
        """
        Args:
            rep_gt_dup_iou: G_Rep with IoU(G_Attr, G_Rep) >= this is skipped (CHOICE B6), in (0, 1].
            rep_gt_use_ignore: ignore boxes may serve as G_Rep (CHOICE B8: False).
            rep_gt_use_ignored_persons: the ignore boxes flagged `ignored_person` (persons ignored only for height
                or visibility, pedet.data.mapper) may serve as G_Rep; other ignore boxes may not.
            exclude_bg_in_ignore: a proposal the matcher labels background and whose IoA (intersection over the
                proposal's area) with some ignore box exceeds `ignore_ioa_thresh` is removed before sampling
                (INPUT.IGNORE_MODE "exclude_bg", CrowdDet-like, docs/methods.md §3.1).
            ignore_ioa_thresh: the IoA threshold above (0.5, docs/methods.md §3.1).
            **kwargs: as StandardROIHeads.
        """
        super().__init__(**kwargs)
        self.rep_gt_dup_iou = rep_gt_dup_iou
        self.rep_gt_use_ignore = rep_gt_use_ignore
        self.rep_gt_use_ignored_persons = rep_gt_use_ignored_persons
        self.exclude_bg_in_ignore = exclude_bg_in_ignore
        self.ignore_ioa_thresh = ignore_ioa_thresh

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["rep_gt_dup_iou"] = cfg.MODEL.REPLOSS.REP_GT_DUP_IOU  # CHOICE B6
        ret["rep_gt_use_ignore"] = cfg.MODEL.REPLOSS.REP_GT_USE_IGNORE  # CHOICE B8
        ret["rep_gt_use_ignored_persons"] = cfg.MODEL.REPLOSS.REP_GT_USE_IGNORED_PERSONS
        ret["exclude_bg_in_ignore"] = cfg.INPUT.IGNORE_MODE == "exclude_bg"  # docs/methods.md §3.1
        ret["ignore_ioa_thresh"] = cfg.MODEL.REPLOSS.IGNORE_IOA_THRESH
        return ret

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        ret["box_predictor"] = RepLossOutputLayers(cfg, ret["box_head"].output_shape)
        return ret

    def forward(
        self,
        images: ImageList,
        features: Dict[str, Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
        ignore_instances: Optional[Sequence[Instances]] = None,
    ) -> Tuple[List[Instances], Dict[str, Tensor]]:
        """
        As StandardROIHeads.forward, plus `ignore_instances`: N Instances with the ignore boxes (`gt_boxes`) of each
        image, or None. `targets` must hold valid boxes only (gt_classes >= 0).
        """
        if not self.training:
            return super().forward(images, features, proposals)
        assert targets, "'targets' argument is required during training"
        check_gt_classes(targets, self.num_classes, "MODEL.ROI_HEADS.NUM_CLASSES")
        proposals = self.label_and_sample_proposals(proposals, targets, ignore_instances)
        losses = self._forward_box(features, proposals)
        losses.update(self._forward_mask(features, proposals))
        losses.update(self._forward_keypoint(features, proposals))
        return proposals, losses

    @torch.no_grad()
    def label_and_sample_proposals(
        self,
        proposals: List[Instances],
        targets: List[Instances],
        ignore_instances: Optional[Sequence[Instances]] = None,
    ) -> List[Instances]:
        """
        Detectron2's sampling, plus the per-ROI fields `gt_index` (S,) int64 (-1 for background), `rep_boxes` (S, 4)
        and `rep_valid` (S,) bool (False for background) on every image.

        Args:
            proposals: N Instances with `proposal_boxes`, `objectness_logits`.
            targets: N Instances with `gt_boxes`, `gt_classes` (valid boxes only).
            ignore_instances: N Instances with `gt_boxes` (ignore boxes), or None.
        Returns:
            N Instances, as StandardROIHeads.label_and_sample_proposals plus the three fields above.
        """
        if ignore_instances is None:
            ignore_instances = [None] * len(targets)
        if self.exclude_bg_in_ignore:
            before = sum(len(p) for p in proposals)
            proposals = [
                self._drop_background_in_ignore(p, t, i) for p, t, i in zip(proposals, targets, ignore_instances)
            ]
            excluded = (before - sum(len(p) for p in proposals)) / len(proposals)
            get_event_storage().put_scalar("reploss/num_bg_excluded_by_ignore", excluded)
        indexed = []
        for t in targets:
            t = Instances(t.image_size, **t.get_fields())  # shallow copy: the caller's targets stay unchanged
            t.gt_index = torch.arange(len(t), device=t.gt_boxes.device)
            indexed.append(t)
        sampled = super().label_and_sample_proposals(proposals, indexed)
        for p, t, ign in zip(sampled, targets, ignore_instances):
            self._attach_repulsion_targets(p, t, ign)
        return sampled

    def _drop_background_in_ignore(
        self, proposals: Instances, targets: Instances, ignore: Optional[Instances]
    ) -> Instances:
        """Remove the Q proposals that the matcher would label background and that lie in an ignore region."""
        if ignore is None or len(ignore) == 0 or len(proposals) == 0:
            return proposals
        _, labels = self.proposal_matcher(pairwise_iou(targets.gt_boxes, proposals.proposal_boxes))  # (Q,)
        ioa = pairwise_ioa(ignore.gt_boxes, proposals.proposal_boxes).max(dim=0).values  # (Q,) over proposal area
        drop = (labels == 0) & (ioa > self.ignore_ioa_thresh)
        return proposals[~drop]

    def _attach_repulsion_targets(self, proposals: Instances, targets: Instances, ignore: Optional[Instances]) -> None:
        """Set `gt_index`, `rep_boxes`, `rep_valid` on one image's S sampled proposals (in place)."""
        boxes = proposals.proposal_boxes.tensor
        num = len(proposals)
        fg = (proposals.gt_classes >= 0) & (proposals.gt_classes < self.num_classes)
        # images without GT get no gt_* fields from Detectron2: placeholders keep Instances.cat / cat() working
        gt_index = proposals.gt_index if proposals.has("gt_index") else torch.full((num,), -1, device=boxes.device)
        gt_index = torch.where(fg, gt_index, torch.full_like(gt_index, -1))
        rep_boxes, rep_valid = boxes.clone(), torch.zeros(num, dtype=torch.bool, device=boxes.device)
        if bool(fg.any()):
            extra = self._repulsion_ignore_boxes(ignore)
            rep_boxes[fg], rep_valid[fg] = select_repulsion_gt(
                boxes[fg], targets.gt_boxes.tensor, gt_index[fg], self.rep_gt_dup_iou, extra_boxes=extra
            )
        proposals.gt_index = gt_index
        proposals.rep_boxes = rep_boxes
        proposals.rep_valid = rep_valid

    def _repulsion_ignore_boxes(self, ignore: Optional[Instances]) -> Optional[Tensor]:
        """The (I', 4) ignore boxes that may serve as G_Rep (all, or the `ignored_person` ones), or None."""
        if ignore is None or len(ignore) == 0:
            return None
        if self.rep_gt_use_ignore:
            return ignore.gt_boxes.tensor
        if self.rep_gt_use_ignored_persons and ignore.has("ignored_person"):
            return ignore.gt_boxes.tensor[ignore.ignored_person]
        return None
