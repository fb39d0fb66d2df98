"""MissRateEvaluator: Detectron2 integration, output files, CLI equivalence, 2-process gloo gathering."""
import json
import math
import os
import socket

import pytest
import torch

from detectron2.evaluation import inference_on_dataset

from pedet.evaluation import MissRateEvaluator, build_miss_rate_evaluator
from pedet.evaluation.__main__ import main as cli_main

from . import d2_fixtures as fx


class _FakeModel(torch.nn.Module):
    """Returns the fixture's outputs for the batch's image ids (a stand-in for a detector in eval mode)."""

    def forward(self, batch):
        return [fx.fake_outputs(int(x["image_id"][3:])) for x in batch]


def _run(name, protocol, out_dir, **kw):
    fx.register(name, protocol)
    ev = MissRateEvaluator(name, output_dir=out_dir, distributed=False, **kw)
    loader = [[{"image_id": f"img{i}"}] for i in range(fx.NUM_IMAGES)]
    return inference_on_dataset(_FakeModel(), loader, ev)


def test_crowdhuman_results_files_and_cli_equivalence(tmp_path):
    out = str(tmp_path / "eval")
    res = _run("pedet_eval_test_ch", "crowdhuman", out)
    assert list(res) == ["crowdhuman"] and set(res["crowdhuman"]) == {"AP", "mMR", "Recall", "JI"}
    for f in ("predictions.odgt", "coco_instances_results.json", "metrics.json", "metrics.md",
              "mr_fppi_crowdhuman.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]  # atomic writes leave no temp file
    # no top-100 cap: all 120+ person boxes of every image are in the odgt (the class-1 box is dropped)
    with open(os.path.join(out, "predictions.odgt")) as f:
        n = [len(json.loads(line)["dtboxes"]) for line in f]
    assert n == [len(fx.fake_outputs(i)["instances"]) - 1 for i in range(fx.NUM_IMAGES)] and min(n) >= 120
    assert 0 < res["crowdhuman"]["mMR"] < 100 and 0 < res["crowdhuman"]["AP"] < 100
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert {"background", "localization", "crowd"} == set(metrics["details"]["error_analysis"]["all"]
                                                          ["false_positives"])
    # the offline command on the same ground truth and the evaluator's own prediction file: identical numbers
    fx.write_gt_files(str(tmp_path))
    cli_out = str(tmp_path / "cli.json")
    assert cli_main(["--protocol", "crowdhuman", "--gt", str(tmp_path / "gt.odgt"), "--dt",
                     os.path.join(out, "predictions.odgt"), "--out", cli_out]) == 0
    cli = json.load(open(cli_out))
    for k in ("AP", "mMR", "Recall", "JI"):
        assert cli[k] == metrics[k] and res["crowdhuman"][k] == pytest.approx(100 * cli[k], abs=1e-12)


def test_citypersons_percent_undefined_setup_and_cli_equivalence(tmp_path):
    out = str(tmp_path / "eval")
    res = _run("pedet_eval_test_cp", "citypersons", out, setups=["Reasonable", "All", "Heavy", "none:300:400:0:1"])
    r = res["citypersons"]
    assert set(r) == {"Reasonable", "All", "Heavy", "none"} and math.isnan(r["none"])  # no GT 300-400 px tall
    assert all(0 < r[k] < 100 for k in ("Reasonable", "All", "Heavy"))
    fx.write_gt_files(str(tmp_path))
    cli_out = str(tmp_path / "cli.json")
    assert cli_main(["--protocol", "citypersons", "--gt", str(tmp_path / "val_gt.json"), "--dt",
                     os.path.join(out, "coco_instances_results.json"), "--setups", "Reasonable", "All", "Heavy",
                     "none:300:400:0:1", "--out", cli_out]) == 0
    cli = json.load(open(cli_out))
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert cli["none"] is None and metrics["none"] is None
    for k in ("Reasonable", "All", "Heavy"):
        assert cli[k] == metrics[k] and r[k] == pytest.approx(100 * cli[k], abs=1e-12)
    assert cli["details"]["mode"] == "official"


def test_build_from_config_reads_the_metadata_protocol(tmp_path):
    from detectron2.config import get_cfg

    from pedet.evaluation.evaluator import add_miss_rate_config

    fx.register("pedet_eval_test_cfg", "citypersons")
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = build_miss_rate_evaluator(cfg, "pedet_eval_test_cfg")
    assert ev._protocol == "citypersons" and ev._output_dir.endswith(os.path.join("inference", "pedet_eval_test_cfg"))
    add_miss_rate_config(cfg)
    cfg.TEST.MISS_RATE.PROTOCOL = "crowdhuman"
    cfg.TEST.MISS_RATE.JI_ON = False
    ev = build_miss_rate_evaluator(cfg, "pedet_eval_test_cfg", str(tmp_path / "x"))
    assert ev._protocol == "crowdhuman" and ev._compute_ji is False


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_give_the_numbers_of_one(tmp_path):
    # pedet.engine.launch is detectron2's launch with a gloo path (v0.6 asserts CUDA and NCCL).
    from pedet.engine.launch import launch

    one = str(tmp_path / "one.json")
    two = str(tmp_path / "two.json")
    fx.distributed_worker("pedet_eval_test_dist", "crowdhuman", one)  # world size 1, distributed=True is a no-op
    launch(fx.distributed_worker, 2, dist_url=f"tcp://127.0.0.1:{_free_port()}",
           args=("pedet_eval_test_dist", "crowdhuman", two), backend="gloo")
    a, b = json.load(open(one)), json.load(open(two))
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["results"] == b["results"]
