"""
Tenth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier trials'
checks are in their tables (tests/pedet/test_bad_input_fifth_model.py; the benchmark's in
tests/benchmarks/test_crowd_benchmark_smoke.py).
"""
import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")
DEMO_OPTS = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1",
             "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def _demo_module():
    spec = importlib.util.spec_from_file_location("tenth_trial_demo", os.path.join(REPO, "demo", "demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key, value", [("DATASETS.TEST", "('nope',)"), ("DATASETS.TRAIN", "('synthetic_crowd_trian',)"),
                                        ("DATASETS.TEST", "('',)")])
def test_demo_ground_truth_from_an_unregistered_config_set_is_an_error(tmp_path, key, value):
    """Without --gt-dataset the demo draws the ground truth of DATASETS.TEST / TRAIN: an unregistered name there drew
    none, in silence, while --gt-dataset with that name is an error. --no-gt reads neither key: accepted."""
    import cv2
    import numpy as np

    from pedet.config import ConfigError

    demo = _demo_module()
    image = tmp_path / "x.jpg"
    cv2.imwrite(str(image), np.full((48, 64, 3), 100, np.uint8))
    argv = ["--config-file", OPL_TINY, "--input", str(image), "--output", str(tmp_path / "out")]
    with pytest.raises(ConfigError) as e:
        demo.main([*argv, "--opts", *DEMO_OPTS, key, value])
    name = value[2:-3]
    assert e.value.code == (f"error: config: {key} {name!r}: not a registered data set, so no ground truth could be "
                            "drawn (register it, name it with --gt-dataset, or give --no-gt)")
    assert not (tmp_path / "out").exists()
    assert demo.main([*argv, "--no-gt", "--opts", *DEMO_OPTS, key, value]) == [str(tmp_path / "out" / "x.jpg")]
