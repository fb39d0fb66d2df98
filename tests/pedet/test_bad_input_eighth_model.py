"""
Eighth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Parametrised config cases that
fit the earlier trials' checks are in their tables (tests/pedet/test_bad_input_third_model.py).
"""
import os

import pytest

from ..scripts import fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")


def _export_module():
    module = fresh_script("tools/export.py", "eighth_trial_export")
    return module


@pytest.mark.parametrize("output", ["", "  "])
def test_export_refuses_an_empty_output_name_before_any_work(tmp_path, monkeypatch, capsys, output):
    # "" was the working directory: the model was built, traced and verified, then the write failed with
    # "[Errno 21] is a folder, not a file: '<cwd>'", a message that does not name --output
    export = _export_module()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(export, "_export", lambda *a, **k: pytest.fail("exported although --output names no file"))
    with pytest.raises(SystemExit) as e:
        export.main(["--config-file", OPL_TINY, "--output", output])
    assert e.value.code == 2 and os.listdir(tmp_path) == []
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    message = f"error: --output {output!r}: must name the file to write (.onnx / .ts)"
    assert len(err) == 1 and err[0].endswith(message), err
