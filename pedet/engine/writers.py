"""
A metrics.json (JSON lines) that survives ``kill -9``: repair the torn last line before appending again.

detectron2's ``JSONWriter`` appends one JSON object per line and flushes. A process killed in the middle of a write can
leave a last line without its newline (or half an object); after ``--resume`` the next record is appended to that
fragment and the file no longer parses line by line. ``repair_jsonl`` truncates the file to its last complete, parsable
line; ``RepairingJSONWriter`` calls it before opening the file, and can also drop the records of iterations that the
resumed run is about to redo (those after the last checkpoint), so that iterations in the file increase strictly.
"""
import json
import logging
import os
from typing import List, Optional

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.utils.events import JSONWriter

__all__ = ["RepairingJSONWriter", "read_jsonl", "repair_jsonl"]
logger = logging.getLogger(__name__)


def read_jsonl(path: str) -> List[dict]:
    """Every line of ``path`` parsed with json.loads (raises on a broken line)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def repair_jsonl(path: str, drop_from_iteration: Optional[int] = None) -> int:
    """
    Truncate ``path`` (JSON lines) to its last complete line that parses, in place.

    Args:
        path: a JSON-lines file; nothing happens if it does not exist.
        drop_from_iteration: also cut from the first record whose "iteration" is >= this value (the resumed run writes
            them again). None keeps them.
    Returns:
        the number of bytes removed.
    """
    if not os.path.isfile(path):
        return 0
    with open(path, "rb") as f:
        data = f.read()
    keep = 0  # byte offset up to which the file is good
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn last line
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                break
            it = record.get("iteration") if isinstance(record, dict) else None
            if drop_from_iteration is not None and isinstance(it, int) and it >= drop_from_iteration:
                break
        keep += len(line)
    removed = len(data) - keep
    if removed:
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        why = "a torn last line after a crash"
        if drop_from_iteration is not None:
            why += f", or the records of iterations >= {drop_from_iteration} that the resumed run repeats"
        logger.warning(f"{path}: removed {removed} trailing bytes ({why})")
    return removed


class RepairingJSONWriter(JSONWriter):
    """detectron2's JSONWriter after ``repair_jsonl``; each write is followed by flush + fsync."""

    def __init__(self, json_file: str, window_size: int = 20, drop_from_iteration: Optional[int] = None):
        """
        Args:
            json_file: path of metrics.json (appended to).
            window_size: as JSONWriter.
            drop_from_iteration: see ``repair_jsonl``; the trainer passes its start iteration.
        """
        repair_jsonl(json_file, drop_from_iteration)
        super().__init__(json_file, window_size)

    def write(self):
        super().write()
        os.fsync(self._file_handle.fileno())

    def drop_records_from(self, iteration: int) -> int:
        """Cut the records of iterations >= ``iteration`` (a resumed run redoes them); returns the bytes removed.
        The file stays open in append mode, so later writes go to the new end."""
        self._file_handle.flush()
        return repair_jsonl(self._file_handle.name, drop_from_iteration=iteration)
