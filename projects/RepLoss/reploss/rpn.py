"""
RPN for pedestrian data with ignore boxes, used by the Repulsion Loss project's Faster R-CNN (reploss.meta_arch).

Shape shorthand:  A = anchors of one image over all levels,  G = valid GT boxes,  I = ignore boxes of one image.
Boxes are XYXY_ABS.

Detectron2's RPN labels every anchor 1 (IoU >= 0.7 with a GT, or the best anchor of a GT), 0 (IoU < 0.3 with every
GT) or -1 (in between: not sampled), then samples 256 anchors per image. An ignore box (gt_classes == -1: a CityPersons
rider, group or ignore region, a person too small or too occluded for the train rule, a CrowdHuman "mask" box) is not
a GT here, so without more care every anchor on it is a plain negative. ``PedestrianRPN`` takes the targets with their
ignore boxes: they are never matched, and with ``exclude_bg_in_ignore`` (INPUT.IGNORE_MODE "exclude_bg") an anchor
labelled 0 whose IoA (intersection over the anchor's area) with some ignore box exceeds ``ignore_ioa_thresh`` becomes
-1 before sampling: neither positive nor negative, Detectron2's own label for anchors it does not train on. This is
the same rule as the R-CNN side (reploss.roi_heads.RepLossROIHeads). With "drop" the labels are Detectron2's exactly.
"""
from typing import List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling.proposal_generator import PROPOSAL_GENERATOR_REGISTRY, RPN
from detectron2.structures import Boxes, Instances, pairwise_ioa, pairwise_iou
from detectron2.utils.events import get_event_storage
from detectron2.utils.memory import retry_if_cuda_oom

from pedet.data.mapper import split_ignore_instances

__all__ = ["PedestrianRPN"]


@PROPOSAL_GENERATOR_REGISTRY.register()
class PedestrianRPN(RPN):
    """
    Detectron2's RPN whose `gt_instances` may hold ignore boxes (gt_classes == -1); see the module docstring.
    Inference and losses are RPN's.
    """

    @configurable
    def __init__(self, *, exclude_bg_in_ignore: bool = False, ignore_ioa_thresh: float = 0.5, **kwargs):
        """
        Args:
            exclude_bg_in_ignore: anchors labelled background that lie in an ignore box (IoA > `ignore_ioa_thresh`)
                are labelled -1 (not sampled) instead.
            ignore_ioa_thresh: IoA threshold in [0, 1) (MODEL.REPLOSS.IGNORE_IOA_THRESH).
            **kwargs: as RPN.
        """
        super().__init__(**kwargs)
        self.exclude_bg_in_ignore = exclude_bg_in_ignore
        self.ignore_ioa_thresh = ignore_ioa_thresh

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["exclude_bg_in_ignore"] = cfg.INPUT.IGNORE_MODE == "exclude_bg"
        ret["ignore_ioa_thresh"] = cfg.MODEL.REPLOSS.IGNORE_IOA_THRESH
        return ret

    @torch.jit.unused
    @torch.no_grad()
    def label_and_sample_anchors(
        self, anchors: List[Boxes], gt_instances: List[Instances]
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """
        RPN.label_and_sample_anchors with ignore boxes: matched on the valid boxes only, and, with
        `exclude_bg_in_ignore`, background anchors inside an ignore box relabelled -1 before sampling.

        Args:
            anchors: anchors of each feature level.
            gt_instances: N Instances with `gt_boxes` and, when ignore boxes are present, `gt_classes` (-1 = ignore).
        Returns:
            N label vectors (A,) in {-1, 0, 1}, and N (A, 4) matched GT boxes (undefined where the label is not 1).
        """
        anchors = Boxes.cat(anchors)
        labels, matched_boxes, excluded = [], [], 0
        for inst in gt_instances:
            valid, ignore = split_ignore_instances(inst) if inst.has("gt_classes") else (inst, None)
            matched_idxs, labels_i = retry_if_cuda_oom(self.anchor_matcher)(
                retry_if_cuda_oom(pairwise_iou)(valid.gt_boxes, anchors)
            )
            labels_i = labels_i.to(device=valid.gt_boxes.device)
            if self.anchor_boundary_thresh >= 0:  # Detectron2's legacy option (off by default)
                labels_i[~anchors.inside_box(inst.image_size, self.anchor_boundary_thresh)] = -1
            if self.exclude_bg_in_ignore and ignore is not None and len(ignore) > 0:
                in_ignore = pairwise_ioa(ignore.gt_boxes, anchors).max(dim=0).values > self.ignore_ioa_thresh  # (A,)
                relabel = (labels_i == 0) & in_ignore
                excluded += int(relabel.sum())
                labels_i[relabel] = -1
            labels.append(self._subsample_labels(labels_i))
            # anchors of an image without valid GT are all background: their matched boxes are never read
            matched_boxes.append(valid.gt_boxes[matched_idxs].tensor if len(valid) else torch.zeros_like(anchors.tensor))
        if self.exclude_bg_in_ignore and self.training:
            get_event_storage().put_scalar("reploss/num_rpn_bg_excluded_by_ignore", excluded / max(1, len(labels)))
        return labels, matched_boxes
