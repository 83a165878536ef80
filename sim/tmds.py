"""TMDS (DVI 1.0) in Python: the reference encoder the RTL is compared with, and a decoder from the serial
bit stream back to pixels and sync levels, which is how a sink (a monitor) sees ``hw/rtl/dvi_out.v``.

Symbols are 10-bit integers, bit 0 sent first. :class:`Encoder` keeps the running disparity of one channel.
"""
from __future__ import annotations

import numpy as np

from fqsr.hw.video import Timing  # the raster as hw/rtl/video_timing.v makes it
from fqsr.models.errors import FqsrError

CONTROL = {0b00: 0b1101010100, 0b01: 0b0010101011, 0b10: 0b0101010100, 0b11: 0b1010101011}
CONTROL_OF = {symbol: c for c, symbol in CONTROL.items()}
CLOCK_SYMBOL = 0b0000011111


def _ones(value: int) -> int:
    return bin(value).count("1")


def minimize_transitions(d: int) -> int:
    """Stage 1: the 9-bit q_m (XOR or XNOR chaining, bit 8 says which: 1 = XOR)."""
    xnor = _ones(d) > 4 or (_ones(d) == 4 and not d & 1)
    q = d & 1
    for i in range(1, 8):
        bit = ((q >> (i - 1)) ^ (d >> i)) & 1
        q |= (bit ^ xnor) << i
    return q | (0 if xnor else 1 << 8)


class Encoder:
    """One TMDS channel: ``symbol(de, c, d)`` in the order the pixels are sent."""

    def __init__(self):
        self.cnt = 0

    def symbol(self, de: bool, c: int, d: int) -> int:
        if not de:
            self.cnt = 0
            return CONTROL[c & 3]
        qm = minimize_transitions(d)
        low, bit8 = qm & 0xFF, qm >> 8
        diff = 2 * _ones(low) - 8  # ones minus zeros of q_m[7:0]
        if self.cnt == 0 or diff == 0:
            out = ((1 - bit8) << 9) | (bit8 << 8) | (low if bit8 else ~low & 0xFF)
            self.cnt += diff if bit8 else -diff
        elif (self.cnt > 0 and diff > 0) or (self.cnt < 0 and diff < 0):
            out = (1 << 9) | (bit8 << 8) | (~low & 0xFF)
            self.cnt += 2 * bit8 - diff
        else:
            out = (bit8 << 8) | low
            self.cnt += -2 * (1 - bit8) + diff
        return out


def decode_symbol(symbol: int) -> tuple[bool, int]:
    """(de, value): a control token gives (False, c), a data symbol (True, the 8-bit value)."""
    if symbol in CONTROL_OF:
        return False, CONTROL_OF[symbol]
    d = ~symbol & 0xFF if symbol >> 9 & 1 else symbol & 0xFF
    xor = symbol >> 8 & 1
    value = d & 1
    for i in range(1, 8):
        bit = ((d >> i) ^ (d >> (i - 1))) & 1
        value |= (bit if xor else 1 - bit) << i
    return True, value


def symbols_from_bits(bits: list[int], clock_bits: list[int]) -> list[int]:
    """Cut a channel's serial bits into symbols at the boundaries the clock channel marks: its symbol
    0b0000011111 goes out bit 0 first, five ones then five zeros, so a symbol starts at its 0->1 edge."""
    pattern = [CLOCK_SYMBOL >> i & 1 for i in range(10)]
    start = next((i for i in range(len(clock_bits) - 9) if clock_bits[i:i + 10] == pattern), None)
    if start is None:
        raise FqsrError("no TMDS clock pattern (five ones, five zeros) in the clock channel's bits")
    usable = (len(bits) - start) // 10
    for k in range(usable):
        if clock_bits[start + 10 * k:start + 10 * k + 10] != pattern:
            raise FqsrError(f"the TMDS clock channel lost its pattern at symbol {k}")
    return [sum(bits[start + 10 * k + i] << i for i in range(10)) for k in range(usable)]


def running_disparity(symbols: list[int]) -> int:
    """The largest |ones - zeros| over the prefixes of a run of data symbols (bounded for a DC-balanced link)."""
    worst, level = 0, 0
    for symbol in symbols:
        level += 2 * _ones(symbol) - 10
        worst = max(worst, abs(level))
    return worst


def frames_from_symbols(symbols: dict[str, list[int]], timing: Timing) -> list[np.ndarray]:
    """The whole active frames in decoded symbols (keys red/green/blue), each an (H, W, 3) uint8 image.

    A frame starts where a sink locks: the first data symbol after a blanking run at least a line long."""
    decoded = {name: [decode_symbol(s) for s in seq] for name, seq in symbols.items()}
    frames, blank, i = [], 0, 0
    length = len(decoded["blue"])
    while i < length:
        de = decoded["blue"][i][0]
        if not (de and blank >= timing.h_total):
            blank = 0 if de else blank + 1
            i += 1
            continue
        if i + (timing.v_active - 1) * timing.h_total + timing.h_active > length:
            break
        image = np.zeros((timing.v_active, timing.h_active, 3), np.uint8)
        for y in range(timing.v_active):
            for x in range(timing.h_active):
                for k, name in enumerate(("red", "green", "blue")):
                    de, value = decoded[name][i + y * timing.h_total + x]
                    if not de:
                        raise FqsrError(f"{name} is blanking at active pixel ({y}, {x}) of decoded frame {len(frames)}")
                    image[y, x, k] = value
        frames.append(image)
        i, blank = i + (timing.v_active - 1) * timing.h_total + timing.h_active, 0
    return frames
