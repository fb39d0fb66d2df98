"""
``PedetAMPTrainer``: detectron2's ``AMPTrainer`` (``SOLVER.AMP.ENABLED True``) that also trains a model on the CPU.

Detectron2's AMPTrainer (v0.6 and main alike) asserts ``torch.cuda.is_available()`` in ``run_step`` and runs the
forward pass under ``torch.cuda.amp.autocast``, so on a CPU machine ``SOLVER.AMP.ENABLED True`` stops at the first
iteration. This subclass keeps detectron2's ``run_step`` unchanged for a model on CUDA (float16 autocast, the
GradScaler; on main also its ``precision``) and, for a model on any other device, runs the forward pass and the losses
under ``torch.autocast(device_type, dtype=torch.bfloat16)`` without gradient scaling: bfloat16 has float32's exponent
range, so gradients do not underflow the way float16 ones do, and CPU autocast supports bfloat16 first.
``PedetTrainerMixin`` puts it in place of AMPTrainer while DefaultTrainer builds its inner trainer.
"""
import time

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.engine import AMPTrainer

__all__ = ["PedetAMPTrainer", "model_device"]


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the first parameter (or buffer) of ``model`` (DistributedDataParallel included); CPU if none."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


class PedetAMPTrainer(AMPTrainer):
    """AMPTrainer on CUDA; bfloat16 autocast without gradient scaling elsewhere (module docstring)."""

    def __init__(self, model, data_loader, optimizer, *args, cpu_dtype: torch.dtype = torch.bfloat16, **kwargs):
        """
        Args:
            model, data_loader, optimizer, args, kwargs: as detectron2's AMPTrainer of the installed version.
            cpu_dtype: the autocast dtype off CUDA (torch.bfloat16; CPU autocast also accepts torch.float16).
        """
        self.device_type = model_device(model).type
        if self.device_type != "cuda" and not args and "grad_scaler" not in kwargs:
            # detectron2 would build torch.cuda.amp.GradScaler(), which disables itself with a warning off CUDA
            kwargs["grad_scaler"] = torch.amp.GradScaler(self.device_type, enabled=False)
        super().__init__(model, data_loader, optimizer, *args, **kwargs)
        self.cpu_dtype = cpu_dtype

    def run_step(self):
        if self.device_type == "cuda":
            return super().run_step()
        assert self.model.training, "[PedetAMPTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start

        zero_grad_first = getattr(self, "zero_grad_before_forward", False)  # a constructor argument on main only
        if zero_grad_first:
            self.optimizer.zero_grad()
        with torch.autocast(device_type=self.device_type, dtype=self.cpu_dtype):
            loss_dict = self.model(data)
            if isinstance(loss_dict, torch.Tensor):
                losses = loss_dict
                loss_dict = {"total_loss": loss_dict}
            else:
                losses = sum(loss_dict.values())
        if not zero_grad_first:
            self.optimizer.zero_grad()
        self.grad_scaler.scale(losses).backward()
        if hasattr(self, "after_backward"):  # the after_backward hook stage exists on main, not in v0.6
            self.after_backward()
        if getattr(self, "async_write_metrics", False):
            self.concurrent_executor.submit(self._write_metrics, loss_dict, data_time, iter=self.iter)
        else:
            self._write_metrics(loss_dict, data_time)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
