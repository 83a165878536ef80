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
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge


async def send_byte(dut, byte: int, cpb: int):
    for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
        dut.ftdi_txd.value = level
        await ClockCycles(dut.clk_25mhz, cpb)


async def receive(dut, cpb: int, out: list, errors: list):
    """Collect bytes from ``ftdi_rxd`` forever: start edge, mid-bit samples, stop bit check."""
    while True:
        await FallingEdge(dut.ftdi_rxd)
        await ClockCycles(dut.clk_25mhz, cpb // 2)
        if int(dut.ftdi_rxd.value):
            continue  # a glitch, not a start bit
        byte = 0
        for i in range(8):
            await ClockCycles(dut.clk_25mhz, cpb)
            byte |= int(dut.ftdi_rxd.value) << i
        await ClockCycles(dut.clk_25mhz, cpb)
        if int(dut.ftdi_rxd.value):
            out.append(byte)
        else:
            errors.append(len(out))


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
    cocotb.start_soon(receive(dut, cpb, got, errors))
    await ClockCycles(clk, 32)  # the board top's power-on reset
    cycles, timeout = 32, False
    max_cycles = int(spec["max_cycles"])
    for index, tile in enumerate(spec["tiles"]):
        for byte in tile:
            idle = rng.randrange(1, 3 * cpb) if rng.random() < spec["gap_prob"] else 0
            if idle:
                await ClockCycles(clk, idle)
            await send_byte(dut, byte, cpb)
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
