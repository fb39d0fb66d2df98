"""
Thirteenth bad-input trial, model side (issue 11): the new kinds of checks of this trial. Cases that fit the earlier
trials' checks are in their tables (tests/pedet/test_bad_input_third_model.py, ..._fifth_model.py, ..._tenth_model.py).
"""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("config, argv, message", [
    # --levels on a RepLoss (Faster R-CNN) run was refused only after the model was built and the test set predicted
    (b"MODEL:\n  META_ARCHITECTURE: PedestrianRCNN\n", ["--levels"],
     "--levels: needs an FCOS-style (OPL project) run; {run} is a Faster R-CNN run"),
    # a binary config.yaml: was a UnicodeDecodeError traceback
    (b"\xff\xfe\x00MODEL", [], "{run}/config.yaml: not UTF-8 text (byte 0xff at offset 0); is it a config file?"),
    # fourteenth trial: the JSON replaced the run's config or weights after the predictions, in silence
    (b"MODEL:\n  META_ARCHITECTURE: OPL\n", ["--out", "{run}/config.yaml"],
     "--out {run}/config.yaml: is the run's config.yaml ({run}/config.yaml), which this script reads; give another "
     "file to write"),
    (b"MODEL:\n  META_ARCHITECTURE: OPL\n", ["--out", "{run}/../reploss_seed0/model_final.pth"],
     "--out {run}/../reploss_seed0/model_final.pth: is the run's model_final.pth ({run}/model_final.pth), which this "
     "script reads; give another file to write"),
])
def test_one_to_one_diagnostics_refuses_a_run_before_any_work(tmp_path, capsys, monkeypatch, config, argv, message):
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "one_to_one_diagnostics.py"))
    monkeypatch.setattr(module, "_crowd_quality", lambda: pytest.fail("the work started"))
    run = tmp_path / "reploss_seed0"
    run.mkdir()
    (run / "config.yaml").write_bytes(config)
    (run / "model_final.pth").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        module.main([str(run), *[a.format(run=run) for a in argv]])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].endswith(f"error: {message.format(run=run)}"), err
    assert (run / "config.yaml").read_bytes() == config


def test_crowd_top_fp_names_a_model_file_that_is_not_a_checkpoint(tmp_path, capsys, monkeypatch):
    """With the default --density (d5 named no set of any budget: a KeyError after the model was built) and a
    model_final.pth that is not a checkpoint: was an unpickling traceback (struct.error) from Detectron2's
    checkpointer; now one line naming the file, before any prediction."""
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "crowd_top_fp.py"))
    cq = module._load_cq()
    monkeypatch.setattr(cq, "predict", lambda *a, **k: pytest.fail("the predictions started"))
    weights = tmp_path / "runs" / "opl_full_seed0" / "model_final.pth"
    weights.parent.mkdir(parents=True)
    weights.write_text("junk")
    with pytest.raises(SystemExit) as e:
        module.main(["--out", str(tmp_path), "--runs", "opl_full_seed0"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert f"error: {weights}: not a PyTorch checkpoint" in err[0], err


def test_crowd_top_fp_predicts_the_smoke_budget_sets(tmp_path, monkeypatch):
    """--budget smoke: its test sets are registered by crowd_quality.py under its --out, so the first prediction
    failed with a KeyError (not registered) after the model was built and loaded."""
    import torch

    from pedet.utils.imports import load_script

    class Predicted(Exception):
        pass

    module = load_script(os.path.join(REPO, "benchmarks", "crowd_top_fp.py"))
    cq = module._load_cq()
    run = tmp_path / "runs" / "opl_full_seed0"
    cfg, Trainer = cq.build_cfg("opl_full", cq.BUDGETS["smoke"], 0, str(run))
    run.mkdir(parents=True)
    torch.save({"model": Trainer.build_model(cfg).state_dict()}, run / "model_final.pth")
    seen = []

    def predict(model, loader):
        seen.append(len(loader.dataset))
        raise Predicted

    monkeypatch.setattr(cq, "predict", predict)
    with pytest.raises(Predicted):
        module.main(["--out", str(tmp_path), "--runs", "opl_full_seed0", "--budget", "smoke", "--density", "crowd"])
    assert seen == [2]  # the smoke budget's 2 test images
