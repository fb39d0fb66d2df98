"""Shared pytest setup: deterministic, single-threaded CPU torch (two xdist workers share the two cores)."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pedet  # noqa: E402,F401  (before any detectron2.data import: Pillow alias)
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
