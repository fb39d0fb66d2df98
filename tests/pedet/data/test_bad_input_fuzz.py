"""
Found by mutating the fixture files of every format through the converters, the loaders and the evaluation command
(a scratch fuzzer: one key deleted or one value replaced at a time, each outcome checked for a traceback, and each
accepted file for a warning).
"""
import json
import logging

import pytest

from pedet.data.convert import main as convert


def _odgt(path, lines):
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return str(path)


def test_odgt2coco_counts_boxes_without_vbox(tmp_path, caplog):
    """Written as visibility 1 without a word (the loader reads the same line with a counted warning)."""
    odgt = _odgt(tmp_path / "a.odgt", [{"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [1, 2, 10, 20]},
        {"tag": "person", "fbox": [30, 2, 10, 20], "vbox": [30, 2, 10, 10]}]}])
    with caplog.at_level(logging.WARNING):
        assert convert(["odgt2coco", odgt, str(tmp_path / "a.json")]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"{odgt}: 1 annotation(s) have no 'vbox': visible box = full box (visibility 1); first: {odgt}:1"]
    anns = json.loads((tmp_path / "a.json").read_text())["annotations"]
    assert [a["vis_ratio"] for a in anns] == [1.0, 0.5]


@pytest.mark.parametrize("category_ids, error", [
    ((1, 2), "the annotations have 2 category ids (1, 2) but the file has no 'categories' to tell the person boxes by"),
    ((1, 1), None),  # one category: every box is of it, as before
])
def test_coco2odgt_without_categories_refuses_several_category_ids(tmp_path, capsys, category_ids, error):
    """Without 'categories', boxes of every category id (e.g. a TJU-Ped ignore category) became persons in silence."""
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
            "annotations": [{"id": k + 1, "image_id": 1, "category_id": c, "bbox": [1 + 30 * k, 2, 10, 20]}
                            for k, c in enumerate(category_ids)]}
    src = tmp_path / "a.json"
    src.write_text(json.dumps(coco))
    rc = convert(["coco2odgt", str(src), str(tmp_path / "a.odgt")])
    err = capsys.readouterr().err
    if error:
        assert rc == 1 and err == f"error: {src}: {error} (add the 'categories' list with their names)\n"
    else:
        assert rc == 0 and err == ""
        line = json.loads((tmp_path / "a.odgt").read_text())
        assert [b["tag"] for b in line["gtboxes"]] == ["person", "person"]
