"""
Thirteenth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier
trials' checks are in their tables (tests/pedet/test_bad_input_third_model.py, ..._fifth_model.py, ..._tenth_model.py).
"""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_to_one_diagnostics_levels_of_a_faster_rcnn_run_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """--levels on a RepLoss (Faster R-CNN) run was refused only after the model was built and the test set
    predicted."""
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "one_to_one_diagnostics.py"))
    monkeypatch.setattr(module, "_crowd_quality", lambda: pytest.fail("the work started"))
    run = tmp_path / "reploss_seed0"
    run.mkdir()
    (run / "config.yaml").write_text("MODEL:\n  META_ARCHITECTURE: PedestrianRCNN\n")
    (run / "model_final.pth").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        module.main([str(run), "--levels"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: --levels: needs an FCOS-style (OPL project) run; {run} is a Faster R-CNN run")
