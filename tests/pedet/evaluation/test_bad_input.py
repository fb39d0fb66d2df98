"""
Catalogue of bad input for ``python -m pedet.evaluation`` (issue 11): every malformed file, record, key and value,
every out-of-range option. Each case must end with exit status 1 or 2 and exactly one line on stderr that names the
file and the record (line / image / annotation) and says what is wrong; never a traceback. Cases that are read as
documented (with a counted warning) exit 0.
"""
import copy
import json
import re

import pytest

from pedet.evaluation.__main__ import main

CH_GT = [
    {"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": [10, 10, 20, 40], "vbox": [10, 10, 20, 30], "extra": {"ignore": 0}},
        {"tag": "mask", "fbox": [60, 10, 20, 20], "vbox": [60, 10, 20, 20], "extra": {"ignore": 0}}]},
    {"ID": "b", "width": 100, "height": 80, "gtboxes": []},
]
CH_DT = [
    {"ID": "a", "width": 100, "height": 80, "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9, "tag": 1},
                                                       {"box": [40, 40, 10, 20], "score": 0.4, "tag": 1}]},
    {"ID": "b", "width": 100, "height": 80, "dtboxes": []},
]
CP_GT = {
    "images": [{"id": 1, "width": 2048, "height": 1024}, {"id": 2, "width": 2048, "height": 1024}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100],
                     "vis_bbox": [100, 100, 41, 100], "height": 100, "vis_ratio": 1.0, "ignore": 0}],
}
CP_DT = [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], "score": 0.9},
         {"image_id": 2, "category_id": 1, "bbox": [10, 10, 41, 100], "score": 0.3}]
CAL_GT = {
    "images": [{"id": 1, "width": 640, "height": 480}],
    "annotations": [{"id": 1, "image_id": 1, "bbox": [100, 100, 41, 100], "label": "person"}],
}

NAN, INF = float("nan"), float("inf")  # json.dumps writes them as the NaN / Infinity literals


def _odgt(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def _mut(obj, path, value=KeyError):
    """Deep copy of obj with obj[path...] set to value (KeyError: the key deleted)."""
    out = copy.deepcopy(obj)
    node = out
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


# (case id, protocol, GT text or None = the good one, DT text or None, extra args, exit status, regex on stderr)
# {gt} / {dt} in the regex stand for the file names.
CASES = []


def _ch_dt(case, path, value, pattern):
    recs = _mut(CH_DT, path, value)
    CASES.append((case, "crowdhuman", None, _odgt(recs), [], 1, pattern))


def _ch_gt(case, path, value, pattern, args=()):
    recs = _mut(CH_GT, path, value)
    CASES.append((case, "crowdhuman", _odgt(recs), None, list(args), 1, pattern))


# --- CrowdHuman detections: every key, every bad value
for key in ("box", "score"):
    _ch_dt(f"ch-dt-no-{key}", [0, "dtboxes", 0, key], KeyError, rf"{{dt}}: line 1 \(image 'a'\): dtboxes 0: no '{key}'")
for name, value, msg in [("string", "0.9", "'score' is a string .* not a number"),
                         ("null", None, "'score' is null .*not a number"),
                         ("bool", True, "'score' is a boolean"),
                         ("list", [0.9], "'score' is a list")]:
    _ch_dt(f"ch-dt-score-{name}", [0, "dtboxes", 1, "score"], value, rf"line 1 \(image 'a'\): dtboxes 1: {msg}")
for name, value, msg in [("string", [1, "1", 2, 3], "'box' is a string"), ("null", [1, None, 2, 3], "'box' is null"),
                         ("three", [1, 2, 3], r"'box' must be \[x, y, w, h\] \(4 numbers\), got 3 values"),
                         ("five", [1, 2, 3, 4, 5], "'box' must be .*got 5 values"),
                         ("object", {"x": 1}, "'box' must be .*got an object"),
                         ("number", 5, "'box' must be .*got a number")]:
    _ch_dt(f"ch-dt-box-{name}", [0, "dtboxes", 0, "box"], value, rf"line 1 \(image 'a'\): dtboxes 0: {msg}")
# NaN / inf / negative numbers: found by the array checks, which name the file, the line and the box
for name, key, value, msg in [("score-nan", "score", NAN, "non-finite score nan"),
                              ("score-inf", "score", INF, "non-finite score inf"),
                              ("box-nan", "box", [NAN, 1, 2, 3], r"non-finite box \[nan, 1.0, 2.0, 3.0\]"),
                              ("box-inf", "box", [1, 1, INF, 3], "non-finite box"),
                              ("box-neg-w", "box", [1, 1, -2, 3], r"negative-size box \[1.0, 1.0, -2.0, 3.0\]"),
                              ("box-neg-h", "box", [1, 1, 2, -3], "negative-size box")]:
    _ch_dt(f"ch-dt-{name}", [0, "dtboxes", 1, key], value, rf"{{dt}}: line 1 \(image 'a'\): dtboxes 1: {msg}")
_ch_dt("ch-dt-no-id", [1, "ID"], KeyError, r"{dt}: line 2: no 'ID'")
_ch_dt("ch-dt-id-null", [1, "ID"], None, r"{dt}: line 2: 'ID' is null")
_ch_dt("ch-dt-id-list", [1, "ID"], ["b"], r"{dt}: line 2: 'ID' is a list")
_ch_dt("ch-dt-unknown-id", [1, "ID"], "zz", r"{dt}: line 2 \(image 'zz'\): image id 'zz' is not in the ground truth")
_ch_dt("ch-dt-duplicate-id", [1, "ID"], "a", r"{dt}: line 2 \(image 'a'\): duplicate image id 'a'")
_ch_dt("ch-dt-no-dtboxes", [1, "dtboxes"], KeyError, r"line 2 \(image 'b'\): no 'dtboxes'")
_ch_dt("ch-dt-dtboxes-object", [1, "dtboxes"], {}, r"line 2 \(image 'b'\): 'dtboxes' is an object, not a list")
_ch_dt("ch-dt-dtbox-number", [1, "dtboxes"], [3], r"line 2 \(image 'b'\): dtboxes 0 is a number, not an object")
_ch_dt("ch-dt-width-neg", [0, "width"], -5, r"line 1 \(image 'a'\): 'width' is -5, not a positive integer up to 100000")
_ch_dt("ch-dt-height-string", [0, "height"], "80", r"line 1 \(image 'a'\): 'height' is a string")
_ch_dt("ch-dt-height-zero", [0, "height"], 0, r"'height' is 0, not a positive integer")

# --- CrowdHuman ground truth
_ch_gt("ch-gt-no-id", [0, "ID"], KeyError, r"{gt}: line 1: no 'ID'")
_ch_gt("ch-gt-no-gtboxes", [1, "gtboxes"], KeyError, r"{gt}: line 2 \(image 'b'\): no 'gtboxes'")
_ch_gt("ch-gt-gtboxes-string", [1, "gtboxes"], "x", r"line 2 \(image 'b'\): 'gtboxes' is a string")
_ch_gt("ch-gt-no-tag", [0, "gtboxes", 1, "tag"], KeyError, r"line 1 \(image 'a'\): gtboxes 1: no 'tag'")
_ch_gt("ch-gt-tag-number", [0, "gtboxes", 1, "tag"], 1, r"gtboxes 1: 'tag' is a number, not a string")
_ch_gt("ch-gt-no-fbox", [0, "gtboxes", 0, "fbox"], KeyError, r"line 1 \(image 'a'\): gtboxes 0: no 'fbox'")
_ch_gt("ch-gt-no-vbox-visible", [0, "gtboxes", 0, "vbox"], KeyError, r"gtboxes 0: no 'vbox'", ["--box", "visible"])
_ch_gt("ch-gt-fbox-string", [0, "gtboxes", 0, "fbox"], ["10", 10, 20, 40], r"gtboxes 0: 'fbox' is a string")
_ch_gt("ch-gt-fbox-nan", [0, "gtboxes", 0, "fbox"], [10, NAN, 20, 40],
       r"{gt}: line 1 \(image 'a'\): gtboxes 0 'fbox': non-finite box")
_ch_gt("ch-gt-fbox-neg", [0, "gtboxes", 0, "fbox"], [10, 10, -20, 40],
       r"{gt}: line 1 \(image 'a'\): gtboxes 0 'fbox': negative-size")
_ch_gt("ch-gt-fbox-short", [0, "gtboxes", 0, "fbox"], [10, 10, 20], r"gtboxes 0: 'fbox' must be \[x, y, w, h\]")
_ch_gt("ch-gt-vbox-bad", [0, "gtboxes", 0, "vbox"], [1, 2], r"gtboxes 0: 'vbox' must be \[x, y, w, h\]")
_ch_gt("ch-gt-extra-list", [0, "gtboxes", 0, "extra"], [0], r"gtboxes 0: 'extra' must be an object")
_ch_gt("ch-gt-extra-ignore-str", [0, "gtboxes", 0, "extra", "ignore"], "1", r"gtboxes 0: 'extra' must be an object")
_ch_gt("ch-gt-width-zero", [0, "width"], 0, r"{gt}: line 1 \(image 'a'\): 'width' is 0, not a positive integer")
_ch_gt("ch-gt-duplicate-id", [1, "ID"], "a", r"{gt}: .*duplicate image id 'a'")

# --- CityPersons ground truth
def _cp_gt(case, path, value, pattern):
    CASES.append((case, "citypersons", json.dumps(_mut(CP_GT, path, value)), None, [], 1, pattern))


_cp_gt("cp-gt-no-images", ["images"], KeyError, r"{gt}: no 'images', a list is needed")
_cp_gt("cp-gt-no-annotations", ["annotations"], KeyError, r"{gt}: no 'annotations', a list is needed")
_cp_gt("cp-gt-images-object", ["images"], {}, r"{gt}: an object as 'images', a list is needed")
_cp_gt("cp-gt-image-no-id", ["images", 1, "id"], KeyError, r"{gt}: image 1: no 'id'")
_cp_gt("cp-gt-image-id-list", ["images", 1, "id"], [2], r"{gt}: image 1: 'id' is a list")
_cp_gt("cp-gt-image-dup", ["images", 1, "id"], 1, r"{gt}: .*duplicate image id 1")
_cp_gt("cp-gt-image-width-neg", ["images", 0, "width"], -1, r"{gt}: image 1: 'width' is -1, not a positive integer")
# keys with a reading of their own: a counted warning names it (they were read in silence)
for key, reading in [("height", r"have no 'height': the height of 'bbox' \(its 4th value\), as pedet's data loaders"),
                     ("vis_ratio", r"have 'vis_bbox' but no 'vis_ratio': visibility area\(vis_bbox ∩ bbox\) / "
                                   r"area\(bbox\), as pedet's data loaders"),
                     ("category_id", r"have no 'category_id': read as category 1 \(pedestrian\)")]:
    CASES.append((f"cp-gt-ann-no-{key}-warns", "citypersons",
                  json.dumps(_mut(CP_GT, ["annotations", 0, key], KeyError)), None, [], 0,
                  rf"^warning: {{gt}}: 1 of 1 annotation\(s\) {reading}; first: annotation 1 \(image 1\)$"))
for key in ("image_id", "bbox"):
    _cp_gt(f"cp-gt-ann-no-{key}", ["annotations", 0, key], KeyError, rf"{{gt}}: annotation 0 \(id 1\): no '{key}'")
_cp_gt("cp-gt-ann-unknown-image", ["annotations", 0, "image_id"], 7, r"{gt}: annotation 1 names unknown image 7")
_cp_gt("cp-gt-ann-bbox-string", ["annotations", 0, "bbox"], "1 2 3 4", r"annotation 1 \(image 1\): 'bbox' must be")
_cp_gt("cp-gt-ann-bbox-neg", ["annotations", 0, "bbox"], [1, 2, -3, 4], r"annotation 1 \(image 1\): .*negative")
_cp_gt("cp-gt-ann-vis-nan", ["annotations", 0, "vis_bbox"], [1, 2, NAN, 4], r"annotation 1 .*'vis_bbox' is nan")
_cp_gt("cp-gt-ann-height-str", ["annotations", 0, "height"], "100", r"annotation 1 .*'height' is a string")
_cp_gt("cp-gt-ann-visratio-inf", ["annotations", 0, "vis_ratio"], INF, r"annotation 1 .*'vis_ratio' is inf")
_cp_gt("cp-gt-ann-ignore-str", ["annotations", 0, "ignore"], "no", r"annotation 1 .*'ignore' is a string")
_cp_gt("cp-gt-ann-id-str", ["annotations", 0, "id"], "x", r"annotation 'x' .*'id' is a string, not an integer")
_cp_gt("cp-gt-ann-not-object", ["annotations", 0], 5, r"{gt}: annotation 0 is a number, not an object")


# --- COCO results
def _cp_dt(case, path, value, pattern, protocol="citypersons"):
    CASES.append((case, protocol, None, json.dumps(_mut(CP_DT, path, value)), [], 1, pattern))


for key in ("image_id", "bbox", "score"):
    _cp_dt(f"cp-dt-no-{key}", [1, key], KeyError, rf"{{dt}}: detection 1: no '{key}'")
for name, value, msg in [("nan", NAN, "non-finite score nan in image 2"), ("inf", -INF, "non-finite score -inf"),
                         ("string", "high", "detection in image 2: 'score' is a string"),
                         ("null", None, "detection in image 2: 'score' is null"),
                         ("bool", False, "detection in image 2: 'score' is a boolean")]:
    _cp_dt(f"cp-dt-score-{name}", [1, "score"], value, rf"{{dt}}: .*{msg}")
for name, value, msg in [("three", [1, 2, 3], "detection in image 2: .*got 3 values"),
                         ("neg", [1, 2, -3, 4], r"negative-size box \[1.0, 2.0, -3.0, 4.0\] \(XYWH\) in image 2"),
                         ("string", [1, 2, "3", 4], "detection in image 2: 'bbox' is a string"),
                         ("nan", [NAN, 2, 3, 4], "non-finite box .* in image 2")]:
    _cp_dt(f"cp-dt-bbox-{name}", [1, "bbox"], value, rf"{{dt}}: .*{msg}")
_cp_dt("cp-dt-unknown-image", [1, "image_id"], 9, r"{dt}: .*image id 9 is not in the ground truth")
CASES.append(("cp-dt-no-category-id-warns", "citypersons", None,
              json.dumps([{k: v for k, v in d.items() if k != "category_id"} for d in CP_DT]), [], 0,
              r"^warning: {dt}: 2 of 2 detections have no 'category_id': read as category 1 \(pedestrian\); first: "
              r"detection 0$"))
# a string id against a GT of integer ids (e.g. a per-image registration's predictions and a citypersons2coco file)
_cp_dt("cp-dt-image-id-kind", [1, "image_id"], "frankfurt_000000_000294",
       r"{dt}: .*image id 'frankfurt_000000_000294' is not in the ground truth \(it is a string; the ground truth's "
       r"ids are integers, e.g. 1: the two files number their images differently")
_cp_dt("cp-dt-image-id-list", [1, "image_id"], [2], r"{dt}: detection 1: 'image_id' is a list")
_cp_dt("cp-dt-not-object", [1], "x", r"{dt}: detection 1 is a string, not an object")
CASES.append(("cp-dt-category-0", "citypersons", None,
              json.dumps([dict(d, category_id=0) for d in CP_DT]), [], 1,
              r"{dt}: 2 of 2 detections have category_id 0, not 1;.*contiguous 0"))
CASES.append(("cp-dt-category-mixed-warns", "citypersons", None,
              json.dumps(CP_DT + [dict(CP_DT[0], category_id=3)]), [], 0,
              r"warning: {dt}: 1 of 3 detections have category_id 3, not 1"))
# an unknown tag was an ignore region with a counted warning (the toolkit's reading); now an error, as in the loaders
CASES.append(("ch-gt-unknown-tag", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 1, "tag"], "people")), None,
              [], 1, r"{gt}: line 1 \(image 'a'\): gtboxes 1: unknown tag 'people'; expected one of person / mask$"))

# --- whole files: empty, blank, truncated, binary, the wrong format
for proto, side, good in (("crowdhuman", "gt", _odgt(CH_GT)), ("crowdhuman", "dt", _odgt(CH_DT)),
                          ("citypersons", "gt", json.dumps(CP_GT)), ("citypersons", "dt", json.dumps(CP_DT))):
    for name, text, msg in [("empty", "", "empty file"), ("blank", "\n \n", "empty file"),
                            ("truncated", good[: len(good) // 2], "invalid JSON"),
                            ("binary", "\x00\x01\xff\xfe garbage", "invalid JSON")]:
        if proto == "crowdhuman" and name == "truncated":
            msg = r"line \d: invalid JSON"
        g, d = (text, None) if side == "gt" else (None, text)
        CASES.append((f"{proto}-{side}-{name}", proto, g, d, [], 1, rf"{{{side}}}: .*{msg}"))
METRICS = {"Reasonable": 0.25, "All": None, "details": {"protocol": "citypersons", "mode": "official"}}
CASES += [
    ("ch-dt-is-coco", "crowdhuman", None, json.dumps(CP_DT), [], 1,
     r"{dt}: line 1: expected one JSON object per line \(odgt\), got a list \(a COCO-style JSON file"),
    ("ch-gt-is-coco", "crowdhuman", json.dumps(CP_GT), None, [], 1, r"{gt}: line 1: no 'ID' \(a COCO-style JSON"),
    ("cp-gt-is-odgt", "citypersons", _odgt(CH_GT), None, [], 1, r"{gt}: one JSON object per line \(a CrowdHuman odgt"),
    ("cp-dt-is-odgt", "citypersons", None, _odgt(CH_DT), [], 1, r"{dt}: one JSON object per line \(a CrowdHuman odgt"),
    ("cp-dt-is-one-odgt-line", "citypersons", None, json.dumps(CH_DT[0]), [], 1,
     r"{dt}: expected a JSON list of detections, got an object \(a CrowdHuman odgt line"),
    ("cp-dt-is-gt", "citypersons", None, json.dumps(CP_GT), [], 1, r"{dt}: .*got an object \(a ground-truth file"),
    ("cp-gt-is-results", "citypersons", json.dumps(CP_DT), None, [], 1,
     r"{gt}: expected a COCO-style object .*results"),
    # the metrics.json of --out / MissRateEvaluator: was "no 'images', a list is needed (write [] for none)"
    ("cp-gt-is-metrics", "citypersons", json.dumps(METRICS), None, [], 1,
     r"{gt}: this is a metrics file \(written by --out or MissRateEvaluator\), not a COCO-style ground truth"),
    ("caltech-gt-is-metrics", "caltech", json.dumps(METRICS), None, [], 1, r"{gt}: this is a metrics file"),
    ("cp-gt-is-other-json", "citypersons", json.dumps({"dataset": "x", "thresholds": [0.5]}), None, [], 1,
     r"{gt}: expected a COCO-style ground truth with 'images' and 'annotations', got an object with neither "
     r"\(its keys: 'dataset', 'thresholds'\)$"),
    ("cp-dt-is-metrics", "citypersons", None, json.dumps(METRICS), [], 1,
     r"{dt}: expected a JSON list of detections, got an object \(a metrics file written by --out or"),
    ("caltech-gt-is-citypersons", "caltech", json.dumps(CP_GT), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): no 'label' string .*--protocol citypersons"),
    ("caltech-gt-label-number", "caltech", json.dumps(_mut(CAL_GT, ["annotations", 0, "label"], 1)), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): no 'label' string"),
]

# --- options out of range or for another protocol
for value in ("-1", "0", "nan", "inf", "abc"):
    CASES.append((f"error-analysis-{value}", "crowdhuman", None, None, ["--error-analysis", value], 2,
                  r"--error-analysis: .*(positive finite number|not a number)"))
CASES += [
    ("box-visible-citypersons", "citypersons", None, None, ["--box", "visible"], 2,
     r"--box applies to crowdhuman only, not --protocol citypersons"),
    ("no-ji-caltech", "caltech", json.dumps(CAL_GT), json.dumps(CP_DT[:1]), ["--no-ji"], 2,
     r"--no-ji applies to crowdhuman only"),
    ("setups-crowdhuman", "crowdhuman", None, None, ["--setups", "Reasonable"], 2,
     r"--setups applies to citypersons / caltech only"),
    ("no-det-resize-citypersons", "citypersons", None, None, ["--no-det-resize"], 2,
     r"--no-det-resize applies to caltech"),
    ("mode-matlab-crowdhuman", "crowdhuman", None, None, ["--mode", "matlab"], 2,
     r"--mode applies to citypersons only"),
    # the usual value given explicitly is refused too (was ignored: caltech scored by the toolbox's rule, no word)
    ("mode-official-caltech", "caltech", json.dumps(CAL_GT), json.dumps(CP_DT[:1]), ["--mode", "official"], 2,
     r"--mode applies to citypersons only, not --protocol caltech"),
    ("mode-official-crowdhuman", "crowdhuman", None, None, ["--mode", "official"], 2,
     r"--mode applies to citypersons only"),
    ("box-full-citypersons", "citypersons", None, None, ["--box", "full"], 2, r"--box applies to crowdhuman only"),
    ("mode-unknown", "citypersons", None, None, ["--mode", "fast"], 2, r"--mode: invalid choice"),
    ("box-unknown", "crowdhuman", None, None, ["--box", "head"], 2, r"--box: invalid choice"),
    ("setups-unknown", "citypersons", None, None, ["--setups", "Tiny"], 1, r"unknown setup 'Tiny'"),
    ("setups-empty-range", "citypersons", None, None, ["--setups", "X:100:50:0:1"], 1, r"setup 'X:100:50:0:1'"),
    ("setups-twice", "citypersons", None, None, ["--setups", "All", "All"], 2, r"--setups names a setup twice"),
]


def _run(tmp_path, capsys, protocol, gt_text, dt_text, args):
    good = {"crowdhuman": (_odgt(CH_GT), _odgt(CH_DT), "gt.odgt", "dt.odgt"),
            "citypersons": (json.dumps(CP_GT), json.dumps(CP_DT), "gt.json", "dt.json"),
            "caltech": (json.dumps(CAL_GT), json.dumps(CP_DT[:1]), "gt.json", "dt.json")}[protocol]
    gt, dt = tmp_path / good[2], tmp_path / good[3]
    gt.write_bytes((good[0] if gt_text is None else gt_text).encode("utf-8", "surrogateescape"))
    dt.write_bytes((good[1] if dt_text is None else dt_text).encode("utf-8", "surrogateescape"))
    try:
        rc = main(["--protocol", protocol, "--gt", str(gt), "--dt", str(dt), *args])
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    return rc, err, str(gt), str(dt)


@pytest.mark.parametrize("case,protocol,gt_text,dt_text,args,status,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_naming_file_record_and_problem(
    tmp_path, capsys, case, protocol, gt_text, dt_text, args, status, pattern
):
    rc, err, gt, dt = _run(tmp_path, capsys, protocol, gt_text, dt_text, args)
    assert rc == status, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    if status == 2 and lines and lines[0].startswith("usage:"):
        lines = [x for x in lines if not x.startswith(("usage:", " "))]  # argparse: usage lines, then one error
    message = "\n".join(lines)
    assert len(lines) == 1, message
    assert re.search(pattern.replace("{gt}", re.escape(gt)).replace("{dt}", re.escape(dt)), message), message


def test_the_good_inputs_of_the_catalogue_evaluate(tmp_path, capsys):
    for protocol in ("crowdhuman", "citypersons", "caltech"):
        rc, err, _, _ = _run(tmp_path, capsys, protocol, None, None, [])
        assert rc == 0 and err == "", (protocol, err)


def test_missing_file_directory_and_same_file(tmp_path, capsys):
    gt = tmp_path / "gt.odgt"
    gt.write_text(_odgt(CH_GT))
    assert main(["--protocol", "crowdhuman", "--gt", str(gt), "--dt", str(tmp_path / "nope.odgt")]) == 1
    assert "nope.odgt" in capsys.readouterr().err
    assert main(["--protocol", "crowdhuman", "--gt", str(gt), "--dt", str(tmp_path)]) == 2  # an option error
    assert str(tmp_path) in capsys.readouterr().err
    assert main(["--protocol", "crowdhuman", "--gt", str(gt), "--dt", str(gt)]) == 2
    assert "--gt and --dt are the same file" in capsys.readouterr().err


def test_unwritable_out_and_plot_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "gt.odgt").write_text(_odgt(CH_GT))
    (tmp_path / "dt.odgt").write_text(_odgt(CH_DT))
    (tmp_path / "file").write_text("x")
    base = ["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt", str(tmp_path / "dt.odgt")]
    assert main(base + ["--out", str(tmp_path)]) == 2  # a directory (found before the evaluation since trial 5)
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(base + ["--plot", str(tmp_path / "file")]) == 2  # a file where the folder should be
    err = capsys.readouterr().err
    assert "file" in err and len(err.strip().splitlines()) == 1
