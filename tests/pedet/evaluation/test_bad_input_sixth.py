"""
Sixth bad-input trial (issue 11): where ``python -m pedet.evaluation`` and pedet's data loaders read one CrowdHuman
file, the verdicts agree (IDs 7 and "7" are one image in both) or differ as pedet/evaluation/README.md documents ("The
command and pedet's data loaders"): a malformed head box is not read by the command; a full box of negative width is
an error in the command and a dropped box (counted warning) in the loaders.
"""
import json
import logging
import os
import re

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_crowdhuman_odgt
from pedet.data.common import DatasetFormatError
from pedet.evaluation.__main__ import main as evaluate

PERSON = {"tag": "person", "fbox": [10, 10, 20, 40], "vbox": [10, 10, 20, 30]}


def _files(tmp_path, lines, ids=("a",)):
    """GT odgt of `lines`, a detection file with one box per id, and 100 x 80 images named after the ids."""
    os.makedirs(tmp_path / "img", exist_ok=True)
    for i in ids:
        Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(tmp_path / "img" / f"{i}.jpg")
    gt, dt = tmp_path / "gt.odgt", tmp_path / "dt.odgt"
    gt.write_text("".join(json.dumps(dict(line, width=100, height=80)) + "\n" for line in lines))
    dt.write_text("".join(json.dumps({"ID": line["ID"], "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}]}) + "\n"
                          for line in lines[:1]))
    return str(gt), str(dt), str(tmp_path / "img")


def test_ids_7_and_string_7_are_one_image_in_both(tmp_path, capsys):
    # before: the command evaluated two images (7 and "7"), the loaders refused a duplicate ID
    gt, dt, img = _files(tmp_path, [{"ID": 7, "gtboxes": [PERSON]}, {"ID": "7", "gtboxes": [PERSON]}], ids=("7",))
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(gt)}: line 2 \(image '7'\): image id '7' names the same image as 7 "
                        rf"\({re.escape(gt)}: line 1 \(image 7\)\): a duplicate image id\n", err), err
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(gt)}:2: duplicate image id '7'"):
        load_crowdhuman_odgt(gt, img)


def test_detections_of_image_string_7_match_ground_truth_id_7(tmp_path, capsys):
    """pedet's loaders name the image of ID 7 "7" (MissRateEvaluator's predictions.odgt too): the same image, 7.jpg."""
    gt, dt, _ = _files(tmp_path, [{"ID": 7, "gtboxes": [PERSON]}, {"ID": "b", "gtboxes": [PERSON]}], ids=())
    (tmp_path / "dt.odgt").write_text(json.dumps({"ID": "7", "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}]})
                                      + "\n" + json.dumps({"ID": 7, "dtboxes": []}) + "\n")
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt]) == 1  # one image named twice
    assert capsys.readouterr().err.endswith("line 2 (image 7): duplicate image id 7\n")
    (tmp_path / "dt.odgt").write_text(json.dumps({"ID": "7", "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}]})
                                      + "\n" + json.dumps({"ID": "b", "dtboxes": []}))  # a line per image: no warning
    out = tmp_path / "m.json"
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""  # before: "image id '7' is not in the ground truth"
    assert json.loads(out.read_text())["Recall"] == pytest.approx(0.5)


def test_malformed_head_box_is_not_read_by_the_command(tmp_path, capsys):
    """Documented: the command reads only what it evaluates; the loaders load the head box and refuse it."""
    gt, dt, img = _files(tmp_path, [{"ID": "a", "gtboxes": [dict(PERSON, hbox=[1, 2, "x", 4], head_attr=None)]}])
    out = tmp_path / "m.json"
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--out", str(out), "--no-ji"]) == 0
    assert capsys.readouterr().err == ""
    metrics = json.loads(out.read_text())
    assert metrics["Recall"] == pytest.approx(1.0) and metrics["JI"] is None  # the one person found
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(gt)}:1: 'hbox' must hold numbers"):
        load_crowdhuman_odgt(gt, img)


def test_negative_width_is_an_error_in_the_command_and_dropped_by_the_loaders(tmp_path, capsys, caplog):
    """Documented: a protocol file with a negative-size box is broken; the loaders drop it with a counted warning."""
    gt, dt, img = _files(tmp_path, [{"ID": "a", "gtboxes": [PERSON, dict(PERSON, fbox=[50, 10, -20, 40])]}])
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(gt)}: line 1 \(image 'a'\): gtboxes 1 'fbox': negative-size box "
                        r"\[50.0, 10.0, -20.0, 40.0\] \(XYWH\)\n", err), err
    with caplog.at_level(logging.WARNING, logger="pedet.data.common"):
        dicts = load_crowdhuman_odgt(gt, img)
    assert [a["bbox"] for a in dicts[0]["annotations"]] == [[10.0, 10.0, 20.0, 40.0]]
    assert "dropped 1 box(es) (1 of zero or negative size)" in caplog.text
    # a visible box of negative size: an error here too, visibility 0 in the loaders
    gt, dt, img = _files(tmp_path, [{"ID": "a", "gtboxes": [dict(PERSON, vbox=[10, 10, -5, 30])]}])
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt]) == 1
    assert "line 1 (image 'a'): gtboxes 0 'vbox': negative-size box [10.0, 10.0, -5.0, 30.0]" in capsys.readouterr().err
    assert [a["vis_ratio"] for a in load_crowdhuman_odgt(gt, img)[0]["annotations"]] == [0.0]


def test_an_odgt_with_a_bom_inside_is_read_by_both(tmp_path, capsys):
    """Two .odgt files joined by `cat`: the second one's BOM starts a line (the loader stopped, the command read it)."""
    gt, dt, img = _files(tmp_path, [{"ID": "a", "gtboxes": [PERSON]}, {"ID": "b", "gtboxes": [PERSON]}], ids=("a", "b"))
    lines = open(gt, encoding="utf-8").read().splitlines(keepends=True)
    with open(gt, "w", encoding="utf-8") as f:
        f.write("\ufeff" + lines[0] + "\ufeff" + lines[1])
    assert [d["image_id"] for d in load_crowdhuman_odgt(gt, img)] == ["a", "b"]
    with open(dt, "a", encoding="utf-8") as f:  # a line per image (an image without one is warned about)
        f.write(json.dumps({"ID": "b", "dtboxes": []}) + "\n")
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", dt, "--no-ji"]) == 0
    assert capsys.readouterr().err == ""


def test_coco_image_ids_1_and_string_1_are_evaluated(tmp_path, capsys):
    # before: "could not evaluate ...: TypeError: '<' not supported between instances of 'str' and 'int'" (the
    # official script's sorted image order); integers now come first, then strings
    gt = {"images": [{"id": 1, "width": 100, "height": 80}, {"id": "1", "width": 100, "height": 80}],
          "annotations": [{"id": 1, "image_id": 1, "bbox": [10, 10, 20, 60], "vis_ratio": 1.0, "ignore": 0},
                          {"id": 2, "image_id": "1", "bbox": [50, 10, 20, 60], "vis_ratio": 1.0, "ignore": 0}]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 60], "score": 0.9},
          {"image_id": "1", "category_id": 1, "bbox": [50, 10, 20, 60], "score": 0.8}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    out = tmp_path / "m.json"
    assert evaluate(["--protocol", "citypersons", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"),
                     "--setups", "All", "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["All"] == pytest.approx(0.0)  # both persons found, no false positive


def test_gt_and_dt_hard_links_of_one_file_are_refused(tmp_path, capsys):
    gt, _, _ = _files(tmp_path, [{"ID": "a", "gtboxes": [PERSON]}])
    os.link(gt, tmp_path / "dt_link.odgt")
    assert evaluate(["--protocol", "crowdhuman", "--gt", gt, "--dt", str(tmp_path / "dt_link.odgt")]) == 2
    assert capsys.readouterr().err == f"error: --gt and --dt are the same file ({gt})\n"


@pytest.mark.parametrize("n_inputs, n_outputs", [(2, 1), (1, 2)])
def test_process_with_unequal_inputs_and_outputs_is_an_error(n_inputs, n_outputs):
    # before: zip() dropped the rest; an image lost its predictions with only the "got no predictions" warning
    import torch
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import Boxes, Instances

    from pedet.evaluation import MissRateEvaluator
    from pedet.evaluation.io import EvalInputError

    name = f"_sixth_unequal_{n_inputs}_{n_outputs}"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    ev = MissRateEvaluator(name, distributed=False)
    ev.reset()
    inst = Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10.0, 30.0, 50.0]])), scores=torch.ones(1))
    with pytest.raises(EvalInputError, match=rf"process\(\) got {n_inputs} inputs and {n_outputs} outputs"):
        ev.process([{"image_id": f"i{k}"} for k in range(n_inputs)], [{"instances": inst}] * n_outputs)
