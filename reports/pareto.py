"""Pareto fronts of a design-space sweep and their plots (PSNR vs LUT, vs fps, vs BitOps)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# (x column, x is better when larger, axis label, log x axis)
PSNR_PLOTS = {
    "lut": ("lut", False, "LUTs (FINN estimate)", True),
    "fps": ("fps", True, "tiles per second (FINN estimate)", True),
    "bitops": ("bitops", False, "BitOps per tile (MACs x weight bits x activation bits)", True),
}


def pareto_front(x, y, maximize_x: bool, maximize_y: bool) -> np.ndarray:
    """Indices of the points no other point dominates, sorted by x.

    A point is dominated when another is at least as good in both objectives
    and strictly better in one. NaN points are never on the front.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sx, sy = (1.0 if maximize_x else -1.0), (1.0 if maximize_y else -1.0)
    gx, gy = sx * x, sy * y  # both objectives "larger is better" from here on
    valid = ~(np.isnan(gx) | np.isnan(gy))
    front = []
    for i in np.flatnonzero(valid):
        others = valid.copy()
        others[i] = False
        dominated = others & (gx >= gx[i]) & (gy >= gy[i]) & ((gx > gx[i]) | (gy > gy[i]))
        if not dominated.any():
            front.append(i)
    front = np.array(front, dtype=int)
    return front[np.argsort(x[front], kind="stable")] if len(front) else front


def _label(row) -> str:
    fps = row.get("target_fps")
    folded = "" if fps is None or (isinstance(fps, float) and np.isnan(fps)) else f" @{fps:g}"
    return f"{row['point']}{folded}"


def pareto_plot(rows: list[dict], x_key: str, maximize_x: bool, y_key: str, maximize_y: bool,
                x_label: str, y_label: str, title: str, path: Path, log_x: bool = True, log_y: bool = False) -> dict:
    """Scatter of every row with a value for both keys, the Pareto front drawn and labelled; PNG at ``path``.

    Returns ``{"points": n, "front": [row index, ...]}`` (indices into ``rows``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fqsr.models.files import atomic_path

    x = np.array([_number(r.get(x_key)) for r in rows])
    y = np.array([_number(r.get(y_key)) for r in rows])
    valid = ~(np.isnan(x) | np.isnan(y))
    front = pareto_front(x, y, maximize_x, maximize_y)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    if valid.any():
        ax.scatter(x[valid], y[valid], s=22, color="tab:gray", alpha=0.7, label="design points")
        ax.step(x[front], y[front], where="pre" if maximize_x == maximize_y else "post", color="tab:red",
                linewidth=1.5, label="Pareto front")
        ax.scatter(x[front], y[front], s=40, color="tab:red", zorder=3)
        labelled = front if valid.sum() > 12 else np.flatnonzero(valid)  # every point while it stays readable
        for i in labelled:
            ax.annotate(_label(rows[i]), (x[i], y[i]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color="tab:red" if i in front else "dimgray")
        if log_x and (x[valid] > 0).all():
            ax.set_xscale("log")
        if log_y and (y[valid] > 0).all():
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, f"no point has both {x_key} and {y_key}", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if valid.any():
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return {"points": int(valid.sum()), "front": [int(i) for i in front]}


def _number(value) -> float:
    if value is None or value == "":
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def sweep_plots(rows: list[dict], out_dir: Path, prefix: str = "sweep") -> dict:
    """PSNR vs LUT / fps / BitOps (trained points) and fps vs LUT (every point); returns {name: plot info}."""
    out_dir = Path(out_dir)
    plots = {}
    for name, (x_key, maximize_x, x_label, log_x) in PSNR_PLOTS.items():
        path = out_dir / f"{prefix}_psnr_vs_{name}.png"
        info = pareto_plot(rows, x_key, maximize_x, "psnr_y", True, x_label, "PSNR-Y (dB)",
                           f"PSNR vs {name}: trained points", path, log_x)
        plots[f"psnr_vs_{name}"] = {**info, "png": path.name}
    path = out_dir / f"{prefix}_fps_vs_lut.png"
    info = pareto_plot(rows, "lut", False, "fps", True, "LUTs (FINN estimate)", "tiles per second (FINN estimate)",
                       "throughput vs LUTs: every point", path, log_y=True)
    plots["fps_vs_lut"] = {**info, "png": path.name}
    return plots
