"""
Second bad-input trial of ``python -m pedet.evaluation`` (issue 11): inputs the first catalogue (test_bad_input.py)
did not try. Flags that are NaN / 2 / -1 (read as "ignore" before), heights and visibilities out of range,
categories of the wrong type, JSON nested thousands of levels deep or holding 400-digit integers, custom setups
that shadow or repeat a name, --out / --plot that are empty or would overwrite an input, Caltech labels the toolbox
does not load. Each case ends with exit status 1 or 2 and one line naming the file, the record and the problem, or
exit 0 with one counted warning; never a traceback.
"""
import json
import re

import pytest

from .test_bad_input import CAL_GT, CH_DT, CH_GT, CP_DT, CP_GT, NAN, _mut, _odgt, _run

HUGE = "1" + "0" * 400
DEEP = "[" * 100_000 + "]" * 100_000

# (case id, protocol, GT text or None = the good one, DT text or None, extra args, exit status, regex on stderr)
CASES = [
    # --- flags, heights and visibilities: values the validation let through and the protocol read silently
    *[(f"ch-gt-extra-ignore-{name}", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "extra", "ignore"], v)), None,
       [], 1, rf"{{gt}}: line 1 \(image 'a'\): gtboxes 0: 'extra' must be an object whose 'ignore' is 0 or 1, got {g}")
      for name, v, g in [("nan", NAN, "nan"), ("2", 2, "2"), ("minus-1", -1, "-1")]],
    *[(f"cp-gt-ignore-{name}", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "ignore"], v)), None, [], 1,
       rf"{{gt}}: annotation 1 \(image 1\): 'ignore' is {g}, not 0 or 1") for name, v, g in
      [("nan", NAN, "nan"), ("2", 2, "2"), ("minus-1", -1, "-1")]],
    ("cal-gt-ignore-2", "caltech", json.dumps(_mut(CAL_GT, ["annotations", 0, "ignore"], 2)), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): 'ignore' is 2, not 0 or 1"),
    ("cp-gt-height-negative", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "height"], -100)), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): 'height' is -100, outside \[0, inf\]"),
    ("cp-gt-vis-ratio-above-1", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "vis_ratio"], 1.5)), None,
     [], 1, r"{gt}: annotation 1 \(image 1\): 'vis_ratio' is 1.5, outside \[0, 1\]"),
    ("cp-gt-vis-ratio-negative", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "vis_ratio"], -0.5)), None,
     [], 1, r"{gt}: annotation 1 \(image 1\): 'vis_ratio' is -0.5, outside \[0, 1\]"),
    # --- category ids of the wrong type
    ("cp-gt-category-list", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "category_id"], [1])), None, [],
     1, r"{gt}: annotation 0: 'category_id' is a list \(\[1\]\), not an integer"),
    ("cp-dt-category-list", "citypersons", None, json.dumps(_mut(CP_DT, [0, "category_id"], [1])), [], 1,
     r"{dt}: detection 0: 'category_id' is a list"),
    ("cp-dt-category-true", "citypersons", None, json.dumps(_mut(CP_DT, [0, "category_id"], True)), [], 1,
     r"{dt}: detection 0: 'category_id' is a boolean"),  # True == 1: it was read as a person
    # --- JSON true / false among a box's numbers (sixteenth trial): numpy read them as 1 / 0 without a word
    ("ch-gt-fbox-true", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "fbox", 0], True)), None, [], 1,
     r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'fbox' is a boolean \(True\), not a number"),
    ("ch-gt-vbox-false", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 1, "vbox", 2], False)), None, [], 1,
     r"{gt}: line 1 \(image 'a'\): gtboxes 1: 'vbox' is a boolean \(False\), not a number"),
    ("ch-dt-box-true", "crowdhuman", None, _odgt(_mut(CH_DT, [0, "dtboxes", 1, "box", 1], True)), [], 1,
     r"{dt}: line 1 \(image 'a'\): dtboxes 1: 'box' is a boolean \(True\), not a number"),
    ("cp-dt-bbox-false", "citypersons", None, json.dumps(_mut(CP_DT, [1, "bbox", 0], False)), [], 1,
     r"{dt}: detection in image 2: 'bbox' is a boolean \(False\), not a number"),
    # --- seventeenth trial: a box list whose every box is null (an object array of Nones) was "could not evaluate
    # ...: TypeError: 'NoneType' object is not iterable", naming neither the line, the image nor the key
    ("ch-gt-every-fbox-null", "crowdhuman", _odgt([{"ID": "a", "width": 100, "height": 80,
                                                   "gtboxes": [{"tag": "person", "fbox": None}]}, CH_GT[1]]), None,
     [], 1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'fbox' must be \[x, y, w, h\] \(4 numbers\), got null"),
    ("ch-gt-every-vbox-null-box-visible", "crowdhuman",
     _odgt(_mut(_mut(CH_GT, [0, "gtboxes", 0, "vbox"], None), [0, "gtboxes", 1, "vbox"], None)), None,
     ["--box", "visible"], 1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'vbox' must be \[x, y, w, h\]"),
    ("ch-dt-every-box-null", "crowdhuman", None,
     _odgt(_mut(_mut(CH_DT, [0, "dtboxes", 0, "box"], None), [0, "dtboxes", 1, "box"], None)), [], 1,
     r"{dt}: line 1 \(image 'a'\): dtboxes 0: 'box' must be \[x, y, w, h\] \(4 numbers\), got null"),
    ("cp-dt-every-bbox-null", "citypersons", None,
     json.dumps(_mut(_mut(CP_DT, [0, "bbox"], None), [1, "bbox"], None)), [], 1,
     r"{dt}: detection in image 1: 'bbox' must be \[x, y, w, h\] \(4 numbers\), got null"),
    # sixteenth trial: a Caltech ground truth with --protocol citypersons made its 'people' boxes pedestrians
    *[(f"cp-gt-caltech-label-{label}", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "label"], label)),
       None, [], 1, rf"{{gt}}: annotation 1 \(image 1\): 'label' '{re.escape(label)}' is a Caltech ignore label, but "
       r"'ignore' is not 1: this protocol would count the box as a pedestrian; evaluate a Caltech ground truth with "
       r"--protocol caltech") for label in ("people", "person?", "person-fa", "ignore")],
    # --- JSON that is valid but extreme
    ("ch-gt-nested", "crowdhuman", '{"ID": "a", "gtboxes": ' + DEEP + "}\n", None, [], 1,
     r"{gt}: line 1: the JSON is nested too deeply"),
    ("cp-dt-nested", "citypersons", None, DEEP, [], 1, r"{dt}: the JSON is nested too deeply"),
    ("ch-gt-fbox-401-digits", "crowdhuman", '{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [1, 2, ' + HUGE
     + ", 20]}]}\n", None, [], 1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'fbox' is an integer of 401 digits"),
    ("ch-dt-score-401-digits", "crowdhuman", None, '{"ID": "a", "dtboxes": [{"box": [1, 2, 3, 4], "score": ' + HUGE
     + "}]}\n", [], 1, r"{dt}: line 1 \(image 'a'\): dtboxes 0: 'score' is an integer of 401 digits"),
    ("cp-dt-bbox-401-digits", "citypersons", None, '[{"image_id": 1, "category_id": 1, "bbox": [1, 2, ' + HUGE
     + ', 4], "score": 0.5}]', [], 1, r"{dt}: detection in image 1: 'bbox' is an integer of 401 digits"),
    ("cp-gt-height-401-digits", "citypersons", json.dumps(CP_GT).replace('"height": 100,', f'"height": {HUGE},'), None,
     [], 1, r"{gt}: annotation 1 \(image 1\): 'height' is an integer of 401 digits"),
    # --- setups
    ("setup-not-a-number", "citypersons", None, None, ["--setups", "X:a:100:0:1"], 1,
     r"setup 'X:a:100:0:1': 'a' is not a number \(NAME:HMIN:HMAX:VMIN:VMAX\)"),
    ("setup-without-name", "citypersons", None, None, ["--setups", ":50:100:0:1"], 1,
     r"setup ':50:100:0:1': give the custom subset a name of its own"),
    ("setup-shadows-built-in", "citypersons", None, None, ["--setups", "Reasonable:0:10:0:1"], 1,
     r"setup 'Reasonable:0:10:0:1': give the custom subset a name of its own \(not the built-in 'Reasonable'\)"),
    ("setup-name-twice", "caltech", json.dumps(CAL_GT), json.dumps(CP_DT[:1]),
     ["--setups", "X:0:10:0:1", "X:10:20:0:1"], 1, r"setups: the name 'X' is given twice"),
    # --- outputs
    ("out-empty", "citypersons", None, None, ["--out", ""], 2, r"--out must not be empty"),
    ("plot-empty", "citypersons", None, None, ["--plot", " "], 2, r"--plot must not be empty"),
    ("out-is-gt", "citypersons", None, None, ["--out", "{gt}"], 2, r"--out is the --gt file \({gt}\)"),
    ("out-is-dt", "crowdhuman", None, None, ["--out", "{dt}"], 2, r"--out is the --dt file \({dt}\)"),
    # --- documented reading, now with a counted warning
    ("cal-gt-label-unknown-warns", "caltech", json.dumps(_mut(CAL_GT, ["annotations", 0, "label"], "car")), None, [],
     0, r"warning: caltech gt: 1 box\(es\) have a label other than person / person\? / people / ignore "
        r"\('car'\); the toolbox does not load them"),
    ("cal-gt-not-640x480-warns", "caltech", json.dumps(_mut(CAL_GT, ["images", 0, "width"], 1280)), None, [], 0,
     r"warning: caltech gt: 1 image\(s\) are not 640 x 480 \(first: 1, 1280 x 480\)"),
    # --- twentieth trial: COCO's 'ignore' / 'iscrowd' at the box level of an odgt (the odgt rule never read them)
    ("ch-gt-box-level-ignore-1-on-person", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "ignore"], 1)), None, [],
     1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'ignore' is 1 at the box level, but by its 'tag' and 'extra.ignore' "
        r"\(the only ignore rule of the CrowdHuman format\) the box is a person: for an ignore region set tag 'mask'"),
    ("ch-gt-box-level-iscrowd-0-on-mask", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 1, "iscrowd"], 0)), None, [],
     1, r"{gt}: line 1 \(image 'a'\): gtboxes 1: 'iscrowd' is 0 at the box level, .* the box is an ignore region: "
        r"for a person set tag 'person' and 'extra': \{'ignore': 0\}, or remove 'iscrowd'"),
    ("ch-gt-box-level-ignore-string", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "ignore"], "1")), None, [],
     1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'ignore' is a string \('1'\), not a number"),
    # --- twentieth trial: scores in percent leave JI's thresholds 0.0 ... 0.9 (JI changed without a word before)
    ("ch-dt-scores-in-percent-warns", "crowdhuman", None,
     _odgt(_mut(_mut(CH_DT, [0, "dtboxes", 0, "score"], 90.0), [0, "dtboxes", 1, "score"], 40.0)), [], 0,
     r"warning: 2 of 2 detection score\(s\) lie outside \[0, 1\] \(from 40 to 90; first: 90 in image 'a'\); JI is "
     r"the best of the score thresholds 0.0, 0.1, ..., 0.9"),
    ("cp-gt-annotation-id-0-warns", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "id"], 0)), None, [], 0,
     r"warning: 1 regular ground-truth box\(es\) have annotation id 0; the official script reads a match to id 0 as "
     r"no match"),
    # --- twenty-first trial: no image size in either odgt (CrowdHuman's and the synthetic set's GT have none); the
    # message named neither file
    ("ch-no-size-in-either-file", "crowdhuman",
     _odgt([{k: v for k, v in r.items() if k not in ("width", "height")} for r in CH_GT]),
     _odgt([{k: v for k, v in r.items() if k not in ("width", "height")} for r in CH_DT]), [], 1,
     r"{dt}: image 'a' has no width / height here nor in {gt} \(2 of 2 image\(s\) without\); the CrowdHuman "
     r"protocol clips boxes to the image: give 'width' and 'height' in the detection lines"),
    # a TJU-Ped-style GT whose ignore regions are a category of their own: "not evaluated" hid that detections on
    # them become false positives (pedet's loader reads them as ignore regions)
    ("cp-gt-ignore-category-named-warns", "citypersons",
     json.dumps(dict(_mut(CP_GT, ["annotations"], CP_GT["annotations"] + [
         {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 60, 110]}]),
         categories=[{"id": 1, "name": "pedestrian"}, {"id": 2, "name": "ignore"}])), None, [], 0,
     r"warning: {gt}: 1 of 2 annotations have category_id 2 \('ignore'\), not 1; .* the boxes of 'ignore' are left "
     r"out as the official script leaves them out: no ignore regions here, so detections on them count as false "
     r"positives \(pedet's TJU-Ped loader, unlike its CityPersons one, reads such a category as ignore regions"),
    ("cp-gt-other-category-named-warns", "citypersons",
     json.dumps(dict(_mut(CP_GT, ["annotations"], CP_GT["annotations"] + [
         {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 60, 110]}]),
         categories=[{"id": 1, "name": "pedestrian"}, {"id": 2, "name": "rider"}])), None, [], 0,
     r"warning: {gt}: 1 of 2 annotations have category_id 2 \('rider'\), not 1; the protocol evaluates category 1 "
     r"\(person\) only; the others are not evaluated$"),
    # --- twenty-second trial: the warning called category 1 "person" where the file names it otherwise, and did not
    # say that the file's own pedestrians (another id) were the boxes left out
    ("cp-gt-persons-under-another-id-named", "citypersons",
     json.dumps(dict(_mut(CP_GT, ["annotations"], CP_GT["annotations"] + [
         {"id": 2, "image_id": 2, "category_id": 3, "bbox": [10, 10, 60, 110]}]),
         categories=[{"id": 1, "name": "ignore"}, {"id": 3, "name": "person"}])), None, [], 0,
     r"warning: {gt}: 1 of 2 annotations have category_id 3 \('person'\), not 1; the protocol evaluates category 1 "
     r"\(named 'ignore' in this file: its boxes are evaluated as pedestrians\) only; the boxes of 'person' are left "
     r"out as the official script leaves them out \(it reads category_id 1 only\): give the pedestrians category_id "
     r"1; the others are not evaluated$"),
    # caltech2coco's output (vis_bbox [0, 0, 0, 0]: not occluded) with --protocol citypersons: visibility 0, so the
    # pedestrian left every setup and the command printed 'undefined' with exit status 0
    ("cp-protocol-on-a-caltech2coco-file", "citypersons",
     json.dumps(_mut(_mut(CAL_GT, ["annotations", 0, "vis_bbox"], [0, 0, 0, 0]), ["annotations", 0, "ignore"], 0)),
     None, [], 1, r"{gt}: annotation 1 \(image 1\): 'label' 'person' with 'vis_bbox' \[0, 0, 0, 0\] and no 'vis_ratio' "
                  r"is a Caltech ground truth \(where that visible box means not occluded\): this protocol would read "
                  r"visibility 0 .* evaluate a Caltech ground truth with --protocol caltech$"),
    # a score just above 1 was shown as "1" in the message that says it lies outside [0, 1]
    ("ch-dt-score-just-above-1-shown-as-it-is", "crowdhuman", None,
     _odgt(_mut(CH_DT, [0, "dtboxes", 0, "score"], 1.0000001)), [], 0,
     r"warning: 1 of 2 detection score\(s\) lie outside \[0, 1\] \(from 0.4 to 1\.0000001\d*; first: 1\.0000001\d* in "
     r"image 'a'\); JI is the best of the score thresholds"),
]


@pytest.mark.parametrize("case,protocol,gt_text,dt_text,args,status,pattern", CASES, ids=[c[0] for c in CASES])
def test_fresh_bad_input_gives_one_line(tmp_path, capsys, case, protocol, gt_text, dt_text, args, status, pattern):
    ext = "odgt" if protocol == "crowdhuman" else "json"
    gt, dt = str(tmp_path / f"gt.{ext}"), str(tmp_path / f"dt.{ext}")
    args = [a.replace("{gt}", gt).replace("{dt}", dt) for a in args]
    rc, err, gt, dt = _run(tmp_path, capsys, protocol, gt_text, dt_text, args)
    assert rc == status, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    assert re.search(pattern.replace("{gt}", re.escape(gt)).replace("{dt}", re.escape(dt)), lines[0]), lines[0]


def test_out_equal_to_the_gt_leaves_the_gt_untouched(tmp_path, capsys):
    """Before: --out gt.json wrote the metrics over the ground truth and exited 0."""
    rc, _, gt, _ = _run(tmp_path, capsys, "citypersons", None, None, ["--out", str(tmp_path / "gt.json")])
    assert rc == 2 and json.loads(open(gt).read()) == CP_GT


def test_valid_flags_true_and_false_are_read_as_1_and_0(tmp_path, capsys):
    """JSON true / false are 0 / 1 flags (as the data loaders read them); extra.ignore true is an ignore region."""
    gt = _odgt(_mut(CH_GT, [0, "gtboxes", 0, "extra", "ignore"], True))
    rc, err, _, _ = _run(tmp_path, capsys, "crowdhuman", gt, None, ["--out", str(tmp_path / "m.json")])
    assert rc == 0 and err == ""
    assert json.loads((tmp_path / "m.json").read_text())["details"]["num_gt"] == 0  # its only person is now ignored
