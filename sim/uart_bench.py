"""The cocotb bench of the board top (``board_top``: UART bridge + stitched network), at the UART bit level.

It plays the host's serial port: each tile's bytes go out 8N1 on ``ftdi_txd``
(with random idle time between bytes), the board's answer is read bit by bit
from ``ftdi_rxd`` (sampled mid-bit), and the next tile goes out once the whole
answer of the previous one has arrived, as :class:`fqsr.sim.link.SerialDevice`
does. No comparison here: :class:`fqsr.sim.link.UartRtlDevice` decodes and the
caller compares. The spec comes as JSON in ``FQSR_UART_SPEC``::

    {"tiles": [[byte, ...], ...], "expect_per_tile": n, "clks_per_bit": 4, "gap_prob": 0.3,
     "seed": 0, "max_cycles": 100000, "result": "path.json"}

The result holds the received bytes, framing errors seen on the line, the LEDs
at the end and whether ``max_cycles`` ran out (a timeout is reported, not raised).
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from fqsr.sim.uart_line import receive, send_byte


@cocotb.test()
async def uart_board_test(dut):
    spec = json.loads(open(os.environ["FQSR_UART_SPEC"]).read())
    cpb = int(spec["clks_per_bit"])
    rng = random.Random(int(spec["seed"]))
    clk = dut.clk_25mhz
    cocotb.start_soon(Clock(clk, 10, unit="ns").start())
    dut.ftdi_txd.value = 1
    dut.btn_reset.value = 0
    got, errors = [], []
    cocotb.start_soon(receive(dut.clk_25mhz, dut.ftdi_rxd, cpb, got, errors))
    await ClockCycles(clk, 32)  # the board top's power-on reset
    cycles, timeout = 32, False
    max_cycles = int(spec["max_cycles"])
    for index, tile in enumerate(spec["tiles"]):
        for byte in tile:
            idle = rng.randrange(1, 3 * cpb) if rng.random() < spec["gap_prob"] else 0
            if idle:
                await ClockCycles(clk, idle)
            await send_byte(dut.clk_25mhz, dut.ftdi_txd, byte, cpb)
            cycles += idle + 10 * cpb
        want = (index + 1) * int(spec["expect_per_tile"])
        while len(got) < want and cycles < max_cycles:
            await ClockCycles(clk, 64)
            cycles += 64
        if len(got) < want:
            timeout = True
            break
    if not timeout:  # anything after the last expected byte is a bug (a duplicated beat)
        await ClockCycles(clk, 20 * cpb)
    await RisingEdge(clk)
    with open(spec["result"], "w") as f:
        json.dump({"bytes": got, "framing_errors": errors, "timeout": timeout, "cycles": cycles,
                   "led": int(dut.led.value)}, f)
    dut._log.info("uart bench: %d bytes back in %d cycles, timeout=%s", len(got), cycles, timeout)
