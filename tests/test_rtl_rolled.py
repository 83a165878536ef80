"""The rolled residual body: one block engine runs a small EDSR's 3 residual blocks, its weights and thresholds
loaded from the weight stream into double-buffered RAMs, the feature map in the bench's memory between iterations.

Every element of every iteration's output (random frames and a photograph's) equals FINN's execution of that
block of ``dataflow.onnx`` under random gaps and back-pressure on all the engine's streams (frame read, frame
write, weights, commands); a corrupted weight word shows up in the block it belongs to; cycles per frame match
the model (compute and weight loading); blocks of different shapes are refused; Yosys elaborates the engine
without a warning."""
import pytest
from qonnx.custom_op.registry import getCustomOp

from conftest import calibrated, small
from test_rtl_yosys import yosys_check
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.rolled import ENGINE_TOP, ROLLED_DIRNAME, WEIGHTS_NAME, generate_rolled_rtl, residual_blocks, rolled_engine
from fqsr.hw.weight_image import payload_words, read_weight_image
from fqsr.models.errors import FqsrError
from fqsr.sim.rolled import verify_rolled

BLOCKS, FEATURES, TILE = 3, 8, (6, 6)
TARGET_FPS = 50_000  # body MVAUs at SIMD 6: 96 cycles per pixel, a 6x6 iteration in ~5,000 cycles


def compile_small_edsr(folder):
    """The small EDSR (BLOCKS x FEATURES, TILE, TARGET_FPS) exported and compiled in ``folder``."""
    model = calibrated(small("edsr_w4a4", features=FEATURES, blocks=BLOCKS), tile=TILE[0])
    export(model, tile=TILE, random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model, target_fps=TARGET_FPS)
    return folder


def build_small_rolled(folder):
    """The small EDSR compiled and rolled in ``folder``: (folder, generate_rolled_rtl's summary)."""
    compile_small_edsr(folder)
    return folder, generate_rolled_rtl(folder / DATAFLOW_NAME, folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_small_rolled(tmp_path_factory.mktemp("edsr_rolled"))


def test_one_engine_for_every_block_with_per_block_weights(built):
    folder, summary = built
    graph = load_qonnx(folder / DATAFLOW_NAME)
    blocks = residual_blocks(graph)
    assert len(blocks) == summary["blocks"] == BLOCKS
    ops = [getCustomOp(n).__class__.__name__ for n in blocks[0].nodes]
    assert ops[0].startswith("DuplicateStreams") and ops[-1].startswith("Thresholding")
    assert sum(op.startswith("MVAU") for op in ops) == 2 and sum(op.startswith("ElementwiseAdd") for op in ops) == 1
    assert summary["weighted_stages"] == [f"rolled_{n.name}" for n in blocks[0].nodes
                                          if n.op_type.startswith(("MVAU", "Thresholding"))]
    # the image holds every block, each as the engine's regions say; the blocks' words differ (own weights,
    # own biases and scales in the first conv's thresholds)
    words = payload_words(read_weight_image(folder / ROLLED_DIRNAME / WEIGHTS_NAME))
    per_block = summary["words_per_block"]
    assert per_block == sum(r["entries"] * r["words"] for r in summary["regions"])
    assert len(words) == BLOCKS * per_block
    parts = [words[b * per_block:(b + 1) * per_block] for b in range(BLOCKS)]
    first, thresholds = (summary["regions"][i]["entries"] * summary["regions"][i]["words"] for i in (0, 1))
    assert summary["regions"][1]["base"] == summary["regions"][0]["entries"]  # the first conv's thresholds follow
    assert parts[0] != parts[1] != parts[2]
    assert len({tuple(part[first:first + thresholds]) for part in parts}) == BLOCKS


def test_rolled_engine_equals_finn_under_stalls(built):
    folder, summary = built
    report = verify_rolled(folder, frames=2, p_gap=0.3, p_stall=0.3, seed=3, photo=True)
    assert report["equal"] and report["mismatches"] == 0 and report["extra_beats"] == 0, report
    # two random frames and a photograph's: every element of every iteration
    assert report["frames"] == 3 and report["elements"] == 3 * BLOCKS * TILE[0] * TILE[1] * FEATURES


@pytest.mark.parametrize("weight_gap, bound", [(0.0, "compute"), (0.9, "weight loading")])
def test_cycles_per_frame_match_the_model(built, weight_gap, bound):
    """Compute-bound: the next block's 744 words load behind ~4,800 compute cycles. A weight stream idle 90 % of
    the time (7,440 cycles a block) makes the loading the bound, and every iteration waits for its weights."""
    folder, summary = built
    report = verify_rolled(folder, frames=2, p_gap=0.0, p_stall=0.0, seed=4, weight_gap=weight_gap)
    assert report["equal"], report
    model = report["model"]
    assert model["bound"] == bound
    if bound == "compute":
        # the model leaves out the hand-over latency from one conv to the next, some 20-40 cycles per row
        assert 1.0 <= report["cycles_per_frame"] / model["cycles_per_frame"] <= 1.08, report
        # every iteration takes the same time: the weight loads are hidden
        assert max(report["iteration_cycles"]) - min(report["iteration_cycles"]) <= 2, report
    else:  # random gaps: the load time of 3 x 744 words varies by a few percent around its mean
        assert 0.93 <= report["cycles_per_frame"] / model["cycles_per_frame"] <= 1.07, report


def test_a_corrupted_weight_word_shows_in_its_block(built):
    folder, summary = built
    words = payload_words(read_weight_image(folder / ROLLED_DIRNAME / WEIGHTS_NAME))
    per_block = summary["words_per_block"]
    broken = list(words)
    broken[per_block + 5] ^= 0x7777  # block 1, the first conv's third weight word
    report = verify_rolled(folder, frames=1, p_gap=0.0, p_stall=0.0, seed=5, payload=broken)
    first = report["first_mismatch"]
    assert not report["equal"] and report["mismatches"] > 0 and first["block"] == 1 and first["frame"] == 0, report


def test_blocks_of_different_shapes_are_refused(built):
    folder, _ = built
    graph = load_qonnx(folder / DATAFLOW_NAME)
    blocks = residual_blocks(graph)
    mvau = next(n for n in blocks[2].nodes if n.op_type.startswith("MVAU"))
    getCustomOp(mvau).set_nodeattr("PE", 2)
    with pytest.raises(FqsrError, match=r"residual blocks 0 and 2 differ in PE .*one engine"):
        rolled_engine(graph, blocks)


def test_the_engine_elaborates_cleanly_in_yosys(built):
    folder, summary = built
    rolled = folder / ROLLED_DIRNAME
    log = yosys_check(summary["sources"], ENGINE_TOP, rolled)
    assert "Found and reported 0 problems." in log
