"""Tests of pedet.layers.smooth_ln: Eq. (5) of the RepLoss paper, its sigma = 0 / sigma = 1 edges and its gradients."""
import math

import pytest
import torch

from pedet.layers.smooth_ln import smooth_ln


def test_smooth_ln_is_minus_log_below_sigma():
    x = torch.tensor([0.0, 0.5])
    # -ln(1 - 0) = 0;  -ln(1 - 0.5) = ln 2
    assert torch.allclose(smooth_ln(x, sigma=0.5), torch.tensor([0.0, math.log(2.0)]))


def test_smooth_ln_is_linear_above_sigma():
    # (0.75 - 0.5) / (1 - 0.5) - ln(1 - 0.5) = 0.5 + ln 2
    assert torch.allclose(smooth_ln(torch.tensor([0.75]), sigma=0.5), torch.tensor([0.5 + math.log(2.0)]))


def test_smooth_ln_is_continuous_with_continuous_slope_at_sigma():
    sigma, h = 0.5, 1e-4
    x = torch.tensor([sigma - h, sigma, sigma + h], dtype=torch.float64, requires_grad=True)
    y = smooth_ln(x, sigma)
    y.sum().backward()
    # value at sigma: -ln(0.5) = ln 2 on both sides; slope: 1 / (1 - x) -> 2 from the left, 1 / (1 - sigma) = 2 right
    assert abs(y[0].item() - math.log(2.0)) < 3 * h and abs(y[2].item() - math.log(2.0)) < 3 * h
    assert torch.allclose(x.grad, torch.tensor([1 / (0.5 + h), 2.0, 2.0], dtype=torch.float64))


def test_smooth_ln_sigma_zero_is_identity_on_unit_interval():
    x = torch.tensor([0.0, 0.25, 1.0])
    # sigma = 0: (x - 0) / (1 - 0) - ln(1) = x
    assert torch.allclose(smooth_ln(x, sigma=0.0), x)


def test_smooth_ln_sigma_one_is_exact_log_up_to_one_minus_eps_and_finite_at_one():
    x = torch.tensor([0.9, 0.999, 1.0], dtype=torch.float64)
    y = smooth_ln(x, sigma=1.0, eps=1e-3)
    # -ln(0.1) = ln 10; -ln(0.001) = ln 1000; at 1: ln 1000 + (1 - 0.999) / 0.001 = ln 1000 + 1
    expected = torch.tensor([math.log(10.0), math.log(1000.0), math.log(1000.0) + 1.0], dtype=torch.float64)
    assert torch.allclose(y, expected)


@pytest.mark.parametrize("sigma", [0.0, 0.5, 1.0])
def test_smooth_ln_gradient_is_finite_at_one(sigma):
    # torch.where back-propagates through the unselected -ln(1 - x) branch; at x = 1 that would be 0 * inf = NaN
    x = torch.tensor([0.0, 0.3, 0.999, 1.0], requires_grad=True)
    smooth_ln(x, sigma).sum().backward()
    assert torch.isfinite(x.grad).all()
    # slope above sigma_eff = min(sigma, 0.999) is 1 / (1 - sigma_eff): 1 for sigma 0, 2 for 0.5, 1000 for 1.0
    assert x.grad[3].item() == pytest.approx(1.0 / (1.0 - min(sigma, 0.999)), rel=1e-4)


@pytest.mark.parametrize("sigma, eps", [(-0.1, 1e-3), (1.5, 1e-3), (0.5, 0.0)])
def test_smooth_ln_rejects_out_of_range_parameters(sigma, eps):
    with pytest.raises(ValueError):
        smooth_ln(torch.tensor([0.5]), sigma, eps)
