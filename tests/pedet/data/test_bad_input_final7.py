"""
Seventh "second person" data trial of issue 11, on the final tree.

- A user-defined setup whose name holds a '|' (``--setups "a|b:50:inf:0.65:1"``, accepted as a name) was written
  unescaped into the Markdown table of ``--out NAME.md`` and of ``MissRateEvaluator``'s ``metrics.md``: the '|'
  ended the cell, so the rendered row had one cell more than the header and every number stood under the wrong
  column (the MR^-2 under "height", ...). Cells are now escaped as GitHub tables read them (``\\|``).
- ``caltech_seq2jpg`` with a bbGt file whose frame part is not the 5-digit frame number it writes (a renamed
  ``set06_V000_I1.txt``) said "1 annotated frame(s) are beyond the end of their video" for frame 1 of a 3-frame
  video: the warning now says that the name is not a frame name; a frame really beyond the end says how many frames
  the video has.
"""
import io
import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from pedet.data.convert import main as convert

from pedet.evaluation import __main__ as evaluation
from pedet.evaluation.report import _table

from .conftest import write_file as _write


def _cells(row: str) -> list:
    """The cells of a GitHub Markdown table row: split on '|' that is not escaped."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown_table_escapes_a_pipe_in_a_setup_name(tmp_path):
    images = [{"id": 1, "im_name": "a_leftImg8bit.png", "height": 1024, "width": 2048}]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "ignore": 0, "bbox": [100, 100, 40, 100],
           "vis_bbox": [100, 100, 40, 100], "height": 100, "vis_ratio": 1.0}
    gt = _write(tmp_path / "gt.json", json.dumps({"images": images, "annotations": [ann],
                                                  "categories": [{"id": 1, "name": "pedestrian"}]}))
    dt = _write(tmp_path / "dt.json", json.dumps([{"image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 100],
                                                   "score": 0.9}]))
    out = tmp_path / "m.md"
    assert evaluation.main(["--protocol", "citypersons", "--gt", gt, "--dt", dt,
                            "--setups", "a|b:50:inf:0.65:1", "Reasonable", "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("|")]
    head = _cells(rows[0])
    assert head[:2] == ["setup", "MR^-2"]
    body = [dict(zip(head, _cells(r))) for r in rows[2:]]
    assert all(len(_cells(r)) == len(head) for r in rows[2:])
    assert [(r["setup"], r["MR^-2"], r["height"]) for r in body] == [("a|b", "0.00", "[50, inf]"),
                                                                      ("Reasonable", "0.00", "[50, inf]")]
    # the printed table keeps the name as it is
    assert "a|b" in _table("t", ["setup"], [["a|b"]], markdown=False)


BBGT = "% bbGt version=3\nperson 10 10 5 10 0 0 0 0 0 0 0 0\n"


@pytest.mark.parametrize("frame, message", [
    ("I1", r"1 annotated frame\(s\) not extracted: the frame part of the name is not 'I' and the 0-based frame "
           r"number in 5 digits, as frames are named; first: set06_V000_I1$"),
    ("I001", r"not extracted: .*; first: set06_V000_I001$"),
    ("Ifoo", r"not extracted: .*; first: set06_V000_Ifoo$"),
    ("I00005", r"^1 annotated frame\(s\) are beyond the end of their video; first: set06_V000_I00005 \(the video "
               r"has 3 frames, numbered from I00000\)$"),
])
def test_caltech_seq2jpg_names_a_frame_part_that_is_not_a_frame_number(tmp_path, caplog, frame, message):
    frames = []
    for value in (10, 100, 200):
        buf = io.BytesIO()
        Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(buf, format="JPEG")
        frames.append(buf.getvalue())
    (tmp_path / "seq" / "set06").mkdir(parents=True)
    (tmp_path / "seq" / "set06" / "V000.seq").write_bytes(b"\x00" * 16 + b"".join(frames))
    _write(tmp_path / "anno" / "test" / f"set06_V000_{frame}.txt", BBGT)
    _write(tmp_path / "anno" / "test" / "set06_V000_I00001.txt", BBGT)
    with caplog.at_level(logging.WARNING):
        assert convert(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"), str(tmp_path / "img")]) == 0
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["set06_V000_I00001.jpg"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and re.search(message, warnings[0]), warnings
    if frame != "I00005":
        assert "beyond the end" not in warnings[0]
