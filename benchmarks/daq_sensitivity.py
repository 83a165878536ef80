"""Per-layer sensitivity of DAQ-quantized models: the Set5 PSNR drop when only one layer group goes low.

Usage: python benchmarks/daq_sensitivity.py MODEL [--low-bits 2] [--twin FILE] [--data ../shared/data/Set5]
Prints JSON and appends it as one line to benchmarks/daq_sensitivity.json. Each variant is `fqsr quantize
MODEL --bits 'GROUP=LOW'` (DAQ, no training); the drop is against MODEL at its own widths.
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
from fqsr.models.quantize import QuantizeSettings, load_float_twin, sensitivity
from fqsr.models.registry import get_config

ROOT = Path(__file__).resolve().parents[1]

# Layer groups per architecture, as --bits patterns (a group: one role in every block).
GROUPS = {
    "espcn": {"conv1": "conv1", "act1": "act1", "conv2": "conv2", "act2": "act2", "conv3": "conv3"},
    "edsr": {"head": "head", "stream quantizers": "*quant", "body conv1": "body.*.conv1",
             "body act": "body.*.act", "body conv2": "body.*.conv2", "body_end": "body_end",
             "upsampler conv": "up.0", "upsampler act": "up.1", "tail": "tail"},
}


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
    result = sensitivity(cfg, load_float_twin(cfg, twin_path), GROUPS[cfg.arch], args.low_bits, args.data,
                         QuantizeSettings())
    result.update({"twin": str(twin_path), "seconds": round(time.monotonic() - start, 1)})
    print(json.dumps(result, indent=1))
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
