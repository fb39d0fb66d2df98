"""tools/main_job.py: the report README records every config override of the training command."""
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _main_job():
    spec = importlib.util.spec_from_file_location("main_job", os.path.join(REPO, "tools", "main_job.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_records_every_override_of_the_training_command():
    mj = _main_job()
    opts = ["SOLVER.MAX_ITER", "100", "TEST.EVAL_PERIOD", "0"]
    w = "out/pretext/R18_synthetic.pkl"
    assert mj.train_overrides("out/train", w, opts) == [("MODEL.WEIGHTS", w), ("OUTPUT_DIR", "out/train"),
                                                         ("SOLVER.MAX_ITER", "100"), ("TEST.EVAL_PERIOD", "0")]
    text = mj.overrides_markdown("out/train", w, opts)
    for key, value in mj.train_overrides("out/train", w, opts):
        assert f"| `{key}` | `{value}` |" in text
