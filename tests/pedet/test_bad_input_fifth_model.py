"""
Fifth bad-input trial, model side (issue 11): weights of the other project in the export and the demo, and the new
kinds of checks of this trial. Parametrised config cases that fit the third trial's checks are in its tables
(tests/pedet/test_bad_input_third_model.py).
"""
import importlib.util
import os

import pytest
import torch

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")
REPLOSS_TINY = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
OPL_OPTS = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1"]


def _script(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, *path.split("/")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    module = _script(f"fifth_trial_{purpose}", script)
    with pytest.raises(CheckpointFileError) as e:
        module.main(["--config-file", OPL_TINY, *[a.format(tmp=tmp_path) for a in argv], "MODEL.WEIGHTS", weights])
    assert str(e.value).startswith(f"{weights}: ") and str(e.value).endswith(f"; {purpose} needs them all"), e.value
    assert not os.path.exists(tmp_path / "m.onnx") and not os.path.exists(tmp_path / "out")
