"""
Faster R-CNN meta-architecture for pedestrian data with ignore boxes (docs/methods.md §3.1), used by the Repulsion
Loss project ("Repulsion Loss: Detecting Pedestrians in a Crowd", Wang et al., CVPR 2018) and its baselines.

Shape shorthand:  N = images in the batch,  G_n = valid GT boxes of image n,  I_n = ignore boxes of image n.

PedestrianDatasetMapper keeps ignore boxes as instances with gt_classes == -1 (all fields of one Instances must have
one length, detectron2 structures/instances.py). Detectron2's GeneralizedRCNN would hand them to the RPN and ROI
matchers as if they were a class, so this subclass keeps them out of both matchers: PedestrianRPN (reploss.rpn) gets
the targets with their ignore boxes and matches the valid ones only (another RPN gets the valid boxes only, as
CrowdDet's RPN, PEER [R18]); RepLossROIHeads gets the valid boxes as `targets` and the ignore boxes as
`ignore_instances`. With INPUT.IGNORE_MODE "exclude_bg" both stages stop using what lies in an ignore box as a
negative (anchors and proposals with IoA > MODEL.REPLOSS.IGNORE_IOA_THRESH); the ignore boxes can serve as repulsion
GTs (MODEL.REPLOSS.REP_GT_USE_IGNORE, REP_GT_USE_IGNORED_PERSONS). Inference is GeneralizedRCNN's.
"""
from typing import Dict, List

import torch
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.utils.events import get_event_storage

from pedet.data.mapper import split_ignore_instances

from .roi_heads import RepLossROIHeads
from .rpn import PedestrianRPN

__all__ = ["PedestrianRCNN"]


@META_ARCH_REGISTRY.register()
class PedestrianRCNN(GeneralizedRCNN):
    """
    GeneralizedRCNN that removes ignore boxes (gt_classes == -1) from the targets of the RPN and ROI heads and passes
    them to the ROI heads separately when those accept them (RepLossROIHeads).
    """

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        if cfg.INPUT.IGNORE_MODE == "exclude_bg" and not isinstance(ret["roi_heads"], RepLossROIHeads):
            raise ValueError("INPUT.IGNORE_MODE='exclude_bg' needs MODEL.ROI_HEADS.NAME='RepLossROIHeads'")
        if cfg.INPUT.IGNORE_MODE == "exclude_bg" and not isinstance(ret["proposal_generator"], PedestrianRPN):
            raise ValueError("INPUT.IGNORE_MODE='exclude_bg' needs MODEL.PROPOSAL_GENERATOR.NAME='PedestrianRPN'")
        if ret["proposal_generator"] is None:
            raise ValueError("PedestrianRCNN needs a proposal generator (MODEL.PROPOSAL_GENERATOR.NAME)")
        return ret

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """
        Args:
            batched_inputs: N dicts from PedestrianDatasetMapper; in training each holds "instances" with `gt_boxes`
                and `gt_classes` (-1 = ignore).
        Returns:
            training: dict of `loss_*` scalars (RPN + ROI heads); inference: as GeneralizedRCNN.
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        assert "instances" in batched_inputs[0], "PedestrianRCNN needs 'instances' in training"
        instances = [x["instances"].to(self.device) for x in batched_inputs]
        valid, ignore = zip(*[split_ignore_instances(x) for x in instances])
        valid, ignore = list(valid), list(ignore)
        get_event_storage().put_scalar("reploss/num_ignore_per_image", sum(len(i) for i in ignore) / len(ignore))

        features = self.backbone(images.tensor)
        # PedestrianRPN matches the valid boxes and can exclude anchors in ignore boxes; any other RPN sees valid ones
        rpn_targets = instances if isinstance(self.proposal_generator, PedestrianRPN) else valid
        proposals, proposal_losses = self.proposal_generator(images, features, rpn_targets)
        if isinstance(self.roi_heads, RepLossROIHeads):
            _, detector_losses = self.roi_heads(images, features, proposals, valid, ignore_instances=ignore)
        else:  # e.g. StandardROIHeads: ignore boxes are dropped
            _, detector_losses = self.roi_heads(images, features, proposals, valid)
        if self.vis_period > 0:
            storage = get_event_storage()
            if storage.iter % self.vis_period == 0:
                self.visualize_training(batched_inputs, proposals)

        losses = {}
        losses.update(detector_losses)
        losses.update(proposal_losses)
        return losses
