"""The video output path: TMDS encoding against the DVI 1.0 reference, and hw/rtl/video_out.v in simulation,
its serialized bits decoded back to pixels as a monitor would and compared with the stream it was fed."""
import json
import random

import numpy as np
from fqsr.hw.generate import RTL_DIR
from fqsr.sim.runner import run_cocotb
from fqsr.sim.tmds import (CONTROL, Encoder, Timing, decode_symbol, frames_from_symbols, minimize_transitions,
                           running_disparity, symbols_from_bits)

SMALL = Timing(h_active=8, h_front=2, h_sync=2, h_back=2, v_active=6, v_front=1, v_sync=1, v_back=1)
SOURCES = [RTL_DIR / name for name in ("counter_chain.v", "video_timing.v", "tmds_encoder.v", "dvi_out.v",
                                       "video_out.v")]


def test_reference_encoder_round_trips_and_stays_balanced():
    # the DVI 1.0 examples: 0x00 at zero disparity is 0b0100000000, and q_m chains by XOR for it
    assert minimize_transitions(0x00) == 0x100 and Encoder().symbol(True, 0, 0x00) == 0b0100000000
    enc, rng = Encoder(), random.Random(1)
    values = [rng.randrange(256) for _ in range(5000)] + list(range(256))
    symbols = [enc.symbol(True, 0, v) for v in values]
    assert [decode_symbol(s) for s in symbols] == [(True, v) for v in values]
    assert running_disparity(symbols) <= 20  # DC balance: the ones and zeros sent stay within a few symbols
    for c, token in CONTROL.items():
        assert decode_symbol(token) == (False, c) and Encoder().symbol(False, c, 0xAB) == token


def simulate(tmp_path, pixels, cycles, gap_prob=0.0, seed=0):
    spec = tmp_path / "spec.json"
    result = tmp_path / "result.json"
    spec.write_text(json.dumps({"pixels": pixels, "gap_prob": gap_prob, "seed": seed, "cycles": cycles,
                                "result": str(result)}))
    params = {"H_ACTIVE": SMALL.h_active, "H_FRONT": SMALL.h_front, "H_SYNC": SMALL.h_sync, "H_BACK": SMALL.h_back,
              "V_ACTIVE": SMALL.v_active, "V_FRONT": SMALL.v_front, "V_SYNC": SMALL.v_sync, "V_BACK": SMALL.v_back}
    run_cocotb(SOURCES, "video_out", "fqsr.sim.video_bench", parameters=params,
               extra_env={"FQSR_VIDEO_SPEC": str(spec)}, test_dir=tmp_path)
    return json.loads(result.read_text())


def reference_symbols(pixels, frames):
    """The three channels' symbols of ``frames`` whole rasters of SMALL fed with ``pixels``, by the reference."""
    encoders = {name: Encoder() for name in ("red", "green", "blue")}
    out = {name: [] for name in encoders}
    it = iter(pixels)
    for _ in range(frames):
        for y in range(SMALL.v_total):
            for x in range(SMALL.h_total):
                de, hsync, vsync = SMALL.signals(x, y)
                rgb = next(it) if de else 0
                for shift, name in ((16, "red"), (8, "green"), (0, "blue")):
                    c = (vsync << 1 | hsync) if name == "blue" else 0
                    out[name].append(encoders[name].symbol(de, c, rgb >> shift & 0xFF))
    return out


def test_video_out_shows_the_stream_frame_by_frame(tmp_path):
    rng = np.random.default_rng(3)
    area = SMALL.h_active * SMALL.v_active
    images = rng.integers(0, 256, (3, SMALL.v_active, SMALL.h_active, 3), dtype=np.uint8)
    pixels = [int(r) << 16 | int(g) << 8 | int(b) for r, g, b in images.reshape(-1, 3)]
    frame_cycles = SMALL.h_total * SMALL.v_total
    result = simulate(tmp_path, pixels, cycles=4 * frame_cycles - 4)  # a black raster, then three frames
    symbols = {name: symbols_from_bits(result["bits"][name], result["bits"]["clock"])
               for name in ("red", "green", "blue")}
    decoded = frames_from_symbols(symbols, SMALL)
    assert len(decoded) >= 3
    for k in range(3):  # integer equality of every pixel of the first three frames
        mismatches = np.argwhere(decoded[k] != images[k])
        assert mismatches.size == 0, f"frame {k}: {len(mismatches)} channel values differ, first at {mismatches[0]}"
    assert result["underrun"] == 0 and result["sent"] >= 3 * area
    # the symbols themselves are the DVI reference's (running disparity included), from the first shown frame
    want = reference_symbols(pixels, 3)
    span = 3 * frame_cycles - 2 * SMALL.h_total  # up to the last frame's vertical blanking
    start = next((i for i in range(len(symbols["blue"]) - span)
                  if symbols["blue"][i:i + span] == want["blue"][:span]), None)
    assert start is not None, "no run of blue symbols equals the reference's three frames"
    for name in ("red", "green"):
        assert symbols[name][start:start + span] == want[name][:span], f"{name} symbols differ"
    for name, seq in symbols.items():  # DC balance holds within every active line (blanking resets it)
        lines, run = [], []
        for symbol in seq[start:start + span] + [CONTROL[0]]:
            if decode_symbol(symbol)[0]:
                run.append(symbol)
            elif run:
                lines, run = lines + [run], []
        assert len(lines) >= 3 * SMALL.v_active - 1 and max(map(running_disparity, lines)) <= 20, name


def test_video_out_flags_a_source_that_cannot_keep_up(tmp_path):
    area = SMALL.h_active * SMALL.v_active
    result = simulate(tmp_path, [0x123456] * (2 * area), cycles=3 * SMALL.h_total * SMALL.v_total, gap_prob=0.3)
    assert result["underrun"] == 1
