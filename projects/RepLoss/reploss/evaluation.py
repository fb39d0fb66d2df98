"""
Which miss-rate number ranks RepLoss checkpoints and NMS sweeps: the headline metric of the data set's protocol
(MetadataCatalog evaluator_type, the same field pedet.evaluation.MissRateEvaluator reads).
"""
from detectron2.data import MetadataCatalog

__all__ = ["MISS_RATE_KEY", "miss_rate_metric"]

# protocol -> key in MissRateEvaluator's result dict (percent, lower is better): CrowdHuman's log-average miss rate,
# CityPersons' / Caltech's MR^-2 on the Reasonable subset (the number the RepLoss paper reports)
MISS_RATE_KEY = {"crowdhuman": "mMR", "citypersons": "Reasonable", "caltech": "Reasonable"}


def miss_rate_metric(dataset_name: str) -> str:
    """
    Args:
        dataset_name: a registered data set with `evaluator_type` metadata.
    Returns:
        the flattened result key, e.g. "crowdhuman/mMR" or "citypersons/Reasonable" (as EvalHook stores it).
    """
    protocol = MetadataCatalog.get(dataset_name).evaluator_type
    if protocol not in MISS_RATE_KEY:
        raise KeyError(f"{dataset_name}: evaluator_type {protocol!r} has no miss-rate metric ({sorted(MISS_RATE_KEY)})")
    return f"{protocol}/{MISS_RATE_KEY[protocol]}"
