"""
Seventh final "second person" trial, model side (issue 11): projects/OPL/tools/convert_defcn.py answered every bad
input with a traceback (a missing or non-checkpoint input file, an OPL state dict given in place of a DeFCN one, a
checkpoint that does not fit the config, an unknown config key after the file); each is now one line naming the
input and what is wrong, exit status 1. (The main job's overrides that broke its report after the training are
cases of the main-job table in test_bad_input_third_model.py.)
"""
import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "projects", "OPL", "tools", "convert_defcn.py")
FIXTURE = os.path.join(REPO, "tests", "fixtures", "defcn", "defcn_poto_3dmf_tiny.pth")


@pytest.fixture(scope="module")
def conv():
    from pedet.utils.imports import load_script

    return load_script(SCRIPT)


def _opl_state_dict(path):
    """What train_net.py writes (model_final.pth), cut to a few of its keys: OPL's names, not DeFCN's."""
    torch.save({"model": {"backbone.bottom_up.stem.conv1.weight": torch.zeros(8, 3, 7, 7),
                          "head.cls_scores.0.weight": torch.zeros(1, 32, 3, 3),
                          "head.cls_scores.0.bias": torch.zeros(1)}, "iteration": 299}, path)


@pytest.mark.parametrize("make_input, message", [
    (None, "no such checkpoint file"),  # was CheckpointFileError's traceback
    (_opl_state_dict, "already an OPL state dict, not a DeFCN one (it has head.cls_scores.0.weight"),  # was a KeyError
])
def test_convert_defcn_command_answers_bad_input_in_one_line(tmp_path, make_input, message):
    src = tmp_path / "model_final.pth"
    if make_input is not None:
        make_input(src)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, SCRIPT, str(src), str(tmp_path / "out.pth")], env=env, cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(src) in errors[0] and message in errors[0], r.stderr
    assert not (tmp_path / "out.pth").exists()


def test_convert_defcn_names_a_checkpoint_that_does_not_fit_the_config(conv, tmp_path):
    # the tiny fixture (reduced widths) against the full-width DeFCN config: shapes differ; was a multi-line ValueError
    with pytest.raises(conv.ConversionError) as e:
        conv.main([FIXTURE, str(tmp_path / "out.pth")])
    assert str(e.value).startswith(f"{FIXTURE}: The converted DeFCN checkpoint does not fit the config")
    assert not (tmp_path / "out.pth").exists()


def test_convert_defcn_names_a_file_that_holds_no_checkpoint_dict(conv, tmp_path):
    src = tmp_path / "tensors.pth"
    torch.save([torch.zeros(2)], src)  # loads weights-only; was a traceback from the key mapping
    with pytest.raises(conv.ConversionError, match="holds a list, not a checkpoint dict"):
        conv.main([str(src), str(tmp_path / "out.pth")])


def test_convert_defcn_config_override_error_is_one_line(conv, tmp_path, capsys):
    # an unknown key after --config-file: was yacs' KeyError traceback from cfg.merge_from_list
    from pedet.config import ConfigError

    with pytest.raises(ConfigError) as e:
        conv.main([FIXTURE, str(tmp_path / "out.pth"), "MODEL.OPL.BOGUS", "1"])
    assert "MODEL.OPL.BOGUS" in str(e.value.code) and "\n" not in str(e.value.code)
