"""AXI-stream drivers for cocotb benches (FINN's beat packing is :mod:`fqsr.flows.host`'s).

FINN packs the innermost (folded) dimension of a stream little-endian:
element 0 of a beat sits in the least significant bits, each element is
``bits`` wide in two's complement, and the beat is zero-padded to a
multiple of 8 bits (``get_instream_width_padded``).

Both drivers act on the falling clock edge and sample the handshake in the
ReadOnly phase after it: nothing in the design changes between a falling
edge and the next rising one, so the sampled ``tvalid & tready`` is exactly
the handshake of that rising edge, on any simulator.
"""
from __future__ import annotations

import random

from fqsr.flows.host import pack_beats, padded_width, unpack_beats  # noqa: F401 (FINN's packing, one place)

RESET_CYCLES = 3


async def start_and_reset(dut):
    """Start ``ap_clk`` (10 ns) and hold ``ap_rst_n`` low for :data:`RESET_CYCLES` rising edges; returns on
    the falling edge where reset is released, where every bench's drivers then act."""
    import cocotb  # only inside a simulation: the packing above is used without one
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, RisingEdge

    dut.ap_rst_n.value = 0
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    for _ in range(RESET_CYCLES):
        await RisingEdge(dut.ap_clk)
    await FallingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1


class _Port:
    """The tdata/tvalid/tready handles of one stream port ``<prefix>_t*``."""

    def __init__(self, dut, prefix: str):
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")


class AxisSource:
    """Sends ``beats`` on ``<prefix>``, idling a cycle with probability ``p_gap`` (seeded)."""

    def __init__(self, dut, prefix: str, beats, p_gap: float, seed: int):
        self.port = _Port(dut, prefix)
        self.beats = list(beats)
        self.p_gap = p_gap
        self.rng = random.Random(seed)
        self.sent = 0
        self.port.tvalid.value = 0
        self.port.tdata.value = 0

    @property
    def done(self) -> bool:
        return self.sent == len(self.beats)

    def drive(self):
        """Called after each falling edge: present the next beat or a gap."""
        if self.sent < len(self.beats) and self.rng.random() >= self.p_gap:
            self.port.tvalid.value = 1
            self.port.tdata.value = self.beats[self.sent]
        else:
            self.port.tvalid.value = 0

    def sample(self):
        """Called in ReadOnly: count the beat if the coming rising edge transfers it."""
        if int(self.port.tvalid.value) and int(self.port.tready.value):
            self.sent += 1


class AxisSink:
    """Receives beats on ``<prefix>``, holding tready low with probability ``p_stall`` (seeded)."""

    def __init__(self, dut, prefix: str, p_stall: float, seed: int):
        self.port = _Port(dut, prefix)
        self.p_stall = p_stall
        self.rng = random.Random(seed)
        self.beats: list[int] = []
        self.port.tready.value = 0

    def drive(self):
        self.port.tready.value = int(self.rng.random() >= self.p_stall)

    def sample(self):
        if int(self.port.tvalid.value) and int(self.port.tready.value):
            self.beats.append(int(self.port.tdata.value))


async def drain(dut, prefix: str, cycles: int) -> list:
    """Hold ``<prefix>`` ready for ``cycles`` cycles (from a falling edge) and return the beats that come: after
    the last expected beat, any is a bug (a duplicated or extra beat)."""
    from cocotb.triggers import FallingEdge, ReadOnly

    sink = AxisSink(dut, prefix, 0.0, 0)
    for _ in range(cycles):
        await FallingEdge(dut.ap_clk)
        sink.drive()
        await ReadOnly()
        sink.sample()
    return sink.beats
