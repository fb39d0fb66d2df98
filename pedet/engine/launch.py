"""
detectron2's ``launch`` (engine/launch.py of v0.6) with a CPU path: gloo instead of NCCL when there is no GPU.

v0.6's ``_distributed_worker`` asserts ``torch.cuda.is_available()`` and calls
``init_process_group(backend="NCCL")``, so ``--num-gpus 2`` cannot run on a CPU machine. This copy picks the backend:
NCCL when CUDA is available, gloo otherwise (or ``backend=`` / the environment variable ``PEDET_DIST_BACKEND``).
On CPU ``num_gpus_per_machine`` means "processes per machine"; use it with ``MODEL.DEVICE cpu``. Each CPU process gets
``max(1, cpu_count // processes)`` torch threads so that the processes do not oversubscribe the cores.

Multi-machine use is as in detectron2: run the same command on every machine with ``--num-machines M``,
``--machine-rank r`` (0 on the machine whose address is in the URL) and ``--dist-url tcp://HOST0:PORT``
(see docs/DEPLOYMENT.md).
"""
import logging
import os
from datetime import timedelta
from typing import Callable, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.engine.launch import _find_free_port
from detectron2.utils import comm

__all__ = ["DEFAULT_TIMEOUT", "launch", "pick_backend"]
DEFAULT_TIMEOUT = timedelta(minutes=30)
logger = logging.getLogger(__name__)


def pick_backend(backend: Optional[str] = None) -> str:
    """``backend`` if given, else $PEDET_DIST_BACKEND, else "nccl" with CUDA and "gloo" without."""
    backend = backend or os.environ.get("PEDET_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
    backend = backend.lower()
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"Unsupported torch.distributed backend {backend!r} (nccl or gloo)")
    return backend


def launch(
    main_func: Callable,
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: Optional[str] = None,
    args: tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
    backend: Optional[str] = None,
    start_method: Optional[str] = None,
) -> None:
    """
    Run ``main_func(*args)`` in ``num_gpus_per_machine`` processes on each of ``num_machines`` machines (or directly
    when the world size is 1); arguments as detectron2's ``launch``.

    Args:
        backend: "nccl" / "gloo" / None (see ``pick_backend``).
        start_method: "spawn" (detectron2's choice and the default) or "fork" ($PEDET_START_METHOD). Fork starts the
            workers in milliseconds instead of re-importing torch and detectron2 in each (seconds), and is safe for
            gloo on CPU when the parent has not run torch ops yet; never fork with CUDA initialised.
    """
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url is None or dist_url == "auto":
        if num_machines != 1:
            raise ValueError("dist_url=auto is not supported in multi-machine jobs; pass --dist-url tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// is not a reliable init_method in multi-machine jobs. Prefer tcp://")
    start_method = start_method or os.environ.get("PEDET_START_METHOD") or "spawn"
    backend = pick_backend(backend)
    if start_method == "fork" and backend == "nccl":
        raise ValueError("start_method='fork' is for CPU (gloo) runs; CUDA does not survive a fork")
    mp.start_processes(
        _distributed_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout, backend),
        daemon=False,
        start_method=start_method,
    )


def _distributed_worker(local_rank, main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args,
                        timeout, backend):
    global_rank = machine_rank * num_gpus_per_machine + local_rank
    if backend == "nccl":
        assert torch.cuda.is_available(), "NCCL needs CUDA; use the gloo backend on CPU"
        assert num_gpus_per_machine <= torch.cuda.device_count()
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_gpus_per_machine))
    try:
        dist.init_process_group(backend=backend, init_method=dist_url, world_size=world_size, rank=global_rank,
                                timeout=timeout)
    except Exception:
        logger.error(f"Process group URL: {dist_url}")
        raise
    # the local process group (ranks within this machine), as detectron2 sets it up: comm.get_local_rank() reads it
    assert comm._LOCAL_PROCESS_GROUP is None
    num_machines = world_size // num_gpus_per_machine
    for i in range(num_machines):
        ranks_on_i = list(range(i * num_gpus_per_machine, (i + 1) * num_gpus_per_machine))
        pg = dist.new_group(ranks_on_i)
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = pg
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    comm.synchronize()  # prevents a timeout right after init_process_group (maskrcnn-benchmark #172)
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()
