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

_XLIM, _YLIM = (1e-3, 1e2), (0.03, 1.0)


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
    notes = []
    for name, (fppi, miss) in report.curves.items():
        mr = legend.get(name)
        label = f"{100 * mr:.2f}% {name}" if mr is not None else f"undefined {name}"
        fppi, miss = np.asarray(fppi), np.asarray(miss)
        if mr is None or not np.isfinite(miss).all():
            ax.plot([], [], label=label)
            notes.append(f"{name}: no regular ground truth, miss rate undefined")
            continue
        # from the left edge: the miss rate reached before the first false positive (1 if none)
        zero = fppi == 0
        x, y = _step_curve(fppi, miss)
        x, y = np.r_[_XLIM[0], x], np.r_[float(miss[zero][-1]) if zero.any() else 1.0, y]
        if x.size == 1:  # no false positive at all: that miss rate holds at every FPPI
            x, y = np.r_[x, _XLIM[1]], np.r_[y, y]
        shown = y > 0  # a prefix: the miss rate never rises along the curve
        x0 = float(x[np.argmax(~shown)]) if not shown.all() else None
        xs, ys = (x, y) if x0 is None else (np.r_[x[shown], x0], np.r_[y[shown], _YLIM[0]])
        line = ax.step(xs, ys, where="post", label=label, linewidth=1.8)
        if x0 is not None:  # miss rate 0: a log axis cannot show it; mark where it is reached, at the bottom
            x1 = float(max(x[-1], fppi[-1], x0 * 10))  # along the bottom edge up to the curve's last FPPI
            ax.plot([x0, x1], [_YLIM[0], _YLIM[0]], linewidth=4, clip_on=False, color=line[0].get_color())
            ax.plot([x0], [_YLIM[0]], marker="v", markersize=9, clip_on=False, color=line[0].get_color())
            notes.append(f"{name}: miss rate 0 from FPPI {x0:.3g} (\u25bc; 0 is below the log axis)"
                         if x0 > _XLIM[0] else f"{name}: miss rate 0 without any false positive (\u25bc)")
    if notes:
        ax.text(0.98, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox=dict(boxstyle="round", facecolor="white", alpha=0.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*_XLIM)
    ax.set_ylim(*_YLIM)
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
