"""The cocotb bench of the rolled design's board core (``rolled_board_core``, :func:`fqsr.hw.board.rolled_board_text`)
at the UART bit level, with :class:`~fqsr.sim.sdram_model.SdramModel` as the board's SDRAM chip.

It plays the host at start-up: the weight image (``weights.bin``) goes out 8N1 on ``uart_rxd`` first, then each
tile's bytes, the next tile once the whole answer of the previous one has arrived (as
:class:`fqsr.sim.link.SerialDevice` does), with random idle time between bytes; the answer is read bit by bit from
``uart_txd`` (sampled mid-bit). No comparison here (:func:`fqsr.sim.rolled.verify_rolled_board` compares). The spec
comes as JSON in ``FQSR_BENCH_SPEC``::

    {"image": [byte, ...], "tiles": [[byte, ...], ...], "expect_per_tile": n, "clks_per_bit": 4, "gap_prob": 0.3,
     "seed": 0, "max_cycles": 400000, "chip": {SdramTiming fields}, "result": "path.json"}

The result: the received bytes, the cycles at which the image's last byte was sent, ``image_ok`` rose and the
first iteration started, ``image_error``, the chip's command counts, the first broken SDRAM rule (or null),
framing errors on the line, the LEDs at the end and ``deadlock`` when ``max_cycles`` ran out first.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_time

from fqsr.sim.sdram_model import SdramModel, SdramTiming
from fqsr.sim.uart_line import receive, send_byte


@cocotb.test()
async def rolled_board_test(dut):
    spec = json.loads(open(os.environ["FQSR_BENCH_SPEC"]).read())
    cpb, gap, rng = int(spec["clks_per_bit"]), float(spec["gap_prob"]), random.Random(int(spec["seed"]))
    dut.uart_rxd.value = 1
    dut.btn_reset.value = 0
    dut.pll_locked.value = 1
    dut.sdram_dq_i.value = 0
    model = SdramModel(dut, SdramTiming(**spec["chip"]), seed=int(spec["seed"]))
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    cocotb.start_soon(model.run())
    received, errors = [], []
    cocotb.start_soon(receive(dut.ap_clk, dut.uart_txd, cpb, received, errors, keep_bad=True))
    marks = {"image_ok": None, "first_iteration": None, "image_sent": None}

    def now() -> int:  # cycles of the 10 ns clock since the start
        return int(get_sim_time("ns")) // 10

    async def mark(signal, key):  # event-driven: no Python per clock cycle
        await RisingEdge(signal)
        marks[key] = now()

    cocotb.start_soon(mark(dut.image_ok, "image_ok"))
    cocotb.start_soon(mark(dut.iter_start, "first_iteration"))

    async def host():
        await ClockCycles(dut.ap_clk, 8 * cpb)
        for byte in spec["image"]:
            await send_byte(dut.ap_clk, dut.uart_rxd, byte, cpb)
            while rng.random() < gap:
                await ClockCycles(dut.ap_clk, cpb)
        marks["image_sent"] = now()
        for t, tile in enumerate(spec["tiles"]):
            for byte in tile:
                await send_byte(dut.ap_clk, dut.uart_rxd, byte, cpb)
                while rng.random() < gap:
                    await ClockCycles(dut.ap_clk, cpb)
            while len(received) < (t + 1) * int(spec["expect_per_tile"]):
                await ClockCycles(dut.ap_clk, cpb)

    cocotb.start_soon(host())
    total = len(spec["tiles"]) * int(spec["expect_per_tile"])
    deadlock = False
    while len(received) < total and model.error is None:
        if now() >= int(spec["max_cycles"]):
            deadlock = True
            break
        await ClockCycles(dut.ap_clk, 64)
    await ClockCycles(dut.ap_clk, 40 * cpb)  # nothing more may arrive
    with open(spec["result"], "w") as f:
        json.dump({"received": received, "framing_errors": errors, "image_ok_cycle": marks["image_ok"],
                   "first_iteration_cycle": marks["first_iteration"], "image_sent_cycle": marks["image_sent"],
                   "image_error": int(dut.image_error.value), "commands": dict(model.counts),
                   "sdram_rule": None if model.error is None else str(model.error), "led": int(dut.led.value),
                   "deadlock": deadlock, "cycles": now()}, f)
    dut._log.info("rolled board: %d of %d bytes in %d cycles, image_ok at %s, deadlock=%s", len(received), total,
                  now(), marks["image_ok"], deadlock)
