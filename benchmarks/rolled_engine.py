"""The rolled residual-body engine on a small EDSR: bit-exactness under stalls and cycles vs the model
(benchmarks/rolled_edsr.md, section "Built").

Builds a calibrated edsr_w4a4 shrunk to ``--blocks`` x ``--features`` on a ``--tile`` tile, compiled for
``--target-fps`` (FINN's folding), generates ``rolled/`` (fqsr.hw.rolled) and runs fqsr.sim.rolled's check
twice: ``--frames`` random frames with gaps and back-pressure ``--stall`` on every stream, then the same
stall-free for the cycle count. Prints one JSON line per run.

    python benchmarks/rolled_engine.py --target-fps 50000 --out /tmp/rolled50k
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export
from fqsr.hw.rolled import generate_rolled_rtl
from fqsr.models.calibrate import calibrate
from fqsr.models.registry import build_model, get_config
from fqsr.sim.rolled import verify_rolled


def small_edsr(blocks: int, features: int, tile: int, seed: int = 0):
    """As tests/conftest.py's ``calibrated``: the quantizers see data, so the scales are not defaults."""
    cfg = get_config("edsr_w4a4").replace(blocks=blocks, features=features)
    torch.manual_seed(seed)
    model = build_model(cfg)
    calibrate(model, [torch.rand(2, cfg.channels, tile, tile) for _ in range(3)])
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--tile", type=int, default=6)
    parser.add_argument("--target-fps", type=int, default=50_000)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--stall", type=float, default=0.3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    model = small_edsr(args.blocks, args.features, args.tile)
    export(model, tile=(args.tile, args.tile), random_tiles=1, out_dir=args.out)
    compile_model(args.out / ONNX_NAME, args.out, random_tiles=1, reference=model, target_fps=args.target_fps)
    summary = generate_rolled_rtl(args.out / DATAFLOW_NAME, args.out)
    print(json.dumps({"build_s": round(time.monotonic() - started, 1), "words_per_block": summary["words_per_block"],
                      "regions": summary["regions"],
                      "mvau_folding": {k: {p: v[p] for p in ("SIMD", "PE", "ACC_BITS")}
                                       for k, v in summary["params"].items() if "MVAU" in k}}))
    for stall in (args.stall, 0.0):
        report = verify_rolled(args.out, frames=args.frames, p_gap=stall, p_stall=stall, seed=1)
        keys = ("p_gap", "equal", "elements", "mismatches", "first_mismatch", "extra_beats", "cycles_per_frame",
                "iteration_cycles", "model", "build_s", "test_s")
        print(json.dumps({k: report.get(k) for k in keys}))
        if not report["equal"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
