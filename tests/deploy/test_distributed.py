"""
Both projects' train_net.main on two CPU processes (pedet.engine.launch: gloo, the CPU equivalent of --num-gpus 2),
and OPL evaluation gathered over two ranks equal to the same evaluation in one process.
"""
import json
import os
import subprocess

from .conftest import OPL_CONFIG, OPL_TINY_OPTS, REPLOSS_CONFIG, REPLOSS_TINY_OPTS, runner_command, subprocess_env
from .runner import worker_main

TIMEOUT = 300  # s; a hung gloo rendezvous must fail the test, not CI


def _train(project, root, argv, start_method, num_procs=2):
    # "spawn" is what users get (detectron2's choice); "fork" starts the workers without re-importing torch and
    # detectron2 in each (tens of seconds saved on this 2-core machine), so each start method is tested once
    env = dict(subprocess_env(), PEDET_START_METHOD=start_method)
    proc = subprocess.run(runner_command(project, root, argv, num_procs), env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _records(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f]


def _predictions(output_dir, dataset):
    with open(os.path.join(output_dir, "inference", dataset, "predictions.odgt")) as f:
        return sorted(json.loads(line)["ID"] + json.dumps(json.loads(line)["dtboxes"]) for line in f)


def test_opl_two_processes_train_and_gathered_eval_equals_one_process(tiny_root, tmp_path):
    from .conftest import VAL_SET

    two = str(tmp_path / "two")
    # batch 2 = 1 image per rank; 3 iterations, then the EvalHook (threshold 0.001: a young model has low scores)
    opts = [*OPL_TINY_OPTS, "SOLVER.MAX_ITER", "3", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "()",
            "SOLVER.CHECKPOINT_PERIOD", "100", "TEST.EVAL_PERIOD", "3", "MODEL.OPL.SCORE_THRESH_TEST", "0.001",
            "TEST.DETECTIONS_PER_IMAGE", "20", "SEED", "7",
            # GN, not the config's BN: DefaultTrainer's DDP has broadcast_buffers=False, so each rank would keep its
            # own BN running statistics and rank 1 would evaluate another model than the checkpoint (use SyncBN there)
            "MODEL.RESNETS.NORM", "GN"]
    proc = _train("opl", tiny_root, ["--config-file", OPL_CONFIG, *opts, "OUTPUT_DIR", two], "fork")
    assert "World size: 2" in proc.stdout + proc.stderr
    records = _records(two)
    assert max(r["iteration"] for r in records if "total_loss" in r) == 2
    evaluated = next(r for r in records if "crowdhuman/mMR" in r)
    assert os.path.isfile(os.path.join(two, "model_final.pth"))

    one = str(tmp_path / "one")
    result = str(tmp_path / "one.json")
    worker_main("opl", tiny_root, ["--config-file", OPL_CONFIG, "--eval-only", *opts, "OUTPUT_DIR", one,
                                   "MODEL.WEIGHTS", os.path.join(two, "model_final.pth")], "", result)
    single = json.load(open(result))["crowdhuman"]
    assert set(single) == {"AP", "mMR", "Recall", "JI"}
    for key, value in single.items():
        assert abs(evaluated[f"crowdhuman/{key}"] - value) < 1e-9, key
    # the 2-rank evaluator gathered every image, with the same detections as one process
    assert _predictions(two, VAL_SET) == _predictions(one, VAL_SET)
    assert len(_predictions(one, VAL_SET)) == 6


def test_reploss_two_processes_train(tiny_root, tmp_path):
    out = str(tmp_path / "reploss")
    opts = [*REPLOSS_TINY_OPTS, "SOLVER.MAX_ITER", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "()",
            "SOLVER.CHECKPOINT_PERIOD", "100", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "SEED", "7"]
    proc = _train("reploss", tiny_root, ["--config-file", REPLOSS_CONFIG, *opts, "OUTPUT_DIR", out], "spawn")
    assert "World size: 2" in proc.stdout + proc.stderr
    records = _records(out)
    assert records[-1]["iteration"] == 1 and "loss_rep_gt" in records[-1] and "loss_rep_box" in records[-1]
    assert os.path.isfile(os.path.join(out, "model_final.pth"))
