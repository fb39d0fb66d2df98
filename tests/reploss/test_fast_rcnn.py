"""
Tests of reploss.fast_rcnn.RepLossOutputLayers: hand-computed loss_rep_gt / loss_rep_box under both normalisations,
alpha = beta = 0 equal to Detectron2's FastRCNNOutputLayers, and the empty batch.
"""
import math

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from reploss import RepLossOutputLayers

COMMON = dict(box2box_transform=Box2BoxTransform(weights=(10.0, 10.0, 5.0, 5.0)), num_classes=1, smooth_l1_beta=0.25)


def make_layers(alpha, beta, norm_mode="d2"):
    return RepLossOutputLayers(
        ShapeSpec(channels=8), rep_gt_weight=alpha, rep_box_weight=beta, norm_mode=norm_mode, **COMMON
    )


def toy_proposals():
    """
    One image, R = 4 ROIs: two positives sitting exactly on their targets, GT0 = [0,0,2,2] and GT1 = [1,0,3,2],
    each repelled by the other GT; two background ROIs (class 1 = background for K = 1).
    """
    gt0, gt1 = [0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]
    p = Instances((10, 10))
    p.proposal_boxes = Boxes(torch.tensor([gt0, gt1, [5.0, 5.0, 6.0, 6.0], [7.0, 7.0, 9.0, 9.0]]))
    p.gt_classes = torch.tensor([0, 0, 1, 1])
    p.gt_boxes = Boxes(torch.tensor([gt0, gt1, gt0, gt0]))
    p.gt_index = torch.tensor([0, 1, -1, -1])
    p.rep_boxes = torch.tensor([gt1, gt0, [0.0] * 4, [0.0] * 4])
    p.rep_valid = torch.tensor([True, True, False, False])
    return [p]


def zero_predictions():
    """Zero deltas: every decoded box B^P equals its proposal."""
    return torch.zeros(4, 2, requires_grad=True), torch.zeros(4, 4, requires_grad=True)


def test_rep_losses_hand_values_d2_normalisation():
    with EventStorage():
        losses = make_layers(0.5, 0.5).losses(zero_predictions(), toy_proposals())
    # RepGT: IoG(B0, GT1) = IoG(B1, GT0) = (1 x 2) / 4 = 0.5 -> -ln(0.5) = ln 2 each; alpha * 2 ln 2 / R(4)
    assert losses["loss_rep_gt"].item() == pytest.approx(0.5 * 2 * math.log(2.0) / 4)
    # RepBox: one pair with different targets, IoU 2 / 6 = 1/3, mean 1/3; beta * (|P+| / R = 2/4) * 1/3 = 1/12
    assert losses["loss_rep_box"].item() == pytest.approx(0.5 * (2 / 4) * (1 / 3))
    assert losses["loss_box_reg"].item() == 0.0  # zero deltas, proposals on their targets


def test_rep_losses_hand_values_paper_normalisation():
    with EventStorage():
        losses = make_layers(0.5, 0.5, "paper").losses(zero_predictions(), toy_proposals())
    # Eq. (4): alpha * 2 ln 2 / |P+|(2);  Eq. (6): beta * 1/3
    assert losses["loss_rep_gt"].item() == pytest.approx(0.5 * math.log(2.0))
    assert losses["loss_rep_box"].item() == pytest.approx(0.5 / 3)


def test_paper_normalisation_divides_attraction_by_positives_instead_of_rois():
    proposals = toy_proposals()
    deltas = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 4)  # dx = 1 on every ROI: smooth-L1 only on the 2 positives
    with EventStorage():
        d2 = make_layers(0.0, 0.0, "d2").losses((torch.zeros(4, 2), deltas), proposals)
        paper = make_layers(0.0, 0.0, "paper").losses((torch.zeros(4, 2), deltas), proposals)
    # smooth-L1(1, beta 0.25) = 1 - 0.125 = 0.875 per positive: d2 2 * 0.875 / 4, paper 2 * 0.875 / 2
    assert d2["loss_box_reg"].item() == pytest.approx(2 * 0.875 / 4)
    assert paper["loss_box_reg"].item() == pytest.approx(2 * 0.875 / 2)


def test_alpha_beta_zero_gives_exactly_detectron2_loss_dict():
    torch.manual_seed(0)
    ours = make_layers(0.0, 0.0)
    base = FastRCNNOutputLayers(ShapeSpec(channels=8), **COMMON)
    base.load_state_dict(ours.state_dict())
    features = torch.randn(4, 8)
    with EventStorage():
        got = ours.losses(ours(features), toy_proposals())
        want = base.losses(base(features), toy_proposals())
    assert got.keys() == want.keys() == {"loss_cls", "loss_box_reg"}
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_zero_weight_term_has_no_key():
    with EventStorage():
        losses = make_layers(0.5, 0.0).losses(zero_predictions(), toy_proposals())
    assert "loss_rep_gt" in losses and "loss_rep_box" not in losses


def test_repulsion_gradient_reaches_the_deltas_of_positives_only():
    scores, deltas = zero_predictions()
    with EventStorage():
        losses = make_layers(0.5, 0.5).losses((scores, deltas), toy_proposals())
    (losses["loss_rep_gt"] + losses["loss_rep_box"]).backward()
    # B0 = [0,0,2,2] is repelled by GT1 / B1 on its right: dx of ROI 0 gets a positive gradient (descent moves it left)
    assert deltas.grad[0, 0] > 0 and deltas.grad[1, 0] < 0
    assert torch.equal(deltas.grad[2:], torch.zeros(2, 4))


def test_empty_batch_gives_zero_connected_losses():
    layers = make_layers(0.5, 0.5)
    p = Instances((10, 10))
    p.proposal_boxes = Boxes(torch.zeros(0, 4))
    p.gt_classes = torch.zeros(0, dtype=torch.long)
    p.gt_index = torch.zeros(0, dtype=torch.long)
    p.rep_boxes = torch.zeros(0, 4)
    p.rep_valid = torch.zeros(0, dtype=torch.bool)
    with EventStorage():
        losses = layers.losses(layers(torch.zeros(0, 8)), [p])
    sum(losses.values()).backward()
    assert losses["loss_rep_gt"].item() == 0.0 and losses["loss_rep_box"].item() == 0.0
    assert layers.bbox_pred.weight.grad is not None


def test_missing_repulsion_fields_raise():
    p = toy_proposals()[0]
    p.remove("rep_boxes")
    with EventStorage(), pytest.raises(KeyError, match="RepLossROIHeads"):
        make_layers(0.5, 0.5).losses(zero_predictions(), [p])


def test_rep_box_pairing_reaches_the_loss(tiny_cfg):
    from detectron2.modeling.roi_heads import build_roi_heads

    tiny_cfg.MODEL.REPLOSS.REP_BOX_PAIRING = "one_per_gt"
    shapes = {f"p{i}": ShapeSpec(channels=tiny_cfg.MODEL.FPN.OUT_CHANNELS, stride=2 ** i) for i in range(2, 7)}
    assert build_roi_heads(tiny_cfg, shapes).box_predictor.rep_box_pairing == "one_per_gt"
    # one positive per target already: both readings give the one pair (GT0, GT1), IoU 2 / 6 = 1/3
    layers = {p: RepLossOutputLayers(ShapeSpec(channels=8), rep_gt_weight=0.0, rep_box_weight=1.0,
                                     rep_box_pairing=p, **COMMON) for p in ("all", "one_per_gt")}
    with EventStorage():
        losses = {p: layer.losses((torch.zeros(4, 2), torch.zeros(4, 4)), toy_proposals())["loss_rep_box"]
                  for p, layer in layers.items()}
    assert torch.allclose(losses["all"], losses["one_per_gt"])
    with pytest.raises(ValueError, match="REP_BOX_PAIRING"):
        RepLossOutputLayers(ShapeSpec(channels=8), rep_box_pairing="pairs", **COMMON)
