"""
Test helper: fail on any op that CUDA autocast refuses, on a CPU-only machine.

CUDA autocast raises on ``binary_cross_entropy`` (``torch.nn.functional.binary_cross_entropy``, ``nn.BCELoss``):
"unsafe to autocast". On the CPU nothing refuses it, so a loss that uses it trains here and fails at the first
iteration of ``SOLVER.AMP.ENABLED True`` on a GPU. ``refuse_autocast_banned_ops`` raises instead, for every way of
reaching the op: the functional and module entry points are patched, and a dispatch mode catches the ATen op itself.
"""
import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

# the ATen ops CUDA autocast bans (aten/src/ATen/autocast_mode.cpp, "banned" list)
BANNED_OPS = (torch.ops.aten.binary_cross_entropy, torch.ops.aten.binary_cross_entropy_backward)


class AutocastBannedOpError(RuntimeError):
    pass


class _RefuseBannedOps(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in BANNED_OPS:
            raise AutocastBannedOpError(f"{func} is refused by CUDA autocast")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def refuse_autocast_banned_ops(monkeypatch) -> Iterator[None]:
    """Within the block, binary cross-entropy on probabilities raises AutocastBannedOpError (module docstring)."""

    def refuse(*args, **kwargs):
        raise AutocastBannedOpError("F.binary_cross_entropy is refused by CUDA autocast")

    monkeypatch.setattr(F, "binary_cross_entropy", refuse)  # nn.BCELoss calls it through the same module
    with _RefuseBannedOps():
        yield
