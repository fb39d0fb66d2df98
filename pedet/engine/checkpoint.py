"""
Checkpoint loading that does not execute pickled code unless asked to: ``torch.load(weights_only=True)`` for
``.pth``/``.pt`` files, and an explicit trust switch for the formats that are plain pickles.

- ``.pth`` written by detectron2/pedet (model, optimizer, scheduler, iteration, sampler seed) hold only tensors and
  builtin containers, so they load with ``weights_only=True`` (torch's restricted unpickler).
- A ``.pth`` holding other Python objects fails that load. It is then loaded as a full pickle only when the caller
  trusts it: ``trust_pickle=True`` or the environment variable ``PEDET_TRUST_PICKLE=1``; otherwise the error says so.
- ``.pkl`` (detectron2 model-zoo / Detectron1 / converted ImageNet weights) are plain pickles of numpy arrays; there
  is no restricted loader for them. They are loaded by detectron2's code with a warning naming the file, because
  unpickling runs code from the file: only load ``.pkl`` files you trust.
"""
import logging
import os
import pickle
import re
import zipfile
from typing import Any, Dict, Union
from urllib.parse import parse_qs

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.checkpoint import DetectionCheckpointer

from .io import atomic_torch_save, atomic_write, remove_stale_temporaries

__all__ = ["CheckpointFileError", "PedetCheckpointer", "check_weights", "load_checkpoint_file",
           "trust_pickle_from_env"]
logger = logging.getLogger(__name__)


def trust_pickle_from_env() -> bool:
    """True when PEDET_TRUST_PICKLE is 1/true/yes."""
    return os.environ.get("PEDET_TRUST_PICKLE", "").lower() in ("1", "true", "yes")


class CheckpointFileError(ValueError):
    """A weights file that is missing, empty, or not a checkpoint at all (no pickle could make it load)."""


def _check_checkpoint_format(path: str) -> None:
    """torch.save writes a zip archive (or, with the legacy format, a pickle: protocol byte 0x80); anything else
    (text, an image, an empty file) is named as such, so that trusting the pickle is never suggested for it."""
    if not os.path.isfile(path):
        raise CheckpointFileError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointFileError(f"{path}: empty file, not a checkpoint")
    if head[:2] == b"PK" and not zipfile.is_zipfile(path):
        raise CheckpointFileError(f"{path}: truncated or damaged checkpoint (an incomplete zip archive)")
    if zipfile.is_zipfile(path) and _is_torchscript_archive(path):
        # torch.load's own message ("Cannot use weights_only=True with TorchScript archives ... In PyTorch 2.6, we
        # changed the default ...") was shown as a truncated or damaged checkpoint
        raise CheckpointFileError(f"{path}: a TorchScript archive (e.g. tools/export.py --format torchscript), not a "
                                  "checkpoint: run it with torch.jit.load; MODEL.WEIGHTS needs the training "
                                  "checkpoint it was exported from (e.g. model_final.pth)")
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise CheckpointFileError(f"{path}: not a PyTorch checkpoint (neither torch.save's zip format nor a "
                                  f"pickle; the file starts with {head!r})")


def _is_torchscript_archive(path: str) -> bool:
    """torch.jit.save's zip holds <name>/code/ and <name>/constants.pkl next to data.pkl; torch.save's zip does not."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def check_weights(weights: str, purpose: str = "") -> None:
    """
    For the entry points (train_net, demo, export): MODEL.WEIGHTS empty and a ``purpose`` ("evaluating",
    "exporting", ...) -> a warning that says the model is randomly initialised; a local file that does not exist
    -> CheckpointFileError. URLs and detectron2:// model-zoo names are left to detectron2's loader.
    """
    if not weights:
        if not purpose:  # training from scratch is a choice
            return
        logger.warning(f"MODEL.WEIGHTS is empty: {purpose} a RANDOMLY INITIALISED model (give MODEL.WEIGHTS "
                       "path/to/model_final.pth)")
    elif "://" not in weights and os.path.isdir(weights):
        raise CheckpointFileError(f"MODEL.WEIGHTS {weights}: a directory, not a checkpoint file")
    elif "://" not in weights and not os.path.isfile(weights):
        raise CheckpointFileError(f"MODEL.WEIGHTS {weights}: no such file")


def load_checkpoint_file(path: str, trust_pickle: bool = False) -> Any:
    """
    torch.load a ``.pth``/``.pt`` file on CPU, weights-only unless the file needs (and the caller grants) full pickle.

    Args:
        path: a local file.
        trust_pickle: allow a full unpickle when the weights-only load fails (or PEDET_TRUST_PICKLE=1).
    Raises:
        pickle.UnpicklingError with the reason and the way to trust the file.
    """
    _check_checkpoint_format(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError) as e:  # a damaged zip archive or a cut pickle
        raise CheckpointFileError(f"{path}: truncated or damaged checkpoint ({str(e).splitlines()[0]})") from None
    except pickle.UnpicklingError as e:
        if not (trust_pickle or trust_pickle_from_env()):
            # torch's message is a page (its first line, with terminal bold codes, promised "two options" that it
            # did not list): name the object the file pickles instead, e.g. a whole model saved with torch.save(model)
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
            what = f"e.g. {found.group(1)}" if found else re.sub(r"\x1b\[[0-9;]*m", "", str(e).splitlines()[0])
            raise pickle.UnpicklingError(
                f"{path} cannot be loaded weights-only (it holds Python objects other than tensors and containers: "
                f"{what}). Loading it runs code from the file: if you trust it, pass trust_pickle=True or set "
                "PEDET_TRUST_PICKLE=1."
            ) from e
        logger.warning(f"Loading {path} as a full pickle (trusted by the caller): it can run code from the file")
        return torch.load(path, map_location="cpu", weights_only=False)


def _check_model_weights(filename: str, loaded: Dict[str, Any], whole_file: str = "") -> None:
    """The "model" entry of a loaded checkpoint is a dict of finite tensors / arrays (fvcore would fail on anything else
    with an AttributeError or "Unsupported type found in checkpoint!", without the file; NaN weights load silently).
    ``whole_file``: why Detectron2 took the whole file as that entry (the message then names the file's own keys)."""
    import numpy as np

    weights = loaded.get("model")
    if not isinstance(weights, dict):
        raise CheckpointFileError(f"{filename}: its 'model' entry holds a {type(weights).__name__}, not a state dict "
                                  "of weights")
    non_finite = []
    for key, value in weights.items():
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            kind = type(value).__name__
            kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
            if whole_file:  # "weight 'iteration' of its 'model' entry" named an entry the file does not have
                keys = ", ".join(map(repr, list(weights)[:5])) + (", ..." if len(weights) > 5 else "")
                raise CheckpointFileError(f"{filename}: {whole_file}, so it is read whole as a state dict of weights "
                                          f"(as Detectron2 does), but its entry {key!r} is {kind}, "
                                          f"not a tensor or an array (the file holds {keys}: not a checkpoint of "
                                          "a model?)")
            raise CheckpointFileError(f"{filename}: weight {key!r} of its 'model' entry is {kind}, "
                                      "not a tensor or an array")
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                non_finite.append(key)
        elif np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            non_finite.append(key)
    if non_finite:  # a diverged run's weights: every output would be NaN (an empty evaluation, a crash in training)
        raise CheckpointFileError(f"{filename}: {len(non_finite)} weights hold NaN or inf values (e.g. "
                                  f"{', '.join(non_finite[:3])}); the run that wrote it diverged")


class PedetCheckpointer(DetectionCheckpointer):
    """
    DetectionCheckpointer with weights-only ``.pth`` loading, a warning on ``.pkl``, and atomic saves. A save killed
    half-way leaves the previous checkpoint intact and a hidden temporary file, which the next checkpointer of the
    folder (e.g. the ``--resume`` run) removes when it starts.
    """

    def __init__(self, model, save_dir: str = "", *, trust_pickle: bool = False,
                 require_all: Union[bool, str] = False, save_to_disk=None, **checkpointables):
        """
        Args:
            model, save_dir, save_to_disk, checkpointables: as DetectionCheckpointer.
            trust_pickle: see ``load_checkpoint_file``.
            require_all: every parameter of the model must be in the checkpoint (``--eval-only``: a model evaluated
                with some randomly initialised parameters is not the model the file holds); True or what needs them
                for the error message ("exporting", "running"; True = "evaluating"). A ``--resume`` from
                ``last_checkpoint`` always requires them all (the run's own checkpoint). Otherwise Detectron2's
                rule holds (missing parameters are logged), unless the checkpoint holds none of them.
        """
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.trust_pickle, self.require_all = trust_pickle, require_all
        self._loading, self._resuming = "", False
        if self.save_dir and self.save_to_disk and "://" not in self.save_dir:
            for path in remove_stale_temporaries(self.save_dir):
                self.logger.info(f"Removed {path}, left by an interrupted save")

    @classmethod
    def from_checkpointer(cls, other: DetectionCheckpointer, trust_pickle: bool = False) -> "PedetCheckpointer":
        """The same model, folder and checkpointables as ``other`` (e.g. the one DefaultTrainer built)."""
        return cls(other.model, other.save_dir, trust_pickle=trust_pickle, save_to_disk=other.save_to_disk,
                   **other.checkpointables)

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        self._resuming = resume and self.has_checkpoint()
        return super().resume_or_load(path, resume=resume)

    def get_checkpoint_file(self) -> str:
        """The file ``last_checkpoint`` names; an unreadable or dangling ``last_checkpoint`` is a CheckpointFileError
        (fvcore would fail on it with an assertion or a decoding error)."""
        if "://" in self.save_dir:
            return super().get_checkpoint_file()
        tag = os.path.join(self.save_dir, "last_checkpoint")
        try:
            with open(tag, encoding="utf-8") as f:
                name = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise CheckpointFileError(f"{tag}: cannot be read ({getattr(e, 'strerror', None) or e}); remove it to "
                                      "start without resuming") from None
        path = os.path.join(self.save_dir, name)
        if not name or not os.path.isfile(path):
            raise CheckpointFileError(f"{tag} names {name!r}, which is not a checkpoint file in {self.save_dir}; fix or "
                                      "remove it (then --resume starts from MODEL.WEIGHTS)")
        return path

    def load(self, path: str, checkpointables=None) -> Dict[str, Any]:
        """DetectionCheckpointer.load; a path that cannot be found or fetched is a CheckpointFileError."""
        self._loading = path
        try:
            return super().load(path, checkpointables=checkpointables)
        except AssertionError as e:  # fvcore: "Checkpoint ... not found!"
            raise CheckpointFileError(f"{path}: {e}") from None
        except OSError as e:  # a URL that cannot be fetched
            raise CheckpointFileError(f"{path}: cannot be fetched ({e})") from None

    def _load_model(self, checkpoint: Any):
        """fvcore's load, then: none of the model's parameters loaded -> CheckpointFileError (the file is another
        model's); some missing with ``require_all`` or on ``--resume`` -> CheckpointFileError naming them."""
        if self._resuming and "trainer" in self.checkpointables and "trainer" not in checkpoint:
            # a weights-only file (stripped, released, or a model-zoo .pkl) named by last_checkpoint: detectron2 loads
            # the weights and resumes at iteration 1 (TrainerBase.iter 0, + 1) with no optimizer or LR-scheduler
            # state, overwriting the file, without a word
            raise CheckpointFileError(f"{self._loading}: --resume needs a training checkpoint (its 'trainer' entry: "
                                      "iteration, LR scheduler, optimizer), this file holds model weights only; to "
                                      "train from them, start a new run in another OUTPUT_DIR with MODEL.WEIGHTS "
                                      "set to it")
        incompatible = super()._load_model(checkpoint)
        expected = [k for k in self.model.state_dict() if not k.endswith("num_batches_tracked")]
        missing = [k for k in incompatible.missing_keys if not k.endswith("num_batches_tracked")]
        if expected and len(missing) == len(expected):
            raise CheckpointFileError(f"{self._loading}: none of the model's {len(expected)} parameters is in the "
                                      "checkpoint (a checkpoint of another model?)")
        if missing and (self.require_all or self._resuming):
            why = "resuming" if self._resuming else (self.require_all if isinstance(self.require_all, str) else
                                                     "evaluating")
            # fvcore skips (and counts as missing) a parameter whose shape differs: it is in the file, under another
            # config (e.g. another MODEL.FPN.OUT_CHANNELS); say so instead of "not in the checkpoint"
            shapes = {k: (tuple(c), tuple(m)) for k, c, m in incompatible.incorrect_shapes}
            absent, reshaped = [k for k in missing if k not in shapes], [k for k in missing if k in shapes]
            problems = []
            if absent:
                problems.append(f"{len(absent)} of the model's {len(expected)} parameters are not in the checkpoint "
                                f"(e.g. {', '.join(absent[:3])})")
            if reshaped:
                k = reshaped[0]
                problems.append(f"{len(reshaped)} of the model's {len(expected)} parameters have another shape in the "
                                f"checkpoint (e.g. {k}: {shapes[k][0]} there, {shapes[k][1]} in the model; written "
                                "with another config?)")
            raise CheckpointFileError(f"{self._loading}: {'; '.join(problems)}; {why} needs them all")
        return incompatible

    def _load_file(self, filename: str) -> Dict[str, Any]:
        if filename.endswith(".pkl"):
            self.logger.warning(f"{filename} is a pickle (model-zoo format) and is unpickled without restriction: "
                                "only load .pkl files you trust")
            try:
                loaded = super()._load_file(filename)
            except (pickle.UnpicklingError, EOFError, UnicodeDecodeError) as e:
                raise CheckpointFileError(f"{filename}: not a readable pickle ({e})") from None
            except (TypeError, AttributeError):  # detectron2 looks keys up in what the pickle holds
                raise CheckpointFileError(f"{filename}: holds no dict of weights (a model-zoo .pkl holds one)") from None
            wrapped = loaded.get("__author__") == "Caffe2" and loaded.get("matching_heuristics") is True
            whole = "it holds no 'model' and '__author__' entries" if wrapped else ""  # detectron2's _load_file
            _check_model_weights(filename, loaded, whole)
            return loaded
        if filename.endswith(".pyth"):
            return super()._load_file(filename)
        loaded = load_checkpoint_file(filename, self.trust_pickle)
        self.logger.info(f"Loaded {filename} weights-only" if not self.trust_pickle else f"Loaded {filename}")
        if not isinstance(loaded, dict):
            hint = "; save model.state_dict() instead of the model" if isinstance(loaded, torch.nn.Module) else ""
            raise CheckpointFileError(f"{filename}: holds a {type(loaded).__name__}, not a state dict or a checkpoint"
                                      f"{hint}")
        whole = "" if "model" in loaded else "it holds no 'model' entry"
        if whole:
            loaded = {"model": loaded}
        _check_model_weights(filename, loaded, whole)
        self._apply_url_query(loaded)
        return loaded

    def _apply_url_query(self, loaded: Dict[str, Any]) -> None:
        """
        detectron2 main accepts ``load("model.pth?matching_heuristics=True")``: its ``load`` strips the query and keeps
        it in ``_parsed_url_during_load`` for ``_load_file``, which this class overrides; the query is honoured here
        as main does (v0.6 has no such attribute, and a query there is part of the file name).
        """
        parsed = getattr(self, "_parsed_url_during_load", None)
        if parsed is None:
            return
        queries = parse_qs(parsed.query)
        if queries.pop("matching_heuristics", ["False"]) == ["True"]:
            loaded["matching_heuristics"] = True
        if queries:
            raise ValueError(f"Unsupported query {queries} in the checkpoint path {parsed.geturl()}")

    def save(self, name: str, **kwargs: Any) -> None:
        """As fvcore's Checkpointer.save, but the file appears atomically (a kill during the save leaves the old one)."""
        if not self.save_dir or not self.save_to_disk:
            return
        if "://" in self.save_dir:  # a remote PathManager folder: no local rename, fvcore's plain save
            return super().save(name, **kwargs)
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        save_file = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_torch_save(data, save_file)
        self.tag_last_checkpoint(os.path.basename(save_file))

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """The ``last_checkpoint`` file, written atomically."""
        if "://" in self.save_dir:
            return super().tag_last_checkpoint(last_filename_basename)
        atomic_write(os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename)
