"""
Tests of pedet.utils.file_io, the one writer of every output file: atomic replacement, fsync of file and folder,
permissions from the umask, and removal of the temporaries that an interrupted save leaves behind. Also checks that
the project's writers (evaluator CLI, converters, synthetic generator, checkpointer) go through it.
"""
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from pedet.utils import file_io
from pedet.utils.file_io import atomic_open, atomic_write, atomic_write_json, remove_stale_temporaries

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_permissions_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    atomic_write(str(tmp_path / "metrics.md"), "| AP |\n")  # 0o666 & ~mask, as open(path, "w") would give
    assert _mode(tmp_path / "metrics.md") == expected


def test_atomic_write_replaces_the_content_only_at_the_end(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with atomic_open(str(path), "w") as f:
        f.write("new")
        f.flush()
        assert path.read_text() == "old"  # a reader during the save sees the old file, never half a new one
    assert path.read_text() == "new"


def test_atomic_write_keeps_the_old_file_and_no_temporary_when_the_writer_fails(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(str(path), {"mMR": 0.5})
    with pytest.raises(ValueError, match="Out of range float values"):
        atomic_write_json(str(path), {"mMR": float("nan")})  # never a literal NaN in JSON
    assert json.loads(path.read_text()) == {"mMR": 0.5}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_atomic_write_fsyncs_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    atomic_write(str(tmp_path / "a.bin"), b"\x00\x01")
    assert len(synced) == 2
    assert os.path.basename(synced[0]).startswith(".a.bin.") and synced[0].endswith(".tmp")  # the data, before rename
    assert synced[1] == str(tmp_path)  # the folder, after the rename


def test_atomic_write_into_a_folder_is_an_error(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write(str(tmp_path / "out"), "x")


def _killed_writer(folder: str, name: str) -> int:
    """Start a process that opens an atomic save of folder/name, then dies by SIGKILL mid-write; returns its pid."""
    code = (
        "import os, signal, sys\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "from pedet.utils.file_io import atomic_open\n"
        f"with atomic_open(os.path.join({folder!r}, {name!r}), 'wb') as f:\n"
        "    f.write(b'half a checkpoint'); f.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    assert proc.wait() == -signal.SIGKILL
    return proc.pid


def test_interrupted_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    (tmp_path / "model_final.pth").write_bytes(b"complete checkpoint")
    _killed_writer(str(tmp_path), "model_final.pth")
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model_final.pth.")
    assert (tmp_path / "model_final.pth").read_bytes() == b"complete checkpoint"  # the old file is intact
    atomic_write(str(tmp_path / "model_final.pth"), b"next checkpoint")
    assert sorted(os.listdir(tmp_path)) == ["model_final.pth"]


def test_remove_stale_temporaries_spares_live_writers_other_hosts_and_foreign_files(tmp_path):
    _killed_writer(str(tmp_path), "model_0000099.pth")
    host = file_io._host()
    alive = f".metrics.json.{host}.{os.getppid()}.{'a' * 16}.tmp"  # the parent process is running
    other_host = f".metrics.json.otherhost.999999.{'b' * 16}.tmp"  # maybe running elsewhere (shared file system)
    foreign = ".something.tmp"  # not one of ours
    for name in (alive, other_host, foreign):
        (tmp_path / name).write_text("")
    removed = remove_stale_temporaries(str(tmp_path))
    assert [os.path.basename(p).startswith(".model_0000099.pth.") for p in removed] == [True]
    assert sorted(os.listdir(tmp_path)) == sorted([alive, other_host, foreign])


def test_checkpointer_start_removes_leftovers_of_an_interrupted_save(tmp_path):
    torch = pytest.importorskip("torch")
    from pedet.engine import PedetCheckpointer

    _killed_writer(str(tmp_path), "model_0000099.pth")
    assert any(n.endswith(".tmp") for n in os.listdir(tmp_path))
    checkpointer = PedetCheckpointer(torch.nn.Linear(2, 2), str(tmp_path))
    assert os.listdir(tmp_path) == []
    checkpointer.save("model_final")
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]
    assert _mode(tmp_path / "model_final.pth") == 0o666 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _crowdhuman_fixture():
    root = os.path.join(REPO, "tests", "fixtures", "crowdhuman", "CrowdHuman")
    return os.path.join(root, "annotation_val.odgt"), os.path.join(root, "Images")


def test_project_writers_give_ordinary_permissions(tmp_path, umask):
    """Evaluator CLI (metrics.json, curve PNG), converter and synthetic outputs: 0644 under umask 022, not 0600."""
    umask(0o022)
    from pedet.data import synthetic
    from pedet.data.convert import main as convert
    from pedet.evaluation.__main__ import main as evaluate

    odgt, images = _crowdhuman_fixture()
    assert convert(["odgt2coco", odgt, str(tmp_path / "coco.json"), "--image-root", images]) == 0
    assert convert(["coco2odgt", str(tmp_path / "coco.json"), str(tmp_path / "back.odgt")]) == 0
    dt = tmp_path / "dt.odgt"
    coco = json.loads((tmp_path / "coco.json").read_text())
    dt.write_text("".join(json.dumps({"ID": im["crowdhuman_id"], "width": im["width"], "height": im["height"],
                                      "dtboxes": [{"box": [1, 1, 10, 20], "score": 0.9, "tag": 1}]}) + "\n"
                          for im in coco["images"]))
    assert evaluate(["--protocol", "crowdhuman", "--gt", odgt, "--dt", str(dt), "--out", str(tmp_path / "m.json"),
                     "--plot", str(tmp_path / "plots")]) == 0
    assert synthetic.main(["--out", str(tmp_path / "syn"), "--num-images", "1", "--size", "48", "48",
                           "--preview", str(tmp_path / "preview.png"), "--preview-images", "1"]) == 0
    written = [tmp_path / "coco.json", tmp_path / "back.odgt", tmp_path / "m.json",
               tmp_path / "plots" / "mr_fppi_crowdhuman.png", tmp_path / "syn" / "annotation_train.odgt",
               tmp_path / "syn" / "annotation_train.meta.json", tmp_path / "syn" / "Images" / "train_000000.jpg",
               tmp_path / "preview.png"]
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in written} == {
        str(p.relative_to(tmp_path)): oct(0o644) for p in written}


def test_bulk_writes_can_skip_the_folder_listing(tmp_path):
    """Writers of many files clean the folder once, then write with remove_stale=False (no listing per file)."""
    _killed_writer(str(tmp_path), "a.jpg")
    atomic_write(str(tmp_path / "a.jpg"), b"jpeg", fsync=False, remove_stale=False)
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    assert len(remove_stale_temporaries(str(tmp_path))) == 1 and os.listdir(tmp_path) == ["a.jpg"]


def test_same_file_sees_one_file_through_every_alias(tmp_path):
    (tmp_path / "d").mkdir()
    a = tmp_path / "d" / "a.json"
    a.write_text("{}")
    os.symlink(tmp_path / "d", tmp_path / "link_d")
    os.link(a, tmp_path / "hard.json")
    same = file_io.same_file
    assert same(str(a), str(a)) and same(a, str(tmp_path / "d" / ".." / "d" / "a.json"))  # Path or str, '..'
    assert same(str(tmp_path / "link_d" / "a.json"), str(a))  # a symbolic link to a folder above it
    assert same(str(tmp_path / "hard.json"), str(a))  # a hard link
    assert same(str(tmp_path / "new.json"), str(tmp_path / "d" / ".." / "new.json"))  # one name, not written yet
    assert not same(str(tmp_path / "new.json"), str(a))  # a file that does not exist yet is no other file
    assert not same(str(a), None) and not same(5, str(a)) and not same(str(a), "a\0b")  # no path: no file


def test_is_inside_resolves_links_and_counts_the_folder_itself(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "d", tmp_path / "link_d")
    inside = file_io.is_inside
    assert inside(str(tmp_path / "d" / "sub" / "x.png"), str(tmp_path / "d"))  # below, even if not written yet
    assert inside(str(tmp_path / "link_d" / "x.png"), str(tmp_path / "d"))  # through a link to the folder
    assert inside(str(tmp_path / "d"), str(tmp_path / "d"))  # the folder itself
    assert not inside(str(tmp_path / "d2" / "x.png"), str(tmp_path / "d"))  # a sibling sharing the name's prefix
    assert not inside(str(tmp_path / "d"), str(tmp_path / "d" / "sub"))
