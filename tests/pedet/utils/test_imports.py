"""pedet.utils.imports.load_script: repository scripts outside any package, loaded once per process."""
import os
import sys

import pytest

from pedet.utils.imports import load_script


def _script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_load_script_runs_once_and_shares_the_module(tmp_path):
    path = _script(tmp_path, "counter.py", "import builtins\nbuiltins._pedet_load_count = "
                                           "getattr(builtins, '_pedet_load_count', 0) + 1\nVALUE = 7\n")
    import builtins

    a = load_script(path)
    b = load_script(os.path.join(str(tmp_path), ".", "counter.py"))  # another spelling of the same file
    try:
        assert a is b and a.VALUE == 7
        assert builtins._pedet_load_count == 1
        assert sys.modules[a.__name__] is a
    finally:
        del builtins._pedet_load_count
        sys.modules.pop(a.__name__, None)


def test_two_files_of_the_same_name_stay_apart(tmp_path):
    (tmp_path / "OPL").mkdir()
    (tmp_path / "RepLoss").mkdir()
    one = load_script(_script(tmp_path / "OPL", "train_net.py", "WHO = 'opl'\n"))
    two = load_script(_script(tmp_path / "RepLoss", "train_net.py", "WHO = 'reploss'\n"))
    try:
        assert (one.WHO, two.WHO) == ("opl", "reploss") and one.__name__ != two.__name__
    finally:
        sys.modules.pop(one.__name__, None)
        sys.modules.pop(two.__name__, None)


def test_explicit_name_and_dataclasses_work(tmp_path):
    # a dataclass looks its module up in sys.modules while the script runs
    body = "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int = 1\n"
    mod = load_script(_script(tmp_path, "dc.py", body), "_pedet_test_dc")
    try:
        assert mod.__name__ == "_pedet_test_dc" and mod.P().x == 1
    finally:
        sys.modules.pop("_pedet_test_dc", None)


def test_a_failed_load_is_not_cached(tmp_path):
    path = _script(tmp_path, "broken.py", "raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        load_script(path, "_pedet_test_broken")
    assert "_pedet_test_broken" not in sys.modules
    (tmp_path / "broken.py").write_text("OK = True\n")
    mod = load_script(path, "_pedet_test_broken")
    try:
        assert mod.OK
    finally:
        sys.modules.pop("_pedet_test_broken", None)


def test_missing_script_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.py"):
        load_script(str(tmp_path / "nope.py"))
