"""
Fifth bad-input trial of ``python -m pedet.evaluation`` (issue 11): outputs named through a symbolic link (the
command replaced the ground truth it had just read), outputs that cannot be written (found after the evaluation,
with --out already written), integers beyond 64 bits (orjson reads them as floats without a word: an image id
10**30 was "not an integer", while the loaders read it), and the error analysis of a set without a regular person.
"""
import json
import os

import pytest

from pedet.evaluation.__main__ import main

from .test_bad_input import CH_DT, CH_GT, CP_DT, CP_GT, _mut, _odgt


@pytest.mark.parametrize("how", ["symlinked folder", "symlink to the file"])
def test_out_naming_the_gt_through_a_link_leaves_the_gt_untouched(tmp_path, capsys, how):
    """Before (symlinked folder): exit 0, and the GT file was replaced by metrics.json."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "gt.odgt").write_text(_odgt(CH_GT))
    (real / "dt.odgt").write_text(_odgt(CH_DT))
    if how == "symlinked folder":
        os.symlink(real, tmp_path / "link")
        out = tmp_path / "link" / "gt.odgt"
    else:
        out = tmp_path / "gt-link.odgt"
        os.symlink(real / "gt.odgt", out)
    rc = main(["--protocol", "crowdhuman", "--gt", str(real / "gt.odgt"), "--dt", str(real / "dt.odgt"),
               "--out", str(out)])
    assert rc == 2 and capsys.readouterr().err == f"error: --out is the --gt file ({real / 'gt.odgt'}); give another " \
                                                  "path\n"
    assert (real / "gt.odgt").read_text() == _odgt(CH_GT) and os.path.islink(str(out)) == (how != "symlinked folder")


def test_plot_that_is_a_file_fails_before_anything_is_written(tmp_path, capsys):
    """Before: metrics.json was written, then "[Errno 17] File exists" (exit 1)."""
    (tmp_path / "gt.odgt").write_text(_odgt(CH_GT))
    (tmp_path / "dt.odgt").write_text(_odgt(CH_DT))
    (tmp_path / "plots").write_text("notes")
    rc = main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt"),
               "--out", str(tmp_path / "m.json"), "--plot", str(tmp_path / "plots")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err == f"error: --plot '{tmp_path / 'plots'}' exists and is not a folder (the " \
                                            "PNGs are written into it)\n"
    assert not (tmp_path / "m.json").exists()


BIG = 10 ** 30  # beyond 64 bits: orjson returns 1e+30


@pytest.mark.parametrize("layout", ["canonical", "indented"])
def test_integer_ids_beyond_64_bits_are_read_exactly(tmp_path, capsys, layout):
    """Before: "'ID' is a number, not a string or an integer" (the loaders read the same file)."""
    small = []
    for protocol, ext, gt, dt in (
            ("crowdhuman", "odgt", [_mut(CH_GT[0], ["ID"], BIG), CH_GT[1]], [_mut(CH_DT[0], ["ID"], BIG), CH_DT[1]]),
            ("citypersons", "json", _mut(_mut(CP_GT, ["images", 0, "id"], BIG), ["annotations", 0, "image_id"], BIG),
             _mut(CP_DT, [0, "image_id"], BIG))):
        for name, gt_data, dt_data in (("big", gt, dt), ("small", None, None)):
            if gt_data is None:
                gt_data, dt_data = (CH_GT, CH_DT) if protocol == "crowdhuman" else (CP_GT, CP_DT)
            dump = _odgt if ext == "odgt" else (lambda d: json.dumps(d, indent=1 if layout == "indented" else None))
            dt_text = dump(dt_data) if ext == "json" or layout == "canonical" else \
                "".join(json.dumps(r, indent=1).replace("\n", "") + "\n" for r in dt_data)
            (tmp_path / f"gt.{ext}").write_text(dump(gt_data))
            (tmp_path / f"dt.{ext}").write_text(dt_text)
            out = tmp_path / f"{protocol}-{name}.json"
            assert main(["--protocol", protocol, "--gt", str(tmp_path / f"gt.{ext}"), "--dt",
                         str(tmp_path / f"dt.{ext}"), "--out", str(out)]) == 0, capsys.readouterr().err
            small.append(json.loads(out.read_text()))
    assert small[0] == small[1] and small[2] == small[3]  # the same result as with small ids


def test_error_analysis_without_a_regular_person_says_so(tmp_path, capsys):
    """Before: "(score >= None)" and shares of 0.0 % of no false positive."""
    gt = [_mut(CH_GT[0], ["gtboxes"], CH_GT[0]["gtboxes"][1:]), CH_GT[1]]  # the mask region only
    (tmp_path / "gt.odgt").write_text(_odgt(gt))
    (tmp_path / "dt.odgt").write_text(_odgt([_mut(CH_DT[0], ["dtboxes"], []), CH_DT[1]]))
    assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt"),
                 "--error-analysis", "0.1", "--out", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "[all] at FPPI 0.000 (no detection kept): 0 FP = background 0 (—), localization 0 (—), crowd 0 (—); " \
           "missed 0 / 0" in out, out
    assert "None" not in out
    assert json.loads((tmp_path / "m.json").read_text())["details"]["error_analysis"]["all"]["operating_point"] == \
        {"fppi": 0.0, "score": None, "num_dets": 0}
