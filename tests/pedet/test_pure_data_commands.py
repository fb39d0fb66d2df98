"""
The pure-data commands (converters, evaluator, synthetic generator) import neither torch nor Detectron2, answer
--help fast and print no warning on a normal run; `import pedet.data` still registers every data set in a
Detectron2 program, whichever of pedet.data and detectron2.data is imported first.
"""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")

# run `python -m <module> <args>` in-process through runpy, then report what got imported
_PROBE = """
import runpy, sys, json
sys.argv = [{module!r}] + {args!r}
code = 0
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code or 0
print(json.dumps({{"code": code, "torch": "torch" in sys.modules, "detectron2": "detectron2" in sys.modules}}),
      file=sys.__stderr__)
"""


def _run(module, args, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(module=module, args=list(args))], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    *noise, report = proc.stderr.strip().splitlines()
    return json.loads(report), noise, proc.stdout


@pytest.mark.parametrize("module", ["pedet.data.convert", "pedet.data.synthetic", "pedet.evaluation"])
def test_help_of_pure_data_commands_imports_no_torch(module):
    report, noise, out = _run(module, ["--help"])
    assert report == {"code": 0, "torch": False, "detectron2": False}
    assert noise == [] and "usage: python -m " + module in out


def test_normal_runs_of_pure_data_commands_import_no_torch_and_print_no_warning(tmp_path):
    odgt = os.path.join(FIXTURES, "crowdhuman", "CrowdHuman", "annotation_val.odgt")
    images = os.path.join(FIXTURES, "crowdhuman", "CrowdHuman", "Images")
    dt = tmp_path / "dt.odgt"  # detections: the ground-truth full boxes with score 1
    with open(odgt) as f:
        records = [json.loads(line) for line in f if line.strip()]
    sizes = {r["ID"]: Image.open(os.path.join(images, r["ID"] + ".jpg")).size for r in records}  # (width, height)
    dt.write_text("".join(json.dumps({"ID": r["ID"], "width": sizes[r["ID"]][0], "height": sizes[r["ID"]][1],
                                      "dtboxes": [{"box": b["fbox"], "score": 1.0, "tag": 1} for b in r["gtboxes"]]})
                          + "\n" for r in records))
    runs = [
        ("pedet.data.convert", ["odgt2coco", odgt, str(tmp_path / "val.json"), "--image-root", images]),
        ("pedet.data.convert", ["coco2odgt", str(tmp_path / "val.json"), str(tmp_path / "val.odgt")]),
        ("pedet.data.convert", ["citypersons2coco",
                                os.path.join(FIXTURES, "citypersons", "cityscapes", "gtBboxCityPersons", "val"),
                                str(tmp_path / "cp.json")]),
        ("pedet.evaluation", ["--protocol", "crowdhuman", "--gt", odgt, "--dt", str(dt),
                              "--out", str(tmp_path / "m.json")]),
        ("pedet.data.synthetic", ["--out", str(tmp_path / "syn"), "--num-images", "2", "--size", "48", "48"]),
    ]
    for module, args in runs:
        report, noise, _ = _run(module, args)
        assert report == {"code": 0, "torch": False, "detectron2": False}, (module, args)
        assert noise == [], (module, noise)


@pytest.mark.parametrize("order", ["pedet.data first", "detectron2.data first", "pedet.data.convert first"])
def test_import_pedet_data_registers_the_data_sets_in_any_order(order):
    first = {"pedet.data first": "import pedet.data\nfrom detectron2.data import DatasetCatalog",
             "detectron2.data first": "from detectron2.data import DatasetCatalog\nimport pedet.data",
             "pedet.data.convert first": "import pedet.data.convert\nfrom detectron2.data import DatasetCatalog"}
    code = first[order] + "\nnames = DatasetCatalog.list()\n" \
        "print(all(n in names for n in ('crowdhuman_val', 'citypersons_val', 'caltech_test', " \
        "'tju_ped_campus_val', 'synthetic_crowd_train', 'synthetic_crowd_val_d50')))"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.strip() == "True", proc.stderr


def test_pedet_data_no_longer_imports_pedet_engine():
    code = "import sys, pedet.data, detectron2.data; pedet.data.build_pedestrian_train_loader; " \
           "print(sorted(m for m in sys.modules if m.startswith('pedet.engine')))"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.strip() == "[]", proc.stderr
