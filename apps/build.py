"""``fqsr build MODEL --board B``: every step of :mod:`fqsr.apps.pipeline`, skipping what is up to date.

export -> compile -> rtl -> storage (the ROM bits against all the device could
store: a model whose weights cannot fit stops here, before an hour of Yosys) ->
synth (Yosys counts of the accelerator) -> fit (those counts against the board)
-> verify (tiles through the RTL; after the fit check, so that no one waits for
a long simulation of a design that cannot fit) -> pnr (board top with the UART
bridge: Yosys, fit check again, nextpnr-ecp5, ecppack) -> report.

With ``--roll body`` (the default for a zoo model whose unrolled ROMs cannot fit
the board: one line says so) the rtl step writes the rolled design (``rolled/``:
the residual body as one block engine, its weights in SDRAM as ``weights.bin``),
the storage check counts only on-chip ROM and RAM, synthesis and place and route
take the rolled board top (SDRAM pins, the weight image over the UART first) and
verify runs the rolled cocotb bench.

A step is skipped when its artifact's provenance is intact and it was made
with the same settings (tile, folding, clock, board, roll). A model that does not
fit stops before place and route with the table and what to change
(:class:`fqsr.hw.synth.DoesNotFit`). For Xilinx boards the pnr step is
Vivado's out-of-context implementation of the same RTL (:mod:`fqsr.hw.vivado`,
when ``vivado`` is on PATH; its script is written either way), and the build
ends with exit 2 saying why there is no bitstream.
"""
from __future__ import annotations

import time

from fqsr.models.errors import FqsrError

from fqsr.flows.artifacts import write_json
from fqsr.hw.synth import DoesNotFit, format_fit_table

from .pipeline import PNR, RESOURCES, STEPS, BuildConfig, Progress, choose_roll, read_json

BUILD_NAME = "build.json"
FPS_ATTEMPTS = 3  # folding searches per build when synthesis finds the design over the board


def build(cfg: BuildConfig, echo=print) -> dict:
    """Run every step for ``cfg`` into ``cfg.folder``; the summary (also ``build.json``)."""
    spec = cfg.spec
    if cfg.verify_tiles < 1:
        raise FqsrError("--verify-tiles must be at least 1")
    if cfg.roll is not None and spec.vendor != "lattice":
        raise FqsrError(f"--roll {cfg.roll} builds the rolled design for a ULX3S board (its SDRAM holds the weights); "
                        f"{spec.name} is a {spec.vendor} board")
    cfg.folder.mkdir(parents=True, exist_ok=True)
    progress = Progress(cfg, [step.name for step in STEPS], echo)
    summary = {"model": cfg.name, "board": spec.name, "model_dir": str(cfg.folder)}
    if cfg.roll is not None:
        summary["roll"] = cfg.roll
    wall = time.monotonic()
    progress.run("export")
    try:
        summary.update(_fold_synthesize_fit(cfg, progress, echo))
        summary["resources"] = read_json(cfg.folder / RESOURCES)["total"]
        progress.run("verify")
        placed = progress.run("pnr")
        if placed and placed.get("not_run"):
            progress.rows["pnr"] = {"status": "not run", "reason": placed["not_run"]}
    except DoesNotFit as exc:  # the reports still show what was built and why it stops here
        progress.rows.setdefault("pnr", {"status": "not run", "reason": "does not fit"})
        progress.run("report")
        write_json(cfg.folder / BUILD_NAME, {**summary, "fits": False, "why": str(exc).splitlines()[0],
                                             "over": exc.table, "stages": progress.rows})
        raise
    summary.update(_placed(cfg, placed, echo))
    if cfg.roll is not None:
        from fqsr.hw.rolled import ROLLED_DIRNAME, WEIGHTS_NAME

        summary.update(roll=cfg.roll, weights=str(cfg.folder / ROLLED_DIRNAME / WEIGHTS_NAME))
    progress.run("report")
    summary.update({"stages": progress.rows, "fits": True, "wall_s": round(time.monotonic() - wall, 1)})
    write_json(cfg.folder / BUILD_NAME, summary)
    if spec.vendor != "lattice":
        if "vivado" not in summary:
            raise FqsrError(f"reports for {spec.name} are in {cfg.folder}; Vivado is needed to place and route for "
                            f"a Xilinx device and for its bitstream (vivado is not on PATH); "
                            f"{summary['vivado_script']} runs the same RTL through Vivado where it is installed")
        raise FqsrError(f"Vivado placed and routed fqsr_top for {spec.device} out of context (Fmax "
                        f"{summary['vivado'].get('fmax_mhz')} MHz, {cfg.folder / 'synth' / 'vivado'}); a bitstream "
                        f"for {spec.name} also needs the Zynq processing system and a DMA around fqsr_top (a block "
                        f"design), which fqsr does not generate")
    return summary


def _fold_synthesize_fit(cfg: BuildConfig, progress: Progress, echo) -> dict:
    """compile -> rtl -> storage -> synth -> fit. With ``--fps`` (the folding search), a design that synthesis
    finds over the board is folded again for a budget lowered by how far it was over, at most
    :data:`FPS_ATTEMPTS` times; the summary says so."""
    out, tries = {}, []
    while True:
        progress.run("compile")
        chosen = choose_roll(cfg)
        if chosen:
            echo(chosen)
            out["roll"] = cfg.roll
        search = read_json(cfg.folder / "compile.json").get("folding_search")
        if cfg.fps is not None and search:
            from fqsr.hw.folding_search import binding_sentence

            echo(binding_sentence(search))
            out["folding_search"] = search
        progress.run("rtl")
        out["storage"] = progress.run("storage")
        progress.run("synth")
        try:
            echo(format_fit_table(progress.run("fit")))
            break
        except DoesNotFit as exc:
            over = {k: row for k, row in exc.table.items() if row["used"] > row["available"]}
            if cfg.fps is None or len(tries) + 1 >= FPS_ATTEMPTS:
                if tries:
                    exc.args = (f"{exc.args[0]}\n(the folding search stepped back {len(tries)} time(s) already)",)
                raise
            scale = dict(cfg.fps_scale or {})
            for kind, row in over.items():  # aim 10 % under what synthesis says the budget really buys
                scale[kind] = round(scale.get(kind, 1.0) * 0.9 * row["available"] / row["used"], 4)
            tries.append({"over": {k: row["used"] for k, row in over.items()}, "scale": scale})
            found = ", ".join(f"{k} {row['used']:,} of {row['available']:,}" for k, row in over.items())
            echo(f"fqsr: synthesis found {found} "
                 f"on {cfg.spec.name}, more than the cost model predicted; stepping back: folding again with "
                 f"{', '.join(f'{k} budget x{v:g}' for k, v in scale.items())}")
            cfg.fps_scale = scale
    if tries:
        out["fps_step_backs"] = tries
    return out


def _placed(cfg: BuildConfig, result: dict | None, echo) -> dict:
    """What place and route gave (``result``: the pnr step's report, None when it was up to date)."""
    if cfg.spec.vendor == "lattice":
        placed = read_json(cfg.folder / PNR)
        if placed.get("timing_met") is False:
            echo(f"warning: nextpnr reached {placed['fmax_mhz']} MHz, below the {cfg.clock:g} MHz board clock; "
                 f"the bitstream is written but may misbehave (fold more or try another seed)")
        return {k: placed.get(k) for k in ("fmax_mhz", "clock_mhz", "timing_met", "bitstream")}
    if result is None:  # Vivado's result is current
        from fqsr.hw.vivado import RESULT_NAME, vivado_dir

        return {"vivado": read_json(vivado_dir(cfg.folder) / RESULT_NAME)}
    return {k: v for k, v in result.items() if k != "not_run"}
