"""
The entry points in a bad environment rather than on bad input: a full or read-only file system, standard output
that is a closed pipe or a full device, interrupted runs, odd locales and file names, an odd process environment.
Each answers with one line (the file, what is wrong), a non-zero status and no traceback, and leaves no torn file and
no temporary behind. The conditions are simulated by monkeypatching (ENOSPC from a write, EPIPE from stdout); the one
test on a real tmpfs skips where mounting is impossible (not root, no mount namespace).
"""
import errno
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from pedet.utils import file_io
from pedet.utils.file_io import atomic_write_json

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CH_GT = [
    {"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [10, 10, 20, 40], "vbox": [10, 10, 20, 30], "extra": {"ignore": 0}}]},
    {"ID": "b", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [50, 20, 20, 40], "vbox": [50, 20, 20, 40], "extra": {"ignore": 0}}]},
]
CH_DT = [
    {"ID": "a", "width": 100, "height": 80, "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9, "tag": 1}]},
    {"ID": "b", "width": 100, "height": 80, "dtboxes": [{"box": [40, 40, 10, 20], "score": 0.4, "tag": 1}]},
]


def _odgt(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def crowdhuman_files(tmp_path):
    gt, dt = tmp_path / "gt.odgt", tmp_path / "dt.odgt"
    gt.write_text(_odgt(CH_GT))
    dt.write_text(_odgt(CH_DT))
    return str(gt), str(dt)


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() on a full disk: no file name


class _FailingStdout(io.StringIO):
    """Standard output whose writes fail, as a pipe whose reader has gone (EPIPE) or /dev/full (ENOSPC)."""

    def __init__(self, error: int):
        super().__init__()
        self.error = error

    def write(self, text):
        raise OSError(self.error, os.strerror(self.error))

    def flush(self):
        raise OSError(self.error, os.strerror(self.error))


# ---------------------------------------------------------------------------------------------------- full disk

def test_a_write_that_fails_on_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic_write_json(str(path), {"mMR": 0.5})
    monkeypatch.setattr(file_io.os, "fsync", _no_space)  # tmpfs and ext4 report a full disk at write or fsync
    with pytest.raises(OSError) as e:
        atomic_write_json(str(path), {"mMR": 0.25})
    # before: OSError without a file name, printed as "error: No space left on device" by every command
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert file_io.describe_os_error(e.value) == f"{path}: No space left on device"
    assert json.loads(path.read_text()) == {"mMR": 0.5}
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temporary left


def test_a_failing_write_inside_the_block_names_the_file(tmp_path):
    path = tmp_path / "a.txt"
    with pytest.raises(OSError) as e:
        with file_io.atomic_open(str(path), "w") as f:
            f.write("x")
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))  # as f.write on a full quota
    assert e.value.filename == str(path) and e.value.errno == errno.EDQUOT
    assert os.listdir(tmp_path) == []


def test_errors_that_are_not_of_the_write_keep_their_own_name(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        with file_io.atomic_open(str(tmp_path / "out.json"), "w"):
            open(tmp_path / "missing-input.json")  # an error of the caller's own work inside the block
    assert e.value.filename == str(tmp_path / "missing-input.json")


def test_evaluation_out_on_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, crowdhuman_files):
    from pedet.evaluation.__main__ import main

    gt, dt = crowdhuman_files
    out = tmp_path / "out" / "metrics.json"
    monkeypatch.setattr(file_io.os, "fsync", _no_space)
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {out}: No space left on device\n"
    assert os.listdir(out.parent) == []


def test_converter_on_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, crowdhuman_files):
    from pedet.data.convert import main

    gt, _ = crowdhuman_files
    out = tmp_path / "coco.json"
    out.write_text("{}")
    monkeypatch.setattr(file_io.os, "fsync", _no_space)
    assert main(["odgt2coco", gt, str(out)]) == 1
    assert capsys.readouterr().err == f"error: {out}: No space left on device\n"
    assert out.read_text() == "{}" and sorted(os.listdir(tmp_path)) == ["coco.json", "dt.odgt", "gt.odgt"]


def _mount_tmpfs(folder: str, size: str) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    os.makedirs(folder, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder],
                          capture_output=True).returncode == 0


def test_evaluation_on_a_real_full_tmpfs(tmp_path, crowdhuman_files):
    """The same on a real full file system (root only; skipped where tmpfs cannot be mounted)."""
    full = str(tmp_path / "full")
    if not _mount_tmpfs(full, "16k"):
        pytest.skip("cannot mount a tmpfs here (not root, or no mount permission)")
    try:
        fd = os.open(os.path.join(full, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):  # fill it to the last block
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        gt, dt = crowdhuman_files
        out = os.path.join(full, "metrics.json")
        r = subprocess.run([sys.executable, "-m", "pedet.evaluation", "--protocol", "crowdhuman", "--gt", gt,
                            "--dt", dt, "--out", out], capture_output=True, text=True, cwd=REPO)
        assert r.returncode == 1
        assert r.stderr == f"error: {out}: No space left on device\n"
        assert os.listdir(full) == ["filler"]
    finally:
        subprocess.run(["umount", full], capture_output=True)


# ---------------------------------------------------------------------------------- standard output that fails

def test_evaluation_piped_into_head_still_writes_its_files(tmp_path, monkeypatch, capsys, crowdhuman_files):
    from pedet.evaluation.__main__ import main

    gt, dt = crowdhuman_files
    monkeypatch.setattr(sys, "stdout", _FailingStdout(errno.EPIPE))
    status = main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(tmp_path / "m.json"),
                   "--plot", str(tmp_path / "plots")])
    # before: "error: Broken pipe", status 1, and neither --out nor --plot written (the table is printed first)
    assert status == 0 and capsys.readouterr().err == ""
    assert "mMR" in json.loads((tmp_path / "m.json").read_text())
    assert os.listdir(tmp_path / "plots")


def test_converter_with_stdout_on_a_full_device_is_one_line(tmp_path, monkeypatch, capsys, crowdhuman_files):
    from pedet.data.convert import main

    gt, _ = crowdhuman_files
    monkeypatch.setattr(sys, "stdout", _FailingStdout(errno.ENOSPC))
    # before: a traceback from print(summary) (OSError: [Errno 28]), after the output was written
    assert main(["odgt2coco", gt, str(tmp_path / "coco.json")]) == 1
    assert capsys.readouterr().err == "error: standard output: No space left on device\n"
    assert len(json.loads((tmp_path / "coco.json").read_text())["images"]) == 2


def test_synthetic_generator_piped_into_head_completes_the_split(tmp_path, monkeypatch, capsys):
    from pedet.data.synthetic import main

    monkeypatch.setattr(sys, "stdout", _FailingStdout(errno.EPIPE))
    assert main(["--out", str(tmp_path / "syn"), "--num-images", "2", "--size", "48", "64",
                 "--persons-per-image", "1"]) == 0
    assert capsys.readouterr().err == ""
    assert len((tmp_path / "syn" / "annotation_train.odgt").read_text().splitlines()) == 2


def test_help_on_a_full_device_is_an_error(monkeypatch, capsys):
    from pedet.evaluation.__main__ import main

    monkeypatch.setattr(sys, "stdout", _FailingStdout(errno.ENOSPC))
    assert main(["--help"]) == 1  # before: status 0 (buffered) or 120, and the help lost
    assert capsys.readouterr().err == "error: standard output: No space left on device\n"


def test_a_real_closed_pipe_block_buffered(tmp_path, crowdhuman_files):
    """`python -m pedet.evaluation ... | head -c 0`: the reader is gone before the table is flushed at exit."""
    gt, dt = crowdhuman_files
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    read, write = os.pipe()
    os.close(read)  # nobody reads
    try:
        r = subprocess.run([sys.executable, "-m", "pedet.evaluation", "--protocol", "crowdhuman", "--gt", gt,
                            "--dt", dt, "--out", str(tmp_path / "m.json")], stdout=write, stderr=subprocess.PIPE,
                           text=True, cwd=REPO, env=env)
    finally:
        os.close(write)
    # before: "error: Broken pipe" with status 1 and no m.json (or "Exception ignored ... BrokenPipeError", 120)
    assert (r.returncode, r.stderr) == (0, "")
    assert "mMR" in json.loads((tmp_path / "m.json").read_text())


# ----------------------------------------------------------------------------------------------- Ctrl-C and kill

def test_ctrl_c_during_the_evaluation_is_one_line(tmp_path, monkeypatch, capsys, crowdhuman_files):
    import pedet.evaluation.__main__ as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    gt, dt = crowdhuman_files
    monkeypatch.setattr(cli, "evaluate", interrupted)
    # before: a KeyboardInterrupt traceback
    assert cli.main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(tmp_path / "m.json")]) == 130
    assert capsys.readouterr().err == "error: interrupted (SIGINT)\n"
    assert sorted(os.listdir(tmp_path)) == ["dt.odgt", "gt.odgt"]


def test_sigterm_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, capsys, crowdhuman_files):
    import signal

    import pedet.evaluation.__main__ as cli

    gt, dt = crowdhuman_files
    out = tmp_path / "out" / "m.json"
    out.parent.mkdir()
    out.write_text('{"old": 1}')
    real_fsync = file_io.os.fsync

    def killed_while_saving(fd):  # `kill <pid>` arrives while the new metrics are being saved
        os.kill(os.getpid(), signal.SIGTERM)
        real_fsync(fd)

    monkeypatch.setattr(file_io.os, "fsync", killed_while_saving)
    before = signal.getsignal(signal.SIGTERM)
    status = cli.main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(out)])
    # before: the process ended on the spot, leaving .m.json.<host>.<pid>.<random>.tmp beside the old file
    assert status == 143 and capsys.readouterr().err == "error: interrupted (SIGTERM)\n"
    assert json.loads(out.read_text()) == {"old": 1} and os.listdir(out.parent) == ["m.json"]
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is gone again


def test_sigterm_during_the_synthetic_generation_leaves_no_temporary(tmp_path, monkeypatch, capsys):
    import signal

    from pedet.data import synthetic

    real = synthetic._render_and_encode

    def render(job):
        if job[1] == 2:  # killed at the third image
            os.kill(os.getpid(), signal.SIGTERM)
        return real(job)

    monkeypatch.setattr(synthetic, "_render_and_encode", render)
    out = tmp_path / "syn"
    assert synthetic.main(["--out", str(out), "--num-images", "4", "--size", "48", "64",
                           "--persons-per-image", "1"]) == 143
    assert capsys.readouterr().err == "error: interrupted (SIGTERM)\n"
    # the split is incomplete (no .odgt, no meta file), and no hidden temporary of the .odgt is left
    assert sorted(os.listdir(out)) == [".generate.lock", "Images"]
    assert sorted(os.listdir(out / "Images")) == ["train_000000.jpg", "train_000001.jpg"]


def test_synthetic_workers_print_nothing_when_the_pool_ends(tmp_path, capfd):
    from pedet.data.synthetic import main

    assert main(["--out", str(tmp_path / "syn"), "--num-images", "4", "--size", "48", "64",
                 "--persons-per-image", "1", "--workers", "2"]) == 0
    # the pool ends its workers with SIGTERM: a worker that inherited the command's handler printed a traceback each
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------------------------------- locales and file names

def test_a_file_name_of_bytes_that_are_not_utf8(tmp_path, capsys, crowdhuman_files):
    from pedet.evaluation.__main__ import main

    folder = os.path.join(str(tmp_path), os.fsdecode(b"bad\xff\xfename"))  # as Python reads such a name: surrogates
    out = os.path.join(folder, os.fsdecode(b"m\xff.json"))
    gt, dt = crowdhuman_files
    # before: UnicodeEncodeError ('surrogates not allowed') from the name-length check, a traceback from every command;
    # then, on a strict stdout (a UTF-8 locale; pytest's capture is one), "wrote <plot>" failed after the work
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", out, "--plot", folder]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "bad\\udcff\\udcfename/mr_fppi_crowdhuman.png" in captured.out
    assert sorted(os.listdir(os.fsencode(folder))) == sorted([b"m\xff.json", b"mr_fppi_crowdhuman.png"])
    long_name = os.fsdecode(b"\xff" * 300)
    message = file_io.name_too_long(os.path.join(folder, long_name))
    assert message.endswith(f"is 300 bytes long; file names have at most {os.pathconf(folder, 'PC_NAME_MAX')}")


# ------------------------------------------------------------------------------------------ process environment

@pytest.fixture
def deleted_cwd(tmp_path):
    """The process's current folder, deleted (as a shell left in a folder another process removed)."""
    old = os.getcwd()
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    yield
    os.chdir(old)


@pytest.mark.parametrize("command", ["evaluation", "odgt2coco", "synthetic", "relative-input"])
def test_relative_paths_in_a_deleted_current_folder_are_one_line(command, tmp_path, capsys, crowdhuman_files,
                                                                 deleted_cwd):
    from pedet.data.convert import main as convert
    from pedet.data.synthetic import main as synthetic
    from pedet.evaluation.__main__ import main as evaluation

    gt, dt = crowdhuman_files
    main, argv = {
        "evaluation": (evaluation, ["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", "m.json"]),
        "odgt2coco": (convert, ["odgt2coco", gt, "coco.json"]),
        "synthetic": (synthetic, ["--out", "syn", "--num-images", "1"]),
        "relative-input": (evaluation, ["--protocol", "crowdhuman", "--gt", "gt.odgt", "--dt", dt]),
    }[command]
    # before: a FileNotFoundError traceback from os.path.abspath (or "error: No such file or directory", no name)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "the current folder no longer exists" in err


def test_absolute_paths_in_a_deleted_current_folder_still_work(tmp_path, capsys, crowdhuman_files, deleted_cwd):
    from pedet.evaluation.__main__ import main

    gt, dt = crowdhuman_files
    assert main(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(tmp_path / "m.json")]) == 0
    assert "mMR" in json.loads((tmp_path / "m.json").read_text())


@pytest.mark.parametrize("mask, expected", [(0o077, 0o600), (0o000, 0o666)])
def test_every_file_of_the_commands_follows_the_umask(mask, expected, tmp_path, crowdhuman_files):
    from pedet.data.convert import main as convert
    from pedet.data.synthetic import main as synthetic
    from pedet.evaluation.__main__ import main as evaluation

    gt, dt = crowdhuman_files
    out = tmp_path / "out"
    old = os.umask(mask)
    try:
        assert evaluation(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(out / "m.json"),
                           "--plot", str(out / "plots")]) == 0
        assert convert(["odgt2coco", gt, str(out / "coco.json")]) == 0
        assert synthetic(["--out", str(out / "syn"), "--num-images", "1", "--size", "48", "64",
                          "--persons-per-image", "1", "--preview", str(out / "preview.png")]) == 0
    finally:
        os.umask(old)
    modes = {os.path.relpath(os.path.join(root, f), out): os.stat(os.path.join(root, f)).st_mode & 0o777
             for root, _, files in os.walk(out) for f in files}
    assert len(modes) == 8 and set(modes.values()) == {expected}, modes  # syn/.generate.lock too


def test_two_synthetic_generators_into_one_folder_take_turns(tmp_path):
    """Two runs into one --out: before, the .odgt of one seed over a mix of both runs' images. The command now holds
    the folder's generation lock (as the presets do), so the second run waits and then replaces the split whole."""
    import fcntl

    out = tmp_path / "syn"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    with open(out / ".generate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another generator is writing this folder
        p = subprocess.Popen([sys.executable, "-m", "pedet.data.synthetic", "--out", str(out), "--num-images", "2",
                              "--size", "48", "64", "--persons-per-image", "1"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                p.wait(timeout=3)  # it waits for the lock (alone, the command takes well under a second)
            assert not (out / "Images").exists() or os.listdir(out / "Images") == []
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0
    # the wait is said (before: in silence, as if hung), once
    assert stderr.strip().splitlines() == [f"{out}: another generation into this folder is running; "
                                           "waiting for it to end"]
    assert len((out / "annotation_train.odgt").read_text().splitlines()) == 2


# ------------------------------------------------------------------------------------------------ training side

class _FillingFile:
    """A binary file on a disk with `room` bytes left: the write that passes it fails with ENOSPC (no file name)."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_checkpoint_on_a_full_disk_says_so(tmp_path, monkeypatch):
    import torch

    from pedet.engine.io import atomic_torch_save

    path = tmp_path / "model_final.pth"
    real_fdopen = file_io.os.fdopen
    monkeypatch.setattr(file_io.os, "fdopen", lambda fd, *a, **k: _FillingFile(real_fdopen(fd, *a, **k), 100_000))
    with pytest.raises(OSError) as e:
        atomic_torch_save({"w": torch.zeros(100, 1000)}, str(path))
    # before: "RuntimeError: [enforce fail at inline_container.cc:...] . unexpected pos ..." (torch's zip writer)
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(path))
    assert os.listdir(tmp_path) == []


def test_demo_video_on_a_full_disk_is_an_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from tests.scripts import OPL_TINY, TINY_DEMO_OPTS, fresh_script

    demo = fresh_script("demo/demo.py", "demo_bad_environment")
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (96, 64))
    for i in range(3):
        writer.write(np.full((64, 96, 3), 60 * i, np.uint8))
    writer.release()
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier video")
    real_writer = cv2.VideoWriter

    class FullDiskWriter:
        """cv2.VideoWriter on a disk that fills up: OpenCV only warns, and the mp4 lacks its end (its index)."""

        def __init__(self, path, *args):
            self.path, self.writer = path, real_writer(path, *args)

        def __getattr__(self, name):
            return getattr(self.writer, name)

        def release(self):
            self.writer.release()
            with open(self.path, "r+b") as f:
                f.truncate(os.path.getsize(self.path) // 2)

    monkeypatch.setattr(demo.cv2, "VideoWriter", FullDiskWriter)
    # before: status 0, and the unreadable half video renamed over --output
    with pytest.raises(demo.InputError, match=r"could not write .*out\.mp4 \(3 frames drawn, 0 readable\)"):
        demo.main(["--config-file", OPL_TINY, "--video-input", video, "--output", str(out), "--confidence-threshold",
                   "0.5", "--opts", "MODEL.WEIGHTS", "", *TINY_DEMO_OPTS])
    assert out.read_bytes() == b"an earlier video"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "out.mp4"]  # no temporary left


def test_export_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    import runpy

    from tests.scripts import OPL_TINY, TINY_DEMO_OPTS

    out = tmp_path / "model.ts"
    monkeypatch.setattr(file_io.os, "fsync", _no_space)
    monkeypatch.setattr(sys, "argv", ["tools/export.py", "--config-file", OPL_TINY, "--format", "torchscript",
                                      "--output", str(out), "--no-verify", "--height", "64", "MODEL.WEIGHTS", "",
                                      *TINY_DEMO_OPTS])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(os.path.join(REPO, "tools", "export.py"), run_name="__main__")
    # before: an OSError traceback (the message named the file, but as a traceback's last line)
    assert e.value.code == f"error: {out}: No space left on device"
    assert os.listdir(tmp_path) == []


def test_benchmark_outputs_on_a_full_disk_are_one_line(tmp_path, monkeypatch, capsys):
    from pedet.utils.cli import run_script
    from tests.scripts import fresh_script

    eval_speed = fresh_script("benchmarks/eval_speed.py", "eval_speed_bad_environment")
    monkeypatch.setattr(file_io.os, "fsync", _no_space)
    monkeypatch.setattr(sys, "argv", ["eval_speed.py", "--out-dir", str(tmp_path / "es"), "--images", "2"])
    with pytest.raises(SystemExit) as e:
        run_script(eval_speed.main)
    # before: an OSError traceback from the benchmark's first write
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'es'}{os.sep}") and err.endswith(": No space left on device\n")
    assert err.count("\n") == 1


def test_run_script_piped_into_head_is_quiet(monkeypatch, capsys):
    from pedet.utils.cli import run_script

    monkeypatch.setattr(sys, "stdout", _FailingStdout(errno.EPIPE))
    with pytest.raises(SystemExit) as e:
        run_script(lambda: print("a table nobody reads") or {"result": 1})
    assert e.value.code == 0 and capsys.readouterr().err == ""
