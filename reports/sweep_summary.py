"""Markdown summary of a sweep (``sweep.md``): the grid, the Pareto plots and fronts, every point."""
from __future__ import annotations

from .tables import significant, table


def _cell(value, digits=None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and digits is not None:
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if float(value).is_integer() else significant(value)
    return str(value)


ROW_COLUMNS = [("point", "point"), ("target fps", "target_fps"), ("board", "board"), ("PSNR-Y", "psnr_y"),
               ("GMAC", "gmacs"), ("GBitOps", "gbitops"), ("LUT", "lut"), ("BRAM18", "bram18"), ("URAM", "uram"),
               ("DSP", "dsp"), ("cycles/tile", "cycles_per_frame"), ("tiles/s", "fps"), ("target met", "target_met"),
               ("720p fps", "fps_720p"),
               ("fits", "fits_board")]
YOSYS_COLUMNS = [("Yosys LUT", "yosys_lut"), ("Yosys FF", "yosys_ff"), ("Yosys BRAM", "yosys_bram"),
                 ("Yosys DSP", "yosys_dsp"), ("fits (Yosys)", "fits_board_yosys")]


def _row_cells(row: dict, columns) -> list[str]:
    derived = {"gmacs": row["macs"] / 1e9 if row.get("macs") else None,
               "gbitops": row["bitops"] / 1e9 if row.get("bitops") else None}
    cells = []
    for _, key in columns:
        value = derived[key] if key in derived else row.get(key)
        if key == "target_fps" and value is None:
            value = "default"
        if key == "psnr_y" and isinstance(value, float):
            value = f"{value:.2f}"
        if key in ("gmacs", "gbitops") and value is not None:
            value = f"{value:.3f}"
        cells.append(_cell(value))
    return cells


def sweep_markdown(result: dict) -> str:
    grid, rows = result["grid"], result["rows"]
    trained = sorted({r["point"] for r in rows if r["trained"]})
    clock = f"{grid['clock_mhz']:g} MHz" if grid.get("clock_mhz") else "each board's clock"
    lines = [
        "# Resource-estimation sweep", "",
        f"{result['points']} points ({len(grid['models'])} model configs x {len(grid['target_fps'])} target frame "
        f"rates x {len(grid['boards'])} boards), LR tile {grid['tile']}, estimates at {clock}; "
        f"{result['seconds']:g} s with {result['jobs']} process(es)"
        + (", Yosys counts included" if result["synth"] else ", FINN estimates only (fast mode)")
        + f"; {result['errors']} failed points.", "",
        "Written by `fqsr sweep` (`make sweep`); every number comes from the flow: FINN's estimates for the "
        "board's Xilinx part (FINN's default ZCU104 part for ECP5 boards, LUT6-based), BitOps = MACs x weight bits "
        "x input bits of every MVAU in the dataflow graph, PSNR-Y measured by the model stage on "
        f"{', '.join(sorted({str(r['psnr_data']) for r in rows if r['psnr_data']})) or '—'} for configs with a "
        f"shipped checkpoint ({', '.join(trained) or 'none'}); all other points are untrained. fps is tiles per "
        "second of the compiled tile; 720p fps divides it by the tiles a 1280x720 output frame needs "
        "(halo = receptive field). `fits`: the FINN estimate within the board's LUT/BRAM18/DSP "
        "(a URAM counted as 16 BRAM18 on boards without UltraRAM).", "",
        "## Pareto fronts", "",
        f"Plots use the {grid['boards'][0]} rows (one estimate per config and frame rate).", "",
    ]
    shown = [r for r in rows if r["board"] == grid["boards"][0] and not r["error"]]
    for name, plot in result["plots"].items():
        front = ", ".join(f"`{shown[i]['point']}` @ {_cell(shown[i]['target_fps'] or 'default')}"
                          for i in plot["front"])
        lines += [f"### {name.replace('_', ' ')}", "", f"![{name}]({plot['png']})", "",
                  f"{plot['points']} points; front: {front or '—'}", ""]
    columns = ROW_COLUMNS + (YOSYS_COLUMNS if result["synth"] else [])
    lines += ["## Points", ""]
    lines += table([c for c, _ in columns], [_row_cells(r, columns) for r in rows if not r["error"]])
    failed = [r for r in rows if r["error"]]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += table(["point", "target fps", "board", "error"],
                       [[r["point"], _cell(r["target_fps"] or "default"), r["board"], r["error"]] for r in failed])
    lines += ["", "Configs:", ""]
    lines += [f"- `{r['point']}`: user model `{r['model']}`" if r["arch"] == "user" else
              f"- `{r['point']}`: {r['model']}, w{r['weight_bits']}a{r['act_bits']}, {r['features']} features, "
              f"{r['blocks']} blocks" + (f", bits `{r['bits']}`" if r["bits"] else "")
              for r in {r["point"]: r for r in rows}.values()]
    return "\n".join(lines) + "\n"
