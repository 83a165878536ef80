"""Training-free quantization measured: DAQ against fqsr's per-tensor calibration and the shipped QAT checkpoints.

Usage: python benchmarks/daq.py [--models espcn_w4a4,edsr_w4a4] [--methods daq,calibrate]
                                [--edsr-twin benchmarks/training/edsr_float.state.pt] [--out benchmarks/daq.json]
Quantizes each model's float twin with each method (`fqsr quantize MODEL --method M`, the same
function), scores the result on Set5 and Set14 (Y PSNR) and appends one JSON line per
(model, method, set) to --out, so a long run can be stopped and resumed (rows already there are skipped).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from fqsr.models.checkpoint import shipped_checkpoint
from fqsr.models.evaluate import evaluate
from fqsr.models.quantize import QuantizeSettings, quantize_to_checkpoint
from fqsr.models.registry import get_config

ROOT = Path(__file__).resolve().parents[1]


def twin_checkpoint(name: str, edsr_twin: str | None) -> Path:
    cfg = get_config(name)
    if cfg.arch == "edsr" and edsr_twin:
        return Path(edsr_twin)
    return shipped_checkpoint(cfg.twin_name)


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="espcn_w4a4,edsr_w4a4")
    parser.add_argument("--methods", default="daq,calibrate")
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    parser.add_argument("--sets", default="Set5,Set14")
    parser.add_argument("--edsr-twin", default=str(ROOT / "benchmarks" / "training" / "edsr_float.state.pt"))
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "daq.json"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(r["model"], r["method"], r["set"]) for r in map(json.loads, out.read_text().splitlines())}
    for name in args.models.split(","):
        twin = twin_checkpoint(name, args.edsr_twin)
        for method in args.methods.split(","):
            sets = [s for s in args.sets.split(",") if (name, method, s) not in done]
            if not sets:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                ckpt = Path(tmp) / f"{name}-{method}.pt"
                report = quantize_to_checkpoint(get_config(name), twin, ckpt,
                                                QuantizeSettings(method=method, calib=args.calib))
                for set_name in sets:
                    scores = evaluate(name, str(Path(args.data) / set_name), ckpt, twin)
                    row = {"model": name, "method": method, "set": set_name, "twin": str(twin),
                           "psnr_y_quant": scores["psnr_y_quant"], "psnr_y_float": scores.get("psnr_y_float"),
                           "psnr_y_bicubic": scores["psnr_y_bicubic"],
                           "calibration_seconds": report["calibration_seconds"], "calib": args.calib,
                           "ranges": report.get("ranges")}
                    print(json.dumps({k: v for k, v in row.items() if k != "ranges"}), flush=True)
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
