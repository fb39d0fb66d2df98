"""
pedet.data: pedestrian benchmarks in Detectron2 Dataset format, the dataset mapper, and format converters.

Importing this package registers every built-in data set name (see `builtin`); the files are read only when a data set
is requested through `DatasetCatalog.get`. Records follow one format for all benchmarks (`common.make_annotation`):
unclipped full box, visible box, visibility ratio, height, and ignore boxes kept as category_id -1.
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2 import)

from . import builtin as _builtin  # noqa: F401  (registration only)
from .build import build_pedestrian_test_loader, build_pedestrian_train_loader, get_pedestrian_dataset_dicts
from .caltech import load_caltech
from .citypersons import load_citypersons_json, load_citypersons_per_image
from .crowdhuman import load_crowdhuman_odgt
from .mapper import PedestrianDatasetMapper, split_ignore_instances
from .tju import load_tju_ped

__all__ = [
    "PedestrianDatasetMapper",
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
