"""
Smoke test of benchmarks/gpu_check.py's CPU path (``--device cpu --smoke``): every section runs on tiny sizes, AMP
goes through PedetAMPTrainer (bfloat16 on the CPU), the OPL assignment is timed inside the step, and the JSON and the
table hold what RESULTS.md reads. The CUDA figures themselves need a GPU.
"""
import importlib.util
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_gpu_check_cpu_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("_bench_gpu_check", os.path.join(REPO, "benchmarks", "gpu_check.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu_check.json"
    mod.main(["--device", "cpu", "--smoke", "--out", str(out)])
    got = json.loads(out.read_text())
    assert got["budget"] == "smoke" and got["device"].startswith("CPU")
    train = {(r["project"], r["precision"]): r for r in got["rows"] if r["section"] == "train"}
    assert set(train) == {(p, q) for p in ("opl", "reploss") for q in ("fp32", "amp")}
    for (project, precision), r in train.items():
        assert r["losses_finite"] and r["it_per_s"] > 0 and len(r["steps_s"]) == 1
        assert r.get("autocast_dtype") == ("bfloat16" if precision == "amp" else None)
        if project == "opl":
            assert 0.0 < r["assign_share"] < 1.0 and r["assign_over_10pct"] in (True, False)
    infer = {(r["project"], r["precision"], r["batch"]): r for r in got["rows"] if r["section"] == "inference"}
    assert set(infer) == {(p, q, b) for p in ("opl", "reploss") for q in ("fp32", "fp16") for b in (1, 2)}
    assert all(r["images_per_s"] > 0 for r in infer.values())
    latency = [r for r in got["rows"] if r["section"] == "latency"]
    assert [r["persons"] for r in latency] == [10, 25]
    for r in latency:
        assert r["opl_no_nms_e2e_ms"] > r["opl_no_nms_post_ms"] > 0 and r["fcos_nms_e2e_ms"] > 0
    printed = capsys.readouterr().out
    assert "| train | opl | amp (bfloat16) | 5 persons |" in printed and "| latency | OPL / FCOS+NMS |" in printed
