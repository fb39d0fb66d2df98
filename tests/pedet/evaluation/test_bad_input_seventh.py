"""
Seventh bad-input trial of the evaluation side (issue 11): MissRateEvaluator settings that a protocol never uses
(compute_ji=False outside CrowdHuman, resize_dets=False outside Caltech) were accepted without a word.
"""
import logging

import pytest

from .d2_fixtures import register


@pytest.mark.parametrize("protocol, key, applies", [("citypersons", "compute_ji", "crowdhuman"),
                                                   ("caltech", "compute_ji", "crowdhuman"),
                                                   ("crowdhuman", "resize_dets", "caltech"),
                                                   ("citypersons", "resize_dets", "caltech")])
def test_a_setting_the_protocol_never_uses_is_announced_once(protocol, key, applies, caplog):
    from pedet.evaluation import MissRateEvaluator

    register(f"_seventh_{protocol}", protocol)
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        ev = MissRateEvaluator(f"_seventh_{protocol}", distributed=False, **{key: False})
        ev.reset()
        ev.reset()
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [f"MissRateEvaluator: {key}=False applies to {applies} only; protocol '{protocol}' never "
                    "computes it, so the setting has no effect"], msgs
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        MissRateEvaluator(f"_seventh_{protocol}", distributed=False)  # the defaults: nothing to say
        MissRateEvaluator(f"_seventh_{protocol}", distributed=False, **{key: False}, protocol=applies)
    assert caplog.records == []
