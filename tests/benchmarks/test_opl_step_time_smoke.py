"""
Smoke test of benchmarks/opl_step_time.py (issue 4 §5) on a tiny model: every variant is timed round-robin at every
density, the assignment time is measured inside the step (a share in (0, 1)), and the JSON has what RESULTS.md reads.
"""
import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def mod():
    spec = importlib.util.spec_from_file_location("_bench_opl_step_time",
                                                  os.path.join(REPO, "benchmarks", "opl_step_time.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_opl_step_time_smoke(mod, tmp_path, capsys):
    out = tmp_path / "step.json"
    mod.main(["--depth", "18", "--size", "96", "--batch", "1", "--persons", "20", "--warmup", "0",
              "--steps", "1", "--json", str(out)])
    got = json.loads(out.read_text())
    rows = {(r["variant"], r["persons"]): r for r in got["rows"]}
    assert set(rows) == {(v, 20) for v in mod.VARIANTS}
    for r in rows.values():
        assert r["step_s"] > 0 and r["step_cpu_s"] > 0 and len(r["steps"]) == 1
        assert 0.0 < r["assign_share"] < 1.0  # the assigner ran inside the timed step
    printed = capsys.readouterr().out
    assert "| 20 | opl_cpn_1x1 |" in printed and "vs FCOS" in printed


def test_opl_step_time_flop_count(mod, tmp_path):
    out = tmp_path / "flops.json"
    mod.main(["--depth", "18", "--size", "64", "--flops", "--json", str(out)])
    g = {c["variant"]: c for c in json.loads(out.read_text())["gmacs"]}
    # same backbone for all; the OPL head costs more than FCOS's, and the 3x3 CPN more than the 1x1 one
    assert g["fcos_baseline"]["backbone"] == g["opl"]["backbone"] == g["opl_cpn_1x1"]["backbone"] > 0
    assert g["opl"]["head"] > g["opl_cpn_1x1"]["head"] > g["fcos_baseline"]["head"] > 0
    for c in g.values():
        assert abs(c["total"] - c["backbone"] - c["head"]) < 1e-6
