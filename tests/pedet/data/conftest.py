"""Shared helpers of the pedet.data tests: fixture roots and re-registering the built-in names under a root."""
import contextlib
import os

import pytest

import pedet.data  # noqa: F401  (registers the built-in names)
from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.data import builtin
from pedet.data.common import datasets_root

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")

BENCHMARK_NAMES = (
    list(builtin._CROWDHUMAN) + list(builtin._CITYPERSONS_PER_IMAGE) + list(builtin._CITYPERSONS_JSON)
    + list(builtin._CALTECH) + list(builtin._TJU_PED)
)


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
