"""MODEL.OPL.BBOX_PRED_BIAS: the initial bias of the ltrb regression conv (0 = FCOS/DeFCN's init)."""
import torch
from detectron2.layers import ShapeSpec

from opl.head import OPLHead


def _head(bias):
    shapes = [ShapeSpec(channels=16, stride=s) for s in (8, 16)]
    return OPLHead(input_shape=shapes, num_classes=1, num_convs=1, gn_groups=4, num_c2f_blocks=0, cpn_on=False,
                   bbox_pred_bias=bias)


def test_default_is_the_fcos_init_and_the_bias_moves_every_location_to_the_live_side():
    torch.manual_seed(0)
    assert torch.count_nonzero(_head(0.0).bbox_pred.bias) == 0
    head = _head(1.0)
    assert torch.equal(head.bbox_pred.bias.detach(), torch.ones(4))
    feats = [torch.randn(2, 16, 8, 8), torch.randn(2, 16, 4, 4)]
    deltas = head(feats)["box_deltas"]
    # weights start at std 0.01, so every location predicts delta ~ 1 > 0: ReLU passes gradient everywhere
    assert all(bool((d > 0.5).all()) for d in deltas)
    zero = _head(0.0)(feats)["box_deltas"]
    # with FCOS's zero init a share of them starts on the dead side (20 % and 23 % per level in this draw)
    assert all(float((d <= 0).float().mean()) > 0.1 for d in zero)
