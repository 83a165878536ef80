"""The rolled residual-body engine on a small EDSR: bit-exactness under stalls and cycles vs the model
(benchmarks/rolled_edsr.md, section "Built").

Builds a calibrated edsr_w4a4 shrunk to ``--blocks`` x ``--features`` on a ``--tile`` tile, compiled for
``--target-fps`` (FINN's folding), generates ``rolled/`` (fqsr.hw.rolled) and runs fqsr.sim.rolled's check
twice: ``--frames`` random frames with gaps and back-pressure ``--stall`` on every stream, then the same
stall-free for the cycle count. Prints one JSON line per run. ``--synth``: Yosys synth_ecp5 of the engine
(``rolled_body``) too, its cell counts; ``--no-sim``: only the build (payload and storage figures, e.g. of
the full-size body: ``--blocks 16 --features 64 --tile 4 --target-fps 0``, 0 meaning FINN's default folding).
``--sdram``: instead, the engine behind its SDRAM DMA, controller and the chip model (fqsr.sim.rolled's
``verify_rolled_system``: stalled with a refresh every 1.5 us, then stall-free at the chip's 7.8 us) and the whole
network around it (``verify_rolled_top``, the same two runs). ``--stream-pe N``: compile twice, the second time with
FINN's folding of the first but PE N on the body's Thresholding, DuplicateStreams and ElementwiseAdd nodes and on
block 0's input quantizer, so the frame stream carries N lanes (N = 8: 32-bit beats, two SDRAM words each).

    python benchmarks/rolled_engine.py --target-fps 50000 --out /tmp/rolled50k [--synth [--pnr]] [--sdram]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.rolled import ENGINE_TOP, ROLLED_DIRNAME, SYSTEM_TOP, generate_rolled_rtl, residual_blocks
from fqsr.hw.synth import _fmax, kinds_of, run_tool, tool
from fqsr.models.calibrate import calibrate
from fqsr.models.registry import build_model, get_config
from fqsr.sim.rolled import verify_rolled, verify_rolled_system, verify_rolled_top


def small_edsr(blocks: int, features: int, tile: int, seed: int = 0):
    """As tests/conftest.py's ``calibrated``: the quantizers see data, so the scales are not defaults."""
    cfg = get_config("edsr_w4a4").replace(blocks=blocks, features=features)
    torch.manual_seed(seed)
    model = build_model(cfg)
    calibrate(model, [torch.rand(2, cfg.channels, tile, tile) for _ in range(3)])
    return model


def synthesize(rolled: Path, pnr: bool = False, top: str = ENGINE_TOP) -> dict:
    """synth_ecp5 of ``top`` (``rolled_body``, or ``rolled_system``: the engine with its DMA and SDRAM controller) in
    ``rolled_synth/`` beside ``rolled`` (a copy of its sources: the yowasp tools read files below their working dir,
    and ``rolled/`` stays as written); with ``pnr``, nextpnr-ecp5 on the 85F too (every port a pin,
    unconstrained), its Fmax and critical path's nets."""
    summary = json.loads((rolled / "rolled.json").read_text())
    sources = summary["sources"] if top == ENGINE_TOP else summary["system_sources"]
    work = rolled.parent / "rolled_synth"
    work.mkdir(exist_ok=True)
    for name in sources:
        shutil.copy(rolled / name, work / name)
    rolled = work
    script = [f"read_verilog -sv {' '.join(sources)}", f"synth_ecp5 -top {top} -json {top}.json",
              f"tee -q -o {top}.stat.json stat -json"]
    (rolled / "synth.ys").write_text("\n".join(script) + "\n")
    seconds = run_tool(tool("yosys") + ["-q", "-l", "synth.log", "synth.ys"], rolled, "synth.out")
    stat = json.loads((rolled / f"{top}.stat.json").read_text())
    cells = {t.lstrip("\\"): int(n) for t, n in stat["modules"][f"\\{top}"]["num_cells_by_type"].items()}
    result = {"yosys_s": round(seconds, 1), "kinds": kinds_of(cells), "cells": cells}
    if pnr:
        argv = tool("nextpnr-ecp5") + ["--85k", "--package", "CABGA381", "--speed", "6", "--json",
                                       f"{top}.json", "--lpf-allow-unconstrained", "--freq", "100",
                                       "--report", "report.json", "--timing-allow-fail", "--seed", "1"]
        seconds = run_tool(argv, rolled, "nextpnr.out")
        report = json.loads((rolled / "report.json").read_text())
        result["pnr"] = {"fmax_mhz": _fmax(report)["achieved"], "nextpnr_s": round(seconds, 1),
                         "critical_path": critical_path(report)}
    return result


def critical_path(report: dict) -> dict:
    """The worst clock-to-clock path of nextpnr's ``--report`` (not the unconstrained pin paths): its delay and
    where it starts and ends."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path") and p["from"] == p["to"] != "<async>"]
    if not paths:
        return {}
    worst = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))
    steps = worst["path"]
    return {"delay_ns": round(sum(step["delay"] for step in steps), 2), "from": steps[0]["from"]["cell"],
            "to": steps[-1]["to"]["cell"], "nets": [step.get("net", "") for step in steps if step.get("net")][:24]}


def stream_folding(folder: Path, pe: int) -> Path:
    """``folding.json`` of ``folder`` with PE ``pe`` on the body's stream nodes and block 0's input quantizer."""
    graph = load_qonnx(folder / DATAFLOW_NAME)
    blocks = residual_blocks(graph)
    names = {n.name for blk in blocks for n in blk.nodes} | {n.name for n in graph.graph.node
                                                            if blocks[0].input in n.output}
    folding = json.loads((folder / "folding.json").read_text())
    for name in names:
        if name.startswith(("Thresholding", "DuplicateStreams", "ElementwiseAdd")):
            folding[name]["PE"] = pe
    path = folder.parent / f"{folder.name}-folding-pe{pe}.json"
    path.write_text(json.dumps(folding, indent=1))
    return path


def sdram_runs(args) -> int:
    """Body on SDRAM, then the whole network: stalled (refresh every 1.5 us), then stall-free (7.8 us)."""
    keys = ("p_gap", "t_refi_ns", "equal", "elements", "mismatches", "first_mismatch", "sdram_rule", "extra_beats",
            "refreshes_in_iterations", "cycles_per_frame", "iteration_cycles", "image_ok_cycle", "commands", "model",
            "build_s", "test_s")
    for run in (verify_rolled_system, verify_rolled_top):
        for stall, refi in ((args.stall, 1500), (0.0, 7812)):
            if run is verify_rolled_system:
                report = run(args.out, frames=args.frames, p_gap=stall, p_stall=stall, seed=1, t_refi_ns=refi)
            else:
                report = run(args.out, tiles=args.frames, p_gap=stall, p_stall=stall, seed=1, t_refi_ns=refi)
            print(json.dumps({"run": run.__name__, **{k: report.get(k) for k in keys if k in report}}))
            if not report["equal"]:
                return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--tile", type=int, default=6)
    parser.add_argument("--target-fps", type=int, default=50_000)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--stall", type=float, default=0.3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--synth", action="store_true")
    parser.add_argument("--pnr", action="store_true", help="with --synth: place and route on the 85F, Fmax")
    parser.add_argument("--synth-top", default=ENGINE_TOP, choices=(ENGINE_TOP, SYSTEM_TOP),
                        help="what --synth synthesizes: the engine alone or the engine with its DMA and SDRAM")
    parser.add_argument("--no-sim", action="store_true", help="only build: payload and storage figures")
    parser.add_argument("--stream-pe", type=int, default=0, help="PE of the body's stream nodes (0: FINN's)")
    parser.add_argument("--sdram", action="store_true", help="the engine on SDRAM (DMA, controller, chip model) and "
                                                             "the whole rolled network")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    model = small_edsr(args.blocks, args.features, args.tile)
    export(model, tile=(args.tile, args.tile), random_tiles=1, out_dir=args.out)
    compile_model(args.out / ONNX_NAME, args.out, random_tiles=1, reference=model,
                  target_fps=args.target_fps or None)
    if args.stream_pe:
        compile_model(args.out / ONNX_NAME, args.out, random_tiles=1, reference=model,
                      folding=stream_folding(args.out, args.stream_pe))
    summary = generate_rolled_rtl(args.out / DATAFLOW_NAME, args.out)
    print(json.dumps({"build_s": round(time.monotonic() - started, 1), "words_per_block": summary["words_per_block"],
                      "bank_bits": summary["bank_bits"], "buffer_bits": summary["buffer_bits"],
                      "regions": summary["regions"],
                      "mvau_folding": {k: {p: v[p] for p in ("SIMD", "PE", "ACC_BITS")}
                                       for k, v in summary["params"].items() if "MVAU" in k}}))
    if args.sdram:
        return sdram_runs(args)
    for stall in () if args.no_sim else (args.stall, 0.0):
        report = verify_rolled(args.out, frames=args.frames, p_gap=stall, p_stall=stall, seed=1)
        keys = ("p_gap", "equal", "elements", "mismatches", "first_mismatch", "extra_beats", "cycles_per_frame",
                "iteration_cycles", "model", "build_s", "test_s")
        print(json.dumps({k: report.get(k) for k in keys}))
        if not report["equal"]:
            return 1
    if args.synth:
        print(json.dumps({"synth_ecp5": synthesize(args.out / ROLLED_DIRNAME, args.pnr, args.synth_top)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
