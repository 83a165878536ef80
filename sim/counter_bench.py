"""cocotb bench of ``counter_chain``: random steps against a Python model of the nested loop.

``FQSR_COUNTER_LIMITS`` holds the limits, innermost first (JSON list). Every
cycle the bench checks each digit and each ``last`` flag, then steps with
probability one half (seeded).
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def counter_chain_test(dut):
    limits = json.loads(os.environ["FQSR_COUNTER_LIMITS"])
    rng = random.Random(int(os.environ.get("FQSR_COUNTER_SEED", "0")))
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    dut.step.value = 0
    dut.ap_rst_n.value = 0
    for _ in range(2):
        await RisingEdge(dut.ap_clk)
    await FallingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1
    digits = [0] * len(limits)
    wraps = 0
    cycles = 4 * len(limits) * max(1, eval("*".join(map(str, limits))))
    for cycle in range(min(cycles, 4000)):
        step = rng.random() < 0.5
        dut.step.value = int(step)
        await ReadOnly()
        count = int(dut.count.value)
        got = [(count >> (32 * i)) & 0xFFFFFFFF for i in range(len(limits))]
        assert got == digits, f"cycle {cycle}: digits {got}, expected {digits}"
        last = int(dut.last.value)
        want_last = [all(digits[j] == limits[j] - 1 for j in range(i + 1)) for i in range(len(limits))]
        assert [bool(last >> i & 1) for i in range(len(limits))] == want_last, f"cycle {cycle}: last flags"
        await FallingEdge(dut.ap_clk)
        if step:  # the model: add one to digit 0, carrying outwards
            for i, limit in enumerate(limits):
                digits[i] = 0 if digits[i] == limit - 1 else digits[i] + 1
                if digits[i]:
                    break
            else:
                wraps += 1
    dut._log.info("counter_chain %s: %d wraps", limits, wraps)
