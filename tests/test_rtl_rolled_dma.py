"""The rolled body on SDRAM: the block engine, its frame and weight DMA (``rolled_dma.v``), ``sdram_ctrl`` and the
weight loader, with the cocotb chip model (storage, every timing rule) as the memory, on a small EDSR (3 blocks x 8
features, 6x6 frames); and the whole network around it (``rolled_top``: head and tail stitched from the same
``dataflow.onnx``) equal to FINN's execution of the whole graph.

The weight image goes in through the loader first; the frames go in and out through the DMA's outer streams, under
random gaps and back-pressure, with a refresh every 1.5 us so that refreshes fall inside the DMA's bursts. Every
element of every output frame equals FINN's execution of the body; no iteration starts before the image is checked,
and a corrupt image starts none; cycles per frame against the engine's model."""
import json

import pytest
from click.testing import CliRunner

from test_rtl_rolled import BLOCKS, FEATURES, TARGET_FPS, TILE, build_small_rolled
from test_rtl_yosys import yosys_check
from conftest import calibrated, small
from fqsr.apps.cli import main
from fqsr.apps.pipeline import BuildConfig, rolled_verify_estimate, run_steps
from fqsr.flows.artifacts import VERIFY_NAME, why_stale
from fqsr.models.errors import FqsrError
from fqsr.hw.rolled import ROLLED_DIRNAME, WEIGHTS_NAME
from fqsr.sim.rolled import verify_rolled_system, verify_rolled_top

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_small_rolled(tmp_path_factory.mktemp("edsr_rolled_dma"))


def test_engine_dma_and_sdram_equal_finn_under_stalls_and_refreshes(built):
    folder, summary = built
    report = verify_rolled_system(folder, frames=2, p_gap=0.3, p_stall=0.3, seed=3, photo=True, t_refi_ns=1500)
    assert report["equal"] and report["mismatches"] == 0 and report["sdram_rule"] is None, report
    assert report["elements"] == 3 * TILE[0] * TILE[1] * FEATURES
    assert report["block_order"] == [0, 1, 2] * 3 and not report["started_before_image_ok"]
    assert report["refreshes_in_iterations"] > 50, report  # refreshes collide with the DMA's bursts
    assert report["extra_beats"] == 0 and not report["deadlock"]


def test_cycles_per_frame_against_the_model(built):
    """No stalls, the chip's own 7.8 us refresh: the engine stays compute-bound behind the DMA (its weights load
    during the previous iteration); a frame adds the input frame's load and the output frame's unload."""
    folder, summary = built
    report = verify_rolled_system(folder, frames=2, p_gap=0.0, p_stall=0.0, seed=4, t_refi_ns=7812)
    assert report["equal"], report
    model = report["model"]
    assert model["bound"] == "compute"
    compute = model["compute_cycles_per_iteration"]
    # per iteration: the model's compute plus the hand-over latency (the engine alone: +4.4 %) and the DMA's
    # read latency at the start of each iteration
    assert all(compute <= c <= 1.10 * compute for c in report["iteration_cycles"]), report
    # per frame: blocks x iteration + load and unload of one frame (288 words each, ~1 word per cycle)
    frame_words = summary["sdram_layout"]["frame_words"]
    assert model["cycles_per_frame"] < report["cycles_per_frame"] <= 1.10 * model["cycles_per_frame"] + 3 * frame_words, report


def test_a_corrupt_weight_image_starts_no_iteration(built):
    folder, _ = built
    image = bytearray((folder / ROLLED_DIRNAME / WEIGHTS_NAME).read_bytes())
    image[100] ^= 0x01  # a payload byte: the CRC no longer matches
    report = verify_rolled_system(folder, frames=1, p_gap=0.0, p_stall=0.0, seed=5, image=bytes(image),
                                  max_cycles=12_000)
    assert report["deadlock"] and report["image_ok_cycle"] is None and report["block_order"] == [], report
    assert not report["equal"] and report["mismatches"] == report["elements"]


def test_whole_network_with_the_rolled_body_equals_finn(built):
    """Head -> DMA -> engine x 3 -> DMA -> tail: a photograph's tile and a random one, every output element equal to
    FINN's execution of the whole dataflow graph (compile_model proved that equal to the Brevitas model)."""
    folder, summary = built
    report = verify_rolled_top(folder, tiles=2, p_gap=0.3, p_stall=0.3, seed=2, t_refi_ns=1500)
    assert report["equal"] and report["mismatches"] == 0 and report["sdram_rule"] is None, report
    assert report["elements"] == 2 * (2 * TILE[0]) * (2 * TILE[1]) * 3  # x2 upscaling, RGB
    assert report["block_order"] == [0, 1, 2] * 2 and not report["started_before_image_ok"]


def test_fqsr_rtl_and_verify_with_roll_body(built):
    """The CLI: `fqsr rtl --roll body` writes rolled/ with rolled_top, `fqsr verify --roll body` proves it on a
    photograph's tile; `--roll` with anything else is refused by the option."""
    folder, _ = built
    result = CliRunner().invoke(main, ["rtl", "--out-dir", str(folder), "--roll", "body", "--json"])
    assert result.exit_code == 0, result.output
    rtl = json.loads(result.output)
    assert rtl["rolled_top"] == "rolled_top" and rtl["blocks"] == BLOCKS
    result = CliRunner().invoke(main, ["verify", "--out-dir", str(folder), "--roll", "body", "--tiles", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert "1 tile(s) of 6x6: about" in result.stderr  # the estimate, said before the run
    report = json.loads(result.stdout)
    assert report["equal"] and report["mismatches"] == 0 and report["elements"] == (2 * TILE[0]) * (2 * TILE[1]) * 3
    # sim/verify.json as the unrolled verify writes it, vouched for by its provenance record; fqsr report reads it
    written = json.loads((folder / VERIFY_NAME).read_text())
    assert written["equal"] and written["tiles"] == 1 and written["tile"] == list(TILE)
    assert not why_stale(folder, VERIFY_NAME)
    assert written["scope"]["reduced"] is False and written["scope"]["tile"] == list(TILE)
    assert written["sim_cycles"] > 0 and written["expected_sim_cycles"] > 0 and written["first_mismatch"] is None
    result = CliRunner().invoke(main, ["report", "--out-dir", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["equal"]["verify"] is True
    assert "Verify proved: the build's own RTL, 6x6 tiles." in (folder / "report.md").read_text()
    result = CliRunner().invoke(main, ["rtl", "--out-dir", str(folder), "--roll", "blocks"])
    assert result.exit_code != 0 and "body" in result.output


def test_the_system_elaborates_cleanly_in_yosys(built):
    folder, summary = built
    for sources, top in (("system_sources", "system_top"), ("top_sources", "rolled_top")):
        log = yosys_check(summary[sources], summary[top], folder / ROLLED_DIRNAME)
        assert "Found and reported 0 problems." in log, top


def test_a_verify_over_its_budget_proves_a_smaller_tile_of_the_same_engine(built, capsys):
    """The build's verify step estimates its length first; over --verify-budget it exports and compiles the same
    network for the largest smaller tile that fits (this build's folding), checks it holds the same engine and the
    same weights.bin, proves one tile of it, and verify.json's scope says exactly that."""
    folder, _ = built
    estimate = rolled_verify_estimate(folder)
    budget_min = estimate((4, 4))["seconds"] / 60 * 1.01
    assert estimate((5, 5))["seconds"] > 60 * budget_min and estimate()["seconds"] > 60 * budget_min
    net = calibrated(small("edsr_w4a4", features=FEATURES, blocks=BLOCKS), tile=TILE[0])  # the built model again
    cfg = BuildConfig(folder, net=net, tile=TILE, target_fps=TARGET_FPS, verify_tiles=1, random_tiles=1,
                      roll="body", verify_budget_min=budget_min)
    report = run_steps(cfg, ["verify"])["verify"]
    err = capsys.readouterr().err
    assert "tile(s) of 6x6: about" in err and "verifying instead one 4x4 tile of the same network" in err
    scope = report["scope"]
    assert report["equal"] and report["mismatches"] == 0 and report["elements"] == 8 * 8 * 3, report
    assert scope["reduced"] and scope["tile"] == [4, 4] and scope["compiled_tile"] == list(TILE)
    assert "weights.bin (byte for byte)" in scope["same"] and "not the build's 6x6 RTL" in scope["what"]
    engine = [d for d in scope["differs"] if d.startswith("rolled_")]  # only the engine's frame geometry differs
    assert engine and all(d.rsplit(".", 1)[1] in ("H", "W", "DEPTH") for d in engine), scope["differs"]
    assert not any("MVAU" in d or "Thresholding" in d for d in engine), scope["differs"]
    assert json.loads((folder / VERIFY_NAME).read_text())["scope"] == scope
    assert report.get("cycles_per_frame") is None  # a 4x4 tile's cycles are not this build's


def test_a_budget_too_small_even_for_the_smallest_tile_is_refused(built):
    folder, _ = built
    cfg = BuildConfig(folder, tile=TILE, verify_tiles=1, roll="body", verify_budget_min=0.001)
    with pytest.raises(FqsrError, match=r"even on one 3x3 tile; raise --verify-budget to at least"):
        run_steps(cfg, ["verify"])
