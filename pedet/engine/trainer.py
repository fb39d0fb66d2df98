"""
``PedetTrainerMixin``: the operational behaviour both projects' trainers share, added in front of DefaultTrainer:

    class Trainer(PedetTrainerMixin, DefaultTrainer): ...

1. Distributed on CPU: v0.6's DefaultTrainer wraps the model with ``create_ddp_model(model)``, which passes
   ``device_ids=[local_rank]``; torch's DistributedDataParallel rejects device_ids for a CPU module. While the trainer
   is built, a model on CPU gets ``device_ids=None`` (one line of difference; GPU models are untouched).
   Mixed precision: with ``SOLVER.AMP.ENABLED`` the inner trainer is ``PedetAMPTrainer`` (pedet.engine.amp):
   detectron2's AMPTrainer on CUDA, bfloat16 autocast on the CPU, where detectron2's asserts CUDA.
2. Resume: the checkpoint holds the optimizer (v0.6's DefaultTrainer leaves it out: see ``state_dict``); the
   checkpointer is a ``PedetCheckpointer`` (weights-only loading, atomic saves); the training sampler
   (``ResumableTrainingSampler``, from pedet.data.build) is a checkpointable, so its seed is saved, and after
   ``resume_or_load`` the data stream continues at ``start_iter`` (module docstring of pedet.data.samplers).
   Iteration count, optimizer and LR schedule come back through detectron2's own checkpoint state.
   The same code runs on detectron2 v0.6 and on main: what changed in between is detected by feature, never by
   version (``restart_data_iterator``, ``_d2_saves_inner_trainer``).
3. metrics.json: a ``RepairingJSONWriter`` replaces the JSONWriter; on resume, a torn last line and the records of the
   iterations that are about to be redone (after the last checkpoint) are cut, so iterations increase strictly and the
   file parses line by line.
4. Bad input met during training (pedet.engine.launch.BAD_INPUT_ERRORS, e.g. an image that cannot be decoded): the
   "Exception during training" line that detectron2 logs carries the one-line message instead of the traceback.
"""
import contextlib
import logging
import math
import numbers
import os
import re
from typing import Iterator, List, Optional

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import detectron2.engine.defaults as d2_defaults
import torch
from detectron2.engine import DefaultTrainer, hooks
from detectron2.utils import comm
from detectron2.utils.events import JSONWriter

from pedet.data.build import build_pedestrian_test_loader, build_pedestrian_train_loader
from pedet.data.selection import selection_dataset
from pedet.evaluation import build_miss_rate_evaluator, miss_rate_metric

from .amp import PedetAMPTrainer
from .checkpoint import CheckpointFileError, PedetCheckpointer
from .launch import BAD_INPUT_ERRORS, bad_input_message
from .sampler import ResumableTrainingSampler
from .writers import RepairingJSONWriter

__all__ = ["PedetTrainerMixin", "PedestrianTrainer", "ResumableBestCheckpointer", "cpu_aware_ddp",
           "find_training_sampler", "pedet_amp_trainer", "restart_data_iterator"]
logger = logging.getLogger(__name__)

# event-storage prefix of the selection-set results (model_best.pth is chosen on "selection/<protocol>/<metric>")
SELECTION_PREFIX = "selection"


@contextlib.contextmanager
def cpu_aware_ddp() -> Iterator[None]:
    """While active, detectron2's ``create_ddp_model`` passes ``device_ids=None`` for a model whose parameters are on
    CPU (DistributedDataParallel accepts device_ids only for single-GPU modules)."""
    original = d2_defaults.create_ddp_model

    def create_ddp_model(model, **kwargs):
        params = list(model.parameters())
        if comm.get_world_size() > 1 and params and params[0].device.type == "cpu":
            kwargs.setdefault("device_ids", None)
        return original(model, **kwargs)

    d2_defaults.create_ddp_model = create_ddp_model
    try:
        yield
    finally:
        d2_defaults.create_ddp_model = original


@contextlib.contextmanager
def pedet_amp_trainer() -> Iterator[None]:
    """While active, detectron2's DefaultTrainer builds a ``PedetAMPTrainer`` where it would build an AMPTrainer
    (``SOLVER.AMP.ENABLED``): the same trainer on CUDA, one that works on the CPU (pedet.engine.amp)."""
    original = d2_defaults.AMPTrainer
    d2_defaults.AMPTrainer = PedetAMPTrainer
    try:
        yield
    finally:
        d2_defaults.AMPTrainer = original


def restart_data_iterator(trainer) -> None:
    """
    Makes a detectron2 ``SimpleTrainer`` draw its next batch from a new iterator over its ``data_loader`` (after the
    sampler was moved to the resumed iteration).

    detectron2 v0.6 creates the iterator in ``SimpleTrainer.__init__`` and keeps it in the attribute
    ``_data_loader_iter``. Since detectron2 PR #4307 (main) ``_data_loader_iter`` is a read-only property that creates
    the iterator on first use and keeps it in ``_data_loader_iter_obj``; assigning to it raises AttributeError. Which
    one is installed is read from the class, not from a version number.
    """
    attr = getattr(type(trainer), "_data_loader_iter", None)
    if isinstance(attr, property):
        if attr.fset is not None:
            trainer._data_loader_iter = iter(trainer.data_loader)
        elif hasattr(trainer, "_data_loader_iter_obj"):
            trainer._data_loader_iter_obj = None  # the lazy property makes a new iterator at the next step
        else:
            raise TypeError(f"{type(trainer).__name__}._data_loader_iter is a read-only property without the "
                            "_data_loader_iter_obj of detectron2's lazy iterator: cannot restart the data stream")
    else:
        trainer._data_loader_iter = iter(trainer.data_loader)


def _d2_saves_inner_trainer() -> bool:
    """True when the installed DefaultTrainer saves and loads its SimpleTrainer's state (optimizer, grad scaler) in
    its own state_dict (detectron2 main); v0.6's DefaultTrainer inherits TrainerBase's, which leaves them out."""
    return "state_dict" in DefaultTrainer.__dict__


def find_training_sampler(data_loader, depth: int = 4) -> Optional[ResumableTrainingSampler]:
    """The ResumableTrainingSampler inside a detectron2 train loader (AspectRatioGroupedDataset -> DataLoader ->
    ToIterableDataset -> sampler, or DataLoader -> ...), or None."""
    if isinstance(data_loader, ResumableTrainingSampler):
        return data_loader
    if depth == 0 or data_loader is None:
        return None
    for attr in ("sampler", "dataset", "batch_sampler"):
        found = find_training_sampler(getattr(data_loader, attr, None), depth - 1)
        if found is not None:
            return found
    return None


def _drop_non_finite(results: dict, prefix: str = "") -> tuple[dict, list]:
    """(results without NaN / inf values, the flattened keys dropped); nested dicts are kept nested."""
    kept, dropped = {}, []
    for k, v in results.items():
        if isinstance(v, dict):
            sub, d = _drop_non_finite(v, f"{prefix}{k}/")
            kept[k] = sub
            dropped += d
        elif isinstance(v, (int, float)) and not math.isfinite(v):
            dropped.append(f"{prefix}{k}")
        else:
            kept[k] = v
    return kept, dropped


def _finite_results(func):
    """
    Wrap an EvalHook's function: undefined metrics (NaN, e.g. a miss rate on a test set without a regular person)
    are logged and left out of what the hook stores, so the event storage, its writers and BestCheckpointer only
    ever see numbers (a NaN stored first would block every later "best" comparison).
    """

    def run():
        results = func()
        if not isinstance(results, dict):
            return results
        kept, dropped = _drop_non_finite(results)
        if dropped:
            logger.warning(f"Evaluation: {', '.join(dropped)} undefined (NaN); not stored in the event storage")
        return kept

    return run


def _checkpoint_files(folder: str) -> List[str]:
    """The checkpoints a trainer writes (model_0004999.pth, model_final.pth, model_best.pth) found in ``folder``."""
    if "://" in folder or not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if re.fullmatch(r"model_(\d{7}|final|best)\.pth", f))


class ResumableBestCheckpointer(hooks.BestCheckpointer):
    """
    Detectron2's ``BestCheckpointer`` (same arguments, same rule: the first finite value, then only a strictly better
    one, replaces ``model_best.pth``) whose best value survives ``--resume``. Detectron2's keeps ``best_metric`` and
    ``best_iter`` in memory only, so the first evaluation of a resumed run always overwrote ``model_best.pth``, also
    with a worse model. Here:

    - ``state_dict`` / ``load_state_dict``: the metric, best value and iteration; ``TrainerBase`` saves the state of
      each hook that has one in every checkpoint (``hooks`` of the trainer's entry) and restores it on ``--resume``.
    - ``model_best.pth`` is saved after the best was updated, so its trainer state records its own value. Detectron2
      runs the evaluation hooks after the ``PeriodicCheckpointer``, so a checkpoint never holds the evaluation of its
      own iteration; when ``model_best.pth`` records a later best than the checkpoint the run resumed from, that
      record is taken (read with ``mmap``: the weights are not loaded).

    A best recorded for another metric or another selection set (``dataset``, e.g. a changed hold-out) is not taken:
    the next evaluation starts a new ``model_best.pth``, as Detectron2's does.
    """

    def __init__(self, *args, dataset: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._dataset = dataset

    def state_dict(self) -> dict:
        if self.best_metric is None:
            return {}  # nothing to keep (TrainerBase skips empty states)
        return {"metric": self._val_metric, "dataset": self._dataset, "best_metric": self.best_metric,
                "best_iter": self.best_iter}

    def _same_selection(self, state: dict) -> bool:
        return (state.get("metric"), state.get("dataset", "")) == (self._val_metric, self._dataset)

    def load_state_dict(self, state: dict) -> None:
        if not self._same_selection(state):
            self._logger.warning(f"The checkpoint's best {state.get('metric')} = {state.get('best_metric')} (on "
                                 f"{state.get('dataset') or '?'}) is not for {self._val_metric} on {self._dataset}: "
                                 f"the next evaluation starts a new {self._file_prefix}.pth")
            return
        self.best_metric, self.best_iter = state["best_metric"], state["best_iter"]

    def before_train(self) -> None:
        if self.trainer.start_iter == 0:
            return  # a new run: Detectron2's rule, the first evaluation is saved
        path = os.path.join(self._checkpointer.save_dir, f"{self._file_prefix}.pth")
        if os.path.isfile(path):
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                state = saved.get("trainer", {}).get("hooks", {}).get(type(self).__qualname__, {})
            except Exception as e:  # noqa: BLE001  (an unreadable file: the checkpoint's record stays the reference)
                self._logger.warning(f"{path} cannot be read ({type(e).__name__}: {e}); the best so far is the one "
                                     "recorded in the checkpoint")
                state = {}
            if state and self._same_selection(state) and (self.best_iter is None or
                                                          state["best_iter"] > self.best_iter):
                self.best_metric, self.best_iter = state["best_metric"], state["best_iter"]
        if self.best_metric is not None:
            self._logger.info(f"Resumed: {self._file_prefix}.pth is replaced only by a {self._val_metric} better "
                              f"than {self.best_metric:0.5f} @ iteration {self.best_iter}")

    def _best_checking(self) -> None:
        latest = self.trainer.storage.latest().get(self._val_metric)
        if latest is None:
            return super()._best_checking()  # Detectron2's warning: the metric was not stored
        value, iteration = latest
        if not math.isfinite(value):
            return  # never a best (Detectron2's rule)
        if self.best_metric is not None and not self._compare(value, self.best_metric):
            self._logger.info(f"Not saving as latest eval score for {self._val_metric} is {value:0.5f}, not better "
                              f"than best score {self.best_metric:0.5f} @ iteration {self.best_iter}.")
            return
        previous = self.best_metric
        self.best_metric, self.best_iter = value, iteration  # before the save: the file records its own value
        self._checkpointer.save(self._file_prefix, iteration=iteration)
        self._logger.info(f"Saved best model as latest eval score for {self._val_metric} is {value:0.5f}" +
                          ("" if previous is None else f", better than last best score {previous:0.5f}") +
                          f" @ iteration {iteration}.")


class _OneLineBadInput(logging.Filter):
    """
    detectron2's TrainerBase.train logs any exception with its traceback ("Exception during training:") before
    re-raising it. For bad input (pedet.engine.launch.BAD_INPUT_ERRORS: a missing or malformed image or data file,
    which the entry point then prints as one line) the log keeps that line instead of the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BAD_INPUT_ERRORS):
            record.msg, record.args = f"{record.getMessage()} {bad_input_message(exc)}", ()
            record.exc_info = record.exc_text = None
        return True


class PedetTrainerMixin:
    """Mixin for detectron2's DefaultTrainer; see the module docstring. Put it before DefaultTrainer in the bases."""

    def __init__(self, cfg):
        with cpu_aware_ddp(), pedet_amp_trainer():
            super().__init__(cfg)
        self.train_sampler = find_training_sampler(self._trainer.data_loader)
        if self.train_sampler is not None:
            self.checkpointer.add_checkpointable("train_sampler", self.train_sampler)
        else:
            logger.warning("The train loader has no ResumableTrainingSampler: a resumed run restarts the data order")

    def train(self):
        train_loop_logger, one_line = logging.getLogger("detectron2.engine.train_loop"), _OneLineBadInput()
        train_loop_logger.addFilter(one_line)
        try:
            return super().train()
        finally:
            train_loop_logger.removeFilter(one_line)

    def build_hooks(self) -> List:
        # DefaultTrainer.build_hooks hands self.checkpointer to PeriodicCheckpointer/BestCheckpointer: swap it first
        self.checkpointer = PedetCheckpointer.from_checkpointer(self.checkpointer)
        ret = super().build_hooks()
        for h in ret:
            if isinstance(h, hooks.EvalHook):
                h._func = _finite_results(h._func)
        return ret

    def build_writers(self) -> List:
        """detectron2's default writers with RepairingJSONWriter in place of JSONWriter."""
        writers = []
        for w in super().build_writers():
            if isinstance(w, JSONWriter) and not isinstance(w, RepairingJSONWriter):
                path = w._file_handle.name
                w.close()
                w = RepairingJSONWriter(path, window_size=w._window_size)
            writers.append(w)
        return writers

    def state_dict(self) -> dict:
        """DefaultTrainer's state (iteration, hook states such as the LR scheduler) plus the optimizer.

        v0.6's DefaultTrainer has no state_dict of its own, so its checkpoints hold no optimizer state: a resumed run
        restarted SGD momentum and ran its first iteration at the LR the scheduler set at construction (the warm-up
        start), as tests/deploy/test_resume.py showed. detectron2 main adds exactly this "_trainer" key itself.
        """
        ret = super().state_dict()
        if "_trainer" not in ret:
            ret["_trainer"] = self._trainer.state_dict()
        return ret

    def load_state_dict(self, state_dict: dict) -> None:
        # TrainerBase sets start_iter = iteration + 1: a missing one failed with a KeyError, a non-integer with a
        # TypeError, a negative one started at a negative iteration and failed in the LR scheduler
        it = state_dict.get("iteration")
        if isinstance(it, bool) or not isinstance(it, numbers.Integral) or it < 0:
            path = self._resumed_file()
            raise CheckpointFileError(f"{path}: its trainer state records iteration {it!r}, not a whole number >= 0; "
                                      "the file is damaged or not written by a trainer (use it as MODEL.WEIGHTS "
                                      "without --resume)")
        has_inner = "_trainer" in state_dict
        if has_inner:
            self._check_inner_trainer_state(state_dict["_trainer"])
        self._check_scheduler_state(state_dict.get("hooks"))
        if not _d2_saves_inner_trainer():  # v0.6
            super().load_state_dict(state_dict)
            if has_inner:
                self._trainer.load_state_dict(state_dict["_trainer"])
        elif has_inner:  # main's DefaultTrainer loads "_trainer" itself
            super().load_state_dict(state_dict)
        else:  # a checkpoint of v0.6's plain DefaultTrainer under main, whose load_state_dict requires "_trainer"
            super(DefaultTrainer, self).load_state_dict(state_dict)  # TrainerBase: iteration and hook states
        if not has_inner:
            logger.warning("The checkpoint has no optimizer state (written by plain DefaultTrainer): SGD momentum "
                           "restarts, and the first resumed iteration uses the LR set at construction")

    def _resumed_file(self) -> str:
        """The checkpoint being resumed from, for messages (``last_checkpoint``'s file, else "the checkpoint")."""
        return self.checkpointer.get_checkpoint_file() if self.checkpointer.has_checkpoint() else "the checkpoint"

    def _check_scheduler_state(self, hooks_state) -> None:
        """
        The LR scheduler's state restores the checkpointed run's base learning rates (as in Detectron2): a
        SOLVER.BASE_LR changed for the resumed run had no effect, without a word (docs/DEPLOYMENT.md says so; the
        changed weight decay and momentum were already named). A warning, as for those.
        """
        saved = (hooks_state or {}).get("LRScheduler") if isinstance(hooks_state, dict) else None
        saved_lrs = saved.get("base_lrs") if isinstance(saved, dict) else None
        ours = getattr(getattr(self, "scheduler", None), "base_lrs", None)
        if isinstance(saved_lrs, list) and ours is not None and len(saved_lrs) == len(ours) and any(
                not math.isclose(a, b, rel_tol=1e-9) for a, b in zip(saved_lrs, ours)):
            path = self._resumed_file()
            logger.warning(f"{path}: its LR scheduler keeps the checkpointed run's base learning rate "
                           f"({max(saved_lrs):g}; this config's SOLVER.BASE_LR gives {max(ours):g}), as in "
                           "Detectron2: the change takes no effect on --resume; start a new run with MODEL.WEIGHTS set "
                           "to the checkpoint to change it")

    def _check_inner_trainer_state(self, inner: dict) -> None:
        """
        The optimizer / AMP state of a checkpoint against this run's, before torch loads it. A config that changes
        which parameters train or how they are grouped (MODEL.BACKBONE.FREEZE_AT, SOLVER.BIAS_LR_FACTOR, a head of
        another depth, ...) failed in torch's Optimizer.load_state_dict with a ValueError traceback; SOLVER.AMP.ENABLED
        turned on for the resumed run failed in AMPTrainer.load_state_dict with KeyError 'grad_scaler'.
        """
        saved = inner.get("optimizer") if isinstance(inner, dict) else None
        if isinstance(saved, dict) and isinstance(saved.get("param_groups"), list):
            theirs = [len(g.get("params", ())) for g in saved["param_groups"] if isinstance(g, dict)]
            ours = [len(g["params"]) for g in self.optimizer.param_groups]
            if theirs != ours:
                path = self._resumed_file()
                raise CheckpointFileError(
                    f"{path}: its optimizer state holds {sum(theirs)} trained parameters in {len(theirs)} groups, "
                    f"this config trains {sum(ours)} in {len(ours)}: a key that decides which parameters train or how "
                    "they are grouped (MODEL.BACKBONE.FREEZE_AT, SOLVER.BIAS_LR_FACTOR, SOLVER.WEIGHT_DECAY_NORM, the "
                    "model's layers, ...) differs from the checkpointed run; resume with its config, or start a new "
                    "run in another OUTPUT_DIR with MODEL.WEIGHTS set to the checkpoint")
            # torch's Optimizer.load_state_dict restores each group's own hyper-parameters (as Detectron2 main does):
            # a changed SOLVER.WEIGHT_DECAY or MOMENTUM had no effect on the resumed run, in silence
            keys = {"weight_decay": "SOLVER.WEIGHT_DECAY / WEIGHT_DECAY_NORM / WEIGHT_DECAY_BIAS",
                    "momentum": "SOLVER.MOMENTUM", "nesterov": "SOLVER.NESTEROV"}
            pairs = list(zip(saved["param_groups"], self.optimizer.param_groups))
            kept = [v for k, v in keys.items()
                    if any(isinstance(t, dict) and k in t and k in g and t[k] != g[k] for t, g in pairs)]
            if kept:
                path = self._resumed_file()
                logger.warning(f"{path}: its optimizer state keeps the checkpointed run's values of {'; '.join(kept)} "
                               "(as in Detectron2): this config's differ and take no effect on --resume; start a new "
                               "run with MODEL.WEIGHTS set to the checkpoint to change them")
        scaler = getattr(self._trainer, "grad_scaler", None)
        if scaler is not None and isinstance(inner, dict) and "grad_scaler" not in inner:
            # detectron2's AMPTrainer.load_state_dict requires it; the checkpointed run trained without AMP
            logger.warning("The checkpoint was written without SOLVER.AMP.ENABLED: the resumed run starts a new AMP "
                           "gradient scaler")
            inner["grad_scaler"] = scaler.state_dict()

    def resume_or_load(self, resume: bool = True) -> None:
        if resume and not self.checkpointer.has_checkpoint():
            # Detectron2 then starts a new run from MODEL.WEIGHTS at iteration 0: right for a first --resume launch,
            # but where the folder holds a run's checkpoints without its last_checkpoint (deleted, or checkpoints
            # copied in by hand) that run was restarted from scratch and its model_final.pth overwritten, in silence
            found = _checkpoint_files(self.cfg.OUTPUT_DIR)
            if found:
                raise CheckpointFileError(
                    f"--resume: {self.cfg.OUTPUT_DIR} holds {', '.join(found[:3])}{' ...' if len(found) > 3 else ''} "
                    "but no last_checkpoint, so the run would start again at iteration 0 from MODEL.WEIGHTS and "
                    "overwrite them; write the name of the checkpoint to resume from into "
                    f"{os.path.join(self.cfg.OUTPUT_DIR, 'last_checkpoint')}, or train in another OUTPUT_DIR "
                    "(MODEL.WEIGHTS set to a checkpoint to fine-tune from it)")
        super().resume_or_load(resume=resume)
        if self.start_iter >= self.max_iter:  # Detectron2 ends such a run at once, without a word
            logger.warning(f"--resume: the last checkpoint in {self.cfg.OUTPUT_DIR} finished iteration "
                           f"{self.start_iter - 1}, at or past SOLVER.MAX_ITER {self.max_iter}: no iteration is "
                           "trained and no model_final.pth is written (raise SOLVER.MAX_ITER to train on)")
        if self.start_iter > 0 and self.train_sampler is not None:
            per_rank = self.cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
            self.train_sampler.set_start_iter(self.start_iter, per_rank)
            # v0.6's SimpleTrainer made its iterator in __init__ (worker processes may hold a copy of the sampler)
            restart_data_iterator(self._trainer)
            logger.info(f"Data order continues at iteration {self.start_iter} (sampler seed "
                        f"{self.train_sampler.state_dict()['seed']}, {per_rank} images per rank and iteration)")
        if self.start_iter > 0:
            for w in self._json_writers():
                w.drop_records_from(self.start_iter)

    def _json_writers(self) -> List[RepairingJSONWriter]:
        return [w for h in self._hooks if isinstance(h, hooks.PeriodicWriter) for w in h._writers
                if isinstance(w, RepairingJSONWriter)]


class PedestrianTrainer(PedetTrainerMixin, DefaultTrainer):
    """
    The ``Trainer`` of both projects' train_net.py: DefaultTrainer with pedet's data loaders (PedestrianDatasetMapper,
    ignore boxes as class -1, resumable sampler), the miss-rate evaluator whose protocol follows the test set's
    ``evaluator_type``, and ``model_best.pth`` kept by that protocol's headline miss rate (lower is better; the best
    value survives ``--resume``: ``ResumableBestCheckpointer``) on the model-selection set (``DATASETS.SELECTION``
    or ``DATASETS.SELECTION_HOLDOUT``, pedet.data.selection), never on a TEST set: without a selection set no best
    checkpoint is kept and ``model_final.pth`` is the one to report.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        self.check_evaluation_sets()

    def check_evaluation_sets(self) -> None:
        """
        The sets this run evaluates (DATASETS.TEST after the last iteration and every TEST.EVAL_PERIOD, the selection
        set) get their ground truth read by their evaluator before the first iteration: a hand-registered record the
        evaluator cannot use (a vis_ratio of 2, an image_id that is a list, ...) stopped the run only when it reached
        that evaluation, after the training (the training reads neither key).
        """
        from pedet.evaluation import MissRateEvaluator

        names = list(self.cfg.DATASETS.TEST)
        if self.cfg.TEST.EVAL_PERIOD > 0 and selection_dataset(self.cfg):
            names.append(selection_dataset(self.cfg))
        for name in dict.fromkeys(names):
            evaluator = self.build_evaluator(self.cfg, name)
            if isinstance(evaluator, MissRateEvaluator):
                evaluator.check_ground_truth()

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        # the protocol follows MetadataCatalog.get(dataset_name).evaluator_type; options from TEST.MISS_RATE
        return build_miss_rate_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_pedestrian_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_pedestrian_test_loader(cfg, dataset_name)

    def build_hooks(self):
        ret = super().build_hooks()
        selection = selection_dataset(self.cfg)  # validated on every rank, before the first iteration
        if selection is None:
            logger.info("No DATASETS.SELECTION / DATASETS.SELECTION_HOLDOUT: no best checkpoint is kept; "
                        "model_final.pth is the model to report")
            return ret
        if self.cfg.TEST.EVAL_PERIOD <= 0:
            logger.warning(f"Selection set '{selection}' configured but TEST.EVAL_PERIOD is 0: no best checkpoint")
            return ret
        # after the TEST-set EvalHook (if any), so the periodic checkpoint, the TEST and the selection evaluations of
        # one iteration all happen before the best checkpoint is chosen
        index = max([i for i, h in enumerate(ret) if isinstance(h, (hooks.EvalHook, hooks.PeriodicCheckpointer))])
        ret.insert(index + 1, hooks.EvalHook(self.cfg.TEST.EVAL_PERIOD, lambda: self.evaluate_selection(selection)))
        if comm.is_main_process():
            # the protocol the selection set is evaluated with: TEST.MISS_RATE.PROTOCOL when set (the results are stored
            # under it), else its evaluator_type; the data set's own ranked by a key never stored, so no model_best.pth
            # was kept, without a word (and a set registered without evaluator_type, e.g. from a COCO json, failed)
            node = self.cfg.TEST.get("MISS_RATE", None)
            metric = f"{SELECTION_PREFIX}/{miss_rate_metric(selection, node.PROTOCOL if node is not None else None)}"
            ret.insert(index + 2, ResumableBestCheckpointer(self.cfg.TEST.EVAL_PERIOD, self.checkpointer, metric,
                                                            mode="min", dataset=selection))
        return ret

    def load_state_dict(self, state_dict: dict) -> None:
        # only the main process has the best-checkpoint hook (it alone holds the evaluation results), so the other
        # ranks skip its state instead of warning that they cannot find the hook
        best = ResumableBestCheckpointer.__qualname__
        if best in state_dict.get("hooks", {}) and not any(isinstance(h, ResumableBestCheckpointer)
                                                           for h in self._hooks):
            state_dict = {**state_dict, "hooks": {k: v for k, v in state_dict["hooks"].items() if k != best}}
        super().load_state_dict(state_dict)

    def evaluate_selection(self, dataset_name: str) -> dict:
        """
        Evaluate the model on the selection set; results go to the event storage as ``selection/<protocol>/<key>``
        (for example ``selection/crowdhuman/mMR``), apart from the TEST sets' keys.
        """
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.DATASETS.TEST = (dataset_name,)
        results = self.test(cfg, self.model)
        return {SELECTION_PREFIX: results} if results else {}
