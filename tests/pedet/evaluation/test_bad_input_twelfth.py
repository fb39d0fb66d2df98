"""
Twelfth bad-input trial of the evaluator (issue 11): ``miss_rate_metric`` (the trainer's best-checkpoint metric and
nms_sweep's) of a name that is not registered failed with Detectron2's "metadata is empty" AttributeError and left an
empty MetadataCatalog entry behind; a name registered without metadata was the same AttributeError. The command's
file errors (e.g. a path component longer than the file system allows) printed Python's "[Errno 36]" prefix.
"""
import json
import os

import pytest

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
import pedet.evaluation.__main__ as cli
from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.evaluation import miss_rate_metric


def test_miss_rate_metric_of_an_unregistered_name_is_a_key_error_that_leaves_no_metadata():
    name = "pedet_test_twelfth_not_registered"
    with pytest.raises(KeyError, match=f"{name}: not registered in DatasetCatalog, so it has no miss-rate metric"):
        miss_rate_metric(name)
    assert name not in MetadataCatalog.list()


def test_miss_rate_metric_of_a_name_registered_without_metadata_names_the_missing_evaluator_type():
    name = "pedet_test_twelfth_no_metadata"
    DatasetCatalog.register(name, lambda: [])
    try:
        with pytest.raises(KeyError, match=f"{name}: evaluator_type None has no miss-rate metric"):
            miss_rate_metric(name)
        MetadataCatalog.get(name).set(evaluator_type="citypersons")
        assert miss_rate_metric(name) == "citypersons/Reasonable"
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.mark.parametrize("flag", ["--gt", "--dt"])
def test_command_file_error_has_no_errno_prefix(tmp_path, capsys, flag):
    line = json.dumps({"ID": "a", "width": 32, "height": 24, "gtboxes": [], "dtboxes": []}) + "\n"
    files = {"--gt": tmp_path / "gt.odgt", "--dt": tmp_path / "dt.odgt"}
    for path in files.values():
        path.write_text(line)
    files[flag] = tmp_path / ("n" * 300 + ".odgt")  # longer than any file system's name limit (255 bytes)
    argv = ["--protocol", "crowdhuman", "--gt", str(files["--gt"]), "--dt", str(files["--dt"])]
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == f"error: {files[flag]}: File name too long\n"



@pytest.mark.parametrize("flag", ["--out", "--plot"])
def test_command_output_name_over_the_limit_is_refused_before_the_evaluation(tmp_path, capsys, flag):
    """Before: the evaluation ran, then "error: [Errno 36] File name too long" naming a temporary file."""
    line = json.dumps({"ID": "a", "width": 32, "height": 24, "gtboxes": [], "dtboxes": []}) + "\n"
    for name in ("gt.odgt", "dt.odgt"):
        (tmp_path / name).write_text(line)
    value = str(tmp_path / ("m" * 300 + (".json" if flag == "--out" else "")))
    argv = ["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt"),
            flag, value]
    assert cli.main(argv) == 2
    name = os.path.basename(value)
    assert capsys.readouterr().err == (f"error: {flag}: '{name[:18]}...{name[-18:]}' is {len(name)} bytes long; file "
                                       "names have at most 255\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dt.odgt", "gt.odgt"]


def test_evaluator_output_dir_name_over_the_limit_fails_when_built(tmp_path):
    from pedet.evaluation import MissRateEvaluator

    name = "pedet_test_twelfth_output_dir"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(evaluator_type="crowdhuman")
    try:
        with pytest.raises(ValueError, match=r"^MissRateEvaluator: output_dir: 'o{18}\.\.\.o{18}' is 300 bytes long; "
                                             "file names have at most 255$"):
            MissRateEvaluator(name, output_dir=str(tmp_path / ("o" * 300)))
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
