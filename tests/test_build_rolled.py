"""``fqsr build --roll body`` on a small EDSR (3 blocks x 8 features, 6x6 tiles): the rolled design's steps (rtl:
``rolled/``; storage: only the on-chip ROMs and RAM, the body's weights in SDRAM), the settings that keep a rolled
and an unrolled build from taking each other's synthesis, the default roll for a model whose unrolled ROMs cannot
fit the board, bad input; and the board's start-up simulated at the UART bit level (``weights.bin`` over the UART
into the SDRAM, ``image_ok``, then a tile through, equal to FINN's execution)."""
import dataclasses
import json
import math

import pytest
from click.testing import CliRunner
from qonnx.core.modelwrapper import ModelWrapper

from test_rtl_rolled import TARGET_FPS, TILE, compile_small_edsr
from fqsr.apps.cli import main
from fqsr.apps.pipeline import BuildConfig, choose_roll, run_steps, synth_current, unrolled_rom_bits
from fqsr.flows.artifacts import record
from fqsr.flows.compile import DATAFLOW_NAME
from fqsr.hw import board as board_module
from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME, WEIGHTS_NAME
from fqsr.sim.rolled import verify_rolled_board


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_small_edsr(tmp_path_factory.mktemp("edsr_build_rolled"))


def config(folder, **kw):
    return BuildConfig(folder, tile=TILE, target_fps=TARGET_FPS, verify_tiles=1, **kw)


def test_rolled_rtl_and_storage_count_only_on_chip_bits(compiled):
    cfg = config(compiled, roll="body")
    out = run_steps(cfg, ["rtl", "storage"])
    rolled = json.loads((compiled / ROLLED_DIRNAME / SUMMARY_NAME).read_text())
    storage = out["storage"]
    assert storage["roll"] == "body" and storage["rom_bits"] == rolled["rom_bits_total"] > 0
    assert storage["buffer_bits"] == rolled["buffer_bits_total"] == sum(rolled["buffer_bits_by_node"].values())
    assert rolled["buffer_bits_by_node"]["rolled_body.bank"] == rolled["bank_bits"] > 0
    # the body's ROMs are not on chip: their bits are in weights.bin, the unrolled design holds them all as ROM
    assert storage["sdram_weight_bits"] == 8 * (compiled / ROLLED_DIRNAME / WEIGHTS_NAME).stat().st_size
    assert rolled["rom_bits_total"] + rolled["bank_bits"] < unrolled_rom_bits(cfg)
    assert not any(name in rolled["rom_bits"] for blk in rolled["block_nodes"] for name in blk)


def test_synthesis_of_a_rolled_and_an_unrolled_build_is_never_shared(compiled):
    rolled, unrolled = config(compiled, roll="body"), config(compiled)
    run_steps(rolled, ["rtl"])
    synth = compiled / "synth"
    synth.mkdir(exist_ok=True)
    (synth / "resources.json").write_text("{}\n")
    record(compiled, "synth/resources.json", inputs=[ROLLED_DIRNAME],
           settings={"target": "ecp5", "clock_mhz": rolled.clock})  # an unrolled build's settings
    assert not synth_current(rolled)
    record(compiled, "synth/resources.json", inputs=[ROLLED_DIRNAME],
           settings={"target": "ecp5", "clock_mhz": rolled.clock, "roll": "body"})
    assert synth_current(rolled) and not synth_current(unrolled)


def test_roll_is_the_default_where_the_unrolled_roms_cannot_fit(compiled, monkeypatch):
    bits = unrolled_rom_bits(config(compiled))
    assert run_steps(config(compiled), ["rtl"])["rtl"]["rom_bits_total"] == bits  # counted without the RTL
    small_board = dataclasses.replace(board_module.BOARDS["ulx3s-25f"], name="ulx3s-small",
                                      capacity={"LUT": bits // 16 - 1, "FF": 100_000, "BRAM": 0, "DSP": 100})
    assert small_board.storage_bits() < bits
    monkeypatch.setitem(board_module.BOARDS, "ulx3s-small", small_board)
    cfg = config(compiled, board="ulx3s-small", roll_auto=True)
    line = choose_roll(cfg)
    assert cfg.roll == "body" and "cannot fit ulx3s-small" in line and "--roll body" in line
    assert f"({bits / 1e6:.2f} Mbit)" in line and "\n" not in line
    fits = config(compiled, roll_auto=True)  # the 85F holds this model's ROMs: not rolled
    assert choose_roll(fits) is None and fits.roll is None
    forced = config(compiled, board="ulx3s-small")  # --roll none: no automatic roll
    assert choose_roll(forced) is None and forced.roll is None


def test_bad_roll_is_one_sentence(tmp_path):
    result = CliRunner().invoke(main, ["build", "edsr_w4a4", "--out-dir", str(tmp_path / "x"), "--roll", "head"])
    assert result.exit_code == 2 and "'head' is not one of 'body', 'none'" in result.output, result.output
    result = CliRunner().invoke(main, ["build", "edsr_w4a4", "--out-dir", str(tmp_path / "x"), "--roll", "body",
                                       "--board", "zcu104"])
    assert result.exit_code != 0 and "builds the rolled design for a ULX3S board" in result.output, result.output
    assert not (tmp_path / "x").exists()  # refused before anything is made


def test_start_up_over_the_uart_loads_weights_then_a_tile_equals_finn(compiled):
    run_steps(config(compiled, roll="body"), ["rtl"])
    report = verify_rolled_board(compiled, tiles=1, clks_per_bit=4, gap_prob=0.2, seed=2)
    assert report["equal"], report
    out_shape = ModelWrapper(str(compiled / DATAFLOW_NAME)).get_tensor_shape("global_out")
    assert report["elements"] == math.prod(out_shape) and report["mismatches"] == 0
    assert report["image_sent_cycle"] <= report["image_ok_cycle"] < report["first_iteration_cycle"], report
    assert report["commands"]["WRITE"] >= report["image_bytes"] // 2 - 16  # the image went into the chip
