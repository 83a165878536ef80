"""The cocotb bench of the rolled body engine (``rolled_body``, :mod:`fqsr.hw.rolled`): the engine's DMA and memory.

The bench plays the frame DMA and the memory behind it, the way an SDRAM DMA would serve the engine:
it takes the engine's iteration commands (``cmd_t*``, the block index), streams the iteration's input
frame on ``rd_t*`` (block 0: the next host frame; block k > 0: what iteration k-1 wrote) and collects its
output on ``wr_t*``; and it streams the weight payload on ``w_t*``, repeated for every frame. Every
source idles a cycle with probability ``p_gap`` (the weight stream with ``p_weight_gap`` when the spec
gives it: a slow weight memory), every sink (``wr``, ``cmd``) holds ready low with probability
``p_stall``. It does no comparison (:mod:`fqsr.sim.rolled` compares with FINN's execution); the spec
comes as JSON in ``FQSR_BENCH_SPEC``::

    {"frames": [[beat, ...], ...], "payload": [word, ...], "blocks": 3, "beats": 288,
     "p_gap": 0.3, "p_stall": 0.3, "seed": 1, "max_cycles": 100000, "result": "path.json"}

The result lists every iteration (block, the cycle its command was taken, the cycle of its last output
beat, its output beats), any output beat after the last iteration (``extra_beats``), and ``deadlock``
when ``max_cycles`` ran out first.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, drain, start_and_reset

DRAIN_CYCLES = 64


@cocotb.test()
async def rolled_test(dut):
    spec = json.loads(open(os.environ["FQSR_BENCH_SPEC"]).read())
    seed, p_gap, p_stall = int(spec["seed"]), float(spec["p_gap"]), float(spec["p_stall"])
    frames, blocks, beats = spec["frames"], int(spec["blocks"]), int(spec["beats"])
    for port in ("rd_tvalid", "rd_tdata", "w_tvalid", "w_tdata", "wr_tready", "cmd_tready"):
        getattr(dut, port).value = 0
    await start_and_reset(dut)

    weights = AxisSource(dut, "w", list(spec["payload"]) * (len(frames) + 1), float(spec.get("p_weight_gap", p_gap)),
                         seed * 1000 + 3)
    cmd_rng = random.Random(seed * 1000 + 4)
    iterations, pending, rd, wr = [], None, None, None
    frame = 0
    total = len(frames) * blocks
    deadlock = False
    cycle = 0
    while len(iterations) < total or rd is not None:
        if cycle >= int(spec["max_cycles"]):
            deadlock = True
            break
        await FallingEdge(dut.ap_clk)
        if pending is not None:  # the iteration whose command was taken last cycle starts streaming
            block, source = pending
            rd = AxisSource(dut, "rd", source, p_gap, seed * 1000 + 10 + len(iterations))
            wr = AxisSink(dut, "wr", p_stall, seed * 1000 + 500 + len(iterations))
            iterations.append({"block": block, "cmd_cycle": cycle - 1, "beats": wr.beats})
            pending = None
        weights.drive()
        ready = 0
        if rd is None and int(dut.cmd_tvalid.value):
            block = int(dut.cmd_tdata.value)
            if block != 0 or frame < len(frames):  # block 0 waits for a host frame
                ready = int(cmd_rng.random() >= p_stall)
        dut.cmd_tready.value = ready
        if rd is not None:
            rd.drive()
            wr.drive()
        await ReadOnly()
        weights.sample()
        if ready and int(dut.cmd_tvalid.value):
            block = int(dut.cmd_tdata.value)
            if block == 0:
                source, frame = frames[frame], frame + 1
            else:
                source = iterations[-1]["beats"]
            pending = (block, source)
        if rd is not None:
            rd.sample()
            wr.sample()
            if len(wr.beats) == beats:
                iterations[-1]["end_cycle"] = cycle
                rd = wr = None
        cycle += 1
    extra = []
    if not deadlock:  # nothing may come after the last iteration's last beat
        await FallingEdge(dut.ap_clk)
        dut.rd_tvalid.value = 0
        dut.cmd_tready.value = 0
        extra = await drain(dut, "wr", DRAIN_CYCLES)
    with open(spec["result"], "w") as f:
        json.dump({"iterations": iterations, "extra_beats": extra, "deadlock": deadlock, "cycles": cycle,
                   "weight_words_sent": weights.sent}, f)
    dut._log.info("rolled bench: %d iterations in %d cycles, deadlock=%s", len(iterations), cycle, deadlock)
