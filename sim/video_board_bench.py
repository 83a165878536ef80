"""cocotb bench of ``video_board_core`` (:mod:`fqsr.hw.video`): the LR frame goes in over the UART, bit by bit,
as the host sends it; the bench then waits until the raster shows the accelerator's image and records the
serialized bits of the four TMDS channels, as a sink's deserializer would see them. The caller decodes and
compares (:mod:`fqsr.sim.tmds`). Three clocks: the design clock, the pixel clock and its 5x (edges aligned),
the design clock unrelated to the other two.

The spec comes as JSON in ``FQSR_VIDEO_BOARD_SPEC``::

    {"frame": [byte, ...], "clks_per_bit": 4, "clk_ns": 7, "pix_ns": 10, "gap_prob": 0.3, "seed": 0,
     "max_cycles": 200000, "record_cycles": 3000, "result": "path.json"}
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from fqsr.sim.uart_line import receive, send_byte

CHANNELS = ("red", "green", "blue", "clock")


async def record(dut, bits: dict, cycles: int):
    """On ``cycles`` falling edges of the 5x clock: the two bits its rising edge put on each DDR output."""
    for _ in range(cycles):
        await FallingEdge(dut.clk_x5)
        for name in CHANNELS:
            pair = int(getattr(dut, f"ddr_{name}").value)
            bits[name] += [pair & 1, pair >> 1 & 1]


@cocotb.test()
async def video_board_test(dut):
    spec = json.loads(open(os.environ["FQSR_VIDEO_BOARD_SPEC"]).read())
    cpb, rng = int(spec["clks_per_bit"]), random.Random(int(spec["seed"]))
    clk = dut.clk
    cocotb.start_soon(Clock(clk, int(spec["clk_ns"]), unit="ns").start())
    cocotb.start_soon(Clock(dut.pix_clk, int(spec["pix_ns"]), unit="ns").start())
    cocotb.start_soon(Clock(dut.clk_x5, int(spec["pix_ns"]) // 5, unit="ns").start())
    dut.uart_rxd.value = 1
    dut.btn_reset.value = 0
    dut.pll_locked.value = 1
    dut.video_locked.value = 1
    acks, errors = [], []
    cocotb.start_soon(receive(clk, dut.uart_txd, cpb, acks, errors))
    await ClockCycles(clk, 32)  # the power-on reset
    for byte in spec["frame"]:
        if rng.random() < spec["gap_prob"]:
            await ClockCycles(clk, rng.randrange(1, 3 * cpb))
        await send_byte(clk, dut.uart_rxd, byte, cpb)
    waited = 0
    while not int(dut.showing.value) and waited < int(spec["max_cycles"]):
        await ClockCycles(clk, 256)
        waited += 256
    bits = {name: [] for name in CHANNELS}
    if int(dut.showing.value):
        await record(dut, bits, 5 * int(spec["record_cycles"]))
    result = {"bits": bits, "acks": acks, "framing_errors": errors, "showing": int(dut.showing.value),
              "lr_loaded": int(dut.lr_loaded.value), "frames_written": int(dut.frames_written.value),
              "waited_cycles": waited, "led": int(dut.led.value)}
    with open(spec["result"], "w") as f:
        json.dump(result, f)
