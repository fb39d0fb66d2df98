"""
The Trainer of both projects on detectron2 v0.6 and on main, whatever is installed: main's changes are reproduced
here where they matter (a SimpleTrainer whose ``_data_loader_iter`` is main's read-only lazy property, since
detectron2 PR #4307), so these tests fail on main's behaviour without a main build. Also mixed precision on the CPU
(``SOLVER.AMP.ENABLED True``), where detectron2's own AMPTrainer asserts CUDA.
"""
import logging

import detectron2.engine.defaults as d2_defaults
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import AMPTrainer, SimpleTrainer, TrainerBase
from detectron2.utils.env import seed_all_rng

from pedet.config import add_pedet_config
from pedet.engine import PedestrianTrainer
from pedet.engine.amp import PedetAMPTrainer
from pedet.engine.trainer import restart_data_iterator

from ..autocast_guard import refuse_autocast_banned_ops
from .conftest import OPL_CONFIG, OPL_TINY_OPTS, REPLOSS_CONFIG, REPLOSS_TINY_OPTS


class LazyIteratorTrainer(SimpleTrainer):
    """detectron2 main's SimpleTrainer data iterator: created on first use, behind a property without a setter."""

    def __init__(self, model, data_loader, optimizer, *args, **kwargs):
        if isinstance(getattr(SimpleTrainer, "_data_loader_iter", None), property):  # detectron2 main: itself
            super().__init__(model, data_loader, optimizer, *args, **kwargs)
        else:  # v0.6's SimpleTrainer.__init__ assigns the iterator eagerly, which this class refuses
            TrainerBase.__init__(self)
            model.train()
            self.model, self.data_loader, self.optimizer = model, data_loader, optimizer
        self._data_loader_iter_obj = None

    @property
    def _data_loader_iter(self):
        if self._data_loader_iter_obj is None:
            self._data_loader_iter_obj = iter(self.data_loader)
        return self._data_loader_iter_obj


def _cfg(project: str, out: str, *opts):
    cfg = get_cfg()
    add_pedet_config(cfg)
    if project == "opl":
        from opl import add_opl_config

        add_opl_config(cfg)
        cfg.merge_from_file(OPL_CONFIG)
        cfg.merge_from_list(OPL_TINY_OPTS)
    else:
        from reploss import add_reploss_config

        add_reploss_config(cfg)
        cfg.merge_from_file(REPLOSS_CONFIG)
        cfg.merge_from_list(REPLOSS_TINY_OPTS)
    cfg.merge_from_list(["OUTPUT_DIR", out, "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0", "INPUT.RANDOM_FLIP",
                         "none", "SEED", "7", "MODEL.DEVICE", "cpu", *opts])
    seed_all_rng(cfg.SEED)
    return cfg


def test_lazy_iterator_trainer_is_read_only_as_on_main():
    trainer = LazyIteratorTrainer(torch.nn.Linear(1, 1), [1, 2], None)
    with pytest.raises(AttributeError):
        trainer._data_loader_iter = iter([])  # what pedet's resume did before, and main refuses


@pytest.mark.parametrize("inner", ["v0.6 eager iterator", "main lazy iterator"])
def test_resume_continues_the_data_stream_with_either_iterator(tiny_root, tmp_path, monkeypatch, inner):
    if inner == "main lazy iterator":
        monkeypatch.setattr(d2_defaults, "SimpleTrainer", LazyIteratorTrainer)
    out = str(tmp_path)
    first = PedestrianTrainer(_cfg("opl", out, "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "2"))
    first.resume_or_load(resume=False)
    first.train()
    resumed = PedestrianTrainer(_cfg("opl", out, "SOLVER.MAX_ITER", "4"))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2
    assert isinstance(resumed._trainer, LazyIteratorTrainer) == (inner == "main lazy iterator")
    # the next batch is the third batch of an uninterrupted run (ResumableTrainingSampler, seed SEED = 7)
    fresh = PedestrianTrainer(_cfg("opl", str(tmp_path / "fresh"), "SOLVER.MAX_ITER", "4"))
    uninterrupted = [[d["image_id"] for d in next(fresh._trainer._data_loader_iter)] for _ in range(3)]
    assert [d["image_id"] for d in next(resumed._trainer._data_loader_iter)] == uninterrupted[2]
    assert uninterrupted[2] != uninterrupted[0]  # (the test would notice a stream that restarted)
    # the optimizer state came back once, with the checkpoint's momentum buffers
    assert resumed._trainer.optimizer.state_dict()["state"]


def test_resume_with_another_batch_is_named(tiny_root, tmp_path, caplog):
    """--resume with SOLVER.IMS_PER_BATCH changed: the stream continues at start_iter x the new batch, so images of
    the checkpointed run's stream are skipped; the sampler's checkpointed batch makes it a warning (it was silent)."""
    out = str(tmp_path)
    first = PedestrianTrainer(_cfg("opl", out, "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "2"))
    batch = first.cfg.SOLVER.IMS_PER_BATCH
    first.resume_or_load(resume=False)
    first.train()
    with caplog.at_level(logging.WARNING, logger="pedet.data.samplers"):
        same = PedestrianTrainer(_cfg("opl", out, "SOLVER.MAX_ITER", "4"))
        same.resume_or_load(resume=True)
        assert not [r for r in caplog.records if r.name == "pedet.data.samplers"]
        other = PedestrianTrainer(_cfg("opl", out, "SOLVER.MAX_ITER", "4", "SOLVER.IMS_PER_BATCH", str(batch + 1)))
        other.resume_or_load(resume=True)
    assert other.start_iter == 2
    [message] = [r.getMessage() for r in caplog.records if r.name == "pedet.data.samplers"]
    assert f"took {batch} images per iteration on each of 1 processes, this run takes {batch + 1}" in message


def test_restart_data_iterator_refuses_an_unknown_read_only_property():
    class Odd(SimpleTrainer):
        def __init__(self):
            TrainerBase.__init__(self)
            self.data_loader = [1]

        _data_loader_iter = property(lambda self: None)

    with pytest.raises(TypeError, match="read-only property"):
        restart_data_iterator(Odd())


def test_checkpoints_of_plain_default_trainer_still_load(tiny_root, tmp_path):
    """A checkpoint without "_trainer" (v0.6's DefaultTrainer) loads, on main too, whose own load requires it."""
    trainer = PedestrianTrainer(_cfg("opl", str(tmp_path), "SOLVER.MAX_ITER", "1"))
    state = trainer.state_dict()
    assert set(state["_trainer"]) >= {"optimizer"}
    state.pop("_trainer")
    state["iteration"] = 5
    trainer.load_state_dict(state)
    assert trainer.iter == 5


def test_detectron2_amp_trainer_refuses_the_cpu():
    """Why pedet swaps the AMPTrainer: detectron2's (v0.6 and main) asserts CUDA in run_step."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine")
    model = torch.nn.Linear(2, 1)
    trainer = AMPTrainer(model, [[torch.zeros(2)]], torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(AssertionError, match="CUDA"):
        trainer.run_step()


@pytest.mark.parametrize("project", ["opl", "reploss"])
def test_amp_enabled_trains_on_cpu_in_bfloat16(tiny_root, tmp_path, monkeypatch, project):
    cfg = _cfg(project, str(tmp_path), "SOLVER.AMP.ENABLED", "True", "SOLVER.MAX_ITER", "2",
               "SOLVER.CHECKPOINT_PERIOD", "100")
    trainer = PedestrianTrainer(cfg)
    assert type(trainer._trainer) is PedetAMPTrainer and not trainer._trainer.grad_scaler.is_enabled()
    assert d2_defaults.AMPTrainer is AMPTrainer  # the swap is undone after construction
    conv_dtypes = []
    trainer.model.backbone.bottom_up.stem.conv1.register_forward_hook(lambda m, i, o: conv_dtypes.append(o.dtype))
    trainer.resume_or_load(resume=False)
    with refuse_autocast_banned_ops(monkeypatch):
        trainer.train()
    assert conv_dtypes == [torch.bfloat16, torch.bfloat16]
    history = trainer.storage.history("total_loss").values()
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(v)) for v, _ in history)
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 master weights


def test_checkpoint_holds_the_lr_schedule(tiny_root, tmp_path):
    """detectron2's LRScheduler hook saves the scheduler only if it is a torch LR scheduler by the installed
    version's check (``_LRScheduler`` on v0.6, ``LRScheduler`` on main): both must see detectron2's LRMultiplier."""
    trainer = PedestrianTrainer(_cfg("opl", str(tmp_path), "SOLVER.MAX_ITER", "1"))
    states = [v for k, v in trainer.state_dict()["hooks"].items() if k.endswith("LRScheduler")]
    assert len(states) == 1 and "last_epoch" in states[0] and "base_lrs" in states[0]
