"""The cocotb bench of ``rolled_system`` (:mod:`fqsr.hw.rolled`): the rolled engine, its SDRAM DMA, ``sdram_ctrl`` and
the weight loader, with :class:`~fqsr.sim.sdram_model.SdramModel` as the chip (storage and every timing rule).

The bench first streams the weight image (``weights.bin``, bytes, ``tlast`` on the last) into ``img_t*``, then the
body's input frames into ``in0_t*`` and collects the body's output frames from ``out0_t*``; the DMA does the rest
(frames between iterations and the weights, all in the chip model). Every source idles a cycle with probability
``p_gap``, the output sink holds ready low with probability ``p_stall``. It does no comparison
(:mod:`fqsr.sim.rolled` compares with FINN's execution); the spec comes as JSON in ``FQSR_BENCH_SPEC``::

    {"frames": [[beat, ...], ...], "image": [byte, ...], "beats": 288, "p_gap": 0.3, "p_stall": 0.3, "seed": 1,
     "max_cycles": 200000, "chip": {SdramTiming fields}, "result": "path.json", "ports": ["in0", "out0"]}

``beats``: output beats per frame; ``ports``: the input and output stream prefixes (``s_axis``, ``m_axis`` on
``rolled_top``, the whole network around the same system, where the frames are the network's input tiles).

The result: the output beats, every iteration's start (cycle, block), the cycle ``image_ok`` rose, the chip's
command counts, the refreshes that fell inside an iteration, the first broken SDRAM rule (or null), any
output beat after the last expected one (``extra_beats``) and ``deadlock`` when ``max_cycles`` ran out first.
"""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, drain, start_and_reset
from fqsr.sim.sdram_model import REFRESH, SdramModel, SdramTiming

DRAIN_CYCLES = 64


@cocotb.test()
async def rolled_system_test(dut):
    spec = json.loads(open(os.environ["FQSR_BENCH_SPEC"]).read())
    seed, p_gap, p_stall = int(spec["seed"]), float(spec["p_gap"]), float(spec["p_stall"])
    frames, image = spec["frames"], list(spec["image"])
    in_port, out_port = spec.get("ports", ["in0", "out0"])
    total = len(frames) * int(spec["beats"])
    for port in ("img_tvalid", "img_tdata", "img_tlast", f"{in_port}_tvalid", f"{in_port}_tdata",
                 f"{out_port}_tready", "sdram_dq_i"):
        getattr(dut, port).value = 0
    model = SdramModel(dut, SdramTiming(**spec["chip"]), seed=seed)
    cocotb.start_soon(model.run())
    await start_and_reset(dut)

    img = AxisSource(dut, "img", image, p_gap, seed * 1000 + 1)
    src = AxisSource(dut, in_port, [b for f in frames for b in f], p_gap, seed * 1000 + 2)
    out = AxisSink(dut, out_port, p_stall, seed * 1000 + 3)
    iterations, image_ok_cycle, rule, deadlock = [], None, None, False
    busy_refreshes, refreshes, cycle = 0, 0, 0
    while len(out.beats) < total:
        if cycle >= int(spec["max_cycles"]):
            deadlock = True
            break
        await FallingEdge(dut.ap_clk)
        img.drive()
        dut.img_tlast.value = int(img.sent == len(image) - 1)
        src.drive()
        out.drive()
        await ReadOnly()
        if model.error is not None:
            rule = str(model.error)
            break
        img.sample()
        src.sample()
        out.sample()
        if image_ok_cycle is None and int(dut.image_ok.value):
            image_ok_cycle = cycle
        if int(dut.iter_start.value):
            iterations.append({"block": int(dut.iter_block.value), "cycle": cycle})
        if model.counts[REFRESH] != refreshes:
            refreshes = model.counts[REFRESH]
            busy_refreshes += int(dut.phase.value) == 1 and bool(iterations)
        cycle += 1
    extra = []
    if not deadlock and rule is None:  # nothing may come after the last expected beat
        await FallingEdge(dut.ap_clk)
        getattr(dut, f"{in_port}_tvalid").value = 0
        extra = await drain(dut, out_port, DRAIN_CYCLES)
        if model.error is not None:
            rule = str(model.error)
    with open(spec["result"], "w") as f:
        json.dump({"beats": out.beats, "iterations": iterations, "image_ok_cycle": image_ok_cycle,
                   "image_error": int(dut.image_error.value), "commands": dict(model.counts),
                   "refreshes_in_iterations": busy_refreshes, "sdram_rule": rule, "extra_beats": extra,
                   "deadlock": deadlock, "cycles": cycle}, f)
    dut._log.info("rolled system: %d of %d beats in %d cycles, %d iterations, deadlock=%s, rule=%s",
                  len(out.beats), total, cycle, len(iterations), deadlock, rule)
