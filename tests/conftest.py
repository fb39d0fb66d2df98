"""Shared pytest setup: deterministic, single-threaded CPU torch (two xdist workers share the two cores)."""
import logging
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


@pytest.fixture(autouse=True)
def _restore_pedet_logger():
    """The demo, the export and the train_net entry points call detectron2's setup_logger(name="pedet"), which stops
    the propagation of pedet's records; undo it after every test, so that later tests' caplog still sees them."""
    logger = logging.getLogger("pedet")
    propagate, handlers, level = logger.propagate, list(logger.handlers), logger.level
    yield
    logger.propagate, logger.handlers[:] = propagate, handlers
    logger.setLevel(level)
