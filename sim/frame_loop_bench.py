"""cocotb bench of ``frame_loop``: one frame's beats in with random gaps, then the replayed stream read with
random back-pressure (and, in a second phase, with tready always high, for the one-beat-per-cycle rate).

The spec comes as JSON in ``FQSR_FRAME_LOOP_SPEC``::

    {"frame": [beat, ...], "reads": 40, "p_gap": 0.3, "p_stall": 0.4, "seed": 0, "result": "path.json"}

The result holds the beats read, how many came out before the frame was whole (must be none), the cycles of
the full-rate phase and ``loaded``/``frame_received`` counts. The caller compares.
"""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, start_and_reset


@cocotb.test()
async def frame_loop_test(dut):
    spec = json.loads(open(os.environ["FQSR_FRAME_LOOP_SPEC"]).read())
    seed, reads = int(spec["seed"]), int(spec["reads"])
    source = AxisSource(dut, "s", spec["frame"], spec["p_gap"], seed)
    sink = AxisSink(dut, "m", spec["p_stall"], seed + 1)
    await start_and_reset(dut)
    early, received = 0, 0
    phases = {"stalled": reads, "full_rate": reads}
    full_rate_cycles = 0
    for phase, count in phases.items():
        if phase == "full_rate":
            sink.p_stall = 0.0
        start = len(sink.beats)
        while len(sink.beats) < start + count:
            await FallingEdge(dut.ap_clk)
            source.drive()
            sink.drive()
            await ReadOnly()
            before = len(sink.beats)
            source.sample()
            sink.sample()
            if not source.done and len(sink.beats) > before:
                early += 1
            received += int(dut.frame_received.value)
            full_rate_cycles += phase == "full_rate"
    with open(spec["result"], "w") as f:
        json.dump({"beats": sink.beats, "early": early, "loaded": int(dut.loaded.value),
                   "frame_received": received, "full_rate_cycles": full_rate_cycles}, f)
