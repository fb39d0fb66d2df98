"""
ResNet-FPN backbone for OPL/FCOS/DeFCN: P3-P5 from res3-res5, P6/P7 from P5 (not from C5 as in d2 RetinaNet).

Shape shorthand: N = images, C = MODEL.FPN.OUT_CHANNELS; output p_l is (N, C, ceil(H / 2^l), ceil(W / 2^l)).
The ResNet comes from detectron2's ``build_resnet_backbone``, so depth 18/34 (``RES2_OUT_CHANNELS`` 64) and every norm
of ``detectron2.layers.get_norm`` (FrozenBN, BN, SyncBN, GN) work through ``MODEL.RESNETS.NORM``/``MODEL.FPN.NORM``.
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import BACKBONE_REGISTRY, FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelP6P7
from detectron2.modeling.backbone.resnet import build_resnet_backbone


@BACKBONE_REGISTRY.register()
def build_fcos_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> Backbone:
    """
    ResNet + FPN with a ``LastLevelP6P7`` top block fed by ``MODEL.OPL.TOP_BLOCK_IN_FEATURE`` (default "p5",
    cvpods ``BLOCK_IN_FEATURES``; docs/methods.md §1.2). Strides 8, 16, 32, 64, 128 with the default in-features.

    Returns:
        an ``FPN`` whose ``output_shape()`` has keys p3..p7.
    """
    bottom_up = build_resnet_backbone(cfg, input_shape)
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    top_in = cfg.MODEL.OPL.TOP_BLOCK_IN_FEATURE
    if top_in == "p5":
        in_channels_p6p7 = out_channels
    else:  # a bottom-up feature such as "res5" (d2 RetinaNet style)
        in_channels_p6p7 = bottom_up.output_shape()[top_in].channels
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelP6P7(in_channels_p6p7, out_channels, in_feature=top_in),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
