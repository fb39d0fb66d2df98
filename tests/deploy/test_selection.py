"""
Model selection in PedestrianTrainer: model_best.pth is chosen on the selection set (here a hold-out of the tiny train
set), never on a TEST set; without a selection set no best checkpoint is kept. The evaluations are scripted (the
trainer's ``test`` is replaced) so that the TEST set and the selection set disagree on the best iteration.
"""
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import hooks

from pedet.config import add_pedet_config
from pedet.data.selection import selection_holdout_files
from reploss import add_reploss_config

from .conftest import REPLOSS_CONFIG, REPLOSS_TINY_OPTS, VAL_SET
from .runner import load_train_net


def _cfg(out_dir, *opts):
    """The tiny RepLoss config on the tiny set: 4 iterations at LR 0, evaluations after iterations 2 and 4."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(REPLOSS_CONFIG)
    cfg.merge_from_list([*REPLOSS_TINY_OPTS, "SOLVER.MAX_ITER", "4", "TEST.EVAL_PERIOD", "2",
                         "SOLVER.CHECKPOINT_PERIOD", "1000", "SOLVER.BASE_LR", "0.0", "OUTPUT_DIR", str(out_dir),
                         *opts])
    return cfg


def _scripted_test(calls):
    """A Trainer.test stand-in: TEST-set mMR 90 then 10 (best at the 2nd evaluation); selection mMR 10 then 90."""
    script = {VAL_SET: [90.0, 10.0], "selection": [10.0, 90.0]}

    def test(cls, cfg, model, evaluators=None):
        (name,) = cfg.DATASETS.TEST
        key = VAL_SET if name == VAL_SET else "selection"
        calls.append(name)
        return {"crowdhuman": {"mMR": script[key][sum(c == name for c in calls) - 1]}}

    return classmethod(test)


def test_best_checkpoint_is_chosen_on_the_holdout_not_on_the_test_set(tiny_root, tmp_path, monkeypatch):
    train_net = load_train_net("reploss")
    cfg = _cfg(tmp_path, "DATASETS.SELECTION_HOLDOUT", "2")
    calls = []
    monkeypatch.setattr(train_net.Trainer, "test", _scripted_test(calls))
    trainer = train_net.Trainer(cfg)
    trainer.train()
    holdout = f"{cfg.DATASETS.TRAIN[0]}_selection_holdout_2_seed0"
    assert calls == [VAL_SET, holdout, VAL_SET, holdout]  # both evaluated at iterations 2 and 4
    assert len(selection_holdout_files(cfg)) == 2
    # iteration index 1 (after 2 iterations) has the lower selection mMR; the TEST set would have picked index 3
    best = torch.load(os.path.join(tmp_path, "model_best.pth"), map_location="cpu", weights_only=False)
    assert best["iteration"] == 1
    history = trainer.storage.history("selection/crowdhuman/mMR").values()
    assert [v for v, _ in history] == [10.0, 90.0]


def test_no_best_checkpoint_without_a_selection_set(tiny_root, tmp_path, monkeypatch):
    train_net = load_train_net("reploss")
    cfg = _cfg(tmp_path)
    calls = []
    monkeypatch.setattr(train_net.Trainer, "test", _scripted_test(calls))
    trainer = train_net.Trainer(cfg)
    assert not any(isinstance(h, hooks.BestCheckpointer) for h in trainer._hooks)
    trainer.train()
    assert calls == [VAL_SET, VAL_SET]  # the TEST set is still evaluated for the user to watch
    assert not os.path.exists(os.path.join(tmp_path, "model_best.pth"))
    assert os.path.exists(os.path.join(tmp_path, "model_final.pth"))


def test_trainer_refuses_a_selection_set_that_is_a_test_set(tiny_root, tmp_path):
    train_net = load_train_net("reploss")
    cfg = _cfg(tmp_path, "DATASETS.SELECTION", VAL_SET)
    with pytest.raises(ValueError, match="also in DATASETS.TEST"):
        train_net.Trainer(cfg)


def test_holdout_is_evaluated_by_the_miss_rate_evaluator(tiny_root, tmp_path):
    train_net = load_train_net("reploss")
    cfg = _cfg(tmp_path, "DATASETS.SELECTION_HOLDOUT", "0.25", "DATASETS.TEST", "()", "SOLVER.MAX_ITER", "2")
    trainer = train_net.Trainer(cfg)
    trainer.train()
    holdout = f"{cfg.DATASETS.TRAIN[0]}_selection_holdout_0.25_seed0"  # round(0.25 * 8) = 2 images
    assert "selection/crowdhuman/mMR" in trainer.storage.latest()
    assert os.path.exists(os.path.join(tmp_path, "inference", holdout, "metrics.json"))
    assert os.path.exists(os.path.join(tmp_path, "model_best.pth"))


def test_best_value_survives_resume(tiny_root, tmp_path, monkeypatch):
    """
    Selection mMR 30, 10, 20 at iteration indices 1, 3, 5; checkpoints at 1, 3, 5. The run is then resumed from its
    iteration-3 checkpoint (as after a kill right after it) and evaluates mMR 20 again at index 5. Detectron2's
    BestCheckpointer forgot its best on resume and replaced model_best.pth (mMR 10) by the mMR-20 model; the
    checkpoint alone also misses the best of index 3 (the evaluation hooks run after the periodic checkpointer).
    """
    train_net = load_train_net("reploss")
    cfg = _cfg(tmp_path, "DATASETS.SELECTION_HOLDOUT", "2", "SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "2")
    values = [30.0, 10.0, 20.0, 20.0]

    def test(cls, cfg, model, evaluators=None):
        (name,) = cfg.DATASETS.TEST
        return {"crowdhuman": {"mMR": values.pop(0) if name != VAL_SET else 50.0}}

    monkeypatch.setattr(train_net.Trainer, "test", classmethod(test))
    train_net.Trainer(cfg).train()
    best_file = os.path.join(tmp_path, "model_best.pth")
    assert torch.load(best_file, map_location="cpu", weights_only=True)["iteration"] == 3
    checkpoint = torch.load(os.path.join(tmp_path, "model_0000003.pth"), map_location="cpu", weights_only=True)
    holdout = f"{cfg.DATASETS.TRAIN[0]}_selection_holdout_2_seed0"
    assert checkpoint["trainer"]["hooks"]["ResumableBestCheckpointer"] == {  # Detectron2's hook state mechanism
        "metric": "selection/crowdhuman/mMR", "dataset": holdout, "best_metric": 30.0, "best_iter": 1}
    with open(os.path.join(tmp_path, "last_checkpoint"), "w") as f:
        f.write("model_0000003.pth")
    trainer = train_net.Trainer(cfg)
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 4
    trainer.train()
    assert values == []  # the resumed run evaluated index 5 (mMR 20), which is worse than model_best.pth's 10
    best = torch.load(best_file, map_location="cpu", weights_only=True)
    assert best["iteration"] == 3
    assert best["trainer"]["hooks"]["ResumableBestCheckpointer"]["best_metric"] == 10.0
    # another hold-out (seed 1) is another selection set: its first evaluation starts a new model_best.pth
    other = _cfg(tmp_path, "DATASETS.SELECTION_HOLDOUT", "2", "DATASETS.SELECTION_HOLDOUT_SEED", "1",
                 "SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "2")
    values[:] = [20.0]
    with open(os.path.join(tmp_path, "last_checkpoint"), "w") as f:
        f.write("model_0000003.pth")
    trainer = train_net.Trainer(other)
    trainer.resume_or_load(resume=True)
    trainer.train()
    best = torch.load(best_file, map_location="cpu", weights_only=True)
    assert best["iteration"] > 3 and values == []  # mMR 20 on the new set replaced the other set's 10
    assert best["trainer"]["hooks"]["ResumableBestCheckpointer"]["dataset"] == holdout.replace("seed0", "seed1")
