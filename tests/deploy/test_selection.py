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
