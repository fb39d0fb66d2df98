"""Fixtures of the RepLoss tests."""
import pytest

from .helpers import TINY_CONFIG, load_cfg


@pytest.fixture
def tiny_cfg():
    """The tiny RepLoss config (alpha = beta = 0.5) with 128 px inputs."""
    return load_cfg(TINY_CONFIG, "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 128,
                    "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 128)
