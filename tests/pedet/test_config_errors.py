"""pedet.config.merge_config: yacs' errors become one line naming the file or override (issue 11 §1)."""
import os
import subprocess
import sys

import pytest
from detectron2.config import get_cfg

from pedet.config import ConfigError, add_pedet_config, merge_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg():
    cfg = get_cfg()
    add_pedet_config(cfg)
    return cfg


@pytest.mark.parametrize("text, opts, expected", [
    ("MODEL:\n  NOT_A_KEY: 1\n", [], "config file {f}: Non-existent config key: MODEL.NOT_A_KEY"),
    ("SOLVER:\n  MAX_ITER: ten\n", [], "config file {f}: SOLVER.MAX_ITER must be of type int (default 40000), got the str ten"),
    # fourth final trial: was "Non-existent config key: SOLVER.BASE_LR" (the key exists; the space was invisible)
    ('SOLVER:\n  "BASE_LR ": 0.01\n', [], "config file {f}: Non-existent config key: 'SOLVER.BASE_LR ': a key name "
                                          "with spaces around it"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["SOLVER. BASE_LR", "0.1"], "config override: Non-existent key: 'SOLVER. BASE_LR': "
                                                             "a key name with spaces around it"),
    # fifth final trial: a dotted key in a YAML file was "Non-existent config key: SOLVER.BASE_LR" (the key exists)
    ("SOLVER.BASE_LR: 0.1\n", [], "config file {f}: key 'SOLVER.BASE_LR' is written with dots; a YAML config nests "
                                  "its groups (SOLVER: {{BASE_LR: ...}}); dotted names are for command-line overrides"),
    ("MODEL:\n  OPL.NUM_CONVS: 2\n", [], "config file {f}: key 'MODEL.OPL.NUM_CONVS' is written with dots; a YAML "
                                         "config nests its groups (MODEL: {{OPL: {{NUM_CONVS: ...}}}}); dotted names "
                                         "are for command-line overrides"),
    # eighth final trial: a second SOLVER: block replaced the first in silence (PyYAML keeps the last of equal keys)
    ("SOLVER:\n  BASE_LR: 0.0\nMODEL:\n  DEVICE: cpu\nSOLVER:\n  MAX_ITER: 1\n", [],
     "config file {f}: key 'SOLVER' is given twice (lines 1 and 5); YAML keeps only the last, which drops everything "
     "set under the first; merge them into one"),
    ("SOLVER:\n  BASE_LR: 0.1\n  STEPS: (1,)\n  BASE_LR: 0.2\n", [], "config file {f}: key 'SOLVER.BASE_LR' is given "
                                                                     "twice (lines 2 and 4)"),
    ("SOLVER: [unclosed\n", [], "config file {f}: cannot be read as YAML"),
    ("_BASE_: missing_base.yaml\n", [], "config file {d}/missing_base.yaml (the _BASE_ of {f}): cannot be read (No such file"),
    ("", [], "config file {f}: is empty"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["MODEL.NOT_A_KEY", "1"], "config override: Non-existent key: MODEL.NOT_A_KEY"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["SOLVER.MAX_ITER", "ten"], "config override: SOLVER.MAX_ITER must be of type int"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["SOLVER.MAX_ITER"],
     "config overrides come as KEY VALUE pairs, got 1 items: SOLVER.MAX_ITER"),
    # 21st trial: Detectron2 LazyConfig's key=value items were "Non-existent key: SOLVER.MAX_ITER=2" (the key exists)
    ("SOLVER:\n  MAX_ITER: 5\n", ["SOLVER.MAX_ITER=2", "SOLVER.BASE_LR=0.1"],
     "config override SOLVER.MAX_ITER=2: KEY=VALUE is the LazyConfig syntax; this script takes a yacs config, "
     "overridden by KEY VALUE pairs, e.g. SOLVER.MAX_ITER 2"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["SOLVER.MAX_ITER", "2", "train.init_checkpoint=m.pth"],
     "config override train.init_checkpoint=m.pth: KEY=VALUE is the LazyConfig syntax; this script takes a yacs "
     "config, overridden by KEY VALUE pairs, e.g. MODEL.WEIGHTS model.pth"),
    # fourth trial: yacs lets None replace any value; these failed deep inside Detectron2 or in the checks themselves
    ("SOLVER:\n  MAX_ITER: 5\n", ["DATASETS.TEST", "None"], "config: DATASETS.TEST None: must be of type tuple, "
                                                             "like its default ()"),
    ("MODEL:\n  DEVICE: null\n", [], "config: MODEL.DEVICE None: must be of type str, like its default 'cuda'"),
    ("DATALOADER:\n  SAMPLER_TRAIN:\n", [], "config: DATALOADER.SAMPLER_TRAIN None: must be of type str"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["TEST.EVAL_PERIOD", "None"], "config: TEST.EVAL_PERIOD None: must be of type int"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["MODEL.ANCHOR_GENERATOR.SIZES", "None"], "MODEL.ANCHOR_GENERATOR.SIZES None: must"),
    ("SOLVER:\n  MAX_ITER: 5\n", ["TEST.MISS_RATE.SETUPS", "None"], "TEST.MISS_RATE.SETUPS None: must be of type list"),
])
def test_merge_errors_are_one_line_naming_the_file_or_override(tmp_path, text, opts, expected):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        merge_config(_cfg(), str(f), opts)
    msg = str(e.value)
    assert msg.startswith("error: ") and "\n" not in msg
    assert expected.format(f=f, d=tmp_path) in msg, msg


def test_missing_file_and_a_good_merge(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.yaml: cannot be read .No such file"):
        merge_config(_cfg(), str(tmp_path / "nope.yaml"), [])  # noqa
    f = tmp_path / "ok.yaml"
    f.write_text("SOLVER:\n  MAX_ITER: 7\n")
    cfg = _cfg()
    merge_config(cfg, str(f), ["SOLVER.BASE_LR", "0.5"])
    assert cfg.SOLVER.MAX_ITER == 7 and cfg.SOLVER.BASE_LR == 0.5


def test_train_net_with_an_unknown_key_exits_with_one_line():
    cmd = [sys.executable, os.path.join(REPO, "projects", "OPL", "train_net.py"), "--config-file",
           os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml"), "MODEL.OPL.NOT_A_KEY", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: config override: Non-existent key: MODEL.OPL.NOT_A_KEY"


# ------------------------------------------------------------------ fresh bad inputs (issue 11, second trial)
@pytest.mark.parametrize("name, content, expected", [
    ("list.yaml", b"- a\n- b\n", "holds a list, not a mapping of config keys"),
    ("scalar.yaml", b"hello\n", "holds a str, not a mapping of config keys"),
    ("comments.yaml", b"# nothing\n", "holds no settings (only comments or null)"),
    ("null.yaml", b"~\n", "holds no settings"),
    ("latin.yaml", "# caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 5)"),
    ("png.yaml", b"\x89PNG\r\n\x1a\n", "not UTF-8 text (byte 0x89 at offset 0)"),
    ("tab.yaml", b"SOLVER:\n\tMAX_ITER: 2\n", "cannot be read as YAML (found character '\\t' that cannot start any "
                                              "token, line 2)"),
    ("self.yaml", b"_BASE_: self.yaml\n", "the _BASE_ chain loops"),
    ("basenum.yaml", b"_BASE_: 5\n", "_BASE_ must be a file name or a list of file names, got 5"),
    ("lazy.py", b"x = 1\n", "a Python (LazyConfig) file; this script takes a YAML config"),  # was "holds a str"
])
def test_merge_refuses_files_that_are_no_config_mapping(tmp_path, name, content, expected):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        merge_config(_cfg(), str(f), [])
    msg = str(e.value)
    assert msg.startswith(f"error: config file {f}") and "\n" not in msg and expected in msg, msg


def test_merge_names_the_base_file_that_is_wrong_and_accepts_a_list_of_bases(tmp_path):
    (tmp_path / "a.yaml").write_text("SOLVER:\n  MAX_ITER: 7\n")
    (tmp_path / "bad.yaml").write_text("- 1\n")
    (tmp_path / "child.yaml").write_text("_BASE_: [a.yaml, bad.yaml]\n")
    with pytest.raises(ConfigError, match=r"config file .*bad.yaml \(the _BASE_ of .*child.yaml\): holds a list"):
        merge_config(_cfg(), str(tmp_path / "child.yaml"), [])
    (tmp_path / "child.yaml").write_text("_BASE_: [a.yaml]\nSOLVER:\n  BASE_LR: 0.5\n")  # Detectron2 merges a list
    cfg = _cfg()
    merge_config(cfg, str(tmp_path / "child.yaml"), [])
    assert (cfg.SOLVER.MAX_ITER, cfg.SOLVER.BASE_LR) == (7, 0.5)


def test_type_mismatch_names_key_types_and_value_without_dumping_a_group(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("MODEL: 5\n")
    with pytest.raises(ConfigError) as e:
        merge_config(_cfg(), str(f), [])
    assert str(e.value) == f"error: config file {f}: MODEL is a group of keys, not a value (got the int 5)"
    f.write_text("SOLVER:\n  MAX_ITER: 5\n")
    with pytest.raises(ConfigError) as e:
        merge_config(_cfg(), str(f), ["SOLVER.STEPS", "(a,"])
    assert str(e.value) == ("error: config override: SOLVER.STEPS must be of type tuple (default (30000,)), "
                            "got the str (a,")


def test_train_net_with_a_value_that_trains_nonsense_exits_with_one_line(tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "projects", "RepLoss", "train_net.py"), "--config-file",
           os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml"),
           "OUTPUT_DIR", str(tmp_path / "out"), "SOLVER.WARMUP_FACTOR", "-1.0"]  # was gradient ascent, silently
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: config: SOLVER.WARMUP_FACTOR -1.0: must be a finite number >= 0"
