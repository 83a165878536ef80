"""Cycles per frame and latency of a compiled model folder through its stitched RTL (benchmarks/fmax.md).

    python benchmarks/rtl_cycles.py MODEL_DIR [GENERIC_RTL_DIR]

MODEL_DIR holds `dataflow.onnx` (an `fqsr compile` output); its `rtl/` is generated again, then `fqsr verify`'s
check runs (2 tiles under 30 % stalls, then frames back to back, seed 1). GENERIC_RTL_DIR replaces the generic
modules (hw/rtl) with another copy, e.g. an older commit's (`git archive COMMIT hw/rtl | tar -x -C DIR`), for a
before/after comparison on the same graph. Prints the verify report's equality and cycle figures as JSON.
"""
import json
import sys
from pathlib import Path

import fqsr.hw.generate as generate
from fqsr.hw.stitch import generate_rtl
from fqsr.sim.verify import verify

if len(sys.argv) not in (2, 3):
    sys.exit(__doc__.split("\n\n")[1].strip())
folder = Path(sys.argv[1])
if len(sys.argv) == 3:
    generate.RTL_DIR = Path(sys.argv[2])  # the stitcher copies the generic modules from here
generate_rtl(folder / "dataflow.onnx", folder)
report = verify(folder, tiles=2, stall_prob=0.3, seed=1)
print(json.dumps({k: report[k] for k in ("equal", "mismatches", "elements", "cycles_per_frame",
                                         "estimated_cycles_per_frame", "latency_cycles", "sim_cycles")}))
