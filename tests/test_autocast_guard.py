"""The guard of tests/autocast_guard.py catches every way of reaching binary_cross_entropy (so tests using it can fail)."""
import pytest
import torch
import torch.nn.functional as F

from .autocast_guard import AutocastBannedOpError, refuse_autocast_banned_ops

P, T = torch.full((3,), 0.5, requires_grad=True), torch.tensor([0.0, 1.0, 1.0])


@pytest.mark.parametrize("call", [
    lambda: F.binary_cross_entropy(P, T),
    lambda: torch.nn.functional.binary_cross_entropy(P, T),
    lambda: torch.nn.BCELoss()(P, T),
    lambda: torch._C._nn.binary_cross_entropy(P, T),
], ids=["F", "torch.nn.functional", "nn.BCELoss", "aten"])
def test_guard_raises_on_every_entry_point(monkeypatch, call):
    with refuse_autocast_banned_ops(monkeypatch), pytest.raises(AutocastBannedOpError):
        call()


def test_guard_lets_the_autocast_safe_ops_through(monkeypatch):
    with refuse_autocast_banned_ops(monkeypatch):
        loss = F.binary_cross_entropy_with_logits(torch.zeros(3, requires_grad=True), T)
        loss.backward()
    assert torch.isfinite(loss)
