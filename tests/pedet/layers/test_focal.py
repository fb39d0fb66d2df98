"""Tests of pedet.layers.focal: focal loss on S = sigmoid(z_cls) * sigmoid(z_cpn) in log space (OPL's L_cls)."""
import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from pedet.layers.focal import focal_loss_on_logit_product, log_sigmoid_product


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def probability_space_focal(s: torch.Tensor, t: torch.Tensor, alpha=0.25, gamma=2.0) -> torch.Tensor:
    """The earlier formula on the probability S (fp64 here, so it is exact where S and 1 - S are not tiny)."""
    ce = -(t * torch.log(s) + (1 - t) * torch.log1p(-s))
    p_t = s * t + (1 - s) * (1 - t)
    return (alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma


def test_hand_values():
    # gate None: S = sigmoid(z). z = 0: S = 1/2; z = logit(0.9): S = 0.9
    z = torch.tensor([0.0, 0.0, logit(0.9)])
    t = torch.tensor([1.0, 0.0, 1.0])
    # S=0.5, t=1: 0.25 * 0.5^2 * ln 2;  S=0.5, t=0: 0.75 * 0.5^2 * ln 2;  S=0.9, t=1: 0.25 * 0.1^2 * (-ln 0.9)
    expected = torch.tensor([0.0625 * math.log(2), 0.1875 * math.log(2), 0.0025 * -math.log(0.9)])
    torch.testing.assert_close(focal_loss_on_logit_product(z, None, t), expected)
    # with a gate: sigmoid(ln 3) * sigmoid(0) = 0.75 * 0.5 = 0.375; positive: 0.25 * 0.625^2 * -ln 0.375
    got = focal_loss_on_logit_product(torch.tensor([math.log(3.0)]), torch.tensor([0.0]), torch.tensor([1.0]))
    assert got.item() == pytest.approx(0.25 * 0.625**2 * -math.log(0.375), rel=1e-6)


def test_gamma_zero_no_alpha_is_bce():
    # -ln(0.8) for a positive at S = 0.8
    loss = focal_loss_on_logit_product(torch.tensor([logit(0.8)]), None, torch.tensor([1.0]), alpha=-1, gamma=0)
    assert loss.item() == pytest.approx(-math.log(0.8), rel=1e-6)


def test_equals_torchvision_sigmoid_focal_loss_without_gate():
    z = torch.linspace(-12, 12, 25)
    t = (torch.arange(25) % 2).float()
    torch.testing.assert_close(focal_loss_on_logit_product(z, None, t), sigmoid_focal_loss(z, t), rtol=1e-5,
                               atol=1e-7)


def test_equals_the_probability_space_formula_where_it_is_well_conditioned():
    # S in [1e-3, 1 - 1e-3], (K = 3 classes, one gate per location broadcast over classes), soft targets included
    g = torch.Generator().manual_seed(0)
    z_cls = torch.empty(64, 3).uniform_(-3.5, 6.0, generator=g)
    z_cpn = torch.empty(64, 1).uniform_(-3.5, 6.0, generator=g)
    t = torch.randint(0, 2, (64, 3), generator=g).float()
    t[:8] = torch.rand(8, 3, generator=g)
    s = torch.sigmoid(z_cls.double()) * torch.sigmoid(z_cpn.double())
    assert 1e-3 < s.min() and s.max() < 1 - 1e-3
    want = probability_space_focal(s, t.double()).float()
    torch.testing.assert_close(focal_loss_on_logit_product(z_cls, z_cpn, t), want, rtol=2e-5, atol=1e-7)
    # the gradients agree too (fp64 autograd of the probability-space formula as reference)
    zc, zg = z_cls.double().requires_grad_(), z_cpn.double().requires_grad_()
    probability_space_focal(torch.sigmoid(zc) * torch.sigmoid(zg), t.double()).sum().backward()
    zc32, zg32 = z_cls.clone().requires_grad_(), z_cpn.clone().requires_grad_()
    focal_loss_on_logit_product(zc32, zg32, t).sum().backward()
    torch.testing.assert_close(zc32.grad, zc.grad.float(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(zg32.grad, zg.grad.float(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("z_cls,z_cpn", [(-16.0, 0.0), (-9.0, -7.0), (0.0, -16.0)])
def test_positive_at_s_1e_minus_7_gets_the_analytic_gradient(z_cls, z_cpn):
    # S ~ 1e-7 (the old clamp at 1e-6 gave exactly zero gradient here). For a positive, L = -a (1 - S)^g log S and
    # dL/dz = -a (1 - sigmoid(z)) (1 - S)^(g - 1) ((1 - S) - g S log S), for z = z_cls or z_cpn.
    alpha, gamma = 0.25, 2.0
    a = torch.tensor([z_cls], dtype=torch.float64)
    b = torch.tensor([z_cpn], dtype=torch.float64)
    s = (torch.sigmoid(a) * torch.sigmoid(b)).item()
    assert 1e-8 < s < 1e-6

    def analytic(z):
        sig = 1.0 / (1.0 + math.exp(-z))
        return -alpha * (1 - sig) * (1 - s) ** (gamma - 1) * ((1 - s) - gamma * s * math.log(s))

    za = torch.tensor([z_cls], requires_grad=True)
    zb = torch.tensor([z_cpn], requires_grad=True)
    loss = focal_loss_on_logit_product(za, zb, torch.tensor([1.0]), alpha, gamma)
    loss.backward()
    assert loss.item() == pytest.approx(-alpha * (1 - s) ** gamma * math.log(s), rel=1e-6)
    assert za.grad.item() == pytest.approx(analytic(z_cls), rel=1e-5)
    assert zb.grad.item() == pytest.approx(analytic(z_cpn), rel=1e-5)
    assert za.grad.item() < -0.1  # a real pull upwards, not a vanishing one


def test_log_one_minus_s_is_accurate_near_one():
    # a = b = 20: 1 - S = 2 e^-20 + O(e^-40) ~ 4.1e-9, below fp32's resolution of 1: log(1 - S) = log 2 - 20
    a, b = torch.tensor([20.0]), torch.tensor([20.0])
    log_s, log_1ms = log_sigmoid_product(a, b)
    assert log_1ms.item() == pytest.approx(math.log(2.0) - 20.0, rel=1e-6)
    assert log_s.item() == pytest.approx(-2 * math.log1p(math.exp(-20.0)), rel=1e-6)
    # a negative at S ~ 1 is penalised, finitely: 0.75 * S^2 * (20 - log 2)
    loss = focal_loss_on_logit_product(a, b, torch.tensor([0.0]))
    assert loss.item() == pytest.approx(0.75 * (20.0 - math.log(2.0)), rel=1e-5)


@pytest.mark.parametrize("z", [-200.0, -30.0, -1.0, 0.0, 1.0, 30.0, 200.0])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_loss_and_gradient_finite_everywhere(z, t):
    za = torch.tensor([z], requires_grad=True)
    zb = torch.tensor([z], requires_grad=True)
    loss = focal_loss_on_logit_product(za, zb, torch.tensor([t]))
    loss.backward()
    assert torch.isfinite(loss).all() and torch.isfinite(za.grad).all() and torch.isfinite(zb.grad).all()


def test_fp32_result_from_low_precision_logits():
    z = torch.tensor([0.5, -2.0], dtype=torch.bfloat16)
    loss = focal_loss_on_logit_product(z, z[:1], torch.tensor([1.0, 0.0]))
    assert loss.dtype == torch.float32


def test_reductions_and_empty_input():
    z, t = torch.zeros(2), torch.tensor([1.0, 0.0])
    # S = 1/2 both: sum = (0.0625 + 0.1875) ln 2 = 0.25 ln 2; mean = 0.125 ln 2
    assert focal_loss_on_logit_product(z, None, t, reduction="sum").item() == pytest.approx(0.25 * math.log(2))
    assert focal_loss_on_logit_product(z, None, t, reduction="mean").item() == pytest.approx(0.125 * math.log(2))
    empty = torch.zeros(0, 1, requires_grad=True)
    loss = focal_loss_on_logit_product(empty, torch.zeros(0, 1), torch.zeros(0, 1), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0 and empty.grad is not None
    with pytest.raises(ValueError):
        focal_loss_on_logit_product(z, None, t, reduction="max")
