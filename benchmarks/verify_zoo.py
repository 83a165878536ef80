"""Full-size zoo models through the whole flow on a small tile: export -> compile (folded) -> rtl -> verify.

Usage: python benchmarks/verify_zoo.py [--models edsr_w4a4] [--tile 4x4] [--target-fps 10000]
                                       [--tiles 2] [--sim verilator] [--out benchmarks/verify.md]

Each model (shipped checkpoint where there is one, else calibrated on the embedded
images) is exported, compiled with FINN's folding for ``--target-fps`` tiles per second
at 200 MHz (so the simulation finishes in minutes), turned into RTL and simulated
under random stalls against FINN's execution of the dataflow graph. Writes a markdown
table (mismatches, tiles, cycles per frame measured and estimated, simulation speed,
wall times, the folding used) to ``--out`` and exits 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

from fqsr.flows.compile import DATAFLOW_NAME, DEFAULT_CLOCK_MHZ, FOLDING_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, parse_tile
from fqsr.hw.stitch import generate_rtl
from fqsr.models.checkpoint import load_model
from fqsr.sim.verify import verify


def folding_summary(folder: Path) -> str:
    """The MVAUs' (SIMD, PE) pairs, with how many MVAUs use each: the folding in one line."""
    config = json.loads((folder / FOLDING_NAME).read_text())
    pairs: dict[tuple[int, int], int] = {}
    for name, attrs in config.items():
        if name.startswith("MVAU"):
            key = (attrs.get("SIMD", 1), attrs.get("PE", 1))
            pairs[key] = pairs.get(key, 0) + 1
    return ", ".join(f"{n}x SIMD {s} PE {p}" for (s, p), n in sorted(pairs.items()))


def run(name: str, tile, target_fps: float, tiles: int, sim: str, keep: Path | None) -> dict:
    model, meta = load_model(name, calibrate_untrained=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep / name if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        export(model, tile, random_tiles=0, out_dir=folder, meta=meta)
        compiled = compile_model(folder / ONNX_NAME, folder, target_fps=target_fps, clock_mhz=DEFAULT_CLOCK_MHZ,
                                 random_tiles=1, reference=model)
        compile_s = time.monotonic() - start
        start = time.monotonic()
        rtl = generate_rtl(folder / DATAFLOW_NAME, folder)
        rtl_s = time.monotonic() - start
        report = verify(folder, tiles=tiles, sim=sim, stall_prob=0.3, seed=1)
        return {"name": name, "weights": "trained" if meta else "calibrated", "compile": compiled, "rtl": rtl,
                "verify": report, "compile_s": compile_s, "rtl_s": rtl_s, "folding": folding_summary(folder)}


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="edsr_w4a4")
    parser.add_argument("--tile", default="4x4")
    parser.add_argument("--target-fps", type=float, default=10000.0)
    parser.add_argument("--tiles", type=int, default=2)
    parser.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    parser.add_argument("--out", default="benchmarks/verify.md")
    parser.add_argument("--keep", default=None, help="Keep each model's build folder under this directory.")
    args = parser.parse_args()
    tile = parse_tile(args.tile)
    header = ("| model | weights | tile | nodes | tiles | elements | mismatches | cycles/frame measured | "
              "estimated (slowest node) | measured/estimated | sim cycles/s | compile s | rtl s | verify s | "
              "MVAU folding |")
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    print("\n".join(rows), flush=True)
    failures = 0
    for name in args.models.split(","):
        r = run(name, tile, args.target_fps, args.tiles, args.sim, Path(args.keep) if args.keep else None)
        v = r["verify"]
        failures += not v["equal"]
        row = (f"| {name} | {r['weights']} | {args.tile} | {r['rtl']['nodes']} | {v['tiles']} | {v['elements']} | "
               f"{v['mismatches']} | {v['cycles_per_frame']} | {v['estimated_cycles_per_frame']} | "
               f"{v['cycles_vs_estimate']} | {v['sim_cycles_per_s']:.0f} | {r['compile_s']:.0f} | "
               f"{r['rtl_s']:.0f} | {v['wall_s']:.0f} | {r['folding']} |")
        rows.append(row)
        print(row, flush=True)
    command = " ".join(["python benchmarks/verify_zoo.py", *sys.argv[1:]])
    text = [
        "# Full-size RTL verification",
        "",
        f"`{command}` on {platform.machine()} ({os.cpu_count()} cores shared with other jobs: wall times are "
        "upper bounds).",
        "",
        f"Each model is exported for one {args.tile} LR tile, compiled with FINN's folding for "
        f"`--target-fps {args.target_fps:g}` at {DEFAULT_CLOCK_MHZ:g} MHz, turned into RTL (`fqsr rtl`) and "
        f"simulated with {args.sim} (`fqsr verify --tiles {args.tiles} --stall-prob 0.3`): {args.tiles} tiles "
        "(random and real-image) under random input gaps and output back-pressure, compared element for element "
        "with FINN's execution of `dataflow.onnx`, then 3 frames back to back without stalls for the steady-state "
        "cycles per frame. \"estimated\" is FINN's cycle estimate of the slowest node; \"verify s\" includes the "
        "simulator build. \"MVAU folding\" counts the MVAUs per (SIMD, PE) pair of the folding used.",
        "",
        *rows,
        "",
    ]
    Path(args.out).write_text("\n".join(text))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
