"""cocotb bench of ``video_out`` (raster timing + TMDS transmitter): feeds a pixel stream and records the
serialized bits of the four TMDS channels, as a sink's deserializer would see them.

The spec comes as JSON in ``FQSR_VIDEO_SPEC``::

    {"pixels": [rgb, ...], "gap_prob": 0.0, "seed": 0, "cycles": 500, "result": "path.json"}

The bench runs ``cycles`` pixel clocks after reset with the 5x clock beside the pixel clock (rising edges
aligned), and writes the bits (bit 0 of each DDR pair first), the pixels the stream delivered, and the
``underrun``/``frames`` outputs at the end. The caller decodes and compares (:mod:`fqsr.sim.tmds`).
"""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSource, start_and_reset

CHANNELS = ("red", "green", "blue", "clock")


async def record(dut, bits: dict):
    """On each falling edge of the 5x clock: the two bits its rising edge put on each DDR output."""
    while True:
        await FallingEdge(dut.clk_x5)
        for name in CHANNELS:
            pair = int(getattr(dut, f"ddr_{name}").value)
            bits[name] += [pair & 1, pair >> 1 & 1]


@cocotb.test()
async def video_out_test(dut):
    spec = json.loads(open(os.environ["FQSR_VIDEO_SPEC"]).read())
    source = AxisSource(dut, "pixel", spec["pixels"], float(spec["gap_prob"]), int(spec["seed"]))
    cocotb.start_soon(Clock(dut.clk_x5, 2, unit="ns").start())  # 5x the 10 ns pixel clock, edges aligned
    await start_and_reset(dut)
    bits = {name: [] for name in CHANNELS}
    cocotb.start_soon(record(dut, bits))
    for _ in range(int(spec["cycles"])):
        source.drive()
        await ReadOnly()
        source.sample()
        await FallingEdge(dut.ap_clk)
    result = {"bits": bits, "sent": source.sent, "underrun": int(dut.underrun.value),
              "frames": int(dut.frames.value)}
    with open(spec["result"], "w") as f:
        json.dump(result, f)
