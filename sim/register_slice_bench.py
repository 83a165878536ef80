"""cocotb bench of ``stream_register_slice``: random beats through it under random gaps and back-pressure.

``FQSR_SLICE`` holds ``{"width", "beats", "p_gap", "p_stall", "seed"}`` (JSON). The bench checks that every beat
arrives once and in order, that no beat is lost or added after the last (a drain), and with ``p_gap = p_stall = 0``
that the slice keeps full throughput: ``beats`` beats leave in ``beats + 1`` cycles from the first one sent.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, drain, start_and_reset


@cocotb.test()
async def register_slice_test(dut):
    cfg = json.loads(os.environ["FQSR_SLICE"])
    rng = random.Random(cfg["seed"])
    beats = [rng.getrandbits(cfg["width"]) for _ in range(cfg["beats"])]
    source = AxisSource(dut, "in0", beats, cfg["p_gap"], cfg["seed"] + 1)
    sink = AxisSink(dut, "out0", cfg["p_stall"], cfg["seed"] + 2)
    await start_and_reset(dut)
    cycle, last_out = 0, None
    while len(sink.beats) < len(beats):
        assert cycle < 20 * len(beats) + 100, f"stalled after {len(sink.beats)} of {len(beats)} beats"
        source.drive()
        sink.drive()
        await ReadOnly()
        source.sample()
        before = len(sink.beats)
        sink.sample()
        if len(sink.beats) > before:
            last_out = cycle
        await FallingEdge(dut.ap_clk)
        cycle += 1
    first = next(i for i, (a, b) in enumerate(zip(sink.beats, beats)) if a != b) if sink.beats != beats else None
    assert first is None, f"beat {first} differs: {sink.beats[first]:#x}, sent {beats[first]:#x}"
    extra = await drain(dut, "out0", 8)
    assert extra == [], f"{len(extra)} extra beats"
    if cfg["p_gap"] == 0 and cfg["p_stall"] == 0:
        assert last_out == len(beats), f"{len(beats)} beats took until cycle {last_out}"
    dut._log.info("stream_register_slice: %d beats, last at cycle %d", len(beats), last_out)
