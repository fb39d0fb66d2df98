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
import contextlib
import logging
import os
import pickle
import re
import sys
from datetime import timedelta
from typing import Callable, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.engine.launch import _find_free_port
from detectron2.utils import comm

from pedet.data.common import DatasetFormatError
from pedet.data.selection import SelectionError
from pedet.evaluation.io import EvalInputError

from .checkpoint import CheckpointFileError

__all__ = ["BAD_INPUT_ERRORS", "DEFAULT_TIMEOUT", "bad_input_message", "check_launch_args", "launch", "one_line_errors",
           "pick_backend"]
DEFAULT_TIMEOUT = timedelta(minutes=30)
logger = logging.getLogger(__name__)


def pick_backend(backend: Optional[str] = None) -> str:
    """``backend`` if given, else $PEDET_DIST_BACKEND, else "nccl" with CUDA and "gloo" without."""
    backend = backend or os.environ.get("PEDET_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
    backend = backend.lower()
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"Unsupported torch.distributed backend {backend!r} (nccl or gloo)")
    return backend


def check_launch_args(args) -> None:
    """
    The launch options of detectron2's ``default_argument_parser`` (``--num-gpus``, ``--num-machines``,
    ``--machine-rank``, ``--dist-url``): a value that detectron2 would silently ignore or fail on inside ``launch``
    ends in one line on stderr and exit status 2, as argparse reports a bad option.
    """
    problems = []
    if args.num_gpus < 0:
        problems.append(f"--num-gpus {args.num_gpus}: must be >= 0 (processes per machine; 0 runs one, as 1 does)")
    if args.num_machines < 1:
        problems.append(f"--num-machines {args.num_machines}: must be >= 1")
    elif not 0 <= args.machine_rank < args.num_machines:
        problems.append(f"--machine-rank {args.machine_rank}: must be in [0, --num-machines {args.num_machines})")
    elif args.num_machines > 1 and args.dist_url in (None, "auto"):
        problems.append("--dist-url auto works on one machine only; give --dist-url tcp://HOST0:PORT on every machine")
    if args.num_gpus * args.num_machines > 1:  # what each process would fail on in init_process_group / set_device
        problems += _check_dist_url(args.dist_url)
        if args.num_gpus > 1 and pick_backend() == "nccl" and args.num_gpus > torch.cuda.device_count():
            problems.append(f"--num-gpus {args.num_gpus}: only {torch.cuda.device_count()} CUDA GPUs are visible here "
                            "(CUDA_VISIBLE_DEVICES); with PEDET_DIST_BACKEND=gloo and MODEL.DEVICE cpu it counts CPU "
                            "processes")
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        sys.exit(2)
    if args.num_machines > 1 and _is_loopback_url(args.dist_url):
        # detectron2 v0.6's parser defaults to tcp://127.0.0.1:PORT, not "auto": the two-machine command without
        # --dist-url waited at the rendezvous until its 30-minute timeout, without a word. Valid only when every
        # "machine" of the job runs on this host, so a warning, not an error.
        print(f"warning: --dist-url {args.dist_url} is a loopback address (detectron2's default): with "
              f"--num-machines {args.num_machines} the other machines cannot reach machine 0 there and every process "
              "waits until the rendezvous times out; give machine 0's address, --dist-url tcp://HOST0:PORT, on every "
              "machine", file=sys.stderr)


def _is_loopback_url(url: Optional[str]) -> bool:
    """Whether a tcp:// --dist-url names this machine's loopback interface (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    from urllib.parse import urlparse

    if not url or not url.startswith("tcp://"):
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def _check_dist_url(url: Optional[str]) -> list:
    """The problem with a --dist-url that torch's rendezvous refuses in every process (a traceback each), or []."""
    from urllib.parse import urlparse

    if url in (None, "auto"):
        return []
    parsed = urlparse(url)
    if parsed.scheme not in ("tcp", "file", "env"):
        return [f"--dist-url {url}: must be auto, tcp://HOST:PORT, file:///PATH or env://"]
    if parsed.scheme == "tcp":
        try:
            port = parsed.port
        except ValueError:
            port = None
        if not parsed.hostname or port is None:
            return [f"--dist-url {url}: tcp:// needs a host and a port (tcp://HOST:PORT)"]
    if parsed.scheme == "file" and not os.path.isdir(os.path.dirname(parsed.path) or "/"):
        return [f"--dist-url {url}: the folder {os.path.dirname(parsed.path)} does not exist"]
    return []


# Exceptions that mean bad input, each with a message naming the file / record and what is wrong: a weights file that
# is missing or no checkpoint, a pickle that cannot be loaded weights-only, a data set file or an image that is
# missing or malformed (the loaders, PedestrianDatasetMapper), ground truth the evaluator cannot use, a selection
# hold-out that leaves no training image; a run that diverged (detectron2's trainer raises FloatingPointError when a
# loss becomes NaN or infinite: a config such as SOLVER.BASE_LR too high, not a bug of the code).
BAD_INPUT_ERRORS = (CheckpointFileError, pickle.UnpicklingError, DatasetFormatError, EvalInputError, FileNotFoundError,
                    SelectionError, FloatingPointError)

# torch.utils.data re-raises an exception of a DataLoader worker in the main process with the original type and the
# worker's whole traceback as its message (torch._utils.ExceptionWrapper.reraise)
_WORKER_ERROR = re.compile(r"Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback")


def bad_input_message(e: BaseException) -> str:
    """
    The message of a bad-input exception on one line; for one re-raised from a DataLoader worker, the message of the
    original exception (the last lines of the worker's traceback), so that DATALOADER.NUM_WORKERS > 0 reports what
    NUM_WORKERS 0 does.
    """
    msg = str(e)
    m = _WORKER_ERROR.match(msg)
    if m:  # the traceback ends with "[module.]Name: message" (the message may span lines)
        lines = msg.rstrip().splitlines()
        start = max(i for i, line in enumerate(lines) if re.match(rf"(?:[\w.]+\.)?{m.group(1)}(?::|$)", line))
        msg = "\n".join(lines[start:]).split(":", 1)[1] if ":" in lines[start] else ""
    msg = " ".join(msg.split()) or type(e).__name__
    if isinstance(e, FloatingPointError):  # detectron2: "Loss became infinite or NaN at iteration=2! loss_dict = ..."
        msg = (f"training diverged: {msg} (lower SOLVER.BASE_LR or raise SOLVER.WARMUP_ITERS, or clip the gradients "
               "with SOLVER.CLIP_GRADIENTS)")
    return msg


@contextlib.contextmanager
def one_line_errors(*extra: type):
    """
    Around the work of an entry point (train_net's ``launch``, and each process it starts; the demo, the converter
    tools): bad input that surfaces as an exception (``BAD_INPUT_ERRORS``, also when a DataLoader worker raised it,
    and the entry point's own bad-input exception types ``extra``) ends as ``error: ...`` on stderr with exit status
    1, without a traceback. A training process that exited with a non-zero status (after printing its own one-line
    error) ends the parent the same way. Other exceptions (bugs) keep their traceback.
    """
    from torch.multiprocessing import ProcessExitedException

    try:
        yield
    except (*BAD_INPUT_ERRORS, *extra) as e:
        sys.exit(f"error: {bad_input_message(e)}")
    except ProcessExitedException as e:
        how = f"was killed by {e.signal_name}" if e.signal_name else f"exited with status {e.exit_code}"
        sys.exit(f"error: process {e.error_index} of the job {how} (its own error is printed above)")


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
        with one_line_errors():  # a bad-input error ends this process with one line; the parent reports its status
            main_func(*args)
        # every rank reaches the end before any tears down its gloo pairs: a rank that destroyed the group and exited
        # while another was still working (rank 0 evaluating alone after the gather) was once killed by an abort in
        # gloo's teardown ("terminate called without an active exception", SIGABRT), failing a finished job
        comm.synchronize()
    finally:
        dist.destroy_process_group()
