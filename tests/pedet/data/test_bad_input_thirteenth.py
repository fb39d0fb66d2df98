"""
Thirteenth bad-input trial of the data side (issue 11). pedet's one file writer (``atomic_open``) renamed its
temporary file over the destination whatever it was: a character device (``--out /dev/null`` run as root replaced
the system's /dev/null by a regular file), a named pipe (the reader never got the JSON), a symbolic link (the link
became a plain file and its target kept the old content, where ``open`` writes through the link). citypersons2coco
gave its warning about per-image files outside a city folder twice.
"""
import json
import logging
import os
import stat
import threading

import pytest

from pedet.data.convert import main as convert
from pedet.utils.file_io import atomic_write

from .conftest import write_file

ODGT = json.dumps({"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": "person", "fbox": [1, 2, 10, 20]}]}) + "\n"


def _null_device(path) -> str:
    """A character device like /dev/null (major 1, minor 3) at `path`; skip where mknod is not allowed."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD (root)")
    return str(path)


def test_converter_output_that_is_a_character_device_is_written_to_not_replaced(tmp_path, capsys):
    out = _null_device(tmp_path / "null")
    assert convert(["odgt2coco", write_file(tmp_path / "a.odgt", ODGT), out]) == 0
    assert stat.S_ISCHR(os.lstat(out).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["a.odgt", "null"]  # no temporary file left


def test_converter_output_that_is_a_named_pipe_reaches_its_reader(tmp_path, capsys):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()), daemon=True)
    reader.start()
    assert convert(["odgt2coco", write_file(tmp_path / "a.odgt", ODGT), fifo]) == 0
    reader.join(timeout=10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [json.loads(text)["images"][0]["crowdhuman_id"] for text in received] == ["a"]


def test_output_through_a_symbolic_link_keeps_the_link_and_replaces_its_target(tmp_path):
    target = write_file(tmp_path / "runs" / "7" / "metrics.json", "old")
    link = tmp_path / "latest.json"
    os.symlink(target, link)
    atomic_write(str(link), "new")
    assert os.path.islink(link) and os.readlink(link) == target
    with open(target) as f:
        assert f.read() == "new"
    assert sorted(os.listdir(tmp_path / "runs" / "7")) == ["metrics.json"]  # no temporary left beside it


def test_output_that_is_a_socket_is_refused(tmp_path):
    import socket

    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        with pytest.raises(OSError, match="is not a regular file"):
            atomic_write(path, "x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_citypersons2coco_warns_once_about_files_outside_a_city_folder(tmp_path, capsys, caplog):
    obj = {"label": "pedestrian", "bbox": [1, 2, 10, 20], "bboxVis": [1, 2, 10, 20]}
    for folder in ("val/city", "val"):  # one file in its city folder, one beside the city folders
        write_file(tmp_path / folder / "city_000000_000019_gtBboxCityPersons.json",
                   json.dumps({"imgHeight": 24, "imgWidth": 32, "objects": [obj]}))
    with caplog.at_level(logging.WARNING):
        assert convert(["citypersons2coco", str(tmp_path / "val"), str(tmp_path / "val_gt.json")]) == 0
    assert [r.getMessage().split(":")[1] for r in caplog.records] == [
        " 1 '*_gtBboxCityPersons.json' file(s) directly in the split folder are not read (the layout is "
        "<split>/<city>/*_gtBboxCityPersons.json); first"]
