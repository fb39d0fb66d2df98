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


class _WriteErrors:
    """A file object that remembers the OSError of its last failed write: torch.save's zip writer turns it into
    "RuntimeError: [enforce fail at inline_container.cc:...] . unexpected pos 977984 vs 977880", which does not say
    that the disk is full."""

    def __init__(self, f):
        self.f = f
        self.error = None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name):
        return getattr(self.f, name)


def atomic_torch_save(obj: Any, path: str) -> None:
    """torch.save into ``path`` through ``atomic_open``; a failed write raises its own OSError (see _WriteErrors),
    which ``atomic_open`` completes with the name of ``path``."""
    import torch

    with atomic_open(path, "wb") as f:
        f = _WriteErrors(f)  # the same file, remembering a failed write's OSError
        try:
            torch.save(obj, f)
        except RuntimeError:
            if f.error is None:
                raise
            raise f.error from None
