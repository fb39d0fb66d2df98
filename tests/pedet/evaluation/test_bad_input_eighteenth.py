"""
Eighteenth bad-input trial of the evaluation side (issue 11): the public Python functions called directly, as a
Detectron2 user's script would, with each argument at its type boundaries. ``evaluate()`` took any truthy string as
True (``compute_ji="no"`` computed JI, ``resize_dets="no"`` squarified), wrote any ``box_mode`` ("head") into the
report as the box evaluated, used up a generator of setups so that the report's per-subset details came out empty,
and answered a single string, a None subset or swapped gt / dt with "unknown setup 'R'" or an AttributeError;
``ground_truth_from_dataset_dicts(box="Visible")`` evaluated the full boxes and ``read_coco_gt(missing_vis="Zeros")``
made every missing visible box the full box, both without a word; the readers took a ``pathlib.Path`` for "not
iterable" and bytes for a list of records.
"""
import json
import pathlib

import numpy as np
import pytest

from pedet.evaluation import evaluate
from pedet.evaluation.io import (
    ground_truth_from_dataset_dicts,
    read_coco_gt,
    read_coco_results,
    read_crowdhuman_dt,
    read_crowdhuman_gt,
)

from ..data.conftest import write_file

CH_GT = [{"ID": "a", "width": 64, "height": 48, "gtboxes": [{"tag": "person", "fbox": [10, 10, 20, 30]}]}]
CH_DT = [{"ID": "a", "dtboxes": [{"box": [10, 10, 20, 30], "score": 0.9}]}]
COCO_GT = {"images": [{"id": 1, "width": 640, "height": 480}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 100], "ignore": 0,
                            "vis_bbox": [100, 100, 40, 100]}]}
COCO_DT = [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 100], "score": 0.9}]


def _crowdhuman():
    gt = read_crowdhuman_gt(CH_GT)
    return gt, read_crowdhuman_dt(CH_DT, gt)


def _coco():
    gt = read_coco_gt(COCO_GT)
    return gt, read_coco_results(COCO_DT, gt)


EVALUATE_ERRORS = {
    "compute_ji 'no'": ("crowdhuman", {"compute_ji": "no"}, ValueError, r"compute_ji must be True or False, got 'no'"),
    "compute_ji None": ("crowdhuman", {"compute_ji": None}, ValueError, r"compute_ji must be True or False, got None"),
    "resize_dets 'no'": ("caltech", {"resize_dets": "no"}, ValueError, r"resize_dets must be True or False, got 'no'"),
    "box_mode 'head'": ("crowdhuman", {"box_mode": "head"}, ValueError,
                        r"box_mode must be 'full' or 'visible', got 'head'"),
    "box_mode 'VISIBLE'": ("crowdhuman", {"box_mode": "VISIBLE"}, ValueError,
                           r"box_mode must be 'full' or 'visible', got 'VISIBLE'"),
    "mode 'MATLAB' for caltech": ("caltech", {"mode": "MATLAB"}, ValueError,
                                  r"mode must be 'official' or 'matlab', got 'MATLAB'"),
    "setups a string": ("citypersons", {"setups": "Reasonable"}, ValueError,
                        r"setups must be a list of subset names or Setups, got str 'Reasonable'"),
    "setups [None]": ("caltech", {"setups": [None]}, ValueError,
                      r"setups must hold subset names \(str\) or Setups, got NoneType None"),
    "setups a number": ("citypersons", {"setups": 7}, ValueError, r"setups must be a list .*, got int 7"),
    "gt and dt swapped": ("crowdhuman", {"swap": True}, TypeError,
                          r"gt must be a GroundTruthSet .*, got DetectionSet"),
}


@pytest.mark.parametrize("protocol, kwargs, error, message", list(EVALUATE_ERRORS.values()), ids=list(EVALUATE_ERRORS))
def test_evaluate_refuses_arguments_it_would_misread(protocol, kwargs, error, message):
    gt, dt = _crowdhuman() if protocol == "crowdhuman" else _coco()
    kwargs = dict(kwargs)
    if kwargs.pop("swap", False):
        gt, dt = dt, gt
    with pytest.raises(error, match=rf"^evaluate: {message}$"):
        evaluate(protocol, gt, dt, **kwargs)


@pytest.mark.parametrize("protocol", ["citypersons", "caltech"])
def test_evaluate_takes_setups_from_a_generator_like_a_list(protocol):
    """Before: the generator was used up by the evaluation, so the report's per-subset details were empty."""
    gt, dt = _coco()
    listed = evaluate(protocol, gt, dt, setups=["Reasonable", "All"])
    generated = evaluate(protocol, gt, dt, setups=(name for name in ["Reasonable", "All"]))
    assert list(generated.details["setups"]) == ["Reasonable", "All"]
    assert generated.to_json() == listed.to_json()


def test_evaluate_accepts_numpy_booleans():
    gt, dt = _coco()
    report = evaluate("caltech", gt, dt, resize_dets=np.bool_(False))
    assert report.metrics["Reasonable"] == 0.0


READER_ERRORS = {
    "crowdhuman gt bytes": (lambda p: read_crowdhuman_gt(str(p["ch_gt"]).encode()), TypeError,
                            r"^crowdhuman gt: expected a path \(a str or an os.PathLike\) or a list of records, got "
                            r"bytes b'.*gt\.odgt'; decode the path first$"),
    "crowdhuman dt bytes": (lambda p: read_crowdhuman_dt(str(p["ch_dt"]).encode(), read_crowdhuman_gt(CH_GT)),
                            TypeError, r"^crowdhuman dt: expected a path .* got bytes"),
    "coco gt bytes": (lambda p: read_coco_gt(str(p["coco_gt"]).encode()), TypeError,
                      r"^coco gt: expected a path \(a str or an os.PathLike\) or a COCO-style dict, got bytes"),
    "coco results bytes": (lambda p: read_coco_results(str(p["coco_dt"]).encode(), read_coco_gt(COCO_GT)),
                           TypeError, r"^coco results: expected a path .* or a list of detections, got bytes"),
    "crowdhuman dt without gt": (lambda p: read_crowdhuman_dt(p["ch_dt"], None), TypeError,
                                 r"^read_crowdhuman_dt: gt must be the GroundTruthSet .*, got NoneType$"),
    "coco results against a DetectionSet": (lambda p: read_coco_results(COCO_DT, _coco()[1]), TypeError,
                                            r"^read_coco_results: gt must be the GroundTruthSet .*, got DetectionSet$"),
    # a string matched no annotation: the whole ground truth dropped, "have category_id 1, not 1"
    "coco gt category_id '1'": (lambda p: read_coco_gt(COCO_GT, category_id="1"), ValueError,
                                r"^read_coco_gt: category_id must be an integer \(COCO's person is 1\) or None for "
                                r"every category, got str '1'$"),
    "coco results category_id True": (lambda p: read_coco_results(COCO_DT, read_coco_gt(COCO_GT), category_id=True),
                                      ValueError, r"^read_coco_results: category_id must be an integer .* got bool"),
    "crowdhuman box_key None": (lambda p: read_crowdhuman_gt(p["ch_gt"], box_key=None), ValueError,
                                r"^read_crowdhuman_gt: box_key must be 'fbox' or 'vbox', got None$"),
    "crowdhuman box_key 'VBOX'": (lambda p: read_crowdhuman_gt(CH_GT, box_key="VBOX"), ValueError,
                                  r"^read_crowdhuman_gt: box_key must be 'fbox' or 'vbox', got 'VBOX'$"),
    # the two below changed the ground truth without a word
    "coco gt missing_vis 'Zeros'": (lambda p: read_coco_gt(COCO_GT, missing_vis="Zeros"), ValueError,
                                    r"^read_coco_gt: missing_vis must be 'full' or 'zeros', got 'Zeros'$"),
    "dataset dicts box 'Visible'": (lambda p: ground_truth_from_dataset_dicts([], box="Visible"), ValueError,
                                    r"^dataset dicts: box must be 'full' or 'visible', got 'Visible'$"),
}


@pytest.fixture
def files(tmp_path):
    return {
        "ch_gt": pathlib.Path(write_file(tmp_path / "gt.odgt", "".join(json.dumps(r) + "\n" for r in CH_GT))),
        "ch_dt": pathlib.Path(write_file(tmp_path / "dt.odgt", "".join(json.dumps(r) + "\n" for r in CH_DT))),
        "coco_gt": pathlib.Path(write_file(tmp_path / "gt.json", json.dumps(COCO_GT))),
        "coco_dt": pathlib.Path(write_file(tmp_path / "dt.json", json.dumps(COCO_DT))),
    }


@pytest.mark.parametrize("read, error, message", list(READER_ERRORS.values()), ids=list(READER_ERRORS))
def test_readers_refuse_arguments_they_would_misread(files, read, error, message):
    with pytest.raises(error, match=message):
        read(files)


def test_readers_take_pathlib_paths_as_their_str(files):
    """As pedet's data loaders do; before: "'PosixPath' object is not iterable"."""
    by_path = read_crowdhuman_gt(files["ch_gt"])
    by_str = read_crowdhuman_gt(str(files["ch_gt"]))
    assert by_path.image_ids == by_str.image_ids and (by_path.boxes == by_str.boxes).all()
    dt = read_crowdhuman_dt(files["ch_dt"], by_path)
    assert (dt.boxes == read_crowdhuman_dt(str(files["ch_dt"]), by_str).boxes).all()
    coco = read_coco_gt(files["coco_gt"])
    assert (coco.boxes == read_coco_gt(str(files["coco_gt"])).boxes).all()
    assert (read_coco_results(files["coco_dt"], coco).scores == [0.9]).all()
