"""
Smoke test of the crowd benchmark scripts (issues 6 and 14): benchmarks/crowd_quality.py and benchmarks/latency_vs_density.py
at their smoke budgets, in this process (one torch / Detectron2 import for both), plus a hand-computed case of the
duplicate count. The smoke numbers are not checked for quality (a model trained one iteration finds nobody); the
test checks that every method row, test set and metric key is written, that the run records are reused and the
summary and verdicts are rebuilt from them alone, and that the latency benchmark's candidate
injection really feeds the post-processing (OPL keeps every candidate, NMS removes the jittered copies).
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", os.path.join(REPO, "benchmarks", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cq():
    return _load("crowd_quality")


@pytest.fixture(scope="module")
def lat():
    return _load("latency_vs_density")


def test_duplicates_per_matched_gt_hand_case(cq):
    from pedet.evaluation.io import build_ground_truth, detections_from_arrays

    # one image, GT a = [0, 0, 10, 10] and GT b = [100, 0, 10, 10] (XYWH)
    gt = build_ground_truth(["img"], [2], np.array([[0, 0, 10, 10], [100, 0, 10, 10]], dtype=float))
    dets = np.array([[0, 0, 10, 10],   # 0.9: matches a (IoU 1)
                     [1, 0, 10, 10],   # 0.8: IoU with a = 9*10 / (100 + 100 - 90) = 0.82 >= 0.5, a taken: dup
                     [0, 0, 10, 10],   # 0.2: below the 0.3 score bound -> not counted
                     [100, 0, 10, 10],  # 0.5: matches b
                     [50, 0, 10, 10]], dtype=float)  # 0.4: IoU 0 with both -> plain FP, not a duplicate
    dt = detections_from_arrays(gt, [("img", dets, np.array([0.9, 0.8, 0.2, 0.5, 0.4]))])
    got = cq.duplicates_per_matched_gt(gt, dt)
    # 1 duplicate / 2 matched GTs = 0.5
    assert got == {"duplicates": 1, "matched_gt": 2, "dup_per_matched_gt": 0.5}


def test_method_with_missing_config_key_is_reported_not_available(cq, monkeypatch):
    import pedet.data  # noqa: F401

    monkeypatch.setitem(cq.METHODS, "needs_missing_key", dict(project="opl", requires="MODEL.OPL.NOT_A_KEY_YET"))
    with pytest.raises(cq.MissingConfigKey, match="MODEL.OPL.NOT_A_KEY_YET"):
        cq.build_cfg("needs_missing_key", cq.BUDGETS["smoke"], 0, "/tmp/unused")
    # the same budget keys for every method: one OPL and one R-CNN config agree on all shared settings
    a, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, "/tmp/unused", "/tmp/backbone.pkl")
    b, _ = cq.build_cfg("reploss_both", cq.BUDGETS["cpu"], 0, "/tmp/unused", "/tmp/backbone.pkl")
    for key in ("MODEL.WEIGHTS", "MODEL.BACKBONE.FREEZE_AT", "MODEL.RESNETS.DEPTH", "MODEL.RESNETS.NORM",
                "MODEL.FPN.OUT_CHANNELS", "MODEL.PIXEL_STD",
                "INPUT.MIN_SIZE_TRAIN", "INPUT.MIN_SIZE_TEST", "SOLVER.MAX_ITER", "SOLVER.STEPS",
                "SOLVER.IMS_PER_BATCH", "SOLVER.WARMUP_ITERS", "DATASETS.TRAIN"):
        node_a, node_b = a, b
        for part in key.split("."):
            node_a, node_b = node_a[part], node_b[part]
        assert node_a == node_b, key
    # 900 iterations: LR steps at int(0.8 * 900) = 720 and int(0.93 * 900) = 837
    assert tuple(a.SOLVER.STEPS) == (720, 837) and a.SOLVER.MAX_ITER == 900
    # the base LR is per family, in the 1 : 2 ratio of Detectron2's FCOS and Faster R-CNN recipes
    assert (a.SOLVER.BASE_LR, b.SOLVER.BASE_LR) == (0.02, 0.04)
    f, _ = cq.build_cfg("fcos_nms", cq.BUDGETS["cpu"], 0, "/tmp/unused", "/tmp/backbone.pkl")
    assert f.SOLVER.BASE_LR == a.SOLVER.BASE_LR  # FCOS + NMS and OPL: the same LR
    # the method-defining keys differ: DeFCN's One-to-M_i rule is the only change of opl_full_defcn_rule
    c, _ = cq.build_cfg("opl_full_defcn_rule", cq.BUDGETS["cpu"], 0, "/tmp/unused", "/tmp/backbone.pkl")
    assert c.MODEL.OPL.C2F_ASSIGNER == "defcn_aux" and a.MODEL.OPL.C2F_ASSIGNER == "topm"
    assert cq.config_digest(c, "opl") != cq.config_digest(a, "opl")
    a2, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, "/tmp/elsewhere", "/tmp/other.pkl")
    assert cq.config_digest(a2, "opl") == cq.config_digest(a, "opl")  # output dir and weights path are not in it
    # every FCOS-style row starts its regression conv at bias 1 (live side of the ReLU); R-CNN rows have no such key
    assert a.MODEL.OPL.BBOX_PRED_BIAS == 1.0 and c.MODEL.OPL.BBOX_PRED_BIAS == 1.0
    # every one-to-one (POTO) row, DeFCN's included, weighs POTO's quality towards the classifier's score (alpha 0.2,
    # not DeFCN's 0.8); FCOS + NMS, whose assigner does not read the key, keeps the default, so its records stand
    d, _ = cq.build_cfg("defcn", cq.BUDGETS["cpu"], 0, "/tmp/unused", "/tmp/backbone.pkl")
    assert cq.REGIME_POTO_ALPHA == 0.2
    assert a.MODEL.OPL.POTO_ALPHA == c.MODEL.OPL.POTO_ALPHA == d.MODEL.OPL.POTO_ALPHA == 0.2
    assert f.MODEL.OPL.MAIN_ASSIGNER == "fcos" and f.MODEL.OPL.POTO_ALPHA == 0.8
    # the pre-trained backbone: Detectron2's recipe for it (FrozenBN, stem and res2 frozen)
    assert a.MODEL.WEIGHTS == "/tmp/backbone.pkl" and a.MODEL.RESNETS.NORM == "FrozenBN"
    assert a.MODEL.BACKBONE.FREEZE_AT == 2
    assert a.MODEL.OPL.NUM_CONVS == 2  # the tiny head, not the R-50 recipe's 4 (ablation _BASE_ not merged)


def test_config_digest_ignores_keys_added_later_with_their_default(cq, monkeypatch):
    import opl

    cfg, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, "/tmp/unused", "")
    before = cq.config_digest(cfg, "opl")
    original = opl.add_opl_config

    def with_new_key(c):
        original(c)
        c.MODEL.OPL.SOME_LATER_KEY = 3

    monkeypatch.setattr(opl, "add_opl_config", with_new_key)
    later, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, "/tmp/unused", "")
    assert cq.config_digest(later, "opl") == before
    later.defrost()
    later.MODEL.OPL.SOME_LATER_KEY = 4  # a value away from the default is part of the digest
    assert cq.config_digest(later, "opl") != before


def test_crowd_quality_smoke_writes_every_row_and_metric(cq, tmp_path, monkeypatch):
    out = tmp_path / "cq"
    result = cq.main(["--budget", "smoke", "--out", str(out)])
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["budget"] == "smoke" and on_disk["sets"] == ["sparse", "medium", "crowd"]
    expected = {"fcos_nms_nms0.5", "fcos_nms_nms0.6", "opl_baseline", "opl_baseline_nms0.6", "opl_c2f", "opl_cpn",
                "opl_full", "opl_full_nms0.6", "opl_full_defcn_rule", "defcn",
                "faster_rcnn", "reploss_repgt", "reploss_repbox", "reploss_both", "opl_reploss"}
    assert set(on_disk["rows"]) == expected
    for row, r in on_disk["rows"].items():
        assert r["status"] == "ok", row
        assert len(r["runs"]) == 1 and r["runs"][0]["seed"] == 0
        for d in ("sparse", "medium", "crowd"):
            assert set(r["aggregate"][d]) == set(cq.METRIC_KEYS)
            for k in ("ch_AP", "ch_mMR", "ch_Recall", "ch_JI", "cp_All"):
                v = r["aggregate"][d][k]["mean"]
                assert v is not None and 0.0 <= v <= 100.0, (row, d, k, v)
            assert r["runs"][0]["sets"][d]["detail"]["num_gt"] > 0
            assert len(r["runs"][0]["curves"][d]) == len(cq.CURVE_FPPI)
    assert result["rows"].keys() == on_disk["rows"].keys()
    md = (out / "results.md").read_text()
    assert "NOT a result" in md and "| opl_full | crowd |" in md
    assert (out / on_disk["plot_all"]).stat().st_size > 1000  # every row in one comparison figure
    # one small record per method and seed; the calibration rows carry their learning curve
    records = sorted(os.listdir(out / "records"))
    assert records == sorted(f"{m}_seed0.json" for m in cq.METHODS)
    for name in records:
        rec = json.loads((out / "records" / name).read_text())
        assert rec["train_minutes"] >= 0 and len(rec["config_digest"]) == 16 and rec["commit"]
        assert rec["pretext"]["iters"] == 2
        assert ("learning_curve" in rec) == (rec["method"] in cq.CALIBRATION)
    curve = json.loads((out / "records" / "faster_rcnn_seed0.json").read_text())["learning_curve"]
    assert [p["iter"] for p in curve] == [2] and set(curve[0]) == {"iter", "total_loss", "AP", "mMR"}
    # the last curve point is the final model with the reported row's test settings (FCOS: NMS 0.5, not the
    # config's 0.6), so it equals that row's sparse-set result
    for method, row in (("faster_rcnn", "faster_rcnn"), ("fcos_nms", "fcos_nms_nms0.5")):
        rec = json.loads((out / "records" / f"{method}_seed0.json").read_text())
        assert rec["learning_curve_row"] == row
        final = rec["rows"][row]["sets"]["sparse"]["metrics"]
        assert (rec["learning_curve"][-1]["AP"], rec["learning_curve"][-1]["mMR"]) == (final["ch_AP"], final["ch_mMR"])

    # a second call (e.g. a later session on a new machine with the committed records) trains nothing
    def no_training(self):
        raise AssertionError("retrained although the record exists")

    for project in ("opl", "reploss"):
        monkeypatch.setattr(cq._import_train_net(project).Trainer, "train", no_training)
    again = cq.main(["--budget", "smoke", "--out", str(tmp_path / "elsewhere"), "--records", str(out / "records")])
    assert again["rows"] == json.loads(json.dumps(result["rows"]))

    # the summary is rebuilt from the records alone
    summary = cq.main(["--budget", "smoke", "--out", str(out), "--summary"])
    assert set(summary["calibration"]) == {"faster_rcnn", "fcos_nms"}
    assert summary["calibration"]["faster_rcnn"]["seeds"] == [0]
    assert set(summary["comparison"]) == {"sparse", "medium", "crowd"}
    assert summary["comparison"]["crowd"]["opl_full"]["seeds"] == [0]
    # one seed only: no interval, no verdict
    assert {v["verdict"] for v in summary["verdicts"]} == {"not run (fewer than 2 common seeds)"}
    assert (out / "crowd_cpu_learning_curves.png").stat().st_size > 1000


def test_paired_difference_and_verdicts_hand_computed(cq):
    # per-seed differences -3, -5, -4: mean -4, sample std 1, half width t(0.975, 2) * 1 / sqrt(3) = 4.3027 / 1.7321
    pd = cq.paired_difference({0: 40.0, 1: 45.0, 2: 50.0}, {0: 43.0, 1: 50.0, 2: 54.0})
    assert pd["per_seed"] == [-3.0, -5.0, -4.0] and pd["difference"] == -4.0
    half = 4.302652729911275 / 3 ** 0.5
    np.testing.assert_allclose(pd["interval"], [-4.0 - half, -4.0 + half], rtol=1e-9)
    assert cq.verdict(pd["interval"], -1) == "confirmed"  # [-6.48, -1.52] lies below 0
    assert cq.verdict([-6.5, -1.5], -1) == "confirmed"
    assert cq.verdict([-2.0, 1.0], -1) == "not confirmed"
    assert cq.verdict([0.5, 3.0], -1) == "contradicted"
    assert cq.verdict([0.5, 3.0], +1) == "confirmed"
    # only the seeds both rows have are paired; fewer than two: no interval
    assert cq.paired_difference({0: 1.0, 1: 2.0}, {1: 0.0, 2: 5.0}) is None
    # the claims name rows that exist
    rows = {r for m, spec in cq.METHODS.items() for r in
            [cq._row_name(m, v[0]) for v in spec.get("variants", [("", {})])]}
    for claim in cq.CLAIMS:
        assert claim[1] in rows and claim[2] in rows, claim


def test_calibration_target_counts_the_runs_cpu_minutes(cq, tmp_path):
    # hand-made records of the calibration row faster_rcnn: the target (AP >= 90, mMR <= 20, <= 15 minutes on one
    # thread) is checked on the process's CPU minutes; wall minutes inflated by other jobs do not fail it
    metrics = {k: 0.0 for k in cq.METRIC_KEYS}
    for seed, ap, mmr, wall, cpu in [(0, 95.0, 16.0, 17.6, 13.2), (1, 95.0, 16.0, 14.0, 15.5), (2, 89.0, 16.0, 9.0, 9.0),
                                     (3, 95.0, 20.5, 9.0, 9.0), (4, 95.0, 20.0, 15.0, 15.0)]:
        sets = {d: {"metrics": dict(metrics, ch_AP=ap, ch_mMR=mmr)} for d in cq.SETS}
        rec = {"method": "faster_rcnn", "seed": seed, "train_minutes": wall, "train_cpu_minutes": cpu,
               "rows": {"faster_rcnn": {"seed": seed, "sets": sets}}}
        (tmp_path / f"faster_rcnn_seed{seed}.json").write_text(json.dumps(rec))
    summary, _, _ = cq.build_summary(str(tmp_path), None)
    c = summary["calibration"]["faster_rcnn"]
    assert c["train_minutes"] == [17.6, 14.0, 9.0, 9.0, 15.0] and c["train_cpu_minutes"] == [13.2, 15.5, 9.0, 9.0, 15.0]
    assert c["target_met_per_seed"] == [True, False, False, False, True] and c["target_met"] is False


def test_job_order_and_claims(cq, tmp_path):
    jobs = cq.job_order(["opl_full", "faster_rcnn", "fcos_nms", "defcn"], [0, 1])
    # calibration rows first, every seed; then every method once per seed
    assert jobs == [("faster_rcnn", 0), ("faster_rcnn", 1), ("fcos_nms", 0), ("fcos_nms", 1),
                    ("opl_full", 0), ("defcn", 0), ("opl_full", 1), ("defcn", 1)]
    out = str(tmp_path)
    assert cq._claim(out, "opl_full", 0)
    assert cq._claim(out, "opl_full", 0)  # our own claim
    with open(os.path.join(out, "claims", "defcn_seed0.claim"), "w") as f:
        f.write(str(os.getppid()))  # a live process (pytest's parent) holds it
    assert not cq._claim(out, "defcn", 0)
    with open(os.path.join(out, "claims", "defcn_seed1.claim"), "w") as f:
        f.write("999999999")  # a process that is gone: taken over
    assert cq._claim(out, "defcn", 1)
    # a killed worker that its parent has not reaped yet (a zombie) holds no claim either
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # until it has exited (it stays a zombie: no wait() yet)
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.05)
    with open(os.path.join(out, "claims", "opl_full_seed1.claim"), "w") as f:
        f.write(str(child.pid))
    assert cq._claim(out, "opl_full", 1)
    child.wait()
    cq._release(out, "opl_full", 0)
    assert not os.path.exists(os.path.join(out, "claims", "opl_full_seed0.claim"))


def test_sample_step_curve(cq):
    fppi = np.array([0.01, 0.1, 1.0])
    mr = np.array([0.9, 0.5, 0.2])
    # before the first point: 1; then the value of the last point at or below each FPPI
    assert cq.sample_step_curve(fppi, mr, at=np.array([0.001, 0.01, 0.05, 0.1, 5.0])) == [1.0, 0.9, 0.9, 0.5, 0.2]


def test_latency_smoke_writes_every_model_and_density(lat, tmp_path):
    out = tmp_path / "lat"
    result = lat.main(["--budget", "smoke", "--out", str(out), "--cpu-only"])
    on_disk = json.loads((out / "latency.json").read_text())
    rows = on_disk["rows"]["cpu"]
    assert set(rows) == {"opl_no_nms", "fcos_nms", "faster_rcnn_nms"}
    for m, per_n in rows.items():
        assert set(per_n) == {str(n) for n in (10, 25, 50, 100, 200, 300)}
        for n, r in per_n.items():
            for key in ("postprocess_ms", "e2e_ms", "candidates", "detections_out", "persons_annotated"):
                assert key in r, (m, n, key)
            assert 0 < r["postprocess_ms"] < r["e2e_ms"]
            assert len(r["e2e_ms_runs"]) == on_disk["iters"] == 2
    # 10 persons placed: every annotated person gets K = 10 candidates
    r10 = {m: rows[m]["10"] for m in rows}
    assert r10["opl_no_nms"]["candidates"] == 10 * r10["opl_no_nms"]["persons_annotated"]
    # no NMS: OPL returns every candidate; NMS (FCOS 0.6, Faster R-CNN 0.5) merges jittered copies of a person
    assert r10["opl_no_nms"]["detections_out"] == r10["opl_no_nms"]["candidates"]
    assert r10["fcos_nms"]["detections_out"] < r10["fcos_nms"]["candidates"]
    assert r10["faster_rcnn_nms"]["detections_out"] < r10["faster_rcnn_nms"]["candidates"]
    assert (out / "latency_vs_density.png").stat().st_size > 1000
    assert result["k_per_person"] == 10


def test_pretext_backbone_is_loaded_into_every_detector_and_reused(cq, tmp_path):
    import pickle

    from detectron2.checkpoint import DetectionCheckpointer

    import pedet.data  # noqa: F401

    cq.register_smoke_sets(str(tmp_path / "data"))
    budget = cq.BUDGETS["smoke"]
    path = cq.pretext_weights(budget, str(tmp_path))
    info = json.loads(open(path + ".json").read())
    assert info["iters"] == 2 and info["crop"] == 32 and 0.0 <= info["held_out_accuracy"] <= 1.0
    mtime = os.path.getmtime(path)
    assert cq.pretext_weights(budget, str(tmp_path)) == path and os.path.getmtime(path) == mtime  # reused
    with open(path, "rb") as f:
        trunk = pickle.load(f)["model"]
    assert "res5.1.conv2.weight" in trunk and not any(k.startswith("fc.") for k in trunk)
    for method in ("opl_full", "faster_rcnn"):
        cfg, Trainer = cq.build_cfg(method, budget, 0, str(tmp_path / method), path)
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
        resnet = model.backbone.bottom_up
        for key in ("stem.conv1.weight", "res3.0.conv1.weight", "res5.1.conv2.weight"):
            got = dict(resnet.named_parameters())[key].detach().numpy()
            np.testing.assert_array_equal(got, trunk[key], err_msg=f"{method}: {key} not loaded")
        # FrozenBN took the pre-trained statistics
        np.testing.assert_array_equal(resnet.res2[0].conv1.norm.running_mean.numpy(),
                                      trunk["res2.0.conv1.norm.running_mean"])


def test_test_variant_added_later_is_evaluated_on_the_stored_model_without_training(cq, tmp_path, monkeypatch):
    budget = dict(cq.BUDGETS["smoke"], save=True)  # keep model_final.pth
    monkeypatch.setitem(cq.BUDGETS, "smoke", budget)
    out = str(tmp_path / "cq")
    full = dict(cq.METHODS["opl_full"])
    monkeypatch.setitem(cq.METHODS, "opl_full", dict(full, variants=[("", {})]))
    first = cq.main(["--budget", "smoke", "--methods", "opl_full", "--out", out])
    assert set(first["rows"]) == {"opl_full"}
    monkeypatch.setitem(cq.METHODS, "opl_full", full)  # now with the "nms0.6" variant

    def no_training(self):
        raise AssertionError("retrained although model_final.pth is stored")

    monkeypatch.setattr(cq._import_train_net("opl").Trainer, "train", no_training)
    second = cq.main(["--budget", "smoke", "--methods", "opl_full", "--out", out])
    assert set(second["rows"]) == {"opl_full", "opl_full_nms0.6"}
    # the stored row is untouched, the new one has the same training time and its own evaluation
    assert second["rows"]["opl_full"]["runs"] == first["rows"]["opl_full"]["runs"]
    new_run = second["rows"]["opl_full_nms0.6"]["runs"][0]
    assert new_run["train_minutes"] == first["rows"]["opl_full"]["runs"][0]["train_minutes"]
    assert set(new_run["sets"]) == {"sparse", "medium", "crowd"}
    stored = json.loads((tmp_path / "cq" / "records" / "opl_full_seed0.json").read_text())
    assert set(stored["rows"]) == {"opl_full", "opl_full_nms0.6"}


def test_top_false_positive_causes_hand_computed():
    ctf = _load("crowd_top_fp")
    # one 100x100 image: person A fully visible at (0,0,10,20); person B at (50,0,10,20) with visible box its top half;
    # person C 95..115 wide (three quarters outside the image); an ignore box that plays no part.
    dicts = [{"image_id": "img", "width": 100, "height": 100, "annotations": [
        {"bbox": [0, 0, 10, 20], "vis_bbox": [0, 0, 10, 20], "category_id": 0},
        {"bbox": [50, 0, 10, 20], "vis_bbox": [50, 0, 10, 10], "category_id": 0},
        {"bbox": [95, 50, 20, 40], "vis_bbox": [95, 50, 5, 40], "category_id": 0},
        {"bbox": [30, 30, 5, 5], "vis_bbox": [30, 30, 5, 5], "category_id": -1, "ignore": 1}]}]
    boxes = np.array([[0, 0, 10, 20],     # 0.9 TP on A
                      [1, 0, 10, 20],     # 0.8 IoU 0.82 with A (matched): duplicate
                      [50, 0, 10, 10],    # 0.7 IoU with B's full box 100/200 = 0.5 -> TP on B
                      [50, 0, 10, 9],     # 0.6 IoU 90/200 = 0.45 with B (taken), 0 with C: localization
                      [95, 50, 5, 40],    # 0.5 IoU with C's full box 200/800 = 0.25, C unmatched, C's visible box 1.0
                      [70, 70, 5, 5],     # 0.4 IoU 0 with all: background
                      [97, 50, 4, 20]],   # 0.3 IoU 80/800 = 0.1 with C (truncated), 60/220 with its visible box
                     dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    r = ctf.top_false_positives(dicts, [("img", boxes, scores)], top=10)
    assert r["num_gt"] == 3 and abs(r["truncated_gt_share"] - 1 / 3) < 1e-12
    assert r["causes"] == {"duplicate": 1, "visible part": 1, "localization, truncated GT": 1, "localization": 1,
                           "background": 1}
    assert r["recall_at_first_fp"] == 1 / 3 and r["recall_at_top_fp"] == 2 / 3


def test_main_job_config_is_the_benchmark_row_opl_full(cq):
    """tools/main_job.py trains projects/OPL/configs/opl_R18_crowd_cpu.yaml: the cpu budget's opl_full, key for key."""
    main_job = cq.project_defaults("opl")
    main_job.merge_from_file(os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_crowd_cpu.yaml"))
    bench, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, "/tmp/unused", "")
    a, b = cq._flatten(main_job), cq._flatten(bench)
    differ = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    # the main job evaluates on the medium set at the end of training; the benchmark evaluates every set itself
    assert differ == {"DATASETS.TEST", "OUTPUT_DIR"}
    assert a["DATASETS.TEST"] == ["synthetic_crowd_cpu_medium"]


def test_probe_overrides_change_only_the_named_budget_settings(cq):
    """--set KEY=VALUE (a probe of another regime): dotted keys into the budget, JSON values, typed; bad ones refused."""
    budget = json.loads(json.dumps(cq.BUDGETS["cpu"]))
    cq.set_budget_value(budget, "lr.opl=0.04")
    cq.set_budget_value(budget, "iters=600")
    assert budget["lr"] == {"opl": 0.04, "reploss": cq.BUDGETS["cpu"]["lr"]["reploss"]} and budget["iters"] == 600
    assert cq.BUDGETS["cpu"]["lr"]["opl"] == 0.02  # the budget itself is untouched
    cq.set_budget_value(budget, "lr.reploss=1")  # an int where a float is expected is accepted, as a float
    assert budget["lr"]["reploss"] == 1 and type(budget["lr"]["reploss"]) is float  # yacs refused the int
    for bad, message in [("lr.fcos=0.1", "no budget setting 'lr.fcos'"), ("iters=many", "iters is a int"),
                         ("iters", "expected KEY=VALUE"), ("iters.x=1", "'iters' is not a group"),
                         ("seed=1", "no budget setting 'seed'"),
                         # sixth bad-input trial: true was taken as an LR of 1.0; NaN reached yacs as a string
                         ("lr.opl=true", "lr.opl is a float, got True"), ("lr.opl=NaN", "must be a finite number"),
                         # ninth trial: a group's members were not checked: a string failed the probe's checks with a
                         # TypeError traceback, a missing one was named as the wrong setting, an extra one failed the
                         # pretext step (pretrain's keywords) or was ignored in silence
                         ('pretext={"iters": "a", "batch": 6, "crop": 32, "val_crops": 6, "val": "v"}',
                          "pretext.iters is a int, got 'a'"),
                         ('pretext={"iters": 2, "batch": 6, "crop": 32, "val_crops": 6}',
                          "pretext is a group of the settings ['batch', 'crop', 'iters', 'val', 'val_crops'], got "
                          "['batch', 'crop', 'iters', 'val_crops']"),
                         ('lr={"opl": 0.01, "reploss": 0.01, "fcos": 1}', "lr is a group of the settings ['opl', "
                                                                          "'reploss'], got ['fcos', 'opl', 'reploss']"),
                         ('lr={"opl": 0.01, "reploss": null}', "lr.reploss is a float, got None")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            cq.set_budget_value(budget, bad)


def test_probe_config_opts_reach_the_method_config_and_are_refused_where_they_do_not_apply(cq, tmp_path, capsys):
    """--opts KEY VALUE (a probe of a config value): last in the config, part of the budget key; checked per method."""
    budget = json.loads(json.dumps(cq.BUDGETS["cpu"]))
    budget["opts"] = ["MODEL.OPL.POTO_ALPHA", "0.8"]  # DeFCN's value again, over the regime's 0.2
    cfg, _ = cq.build_cfg("opl_full", budget, 0, str(tmp_path / "a"))
    plain, _ = cq.build_cfg("opl_full", cq.BUDGETS["cpu"], 0, str(tmp_path / "a"))
    assert (cfg.MODEL.OPL.POTO_ALPHA, plain.MODEL.OPL.POTO_ALPHA) == (0.8, 0.2)
    assert cq.config_digest(cfg, "opl") != cq.config_digest(plain, "opl")
    assert cq._budget_key(budget)["opts"] == ["MODEL.OPL.POTO_ALPHA", "0.8"] and "opts" not in cq._budget_key(cq.BUDGETS["cpu"])
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "metrics.json").write_text(json.dumps({"AP": 0.5, "details": {"protocol": "crowdhuman"}}))
    (tmp_path / "rec_rows").mkdir()
    (tmp_path / "rec_rows" / "opl_full_seed0.json").write_text(json.dumps({"method": "opl_full", "seed": 0,
                                                                          "rows": []}))
    (tmp_path / "rec_row").mkdir()  # fifth final data trial: a row that is a string, a ValueError from the summary
    rec = json.load(open(os.path.join(REPO, "benchmarks", "crowd_cpu", "runs", "opl_full_seed0.json")))
    rec["rows"][next(iter(rec["rows"]))] = "n/a"
    (tmp_path / "rec_row" / "opl_full_seed0.json").write_text(json.dumps(rec))
    # tenth final data trial: a metric NaN (JSON's NaN literal) or a string, a seed given as a string: ValueError /
    # TypeError tracebacks from the summary; a record of other budget settings: averaged with the budget's, in silence
    def sparse(r):
        return r["rows"][next(iter(r["rows"]))]["sets"]["sparse"]["metrics"]

    for name, edit in [("nan", lambda r: sparse(r).update(ch_AP=float("nan"))),
                       ("str", lambda r: sparse(r).update(ch_AP="94.8")),
                       ("seed", lambda r: r.update(seed="0")), ("budget", lambda r: None)]:
        rec = json.load(open(os.path.join(REPO, "benchmarks", "crowd_cpu", "runs", "opl_full_seed0.json")))
        edit(rec)
        (tmp_path / f"rec_{name}").mkdir()
        (tmp_path / f"rec_{name}" / "opl_full_seed0.json").write_text(json.dumps(rec))
    (tmp_path / "rec_copy").mkdir()  # a copy made by a file manager: the run was counted twice in the summary
    for name in ("opl_full_seed0.json", "opl_full_seed0 (copy).json"):
        shutil.copy(os.path.join(REPO, "benchmarks", "crowd_cpu", "runs", "opl_full_seed0.json"),
                    tmp_path / "rec_copy" / name)
    for argv, message in [(["--opts", "MODEL.OPL.POTO_ALPHA"], "odd count"),
                          (["--methods", "opl_full", "faster_rcnn", "--opts", "MODEL.OPL.POTO_ALPHA", "0.2"],
                           "not applicable to faster_rcnn's config"),
                          # fifth bad-input trial: 0 fell back to the budget's iterations; a negative seed failed in
                          # seed_all_rng after the pretext training; bad probe values failed (or trained nonsense,
                          # e.g. a negative warm-up factor) only in the run
                          (["--iters", "0"], "--iters 0: must be >= 1"),
                          (["--seeds", "0", "-1"], "--seeds -1: a seed must be in [0, 2**32)"),
                          (["--methods", "opl_full", "--set", "warmup=-1"],
                           "--set warmup=-1: opl_full's config: SOLVER.WARMUP_ITERS -1: must be >= 0"),
                          (["--methods", "faster_rcnn", "--opts", "SOLVER.WARMUP_FACTOR", "-1.0"],
                           "faster_rcnn's config: SOLVER.WARMUP_FACTOR -1.0: must be a finite number >= 0"),
                          # sixth bad-input trial: budget settings only the runs read failed after the pretext
                          # training (or, for --out a file, with a FileExistsError traceback)
                          (["--set", "pretext.crop=0"], "--set pretext.crop=0: pretext crop 0: must be >= 1"),
                          (["--set", "weights=imagenet"], "weights 'imagenet': must be '' (random init) or 'pretext'"),
                          (["--set", "seeds=[-1]"], "--set seeds=[-1]: seeds [-1]: give at least one, each in"),
                          (["--set", "val=nosuch_{d}"], "--set val=nosuch_{d}: nosuch_sparse: not a registered data"),
                          (["--set", "pretext.val=nosuch"], "pretext.val=nosuch: nosuch: not a registered data set"),
                          (["--out", str(tmp_path / "file.txt")], f"--out {tmp_path / 'file.txt'}: a file; give a"),
                          # ninth trial: a folder under a file was a NotADirectoryError traceback (--out) or failed
                          # when the first run's record was written (--records)
                          (["--out", str(tmp_path / "file.txt" / "o")],
                           f"--out {tmp_path / 'file.txt' / 'o'}: {tmp_path / 'file.txt'} is a file, not a folder"),
                          (["--records", str(tmp_path / "file.txt" / "r" / "s")],
                           f"--records {tmp_path / 'file.txt' / 'r' / 's'}: {tmp_path / 'file.txt'} is a file"),
                          # seventh bad-input trial: duplicates queued the same job twice (--force trained it twice)
                          (["--seeds", "0", "1", "0"], "--seeds 0 1 0: 0 given twice (one run per method and seed)"),
                          (["--methods", "opl_full", "opl_full"], "--methods opl_full opl_full: opl_full given twice"),
                          (["--set", "seeds=[0,0]"], "seeds [0, 0]: give at least one, each in [0, 2**32), each once"),
                          # seventh trial: --opts SEED ran every seed with one seed, in silence (records of seeds 0,
                          # 1, 2 from one run repeated); --opts OUTPUT_DIR put every run in one folder
                          (["--opts", "SEED", "5"], "--opts SEED: set per run by the benchmark (use --seeds)"),
                          (["--opts", "OUTPUT_DIR", str(tmp_path)], "--opts OUTPUT_DIR: set per run by the benchmark"),
                          # eighth trial: no held-out crop was a ValueError traceback at the start of the pretext step
                          (["--set", "pretext.val_crops=0"],
                           "--set pretext.val_crops=0: pretext val_crops 0: must be >= 1"),
                          # eighth trial: a negative count gave an empty curve, and --curves without curve points
                          # recorded none, both in silence
                          (["--set", "curve_points=-2"], "--set curve_points=-2: must be >= 0 (0 = no learning curve)"),
                          (["--curves", "--set", "curve_points=0"],
                           "--curves: the smoke budget records no learning curve (curve_points 0)"),
                          # tenth trial: more points than iterations recorded fewer, one at iteration 0, and an
                          # empty --out / --records fell back to the default folder, both in silence
                          (["--curves", "--set", "curve_points=100"],
                           "--set curve_points=100: more curve points than the 2 training iterations (one point"),
                          (["--budget", "cpu", "--iters", "3"],
                           "--iters 3: the budget's curve_points 6: more curve points than the 3 training iterations"),
                          (["--out", ""], "--out '': an empty folder name (leave the option out for the default)"),
                          (["--records", " "], "--records ' ': an empty folder name"),
                          (["--set", "iters=0"], "--set iters=0: must be >= 1"),
                          (["--summary", "--records", str(tmp_path / "none")],  # summarised no run, in silence
                           f"--summary: no run records (*.json) in {tmp_path / 'none'}"),
                          # thirteenth trial: a learning-curve set for runs that record no curve, ignored in silence
                          (["--methods", "opl_full", "--curve-set", "crowd"], "--curve-set crowd: no run records a "
                           "learning curve (the smoke budget's curve_points 1; curves are recorded for faster_rcnn, "
                           "fcos_nms or with --curves)"),
                          # fourteenth trial: every *.json of --records is read as a run record (the --out folder's
                          # results.json was, with a KeyError); --out ignored by a cpu-budget --summary, in silence
                          (["--records", str(tmp_path / "o" / ".." / "o")],
                           f"--records {tmp_path / 'o' / '..' / 'o'}: is the --out folder {tmp_path / 'o'}"),
                          (["--budget", "cpu", "--summary", "--records", str(tmp_path / "none")],
                           f"--out {tmp_path / 'o'}: not read by --summary of the cpu budget"),
                          # twenty-third trial: an evaluator's metrics.json among the records, a KeyError traceback
                          (["--summary", "--records", str(tmp_path / "rec")],
                           f"--records {tmp_path / 'rec'}: metrics.json is not a run record of this benchmark"),
                          # fourth final data trial: a record whose 'rows' is a list, an AttributeError traceback
                          (["--summary", "--records", str(tmp_path / "rec_rows")],
                           f"--records {tmp_path / 'rec_rows'}: opl_full_seed0.json is not a run record of this "
                           "benchmark"),
                          (["--summary", "--records", str(tmp_path / "rec_row")],
                           f"--records {tmp_path / 'rec_row'}: opl_full_seed0.json is not a run record of this "
                           "benchmark"),
                          (["--summary", "--records", str(tmp_path / "rec_copy")],
                           f"--records {tmp_path / 'rec_copy'}: opl_full_seed0.json and opl_full_seed0 (copy).json "
                           "are both the run of opl_full seed 0 (the summary would count it twice)"),
                          *[(["--summary", "--records", str(tmp_path / f"rec_{name}")],
                             f"--records {tmp_path / f'rec_{name}'}: opl_full_seed0.json is not a run record of this "
                             "benchmark") for name in ("nan", "str", "seed")],
                          (["--summary", "--records", str(tmp_path / "rec_budget")],  # a cpu-budget record
                           f"--records {tmp_path / 'rec_budget'}: opl_full_seed0.json was made with other budget "
                           "settings than the smoke budget's (curve_points: 6 there, 1 here)"),
                          # ninth final model trial: the records score the budget's sets with fixed protocols, so
                          # these overrides took no effect (no periodic evaluation read them), in silence
                          (["--methods", "opl_full", "--opts", "TEST.MISS_RATE.BOX", "visible"],
                           "--opts TEST.MISS_RATE.BOX visible: TEST.MISS_RATE.BOX: not read; the benchmark scores "
                           "crowdbench_smoke_cpu_{sparse,medium,crowd} with fixed protocols"),
                          (["--methods", "opl_full", "--opts", "TEST.MISS_RATE.PROTOCOL", "citypersons"],
                           "TEST.MISS_RATE.PROTOCOL: not read; the benchmark scores"),
                          (["--methods", "faster_rcnn", "--opts", "DATASETS.TEST", "('crowdbench_smoke_cpu_crowd',)"],
                           "DATASETS.TEST: not read; the benchmark scores")]:
        with pytest.raises(SystemExit):
            cq.main(["--budget", "smoke", "--out", str(tmp_path / "o")] + argv)
        assert message in capsys.readouterr().err


def test_every_benchmark_config_passes_the_train_net_checks(cq, tmp_path):
    # the benchmark builds its configs without train_net's setup(): they must still be configs train_net accepts
    # (cpu budget: its data sets are built-in; the smoke budget registers its own at run time)
    from opl.config import check_opl_config
    from pedet.config import check_config
    from reploss.config import check_reploss_config

    for method, spec in cq.METHODS.items():
        cfg, _ = cq.build_cfg(method, cq.BUDGETS["cpu"], 0, str(tmp_path / method), weights="")
        check_config(cfg, training=True, world_size=1)
        (check_opl_config if spec["project"] == "opl" else check_reploss_config)(cfg)


def test_probe_checks_find_the_synthetic_sets_in_a_fresh_process(tmp_path):
    """
    The command as a user runs it: before the fix, check_probe looked the sets up before anything had registered them,
    so every cpu-budget probe (--iters, --set, --opts) was refused with "synthetic_crowd_cpu_sparse: not a registered
    data set". In-process tests did not see it (pedet.data is imported by then). A bad --opts key is refused after
    the set checks, before any data or training.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([REPO, os.path.join(REPO, "projects", "OPL"),
                                         os.path.join(REPO, "projects", "RepLoss"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "crowd_quality.py"), "--budget", "cpu",
                          "--out", str(tmp_path / "out"), "--methods", "opl_full", "--seeds", "0", "--iters", "5",
                          "--opts", "MODEL.OPL.NOT_A_KEY", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert "not a registered data set" not in run.stderr
    assert "MODEL.OPL.NOT_A_KEY" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "pretext").exists()  # refused before the pre-training


def test_the_committed_run_records_pass_the_stray_file_check(cq):
    """The stray-JSON check of --summary once asked for a 'sets' key that run records do not have (they hold 'rows'),
    refusing every record: the committed records (and the smoke run's, above) must pass it."""
    runs = os.path.join(REPO, "benchmarks", "crowd_cpu", "runs")
    assert len([n for n in os.listdir(runs) if n.endswith(".json")]) >= 56
    assert cq.not_run_records(runs) == []
