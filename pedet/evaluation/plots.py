"""
MR-FPPI curves as PNG, like the figures of the Caltech / CityPersons / CrowdHuman papers: log-log axes, one curve
per subset, MR^-2 in the legend. matplotlib with the Agg backend (no display needed), imported only when plotting.

Shape shorthand:  N = ranked, non-ignored detections of one subset.
"""
from __future__ import annotations

import os

import numpy as np

from .evaluator_io import atomic_write

__all__ = ["plot_mr_fppi"]


def _step_curve(fppi: np.ndarray, miss_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the last point of each FPPI value (the curve the reference points are read from) and drop FPPI 0."""
    if fppi.size == 0:
        return fppi, miss_rate
    last = np.r_[fppi[1:] != fppi[:-1], True]
    x, y = fppi[last], miss_rate[last]
    keep = x > 0
    return x[keep], y[keep]


def plot_mr_fppi(report, out_dir: str, file_name: str | None = None, title: str | None = None) -> list[str]:
    """
    Write one PNG with a curve per subset of ``report`` (an EvaluationReport) into ``out_dir`` (atomically).

    Returns:
        [path of the PNG].
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # object API: no pyplot global state, thread safe

    fig = Figure(figsize=(6.0, 4.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    legend = report.log_average_for_legend()
    for name, (fppi, miss) in report.curves.items():
        mr = legend.get(name)
        label = f"{100 * mr:.2f}% {name}" if mr is not None else f"undefined {name}"
        x, y = _step_curve(np.asarray(fppi), np.asarray(miss))
        if x.size == 0 or not np.isfinite(y).any():
            ax.plot([], [], label=label)
            continue
        ax.step(x, np.maximum(y, 1e-4), where="post", label=label, linewidth=1.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-3, 1e2)
    ax.set_ylim(0.03, 1.0)
    yt = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.64, 0.8, 1.0]
    ax.set_yticks(yt)
    ax.set_yticklabels([f"{v:.2f}".lstrip("0") if v < 1 else "1" for v in yt])
    ax.minorticks_off()
    ax.grid(True, which="major", linestyle=":", linewidth=0.6)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("miss rate")
    mode = report.details.get("mode") or report.details.get("box_mode")
    ax.set_title(title or f"{report.protocol} ({mode}), legend: MR$^{{-2}}$")
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, file_name or f"mr_fppi_{report.protocol}.png")
    atomic_write(path, lambda f: fig.savefig(f, format="png"), binary=True)
    return [path]
