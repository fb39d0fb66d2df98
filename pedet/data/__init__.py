"""
pedet.data: pedestrian benchmarks in Detectron2 Dataset format, the dataset mapper, samplers, and format converters.

Importing this package registers every built-in data set name (see `builtin`) in Detectron2's DatasetCatalog; the
files are read only when a data set is requested through `DatasetCatalog.get`. Records follow one format for all
benchmarks (`common.make_annotation`): unclipped full box, visible box, visibility ratio, height, and ignore boxes
kept as category_id -1.

The file readers, loaders and converters import neither torch nor Detectron2, so that the pure-data commands
(`python -m pedet.data.convert`, `python -m pedet.data.synthetic`) start in a fraction of a second. The registration
therefore runs when `detectron2.data` is imported (at once if it already is; `pedet.utils.imports`): a program can
only look a data set up through `detectron2.data`, so every name is registered by then whatever the import order.
The mapper, the loader builders and the sampler need Detectron2 and are imported on first access (PEP 562).
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2 import)
from pedet.utils.imports import call_after_import

from . import builtin as _builtin
from .caltech import load_caltech
from .citypersons import load_citypersons_json, load_citypersons_per_image
from .common import DatasetFormatError
from .crowdhuman import load_crowdhuman_odgt
from .tju import load_tju_ped

__all__ = [
    "DatasetFormatError",
    "PedestrianDatasetMapper",
    "ResumableTrainingSampler",
    "build_pedestrian_test_loader",
    "build_pedestrian_train_loader",
    "get_pedestrian_dataset_dicts",
    "load_caltech",
    "load_citypersons_json",
    "load_citypersons_per_image",
    "load_crowdhuman_odgt",
    "load_tju_ped",
    "split_ignore_instances",
]

# name -> submodule; these need torch and Detectron2
_LAZY = {
    "PedestrianDatasetMapper": "mapper",
    "split_ignore_instances": "mapper",
    "build_pedestrian_test_loader": "build",
    "build_pedestrian_train_loader": "build",
    "get_pedestrian_dataset_dicts": "build",
    "ResumableTrainingSampler": "samplers",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


call_after_import("detectron2.data", _builtin.register_builtin_datasets)
