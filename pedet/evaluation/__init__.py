"""
Miss-rate evaluation for pedestrian detection: CityPersons (official ``eval_MR_multisetup.py`` semantics, or the
MATLAB rule), CrowdHuman (AP, mMR, Recall, JI as the CrowdDet toolkit) and Caltech (Dollar toolbox), one numpy
core, an offline command (``python -m pedet.evaluation``) and a Detectron2 ``DatasetEvaluator``.

The numpy modules (io, mr, citypersons, crowdhuman, caltech, report, error_analysis) never import torch or
Detectron2; ``MissRateEvaluator`` / ``build_miss_rate_evaluator`` load Detectron2 on first access (PEP 562), so
``import pedet.evaluation`` stays cheap for the command line.
"""
from .io import EvalInputError, GroundTruthSet, DetectionSet  # noqa: F401
from .report import PROTOCOLS, EvaluationReport, evaluate, read_inputs  # noqa: F401

__all__ = [
    "EvalInputError", "GroundTruthSet", "DetectionSet", "PROTOCOLS", "EvaluationReport", "evaluate",
    "read_inputs", "MissRateEvaluator", "build_miss_rate_evaluator", "miss_rate_metric",
]

_LAZY = {"MissRateEvaluator", "build_miss_rate_evaluator", "miss_rate_metric"}


def __getattr__(name):
    if name in _LAZY:
        from . import evaluator

        return getattr(evaluator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
