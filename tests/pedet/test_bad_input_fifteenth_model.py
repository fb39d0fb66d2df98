"""
Fifteenth bad-input trial, model side (issue 11): every file the model side writes goes through pedet's one file
writer (pedet.utils.file_io: atomic, fsync'd, the umask's permissions). export_latency, gpu_check, opl_step_time,
latency_vs_density, eval_speed, pretrain_backbone (its JSON), convert_defcn and the demo's images and video wrote in
place with open() / savefig(path) / torch.save(path) / cv2.imwrite / cv2.VideoWriter(path): an interrupted run left a
truncated file (which eval_speed --skip-generate then timed), and nothing was fsync'd.
"""
import ast
import glob
import json
import os
import stat

import numpy as np
import pytest

from ..scripts import REPO, fresh_script

# the model side's scripts (tools/d2_build patches Detectron2's own setup.py while building it: not an output)
SCRIPTS = sorted({
    os.path.relpath(p, REPO) for pattern in ("benchmarks/*.py", "tools/*.py", "demo/*.py", "projects/*/train_net.py",
                                             "projects/*/tools/*.py", "projects/*/*/*.py", "pedet/engine/*.py")
    for p in glob.glob(os.path.join(REPO, pattern))})
FILE_OBJECT_WRITERS = {"save", "savez", "dump", "savefig"}  # torch.save, pickle.dump, json.dump, np.save, savefig


def _atomic_names(tree: ast.AST) -> set:
    """
    Names bound to a file of pedet's writer: ``with atomic_open(...) as f``, ``tmp = stack.enter_context(atomic_path(
    ...))`` and ``lambda f:`` given to a writer.
    """
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args and \
                getattr(node.value.func, "attr", "") == "enter_context" and isinstance(node.value.args[0], ast.Call) \
                and getattr(node.value.args[0].func, "id", "") in ("atomic_open", "atomic_path"):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Call):
            func = node.context_expr.func
            if getattr(func, "id", getattr(func, "attr", "")) in ("atomic_open", "atomic_path") and \
                    isinstance(node.optional_vars, ast.Name):
                names.add(node.optional_vars.id)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "atomic_write":
            names.update(a.arg for lam in node.args if isinstance(lam, ast.Lambda) for a in lam.args.args)
    return names


def _plain_writes(path: str) -> list:
    """'<file>:<line> <call>' for each write of an output that bypasses pedet's writer."""
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    atomic, found = _atomic_names(tree), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        if isinstance(node.func, ast.Name) and name == "open" and isinstance(mode, ast.Constant) and \
                set(str(mode.value)) & set("wax"):  # (metrics.json's repair truncates it in place: "r+b")
            found.append(f"{path}:{node.lineno} open(..., {mode.value!r})")
        elif name in ("imwrite", "VideoWriter") and not (node.args and isinstance(node.args[0], ast.Name)
                                                          and node.args[0].id in atomic):
            found.append(f"{path}:{node.lineno} {name}")
        elif name in FILE_OBJECT_WRITERS and isinstance(node.func, ast.Attribute):
            # the file is the first argument of fig.savefig / np.save, the second of torch.save, pickle.dump, json.dump
            first = name == "savefig" or getattr(node.func.value, "id", "") in ("np", "numpy")
            target = node.args[0 if first else 1] if len(node.args) > (0 if first else 1) else None
            if target is not None and not (isinstance(target, ast.Name) and target.id in atomic):
                found.append(f"{path}:{node.lineno} {ast.unparse(node.func)}")
    return found


def test_every_model_side_output_goes_through_pedets_writer():
    assert "benchmarks/latency_vs_density.py" in SCRIPTS and "demo/demo.py" in SCRIPTS  # the glob finds the scripts
    plain = [w for path in SCRIPTS for w in _plain_writes(path)]
    assert plain == [], "\n".join(plain)


def _opl_step_time_json(tmp_path, monkeypatch, out):
    module = fresh_script("benchmarks/opl_step_time.py", "fifteenth_trial_opl_step_time")
    monkeypatch.setattr(module, "forward_gmacs", lambda v, d, s: {"variant": v, "total": 1.0, "backbone": 0.5,
                                                                  "head": 0.5})
    module.main(["--flops", "--variants", "fcos_baseline", "--json", str(out)])


def _latency_vs_density_png(tmp_path, monkeypatch, out):
    module = fresh_script("benchmarks/latency_vs_density.py", "fifteenth_trial_latency")
    row = {"persons_annotated": 10, "candidates": 90, "postprocess_ms": 1.0, "e2e_ms": 5.0}
    result = {"input": "64x64", "k_per_person": 9, "iters": 1, "warmup": 0, "threads": 1, "machine": "test",
              "devices": {"cpu": "CPU"}, "rows": {"cpu": {m: {"10": row} for m in module.MODELS}}}
    module.write_outputs(result, str(tmp_path / "lvd"), str(out))


def _eval_speed_set(tmp_path, monkeypatch, out):
    fresh_script("benchmarks/eval_speed.py", "fifteenth_trial_eval_speed").generate(str(out.parent), 2, 0)


def _demo_image(tmp_path, monkeypatch, out):
    fresh_script("demo/demo.py", "fifteenth_trial_demo").write_image(str(out), np.zeros((8, 8, 3), np.uint8),
                                                                     str(out))


def _demo_video(tmp_path, monkeypatch, out):
    import argparse

    import cv2

    clip = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 5, (32, 32))
    for _ in range(2):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.release()
    module = fresh_script("demo/demo.py", "fifteenth_trial_demo_video")
    monkeypatch.setattr(module, "draw", lambda frame, instances, threshold: frame)
    module.run_video(lambda frame: None, argparse.Namespace(video_input=clip, output=str(out),
                                                            confidence_threshold=0.5))


def _convert_defcn(tmp_path, monkeypatch, out):
    import torch

    module = fresh_script("projects/OPL/tools/convert_defcn.py", "fifteenth_trial_convert_defcn")
    source = tmp_path / "defcn.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, str(source))
    monkeypatch.setattr(module, "convert_checkpoint", lambda checkpoint, config, opts: {"w": torch.zeros(1)})
    module.main([str(source), str(out)])


@pytest.mark.parametrize("write, name", [
    (_opl_step_time_json, "gmacs.json"),  # json.dump into open(): as export_latency, gpu_check, pretrain's .json
    (_latency_vs_density_png, "plot.png"),  # savefig(path)
    (_eval_speed_set, "dt.json"),  # the synthetic evaluation set that --skip-generate reuses
    (_demo_image, "annotated.jpg"),  # cv2.imwrite
    (_demo_video, "annotated.mp4"),  # cv2.VideoWriter(path)
    (_convert_defcn, "opl.pth"),  # torch.save(path)
])
def test_an_interrupted_write_keeps_the_old_file_and_a_finished_one_has_the_umasks_mode(tmp_path, monkeypatch, write,
                                                                                         name):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / name
    out.write_bytes(b"old")

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)  # the content is written, not yet renamed into place
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path, monkeypatch, out)
    assert out.read_bytes() == b"old"  # neither a partial nor a new file
    assert [n for n in os.listdir(folder) if ".tmp" in n] == []
    monkeypatch.undo()
    old_umask = os.umask(0o022)
    try:
        write(tmp_path, monkeypatch, out)
    finally:
        os.umask(old_umask)
    assert out.read_bytes() != b"old" and stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert [n for n in os.listdir(folder) if ".tmp" in n] == []


def test_a_video_whose_input_gives_no_frame_keeps_the_old_output(tmp_path, monkeypatch, capsys):
    """The writer truncated the old output at once, and the run then removed it: now the old file stays."""
    import argparse

    module = fresh_script("demo/demo.py", "fifteenth_trial_demo_no_frame")
    image = tmp_path / "still.png"
    image.write_bytes(b"not read: the capture is replaced below")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old video")
    monkeypatch.setattr(module, "draw", lambda frame, instances, threshold: frame)
    monkeypatch.setattr(module.cv2, "VideoCapture", lambda path: _NoFrame())
    with pytest.raises(module.InputError, match="read no frame"):
        module.run_video(lambda frame: None, argparse.Namespace(video_input=str(image), output=str(out),
                                                                confidence_threshold=0.5))
    assert out.read_bytes() == b"old video" and [n for n in os.listdir(tmp_path) if ".tmp" in n] == []


class _NoFrame:
    """A capture OpenCV opened that yields no frame (as for some images and broken files)."""

    def isOpened(self):
        return True

    def get(self, prop):
        import cv2

        return {cv2.CAP_PROP_FRAME_WIDTH: 16, cv2.CAP_PROP_FRAME_HEIGHT: 16, cv2.CAP_PROP_FPS: 5}.get(prop, 0)

    def read(self):
        return False, None

    def release(self):
        pass


def test_pretrain_backbone_interrupted_before_its_settings_leaves_no_old_settings_beside_new_weights(tmp_path,
                                                                                                    monkeypatch):
    """
    crowd_quality and the main job reuse <out>.pkl when <out>.pkl.json records the settings asked for. A pre-training
    interrupted after the new weights were written, before their .json, left the old .json beside them: the next run
    with the old settings reused the new weights as the old ones, in silence.
    """
    import torch
    from detectron2.data import DatasetCatalog

    module = fresh_script("benchmarks/pretrain_backbone.py", "fifteenth_trial_pretrain_interrupt")

    class Crops:  # 2 random crops per batch instead of a data set's
        def __init__(self, dicts, crop, seed):
            self.generator, self.crop = torch.Generator().manual_seed(seed), crop

        def batch(self, n):
            return (torch.rand(n, 3, self.crop, self.crop, generator=self.generator),
                    torch.randint(0, len(module.CLASSES), (n,), generator=self.generator))

    monkeypatch.setattr(module, "CropSampler", Crops)
    name = "fifteenth_trial_pretrain_set"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [])
    out = tmp_path / "R18.pkl"
    out.write_bytes(b"old weights")
    (tmp_path / "R18.pkl.json").write_text(json.dumps({"iters": 800, "seed": 0}))

    class Interrupted:
        @staticmethod
        def dumps(*args, **kwargs):
            raise KeyboardInterrupt

        dump = dumps

    monkeypatch.setattr(module, "json", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        module.pretrain(str(out), train=name, val=name, iters=1, batch=2, crop=32, val_crops=2, log=lambda m: None)
    assert out.read_bytes() != b"old weights"  # the new weights are in place
    assert not (tmp_path / "R18.pkl.json").exists()  # and no settings that are not theirs


@pytest.mark.parametrize("trained_config, expected", [("same", "evaluated"), ("other", "retrained")])
def test_crowd_quality_evaluates_new_variants_only_on_a_model_of_the_records_config(tmp_path, monkeypatch,
                                                                                      trained_config, expected):
    """
    A test variant added after a run is evaluated on the stored model_final.pth. A training with another config that
    was interrupted during its evaluation (model_final.pth written, record not) left its model beside the earlier
    config's record: back on that config, the new variant was evaluated on the other model and stored in the record.
    """
    from detectron2.config import CfgNode

    cq = fresh_script("benchmarks/crowd_quality.py", "fifteenth_trial_crowd_quality_variants")

    class Done(Exception):
        pass

    class Trainer:
        def __init__(self, cfg):
            raise Done("retrained")

        @staticmethod
        def build_model(cfg):
            raise Done("evaluated")

    cfg = CfgNode({"SOLVER": CfgNode({"MAX_ITER": 1})})
    monkeypatch.setitem(cq.METHODS, "fifteenth_trial", {"project": "opl", "variants": [("", {}), ("_new", {})]})
    monkeypatch.setattr(cq, "build_cfg", lambda *a, **k: (cfg, Trainer))
    monkeypatch.setattr(cq, "config_digest", lambda cfg, project: "digest")
    budget = {"iters": 1, "save": True}
    run_dir = tmp_path / "runs" / "fifteenth_trial_seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "model_final.pth").write_bytes(b"a model")
    other = CfgNode({"SOLVER": CfgNode({"MAX_ITER": 2})})
    (run_dir / "config.yaml").write_text((cfg if trained_config == "same" else other).dump())
    records = tmp_path / "records"
    records.mkdir()
    (records / "fifteenth_trial_seed0.json").write_text(json.dumps(
        {"budget_settings": cq._budget_key(budget), "config_digest": "digest", "rows": {"fifteenth_trial": {}}}))
    with pytest.raises(Done, match=expected):
        cq.run_one("fifteenth_trial", budget, 0, str(tmp_path), str(records))


def test_main_job_interrupted_leaves_no_readme_of_an_earlier_run(tmp_path, monkeypatch):
    """
    The report's README.md (table, config overrides) is written last. A run interrupted during the training or while
    copying the metrics kept the earlier run's README beside the new files, describing another run as this one.
    """
    import sys

    module = fresh_script("tools/main_job.py", "fifteenth_trial_main_job")
    report = tmp_path / "job" / "report"
    report.mkdir(parents=True)
    (report / "README.md").write_text("# an earlier run, SOLVER.MAX_ITER 10\n")
    monkeypatch.setattr(module, "check_training_config", lambda *a: None)
    monkeypatch.setattr(module, "prepare_data", lambda: None)
    monkeypatch.setattr(module, "pretext_backbone", lambda out_dir, threads: "w.pkl")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "train_and_evaluate", interrupted)
    monkeypatch.setattr(sys, "argv", ["main_job.py", "--output", str(tmp_path / "job"), "SOLVER.MAX_ITER", "20"])
    with pytest.raises(KeyboardInterrupt):
        module.main()
    assert not (report / "README.md").exists()


def test_a_killed_video_writes_temporary_is_removed_at_the_next_start(tmp_path):
    """atomic_path's temporaries keep the video's extension (.tmp.mp4): the stale-file cleaner must know them too."""
    from pedet.utils.file_io import _host, atomic_path

    stale = tmp_path / f".clip.mp4.{_host()}.999999999.{'c' * 16}.tmp.mp4"  # no such process
    stale.write_bytes(b"half a video")
    with atomic_path(str(tmp_path / "clip.mp4")) as tmp:
        assert tmp.endswith(".tmp.mp4")
        with open(tmp, "wb") as f:
            f.write(b"video")
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]
