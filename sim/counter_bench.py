"""cocotb bench of ``counter_chain``: random steps against a Python model of the nested loop.

``FQSR_COUNTER_LIMITS`` holds the limits, innermost first (JSON list). Every
cycle the bench checks each digit and each ``last`` flag, then steps with
probability one half (seeded).
"""
from __future__ import annotations

import json
import math
import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import start_and_reset


@cocotb.test()
async def counter_chain_test(dut):
    limits = json.loads(os.environ["FQSR_COUNTER_LIMITS"])
    rng = random.Random(int(os.environ.get("FQSR_COUNTER_SEED", "0")))
    dut.step.value = 0
    await start_and_reset(dut)
    digits = [0] * len(limits)
    wraps = 0
    for cycle in range(min(4 * len(limits) * math.prod(limits), 4000)):
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
