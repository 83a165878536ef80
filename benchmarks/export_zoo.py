"""Full-size QONNX export of every zoo model, with the Brevitas == QONNX equality check.

Usage: python benchmarks/export_zoo.py [--tile 32x32]
Shipped checkpoints are used where they exist; other models are calibrated on
the embedded images (untrained weights, real integer ranges). Prints a table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import warnings

from fqsr.flows.export import export, parse_tile
from fqsr.models.checkpoint import load_model
from fqsr.models.registry import ZOO


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", default="32x32")
    parser.add_argument("--models", default=",".join(ZOO))
    args = parser.parse_args()
    tile = parse_tile(args.tile)
    print("| model | weights | tile | elements | mismatches | export s | check s |")
    print("|---|---|---|---|---|---|---|")
    failures = 0
    for name in args.models.split(","):
        model, meta = load_model(name, calibrate_untrained=True)
        with tempfile.TemporaryDirectory() as out:
            r = export(model, tile, random_tiles=2, out_dir=out, meta=meta)
        failures += not r["equal"]
        print(f"| {name} | {'trained' if meta else 'calibrated'} | {args.tile} | {r['elements']} | "
              f"{r['mismatches']} | {r['timing']['export_s']:.1f} | {r['timing']['check_s']:.1f} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
