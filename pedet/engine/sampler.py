"""Moved to pedet.data.samplers (samplers live with the data code, as detectron2.data.samplers); kept as an alias."""
from pedet.data.samplers import ResumableTrainingSampler  # noqa: F401

__all__ = ["ResumableTrainingSampler"]
