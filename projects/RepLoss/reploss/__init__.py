"""
reploss: Repulsion Loss ("Repulsion Loss: Detecting Pedestrians in a Crowd", Wang et al., CVPR 2018) on Detectron2's
Faster R-CNN. Importing the package registers RepLossROIHeads (ROI_HEADS_REGISTRY), PedestrianRPN
(PROPOSAL_GENERATOR_REGISTRY) and PedestrianRCNN (META_ARCH_REGISTRY). The loss functions themselves live in pedet.layers (smooth_ln, box_ops, repulsion).
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)

from . import meta_arch as _meta_arch  # noqa: F401  (registration only)
from . import roi_heads as _roi_heads  # noqa: F401  (registration only)
from . import rpn as _rpn  # noqa: F401  (registration only)
from .config import add_reploss_config
from .fast_rcnn import RepLossOutputLayers
from .meta_arch import PedestrianRCNN
from .roi_heads import RepLossROIHeads
from .rpn import PedestrianRPN

__all__ = ["add_reploss_config", "PedestrianRCNN", "PedestrianRPN", "RepLossOutputLayers", "RepLossROIHeads"]
