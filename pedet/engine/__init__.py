"""
pedet.engine: operations shared by the projects' train_net.py scripts and tools (issue 7).

- ``launch``: detectron2's ``launch`` that also runs on CPU (gloo); v0.6's asserts CUDA and hard-codes NCCL.
- ``ResumableTrainingSampler``: detectron2's infinite ``TrainingSampler`` whose seed is checkpointed and which
  continues the data order at the resumed iteration (defined in pedet.data.samplers, re-exported here).
- ``RepairingJSONWriter`` / ``repair_jsonl``: metrics.json that survives ``kill -9`` (torn last line repaired).
- ``atomic_write`` / ``atomic_write_json`` / ``atomic_torch_save``: write-to-temporary + fsync + rename.
- ``PedetCheckpointer`` / ``load_checkpoint_file``: weights-only loading of ``.pth`` files; says when a pickle must be
  trusted.
- ``PedetTrainerMixin``: hooks all of the above into a ``DefaultTrainer`` subclass (``class Trainer(PedetTrainerMixin,
  DefaultTrainer)``), plus DistributedDataParallel of a CPU model.
- ``PedestrianTrainer``: that Trainer with pedet's loaders, the miss-rate evaluator and the best-checkpoint hook;
  the ``Trainer`` of both projects' train_net.py.
"""
import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)

from pedet.data.samplers import ResumableTrainingSampler

from .checkpoint import PedetCheckpointer, load_checkpoint_file
from .io import atomic_torch_save, atomic_write, atomic_write_json
from .launch import launch
from .trainer import PedestrianTrainer, PedetTrainerMixin
from .writers import RepairingJSONWriter, read_jsonl, repair_jsonl

__all__ = [
    "PedetCheckpointer",
    "PedetTrainerMixin",
    "PedestrianTrainer",
    "RepairingJSONWriter",
    "ResumableTrainingSampler",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_json",
    "launch",
    "load_checkpoint_file",
    "read_jsonl",
    "repair_jsonl",
]
