"""
The DeFCN -> OPL converter: key mapping, loud failures, and equality with DeFCN's own model on recorded outputs.

Fixture (tests/fixtures/defcn/, recorded once, see its README): a cvpods checkpoint of DeFCN's CrowdHuman
"POTO + 3DMF" model at R-50 depth with reduced widths (stem/res2 8 channels, bottleneck width 2, FPN 32 channels,
2 tower convs), every tensor random, and the detections DeFCN's own model (its playground sources on cvpods) gave on
two small BGR images, with their "original" sizes so that the rescaling to height/width is part of the check.
"""
import importlib.util
import os

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from pedet.engine import PedetCheckpointer

from .tiny import CONFIG_DIR

SCRIPT = os.path.join(CONFIG_DIR, "..", "tools", "convert_defcn.py")
FIXTURE_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "defcn")
CHECKPOINT = os.path.join(FIXTURE_DIR, "defcn_poto_3dmf_tiny.pth")
OUTPUTS = os.path.join(FIXTURE_DIR, "defcn_poto_3dmf_tiny_outputs.npz")
# the widths of the fixture (the keys and the R-50 depth are DeFCN's)
TINY_OPTS = ["MODEL.RESNETS.STEM_OUT_CHANNELS", "8", "MODEL.RESNETS.RES2_OUT_CHANNELS", "8",
             "MODEL.RESNETS.WIDTH_PER_GROUP", "2", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.NUM_CONVS", "2"]
CONFIG_3DMF = os.path.join(CONFIG_DIR, "defcn_poto_3dmf_R_50_crowdhuman.yaml")


@pytest.fixture(scope="module")
def conv():
    spec = importlib.util.spec_from_file_location("convert_defcn", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def defcn_state():
    return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["model"]


def _build_and_load(conv, config_file, weights, extra_opts=()):
    """The model of ``config_file`` + the fixture widths, loaded as train_net --eval-only loads MODEL.WEIGHTS."""
    model = build_model(conv.build_opl_cfg(config_file, TINY_OPTS + list(extra_opts))).eval()
    checkpointer = PedetCheckpointer(model)
    return model, checkpointer._load_model(checkpointer._load_file(weights))  # fvcore's incompatible keys


def test_defcn_to_opl_renames_head_and_reshapes_scales(conv):
    state = {"module.head.cls_score.weight": torch.zeros(1, 32, 3, 3), "module.head.max3d.conv.bias": torch.zeros(32),
             "module.head.max3d.norm.weight": torch.ones(32), "module.head.filter.bias": torch.zeros(1),
             "module.head.scales.3.scale": torch.tensor([1.5]), "module.head.bbox_subnet.4.weight": torch.ones(32),
             "module.backbone.bottom_up.res5.2.conv3.norm.running_var": torch.ones(8)}
    out = conv.defcn_to_opl(state)
    assert set(out) == {"head.cls_scores.0.weight", "head.filter.conv.bias", "head.filter.norm.weight",
                        "head.filter.out_conv.bias", "head.scales.3.scale", "head.bbox_subnet.4.weight",
                        "backbone.bottom_up.res5.2.conv3.norm.running_var"}
    assert out["head.scales.3.scale"].shape == () and float(out["head.scales.3.scale"]) == 1.5


@pytest.mark.parametrize("bad_key", ["head.centerness.weight", "backbone.bottom_up.stem.conv1_1.weight"])
def test_defcn_to_opl_refuses_unknown_keys(conv, defcn_state, bad_key):
    with pytest.raises(KeyError, match=bad_key.replace(".", r"\.")):
        conv.defcn_to_opl(dict(defcn_state, **{bad_key: torch.zeros(1)}))


def test_defcn_to_opl_refuses_a_mix_of_prefixed_keys(conv, defcn_state):
    with pytest.raises(ValueError, match="module"):
        conv.defcn_to_opl(dict(defcn_state, **{"module.head.bbox_pred.bias": torch.zeros(4)}))


def test_check_against_model_reports_missing_extra_and_shapes(conv, defcn_state):
    converted = conv.defcn_to_opl(defcn_state)
    model_state = build_model(conv.build_opl_cfg(CONFIG_3DMF, TINY_OPTS)).state_dict()
    conv.check_against_model(converted, model_state)  # the fixture fits its config exactly
    broken = dict(converted)
    del broken["head.bbox_pred.bias"]
    broken["head.cls_scores.0.weight"] = torch.zeros(2, 32, 3, 3)
    with pytest.raises(ValueError) as err:
        conv.check_against_model(broken, model_state)
    assert "head.bbox_pred.bias" in str(err.value) and "(2, 32, 3, 3) vs model (1, 32, 3, 3)" in str(err.value)
    # a 3DMF checkpoint against the POTO config (no filter branch): every filter key is extra
    poto_state = build_model(conv.build_opl_cfg(os.path.join(CONFIG_DIR, "defcn_poto_R_50_crowdhuman.yaml"),
                                                TINY_OPTS)).state_dict()
    with pytest.raises(ValueError, match="FILTER_3DMF"):
        conv.check_against_model(converted, poto_state)


def test_check_against_model_names_a_p6_computed_from_c5(conv, defcn_state):
    converted = conv.defcn_to_opl(defcn_state)
    model_state = build_model(conv.build_opl_cfg(CONFIG_3DMF, TINY_OPTS)).state_dict()
    c5_channels = converted["backbone.bottom_up.res5.0.conv3.weight"].shape[0]  # 64 = 8 x 8 at these widths
    converted["backbone.top_block.p6.weight"] = torch.zeros(32, c5_channels, 3, 3)  # RetinaNet-style P6 on C5
    with pytest.raises(ValueError, match="from C5; MODEL.OPL.TOP_BLOCK_IN_FEATURE must be res5"):
        conv.check_against_model(converted, model_state)


def test_default_config_follows_the_3dmf_branch(conv, defcn_state):
    assert conv.convert_checkpoint({"model": defcn_state}, None, TINY_OPTS).keys() >= {"head.filter.out_conv.weight"}
    poto = {k: v for k, v in defcn_state.items() if not k.startswith(("head.max3d.", "head.filter."))}
    assert not any(k.startswith("head.filter") for k in conv.convert_checkpoint({"model": poto}, None, TINY_OPTS))


def test_converted_fixture_gives_defcns_detections(conv, tmp_path):
    # the cvpods checkpoint as saved under DistributedDataParallel: every key prefixed by "module."
    ckpt = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    src, dst = tmp_path / "defcn.pth", tmp_path / "opl.pth"
    torch.save({"model": {"module." + k: v for k, v in ckpt["model"].items()}, "iteration": 29999}, src)
    conv.main([str(src), str(dst), "--config-file", CONFIG_3DMF] + TINY_OPTS)
    model, incompatible = _build_and_load(conv, CONFIG_3DMF, str(dst))
    assert not incompatible.missing_keys and not incompatible.unexpected_keys and not incompatible.incorrect_shapes
    ref = np.load(OUTPUTS)
    inputs = [{"image": torch.from_numpy(ref[f"image{i}"]), "height": int(ref[f"size{i}"][0]),
               "width": int(ref[f"size{i}"][1])} for i in range(2)]
    with torch.no_grad():
        outputs = model(inputs)
    for i, out in enumerate(outputs):
        inst = out["instances"]
        assert inst.image_size == tuple(int(v) for v in ref[f"size{i}"])
        order = torch.argsort(inst.scores, descending=True)
        assert len(order) == len(ref[f"scores{i}"]) > 20
        # measured when recorded: scores within 4.5e-7, boxes within 1.9e-4 px; all of it float rounding (detectron2's
        # FrozenBN calls F.batch_norm, cvpods' computes x * scale + bias: with cvpods' formula the outputs are equal)
        torch.testing.assert_close(inst.scores[order], torch.from_numpy(ref[f"scores{i}"]), rtol=0, atol=1e-5)
        torch.testing.assert_close(inst.pred_boxes.tensor[order], torch.from_numpy(ref[f"boxes{i}"]),
                                   rtol=0, atol=5e-4)
        assert torch.equal(inst.pred_classes[order], torch.from_numpy(ref[f"classes{i}"]).long())


def test_opl_with_c2f_and_cpn_starts_from_a_defcn_checkpoint(conv, tmp_path):
    """The OPL paper model loads everything DeFCN has except the 3DMF branch; C2F and CPN start fresh."""
    dst = tmp_path / "opl.pth"
    conv.main([str(CHECKPOINT), str(dst), "--config-file", CONFIG_3DMF] + TINY_OPTS)
    _, incompatible = _build_and_load(conv, os.path.join(CONFIG_DIR, "opl_R_50_FPN_crowdhuman_30k.yaml"), str(dst),
                                      ["MODEL.OPL.CPN_CONV_KERNEL", "1"])
    new = {k.rsplit(".", 1)[0].split(".")[1] for k in incompatible.missing_keys}
    assert new == {"c2f_upper", "cls_scores", "cpn"}
    assert {k for k in incompatible.missing_keys if k.startswith("head.cls_scores")} == {
        "head.cls_scores.1.weight", "head.cls_scores.1.bias"}  # block 1's scorer comes from DeFCN's cls_score
    assert sorted(incompatible.unexpected_keys) == sorted(
        f"head.filter.{m}.{p}" for m in ("conv", "norm", "out_conv") for p in ("weight", "bias"))
    assert not incompatible.incorrect_shapes
