"""The host's side of a UART line in cocotb benches: 8N1 bytes out on a pin, bytes read back bit by bit.

Shared by the board-top benches (:mod:`fqsr.sim.uart_bench`, :mod:`fqsr.sim.rolled_board_bench`), which
name their clock and pins differently.
"""
from __future__ import annotations

from cocotb.triggers import ClockCycles, FallingEdge


async def send_byte(clk, pin, byte: int, cpb: int):
    """``byte`` out on ``pin``, 8N1, ``cpb`` cycles of ``clk`` per bit."""
    for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
        pin.value = level
        await ClockCycles(clk, cpb)


async def receive(clk, pin, cpb: int, out: list, errors: list, keep_bad: bool = False):
    """Collect bytes from ``pin`` forever: start edge, mid-bit samples, stop bit check.

    A byte whose stop bit is low is a framing error: its index in ``out`` goes to ``errors``, and the
    byte itself into ``out`` too when ``keep_bad`` (so a bench counting bytes goes on to compare them)."""
    while True:
        await FallingEdge(pin)
        await ClockCycles(clk, cpb // 2)
        if int(pin.value):
            continue  # a glitch, not a start bit
        byte = 0
        for i in range(8):
            await ClockCycles(clk, cpb)
            byte |= int(pin.value) << i
        await ClockCycles(clk, cpb)
        if not int(pin.value):
            errors.append(len(out))
            if not keep_bad:
                continue
        out.append(byte)
