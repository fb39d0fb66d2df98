"""
Atomic file writes: a reader (or a run killed half-way) sees the old file or the new one, never a torn one.

Write to a temporary sibling in the same folder, flush + fsync, then ``os.replace`` (atomic on POSIX within one file
system). Used for evaluation outputs and exported models; detectron2's own checkpoints go through ``atomic_torch_save``
in ``PedetCheckpointer``.
"""
import contextlib
import json
import os
import tempfile
from typing import IO, Any, Iterator, Union

__all__ = ["atomic_open", "atomic_write", "atomic_write_json", "atomic_torch_save"]


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
    """
    Context manager giving a file object whose content replaces ``path`` only when the block exits without error.

    Args:
        path: destination; its folder is created if missing.
        mode: "w" (text) or "wb" (binary).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', got {mode!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a normal open() would honour the umask (usually 0644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write(path: str, data: Union[str, bytes]) -> None:
    """Replace ``path`` with ``data`` (str -> text, bytes -> binary) atomically."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def atomic_write_json(path: str, obj: Any, **dump_kwargs) -> None:
    """json.dump ``obj`` into ``path`` atomically (``indent=2`` unless given)."""
    dump_kwargs.setdefault("indent", 2)
    with atomic_open(path, "w") as f:
        json.dump(obj, f, **dump_kwargs)


def atomic_torch_save(obj: Any, path: str) -> None:
    """torch.save into ``path`` atomically."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
