"""pedet.engine units: resumable sampler, metrics repair, atomic writes, weights-only loading, backend choice."""
import itertools
import json
import logging
import os
import pickle

import pytest
import torch

from pedet.engine import ResumableTrainingSampler, atomic_write, atomic_write_json, load_checkpoint_file, repair_jsonl
from pedet.engine.launch import pick_backend


def test_sampler_resumed_stream_is_the_tail_of_the_uninterrupted_one():
    full = list(itertools.islice(iter(ResumableTrainingSampler(5, seed=3)), 23))
    resumed = ResumableTrainingSampler(5, seed=3)
    resumed.set_start_iter(4, 2)  # iteration 4 with 2 images per batch -> skip 4 * 2 = 8 indices
    assert list(itertools.islice(iter(resumed), 15)) == full[8:]
    # the stream is epochs of permutations: each block of 5 holds 0..4 once
    assert sorted(full[:5]) == sorted(full[5:10]) == [0, 1, 2, 3, 4]


def test_sampler_resume_per_rank_skips_within_the_rank_stream():
    # 2 ranks: rank r takes stream[r::2]; resuming rank 1 at iteration 3 (1 image/rank) skips its first 3 indices
    stream = list(itertools.islice(ResumableTrainingSampler(7, seed=5)._infinite_indices(), 40))
    s = ResumableTrainingSampler(7, seed=5)
    s._rank, s._world_size = 1, 2
    s.set_start_iter(3, 1)
    assert list(itertools.islice(iter(s), 10)) == stream[1::2][3:13]


def test_sampler_state_restores_the_seed():
    a, b = ResumableTrainingSampler(9, seed=11), ResumableTrainingSampler(9, seed=12)
    b.load_state_dict(a.state_dict())
    assert list(itertools.islice(iter(a), 20)) == list(itertools.islice(iter(b), 20))


@pytest.mark.parametrize("saved, ours, warned", [
    (dict(images_per_batch_per_rank=2), dict(images_per_batch_per_rank=2), False),
    (dict(images_per_batch_per_rank=2), dict(images_per_batch_per_rank=4), True),  # images of the stream skipped
    (dict(images_per_batch_per_rank=4), dict(images_per_batch_per_rank=2), True),  # images seen twice
    (dict(), dict(images_per_batch_per_rank=2), False),  # a checkpoint of a sampler that did not record its batch
])
def test_sampler_resumed_with_another_batch_is_named(caplog, saved, ours, warned):
    """The stream continues at start_iter x this run's batch: another batch than the checkpointed run's (SOLVER.
    IMS_PER_BATCH changed for --resume) skips or repeats images of the stream; the state records it and the load says
    so (it was silent; a changed data set size was already named)."""
    state = ResumableTrainingSampler(9, seed=11, **saved).state_dict()
    assert state.get("images_per_batch_per_rank") == saved.get("images_per_batch_per_rank")
    assert state["world_size"] == 1
    resumed = ResumableTrainingSampler(9, seed=12, **ours)
    with caplog.at_level(logging.WARNING, logger="pedet.data.samplers"):
        resumed.load_state_dict(state)
    assert resumed.state_dict()["seed"] == 11
    messages = [r.getMessage() for r in caplog.records if r.name == "pedet.data.samplers"]
    if warned:
        assert len(messages) == 1 and f"took {saved['images_per_batch_per_rank']} images per iteration" in messages[0]
        assert f"this run takes {ours['images_per_batch_per_rank']}" in messages[0]
    else:
        assert messages == []


def test_repair_jsonl_cuts_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.json"
    good = '{"iteration": 0, "lr": 0.1}\n{"iteration": 1, "lr": 0.1}\n'
    path.write_text(good + '{"iteration": 2, "l')  # kill -9 in the middle of a write
    # removed = len('{"iteration": 2, "l') = 19 bytes
    assert repair_jsonl(str(path)) == 19
    assert path.read_text() == good


def test_repair_jsonl_drops_iterations_the_resumed_run_repeats(tmp_path):
    path = tmp_path / "metrics.json"
    lines = [json.dumps({"iteration": i}) + "\n" for i in range(6)]
    path.write_text("".join(lines))
    repair_jsonl(str(path), drop_from_iteration=4)
    assert [json.loads(x)["iteration"] for x in path.read_text().splitlines()] == [0, 1, 2, 3]


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = str(tmp_path / "results.json")
    atomic_write_json(path, {"mMR": 50.0})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(path, {"mMR": Unserialisable()})
    assert json.load(open(path)) == {"mMR": 50.0}
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left behind
    atomic_write(path, "new")
    assert open(path).read() == "new"


class _Custom:  # a Python object: not loadable weights-only
    def __init__(self):
        self.x = 1


def test_load_checkpoint_file_is_weights_only_and_names_the_trust_switch(tmp_path, monkeypatch):
    plain, custom = str(tmp_path / "plain.pth"), str(tmp_path / "custom.pth")
    torch.save({"model": {"w": torch.ones(2)}, "iteration": 3}, plain)
    torch.save({"model": {"w": torch.ones(2)}, "extra": _Custom()}, custom)
    assert load_checkpoint_file(plain)["iteration"] == 3
    monkeypatch.delenv("PEDET_TRUST_PICKLE", raising=False)
    with pytest.raises(pickle.UnpicklingError, match="PEDET_TRUST_PICKLE"):
        load_checkpoint_file(custom)
    assert load_checkpoint_file(custom, trust_pickle=True)["extra"].x == 1
    monkeypatch.setenv("PEDET_TRUST_PICKLE", "1")
    assert load_checkpoint_file(custom)["extra"].x == 1


def test_pick_backend_is_gloo_without_cuda(monkeypatch):
    monkeypatch.delenv("PEDET_DIST_BACKEND", raising=False)
    assert pick_backend() == ("nccl" if torch.cuda.is_available() else "gloo")
    assert pick_backend("GLOO") == "gloo"
    with pytest.raises(ValueError):
        pick_backend("mpi")


@pytest.mark.parametrize("content,message", [
    (b"", "empty file, not a checkpoint"),
    (b"hello, I am a text file\n", r"not a PyTorch checkpoint \(neither torch.save's zip format nor a pickle"),
    (b"\x89PNG\r\n\x1a\n", "not a PyTorch checkpoint"),
])
def test_a_file_that_is_no_checkpoint_is_named_as_such_not_trust_advice(tmp_path, monkeypatch, content, message):
    from pedet.engine.checkpoint import CheckpointFileError

    path = tmp_path / "model.pth"
    path.write_bytes(content)
    for trust in ("", "1"):  # trusting the pickle cannot help, so it is not suggested
        monkeypatch.setenv("PEDET_TRUST_PICKLE", trust)
        with pytest.raises(CheckpointFileError, match=message) as e:
            load_checkpoint_file(str(path))
        assert "PEDET_TRUST_PICKLE" not in str(e.value) and str(path) in str(e.value)


def test_a_truncated_checkpoint_is_named_as_such(tmp_path):
    from pedet.engine.checkpoint import CheckpointFileError

    path = tmp_path / "model.pth"
    torch.save({"model": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(CheckpointFileError, match="truncated or damaged checkpoint"):
        load_checkpoint_file(str(path))


def test_check_weights_warns_on_empty_and_refuses_a_missing_file(tmp_path, caplog):
    from pedet.engine.checkpoint import CheckpointFileError, check_weights

    with caplog.at_level("WARNING", logger="pedet.engine.checkpoint"):
        check_weights("", "evaluating")
    assert "MODEL.WEIGHTS is empty: evaluating a RANDOMLY INITIALISED model" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="pedet.engine.checkpoint"):
        check_weights("")  # training from scratch: no warning
    assert caplog.text == ""
    with pytest.raises(CheckpointFileError, match="MODEL.WEIGHTS .*nope.pth: no such file"):
        check_weights(str(tmp_path / "nope.pth"), "evaluating")
    check_weights("detectron2://ImageNetPretrained/MSRA/R-50.pkl", "evaluating")  # left to detectron2


def test_repair_warning_names_the_iteration_only_when_there_is_one(tmp_path, caplog):
    path = tmp_path / "metrics.json"
    path.write_text('{"iteration": 1}\n{"iteration": 2')
    with caplog.at_level("WARNING", logger="pedet.engine.writers"):
        repair_jsonl(str(path))
    assert "torn last line" in caplog.text and "None" not in caplog.text
    path.write_text('{"iteration": 1}\n{"iteration": 5}\n')
    caplog.clear()
    with caplog.at_level("WARNING", logger="pedet.engine.writers"):
        repair_jsonl(str(path), drop_from_iteration=3)
    assert "iterations >= 3" in caplog.text


def test_eval_hook_results_keep_only_finite_values(caplog):
    import math

    from pedet.engine.trainer import _finite_results

    results = {"crowdhuman": {"AP": math.nan, "mMR": 40.0, "Recall": math.inf, "JI": 12.5}, "other": 1}
    with caplog.at_level("WARNING", logger="pedet.engine.trainer"):
        out = _finite_results(lambda: results)()
    assert out == {"crowdhuman": {"mMR": 40.0, "JI": 12.5}, "other": 1}
    assert "crowdhuman/AP, crowdhuman/Recall undefined (NaN)" in caplog.text


# ------------------------------------------------------------------ fresh bad inputs (issue 11, second trial)
def test_a_dangling_or_unreadable_last_checkpoint_is_named(tmp_path):
    from pedet.engine import PedetCheckpointer
    from pedet.engine.checkpoint import CheckpointFileError

    model = torch.nn.Linear(2, 2)
    PedetCheckpointer(model, str(tmp_path)).save("model_0000")
    tag = tmp_path / "last_checkpoint"
    for content, message in ((b"model_9999.pth", "names 'model_9999.pth', which is not a checkpoint file"),
                             (b"", "names '', which is not a checkpoint file"),  # fvcore: "Checkpoint ... not found!"
                             (b"\xff\xfe\x00", "last_checkpoint: cannot be read")):  # fvcore: UnicodeDecodeError
        tag.write_bytes(content)
        with pytest.raises(CheckpointFileError, match=message):
            PedetCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)
    tag.write_text("model_0000.pth")
    PedetCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)


def test_checkpoints_of_another_model_and_partial_ones_where_all_are_needed(tmp_path):
    from pedet.engine import PedetCheckpointer
    from pedet.engine.checkpoint import CheckpointFileError

    two = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    PedetCheckpointer(torch.nn.Sequential(torch.nn.Linear(2, 2)), str(tmp_path)).save("one")  # keys 0.weight, 0.bias
    path = str(tmp_path / "one.pth")
    PedetCheckpointer(two).load(path)  # fine-tuning from part of the weights: Detectron2's rule (a warning)
    with pytest.raises(CheckpointFileError, match=r"2 of the model's 4 parameters are not in the checkpoint .*"
                                                  "evaluating needs them all"):
        PedetCheckpointer(two, require_all=True).load(path)
    with pytest.raises(CheckpointFileError, match="exporting needs them all"):  # tools/export.py names its purpose
        PedetCheckpointer(two, require_all="exporting").load(path)
    with pytest.raises(CheckpointFileError, match="resuming needs them all"):  # last_checkpoint names one.pth
        PedetCheckpointer(two, str(tmp_path)).resume_or_load("", resume=True)
    with pytest.raises(CheckpointFileError, match="none of the model's 2 parameters is in the checkpoint"):
        PedetCheckpointer(torch.nn.Conv2d(1, 1, 3)).load(path)  # names differ: nothing would load
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointFileError, match="list.pth: holds a list, not a state dict"):
        PedetCheckpointer(two).load(str(tmp_path / "list.pth"))
    (tmp_path / "text.pkl").write_text("not a pickle\n")
    with pytest.raises(CheckpointFileError, match="text.pkl: not a readable pickle"):
        PedetCheckpointer(two).load(str(tmp_path / "text.pkl"))
    (tmp_path / "adir").mkdir()
    from pedet.engine.checkpoint import check_weights

    with pytest.raises(CheckpointFileError, match="adir: a directory, not a checkpoint file"):
        check_weights(str(tmp_path / "adir"), "evaluating")


@pytest.mark.parametrize("num_gpus, num_machines, machine_rank, dist_url, message", [
    (-1, 1, 0, "auto", "--num-gpus -1: must be >= 0"),
    (1, 0, 0, "auto", "--num-machines 0: must be >= 1"),
    (1, 1, 3, "auto", "--machine-rank 3: must be in [0, --num-machines 1)"),  # Detectron2 ignored it
    (1, 2, 0, "auto", "--dist-url auto works on one machine only"),  # was a ValueError traceback from launch
    # fourth trial: a RuntimeError / ValueError / DistStoreError traceback in every process
    (2, 1, 0, "foo", "--dist-url foo: must be auto, tcp://HOST:PORT, file:///PATH or env://"),
    (2, 1, 0, "tcp://localhost", "--dist-url tcp://localhost: tcp:// needs a host and a port"),
    (2, 1, 0, "file:///nonexistent/dir/store", "--dist-url file:///nonexistent/dir/store: the folder /nonexistent/dir "
                                                "does not exist"),
])
def test_check_launch_args_one_line(capsys, num_gpus, num_machines, machine_rank, dist_url, message):
    import argparse

    from pedet.engine.launch import check_launch_args

    args = argparse.Namespace(num_gpus=num_gpus, num_machines=num_machines, machine_rank=machine_rank,
                              dist_url=dist_url)
    with pytest.raises(SystemExit) as e:
        check_launch_args(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
