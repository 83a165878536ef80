"""The per-build report's plots: the dataflow pipeline with each node's cycles, and resources per node."""
from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from fqsr.models.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)


def pipeline_plot(pipeline: dict, path: Path, title: str) -> Path:
    """One bar per dataflow node in stream order (top = input), length = FINN's cycles per tile.

    The bottleneck (the slowest node, which sets the pipeline's rate) is red;
    the RTL simulation's measured cycles per tile, when there is one, is a
    dashed line, so the two can be compared at a glance.
    """
    plt = _pyplot()
    nodes = pipeline["nodes"]
    names = [n["name"] for n in nodes]
    cycles = [max(n["estimated_cycles"], 0) for n in nodes]
    colors = ["tab:red" if n == pipeline["bottleneck"] else "tab:blue" for n in names]
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(nodes) + 1.2)))
    rows = range(len(nodes))
    ax.barh(rows, cycles, color=colors, height=0.7)
    ax.set_yticks(list(rows), names, fontsize=6)
    ax.invert_yaxis()  # input at the top, output at the bottom
    measured = pipeline.get("measured_cycles_per_frame")
    if measured:
        ax.axvline(measured, color="black", linestyle="--", linewidth=1,
                   label=f"measured (RTL simulation): {measured:,} cycles/tile")
    if pipeline["bottleneck"] in names:
        i = names.index(pipeline["bottleneck"])
        ax.annotate(f"bottleneck {cycles[i]:,}", (cycles[i], i), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=7, color="tab:red")
    ax.set_xlabel("cycles per tile (FINN estimate)")
    ax.set_title(f"{title}: dataflow pipeline")
    if measured:
        ax.legend(loc="lower right", fontsize=7)
    ax.margins(x=0.15)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return Path(path)


def resource_plot(resources: dict, path: Path, title: str) -> Path:
    """LUTs per node: FINN's estimate beside the Yosys count (when synthesis ran)."""
    plt = _pyplot()
    names = list(resources["nodes"])
    finn = [resources["nodes"][n]["LUT"]["finn"] or 0 for n in names]
    yosys = [resources["nodes"][n]["LUT"]["yosys"] for n in names]
    has_yosys = any(v is not None for v in yosys)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(names) + 1.2)))
    rows = list(range(len(names)))
    height = 0.4 if has_yosys else 0.7
    ax.barh([r - (height / 2 if has_yosys else 0) for r in rows], finn, height=height, color="tab:blue",
            label="FINN estimate")
    if has_yosys:
        ax.barh([r + height / 2 for r in rows], [v or 0 for v in yosys], height=height, color="tab:orange",
                label=f"Yosys ({(resources.get('yosys') or {}).get('target', '?')})")
    ax.set_yticks(rows, names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("LUTs")
    ax.set_title(f"{title}: LUTs per node" + ("" if has_yosys else " (synthesis not run)"))
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return Path(path)


def detail_window(reference, candidate, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` x ``side`` window where ``candidate`` differs most from ``reference``
    (summed absolute error): the detail a side-by-side should zoom into."""
    import numpy as np

    error = np.abs(reference.astype(np.float64) - candidate.astype(np.float64)).sum(axis=2)
    sums = np.pad(error.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    windows = sums[side:, side:] - sums[:-side, side:] - sums[side:, :-side] + sums[:-side, :-side]
    y, x = np.unravel_index(int(np.argmax(windows)), windows.shape)
    return int(y), int(x)


def side_by_side(panels: list[tuple[str, object]], path: Path, title: str, detail: tuple[int, int, int]) -> Path:
    """Whole images in a row (titles give what each is) and below each the zoomed ``detail`` (y, x, side).

    Panels are uint8 HxWx3 (RGB) or HxWx1 (Y, shown in gray), all the same size.
    """
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    y, x, side = detail
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 7.0),
                             gridspec_kw={"height_ratios": [1, 1]}, squeeze=False)
    for column, (label, image) in enumerate(panels):
        gray = image.shape[2] == 1
        shown = image[:, :, 0] if gray else image
        options = {"cmap": "gray", "vmin": 0, "vmax": 255} if gray else {}
        top, bottom = axes[0][column], axes[1][column]
        top.imshow(shown, **options)
        top.add_patch(Rectangle((x - 0.5, y - 0.5), side, side, fill=False, edgecolor="yellow", linewidth=1.5))
        top.set_title(label, fontsize=10)
        bottom.imshow(shown[y:y + side, x:x + side], interpolation="nearest", **options)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_ylabel("whole image", fontsize=9)
    axes[1][0].set_ylabel(f"yellow box ({side}x{side} px), zoomed", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return Path(path)
