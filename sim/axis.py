"""AXI-stream drivers for cocotb benches, and FINN's beat packing.

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

import numpy as np


def padded_width(bits: int, lanes: int) -> int:
    return (bits * lanes + 7) // 8 * 8


def pack_beats(values, bits: int, lanes: int) -> list[int]:
    """Integers (any shape, innermost axis folded into ``lanes``) -> one int per beat, element 0 in the LSBs."""
    flat = np.asarray(values).astype(np.int64).reshape(-1, lanes)
    mask = (1 << bits) - 1
    if bits * lanes <= 64:  # whole images of beats: numpy, not a Python loop per element
        words = np.zeros(len(flat), dtype=np.uint64)
        for lane in range(lanes):
            words |= (flat[:, lane].astype(np.uint64) & np.uint64(mask)) << np.uint64(lane * bits)
        return words.tolist()
    beats = []
    for row in flat:
        word = 0
        for lane, v in enumerate(row.tolist()):
            word |= (int(v) & mask) << (lane * bits)
        beats.append(word)
    return beats


def unpack_beats(beats, bits: int, lanes: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_beats`: (beats, lanes) array of integers."""
    mask = (1 << bits) - 1
    if bits * lanes <= 64:
        words = np.asarray(beats, dtype=np.uint64).reshape(-1)  # a padded beat of <= 64 bits
        out = np.stack([((words >> np.uint64(lane * bits)) & np.uint64(mask)).astype(np.int64)
                        for lane in range(lanes)], axis=1) if len(words) else np.zeros((0, lanes), np.int64)
        if signed:
            out[out >> (bits - 1) > 0] -= 1 << bits
        return out
    out = np.zeros((len(beats), lanes), dtype=np.int64)
    for i, word in enumerate(beats):
        for lane in range(lanes):
            v = (int(word) >> (lane * bits)) & mask
            if signed and v >> (bits - 1):
                v -= 1 << bits
            out[i, lane] = v
    return out


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
