"""Full-size FINN compile of every zoo model, with the Brevitas == FINN-execution equality check.

Usage: python benchmarks/compile_zoo.py [--tile 8x8] [--models a,b] [--target-fps F]
Shipped checkpoints are used where they exist; other models are calibrated on
the embedded images (untrained weights, real integer ranges). Each model is
exported to a temporary folder and compiled with the Brevitas model as the
reference. Prints a markdown table; exits 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

from fqsr.flows.compile import DEFAULT_CLOCK_MHZ, compile_model
from fqsr.flows.export import ONNX_NAME, export, parse_tile
from fqsr.models.checkpoint import load_model
from fqsr.models.registry import ZOO


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", default="8x8")
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--target-fps", type=float, default=None, help="Fold for this many tiles per second.")
    parser.add_argument("--random-tiles", type=int, default=1)
    args = parser.parse_args()
    tile = parse_tile(args.tile)
    print("| model | weights | tile | elements | mismatches | HW op types | nodes (DWC/FIFO) | "
          "LUT | BRAM18 | DSP | cycles/frame | fps@200MHz | compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failures = 0
    for name in args.models.split(","):
        model, meta = load_model(name, calibrate_untrained=True)
        with tempfile.TemporaryDirectory() as out:
            export(model, tile, random_tiles=0, out_dir=out, meta=meta)
            start = time.monotonic()
            r = compile_model(Path(out) / ONNX_NAME, target_fps=args.target_fps, clock_mhz=DEFAULT_CLOCK_MHZ,
                              random_tiles=args.random_tiles, reference=model)
            seconds = time.monotonic() - start
        failures += not r["equal"]
        t = r["totals"]
        print(f"| {name} | {'trained' if meta else 'calibrated'} | {args.tile} | {r['elements']} | "
              f"{r['mismatches']} | {len(r['hardware_ops'])} | {r['nodes']} ({r['dwc']}/{r['fifo']}) | "
              f"{t['lut']:.0f} | {t['bram18']:.0f} | {t['dsp']:.0f} | {r['cycles_per_frame']} | "
              f"{r['fps']:.1f} | {seconds:.1f} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
