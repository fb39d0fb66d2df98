"""
Atomic file writes for the training side: pedet.utils.file_io's writer (re-exported here) plus ``torch.save``.

Write to a temporary sibling in the same folder, flush + fsync, ``os.replace``, fsync the folder; the file gets the
umask's permissions, and temporaries of interrupted saves are removed (pedet/utils/file_io.py). Detectron2's
checkpoints go through ``atomic_torch_save`` in ``PedetCheckpointer``; tools/export.py writes models with
``atomic_open``.
"""
from typing import Any

from pedet.utils.file_io import atomic_open, atomic_write, atomic_write_json, remove_stale_temporaries

__all__ = ["atomic_open", "atomic_write", "atomic_write_json", "atomic_torch_save", "remove_stale_temporaries"]


def atomic_torch_save(obj: Any, path: str) -> None:
    """torch.save into ``path`` through ``atomic_open``."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
