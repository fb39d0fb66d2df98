"""
Tenth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier trials'
checks are in their tables (tests/pedet/test_bad_input_fifth_model.py; the benchmark's in
tests/benchmarks/test_crowd_benchmark_smoke.py).
"""
import json
import os

import detectron2
import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS, fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPLOSS_TINY = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
DEMO_OPTS = TINY_DEMO_OPTS



@pytest.mark.parametrize("key, value", [("DATASETS.TEST", "('nope',)"), ("DATASETS.TEST", "('',)"),
                                        ("DATASETS.TRAIN", "('synthetic_crowd_trian',)")])
def test_demo_ground_truth_from_an_unregistered_config_set_is_an_error(tmp_path, key, value):
    """Without --gt-dataset the demo draws the ground truth of DATASETS.TEST / TRAIN: an unregistered name there drew
    none, in silence, while --gt-dataset with that name is an error. --no-gt reads neither key: accepted."""
    import cv2
    import numpy as np

    from pedet.config import ConfigError

    demo = fresh_script("demo/demo.py", "tenth_trial_demo")
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


# ------------------------------------------------------------------ the benchmark scripts' own arguments
# script, the functions that do its work (replaced: nothing may start), argv, the one-line error
ZOO_RETINANET = os.path.join(os.path.dirname(detectron2.__file__), "model_zoo", "configs", "COCO-Detection",
                             "retinanet_R_50_FPN_1x.yaml")
NMS_SWEEP_ARGS = ["--model", "A", REPLOSS_TINY, "{tmp}/f", "--dataset", "synthetic_crowd_val"]
SCRIPT_ARGS = [
    # tracebacks: torch.set_num_threads(0), a median of no step, a KeyError for an unknown variant or depth
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--threads", "0"], "argument --threads: 0: must be >= 1"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--steps", "0"], "argument --steps: 0: must be >= 1"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--variants", "nope"], "--variants: invalid choice"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--depth", "7"], "argument --depth: invalid choice: 7"),
    # timed nonsense, silently
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--warmup", "-1"], "argument --warmup: -1: must be >= 0"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--persons", "25", "-1"], "--persons: -1: must be >= 1"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--batch", "0"], "argument --batch: 0: must be >= 1"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--json", "{tmp}"], "--json {tmp}: a folder; give the file"),
    ("reploss_step_time", ("time_step_table", "time_losses_table"), ["--threads", "0"], "--threads: 0: must be >= 1"),
    ("reploss_step_time", ("time_step_table", "time_losses_table"), ["--steps", "0"], "--steps: 0: must be >= 1"),
    ("reploss_step_time", ("time_step_table", "time_losses_table"), ["--image-size", "0"], "--image-size: 0: must be"),
    ("reploss_step_time", ("time_step_table", "time_losses_table"), ["--warmup", "-2"], "--warmup: -2: must be >= 0"),
    ("latency_vs_density", ("run",), ["--iters", "0"], "argument --iters: 0: must be >= 1"),  # the budget's, silently
    ("latency_vs_density", ("run",), ["--densities", "0"], "argument --densities: 0: must be >= 1"),
    ("latency_vs_density", ("run",), ["--k", "0"], "argument --k: 0: must be >= 1"),
    ("latency_vs_density", ("run",), ["--threads", "0"], "argument --threads: 0: must be >= 1"),
    ("latency_vs_density", ("run",), ["--densities", "10", "10"], "--densities 10 10: 10 given twice"),
    ("latency_vs_density", ("run",), ["--out", "{tmp}/f"], "--out {tmp}/f: a file; give a folder"),
    ("latency_vs_density", ("run",), ["--out", ""], "--out '': an empty folder name"),
    # every row skipped, silently (NaN compared False with the deadline); a RuntimeError from build_model
    ("gpu_check", (), ["--device", "cpu", "--smoke", "--time-budget", "-1"], "--time-budget: -1.0: must be a finite"),
    ("gpu_check", (), ["--device", "cpu", "--smoke", "--time-budget", "nan"], "--time-budget: nan: must be a finite"),
    ("gpu_check", (), ["--device", "nope", "--smoke"], "--device nope: give cpu or cuda (cuda:N)"),
    # IsADirectoryError / FileExistsError tracebacks after the statistics were computed
    ("crowd_stats", ("split_stats",), ["--out", "{tmp}"], "--out {tmp}: a folder; give the file to write"),
    ("crowd_stats", ("split_stats",), ["--out", "{tmp}/f/s.json"], "--out {tmp}/f/s.json: {tmp}/f is a file, not a"),
    ("crowd_stats", ("split_stats",), ["--out", ""], "--out '': an empty file name"),
    ("export_latency", (), ["--threads", "0"], "argument --threads: 0: must be >= 1"),
    ("export_latency", (), ["--iters", "0"], "argument --iters: 0: must be >= 1"),  # no median of no iteration
    ("export_latency", (), ["--size", "0"], "argument --size: 0: must be >= 1"),  # a convolution larger than the input
    # KeyError / ValueError / AssertionError ("Checkpoint ... not found!") tracebacks, the last after earlier runs
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full_seed0", "--budget", "nope"],
     "--budget nope: not a budget of crowd_quality.py"),
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full"],
     "--runs opl_full: not a run name <method>_seed<N> of crowd_quality.py"),
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full_seed0"],
     "--runs opl_full_seed0: no {tmp}/runs/opl_full_seed0/model_final.pth"),
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full_seed0", "--top", "0"],
     "argument --top: 0: must be >= 1"),
    # thirteenth trial: --density d5 (the default) named a set no budget has (a KeyError after the model was built);
    # a run given twice was evaluated and printed twice
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full_seed0", "--density", "d5"],
     "--density d5: not a test set of crowd_quality.py's budgets (sparse, medium, crowd)"),
    ("crowd_top_fp", ("top_false_positives",), ["--out", "{tmp}", "--runs", "opl_full_seed0", "opl_full_seed0"],
     "--runs opl_full_seed0 opl_full_seed0: opl_full_seed0 given twice"),
    # a ZeroDivisionError after the runs, a median of no run, a FileNotFoundError
    ("eval_speed", ("generate",), ["--images", "0"], "argument --images: 0: must be >= 1"),
    ("eval_speed", ("generate",), ["--repeats", "0"], "argument --repeats: 0: must be >= 1"),
    ("eval_speed", ("generate",), ["--out-dir", "{tmp}", "--skip-generate"], "--skip-generate: no {tmp}/gt.odgt"),
    ("eval_speed", ("generate",), ["--out-dir", "{tmp}/f"], "--out-dir {tmp}/f: a file; give a folder"),
    # eleventh trial: KeyError, ValueError (the spec's), StatisticsError tracebacks; --workers 0 rendered anyway
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--split", "nope"],
     "--split nope: preset default has the splits train, val"),
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--num-images", "-5"],
     "num_images (--num-images) must be in [1, "),
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--preset", "cpu", "--split", "crowd", "--size", "16", "16"],
     "image_size (--size) must have 52 <= H <= "),
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--repeat", "0"], "argument --repeat: 0: must be >= 1"),
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--workers", "0"], "argument --workers: 0: must be >= 1"),
    ("synthetic_generation", ("generate_synthetic_crowd",), ["--workers", "100000"], "--workers 100000: must be <= 256"),
    # twelfth trial: an IsADirectoryError traceback after the predictions; '' wrote nothing, in silence; an
    # AttributeError ('nms_on') traceback for a Faster R-CNN config
    ("one_to_one_diagnostics", ("_crowd_quality",), ["{tmp}", "--out", "{tmp}"], "--out {tmp}: a folder; give the"),
    ("one_to_one_diagnostics", ("_crowd_quality",), ["{tmp}", "--out", ""], "--out '': an empty file name"),
    ("one_to_one_diagnostics", ("_crowd_quality",), ["{tmp}", "--out", "{tmp}/f/d.json"], "{tmp}/f is a file, not a"),
    ("export_latency", (), ["--config-file", REPLOSS_TINY, "--output", "{tmp}/latency.json"],
     "MODEL.META_ARCHITECTURE 'PedestrianRCNN'; this benchmark times the exported OPL graph"),
    # fourteenth trial: a value given twice was measured and written twice
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--persons", "25", "25"], "--persons 25 25: 25 given twice"),
    ("opl_step_time", ("time_variants", "forward_gmacs"), ["--variants", "fcos_baseline", "fcos_baseline"],
     "--variants fcos_baseline fcos_baseline: fcos_baseline given twice"),
    ("reploss_step_time", ("time_step_table", "time_losses_table"), ["--persons", "9", "9"], "--persons 9 9: 9 given"),
    ("export_latency", (), ["--size", "256", "256"], "--size 256 256: 256 given twice"),
    # fourteenth trial: PNG bytes under another name; --plot <out>/latency.json replaced the table just written
    ("latency_vs_density", ("run",), ["--out", "{tmp}/lat", "--plot", "{tmp}/lat/latency.json"],
     "--plot {tmp}/lat/latency.json: the plot is written as PNG; give a .png name"),
    ("latency_vs_density", ("run",), ["--out", "{tmp}/lat", "--plot", "{tmp}/plot.pdf"], "the plot is written as PNG"),
    # fifteenth trial: --set iters=N overrode --iters M, in silence
    ("crowd_quality", ("run_one", "pretext_weights"), ["--budget", "smoke", "--out", "{tmp}/o", "--methods", "opl_full",
                                                       "--iters", "3", "--set", "iters=5"],
     "--iters 3 and --set iters=5: both set the iterations; give one"),
    # sixteenth trial: a NaN threshold suppressed nothing, a repeated threshold or model name replaced a point or a
    # curve, in silence; --output a file: a FileExistsError traceback
    *[("projects/RepLoss/nms_sweep.py", ("collect",), [*NMS_SWEEP_ARGS, *argv], message) for argv, message in [
        (["--output", "{tmp}/o", "--thresholds", "nan"], "--thresholds nan: nan is not an IoU in [0, 1]"),
        (["--output", "{tmp}/o", "--thresholds", "0.5", "1.5"], "--thresholds 0.5 1.5: 1.5 is not an IoU in [0, 1]"),
        (["--output", "{tmp}/o", "--thresholds", "0.4", "0.401"],
         "--thresholds 0.4 0.401: 0.4 and 0.401 are one point (thresholds are kept to two decimals)"),
        (["--output", "{tmp}/o", "--model", "A", REPLOSS_TINY, "{tmp}/w.pth"], "--model NAME A A: A given twice"),
        (["--output", "{tmp}/f"], "--output {tmp}/f: a file; give a folder"),
        # config cross product: an OPL config was a KeyError traceback, a model-zoo RetinaNet an AttributeError
        # traceback after loading, '' weights swept a random model in silence
        (["--output", "{tmp}/o", "--model", "B", OPL_TINY, "{tmp}/f"],
         "--model B: config file " + OPL_TINY + ": Non-existent config key: MODEL.OPL: an OPL config (MODEL.OPL)"),
        (["--output", "{tmp}/o", "--model", "B", ZOO_RETINANET, "{tmp}/f", "MODEL.DEVICE", "cpu"],
         "--model B: config: MODEL.META_ARCHITECTURE 'RetinaNet': must be PedestrianRCNN"),
        (["--output", "{tmp}/o", "--model", "B", REPLOSS_TINY, ""],
         "--model B " + REPLOSS_TINY + " '': no WEIGHTS; give the model_final.pth to sweep")]],
]


@pytest.mark.parametrize("script, work, argv, message", SCRIPT_ARGS)
def test_benchmark_scripts_refuse_bad_arguments_before_any_work(tmp_path, capsys, monkeypatch, script, work, argv,
                                                                message):
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, script if "/" in script else f"benchmarks/{script}.py"))
    for name in work:
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail(f"{script}: the work started"))
    (tmp_path / "f").write_text("")
    argv = [a.format(tmp=tmp_path) for a in argv]
    if script == "gpu_check":
        argv += ["--out", str(tmp_path / "g.json")]
    with pytest.raises(SystemExit) as e:
        module.main(argv)
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and message.format(tmp=tmp_path) in err[0] and "error: " in err[0], err


@pytest.mark.parametrize("argv, expected", [([], (1, 2)), (["--warmup", "0"], (0, 2)),
                                            (["--warmup", "4", "--iters", "3"], (4, 3))])
def test_latency_warmup_zero_is_no_warmup(tmp_path, monkeypatch, argv, expected):
    """--warmup 0 fell back to the budget's warm-up (1 step for smoke) in silence (``args.warmup or budget``)."""
    from pedet.utils.imports import load_script

    class Measured(Exception):
        pass

    def run(args):
        seen.append((args.warmup, args.iters))
        raise Measured

    module = load_script(os.path.join(REPO, "benchmarks", "latency_vs_density.py"))
    seen = []
    monkeypatch.setattr(module, "run", run)
    with pytest.raises(Measured):
        module.main(["--budget", "smoke", "--out", str(tmp_path / "lat"), *argv])
    assert seen == [expected]


@pytest.mark.parametrize("argv, message", [
    (["--video-input", "{video}", "--gt-dataset", "synthetic_crowd_val"],  # ignored in silence
     "--gt-dataset: ground truth is drawn on --input images only, not on --video-input frames"),
    (["--input", "{video}", "--output", ""],  # ran every image and wrote nothing, in silence
     "--output '': an empty name; give a folder or file, or leave --output out"),
    # twelfth trial: --opts takes the rest of the line ("config override: Non-existent key: --output")
    (["--input", "{video}", "--opts", "MODEL.DEVICE", "cpu", "--output", "out"],
     "--opts ... --output: options go before --opts (its KEY VALUE pairs come last)"),
    (["--input", "{video}", "--opts", "MODEL.DEVICE", "cpu", "--no-gt"], "--opts ... --no-gt: options go before --opts"),
    # fourteenth trial: '' was read as "not given": the PyTorch model ran instead of ONNX Runtime; no set named
    (["--input", "{video}", "--onnx", ""], "--onnx '': an empty name; give one or leave --onnx out"),
    (["--input", "{video}", "--gt-dataset", ""], "--gt-dataset '': an empty name; give one or leave --gt-dataset out"),
])
def test_demo_refuses_options_it_would_ignore(tmp_path, capsys, argv, message):
    demo = fresh_script("demo/demo.py", "tenth_trial_demo")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0")  # checked before it is opened
    with pytest.raises(SystemExit) as e:
        demo.main(["--config-file", OPL_TINY, *[a.format(video=video) for a in argv]])
    assert e.value.code == 2 and f"error: {message}" in capsys.readouterr().err


def test_one_to_one_diagnostics_names_run_files_it_cannot_use(tmp_path, capsys):
    """A run folder whose config.yaml is not YAML, holds a model of bad keys or has weights that are not a
    checkpoint: were YAML, KeyError ('p3') and unpickling tracebacks; now one line naming the file or key."""
    from pedet.config import ConfigError
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "one_to_one_diagnostics.py"))
    cq = load_script(os.path.join(REPO, "benchmarks", "crowd_quality.py"))
    run = tmp_path / "opl_full_seed0"
    run.mkdir()
    (run / "model_final.pth").write_text("not a checkpoint")
    config = run / "config.yaml"
    config.write_text("MODEL: [1, 2\n")
    with pytest.raises(ConfigError) as e:
        module.main([str(run)])
    assert str(e.value.code).startswith(f"error: config file {config}: cannot be read as YAML"), e.value.code
    config.write_text("MODEL:\n  META_ARCHITECTURE: OPL\n  DEVICE: cpu\n")  # no FPN: the head found no 'p3'
    with pytest.raises(ConfigError) as e:
        module.main([str(run)])
    assert str(e.value.code).startswith("error: config: MODEL.OPL.IN_FEATURES"), e.value.code
    cfg = cq.project_defaults("opl")
    cfg.merge_from_file(OPL_TINY)
    cfg.merge_from_list([*DEMO_OPTS, "MODEL.DEVICE", "cpu"])
    config.write_text(cfg.dump())
    with pytest.raises(SystemExit) as e:
        module.main([str(run)])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1 and f"error: {run / 'model_final.pth'}: " in err[0], err


def test_eval_speed_per_image_figures_count_the_reused_files(tmp_path, capsys, monkeypatch):
    """--skip-generate reuses files written with any --images: the per-image figures divided by --images (4370 by
    default) instead of the files' own image count, in silence."""
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "eval_speed.py"))
    paths = module.generate(str(tmp_path), 3, 0)
    with open(paths["gt.odgt"]) as f:
        boxes = sum(len(json.loads(line)["gtboxes"]) for line in f)
    monkeypatch.setattr(module, "_time", lambda cmd, repeats: ([0.0], [0.0], ""))  # the evaluator runs: not checked
    module.main(["--out-dir", str(tmp_path), "--skip-generate"])
    assert f"per image: {boxes / 3:.1f} GT boxes" in capsys.readouterr().out
