"""
Fourteenth bad-input trial of the data side (issue 11). pedet's one file writer replaced an output path that is a loop
of symbolic links (``realpath`` gives it back unresolved) by a regular file without a word, where ``open`` refuses it;
the synthetic generator's --out / --preview on such a loop failed with "[Errno 40] Too many levels of symbolic links"
or replaced the link. An output in a folder that takes no new file (/proc) named the writer's temporary file. (The
converter cases are in test_cli_bad_input.py; the command's and MissRateEvaluator's in
tests/pedet/evaluation/test_bad_input_fourteenth.py.)
"""
import errno
import os

import pytest

from pedet.data import synthetic as syn
from pedet.utils.file_io import atomic_write


def test_writing_to_a_symbolic_link_loop_is_refused_and_keeps_the_links(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OSError, match="is a loop of symbolic links") as e:
        atomic_write(str(tmp_path / "a"), "x")
    assert e.value.errno == errno.ELOOP and e.value.filename == str(tmp_path / "a")
    assert os.readlink(tmp_path / "a") == str(tmp_path / "b") and os.readlink(tmp_path / "b") == str(tmp_path / "a")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]  # no temporary file left


def test_writing_where_no_file_can_be_created_names_the_file_asked_for():
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc")
    with pytest.raises(OSError) as e:
        atomic_write("/proc/m.json", "x")
    assert e.value.filename == "/proc/m.json" and str(e.value.strerror).startswith("cannot create a file in '/proc'")


@pytest.mark.parametrize("flag", ["--out", "--preview"])
def test_synthetic_output_that_is_a_symbolic_link_loop_is_refused_before_rendering(tmp_path, capsys, flag):
    loop = tmp_path / ("loop.png" if flag == "--preview" else "loop")
    os.symlink(loop, loop)
    args = {"--out": ["--out", str(loop)], "--preview": ["--out", str(tmp_path / "set"), "--preview", str(loop)]}[flag]
    with pytest.raises(SystemExit) as e:
        syn.main([*args, "--num-images", "1", "--size", "64", "64"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip().splitlines()[-1] == (
        f"python -m pedet.data.synthetic: error: {flag}: '{loop}' is a loop of symbolic links (each points on to "
        "another); remove it or give another path")
    assert os.readlink(loop) == str(loop) and not (tmp_path / "set").exists()
