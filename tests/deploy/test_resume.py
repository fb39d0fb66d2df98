"""
kill -9 after a checkpoint, then --resume: same iteration count, LR schedule and data order as an uninterrupted run,
and metrics.json still parses line by line (also after a write torn by the kill, simulated).
"""
import json
import os
import signal
import subprocess
import time

import torch

from .conftest import OPL_CONFIG, OPL_TINY_OPTS, runner_command, subprocess_env

# 8 iterations of 2 images; LR: warm-up over 2 iterations, x0.1 from iteration 5; checkpoints after iterations 3, 7.
# No random flip (the mapper's random draws are not replayed on resume), no evaluation.
OPTS = [*OPL_TINY_OPTS, "SOLVER.MAX_ITER", "8", "SOLVER.BASE_LR", "0.01", "SOLVER.WARMUP_METHOD", "linear",
        "SOLVER.WARMUP_FACTOR", "0.01", "SOLVER.WARMUP_ITERS", "2", "SOLVER.STEPS", "(5,)", "SOLVER.GAMMA", "0.1",
        "SOLVER.CHECKPOINT_PERIOD", "4", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "INPUT.RANDOM_FLIP", "none",
        "SEED", "7"]
ENV = dict(subprocess_env(), PEDET_TEST_WRITER_PERIOD="1")  # metrics of every iteration


def _start(root, out, record, resume=False):
    argv = ["--config-file", OPL_CONFIG, *(["--resume"] if resume else []), *OPTS, "OUTPUT_DIR", out]
    return subprocess.Popen(runner_command("opl", root, argv, record=record), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def _expected_image_ids(num_images: int) -> list:
    """The uninterrupted run's image order: the dataset dicts in ResumableTrainingSampler(8, seed=SEED 7) order (one
    process, no DataLoader worker, one aspect-ratio group: mapping order = sampler order), 2 images x 8 iterations."""
    import itertools

    from detectron2.data import DatasetCatalog
    from pedet.engine import ResumableTrainingSampler

    from .conftest import TRAIN_SET

    dicts = DatasetCatalog.get(TRAIN_SET)
    return [str(dicts[i]["image_id"]) for i in itertools.islice(iter(ResumableTrainingSampler(len(dicts), seed=7)),
                                                               num_images)]


def test_kill_and_resume_continues_iterations_schedule_and_data_order(tiny_root, tmp_path):
    run_dir = str(tmp_path / "run")
    first_ids, resumed_ids = str(tmp_path / "first.txt"), str(tmp_path / "resumed.txt")
    first = _start(tiny_root, run_dir, first_ids)
    tag = os.path.join(run_dir, "last_checkpoint")
    deadline = time.time() + 240
    while not (os.path.isfile(tag) and open(tag).read() == "model_0000003.pth"):
        assert first.poll() is None, first.stdout.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    with open(os.path.join(run_dir, "metrics.json"), "a") as f:
        f.write('{"iteration": 5, "lr": 0.00')  # what a kill during a write leaves

    resumed = _start(tiny_root, run_dir, resumed_ids, resume=True)
    log, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, log[-3000:]
    assert "Starting training from iteration 4" in log

    # data order: iterations 0-3 of the first run and 4-7 of the resumed run are the uninterrupted stream's
    expected = _expected_image_ids(16)
    assert _lines(first_ids)[:8] == expected[:8]
    assert _lines(resumed_ids) == expected[8:]

    # metrics.json parses line by line; iterations increase; the LR of every iteration is the schedule's
    with open(os.path.join(run_dir, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    iterations = [r["iteration"] for r in records]
    # iteration 3's record may be lost: its checkpoint is written before its metrics, and the kill came in between
    assert iterations in ([0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 4, 5, 6, 7])
    # WarmupMultiStepLR, BASE_LR 0.01, WARMUP_FACTOR 0.01, linear over 2 iterations, x0.1 from iteration 5:
    # it 0: 0.01 * 0.01 = 1e-4;  it 1: alpha = 1/2, 0.01 * (0.01 * (1 - 1/2) + 1/2) = 0.00505;  it 2-4: 0.01;
    # it 5-7: 0.001. Before the fix in PedetTrainerMixin.state_dict, iteration 4 ran at 1e-4.
    schedule = {0: 1e-4, 1: 0.00505, 2: 0.01, 3: 0.01, 4: 0.01, 5: 0.001, 6: 0.001, 7: 0.001}
    assert all(abs(r["lr"] - schedule[r["iteration"]]) < 1e-12 for r in records)

    final = torch.load(os.path.join(run_dir, "model_final.pth"), map_location="cpu", weights_only=True)
    assert final["iteration"] == 7
    assert final["train_sampler"] == {"seed": 7, "size": 8, "world_size": 1, "images_per_batch_per_rank": 2}
    assert "state" in final["trainer"]["_trainer"]["optimizer"]  # momentum buffers are checkpointed
