"""
Layers and losses shared by the projects. Import from the submodules:

- ``pedet.layers.focal``: focal loss on S = sigmoid(z_cls) * sigmoid(z_cpn) (OPL), in log space from the two logits.
- ``pedet.layers.smooth_ln``: Smooth_ln of the RepLoss paper, Eq. (5).
- ``pedet.layers.box_ops``: IoG (RepLoss Eq. 4) and a NaN-safe differentiable pairwise IoU.
- ``pedet.layers.repulsion``: RepGT (Eq. 3-4) and RepBox (Eq. 6) terms, used by Faster R-CNN and the OPL head.
"""
