"""
Ninth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier trials'
checks are in their tables (tests/pedet/test_bad_input_third_model.py; the benchmark's in
tests/benchmarks/test_crowd_benchmark_smoke.py).
"""
import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")
DEMO_OPTS = ["--opts", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1",
             "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def _demo_module():
    spec = importlib.util.spec_from_file_location("ninth_trial_demo", os.path.join(REPO, "demo", "demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_refuses_two_images_that_would_be_written_to_one_file(tmp_path):
    """a/x.jpg and b/x.jpg with --output <folder> left one annotated image (the later one overwrote the earlier, in
    silence; so did a/x and b/x.jpg, both written as x.jpg). The same file named twice is no conflict."""
    import cv2
    import numpy as np

    demo = _demo_module()
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), 100, np.uint8))
    for sub, name in (("a", "x.jpg"), ("b", "x.jpg"), ("c", "x")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / name).write_bytes(data.tobytes())
    out = tmp_path / "out"
    for first, second in (("a/x.jpg", "b/x.jpg"), ("c/x", "b/x.jpg")):
        with pytest.raises(demo.InputError) as e:
            demo.main(["--config-file", OPL_TINY, "--input", str(tmp_path / first), str(tmp_path / second),
                       "--output", str(out), *DEMO_OPTS])
        assert str(e.value) == (f"--input {tmp_path / first} and {tmp_path / second}: both would be written to "
                                f"{out / 'x.jpg'}; give them separate runs or --output folders")
        assert not out.exists()  # refused before anything is written
    same = [str(tmp_path / "a" / "x.jpg"), str(tmp_path / "a" / "*.jpg")]
    assert demo.main(["--config-file", OPL_TINY, "--input", *same, "--output", str(out), *DEMO_OPTS]) == [
        str(out / "x.jpg")] * 2
