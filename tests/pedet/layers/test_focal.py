"""Tests of pedet.layers.focal: focal loss on probabilities (OPL's L_cls on S = S_cls * S_cpn)."""
import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from pedet.layers.focal import focal_loss_on_probs


def test_focal_on_probs_hand_values():
    p = torch.tensor([0.5, 0.5, 0.9])
    t = torch.tensor([1.0, 0.0, 1.0])
    # p=0.5, t=1: 0.25 * 0.5^2 * ln 2;  p=0.5, t=0: 0.75 * 0.5^2 * ln 2;  p=0.9, t=1: 0.25 * 0.1^2 * (-ln 0.9)
    expected = torch.tensor([0.0625 * math.log(2), 0.1875 * math.log(2), 0.0025 * -math.log(0.9)])
    torch.testing.assert_close(focal_loss_on_probs(p, t), expected)


def test_gamma_zero_no_alpha_is_bce():
    # -ln(0.8) for a positive at 0.8
    assert focal_loss_on_probs(torch.tensor([0.8]), torch.tensor([1.0]), alpha=-1, gamma=0).item() == pytest.approx(
        -math.log(0.8), rel=1e-6)


def test_equals_torchvision_sigmoid_focal_loss_on_a_single_sigmoid():
    z = torch.linspace(-4, 4, 9)
    t = (torch.arange(9) % 2).float()
    torch.testing.assert_close(focal_loss_on_probs(torch.sigmoid(z), t), sigmoid_focal_loss(z, t), rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("p", [0.0, 1e-12, 1.0 - 1e-9, 1.0])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_gradient_finite_at_saturation(p, t):
    probs = torch.tensor([p], requires_grad=True)
    loss = focal_loss_on_probs(probs, torch.tensor([t]))
    loss.backward()
    assert torch.isfinite(loss).all() and torch.isfinite(probs.grad).all()


def test_reductions_and_empty_input():
    p, t = torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])
    # sum = (0.0625 + 0.1875) ln 2 = 0.25 ln 2; mean = 0.125 ln 2
    assert focal_loss_on_probs(p, t, reduction="sum").item() == pytest.approx(0.25 * math.log(2), rel=1e-6)
    assert focal_loss_on_probs(p, t, reduction="mean").item() == pytest.approx(0.125 * math.log(2), rel=1e-6)
    empty = torch.zeros(0, requires_grad=True)
    loss = focal_loss_on_probs(empty, torch.zeros(0), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0 and empty.grad is not None
    with pytest.raises(ValueError):
        focal_loss_on_probs(p, t, reduction="max")
