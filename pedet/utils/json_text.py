"""
Helpers for reading JSON that both pedet.data (the loaders and converters) and pedet.evaluation (the evaluator, which
imports no torch and nothing of pedet.data) use, so that one rule reads both:

- ``shorten``: a value's repr, shortened in the middle, for one-line error messages;
- ``unique_keys``: json.loads' object_pairs_hook that refuses a key named twice in one object (every JSON reader
  keeps the last value without a word), raising ``DuplicateKeyError``;
- ``NUL_HINT``, ``ends_in_nul_bytes``: what NUL bytes at the end of a JSON text most likely are (said instead of the
  parser's "Expecting value" or "Extra data");
- ``is_truncated``: whether a JSON syntax error is the text ending too early (a file or line cut short);
- ``is_metrics_file``: whether a JSON document is the metrics.json of the evaluation command's --out or of
  MissRateEvaluator (said where ground truth or detections were expected).
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKeyError", "NUL_HINT", "ends_in_nul_bytes", "is_metrics_file", "is_truncated", "shorten",
           "unique_keys"]

# a file system that loses power while a file grows can leave its new end as zeros (no JSON text has a NUL byte)
NUL_HINT = "the zero-filled end of a file cut short by a crash or a power loss? write the file again"


def ends_in_nul_bytes(text) -> bool:
    """True if `text` (str or bytes) ends in NUL bytes (blanks between them aside) and has none before them: the
    zero-filled end of `NUL_HINT`, not a binary file."""
    nul, blanks = ("\x00", " \t\r\n") if isinstance(text, str) else (b"\x00", b" \t\r\n")
    head = text.rstrip(nul + blanks)
    return len(head) < len(text.rstrip(blanks)) and nul not in head


def is_metrics_file(data: Any) -> bool:
    """True for the metrics.json that pedet's evaluators write: flat metrics plus a 'details' object naming the
    protocol (given as ground truth it was "no 'images' ... (write [] for none)", which sent users to edit it). A
    COCO-style file with 'images' or 'annotations' is none, whatever else it holds (one with a 'details' object of
    its own was refused as a metrics file)."""
    return (isinstance(data, dict) and isinstance(data.get("details"), dict) and "protocol" in data["details"]
            and "images" not in data and "annotations" not in data)


def is_truncated(text: str, e: json.JSONDecodeError) -> bool:
    """True if a JSON syntax error is the end of the text coming too early (not a bad character in the middle)."""
    if not text[e.pos:].strip():
        return True
    return e.msg.startswith("Unterminated string") and '"' not in text[e.pos + 1:]


def shorten(value: Any, limit: int) -> str:
    """repr(value), shortened in the middle to about ``limit`` characters (a 5 000-character id, a whole list or a
    400-digit number must not flood a one-line error)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 4:]}"


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice (raised by `unique_keys`): ``key``, its ``first`` and ``second`` value and
    the whole object as a dict (``obj``, the last value of each key)."""

    def __init__(self, key: str, first: Any, second: Any, obj: dict):
        self.key, self.first, self.second, self.obj = key, first, second, obj
        super().__init__(f"an object has the key {key!r} twice ({shorten(first, 40)}, then {shorten(second, 40)}); "
                         "JSON readers keep the last value without a word: remove the one that is wrong")


def unique_keys(pairs: list) -> dict:
    """json.loads' object_pairs_hook: a dict, or DuplicateKeyError if a key repeats (json would keep the last)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: dict = {}
        for key, value in pairs:
            if key in seen:
                raise DuplicateKeyError(key, seen[key], value, out)
            seen[key] = value
    return out
