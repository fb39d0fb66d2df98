"""Shared helpers of the pedet.data tests: fixture roots, re-registering the built-in names under a root, and writing
small images and files."""
import contextlib
import os

import numpy as np
import pytest
from PIL import Image

import pedet.data  # noqa: F401  (registers the built-in names)
from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.data import builtin
from pedet.data.common import datasets_root

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")

BENCHMARK_NAMES = (
    list(builtin._CROWDHUMAN) + list(builtin._CITYPERSONS_PER_IMAGE) + list(builtin._CITYPERSONS_JSON)
    + list(builtin._CALTECH) + list(builtin._TJU_PED)
)


def write_image(path, height: int = 24, width: int = 32) -> None:
    """A black RGB image of height x width at path (its folders made)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


def write_file(path, content) -> str:
    """Text (str) or bytes at path (its folders made); returns the path as a str."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())
    return str(path)


def fixture_root(benchmark: str) -> str:
    """tests/fixtures/<benchmark>: a $DETECTRON2_DATASETS root holding that benchmark's official layout."""
    return os.path.abspath(os.path.join(FIXTURES, benchmark))


def _register_benchmarks(root: str) -> None:
    for name in BENCHMARK_NAMES:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    builtin.register_all_crowdhuman(root)
    builtin.register_all_citypersons(root)
    builtin.register_all_caltech(root)
    builtin.register_all_tju_ped(root)


@contextlib.contextmanager
def benchmarks_registered_under(root: str):
    """Re-register every benchmark name under `root` (as if $DETECTRON2_DATASETS=root), restore afterwards."""
    _register_benchmarks(root)
    try:
        yield
    finally:
        _register_benchmarks(datasets_root())


@pytest.fixture
def registered_under():
    return benchmarks_registered_under
