"""
Final bad-input trial of the data side (issue 11), on the merged tree. Its other finding (bfloat16 outputs in
MissRateEvaluator) is tested in tests/pedet/evaluation/test_bad_input_eleventh.py.

- A CrowdHuman ``.odgt`` box without ``vbox`` was given its full box as the visible box without a word, so
  ``MissRateEvaluator(box="visible")`` scored full boxes in its place (``python -m pedet.evaluation --box visible``
  refuses such a line). The loader now warns once per file with the count, as the COCO-style loaders do for an
  annotation without ``vis_bbox``.
"""
import json
import logging

from pedet.data import load_crowdhuman_odgt

from .conftest import write_file as _write, write_image as _image


def _odgt(tmp_path, boxes):
    _image(tmp_path / "Images" / "a.jpg", 100, 200)
    return _write(tmp_path / "gt.odgt", json.dumps({"ID": "a", "gtboxes": boxes}) + "\n")


def test_odgt_boxes_without_vbox_are_announced_with_their_count(tmp_path, caplog):
    odgt = _odgt(tmp_path, [{"tag": "person", "fbox": [10, 10, 20, 50], "vbox": [10, 10, 20, 30]},
                            {"tag": "person", "fbox": [60, 10, 20, 50]}, {"tag": "mask", "fbox": [120, 10, 40, 60]}])
    with caplog.at_level(logging.WARNING):
        (record,) = load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    assert [a["vis_bbox"] for a in record["annotations"]] == [[10, 10, 20, 30], [60, 10, 20, 50], [120, 10, 40, 60]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{odgt}: 2 annotation(s) have no 'vbox': visible box = full box (visibility 1); first: "
                        f"{odgt}:1"]


def test_odgt_boxes_with_vbox_load_without_a_warning(tmp_path, caplog):
    odgt = _odgt(tmp_path, [{"tag": "person", "fbox": [10, 10, 20, 50], "vbox": [10, 10, 20, 30]},
                            {"tag": "mask", "fbox": [120, 10, 40, 60], "vbox": [120, 10, 40, 60]}])
    with caplog.at_level(logging.WARNING):
        load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == []
