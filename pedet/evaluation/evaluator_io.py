"""
Atomic file writers (pedet.utils.file_io: temp file in the same folder, fsync, os.replace) and the prediction file
formats the evaluator writes (CrowdHuman odgt lines, COCO results JSON). Pure Python / numpy.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np

from pedet.utils.file_io import atomic_open

from .io import DetectionSet, GroundTruthSet

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text", "odgt_lines", "coco_results"]


def atomic_write(path: str, write: Callable, binary: bool = False) -> None:
    """
    Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path`` (readers never see half):
    pedet.utils.file_io.atomic_open (fsync'd, the umask's permissions, leftovers of interrupted saves removed).
    """
    with atomic_open(path, "wb" if binary else "w") as f:
        write(f)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: str, obj) -> None:
    atomic_write(path, lambda f: json.dump(obj, f, indent=1, allow_nan=False))


def odgt_lines(gt: GroundTruthSet, dt: DetectionSet) -> list[str]:
    """CrowdHuman detection odgt: one ``{"ID", "width", "height", "dtboxes": [{"box", "score", "tag": 1}]}``/image."""
    lines = []
    for i, img_id in enumerate(gt.image_ids):
        s, e = int(dt.offsets[i]), int(dt.offsets[i + 1])
        rec = {"ID": img_id}
        if np.isfinite(gt.image_width[i]):
            rec["width"] = int(gt.image_width[i]) if gt.image_width[i].is_integer() else float(gt.image_width[i])
            rec["height"] = int(gt.image_height[i]) if gt.image_height[i].is_integer() else float(gt.image_height[i])
        rec["dtboxes"] = [
            {"box": b, "score": sc, "tag": 1} for b, sc in zip(dt.boxes[s:e].tolist(), dt.scores[s:e].tolist())
        ]
        lines.append(json.dumps(rec))
    return lines


def coco_results(gt: GroundTruthSet, dt: DetectionSet, category_id: int = 1) -> list[dict]:
    """COCO results: ``[{"image_id", "category_id", "bbox": XYWH, "score"}]``, all detections (no top-100 cap)."""
    out = []
    for i, img_id in enumerate(gt.image_ids):
        s, e = int(dt.offsets[i]), int(dt.offsets[i + 1])
        out.extend(
            {"image_id": img_id, "category_id": category_id, "bbox": b, "score": sc}
            for b, sc in zip(dt.boxes[s:e].tolist(), dt.scores[s:e].tolist())
        )
    return out
