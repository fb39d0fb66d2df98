"""
Ninth bad-input trial of the evaluator (issue 11): a CrowdHuman detection's "tag" (e.g. 0) is not read, as in the
CrowdHuman toolkit, whose detection loaders take box and score only: tag 0, tag 1 and no tag give the same report.
"""
import json

from pedet.evaluation.io import read_crowdhuman_dt, read_crowdhuman_gt


def test_a_crowdhuman_detection_tag_is_not_read_as_in_the_toolkit(tmp_path, capsys):
    from pedet.evaluation.__main__ import main

    gt = {"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [10, 10, 20, 40]}, {"tag": "person", "fbox": [50, 10, 20, 40]}]}
    (tmp_path / "gt.odgt").write_text(json.dumps(gt) + "\n")
    dets = [{"box": [10, 10, 20, 40], "score": 0.9}, {"box": [52, 11, 20, 40], "score": 0.4},
            {"box": [80, 50, 10, 20], "score": 0.6}]
    reports = []
    for tags in ([1, 1, 1], [0, 0, 0], [0, 1, 0], None):
        boxes = dets if tags is None else [dict(d, tag=t) for d, t in zip(dets, tags)]
        (tmp_path / "dt.odgt").write_text(json.dumps({"ID": "a", "dtboxes": boxes}) + "\n")
        assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt",
                     str(tmp_path / "dt.odgt")]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        reports.append(out)
        dt = read_crowdhuman_dt(str(tmp_path / "dt.odgt"), read_crowdhuman_gt(str(tmp_path / "gt.odgt")))
        assert dt.offsets.tolist() == [0, 3]  # every box is a detection, whatever its tag
    assert reports[1:] == reports[:1] * 3
