"""
Third bad-input trial of ``python -m pedet.evaluation`` and ``MissRateEvaluator`` (issue 11): inputs neither earlier
catalogue (test_bad_input.py, test_bad_input_fresh.py, test_evaluator_bad_input.py) tried. Image ids beyond 2**53 and
ids written as 1.0 in the fast-path layout of a COCO results file, annotation ids beyond 64 bits, subset bounds
"-inf" / "nan" / "1_0", an --out that names a folder or the --plot folder, CityPersons annotations whose missing keys
decide what they count as, a 1e308-px detection; in the Detectron2 path, inputs without image_id, numpy image ids,
predictions of other classes and a CityPersons split registered with a training rule. Representative passes: byte-
order marks and Windows / classic Mac line ends in both files, unicode paths.
"""
import copy
import json
import logging
import re

import numpy as np
import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.__main__ import main
from pedet.evaluation.io import EvalInputError, EvalInputWarning

from .test_bad_input import CAL_GT, CH_DT, CH_GT, CP_DT, CP_GT, _mut, _odgt, _run


def _lines(err):
    return [x for x in err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]


# (case id, protocol, GT text or None = the good one, DT text or None, extra args, exit status, regex on stderr)
BIG = 2 ** 53
GT_BIG = {"images": [{"id": BIG, "width": 2048, "height": 1024}, {"id": BIG + 1, "width": 2048, "height": 1024}],
          "annotations": [{"id": 1, "image_id": BIG + 1, "category_id": 1, "bbox": [100, 100, 41, 100],
                           "height": 100, "vis_ratio": 1.0, "ignore": 0}]}
CASES = [
    # the fast path of COCO results read "1.0" as image 1, which the plain path (same file, indented) refuses
    ("cp-dt-image-id-1.0-canonical", "citypersons", None, json.dumps(_mut(CP_DT, [0, "image_id"], 1.0)), [], 1,
     r"{dt}: detection 0: 'image_id' is a number \(1.0\), not a string or an integer"),
    ("cp-dt-category-id-1.0-canonical", "citypersons", None, json.dumps(_mut(CP_DT, [0, "category_id"], 1.0)), [], 1,
     r"{dt}: detection 0: 'category_id' is a number \(1.0\), not an integer"),
    # was "could not evaluate ...: OverflowError: Python int too large to convert to C long"
    ("cp-gt-annotation-id-2**63", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "id"], 2 ** 63)), None, [],
     1, r"{gt}: annotation 9223372036854775808 \(image 1\): 'id' 9223372036854775808 is beyond the 64-bit integer"),
    # subset bounds: "nan" was "empty range", "1_0" was read as 10
    ("setup-nan", "citypersons", None, None, ["--setups", "X:nan:100:0:1"], 1,
     r"setup 'X:nan:100:0:1': 'nan' is not a number \(NAME:HMIN:HMAX:VMIN:VMAX\)"),
    ("setup-underscore", "citypersons", None, None, ["--setups", "X:1_0:100:0:1"], 1,
     r"setup 'X:1_0:100:0:1': '1_0' is not a number"),
    # twelfth trial: a subset no box can fall in (visibility in percent) gave "undefined" without a word
    *[(f"setup-{protocol}-{setup}", protocol, None, None, ["--setups", setup], 1,
       rf"setup '{setup}': no box can fall in it \(heights are >= 0 pixels, visible fractions in \[0, 1\], e.g. "
       r"0.65 rather than 65\)") for protocol, setup in (("citypersons", "X:50:inf:65:100"),
                                                          ("caltech", "X:50:inf:1.01:inf"),
                                                          ("citypersons", "X:50:100:-1:-0.5"),
                                                          ("caltech", "X:-inf:-1:0:1"))],
    # outputs: a trailing "/" wrote a FILE of that name; --out = --plot wrote metrics, then "[Errno 17] File exists"
    ("out-names-a-folder", "citypersons", None, None, ["--out", "{tmp}/results/"], 2,
     r"--out is the JSON file to write, not a folder \(.*/results/\); give a file name, e.g. .*/results/metrics.json"),
    ("out-is-plot", "crowdhuman", None, None, ["--out", "{tmp}/same", "--plot", "{tmp}/same"], 2,
     r"--out and --plot are the same path \(.*/same\); --out is a JSON file, --plot a folder for the PNGs"),
    # thirteenth trial: the zeros a crash leaves at the end of a growing file were "invalid JSON (Expecting value: ...)"
    *[(f"{protocol}-{role}-nul-padded-end", protocol, nul if role == "gt" else None, nul if role == "dt" else None, [],
       1, rf"{{{role}}}: {where}NUL bytes in the text \(the zero-filled end of a file cut short by a crash or a power "
       r"loss\? write the file again\)$")
      for protocol, role, nul, where in (("crowdhuman", "dt", _odgt(CH_DT) + "\x00" * 64, "line 3: "),
                                         ("crowdhuman", "gt", _odgt(CH_GT) + "\x00" * 64, "line 3: "),
                                         ("citypersons", "gt", json.dumps(CP_GT) + "\x00" * 64, ""))],
    # NUL bytes elsewhere: "invalid JSON ('utf-16-be' codec can't decode byte 0x7d in position 76: truncated data)"
    ("crowdhuman-dt-nul-bytes-first", "crowdhuman", None, "\x00\x01" + _odgt(CH_DT), [], 1,
     r"{dt}: line 1: invalid JSON \(NUL bytes in the text: a binary file\?\)$"),
    # thirteenth trial: --out named as the PNG --plot writes was written, then replaced by the PNG (exit status 0)
    *[(f"out-is-the-plot-png-{protocol}", protocol, None, None, ["--out", out, "--plot", "{tmp}/results"], 2,
       rf"--out is the PNG that --plot writes \(.*/results/mr_fppi_{protocol}.png\); give the JSON file another name")
      for protocol, out in (("crowdhuman", "{tmp}/results/mr_fppi_crowdhuman.png"),
                            ("citypersons", "{tmp}/results/../results/./mr_fppi_citypersons.png"))],
    # fourteenth trial: one output inside the other was written first, then the second failed after the evaluation
    # ("Not a directory" for --plot under --out; "is a folder, not a file" for --out under the PNG's name)
    ("plot-inside-out", "crowdhuman", None, None, ["--out", "{tmp}/results", "--plot", "{tmp}/results/plots"], 2,
     r"^error: --plot '.*/results/plots' is inside --out '.*/results', the JSON file written first; give the folder "
     r"for the PNGs another path$"),
    ("out-inside-the-plot-png", "citypersons", None, None,
     ["--out", "{tmp}/results/mr_fppi_citypersons.png/m.json", "--plot", "{tmp}/results"], 2,
     r"^error: --out '.*/results/mr_fppi_citypersons.png/m.json' is inside '.*/results/mr_fppi_citypersons.png', the "
     r"PNG that --plot writes; give the JSON file another path$"),
    # CityPersons GT read as the official script reads it: now with a counted warning (the data loader had one)
    ("cp-gt-no-ignore-warns", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "ignore"])), None, [], 0,
     r"warning: {gt}: 1 of 1 annotation\(s\) have no 'ignore': regular pedestrians \(as the official script reads "
     r"them\); first: annotation 1 \(image 1\)"),
    ("cp-gt-no-visibility-warns", "citypersons",
     json.dumps(_mut(_mut(CP_GT, ["annotations", 0, "vis_bbox"]), ["annotations", 0, "vis_ratio"])), None, [], 0,
     r"warning: {gt}: 1 of 1 annotation\(s\) have neither 'vis_bbox' nor 'vis_ratio': fully visible"),
    # Caltech keeps every detection (one class): a results file of a multi-class detector added its cars silently
    *[(f"cal-dt-two-categories-warns-indent-{indent}", "caltech", None,
       json.dumps([CP_DT[0], dict(CP_DT[0], category_id=3)], indent=indent), [], 0,
       r"warning: {dt}: the detections have 2 category ids \(1, 3\); all are evaluated as persons") for indent in
      (None, 1)],
    ("cp-gt-iscrowd-without-ignore-warns", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "iscrowd"], 1)),
     None, [], 0, r"warning: {gt}: 1 of 1 annotation\(s\) have 'iscrowd' 1 but 'ignore' 0: regular pedestrians "
                  r"\(the official script reads 'ignore' only; pedet's data loader makes them ignore regions\)"),
    # fourth trial: GT boxes no detection can match were kept as regular GT (unavoidable misses), while the data
    # loaders drop them with a counted warning; the command now drops them alike
    ("ch-gt-box-outside-the-image-warns", "crowdhuman",
     _odgt([_mut(CH_GT[0], ["gtboxes", 0, "fbox"], [150, 10, 20, 40]), CH_GT[1]]), None, [], 0,
     r"warning: {gt}: dropped 1 box\(es\) that no detection can match \(1 entirely outside the image; the reference "
     r"scripts keep them, a regular one as a miss that no detector can avoid\); first: image 'a', box "
     r"\[150.0, 10.0, 20.0, 40.0\] \(XYWH\)$"),
    ("ch-gt-box-outside-by-the-detection-file's-size-warns", "crowdhuman",  # the size only comes with the detections
     _odgt([{"ID": "a", "gtboxes": [{"tag": "person", "fbox": [10, -40, 20, 40]}]}, {"ID": "b", "gtboxes": []}]), None,
     [], 0, r"warning: {gt}: dropped 1 box\(es\) .*\(1 entirely outside the image; "),
    ("ch-gt-visible-box-of-zero-width-warns", "crowdhuman",
     _odgt([_mut(CH_GT[0], ["gtboxes", 0, "vbox"], [10, 10, 0, 30]), CH_GT[1]]), None, ["--box", "visible"], 0,
     r"warning: {gt}: dropped 1 box\(es\) .*\(1 of zero width or height; "),
    ("cp-gt-box-outside-the-image-warns", "citypersons",
     json.dumps(_mut(CP_GT, ["annotations", 0, "bbox"], [3000, 100, 41, 100])), None, [], 0,
     r"warning: {gt}: dropped 1 box\(es\) .*\(1 entirely outside the image; .*first: image 1"),
    ("cal-gt-ignore-box-of-zero-height-warns", "caltech", json.dumps(_mut(_mut(
        CAL_GT, ["annotations", 0, "bbox"], [100, 100, 41, 0]), ["annotations", 0, "label"], "people")), None, [], 0,
     r"warning: {gt}: dropped 1 box\(es\) .*\(1 of zero width or height; "),
    # the detection file's image size was ignored without a word when the GT had one (detections of resized images)
    ("ch-dt-image-size-differs-from-the-gt-warns", "crowdhuman", None,
     _odgt([_mut(CH_DT[0], ["width"], 50), CH_DT[1]]), [], 0,
     r"warning: {dt}: line 1 \(image 'a'\): the width / height of 1 image\(s\) in the detection file differ from "
     r"the ground truth's \(50 x 80 here, 100 x 80 there; first shown\); the ground truth's are used"),
    # eighth trial: a detection file cut short at a line end (a crash of the writer) left images without detections
    # without a word (the format has a line per image; MissRateEvaluator counted its images without predictions)
    ("ch-dt-without-the-line-of-an-image-warns", "crowdhuman", None, _odgt(CH_DT[:1]), [], 0,
     r"^warning: {dt}: 1 of 2 ground-truth image\(s\) have no detection line \(first: 'b'\); they count as images "
     r"without detections \(a file cut short\?\)$"),
    # binary files: "invalid JSON ('utf-16-be' codec can't decode ...)" / "Expecting value: line 1 column 1"
    ("ch-gt-utf-16", "crowdhuman", _odgt(CH_GT).encode("utf-16").decode("utf-8", "surrogateescape"), None, [], 1,
     r"{gt}: a UTF-16 text file; JSON and .odgt files must be UTF-8"),
    # a key twice in one object of the ground truth: every JSON reader keeps the last value without a word
    ("ch-gt-tag-twice-in-a-box", "crowdhuman",
     _odgt(CH_GT).replace('"tag": "person",', '"tag": "person", "tag": "mask",'), None, [], 1,
     r"{gt}: line 1: an object has the key 'tag' twice \('person', then 'mask'\); JSON readers keep the last value "
     r"without a word"),
    ("cp-gt-annotations-twice", "citypersons", json.dumps(CP_GT)[:-1] + ', "annotations": []}', None, [], 1,
     r"{gt}: an object has the key 'annotations' twice"),
    ("cp-dt-is-a-pth-zip", "citypersons", None, "PK\x03\x04" + "\x00" * 40, [], 1,
     r"{dt}: a compressed archive \(gzip / zip; a .pth checkpoint or predictions file is one\), not a JSON text file"),
    # fifth trial: a key twice in a DETECTION file kept the last value without a word (the ground truth was checked)
    ("ch-dt-score-twice-in-a-box", "crowdhuman", None,
     _odgt(CH_DT).replace('"score": 0.4,', '"score": 0.4, "score": 0.01,'), [], 1,
     r"{dt}: line 1: an object has the key 'score' twice \(0.4, then 0.01\); JSON readers keep the last value"),
    ("ch-dt-width-twice-on-a-canonical-line", "crowdhuman", None,  # the fast path's part outside "dtboxes"
     _odgt(CH_DT).replace('"width": 100,', '"width": 100, "width": 50,', 1), [], 1,
     r"{dt}: line 1: an object \(ID 'a'\) has the key 'width' twice \(100, then 50\)"),
    ("ch-dt-dtboxes-twice", "crowdhuman", None,
     _odgt(CH_DT).replace('"dtboxes": []', '"dtboxes": [], "dtboxes": [{"box": [1, 2, 3, 4], "score": 0.5}]'), [], 1,
     r"{dt}: line 2: an object \(ID 'b'\) has the key 'dtboxes' twice \(\[\], then \[\{'box'"),
    *[(f"cp-dt-{key}-twice-indent-{indent}", "citypersons", None,
       json.dumps(CP_DT, indent=indent).replace(f'"{key}": {value}', f'"{key}": {value}, "{key}": {other}', 1), [], 1,
       rf"{{dt}}: an object \(image_id {image_id}\) has the key '{key}' twice \({value}, then {other}\)")
      for key, value, other, image_id in (("score", 0.9, 0.1, 1), ("image_id", 1, 2, 2), ("category_id", 1, 0, 1))
      for indent in (None, 1)],
    # fifth trial: the evaluator read what the data loaders refuse (one rule now: an error in both)
    ("ch-gt-tag-Person", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "tag"], "Person")), None, [], 1,
     r"{gt}: line 1 \(image 'a'\): gtboxes 0: unknown tag 'Person'; expected one of person / mask \(tags are "
     r"case-sensitive\)$"),  # was an ignore region with a warning: the one person of the set no longer counted
    ("ch-gt-extra-null", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "extra"], None)), None, [], 1,
     r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'extra' must be an object whose 'ignore' is 0 or 1, got null$"),
    *[(f"ch-gt-vbox-{name}", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "vbox"], value)), None, [], 1,
       rf"{{gt}}: line 1 \(image 'a'\): gtboxes 0: 'vbox' must be \[x, y, w, h\] \(4 numbers\), got {got}$")
      for name, value, got in (("null", None, "null"), ("empty", [], "0 values"), ("zero", 0, "a number"),
                               ("false", False, "a boolean"))],  # each was read as "no visible box" (= fbox)
    ("ch-gt-fbox-null-visible-mode", "crowdhuman", _odgt(_mut(CH_GT, [0, "gtboxes", 0, "fbox"], None)), None,
     ["--box", "visible"], 1, r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'fbox' must be \[x, y, w, h\]"),
    *[(f"cp-gt-{key}-null", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, key], None)), None, [], 1,
       rf"{{gt}}: annotation 1 \(image 1\): '{key}' is null; write the value or leave the key out$")
      for key in ("vis_bbox", "height", "vis_ratio")],  # each was read as absent (its default), without a word
    ("cp-gt-iscrowd-null", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "iscrowd"], None)), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): 'iscrowd' is null; write the value or leave the key out$"),
    ("cp-gt-iscrowd-2", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "iscrowd"], 2)), None, [], 1,
     r"{gt}: annotation 1 \(image 1\): 'iscrowd' is 2, not 0 or 1$"),  # the loaders refuse it too
    ("cp-gt-category-id-null", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "category_id"], None)), None,
     [], 1, r"{gt}: annotation 1 \(image 1\): 'category_id' is null"),  # was dropped as "category None, not 1"
    # fifth trial: an annotation's image_id true or 1.0 found image 1 (a dict lookup: True == 1.0 == 1), silently
    *[(f"cp-gt-annotation-image-id-{name}", "citypersons", json.dumps(_mut(CP_GT, ["annotations", 0, "image_id"], v)),
       None, [], 1, rf"{{gt}}: annotation 1: 'image_id' is {kind} \({v!r}\), not a string or an integer$")
      for name, v, kind in (("true", True, "a boolean"), ("1.0", 1.0, "a number"))],
    # fifth trial: [] as every box of a file was "0 boxes for 2 counted" / "2 image ids, 0 boxes, 2 scores"
    ("ch-gt-fbox-empty-in-every-box", "crowdhuman", _odgt([{"ID": "a", "width": 100, "height": 80, "gtboxes": [
        {"tag": "person", "fbox": []}, {"tag": "mask", "fbox": []}]}, CH_GT[1]]), None, [], 1,
     r"{gt}: line 1 \(image 'a'\): gtboxes 0: 'fbox' must be \[x, y, w, h\] \(4 numbers\), got 0 values$"),
    ("cp-dt-bbox-empty-in-every-detection", "citypersons", None,
     json.dumps([dict(d, bbox=[]) for d in CP_DT]), [], 1,
     r"{dt}: detection in image 1: 'bbox' must be \[x, y, w, h\] \(4 numbers\), got 0 values$"),
    # fifth trial: a 5 000-character image id filled the one-line error
    ("ch-gt-long-id-is-shortened", "crowdhuman",
     _odgt([_mut(_mut(CH_GT[0], ["ID"], "x" * 5000), ["gtboxes", 0, "fbox"], [1, 2, "3", 4]), CH_GT[1]]), None, [], 1,
     r"^error: {gt}: line 1 \(image 'x{29}\.\.\.x{14}'\): gtboxes 0: 'fbox' is a string \('3'\), not a number$"),
    # fifth trial: outputs that cannot be written failed after the evaluation ("[Errno 17] File exists: <the GT>")
    ("gt-empty-string", "crowdhuman", None, None, ["--gt", ""], 2, r"^error: --gt must not be empty$"),  # last wins
    ("out-under-a-file", "crowdhuman", None, None, ["--out", "{tmp}/gt.odgt/m.json"], 2,
     r"^error: --out '.*/gt.odgt/m.json': '.*/gt.odgt' is a file, not a folder$"),
    ("plot-under-a-file", "citypersons", None, None, ["--plot", "{tmp}/dt.json/plots"], 2,
     r"^error: --plot '.*/dt.json/plots': '.*/dt.json' is a file, not a folder$"),
    ("out-is-a-folder", "citypersons", None, None, ["--out", "{tmp}"], 2,
     r"^error: --out '.*' is a folder; give the JSON file to write, e.g. .*/metrics.json$"),
    # sixth trial: "[Errno 21] Is a directory: '...'", naming neither the option nor the fix
    ("gt-is-a-folder", "crowdhuman", None, None, ["--gt", "{tmp}"], 2, r"^error: --gt '.*' is a folder; give the "
     r"ground-truth file$"),
    ("dt-is-a-folder", "citypersons", None, None, ["--dt", "{tmp}/"], 2, r"^error: --dt '.*/' is a folder; give the "
     r"detection file$"),
    # sixth trial: "invalid JSON (Extra data: line 2 column 1 ...)" and "(truncated, or not JSON?) (Extra data: ...)"
    ("dt-json-lines", "citypersons", None, "\n".join(json.dumps(d) for d in CP_DT), [], 1,
     r"^error: {dt}: one JSON value per line \(JSON Lines\), not one JSON document: write the detections as one list"),
    ("gt-two-documents", "citypersons", json.dumps(CP_GT) + json.dumps(CP_GT), None, [], 1,
     r"^error: {gt}: line 1 column \d+: more data after the end of the JSON document \(two documents in one file\?\)$"),
    # fifteenth trial: an .odgt of indented JSON (the command's own metrics.json, pretty-printed records) was
    # "line 1: invalid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    *[(f"ch-{role}-one-value-over-several-lines-{what}", "crowdhuman", text if role == "gt" else None,
       text if role == "dt" else None, [], 1,
       rf"^error: {{{role}}}: lines {first}-{last} are one JSON value \(a pretty-printed file, e.g. the metrics.json "
       r"that --out writes\), not one JSON object per line \(.odgt\)$")
      for role, what, text, first, last in (
          ("dt", "metrics", json.dumps({"AP": 0.5, "details": {"protocol": "crowdhuman"}}, indent=1), 1, 6),
          ("gt", "records", "\n".join(json.dumps(r, indent=1) for r in CH_GT), 1, 43),
          ("gt", "second-record", _odgt(CH_GT[:1]) + json.dumps(CH_GT[1], indent=1), 2, 7))],
    # a line cut short was "line 2: invalid JSON (... line 1 column 26 (char 25))": two line numbers, no hint
    *[(f"ch-{role}-line-cut-short", "crowdhuman", text if role == "gt" else None, text if role == "dt" else None, [],
       1, rf"^error: {{{role}}}: line 2: invalid JSON at column \d+: .* \(the line ends early: cut short by a "
          r"crash\?\)$")
      for role, text in (("gt", _odgt(CH_GT)[:-20]), ("dt", _odgt(CH_DT)[:-20]))],
]


@pytest.mark.parametrize("case,protocol,gt_text,dt_text,args,status,pattern", CASES, ids=[c[0] for c in CASES])
def test_third_trial_bad_input_gives_one_line(tmp_path, capsys, case, protocol, gt_text, dt_text, args, status,
                                              pattern):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    rc, err, gt, dt = _run(tmp_path, capsys, protocol, gt_text, dt_text, args)
    assert rc == status, err
    assert "Traceback" not in err
    lines = _lines(err)
    assert len(lines) == 1, err
    assert re.search(pattern.replace("{gt}", re.escape(gt)).replace("{dt}", re.escape(dt)), lines[0]), lines[0]
    assert not (tmp_path / "results").exists()


def _evaluate_files(tmp_path, capsys, protocol, gt_text, dt_text, args):
    """(exit status, stdout, stderr) of the command on the catalogue's good files with GT / DT text replaced."""
    ext = "odgt" if protocol == "crowdhuman" else "json"
    good_gt, good_dt = {"crowdhuman": (_odgt(CH_GT), _odgt(CH_DT)),
                        "citypersons": (json.dumps(CP_GT), json.dumps(CP_DT))}[protocol]
    (tmp_path / f"gt.{ext}").write_text(good_gt if gt_text is None else gt_text)
    (tmp_path / f"dt.{ext}").write_text(good_dt if dt_text is None else dt_text)
    rc = main(["--protocol", protocol, "--gt", str(tmp_path / f"gt.{ext}"), "--dt", str(tmp_path / f"dt.{ext}"), *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _table_row(out: str, name: str) -> list:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [name])


@pytest.mark.parametrize("indent", [None, 1])
def test_image_ids_beyond_2_53_keep_their_detections(tmp_path, capsys, indent):
    """Before: the fast path compared ids as float64; 2**53 + 1 became 2**53, a perfect detection counted as FP."""
    rc, out, err = _evaluate_files(tmp_path, capsys, "citypersons", json.dumps(GT_BIG), json.dumps(
        [{"image_id": BIG + 1, "category_id": 1, "bbox": [100, 100, 41, 100], "score": 0.9}], indent=indent),
        ["--setups", "Reasonable"])
    assert rc == 0 and err == "", err
    assert _table_row(out, "Reasonable")[1] == "0.00"


FAST_PATH_TEXTS = {  # detection files in the layout json.dumps writes (the readers' fast path); {d} = a detection
    "cp 20-digit image id": ("citypersons", '[{"image_id": 10000000000000000001, "category_id": 1, "bbox": '
                                            '[100, 100, 41, 100], "score": 0.9}]'),  # was named 10000000000000000000
    "cp score with exponents": ("citypersons", '[{"image_id": 1, "category_id": 1, "bbox": [1.0e2, 100, 41, 100], '
                                               '"score": 9E-1}]'),
    "cp score 1e400": ("citypersons", '[{"image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], '
                                      '"score": 1e400}]'),
    # json keeps the last of two equal keys; the fast path read the first "dtboxes" (a detection the plain path has not)
    "ch dtboxes twice": ("crowdhuman", '{"ID": "a", "dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}], '
                                       '"dtboxes": []}'),
    "ch ID after dtboxes": ("crowdhuman", '{"dtboxes": [{"box": [10, 10, 20, 40], "score": 0.9}], "ID": "a"}'),
}


@pytest.mark.parametrize("protocol, text", list(FAST_PATH_TEXTS.values()), ids=list(FAST_PATH_TEXTS))
def test_fast_and_plain_paths_read_a_detection_file_alike(tmp_path, capsys, protocol, text):
    """The same file with one more line break (which sends it to the plain path) gives the same output."""
    plain = text.replace("[{", "[\n {", 1) if protocol == "citypersons" else text.replace(", ", ",  ")
    results = [_evaluate_files(tmp_path, capsys, protocol, None, t + "\n", []) for t in (text, plain)]
    assert results[0] == results[1]
    assert "Traceback" not in results[0][2] and len(_lines(results[0][2])) <= 1


def test_setup_lower_bound_minus_inf_means_no_lower_bound(tmp_path, capsys):
    """Before: "-inf" was read as +inf (the range [inf, inf]: nothing evaluated, exit 0)."""
    rows = []
    for setup in ("X:-inf:inf:-inf:inf", "X:0:inf:0:inf"):
        rc, out, err = _evaluate_files(tmp_path, capsys, "citypersons", None, None, ["--setups", setup])
        assert rc == 0 and err == "", err
        rows.append(_table_row(out, "X"))
    assert rows[0][1] == rows[1][1] == "0.00"
    assert rows[0][2:4] == ["[-inf,", "inf]"] and rows[0][6:] == rows[1][6:]  # same MR, GT, ignore and detections


@pytest.mark.parametrize("protocol", ["citypersons", "caltech"])
def test_detection_near_the_float_limit_prints_no_numpy_warning(tmp_path, capsys, protocol):
    """A 1e308-px box is valid and matches nothing; numpy's "overflow encountered in multiply" leaked to stderr."""
    dt = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1e308, 1e308], "score": 0.9}]
    gt = CP_GT if protocol == "citypersons" else {"images": [{"id": 1, "width": 640, "height": 480}], "annotations": [
        {"id": 1, "image_id": 1, "bbox": [100, 100, 41, 100], "label": "person"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    rc = main(["--protocol", protocol, "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"),
               "--setups", "Reasonable"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == "", err
    assert _table_row(out, "Reasonable")[1] == "100.00"


@pytest.mark.parametrize("side", ["gt", "dt"])
@pytest.mark.parametrize("variant", ["UTF-8 BOM", "CRLF", "CR only"])
def test_crowdhuman_bom_and_line_ends_give_the_same_result(tmp_path, capsys, side, variant):
    good = _odgt(CH_GT if side == "gt" else CH_DT)
    text = {"UTF-8 BOM": "\ufeff" + good, "CRLF": good.replace("\n", "\r\n"), "CR only": good.replace("\n", "\r")}
    outs = []
    for t in (good, text[variant]):
        rc, out, err = _evaluate_files(tmp_path, capsys, "crowdhuman", *((t, None) if side == "gt" else (None, t)), [])
        assert rc == 0 and err == "", err
        outs.append(out)
    assert outs[0] == outs[1]


def test_unicode_paths_and_ids(tmp_path, capsys):
    folder = tmp_path / "Daten ä 行人"
    folder.mkdir()
    (folder / "gt v1.odgt").write_text(_odgt([dict(CH_GT[0], ID="ä 1")]))
    (folder / "dt v1.odgt").write_text(_odgt([dict(CH_DT[0], ID="ä 1")]))
    rc = main(["--protocol", "crowdhuman", "--gt", str(folder / "gt v1.odgt"), "--dt", str(folder / "dt v1.odgt"),
               "--out", str(folder / "m ä.json"), "--plot", str(folder / "plots ä")])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((folder / "m ä.json").read_text())["Recall"] == 1.0
    assert (folder / "plots ä" / "mr_fppi_crowdhuman.png").is_file()


# ---------------------------------------------------------------------------------------------------------------------
# MissRateEvaluator (the Detectron2 path)
# ---------------------------------------------------------------------------------------------------------------------
def _ann(**changes):
    a = {"bbox": [10.0, 10.0, 20.0, 40.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0,
         "ignore": 0, "vis_bbox": [10.0, 10.0, 20.0, 40.0], "vis_ratio": 1.0, "height": 40.0}
    a.update(changes)
    return a


def _output(boxes=((10.0, 10.0, 30.0, 50.0),), scores=(0.9,), classes=None):
    inst = Instances((80, 100))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.tensor(scores, dtype=torch.float32)
    if classes is not None:
        inst.pred_classes = torch.tensor(classes)
    return {"instances": inst}


_names = iter(range(10**6))


def _evaluate(dicts, predictions, protocol="crowdhuman", **kwargs):
    name = f"_bad_input_third_{next(_names)}"
    DatasetCatalog.register(name, lambda: copy.deepcopy(dicts))
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type=protocol)
    ev = MissRateEvaluator(name, distributed=False, **kwargs)
    ev.reset()
    for inp, output in predictions:
        ev.process([inp], [output])
    return ev.evaluate()


def _record(image_id="a", annotations=None, height=80, width=100):
    return {"file_name": "a.jpg", "image_id": image_id, "height": height, "width": width,
            "annotations": [_ann()] if annotations is None else annotations}


def test_input_without_image_id_is_an_error_naming_its_keys():
    """Before: KeyError: 'image_id' from inside process()."""
    with pytest.raises(EvalInputError, match=r"^MissRateEvaluator: an input has no 'image_id' \(the dataset mapper "
                                             r"must keep it: keys \['file_name', 'height'\]\)"):
        _evaluate([_record()], [({"file_name": "a.jpg", "height": 80}, _output())])


@pytest.mark.parametrize("dataset_id, predicted_id", [(np.int64(5), np.int64(5)), (5, np.int64(5)),
                                                      (np.int32(5), 5)])
def test_numpy_integer_image_ids_are_integers(dataset_id, predicted_id):
    """Before: "'image_id' np.int64(5) is not a string or an integer" (or "not in the ground truth")."""
    result = _evaluate([_record(image_id=dataset_id)], [({"image_id": predicted_id}, _output())])
    assert result["crowdhuman"]["Recall"] == 100.0


def test_predictions_of_other_classes_are_counted(caplog):
    """Before: a model whose person class is 1 got mMR 100 % without a word."""
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        result = _evaluate([_record()], [({"image_id": "a"}, _output(boxes=((10.0, 10.0, 30.0, 50.0),) * 3,
                                                                     scores=(0.9, 0.8, 0.7), classes=[1, 0, 2]))])
    assert result["crowdhuman"]["Recall"] == 100.0
    assert [r.getMessage() for r in caplog.records] == [
        "2 of 3 predicted boxes have a class other than person_class=0 (classes [1, 2]); they are not evaluated"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pedet.evaluation.evaluator"):
        result = _evaluate([_record()], [({"image_id": "a"}, _output(classes=[1]))])
    assert result["crowdhuman"]["mMR"] == 100.0
    assert caplog.records[0].getMessage().endswith("; no box is left: is person_class right?")


def test_training_rule_ignores_are_regular_ground_truth_for_the_protocol():
    """
    citypersons_train marks pedestrians below 50 px as ignore boxes (the training rule); evaluating that set gave 'All'
    0 % for a detector that misses a 30-px pedestrian. The protocol's 'All' (h >= 20) counts it: 50 %, as on the same
    GT without the rule.
    """
    small = _ann(bbox=[10.0, 10.0, 15.0, 30.0], vis_bbox=[10.0, 10.0, 15.0, 30.0], height=30.0)
    tall = _ann(bbox=[60.0, 10.0, 30.0, 80.0], vis_bbox=[60.0, 10.0, 30.0, 80.0], height=80.0)
    by_rule = dict(small, category_id=-1, ignore=1, ignore_reason="height")
    hit = [({"image_id": "a"}, _output(boxes=((60.0, 10.0, 90.0, 90.0),)))]
    plain = _evaluate([_record(annotations=[small, tall], height=200, width=200)], hit, "citypersons", setups=["All"])
    with pytest.warns(EvalInputWarning, match=r"1 pedestrian box\(es\) are ignore boxes only by the data set's "
                                              r"training rule .*; first: dataset '.*': image 'a'$"):
        ruled = _evaluate([_record(annotations=[by_rule, tall], height=200, width=200)], hit, "citypersons",
                          setups=["All"])
    assert plain["citypersons"]["All"] == ruled["citypersons"]["All"] == 50.0
    labelled = dict(by_rule, ignore_reason="label")  # a rider or a group stays an ignore region
    assert _evaluate([_record(annotations=[labelled, tall], height=200, width=200)], hit, "citypersons",
                     setups=["All"])["citypersons"]["All"] == 0.0


@pytest.mark.parametrize("kwargs, message", [
    # before: list("Reasonable") -> "unknown setup 'R'"
    ({"protocol": "citypersons", "setups": "Reasonable"},
     r"setups must be a list of subset names, got the string 'Reasonable'"),
    # ninth trial: a dict's keys were quietly taken as the subsets, a set's in no fixed order
    ({"protocol": "citypersons", "setups": {"Reasonable": 1, "Heavy": 2}},
     r"setups must be a list of subset names, got a dict \{'Reasonable': 1, 'Heavy': 2\}$"),
    ({"protocol": "citypersons", "setups": {"Reasonable"}},
     r"setups must be a list of subset names, got a set \{'Reasonable'\}$"),
    # before: "dataset '...' has evaluator_type 'CrowdHuman'" (the dataset's is 'crowdhuman')
    ({"protocol": "CrowdHuman"}, r"protocol='CrowdHuman' is not one of \('citypersons', 'crowdhuman', 'caltech'\)"),
    ({"error_analysis_fppi": True}, r"error_analysis_fppi must be a positive finite FPPI"),  # was read as 1.0
    ({"output_dir": "{tmp}/a_file"}, r"output_dir '.*/a_file' exists and is not a folder"),  # was after a whole pass
])
def test_bad_arguments_are_refused_when_the_evaluator_is_built(tmp_path, kwargs, message):
    (tmp_path / "a_file").write_text("x")
    kwargs = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in kwargs.items()}
    name = f"_bad_input_third_{next(_names)}"
    DatasetCatalog.register(name, lambda: [_record()])
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    with pytest.raises(ValueError, match=rf"^MissRateEvaluator: {message}"):
        MissRateEvaluator(name, distributed=False, **kwargs)
