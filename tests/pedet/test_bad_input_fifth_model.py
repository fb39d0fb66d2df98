"""
Fifth bad-input trial, model side (issue 11): weights of the other project in the export and the demo, and the new
kinds of checks of this trial. Parametrised config cases that fit the third trial's checks are in its tables
(tests/pedet/test_bad_input_third_model.py).
"""
import os

import pytest
import torch

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)

from ..scripts import OPL_TINY, fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPLOSS_TINY = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
OPL_OPTS = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1"]



def _reploss_checkpoint(path) -> str:
    """model_final.pth of a (random) tiny RepLoss model: the other project's weights for an OPL config."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from pedet.config import add_pedet_config
    from reploss import add_reploss_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(REPLOSS_TINY)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.FPN.OUT_CHANNELS", "32"])
    torch.save({"model": build_model(cfg).state_dict()}, path)
    return str(path)


@pytest.mark.parametrize("script, argv, purpose", [
    ("tools/export.py", ["--output", "{tmp}/m.onnx", *OPL_OPTS], "exporting"),  # said "evaluating needs them all"
    ("demo/demo.py", ["--input", os.path.join(REPO, "datasets", "synthetic_samples.png"), "--output", "{tmp}/out",
                      "--opts", *OPL_OPTS], "running"),
])
def test_weights_of_the_other_project_name_what_needs_them(tmp_path, script, argv, purpose):
    from pedet.engine.checkpoint import CheckpointFileError

    weights = _reploss_checkpoint(tmp_path / "reploss.pth")
    module = fresh_script(script, f"fifth_trial_{purpose}")
    with pytest.raises(CheckpointFileError) as e:
        module.main(["--config-file", OPL_TINY, *[a.format(tmp=tmp_path) for a in argv], "MODEL.WEIGHTS", weights])
    assert str(e.value).startswith(f"{weights}: ") and str(e.value).endswith(f"; {purpose} needs them all"), e.value
    assert not os.path.exists(tmp_path / "m.onnx") and not os.path.exists(tmp_path / "out")


# ------------------------------------------------------------------ the benchmark's backbone pre-training
@pytest.mark.parametrize("argv, message", [
    (["--iters", "0"], "--iters 0: must be >= 1"),  # ZeroDivisionError in the LR schedule, after loading the data
    (["--iters", "-5"], "--iters -5: must be >= 1"),  # wrote untrained weights, silently
    (["--batch", "0"], "--batch 0: must be >= 1"),
    (["--crop", "0"], "--crop 0: must be >= 1"),  # cv2.error
    (["--lr", "-0.1"], "--lr -0.1: must be a finite number >= 0"),  # torch: Invalid learning rate
    (["--lr", "nan"], "--lr nan: must be a finite number >= 0"),  # NaN weights, silently
    (["--seed", "-1"], "--seed -1: must be in [0, 2**32)"),
    (["--train", "synthetic_crowd_trian"], "--train synthetic_crowd_trian: not a registered data set"),  # KeyError
    (["--out", "{tmp}"], "--out {tmp}: a folder; give the .pkl file to write"),  # IsADirectoryError after training
    # seventh trial: a FileExistsError traceback after the training
    (["--out", os.path.join(REPO, "README.md", "sub", "w.pkl")],
     f"--out {os.path.join(REPO, 'README.md', 'sub', 'w.pkl')}: {os.path.join(REPO, 'README.md')} is a file, not a"),
    # tenth trial: no upper bound, the held-out crops (~72 TB) were allocated after the data were loaded
    (["--crop", "100000"], "--crop 100000: 600 held-out and 48 training crops of 100000x100000 px alone need"),
    # thirteenth trial: a model-zoo pickle written under .pth, which MODEL.WEIGHTS then read with torch.load (a
    # "damaged checkpoint" error when a training started from it)
    (["--out", "{tmp}/w.pth"], "--out {tmp}/w.pth: the weights are written as a Detectron2 model-zoo pickle; give a "
                               ".pkl name"),
    (["--out", ""], "--out : a folder; give the .pkl file to write"),
    # fifteenth trial: "Expected more than 1 value per channel when training" in the first step, after the data load
    (["--batch", "1", "--crop", "32"], "--batch 1 with --crop 32: the last BatchNorm of ResNet-18 sees one value"),
])
def test_pretrain_backbone_refuses_bad_arguments_before_any_work(tmp_path, capsys, argv, message):
    module = fresh_script("benchmarks/pretrain_backbone.py", "fifth_trial_pretrain")

    def no_work(*args, **kwargs):
        raise AssertionError("the pre-training started")

    module.pretrain = no_work
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as e:
        module.main(["--out", str(tmp_path / "w.pkl"), *argv])
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and f"error: {message.format(tmp=tmp_path)}" in err[0], err


# ------------------------------------------------------------------ demo: --output naming an image file
def test_demo_output_with_an_image_name_is_that_file_for_one_image(tmp_path):
    """Detectron2's demo writes one input image to an --output file name; ours made a folder named 'out.jpg'."""
    import cv2
    import numpy as np

    demo = fresh_script("demo/demo.py", "fifth_trial_demo")
    images = []
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((48, 64, 3), 128, np.uint8))
        images.append(str(tmp_path / name))
    opts = ["--opts", *OPL_OPTS, "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]
    out = tmp_path / "new" / "out.jpg"
    assert demo.main(["--config-file", OPL_TINY, "--input", images[0], "--output", str(out), *opts]) == [str(out)]
    assert out.is_file() and cv2.imread(str(out)).shape == (48, 64, 3)
    with pytest.raises(demo.InputError, match=r"--output .*two.jpg: an image file name takes one input image, "
                                              r"--input gives 2; give a folder"):
        demo.main(["--config-file", OPL_TINY, "--input", *images, "--output", str(tmp_path / "two.jpg"), *opts])
    assert not (tmp_path / "two.jpg").exists()


# ------------------------------------------------------------------ export: an option of the other format
@pytest.mark.parametrize("argv, message", [
    (["--opset", "11", "--output", "m.onnx"], "--opset 11: must be >= 17"),
    # thirteenth trial: TorchScript was refused for an opset it never reads (fifth), then the opset was ignored in
    # silence; a TorchScript file was written under an .onnx name (and ONNX under .ts), silently
    (["--opset", "11", "--format", "torchscript", "--output", "m.ts"],
     "--opset 11: applies to --format onnx only (TorchScript has no opset)"),
    (["--opset", "17", "--format", "torchscript", "--output", "m.ts"], "--opset 17: applies to --format onnx only"),
    (["--format", "torchscript", "--output", "x.onnx"],
     "--output {tmp}/x.onnx: a .onnx name for --format torchscript; give a .ts / .pt file or --format onnx"),
    (["--output", "m.TS"], "--output {tmp}/m.TS: a .ts name for --format onnx; give a .onnx file or --format "
                           "torchscript"),
    (["--output", "m.pt"], "--output {tmp}/m.pt: a .pt name for --format onnx"),
])
def test_export_options_of_the_other_format_are_refused(tmp_path, capsys, argv, message):
    export = fresh_script("tools/export.py", "fifth_trial_export_opset")
    parser = export.build_arg_parser()
    argv = [str(tmp_path / a) if a.startswith(("m.", "x.")) else a for a in argv]
    with pytest.raises(SystemExit) as e:
        export.check_args(parser, parser.parse_args(["--config-file", OPL_TINY, *argv]))
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1 and f"error: {message.format(tmp=tmp_path)}" in err[0], err


@pytest.mark.parametrize("argv, opset", [(["--format", "torchscript", "--output", "m.ts"], 17),
                                         (["--output", "m.onnx"], 17), (["--output", "m.onnx", "--opset", "18"], 18),
                                         (["--format", "torchscript", "--output", "m"], 17)])
def test_export_options_of_the_format_pass(tmp_path, argv, opset):
    export = fresh_script("tools/export.py", "fifth_trial_export_opset")
    parser = export.build_arg_parser()
    args = parser.parse_args(["--config-file", OPL_TINY, *[str(tmp_path / a) if a.startswith("m") else a
                                                           for a in argv]])
    export.check_args(parser, args)
    assert args.opset == opset  # TorchScript: unused


# ------------------------------------------------------------------ checkpoints: parameters of another shape
def test_weights_of_another_shape_are_not_called_missing(tmp_path):
    """A checkpoint of the same model under another config (4 -> 3 outputs): fvcore skips those parameters and they
    were reported as "not in the checkpoint"."""
    from pedet.engine import PedetCheckpointer
    from pedet.engine.checkpoint import CheckpointFileError

    torch.save({"model": torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 4)).state_dict()},
               tmp_path / "wide.pth")
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 3))
    with pytest.raises(CheckpointFileError) as e:
        PedetCheckpointer(model, require_all=True).load(str(tmp_path / "wide.pth"))
    assert str(e.value) == (f"{tmp_path / 'wide.pth'}: 2 of the model's 4 parameters have another shape in the "
                            "checkpoint (e.g. 1.weight: (4, 2) there, (3, 2) in the model; written with another "
                            "config?); evaluating needs them all")


def test_demo_video_input_without_a_readable_frame_is_an_error(tmp_path):
    """An image given as --video-input: OpenCV opens it as a sequence, reads no frame, and an empty .mp4 was written
    with no error."""
    import cv2
    import numpy as np

    demo = fresh_script("demo/demo.py", "fifth_trial_demo_video")
    image = tmp_path / "pic.jpg"
    cv2.imwrite(str(image), np.full((48, 64, 3), 100, np.uint8))
    out = tmp_path / "v.mp4"
    with pytest.raises(demo.InputError, match=f"--video-input {image}: OpenCV opened it but read no frame; for an "
                                              "image use --input"):
        demo.main(["--config-file", OPL_TINY, "--video-input", str(image), "--output", str(out), "--opts", *OPL_OPTS])
    assert not out.exists()
