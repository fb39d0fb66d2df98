"""benchmarks/one_to_one_diagnostics.py: the per-person best / runner-up scores, hand-computed."""
import importlib.util
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def diag():
    spec = importlib.util.spec_from_file_location("_bench_o2o", os.path.join(REPO, "benchmarks",
                                                                             "one_to_one_diagnostics.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_best_and_runner_up_per_person(diag):
    gt = np.array([[0, 0, 10, 20], [50, 0, 60, 20], [100, 100, 110, 120]], dtype=float)
    det = np.array([[0, 0, 10, 20],      # GT 0, IoU 1
                    [0, 1, 10, 21],      # GT 0, IoU 19/21 = 0.905
                    [0, 10, 10, 30],     # GT 0, IoU 10/30 = 0.33: not counted
                    [50, 0, 60, 20]],    # GT 1, alone; GT 2 has no detection
                   dtype=float)
    scores = np.array([0.4, 0.9, 0.95, 0.7])
    best, second = diag.best_and_runner_up(gt, det, scores)
    np.testing.assert_allclose(best, [0.9, 0.7])
    np.testing.assert_allclose(second, [0.4, 0.0])
    s = diag.summarize(best, second)
    assert s["persons_with_a_detection"] == 2
    assert s["best_median"] == pytest.approx(0.8) and s["runner_up_median"] == pytest.approx(0.2)
    assert s["ratio_median"] == pytest.approx((0.4 / 0.9 + 0.0) / 2)
    assert s["share_runner_up_ge_0.3"] == 0.5 and s["share_runner_up_ge_half_best"] == 0.0
    assert diag.best_and_runner_up(gt, np.zeros((0, 4)), np.zeros(0))[0].size == 0
    assert diag.summarize(np.zeros(0), np.zeros(0)) == {"persons_with_a_detection": 0}


def test_a_directory_without_a_model_is_refused(diag, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        diag.main([str(tmp_path)])
    assert e.value.code == 2 and "no config.yaml" in capsys.readouterr().err
