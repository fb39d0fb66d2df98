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


CALTECH_FRAMES = ("set06_V000_I00029", "set06_V000_I00059")


def write_caltech_frames(root, visible_height: int) -> None:
    """Two 640 x 480 Caltech frames (bbGt files under root/anno, images under root/images), each with a not-occluded
    pedestrian [100, 100, 41, 100]; in the first an occluded one [300, 100, 41, 100] whose visible box is
    `visible_height` px tall, in the second an occluded one whose visible box is its full box."""
    header = "% bbGt version=3\n"
    write_file(os.path.join(root, "anno", f"{CALTECH_FRAMES[0]}.txt"), header + "person 100 100 41 100 0 0 0 0 0 0 0\n"
               f"person 300 100 41 100 1 300 100 41 {visible_height} 0 0\n")
    write_file(os.path.join(root, "anno", f"{CALTECH_FRAMES[1]}.txt"), header + "person 100 100 41 100 0 0 0 0 0 0 0\n"
               "person 300 100 41 100 1 300 100 41 100 0 0\n")
    for frame in CALTECH_FRAMES:
        write_image(os.path.join(root, "images", f"{frame}.jpg"), 480, 640)
