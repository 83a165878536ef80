"""``fqsr build MODEL --board B``: every stage from checkpoint to bitstream, skipping what is up to date.

export -> compile -> rtl -> storage (the ROM bits against all the device could
store: a model whose weights cannot fit stops here, before an hour of Yosys) ->
synth (Yosys counts of the accelerator) -> fit (those counts against the board)
-> verify (a few tiles through the RTL in cocotb; after the fit check, so that
no one waits for a long simulation of a design that cannot fit) -> pnr (board
top with the UART bridge: Yosys, fit check again, nextpnr-ecp5, ecppack) -> report.

A stage is skipped when its artifact's provenance is intact (unchanged since it
was written, made from the artifacts now in the folder, see
:mod:`fqsr.flows.artifacts`) and it was made with the same settings (tile,
target fps, board).
A model that does not fit stops before place and route with the table and
what to change (:class:`fqsr.hw.synth.DoesNotFit`). For Xilinx boards the
pnr stage is Vivado's out-of-context implementation of the same RTL
(:mod:`fqsr.hw.vivado`, when ``vivado`` is on PATH; its script is written
either way), and the build ends with exit 2 saying why there is no bitstream.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from fqsr.models.errors import FqsrError

STAGES = ("export", "compile", "rtl", "storage", "synth", "fit", "verify", "pnr", "report")


def _json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


class Progress:
    """One line per stage: ``[i/n] name ... ran in s`` or ``skipped (up to date)``."""

    def __init__(self, model: str, echo=print):
        self.model, self.echo, self.rows = model, echo, {}

    def run(self, name: str, up_to_date: bool, func, *args, **kwargs):
        index = STAGES.index(name) + 1
        if up_to_date:
            self.rows[name] = {"status": "skipped"}
            self.echo(f"[{index}/{len(STAGES)}] {self.model}: {name:8} skipped (up to date)")
            return None
        self.echo(f"[{index}/{len(STAGES)}] {self.model}: {name:8} ...")
        start = time.monotonic()
        try:
            result = func(*args, **kwargs)
        except FqsrError:
            self.rows[name] = {"status": "failed", "seconds": round(time.monotonic() - start, 1)}
            raise
        seconds = round(time.monotonic() - start, 1)
        self.rows[name] = {"status": "ran", "seconds": seconds}
        self.echo(f"[{index}/{len(STAGES)}] {self.model}: {name:8} done in {seconds:.1f} s")
        return result


def build(cfg, board: str = "ulx3s-85f", tile: tuple[int, int] = (16, 16), target_fps: float | None = None,
          verify_tiles: int = 1, out_dir: Path | None = None, echo=print, checkpoint=None, user=None) -> dict:
    """Run the stages for ``cfg`` (a ModelConfig) into ``out_dir`` (default ``build/<model>``).

    ``user``: instead of ``cfg``, the ``user_model`` record of ``out_dir``'s export.json (a user's model,
    re-exported from its factory when the tile changes)."""
    from fqsr.hw.board import get_board
    from fqsr.hw.synth import PNR_NAME, RESOURCES_NAME, DoesNotFit, check_fit, check_storage, format_fit_table
    from fqsr.hw.vivado import RESULT_NAME as VIVADO_RESULT
    from fqsr.hw.vivado import run_vivado, vivado_dir, write_vivado_script

    from fqsr.flows.artifacts import DATAFLOW_NAME, ONNX_NAME, RTL_DIRNAME, VERIFY_NAME, model_dir, write_json
    from fqsr.flows.artifacts import why_stale as stale
    from fqsr.flows.export import source_changed

    spec = get_board(board)
    if verify_tiles < 1:
        raise FqsrError("--verify-tiles must be at least 1")
    folder = Path(out_dir or model_dir(cfg))
    folder.mkdir(parents=True, exist_ok=True)
    name = cfg.name if cfg is not None else user["name"]
    progress = Progress(name, echo)
    onnx, dataflow = folder / ONNX_NAME, folder / DATAFLOW_NAME
    rtl_json, verify_json = folder / RTL_DIRNAME / "rtl.json", folder / VERIFY_NAME
    resources, pnr = folder / "synth" / RESOURCES_NAME, folder / "synth" / PNR_NAME
    synth_rel = {path: path.relative_to(folder).as_posix() for path in (resources, pnr)}
    wall = time.monotonic()

    exported = _json(folder / "export.json")
    proven = exported.get("equal") or bool((user or {}).get("onnx_source"))  # a QONNX file made elsewhere: as given
    proven = proven and not (user and source_changed(user))  # an edited model file is exported again
    progress.run("export", not stale(folder, ONNX_NAME) and exported.get("tile") == list(tile) and proven,
                 _export, cfg, tile, folder, checkpoint, user)
    compiled = _json(folder / "compile.json")
    progress.run("compile", not stale(folder, DATAFLOW_NAME) and compiled.get("target_fps") == target_fps
                 and compiled.get("clock_mhz") == spec.clock_mhz and compiled.get("equal"),
                 _compile, onnx, folder, target_fps, spec.clock_mhz)
    progress.run("rtl", not stale(folder, RTL_DIRNAME) and _rtl_copies_current(folder / RTL_DIRNAME)
                 and "rom_bits_total" in _json(rtl_json), _rtl, dataflow, folder)
    summary = {"model": name, "board": spec.name, "model_dir": str(folder)}
    try:
        rtl_summary = _json(rtl_json)
        summary["storage"] = progress.run("storage", False, check_storage, rtl_summary.get("rom_bits_total", 0), spec,
                                          f"{name}'s accelerator", rtl_summary.get("rom_bits"))
        synthesized = _json(resources)
        progress.run("synth", not stale(folder, synth_rel[resources]) and synthesized.get("target") == spec.target,
                     _synth, folder, spec.target)
        summary["resources"] = total = _json(resources)["total"]
        echo(format_fit_table(progress.run("fit", False, check_fit, total, spec, f"{name}'s accelerator")))
        verified = _json(verify_json)
        progress.run("verify", not stale(folder, VERIFY_NAME) and verified.get("equal")
                     and verified.get("tiles", 0) >= verify_tiles, _verify, folder, verify_tiles)
        if spec.vendor == "lattice":
            placed = _json(pnr)
            progress.run("pnr", not stale(folder, synth_rel[pnr]) and placed.get("board") == spec.name
                         and bool(placed.get("bitstream")) and Path(placed.get("bitstream") or "").is_file(),
                         _pnr, folder, spec.name)
            placed = _json(pnr)
            summary.update({k: placed.get(k) for k in ("fmax_mhz", "clock_mhz", "timing_met", "bitstream")})
            if placed.get("timing_met") is False:
                echo(f"warning: nextpnr reached {placed['fmax_mhz']} MHz, below the {spec.clock_mhz:g} MHz "
                     f"board clock; the bitstream is written but may misbehave (fold more or try another seed)")
        else:  # Vivado places and routes the same RTL out of context, where it is installed
            script = write_vivado_script(folder, spec)
            summary["vivado_script"] = str(script)
            if shutil.which("vivado") is None:
                progress.rows["pnr"] = {"status": "not run", "reason": "vivado is not on PATH"}
            else:
                done = vivado_dir(folder) / VIVADO_RESULT
                progress.run("pnr", not stale(folder, done.relative_to(folder).as_posix()) and "fmax_mhz" in _json(done),
                             run_vivado, folder, spec)
                summary["vivado"] = _json(done)
    except DoesNotFit as exc:  # the reports still show what was built and why it stops here
        progress.rows.setdefault("pnr", {"status": "not run", "reason": "does not fit"})
        progress.run("report", False, _report, folder)
        write_json(folder / "build.json", {**summary, "fits": False, "why": str(exc).splitlines()[0],
                                           "over": exc.table, "stages": progress.rows})
        raise
    progress.run("report", False, _report, folder)
    summary["stages"] = progress.rows
    summary["fits"] = True
    summary["wall_s"] = round(time.monotonic() - wall, 1)
    write_json(folder / "build.json", summary)
    if spec.vendor != "lattice":
        if "vivado" not in summary:
            raise FqsrError(f"reports for {spec.name} are in {folder}; Vivado is needed to place and route for a "
                            f"Xilinx device and for its bitstream (vivado is not on PATH); {summary['vivado_script']} "
                            f"runs the same RTL through Vivado where it is installed")
        raise FqsrError(f"Vivado placed and routed fqsr_top for {spec.device} out of context (Fmax "
                        f"{summary['vivado'].get('fmax_mhz')} MHz, {folder / 'synth' / 'vivado'}); a bitstream for "
                        f"{spec.name} also needs the Zynq processing system and a DMA around fqsr_top (a block "
                        f"design), which fqsr does not generate")
    return summary


def _export(cfg, tile, folder, checkpoint, user=None):
    from fqsr.models.checkpoint import load_model

    from fqsr.flows.export import UserModel, export

    if user is not None:
        if not user.get("module"):
            raise FqsrError(f"{folder} holds an export of {user['name']} for another tile, made without a factory "
                            f"fqsr could call again; export it for tile {tile[0]}x{tile[1]} or build with the "
                            f"tile it was exported for")
        source = UserModel(user["module"])
        return export(source.load(), tile, 1, folder, name=user["name"], source=source)
    net, meta = load_model(cfg, checkpoint, calibrate_untrained=True)
    return export(net, tile, 1, folder, meta)


def _compile(onnx, folder, target_fps, clock_mhz):
    from fqsr.flows.compile import compile_model

    report = compile_model(onnx, folder, target_fps=target_fps, clock_mhz=clock_mhz, random_tiles=1)
    if not report.get("equal"):
        raise FqsrError(f"FINN's dataflow graph differs from the export ({report.get('mismatches')} elements); "
                        f"see {folder / 'compile.json'}")
    return report


def _rtl_copies_current(rtl: Path) -> bool:
    """The generic modules copied into ``rtl/`` are byte-identical to ``hw/rtl`` (as ``fqsr verify`` checks)."""
    from fqsr.hw.generate import RTL_DIR

    return all(not (rtl / src.name).is_file() or (rtl / src.name).read_bytes() == src.read_bytes()
               for src in RTL_DIR.glob("*.v"))


def _rtl(dataflow, folder):
    from fqsr.hw.stitch import generate_rtl

    return generate_rtl(dataflow, folder)  # results of the old RTL lose their provenance with it


def _verify(folder, tiles):
    from fqsr.sim.verify import verify

    report = verify(folder, tiles=tiles)
    if not report["equal"]:
        raise FqsrError(f"the RTL differs from FINN's execution ({report['mismatches']} of {report['elements']} "
                        f"elements); see {folder / 'sim' / 'verify.json'}; no bitstream is built from it")
    return report


def _synth(folder, target):
    from fqsr.hw.synth import yosys_resources

    return yosys_resources(folder, target)


def _pnr(folder, board):
    from fqsr.hw.synth import place_and_route

    return place_and_route(folder, board)


def _report(folder):
    from fqsr.reports.report import write_report

    return write_report(folder)
