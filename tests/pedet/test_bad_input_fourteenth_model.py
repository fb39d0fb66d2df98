"""
Fourteenth bad-input trial, model side (issue 11): outputs that are one of the files the script reads, also through
'..', a symbolic or a hard link (they were replaced, in silence). Cases that fit the earlier trials' checks are in
their tables (tests/pedet/test_bad_input_tenth_model.py, ..._thirteenth_model.py).
"""
import os
import shutil

import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS, fresh_script


def _inputs(tmp_path):
    """A config with a local _BASE_ and a weights file, in tmp_path/cfg; the contents, to check they are intact."""
    folder = tmp_path / "cfg"
    folder.mkdir()
    shutil.copy(os.path.join(os.path.dirname(OPL_TINY), "Base-OPL.yaml"), folder)
    shutil.copy(OPL_TINY, folder / "c.yaml")
    (folder / "w.pth").write_bytes(b"weights: the check comes before they are loaded")
    return {p: p.read_bytes() for p in folder.iterdir()}


BASE = "a _BASE_ of {tmp}/cfg/c.yaml ({tmp}/cfg/Base-OPL.yaml)"


@pytest.mark.parametrize("script, output, link, what", [
    ("tools/export.py", "cfg/Base-OPL.yaml", None, BASE),
    ("tools/export.py", "base.onnx", "symlink:cfg/Base-OPL.yaml", BASE),
    ("tools/export.py", "w.onnx", "hardlink:cfg/w.pth", "MODEL.WEIGHTS ({tmp}/cfg/w.pth)"),
    ("benchmarks/export_latency.py", "cfg/Base-OPL.yaml", None, BASE),
    ("benchmarks/export_latency.py", "cfg/../cfg/c.yaml", None, "the config file ({tmp}/cfg/c.yaml)"),
    ("benchmarks/export_latency.py", "w.json", "hardlink:cfg/w.pth", "MODEL.WEIGHTS ({tmp}/cfg/w.pth)"),
])
def test_export_outputs_that_are_an_input_are_refused(tmp_path, capsys, monkeypatch, script, output, link, what):
    """tools/export.py compared --output with the config file and MODEL.WEIGHTS, not with a _BASE_ of the config
    (the graph replaced Base-OPL.yaml); export_latency.py compared it with none (its JSON replaced them)."""
    contents = _inputs(tmp_path)
    target = tmp_path / output
    if link:
        kind, source = link.split(":")
        (os.symlink if kind == "symlink" else os.link)(tmp_path / source, target)
    module = fresh_script(script, "fourteenth_trial_" + os.path.basename(script)[:-3])
    if script == "benchmarks/export_latency.py":
        import export as module_that_builds  # tools/export.py, as export_latency.py imports it
    else:
        module_that_builds = module
    monkeypatch.setattr(module_that_builds, "build_and_load", lambda *a, **k: pytest.fail("the model was built"))
    with pytest.raises(SystemExit) as e:
        module.main(["--config-file", str(tmp_path / "cfg" / "c.yaml"), "--output", str(target), "MODEL.WEIGHTS",
                     str(tmp_path / "cfg" / "w.pth")])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: --output {target}: is {what.format(tmp=tmp_path)}, which this script reads; "
                           "give another file to write"), err
    assert {p: p.read_bytes() for p in (tmp_path / "cfg").iterdir()} == contents


@pytest.mark.parametrize("link", [os.link, os.symlink])
def test_demo_output_folder_linking_to_a_later_input_is_refused(tmp_path, link):
    """--output out/ holding a.jpg, a hard or symbolic link to the input b.jpg: the annotated a.jpg was written
    through it over b.jpg before b.jpg was read (only an output that is its own input was checked)."""
    import cv2
    import numpy as np

    demo = fresh_script("demo/demo.py", "fourteenth_trial_demo")
    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    out.mkdir()
    for name, value in (("a.jpg", 40), ("b.jpg", 200)):
        cv2.imwrite(str(images / name), np.full((48, 64, 3), value, np.uint8))
    before = (images / "b.jpg").read_bytes()
    link(images / "b.jpg", out / "a.jpg")
    message = (f"--output {out}: would overwrite the input image {images / 'b.jpg'} (with the annotation of "
               f"{images / 'a.jpg'}, through {out / 'a.jpg'}); give another folder")
    with pytest.raises(demo.InputError) as e:
        demo.main(["--config-file", OPL_TINY, "--input", str(images / "a.jpg"), str(images / "b.jpg"), "--output",
                   str(out), "--no-gt", "--opts", *TINY_DEMO_OPTS])
    assert str(e.value) == message
    assert (images / "b.jpg").read_bytes() == before


@pytest.mark.parametrize("option, groups, expected", [
    ("--set", [["iters=3"], ["warmup=1"]], {"iters": 3, "warmup": 1}),
    ("--opts", [["MODEL.OPL.NUM_CONVS", "1"], ["SOLVER.BASE_LR", "0.01"]],
     {"opts": ["MODEL.OPL.NUM_CONVS", "1", "SOLVER.BASE_LR", "0.01"]}),
])
def test_crowd_quality_probe_options_given_twice_add_up(tmp_path, monkeypatch, option, groups, expected):
    """A second --set / --opts replaced the first (argparse's "store"): the probe ran without the first overrides,
    in silence. Now both apply, in order, as Detectron2's KEY VALUE pairs do."""

    class Ran(Exception):
        pass

    def run_one(method, budget, *args, **kwargs):
        seen.append({k: budget.get(k) for k in expected})
        raise Ran

    cq = fresh_script("benchmarks/crowd_quality.py", "fourteenth_trial_crowd_quality")
    seen = []
    monkeypatch.setattr(cq, "pretext_weights", lambda *a, **k: "")
    monkeypatch.setattr(cq, "run_one", run_one)
    argv = ["--budget", "smoke", "--out", str(tmp_path / "o"), "--methods", "opl_full", "--seeds", "0"]
    with pytest.raises(Ran):
        cq.main(argv + [x for group in groups for x in (option, *group)])
    assert seen == [expected]


@pytest.mark.parametrize("side", [".json"])
def test_pretrain_backbone_refuses_a_folder_where_a_side_file_goes(tmp_path, capsys, side):
    """<out>.json (settings, held-out accuracy) is written after the training: a folder of that name was an
    IsADirectoryError traceback then. (The weights' temporary file is pedet.utils.file_io's hidden, unique name.)"""
    module = fresh_script("benchmarks/pretrain_backbone.py", "fourteenth_trial_pretrain")
    module.pretrain = lambda *a, **k: pytest.fail("the pre-training started")
    out = tmp_path / "w.pkl"
    (tmp_path / f"w.pkl{side}").mkdir()
    with pytest.raises(SystemExit) as e:
        module.main(["--out", str(out)])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: --out {out}: {out}{side}, written next to the weights, is a folder"), err


@pytest.mark.parametrize("script, folder, work, argv, message", [
    ("gpu_check", "latency_images", ("latency_rows",),
     ["--device", "cpu", "--smoke", "--sections", "latency", "--out", "{tmp}/g.json"],
     "--out {tmp}/g.json: {tmp}/latency_images, where the latency rows cache their images, is a file"),
    ("latency_vs_density", "images", ("run",), ["--budget", "smoke", "--out", "{tmp}"],
     "--out {tmp}: {tmp}/images, where the density images are cached, is a file"),
])
def test_latency_scripts_refuse_a_file_where_their_image_cache_goes(tmp_path, capsys, monkeypatch, script, folder,
                                                                    work, argv, message):
    """A file named like the image cache next to --out: a NotADirectoryError traceback at the first latency row
    (for gpu_check after its train and inference sections)."""
    module = fresh_script(f"benchmarks/{script}.py", f"fourteenth_trial_{script}")
    for name in work:
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("the work started"))
    (tmp_path / folder).write_text("")
    with pytest.raises(SystemExit) as e:
        module.main([a.format(tmp=tmp_path) for a in argv])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: {message.format(tmp=tmp_path)}"), err


def test_crowd_quality_refuses_a_file_where_its_default_records_go(tmp_path, capsys, monkeypatch):
    """<out>/records, the smoke budget's and a probe's default record folder, as a file: a FileExistsError traceback
    when the first run's record was written, after its training (only a given --records was checked)."""
    cq = fresh_script("benchmarks/crowd_quality.py", "fourteenth_trial_crowd_quality")
    monkeypatch.setattr(cq, "pretext_weights", lambda *a, **k: pytest.fail("the work started"))
    monkeypatch.setattr(cq, "run_one", lambda *a, **k: pytest.fail("the work started"))
    (tmp_path / "records").write_text("")
    with pytest.raises(SystemExit) as e:
        cq.main(["--budget", "smoke", "--out", str(tmp_path), "--methods", "opl_full"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: {tmp_path / 'records'}: the run records folder is a file; give --records a "
                           "folder"), err
