"""Per-layer sensitivity of DAQ-quantized models: the Set5 PSNR drop when only one layer group goes low.

Usage: python benchmarks/daq_sensitivity.py MODEL [--low-bits 2] [--twin FILE] [--data ../shared/data/Set5]
Prints JSON and appends it as one line to benchmarks/daq_sensitivity.json. Each variant is `fqsr quantize
MODEL --bits 'GROUP=LOW'` (DAQ, no training; groups: fqsr.models.quantize.layer_groups); the drop is
against MODEL at its own widths. `fqsr quantize MODEL --bits auto` measures the same at every width.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from fqsr.models.checkpoint import shipped_checkpoint
from fqsr.models.quantize import QuantizeSettings, layer_groups, load_float_twin, sensitivity
from fqsr.models.registry import get_config

ROOT = Path(__file__).resolve().parents[1]

def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--low-bits", type=int, default=2)
    parser.add_argument("--twin", default=None)
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "Set5"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "daq_sensitivity.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = get_config(args.model)
    twin_path = args.twin or shipped_checkpoint(cfg.twin_name)
    start = time.monotonic()
    result = sensitivity(cfg, load_float_twin(cfg, twin_path), layer_groups(cfg), args.low_bits, args.data,
                         QuantizeSettings())
    result.update({"twin": str(twin_path), "seconds": round(time.monotonic() - start, 1)})
    print(json.dumps(result, indent=1))
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
