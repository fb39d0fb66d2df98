"""
OPL export (projects/OPL/opl/export.py, tools/export.py): ONNX Runtime and TorchScript give the eager model's
detections on synthetic validation images, for other image sizes and batch sizes than the tracing input.

The model is a seeded, randomly initialised tiny OPL (no training needed for parity). Its threshold is set between two
of its scores so that each image has fewer than D detections: then "same detections" is a well-defined set (no cut at
D among equal scores), and the fixed-size outputs also carry empty (score 0) slots.
"""
import numpy as np
import pytest
import torch

from .conftest import OPL_CONFIG, eager_detections

TOL = 1e-4  # boxes (px) and scores, absolute


def match_detections(a: dict, b: dict, atol: float = TOL) -> bool:
    """True if a and b hold the same detections: equal count, and a one-to-one pairing with equal class and boxes,
    scores within atol (greedy in score order; robust to the order of equal scores, which backends break differently)."""
    if len(a["scores"]) != len(b["scores"]):
        return False
    free = np.ones(len(b["scores"]), dtype=bool)
    for box, score, cls in zip(a["boxes"], a["scores"], a["classes"]):
        ok = (free & (np.abs(b["scores"] - score) <= atol) & (b["classes"] == cls)
              & (np.abs(b["boxes"] - box).max(axis=1) <= atol))
        if not ok.any():
            return False
        free[np.argmax(ok)] = False
    return True


def test_export_module_equals_eager_model(opl_model, val_images):
    from opl.export import OPLExportModule, output_dict, valid_detections

    module = OPLExportModule(opl_model).eval()
    for image in val_images:
        with torch.no_grad():
            out = output_dict(module(image[None]))
        det = valid_detections(out)
        assert 0 < len(det["scores"]) < 100
        assert (out["scores"][0, len(det["scores"]):] == 0).all()  # empty slots after the valid ones
        assert match_detections(det, eager_detections(opl_model, image))


def test_onnx_cli_output_matches_eager_on_other_sizes_and_batch(opl_model, opl_onnx, val_images):
    """tools/export.py (weights from a checkpoint, loaded weights-only) -> ONNX Runtime == eager."""
    import tools_export
    from opl.export import output_dict, valid_detections

    path = opl_onnx
    import onnx

    graph = onnx.load(path)
    assert graph.opset_import[0].version >= 17
    # what the graph expects of its input, for demo/demo.py --onnx (the channel order) and for readers of the file
    assert {p.key: p.value for p in graph.metadata_props} == {
        "pedet.input_format": "BGR", "pedet.min_size_test": "128", "pedet.max_size_test": "128"}
    # batch of 2 (tracing had 1) at 128 x 128, then one image at 160 x 96 (tracing had 128 x 128)
    out = output_dict(tools_export.run_onnx(path, torch.stack(val_images[:2]).numpy(), threads=1))
    for i in range(2):
        assert match_detections(valid_detections(out, i), eager_detections(opl_model, val_images[i]))
    resized = torch.nn.functional.interpolate(val_images[2][None], size=(160, 96), mode="bilinear")[0].round()
    out = output_dict(tools_export.run_onnx(path, resized[None].numpy(), threads=1))
    assert out["boxes"].shape == (1, 100, 4)
    det = valid_detections(out)
    assert len(det["scores"]) > 0 and (det["boxes"][:, 2] <= 96).all() and (det["boxes"][:, 3] <= 160).all()
    assert match_detections(det, eager_detections(opl_model, resized))


def test_torchscript_round_trip_matches_eager(opl_model, val_images, tmp_path):
    import tools_export
    from opl.export import OPLExportModule, export_example_input, output_dict, valid_detections

    module = OPLExportModule(opl_model).eval()
    path = str(tmp_path / "opl.ts")
    tools_export.export_opl_torchscript(module, export_example_input(128, 128), path)
    loaded = torch.jit.load(path)
    image = torch.nn.functional.interpolate(val_images[1][None], size=(96, 192), mode="bilinear").round()
    with torch.no_grad():
        out = output_dict(loaded(image))
    assert match_detections(valid_detections(out), eager_detections(opl_model, image[0]))


def test_export_refuses_the_nms_ablation(opl_model):
    from opl.export import OPLExportModule

    opl_model.nms_on = True
    try:
        with pytest.raises(ValueError, match="NMS"):
            OPLExportModule(opl_model)
    finally:
        opl_model.nms_on = False


def test_reploss_faster_rcnn_exports_through_tracing_adapter(tiny_root, tmp_path):
    """detectron2's TracingAdapter (loaded without detectron2.export's __init__) -> ONNX: ORT == eager, including an
    image size whose number of detections differs from the tracing input's (NMS and threshold stay in the graph)."""
    import onnxruntime as ort
    import tools_export
    from detectron2.modeling import build_model

    from .conftest import REPLOSS_CONFIG, REPLOSS_TINY_OPTS

    torch.manual_seed(0)
    # a random 2-class softmax scores ~0.5: threshold 0.5 keeps a size-dependent number of boxes
    cfg = tools_export.setup_cfg(REPLOSS_CONFIG, REPLOSS_TINY_OPTS + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.5"])
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(0)
    example = torch.randint(0, 256, (3, 128, 160), generator=g).float()
    path = str(tmp_path / "reploss.onnx")
    adapter = tools_export.export_rcnn(model, example, path, "onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    counts = set()
    for h, w in [(128, 160), (64, 64)]:
        image = torch.randint(0, 256, (3, h, w), generator=g).float()
        with torch.no_grad():
            eager = [t.numpy() for t in adapter(image)]
        exported = session.run(None, {"image": image.numpy()})
        assert [a.shape for a in exported] == [b.shape for b in eager]
        boxes, classes, scores, size = exported
        assert np.abs(boxes - eager[0]).max() <= TOL and np.abs(scores - eager[2]).max() <= TOL
        assert (classes == eager[1]).all() and size.tolist() == [h, w]
        counts.add(len(scores))
    assert len(counts) == 2  # the second size really has another number of detections


@pytest.mark.parametrize("argv, message", [
    (["--opset", "16"], "--opset 16: must be >= 17"),  # was a ValueError traceback after building the model
    (["--height", "-1"], "--height -1 / --width 0: sizes must be >= 0"),  # was a negative-dimension RuntimeError
    (["MODEL.WEIGHTS", "m.pth", "--opset", "17"], "--opset: options go before the config overrides"),
    # 21st trial: LazyConfig's key=value, was "Non-existent key: MODEL.DEVICE=cpu" after reading the config
    (["MODEL.DEVICE=cpu", "MODEL.WEIGHTS=m.pth"], "config override MODEL.DEVICE=cpu: KEY=VALUE is the LazyConfig "
                                                  "syntax; this script takes a yacs config"),
])
def test_export_rejects_bad_arguments_in_one_line(tmp_path, capsys, argv, message):
    import tools_export

    with pytest.raises(SystemExit) as e:
        tools_export.main(["--config-file", OPL_CONFIG, "--output", str(tmp_path / "m.onnx"), *argv])
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and message in err[0], err


def test_export_refuses_an_output_directory_and_the_nms_ablation_by_key(tmp_path, capsys):
    import tools_export
    from pedet.config import ConfigError

    with pytest.raises(SystemExit) as e:
        tools_export.main(["--config-file", OPL_CONFIG, "--output", str(tmp_path)])
    assert e.value.code == 2 and "a directory; give the file to write" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="MODEL.OPL.NMS_ON True: the NMS ablation cannot be exported"):
        tools_export.setup_cfg(OPL_CONFIG, ["MODEL.OPL.NMS_ON", "True"])
