"""
Seventh bad-input trial of the evaluation side (issue 11): MissRateEvaluator settings that a protocol never uses
(compute_ji=False outside CrowdHuman, resize_dets=False outside Caltech) were accepted without a word; setups given
as a generator were used up by the argument checks (every default subset was evaluated instead); numpy numbers for
person_class / error_analysis_fppi were refused as "not an integer"; an odgt box value of 10**20 was not read.
"""
import json
import logging

import numpy as np
import pytest

from .d2_fixtures import register


@pytest.mark.parametrize("protocol, key, applies", [("citypersons", "compute_ji", "crowdhuman"),
                                                   ("caltech", "compute_ji", "crowdhuman"),
                                                   ("crowdhuman", "resize_dets", "caltech"),
                                                   ("citypersons", "resize_dets", "caltech")])
def test_a_setting_the_protocol_never_uses_is_announced_once(protocol, key, applies, caplog):
    from pedet.evaluation import MissRateEvaluator

    register(f"_seventh_{protocol}", protocol)
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        ev = MissRateEvaluator(f"_seventh_{protocol}", distributed=False, **{key: False})
        ev.reset()
        ev.reset()
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [f"MissRateEvaluator: {key}=False applies to {applies} only; protocol '{protocol}' never "
                    "computes it, so the setting has no effect"], msgs
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        MissRateEvaluator(f"_seventh_{protocol}", distributed=False)  # the defaults: nothing to say
        MissRateEvaluator(f"_seventh_{protocol}", distributed=False, **{key: False}, protocol=applies)
    assert caplog.records == []


@pytest.mark.parametrize("side, key", [("gt", "fbox"), ("gt", "vbox"), ("dt", "box")])
def test_a_box_value_beyond_64_bit_integers_is_read_as_the_float_it_is(tmp_path, capsys, side, key):
    """
    Before (GT): "could not evaluate ...: TypeError: object of type 'NoneType' has no len()" for an fbox, and a vbox
    silently replaced by the fbox: 10**20, a legal JSON number, made numpy build an object array that the reader took
    for a non-number, yet no box was found wrong.
    """
    from pedet.evaluation.__main__ import main
    from pedet.evaluation.io import read_crowdhuman_gt

    outputs = []
    for big in (10 ** 20, 1e20):  # the integer and the float literal must read alike
        box = [10, 10, 20, 40]
        gt_box = dict(tag="person", fbox=box, vbox=[10, 10, 20, big] if key != "box" else box)
        if key == "fbox":
            gt_box["fbox"] = [10, 10, 20, big]
        dt_box = {"box": [10, 10, 20, big] if side == "dt" else box, "score": 0.5, "tag": 1}
        (tmp_path / "gt.odgt").write_text(json.dumps({"ID": "a", "width": 100, "height": 80, "gtboxes": [gt_box]}))
        (tmp_path / "dt.odgt").write_text(json.dumps({"ID": "a", "dtboxes": [dt_box, dict(dt_box, box=box)]}))
        assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt",
                     str(tmp_path / "dt.odgt")]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        outputs.append(out)
        gt = read_crowdhuman_gt(str(tmp_path / "gt.odgt"))  # the visible box was silently replaced by the full box
        assert gt.boxes[0].tolist() == [10, 10, 20, 1e20 if key == "fbox" else 40]
        assert gt.vis_boxes[0].tolist() == [10, 10, 20, 1e20 if key != "box" else 40]
    assert outputs[0] == outputs[1]


def test_setups_given_as_a_generator_evaluate_those_subsets_only():
    from pedet.evaluation import MissRateEvaluator

    register("_seventh_generator", "citypersons")
    ev = MissRateEvaluator("_seventh_generator", distributed=False, setups=(s for s in ["Reasonable", "Heavy"]))
    ev.reset()
    assert list(ev.evaluate()["citypersons"]) == ["Reasonable", "Heavy"]


def test_numpy_numbers_are_accepted_as_arguments(tmp_path):
    """Before: "person_class must be a class index (an integer >= 0), got np.int64(0)" (likewise np.float32 FPPI)."""
    from pedet.evaluation import MissRateEvaluator

    from .d2_fixtures import NUM_IMAGES, fake_outputs

    register("_seventh_numpy", "crowdhuman")
    results, files = [], []
    for i, (person_class, fppi) in enumerate([(0, 0.5), (np.int64(0), np.float32(0.5))]):
        ev = MissRateEvaluator("_seventh_numpy", output_dir=str(tmp_path / str(i)), distributed=False,
                               person_class=person_class, error_analysis_fppi=fppi, plot=False)
        ev.reset()
        for k in range(NUM_IMAGES):
            ev.process([{"image_id": f"img{k}"}], [fake_outputs(k, n_extra=5)])
        results.append(ev.evaluate())
        files.append(json.loads((tmp_path / str(i) / "metrics.json").read_text()))
    assert results[0] == results[1]
    assert files[0] == files[1]


def test_an_id_that_differs_only_in_unicode_normalization_is_named_as_such(tmp_path, capsys):
    """Before: "image id 'ä.jpg' is not in the ground truth" while the ground truth showed the same 'ä.jpg'."""
    from pedet.evaluation.__main__ import main

    (tmp_path / "gt.odgt").write_text(json.dumps({"ID": "\u00e4", "gtboxes": []}) + "\n", encoding="utf-8")
    (tmp_path / "dt.odgt").write_text(json.dumps({"ID": "a\u0308", "dtboxes": []}) + "\n", encoding="utf-8")
    assert main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt")]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'dt.odgt'}: line 1 (image 'a\u0308'): image id 'a\u0308' is not in the ground truth (the "
        "ground truth's '\u00e4' looks the same but is written with other Unicode code points: normalize both files' "
        "ids, e.g. to NFC)\n")
