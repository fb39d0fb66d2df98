"""``python -m pedet.evaluation``: table, --out format, plots, errors, no torch import."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pedet.evaluation.__main__ import main


def _write_citypersons(tmp_path, dets):
    # 2 images; image 1: a 100 px person (vis 1) and a 60 px heavily occluded one (vis 0.3); image 2 empty
    gt = {"images": [{"id": 1, "width": 2048, "height": 1024}, {"id": 2, "width": 2048, "height": 1024}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], "vis_bbox": [100, 100, 41, 100],
               "height": 100, "vis_ratio": 1.0, "ignore": 0},
              {"id": 2, "image_id": 1, "category_id": 1, "bbox": [300, 100, 25, 60], "vis_bbox": [300, 100, 25, 18],
               "height": 60, "vis_ratio": 0.3, "ignore": 0}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    return str(tmp_path / "gt.json"), str(tmp_path / "dt.json")


def test_citypersons_table_out_json_and_plot(tmp_path, capsys):
    # one TP on the visible person, nothing on the occluded one:
    # Reasonable: 1/1 found, no FP -> MR 0; Heavy: 0/1 found -> MR 1; Bare (vis >= .9): MR 0
    g, d = _write_citypersons(tmp_path, [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], "score": .9}])
    out = str(tmp_path / "m.json")
    assert main(["--protocol", "citypersons", "--gt", g, "--dt", d, "--setups", "Reasonable", "Heavy", "Bare",
                 "--out", out, "--plot", str(tmp_path / "plots"), "--mode", "matlab"]) == 0
    text = capsys.readouterr().out
    assert "mode: matlab" in text and "Reasonable" in text and "100.00" in text
    m = json.load(open(out))
    assert (m["Reasonable"], m["Heavy"], m["Bare"]) == (0.0, 1.0, 0.0)
    det = m["details"]
    assert det["mode"] == "matlab" and det["setups"]["Heavy"]["mr_at_fppi"] == [1.0] * 9
    assert det["setups"]["Reasonable"]["num_gt"] == 1 and len(det["setups"]["Reasonable"]["fppi_refs"]) == 9
    assert os.path.getsize(tmp_path / "plots" / "mr_fppi_citypersons.png") > 1000


def test_default_runs_all_seven_setups(tmp_path):
    g, d = _write_citypersons(tmp_path, [])
    out = str(tmp_path / "m.json")
    assert main(["--protocol", "citypersons", "--gt", g, "--dt", d, "--out", out]) == 0
    m = json.load(open(out))
    assert list(m)[:7] == ["Reasonable", "Reasonable_small", "Heavy", "All", "R+HO", "Bare", "Partial"]
    # empty detections: MR 1; no GT 50-75 px tall with vis >= .65: undefined
    assert m["Reasonable"] == 1.0 and m["Reasonable_small"] is None


def test_out_named_md_writes_the_markdown_table(tmp_path, capsys):
    """--out metrics.md wrote JSON under that name; now the table MissRateEvaluator writes as metrics.md."""
    from pedet.evaluation.report import evaluate, read_inputs

    g, d = _write_citypersons(tmp_path, [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], "score": .9}])
    out = str(tmp_path / "metrics.md")
    assert main(["--protocol", "citypersons", "--gt", g, "--dt", d, "--out", out, "--error-analysis", "0.1"]) == 0
    text = open(out).read()
    expected = evaluate("citypersons", *read_inputs("citypersons", g, d)).format_table(markdown=True)
    assert text.startswith(expected) and "| Reasonable_small | — |" in expected.replace("  ", " ")
    assert "\n```text\n" in text and "FP = background" in text and "missed_by_occlusion" in text
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_bad_input_exits_with_a_message(tmp_path, capsys):
    g, d = _write_citypersons(tmp_path, [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": .5}])
    assert main(["--protocol", "citypersons", "--gt", g, "--dt", d]) == 1
    assert "image id 99 is not in the ground truth" in capsys.readouterr().err


def test_crowdhuman_error_analysis(tmp_path, capsys):
    gt = [{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [0, 0, 20, 60], "vbox": [0, 0, 20, 60]},
                                  {"tag": "person", "fbox": [15, 0, 20, 60], "vbox": [15, 0, 20, 60]}]}]
    # dets: TP on GT 0; FP far away (background); FP between the two GTs (IoU >= .1 with both: crowd)
    dt = [{"ID": "a", "width": 200, "height": 100, "dtboxes": [
        {"box": [0, 0, 20, 60], "score": 0.9}, {"box": [150, 0, 20, 60], "score": 0.8},
        {"box": [8, 0, 20, 60], "score": 0.7}]}]
    (tmp_path / "gt.odgt").write_text("\n".join(json.dumps(x) for x in gt))
    (tmp_path / "dt.odgt").write_text("\n".join(json.dumps(x) for x in dt))
    out = str(tmp_path / "m.json")
    assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt"),
                 "--error-analysis", "10", "--out", out]) == 0
    ea = json.load(open(out))["details"]["error_analysis"]["all"]
    # det [8, 0, 20, 60] vs GT0: inter 12 x 60 = 720, IoU 720 / 1680 = .43; vs GT1: inter 13 x 60, IoU .48 -> crowd;
    # it is an FP because GT1's IoU .48 < .5
    assert ea["false_positives"] == {"background": 1, "localization": 0, "crowd": 1}
    assert ea["num_missed"] == 1 and "crowd" in capsys.readouterr().out


def test_command_does_not_import_torch_or_detectron2(tmp_path):
    g, d = _write_citypersons(tmp_path, [])
    code = ("import sys, runpy; sys.argv = ['x', '--protocol', 'citypersons', '--gt', %r, '--dt', %r];"
            "\ntry:\n    runpy.run_module('pedet.evaluation', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('torch', 'detectron2', 'matplotlib') if m in sys.modules]\n"
            "assert not bad, bad\nprint('clean')" % (g, d))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "clean" in proc.stdout


@pytest.mark.parametrize("argv", [["--protocol", "crowdhuman", "--mode", "matlab"]])
def test_mode_is_citypersons_only(tmp_path, argv, capsys):
    g, d = _write_citypersons(tmp_path, [])
    assert main(argv + ["--gt", g, "--dt", d]) == 2


def _write_odgt(tmp_path, gt_boxes, dt_boxes):
    gt = [{"ID": "a", "width": 100, "height": 100, "gtboxes": gt_boxes}]
    dt = [{"ID": "a", "dtboxes": dt_boxes}]
    (tmp_path / "gt.odgt").write_text("".join(json.dumps(r) + "\n" for r in gt))
    (tmp_path / "dt.odgt").write_text("".join(json.dumps(r) + "\n" for r in dt))
    return str(tmp_path / "gt.odgt"), str(tmp_path / "dt.odgt")


def _strict_json(path):
    def refuse(token):
        raise AssertionError(f"{path} holds {token}")

    with open(path) as f:
        return json.load(f, parse_constant=refuse)


@pytest.mark.parametrize("gt_boxes", [[], [{"tag": "mask", "fbox": [10, 10, 20, 40]}]], ids=["empty", "ignore-only"])
def test_crowdhuman_without_regular_person_writes_null_and_a_readable_plot(tmp_path, capsys, gt_boxes):
    g, d = _write_odgt(tmp_path, gt_boxes, [{"box": [60, 10, 20, 40], "score": 0.9}])
    out = str(tmp_path / "m.json")
    assert main(["--protocol", "crowdhuman", "--gt", g, "--dt", d, "--out", out, "--plot", str(tmp_path / "p"),
                 "--error-analysis", "0.5"]) == 0
    m = _strict_json(out)  # no NaN / Infinity token anywhere
    assert (m["AP"], m["mMR"], m["Recall"]) == (None, None, None) and m["JI"] == 0.0
    assert m["details"]["mr_at_fppi"] == [None] * 9
    assert os.path.getsize(tmp_path / "p" / "mr_fppi_crowdhuman.png") > 1000
    assert "undefined" in capsys.readouterr().out


def test_undefined_is_an_em_dash_in_markdown_and_null_in_json_safe():
    import math

    from pedet.evaluation.io import build_detections, build_ground_truth
    from pedet.evaluation.report import evaluate, json_safe

    gt = build_ground_truth(["a"], [0], [], image_width=[10], image_height=[10])
    report = evaluate("crowdhuman", gt, build_detections(gt, [], [], []))
    md = report.format_table(markdown=True)
    assert "| \u2014 | \u2014 | \u2014 | \u2014 |" in md and "undefined" not in md
    assert json_safe({"a": [math.nan, np.float64(math.inf), 1.5], "b": np.int64(3)}) == {"a": [None, None, 1.5], "b": 3}


def test_perfect_detector_plot_marks_miss_rate_zero_on_the_bottom_edge(tmp_path):
    import matplotlib.image as mpimg

    boxes = [{"tag": "person", "fbox": [10 + 30 * k, 10, 20, 40]} for k in range(3)]
    g, d = _write_odgt(tmp_path, boxes, [{"box": b["fbox"], "score": 0.9} for b in boxes])
    assert main(["--protocol", "crowdhuman", "--gt", g, "--dt", d, "--plot", str(tmp_path / "p")]) == 0
    img = mpimg.imread(str(tmp_path / "p" / "mr_fppi_crowdhuman.png"))[..., :3]
    blue = (np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=2) < 0.08)  # matplotlib's first colour
    rows = np.flatnonzero(blue.sum(axis=1) > img.shape[1] // 2)  # a long horizontal blue line
    assert rows.size and rows.min() > img.shape[0] * 0.7  # ... in the lower part: the miss-rate-0 edge
