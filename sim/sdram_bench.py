"""cocotb bench of ``sdram_ctrl`` against :class:`~fqsr.sim.sdram_model.SdramModel`.

Random commands (reads and writes of random length at random addresses in a few rows of every bank, so
rows hit, miss and cross banks) with random gaps on the command and write streams and random back-pressure
on the read stream; every read word is compared with a reference memory updated in command order.
Environment: ``FQSR_SDRAM_CHIP`` (JSON: :class:`SdramTiming` fields, the chip's limits), ``FQSR_SDRAM_RUN``
(JSON: commands, max_words, rows, p_gap, p_cmd_gap (default p_gap), p_stall, seed, min_mid_burst_refreshes, min_refresh_wait_cycles;
``sequential``: back-to-back bursts of ``max_words`` words, written, then read, for the sustained bandwidth).
"""
from __future__ import annotations

import json
import os
import random
from collections import deque

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.sim.axis import start_and_reset
from fqsr.sim.sdram_model import PRECHARGE, REFRESH, SdramModel, SdramTiming

COL_BITS, ROW_BITS = 9, 13


def sequential_commands(count: int, words: int):
    """Writes of ``count // 2`` back-to-back bursts of ``words`` words from address 0, then reads of them."""
    half = count // 2
    return [(i < half, (i % half) * words, words) for i in range(2 * half)]


def random_commands(rng: random.Random, count: int, max_words: int, rows: list[int]):
    """(write, word address, words): a few rows per bank, random columns; a run past a row's end goes on in
    the same row of the next bank (and the next row after bank 3)."""
    for i in range(count):
        write = i < 4 or rng.random() < 0.5  # start with some data to read back
        address = (rng.choice(rows) << (COL_BITS + 2)) | (rng.randrange(4) << COL_BITS) | rng.randrange(1 << COL_BITS)
        words = rng.randint(1, max_words)
        yield write, min(address, (1 << (ROW_BITS + COL_BITS + 2)) - words), words


@cocotb.test()
async def sdram_random_traffic(dut):
    run = json.loads(os.environ["FQSR_SDRAM_RUN"])
    chip = SdramTiming(**json.loads(os.environ.get("FQSR_SDRAM_CHIP", "{}")))
    rng = random.Random(run["seed"])
    model = SdramModel(dut, chip, seed=run["seed"])
    for port, value in (("cmd_valid", 0), ("cmd_write", 0), ("cmd_addr", 0), ("cmd_len", 0),
                        ("wr_tvalid", 0), ("wr_tdata", 0), ("rd_tready", 0), ("sdram_dq_i", 0)):
        getattr(dut, port).value = value
    cocotb.start_soon(model.run())
    await start_and_reset(dut)

    if run.get("sequential"):
        commands = deque(sequential_commands(run["commands"], run["max_words"]))
    else:
        commands = deque(random_commands(rng, run["commands"], run["max_words"], run["rows"]))
    reference: dict[int, int] = {}
    write_words, expected = deque(), deque()  # data still to send, read words still to come
    mid_burst_refreshes = refresh_wait_cycles = checked = written = 0
    refreshes = model.counts[REFRESH]
    cycle = first_command = 0
    while commands or write_words or expected:
        cycle += 1
        assert cycle < run.get("max_cycles", 200_000), (
            f"stalled: {len(commands)} commands, {len(write_words)} write words, {len(expected)} reads left")
        offer = bool(commands) and rng.random() >= run.get("p_cmd_gap", run["p_gap"])
        if offer:
            write, address, words = commands[0]
            dut.cmd_valid.value, dut.cmd_write.value = 1, int(write)
            dut.cmd_addr.value, dut.cmd_len.value = address, words - 1
        else:
            dut.cmd_valid.value = 0
        send = bool(write_words) and rng.random() >= run["p_gap"]
        dut.wr_tvalid.value = int(send)
        if send:
            dut.wr_tdata.value = write_words[0]
        take = rng.random() >= run["p_stall"]
        dut.rd_tready.value = int(take)
        await ReadOnly()
        model.check()
        busy = bool(write_words or expected)
        if model.counts[REFRESH] != refreshes:
            refreshes = model.counts[REFRESH]
            mid_burst_refreshes += busy
        if offer and not int(dut.cmd_ready.value) and int(dut.init_done.value) and not busy:
            refresh_wait_cycles += 1  # a cycle the idle controller makes a command wait for a refresh
        if offer and int(dut.cmd_ready.value):
            first_command = first_command or cycle
            write, address, words = commands.popleft()
            for a in range(address, address + words):
                if write:
                    reference[a] = rng.getrandbits(16)
                    write_words.append(reference[a])
                else:
                    expected.append((a, reference.get(a, 0)))
        if send and int(dut.wr_tready.value):
            write_words.popleft()
            written += 1
        if take and int(dut.rd_tvalid.value):
            assert expected, f"cycle {cycle}: a read word nobody asked for"
            address, want = expected.popleft()
            got = int(dut.rd_tdata.value)
            assert got == want, f"cycle {cycle}: word {address:#08x} read {got:#06x}, wrote {want:#06x}"
            checked += 1
        await FallingEdge(dut.ap_clk)
    for _ in range(40):  # nothing more comes out, and the idle controller still keeps the rules
        dut.rd_tready.value = 1
        await ReadOnly()
        model.check()
        assert not int(dut.rd_tvalid.value), "a read word after the last expected one"
        await FallingEdge(dut.ap_clk)
    for address, want in reference.items():  # the chip holds what the reference holds
        assert model.word(address, COL_BITS) == want, f"word {address:#08x} in the chip differs"
    counts = dict(model.counts)
    dut._log.info("sdram: %d words read back, %d written, %d cycles, commands %s, %d refreshes inside bursts, "
                  "%d cycles a command waited for a refresh", checked, len(reference), cycle, counts, mid_burst_refreshes,
                  refresh_wait_cycles)
    assert checked > 0 and counts[PRECHARGE] > 0
    assert mid_burst_refreshes >= run.get("min_mid_burst_refreshes", 0), f"{mid_burst_refreshes} refreshes in bursts"
    assert refresh_wait_cycles >= run.get("min_refresh_wait_cycles", 0), f"{refresh_wait_cycles} cycles a command waited for a refresh"
    summary = os.environ.get("FQSR_SDRAM_SUMMARY")
    if summary:
        with open(summary, "w") as f:
            json.dump({"cycles": cycle, "traffic_cycles": cycle - first_command + 1, "words_written": written,
                       "words_read": checked, "commands": counts,
                       "mid_burst_refreshes": mid_burst_refreshes, "refresh_wait_cycles": refresh_wait_cycles}, f)
