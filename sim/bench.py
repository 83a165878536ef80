"""The cocotb bench every stream module runs under: feed beats, collect beats, compare.

The bench knows nothing about the module's math. The pytest side
(``fqsr.sim.stimulus``) computes the expected beats with FINN's Python
execution of the node and writes a JSON spec; its path comes in
``FQSR_BENCH_SPEC``::

    {"inputs": {"in0": [beat, ...], ...}, "outputs": {"out0": [beat, ...], ...},
     "p_gap": 0.3, "p_stall": 0.3, "seed": 1, "max_cycles": 20000, "result": "path.json"}

Every input port gets a source with random gaps, every output port a sink
with random back-pressure; the test fails on a deadlock (``max_cycles``),
on a wrong beat, and on any beat beyond the expected ones (checked for a
drain period after the last expected beat). On success it writes the
cycle count from reset release to the last expected output beat to
``spec["result"]``.
"""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import AxisSink, AxisSource, start_and_reset

DRAIN_CYCLES = 32


def _first_mismatch(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return i
    return min(len(got), len(want))


@cocotb.test()
async def stream_test(dut):
    spec = json.loads(open(os.environ["FQSR_BENCH_SPEC"]).read())
    seed = int(spec.get("seed", 0))
    sources = [AxisSource(dut, name, beats, spec["p_gap"], seed * 1000 + i)
               for i, (name, beats) in enumerate(spec["inputs"].items())]
    sinks = {name: AxisSink(dut, name, spec["p_stall"], seed * 1000 + 500 + i)
             for i, name in enumerate(spec["outputs"])}
    expected = {name: list(beats) for name, beats in spec["outputs"].items()}
    await start_and_reset(dut)

    drain = None
    for cycle in range(int(spec["max_cycles"])):
        await FallingEdge(dut.ap_clk)
        for port in (*sources, *sinks.values()):
            port.drive()
        await ReadOnly()
        for port in (*sources, *sinks.values()):
            port.sample()
        complete = all(len(sinks[n].beats) >= len(expected[n]) for n in expected)
        if complete and all(s.done for s in sources):
            drain = cycle if drain is None else drain  # the cycle of the last expected output beat
            if cycle - drain >= DRAIN_CYCLES:
                break
    else:
        got = {n: len(s.beats) for n, s in sinks.items()}
        sent = [s.sent for s in sources]
        raise AssertionError(f"deadlock or too slow: after {spec['max_cycles']} cycles sent {sent}, "
                             f"received {got}, expected {({n: len(b) for n, b in expected.items()})}")

    for name, want in expected.items():
        got = sinks[name].beats
        if got != want:
            i = _first_mismatch(got, want)
            g = hex(got[i]) if i < len(got) else None
            w = hex(want[i]) if i < len(want) else None
            raise AssertionError(f"{name}: {len(got)} beats received, {len(want)} expected; "
                                 f"first difference at beat {i}: got {g}, expected {w}")
    with open(spec["result"], "w") as f:
        json.dump({"cycles": drain + 1}, f)
    dut._log.info("ok: %s beats in, %s beats out, p_gap=%s p_stall=%s",
                  [len(s.beats) for s in sources], {n: len(b) for n, b in expected.items()},
                  spec["p_gap"], spec["p_stall"])
