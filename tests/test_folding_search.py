"""The ECP5 cost model against Yosys, the multiplier choice, and the board-aware folding search (``--fps``)."""
import copy
import dataclasses

import pytest
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.apps.cli import main
from fqsr.flows.artifacts import ONNX_NAME
from fqsr.flows.compile import lower_and_convert, stitch
from fqsr.flows.export import export, load_qonnx
from fqsr.hw import board as board_module
from fqsr.hw import cost
from fqsr.hw.folding_search import DoesNotFitBudget, budget, search_folding
from test_synth import SMALL, SMALL_NAME

PART = "xczu7ev-ffvc1156-2-e"
# the model's stated error against Yosys for LUT and FF of one module (benchmarks/cost_model.md: this MVAU, not a
# calibration point, was off by 10-11 % in LUT and 2-6 % in FF at the s12 calibration); BRAM and DSP exact
LUT_FF_TOLERANCE = 0.15


@pytest.mark.parametrize("lut_mult", [0, 1])
def test_cost_model_predicts_yosys_for_a_small_mvau(lut_mult, tmp_path):
    """One MVAU (SIMD 4 x PE 2, 4-bit) synthesized by synth_ecp5: the products are MULT18X18D (one per product)
    or LUTs as LUT_MULT says, and the model's LUT/FF are within the stated error."""
    module, params = "mvau", {"MW": 32, "MH": 8, "SIMD": 4, "PE": 2, "IN_BITS": 4, "IN_SIGNED": 0, "W_BITS": 4,
                              "W_SIGNED": 1, "ACC_BITS": 12, "LUT_MULT": lut_mult}
    measured = cost.measure(module, params, tmp_path / "point", seed=123)
    predicted = cost.instance_cost(module, params)
    assert measured["DSP"] == (0 if lut_mult else 8) == predicted["DSP"]
    assert measured["BRAM"] == predicted["BRAM"] == 0  # a 1-Kbit ROM is built from LUTs
    for kind in ("LUT", "FF"):
        assert abs(predicted[kind] - measured[kind]) <= LUT_FF_TOLERANCE * measured[kind], (kind, predicted, measured)


def test_ebr_shapes():
    assert cost.ebr_blocks(4, 4096) == 1 and cost.ebr_blocks(36, 512) == 1 and cost.ebr_blocks(37, 512) == 2
    assert cost.ebr_blocks(128, 64) == 4  # four 36-bit-wide blocks, mostly empty
    assert cost.instance_cost("mvau", {"MW": 576, "MH": 32, "SIMD": 1, "PE": 1, "IN_BITS": 4, "IN_SIGNED": 0,
                                       "W_BITS": 4, "W_SIGNED": 1, "ACC_BITS": 14})["BRAM"] == 5  # 73.7 Kbit of 4-bit words


@pytest.fixture(scope="module")
def hardware(tmp_path_factory):
    """The 4-feature ESPCN on 8x8 tiles as FINN's specialized, unfolded graph."""
    folder = tmp_path_factory.mktemp("search")
    export(calibrated(small(SMALL_NAME, **SMALL)), tile=(8, 8), random_tiles=1, out_dir=folder)
    _, model = lower_and_convert(load_qonnx(folder / ONNX_NAME), PART)
    return model


def _search(model, board, fps="max"):
    return search_folding(copy.deepcopy(model), board, 100.0, fps, stitch=lambda m: stitch(m, PART))


def _board(name, lut, ff, bram, dsp):
    return dataclasses.replace(board_module.BOARDS["ulx3s-25f"], name=name,
                               capacity={"LUT": lut, "FF": ff, "BRAM": bram, "DSP": dsp})


def test_search_respects_the_budget_and_a_larger_budget_folds_faster(hardware):
    _, most_folded = _search(hardware, board_module.BOARDS["ulx3s-85f"], fps=1e-9)  # the start is fast enough
    assert most_folded["steps"] == 0 and most_folded["stopped"] == "target reached"
    base = most_folded["predicted"]
    tight_board = _board("tight", *(int((base[k] * 1.5 + 700) / 0.8) for k in ("LUT", "FF")), 20, base["DSP"] + 4)
    roomy_board = board_module.BOARDS["ulx3s-85f"]
    reports = {}
    for board in (tight_board, roomy_board):
        folded, report = _search(hardware, board)
        limit = budget(board, reserve=report["reserve"])
        assert all(report["predicted"][k] <= limit[k] for k in cost.KINDS), report
        # the prediction is of the whole stitched design (width converters and FIFOs included)
        assert report["predicted"] == cost.total(cost.graph_cost(stitch(copy.deepcopy(folded), PART)))
        reports[board.name] = report
    tight, roomy = reports["tight"], reports["ulx3s-85f"]
    assert most_folded["cycles_per_frame"] > tight["cycles_per_frame"] > roomy["cycles_per_frame"]
    assert tight["binding"]  # the tight board stopped the search on a resource, and says which
    assert roomy["stopped"].endswith("fully parallel") or roomy["binding"]


def test_the_uart_bridge_receive_buffer_is_reserved(hardware):
    """The board top buffers one whole input tile; the search keeps its block RAM out of the budget."""
    _, report = _search(hardware, board_module.BOARDS["ulx3s-85f"])
    assert report["reserve"]["BRAM"] == 0  # an 8x8 tile of 8-bit pixels: 64 bytes, LUT RAM
    assert report["budget"]["BRAM"] == int(208 * 0.90)
    # a 640x360 frame: 2^18 bytes, 128 DP16KD, Yosys' count in the board top (benchmarks/bitstream.md)
    assert board_module.receive_buffer_depth(640 * 360) == 1 << 18
    assert cost._sync_ram(8, board_module.receive_buffer_depth(640 * 360)) == (0, 128)


def test_a_frame_rate_target_stops_once_reached(hardware):
    _, report = _search(hardware, board_module.BOARDS["ulx3s-85f"], fps=100_000)
    assert report["stopped"] == "target reached" and report["fps"] >= 100_000
    _, fastest = _search(hardware, board_module.BOARDS["ulx3s-85f"])
    assert fastest["cycles_per_frame"] <= report["cycles_per_frame"]


def test_an_impossible_budget_is_one_sentence(hardware, tmp_path, monkeypatch):
    with pytest.raises(DoesNotFitBudget, match="even the most folded design is predicted to need"):
        _search(hardware, _board("speck", 300, 300, 0, 0))
    monkeypatch.setitem(board_module.BOARDS, "ulx3s-speck", _board("ulx3s-speck", 300, 300, 0, 0))
    result = CliRunner().invoke(main, ["build", SMALL_NAME, "--out-dir", str(tmp_path / "b"), "--tile", "4x4",
                                       "--board", "ulx3s-speck", "--fps", "max"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("fqsr:")]
    assert len(lines) == 1 and "even the most folded design is predicted" in lines[0], result.stderr
    assert not (tmp_path / "b" / "dataflow.onnx").exists()
    bad = CliRunner().invoke(main, ["build", SMALL_NAME, "--out-dir", str(tmp_path / "c"), "--fps", "fast"])
    assert bad.exit_code == 2 and "--fps must be 'max' or a positive number" in bad.stderr
