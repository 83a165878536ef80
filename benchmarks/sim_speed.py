"""Simulation speed of the stitched RTL: the compiled harness vs cocotb on Verilator vs cocotb on Icarus.

Usage: python benchmarks/sim_speed.py [--cap-s 120] [--full-target-fps 10000] [--threads 1,2]
                                      [--espcn-dir DIR] [--edsr-dir DIR] [--models small,espcn_w4a4,edsr_w4a4]
                                      [--harness-only MODELS] [--out benchmarks/sim_speed.md]

Builds (export -> compile -> rtl) the small model (tiny_w4a4, 4 features, 1 block) and
full-size espcn_w4a4 and edsr_w4a4 (folded for ``--full-target-fps`` tiles/s at 200 MHz),
all on one 4x4 tile, then runs ``fqsr verify`` (2 tiles under 30 % stalls, then 3 frames
back to back) on each simulator with a fresh simulator build: the harness (``--sim
verilator``) once per ``--threads`` value (``FQSR_SIM_THREADS``), cocotb on Verilator,
cocotb on Icarus. The cocotb benches on the full-size models are stopped after
``--cap-s`` seconds of simulation (cycles/s measured up to there; the table says so).
``--espcn-dir`` / ``--edsr-dir``: reuse compiled full-size folders instead of compiling
them again. ``--harness-only``: models (keys of ``--models``) run on the harness alone, one
thread (the cocotb builds of a full-size EDSR take a quarter of an hour on a busy machine).
"sim cycles/CPU s" divides by the harness's CPU time of its clock loop: the speed a
shared machine hides. Prints the markdown table and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_zoo import folding_summary  # noqa: E402

from fqsr.flows.compile import DATAFLOW_NAME, DEFAULT_CLOCK_MHZ, compile_model  # noqa: E402
from fqsr.flows.export import ONNX_NAME, export  # noqa: E402
from fqsr.hw.stitch import generate_rtl  # noqa: E402
from fqsr.models.calibrate import calibrate, image_batches  # noqa: E402
from fqsr.models.checkpoint import load_model  # noqa: E402
from fqsr.models.registry import build_model, get_config  # noqa: E402
from fqsr.sim.verify import verify  # noqa: E402


def build(name: str, folder: Path, small: bool, target_fps: float | None) -> dict:
    if small:  # untrained, calibrated on the embedded images (no checkpoint fits the small shape)
        cfg = get_config(name).replace(features=4, blocks=1)
        model = build_model(cfg).eval()
        calibrate(model, image_batches(cfg))
        meta = None
    else:
        model, meta = load_model(name, calibrate_untrained=True)
    export(model, (4, 4), random_tiles=0, out_dir=folder, meta=meta)
    compile_model(folder / ONNX_NAME, folder, target_fps=target_fps, clock_mhz=DEFAULT_CLOCK_MHZ, random_tiles=1,
                  reference=model)
    return generate_rtl(folder / DATAFLOW_NAME, folder)


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap-s", type=float, default=120.0)
    parser.add_argument("--full-target-fps", type=float, default=10000.0)
    parser.add_argument("--threads", default="1,2", help="Verilator threads of the harness, comma-separated.")
    parser.add_argument("--espcn-dir", default=None, help="An already compiled full-size espcn_w4a4 folder.")
    parser.add_argument("--edsr-dir", default=None, help="An already compiled full-size edsr_w4a4 folder.")
    parser.add_argument("--models", default="small,espcn_w4a4,edsr_w4a4")
    parser.add_argument("--harness-only", default="")
    parser.add_argument("--out", default="benchmarks/sim_speed.md")
    args = parser.parse_args()
    cases = [("small", "tiny_w4a4 (4 features, 1 block)", "tiny_w4a4", True, None, None),
             ("espcn_w4a4", "espcn_w4a4 (full size)", "espcn_w4a4", False, args.full_target_fps, args.espcn_dir),
             ("edsr_w4a4", "edsr_w4a4 (full size)", "edsr_w4a4", False, args.full_target_fps, args.edsr_dir)]
    wanted = args.models.split(",")
    header = ("| model | tile | nodes | cycles/frame | MVAU folding | simulator | threads | simulated cycles | "
              "sim cycles/s | sim cycles/CPU s | build s | simulation s | verdict |")
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    print("\n".join(rows), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh simulator cache: every build below is measured, none is reused from earlier runs
        os.environ["FQSR_BUILD"] = str(Path(tmp) / "build")
        runtime = Path(__file__).resolve().parents[1] / "build" / "sim"
        for cached in runtime.glob("verilator-runtime-*"):  # Verilator's runtime library: not the design's build
            shutil.copytree(cached, Path(tmp) / "build" / "sim" / cached.name)
        for key, label, name, small, fps, kept in cases:
            if key not in wanted:
                continue
            if kept:
                folder = Path(kept)
                summary = generate_rtl(folder / DATAFLOW_NAME, folder)
            else:
                folder = Path(tmp) / name
                folder.mkdir()
                summary = build(name, folder, small, fps)
            runs = [("verilator", int(t)) for t in args.threads.split(",")] + [("cocotb", None), ("icarus", None)]
            if key in args.harness_only.split(","):
                runs = [("verilator", 1)]
            for sim, threads in runs:
                cap = args.cap_s if sim != "verilator" and not small else None
                if threads:
                    os.environ["FQSR_SIM_THREADS"] = str(threads)
                start = time.monotonic()
                r = verify(folder, tiles=2, sim=sim, stall_prob=0.3, seed=1, max_wall_s=cap)
                wall = time.monotonic() - start
                os.environ.pop("FQSR_SIM_THREADS", None)
                verdict = (f"capped at {cap:g} s of simulation" if r["wall_limited"]
                           else "equal" if r["equal"] else f"{r['mismatches']} mismatches")
                label_sim = ("harness (`--sim verilator`)" if sim == "verilator"
                             else f"cocotb + {'Verilator' if sim == 'cocotb' else 'Icarus'} (`--sim {sim}`)")
                per_cpu = f"{r['sim_cycles_per_cpu_s']:.0f}" if r.get("sim_cycles_per_cpu_s") else "-"
                row = (f"| {label} | 4x4 | {summary['nodes']} | {r['estimated_cycles_per_frame']} | "
                       f"{folding_summary(folder)} | {label_sim} | {threads or 1} | {r['sim_cycles']} | "
                       f"{r['sim_cycles_per_s']:.0f} | {per_cpu} | {r['sim_build_s']:.1f} | "
                       f"{wall - (r['sim_build_s'] or 0):.1f} | {verdict} |")
                rows.append(row)
                print(row, flush=True)
    command = " ".join(["python benchmarks/sim_speed.py", *sys.argv[1:]])
    text = ["# Simulation speed", "",
            f"`{command}` on {platform.machine()}, {os.cpu_count()} cores shared with other jobs (times are upper "
            "bounds). One `fqsr verify --tiles 2 --stall-prob 0.3` run per row: 2 tiles under random stalls, "
            "then 3 frames back to back. \"sim cycles/s\" is clock cycles of the stitched top per second of "
            "simulation (the harness: its C++ clock loop; cocotb: the bench's loop, which drives and samples both "
            "streams from Python every cycle); \"build s\" is the simulator build of the design (Verilator: "
            "verilate + C++ compile, its runtime library precompiled; Icarus: iverilog); \"simulation s\" the rest "
            "of the run (FINN reference, simulation, comparison).", "", *rows, ""]
    Path(args.out).write_text("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
