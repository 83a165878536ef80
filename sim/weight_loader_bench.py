"""cocotb bench of ``weight_memory`` (weight_loader + sdram_ctrl) with the checking SDRAM chip model.

Streams an image file (``FQSR_LOADER_RUN``: JSON with image path, expected outcome, payload path, p_gap,
p_stall, seed) byte by byte with random gaps, tlast on its last byte, while the user port keeps asking for
a read: it must not be served before ``image_ok``. A good image must end in ``image_ok`` with the payload
in the chip, read back equal through the user port under random back-pressure; a bad one in
``image_error`` with the expected code, and never ``image_ok``.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from fqsr.hw.weight_image import payload_words
from fqsr.sim.axis import start_and_reset
from fqsr.sim.sdram_model import SdramModel, SdramTiming


@cocotb.test()
async def weight_memory_load(dut):
    run = json.loads(os.environ["FQSR_LOADER_RUN"])
    image = Path(run["image"]).read_bytes()
    rng = random.Random(run["seed"])
    model = SdramModel(dut, SdramTiming(powerup_us=run["powerup_us"]), seed=run["seed"])
    for port in ("img_tvalid", "img_tlast", "img_tdata", "u_cmd_write", "u_cmd_addr", "u_cmd_len",
                 "u_wr_tvalid", "u_wr_tdata", "u_rd_tready", "sdram_dq_i"):
        getattr(dut, port).value = 0
    dut.u_cmd_valid.value = 1  # the accelerator asks from the start: the gate must hold it off
    cocotb.start_soon(model.run())
    await start_and_reset(dut)

    sent = cycle = 0
    ever_ok = False
    while sent < len(image) or cycle < 50_000 and not (int(dut.image_ok.value) or int(dut.image_error.value)):
        cycle += 1
        assert cycle < 200_000, f"the loader stalled after {sent} of {len(image)} bytes"
        offer = sent < len(image) and rng.random() >= run["p_gap"]
        dut.img_tvalid.value = int(offer)
        if offer:
            dut.img_tdata.value, dut.img_tlast.value = image[sent], int(sent == len(image) - 1)
        await ReadOnly()
        model.check()
        ever_ok |= bool(int(dut.image_ok.value))
        assert not int(dut.u_cmd_ready.value) or int(dut.image_ok.value), f"cycle {cycle}: user port open early"
        if offer and int(dut.img_tready.value):
            sent += 1
        await FallingEdge(dut.ap_clk)
        dut.u_cmd_valid.value = 0 if ever_ok else 1
    # settle: nothing changes after the last byte; the waiting one-word read of word 0 may be served once
    dut.img_tvalid.value = dut.u_cmd_valid.value = 0
    dut.u_rd_tready.value = 1
    early = []
    for _ in range(100):  # long enough for a refresh and the read's latency
        await ReadOnly()
        model.check()
        ever_ok |= bool(int(dut.image_ok.value))
        if int(dut.u_rd_tvalid.value):
            early.append(int(dut.u_rd_tdata.value))
        await FallingEdge(dut.ap_clk)
    dut.u_rd_tready.value = 0
    ok, error, code = int(dut.image_ok.value), int(dut.image_error.value), int(dut.error_code.value)
    if run["expect"] != "ok":
        assert not ever_ok and not ok, "a refused image raised image_ok"
        assert error and code == run["expect"], f"image_error {error}, error_code {code}, expected {run['expect']}"
        assert not early, "the user port read from a refused image"
        return
    assert ok and not error, f"a good image ended with image_ok {ok}, image_error {error} (code {code})"
    words = payload_words(Path(run["payload"]).read_bytes())
    assert int(dut.payload_bytes.value) == len(Path(run["payload"]).read_bytes())
    assert early in ([], words[:1]), f"before the read back the user port got {early}"
    stored = [model.word(a) for a in range(len(words))]
    assert stored == words, f"the chip holds {sum(s != w for s, w in zip(stored, words))} wrong words"
    # read back through the user port: bursts of up to 2**LEN_BITS words, random back-pressure
    burst = 1 << len(dut.u_cmd_len)
    requests = [(a, min(burst, len(words) - a)) for a in range(0, len(words), burst)]
    got = []
    while len(got) < len(words):
        cycle += 1
        assert cycle < 400_000, f"read back stalled at {len(got)} of {len(words)} words"
        dut.u_cmd_valid.value = int(bool(requests))
        if requests:
            dut.u_cmd_addr.value, dut.u_cmd_len.value = requests[0][0], requests[0][1] - 1
        take = rng.random() >= run["p_stall"]
        dut.u_rd_tready.value = int(take)
        await ReadOnly()
        model.check()
        if requests and int(dut.u_cmd_ready.value):
            requests.pop(0)
        if take and int(dut.u_rd_tvalid.value):
            got.append(int(dut.u_rd_tdata.value))
        await FallingEdge(dut.ap_clk)
    assert got == words, f"read back differs at word {next(i for i, (g, w) in enumerate(zip(got, words)) if g != w)}"
    dut._log.info("weight image: %d bytes loaded, checked and read back in %d cycles", len(image), cycle)
