"""
OPL: "Optimal Proposal Learning for Deployable End-to-End Pedestrian Detection" (Song et al., CVPR 2023) on
Detectron2. Importing this package registers the meta-architecture ``OPL`` and the backbone
``build_fcos_resnet_fpn_backbone``.
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)

from . import backbone as _backbone  # noqa: F401  (registration only)
from . import meta_arch as _meta_arch  # noqa: F401  (registration only)
from .config import add_opl_config
from .head import OPLHead
from .meta_arch import OPL

__all__ = ["add_opl_config", "OPL", "OPLHead"]
