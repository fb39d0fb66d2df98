"""
Seventh "second person" data trial of issue 11, on the final tree.

- A user-defined setup whose name holds a '|' (``--setups "a|b:50:inf:0.65:1"``, accepted as a name) was written
  unescaped into the Markdown table of ``--out NAME.md`` and of ``MissRateEvaluator``'s ``metrics.md``: the '|'
  ended the cell, so the rendered row had one cell more than the header and every number stood under the wrong
  column (the MR^-2 under "height", ...). Cells are now escaped as GitHub tables read them (``\\|``).
"""
import json
import re

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
