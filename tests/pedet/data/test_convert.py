import io
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image

from pedet.data.common import DatasetFormatError
from pedet.data.convert import citypersons_to_coco, main, odgt_to_coco

from .conftest import fixture_root, write_file, write_image

CH = os.path.join(fixture_root("crowdhuman"), "CrowdHuman")
GT = os.path.join(fixture_root("citypersons"), "cityscapes", "gtBboxCityPersons")


def _read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("split", ["train", "val"])
def test_odgt_coco_odgt_round_trip_restores_every_line(tmp_path, split):
    odgt = os.path.join(CH, f"annotation_{split}.odgt")
    coco, back = str(tmp_path / "coco.json"), str(tmp_path / "back.odgt")
    assert main(["odgt2coco", odgt, coco, "--image-root", os.path.join(CH, "Images")]) == 0
    assert main(["coco2odgt", coco, back]) == 0
    assert _read_lines(back) == _read_lines(odgt)


def test_odgt_to_coco_fields():
    coco = odgt_to_coco(os.path.join(CH, "annotation_train.odgt"), os.path.join(CH, "Images"))
    assert [(im["id"], im["height"], im["width"]) for im in coco["images"]] == [(1, 48, 64), (2, 48, 64), (3, 48, 64)]
    assert coco["images"][0]["file_name"] == "273271,c9db000d5146c15.jpg"
    first = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert [a["ignore"] for a in first] == [0, 1, 1, 0] and [a["iscrowd"] for a in first] == [0, 1, 1, 0]
    assert first[0]["bbox"] == [-5, 4, 20, 40] and first[0]["area"] == 800  # 20 * 40, unclipped
    assert first[0]["vis_ratio"] == pytest.approx(0.5625)  # 15 * 30 / 800
    assert coco["categories"] == [{"id": 1, "name": "person"}]


def test_odgt_to_coco_without_sizes_or_image_root_is_an_error():
    with pytest.raises(DatasetFormatError, match="annotation_val.odgt:1: the line has no width/height"):
        odgt_to_coco(os.path.join(CH, "annotation_val.odgt"))


def test_citypersons_to_coco_reproduces_the_official_val_gt_fields():
    coco = citypersons_to_coco(os.path.join(GT, "val"))
    with open(os.path.join(GT, "val_gt.json")) as f:
        official = json.load(f)
    assert coco["annotations"] == official["annotations"] and coco["categories"] == official["categories"]
    assert [{k: im[k] for k in ("id", "im_name", "height", "width")} for im in coco["images"]] == official["images"]
    assert all(im["file_name"] == im["im_name"] for im in coco["images"])


def test_citypersons2coco_command_line(tmp_path, capsys):
    out = tmp_path / "train_gt.json"
    assert main(["citypersons2coco", os.path.join(GT, "train"), str(out)]) == 0
    assert "3 images, 7 boxes" in capsys.readouterr().out  # 5 + 0 + 2 objects in the train fixture
    coco = json.loads(out.read_text())
    # the converter keeps the official semantics (ignore = not a pedestrian); train rules belong to the loader
    assert [a["ignore"] for a in coco["annotations"]] == [0, 0, 0, 1, 1, 1, 1]


def test_caltech_seq2jpg_extracts_only_annotated_frames(tmp_path):
    # a .seq-like file: 1024-byte header, then per frame a 4-byte size, the JPEG and 8 padding bytes
    jpegs = []
    for value in (10, 120, 240):
        buf = io.BytesIO()
        Image.fromarray(np.full((8, 16, 3), value, np.uint8)).save(buf, format="JPEG")
        jpegs.append(buf.getvalue())
    os.makedirs(tmp_path / "seq" / "set06")
    with open(tmp_path / "seq" / "set06" / "V000.seq", "wb") as f:
        f.write(b"\0" * 1024 + b"".join(struct.pack("<I", len(j)) + j + b"\0" * 8 for j in jpegs))
    os.makedirs(tmp_path / "anno" / "anno_test_1xnew")
    (tmp_path / "anno" / "anno_test_1xnew" / "set06_V000_I00002.jpg.txt").write_text("% bbGt version=3\n")
    assert main(["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"), str(tmp_path / "images")]) == 0
    assert os.listdir(tmp_path / "images") == ["set06_V000_I00002.jpg"]  # frame index 2 (0-based) only
    assert (tmp_path / "images" / "set06_V000_I00002.jpg").read_bytes() == jpegs[2]


# every kind of Caltech object the toolbox reads differently: labels, the ign flag, occluded with a visible box, with
# the full box as visible box, with no visible box, a visible box on an object that is not occluded, heights around
# the subsets' 50 px, a box beyond the frame, one entirely outside it (dropped, as the loader drops it)
_CALTECH_FRAMES = {
    "set06_V000_I00029.jpg.txt": ["person 100 100 30 80 0 0 0 0 0 0 0", "person 300 100 25 60 1 300 120 25 30 0 0",
                                  "people 400 50 60 90 0 0 0 0 0 0 0", "person 500 200 20 45 0 0 0 0 0 0 0",
                                  "person 200 300 30 70 1 200 300 30 70 0 0", "person 620 400 40 100 0 0 0 0 0 0 0"],
    "set06_V000_I00059.jpg.txt": ["person? 10 10 20 60 0 0 0 0 0 0 0", "person 50 60 22 55 0 50 60 10 10 1 0",
                                  "person 150 60 30 75 1 0 0 0 0 0 0", "person-fa 250 60 30 75 0 0 0 0 0 0 0",
                                  "ignore 350 60 60 80 0 0 0 0 0 0 0", "person 700 60 30 75 0 0 0 0 0 0 0"],
    "set06_V001_I00029.jpg.txt": ["person 80 80 40 100 1 80 80 40 40 0 0", "person 300 300 26 64 0 310 300 5 5 0 0"],
    "set06_V001_I00059.jpg.txt": [],
}


def test_caltech2coco_gives_the_command_the_ground_truth_the_loader_gives_the_evaluator(tmp_path, capsys):
    from pedet.data.caltech import load_caltech
    from pedet.evaluation import evaluate
    from pedet.evaluation.__main__ import main as evaluation_main
    from pedet.evaluation.io import detections_from_arrays, drop_unmatchable_gt, ground_truth_from_dataset_dicts

    for name, lines in _CALTECH_FRAMES.items():
        write_file(tmp_path / "anno" / name, "% bbGt version=3\n" + "".join(line + "\n" for line in lines))
        write_image(tmp_path / "images" / name.replace(".jpg.txt", ".jpg"), 480, 640)
    out = tmp_path / "test_gt.json"
    assert main(["caltech2coco", str(tmp_path / "anno"), str(out), "--image-root", str(tmp_path / "images")]) == 0
    assert "4 frames, 13 boxes" in capsys.readouterr().out  # 14 objects, one entirely outside its frame
    coco = json.loads(out.read_text())
    assert [im["id"] for im in coco["images"]] == [n[: -len(".jpg.txt")] for n in sorted(_CALTECH_FRAMES)]
    assert [a["ignore"] for a in coco["annotations"]] == [0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0]
    # not occluded: no visible box, as dbEval reads it (even where the file wrote one)
    assert coco["annotations"][-1]["vis_bbox"] == [0.0, 0.0, 0.0, 0.0]
    # detections near some boxes, with other scores, plus false positives
    rng = np.random.default_rng(0)
    per_image, results = [], []
    for im in coco["images"]:
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == im["id"]] + [[400, 300, 30, 75]]
        xywh = np.asarray(boxes, np.float64) + rng.normal(0, 3, (len(boxes), 4))
        scores = rng.uniform(0.05, 1, len(boxes))
        per_image.append((im["id"], xywh, scores))
        results += [{"image_id": im["id"], "category_id": 1, "bbox": b.tolist(), "score": float(s)}
                    for b, s in zip(xywh, scores)]
    write_file(tmp_path / "results.json", json.dumps(results))
    assert evaluation_main(["--protocol", "caltech", "--gt", str(out), "--dt", str(tmp_path / "results.json"),
                            "--setups", "Reasonable", "All", "Heavy", "Bare", "Partial",
                            "--out", str(tmp_path / "m.json")]) == 0
    command = json.loads((tmp_path / "m.json").read_text())
    # MissRateEvaluator's path: the loader's dicts of the same folder
    gt = ground_truth_from_dataset_dicts(load_caltech(str(tmp_path / "anno"), str(tmp_path / "images")))
    report = evaluate("caltech", drop_unmatchable_gt(gt, "loader"), detections_from_arrays(gt, per_image),
                      setups=["Reasonable", "All", "Heavy", "Bare", "Partial"])
    assert report.metrics.keys() <= command.keys()
    for key, value in report.metrics.items():
        assert command[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < report.metrics["All"] < 1 and report.metrics["Reasonable"] != report.metrics["All"]


def test_caltech2coco_refuses_an_output_the_next_run_would_read_as_a_frame(tmp_path):
    write_file(tmp_path / "anno" / "set06_V000_I00029.jpg.txt", "% bbGt version=3\n")
    with pytest.raises(SystemExit) as e:
        main(["caltech2coco", str(tmp_path / "anno"), str(tmp_path / "anno" / "gt.txt")])
    assert e.value.code == 2
    assert not (tmp_path / "anno" / "gt.txt").exists()


@pytest.mark.parametrize("command", ["caltech2coco", "odgt2coco"])
@pytest.mark.parametrize("root", ["a file", "missing"])
def test_an_image_root_that_is_no_folder_is_one_argument_error(tmp_path, capsys, command, root):
    source = (os.path.join(fixture_root("caltech"), "Caltech", "annotations_new", "anno_test_1xnew")
              if command == "caltech2coco" else os.path.join(CH, "annotation_val.odgt"))
    image_root = write_file(tmp_path / "a.jpg", "x") if root == "a file" else str(tmp_path / "nowhere")
    with pytest.raises(SystemExit) as e:
        main([command, source, str(tmp_path / "out.json"), "--image-root", image_root])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"--image-root {image_root}: " + ("is a file, not the folder of the images"
                                                          if root == "a file" else "no such folder"))
    assert not (tmp_path / "out.json").exists()
