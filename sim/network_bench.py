"""The cocotb bench of a stitched network top (``fqsr_top``): stream phases of beats, record what comes out.

The bench does no comparison (the Python side, :mod:`fqsr.sim.verify`,
compares against FINN's execution); it only drives ``s_axis`` and records
``m_axis``. The spec comes as JSON in ``FQSR_BENCH_SPEC``::

    {"phases": [{"beats": [...], "expect": n, "p_gap": 0.3, "p_stall": 0.3, "seed": 1, "frame": [rows, cols]},
                ...],
     "max_cycles": 100000, "result": "path.json"}

A phase's optional ``frame`` sets the ``frame_rows`` / ``frame_cols`` inputs of a top with runtime
frame geometry: before reset for the first phase, else once the previous phase is complete, followed
by ``GEOMETRY_SETTLE_CYCLES`` idle cycles when it changed (as the compiled harness does).
Phases run one after the other on one reset: a phase's source starts once the
previous phase has received all of its expected beats. Each phase records the
beats it received and the cycle (counted from reset release) of each. After
the last phase the bench keeps the sink ready for a drain period and records
any extra beat. A phase may name ``"taps"``: stream prefixes of internal
top-level wires (``t_<tensor>``) whose handshaken beats it records too (the
first differing node's search; it slows the bench down). A deadlock (``max_cycles`` reached) is reported in the result,
not raised, so the caller can say how far the stream got. An optional ``"max_wall_s"`` stops the
run after that many seconds of wall time (``"wall_limited": true`` in the result): a speed
measurement on a slow simulator, never a verdict.

The compiled harness (:mod:`fqsr.sim.harness`, ``--sim verilator``) reproduces this bench
cycle for cycle without Python in the clock loop; this bench runs for ``--sim cocotb`` / ``icarus``.
"""
from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, drain, start_and_reset

DRAIN_CYCLES = 64
GEOMETRY_SETTLE_CYCLES = 4  # as fqsr.sim.harness: the nodes register their geometry


@cocotb.test()
async def network_test(dut):
    spec = json.loads(open(os.environ["FQSR_BENCH_SPEC"]).read())
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    geometry = [None]

    def set_geometry(phase) -> bool:
        frame = phase.get("frame")
        if not frame or list(frame) == geometry[0]:
            return False
        geometry[0] = list(frame)
        dut.frame_rows.value, dut.frame_cols.value = int(frame[0]), int(frame[1])
        return True

    if spec["phases"]:
        set_geometry(spec["phases"][0])
    await start_and_reset(dut)

    max_cycles = int(spec["max_cycles"])
    max_wall_s = spec.get("max_wall_s")
    cycle = 0
    results = []
    deadlock = wall_limited = False
    start = time.monotonic()
    for index, phase in enumerate(spec["phases"]):
        if index and set_geometry(phase):
            for _ in range(GEOMETRY_SETTLE_CYCLES):
                await FallingEdge(dut.ap_clk)
                cycle += 1
        seed = int(phase.get("seed", 0))
        source = AxisSource(dut, "s_axis", phase["beats"], phase["p_gap"], seed * 1000 + 1)
        sink = AxisSink(dut, "m_axis", phase["p_stall"], seed * 1000 + 2)
        stamps = []
        first_in = None
        taps = {name: [getattr(dut, f"{name}_{s}") for s in ("tvalid", "tready", "tdata")]
                for name in phase.get("taps", [])}
        tapped = {name: [] for name in taps}
        expect = int(phase["expect"])
        while len(sink.beats) < expect or not source.done:
            if cycle >= max_cycles:
                deadlock = True
                break
            if max_wall_s is not None and cycle % 256 == 0 and time.monotonic() - start > max_wall_s:
                wall_limited = True
                break
            await FallingEdge(dut.ap_clk)
            source.drive()
            sink.drive()
            await ReadOnly()
            sent, got = source.sent, len(sink.beats)
            source.sample()
            sink.sample()
            for name, (valid, ready, data) in taps.items():
                if int(valid.value) and int(ready.value):
                    tapped[name].append(int(data.value))
            if first_in is None and source.sent > sent:
                first_in = cycle
            if len(sink.beats) > got:
                stamps.append(cycle)
            cycle += 1
        await FallingEdge(dut.ap_clk)  # leave ReadOnly; the next phase's source starts from here
        dut.s_axis_tvalid.value = 0  # nothing transfers on the coming rising edge, unobserved
        dut.m_axis_tready.value = 0
        cycle += 1
        results.append({"beats": sink.beats, "cycles": stamps, "first_in": first_in, "sent": source.sent,
                        "taps": tapped})
        if deadlock or wall_limited:
            break
    extra = []
    if not deadlock and not wall_limited:  # anything after the last expected beat is a bug (a duplicated beat)
        extra = await drain(dut, "m_axis", DRAIN_CYCLES)
    wall = time.monotonic() - start
    with open(spec["result"], "w") as f:
        json.dump({"phases": results, "extra_beats": extra, "deadlock": deadlock, "wall_limited": wall_limited,
                   "cycles": cycle, "wall_s": wall}, f)
    dut._log.info("network bench: %d cycles in %.1f s, deadlock=%s", cycle, wall, deadlock)
