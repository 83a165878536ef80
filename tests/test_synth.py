"""Yosys resource counts of a small stitched network: from the tool's JSON, per dataflow node and in total."""
import json
import shutil

import pytest

from conftest import calibrated, small
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.board import BOARDS
from fqsr.hw.stitch import generate_rtl
from fqsr.hw.synth import KINDS, cell_kind, check_fit, flatten_cells, kinds_of, yosys_resources
from fqsr.models.errors import FqsrError

SMALL_NAME, SMALL = "espcn_w4a4", dict(features=4)  # three convs on Y: small enough to place and route quickly
BOARD_CLOCK_MHZ = BOARDS["ulx3s-85f"].clock_mhz


def small_network(base):
    """``base/small-net``: a 4-feature ESPCN (w4a4) on 4x4 tiles, compiled at the ULX3S clock, its RTL
    generated and synthesized for ECP5 (board top included). Built once per pytest session: the test
    files that need it share ``base`` (pytest's session temp folder)."""
    folder = base / "small-net"
    done = folder / "synth" / "resources.json"
    if not done.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        model = calibrated(small(SMALL_NAME, **SMALL))
        export(model, tile=(4, 4), random_tiles=1, out_dir=folder)
        compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model, clock_mhz=BOARD_CLOCK_MHZ)
        generate_rtl(folder / DATAFLOW_NAME, folder)
        yosys_resources(folder, "ecp5")
    return folder


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    folder = small_network(tmp_path_factory.getbasetemp())
    return folder, json.loads((folder / "synth" / "resources.json").read_text())


def test_counts_come_from_yosys_per_node_and_in_total(synthesized):
    folder, report = synthesized
    graph = load_qonnx(folder / DATAFLOW_NAME)
    assert report["target"] == "ecp5" and report["tool"].startswith("Yosys")
    assert set(report["nodes"]) == {node.name for node in graph.graph.node}
    total = report["total"]
    assert total["LUT"] > 0 and total["FF"] > 0
    assert total == kinds_of(report["cells"])  # the four kinds are the mapped primitive counts
    assert report["cells"]["LUT4"] > 0 and report["cells"]["TRELLIS_FF"] > 0
    for kind in KINDS:
        assert sum(node[kind] for node in report["nodes"].values()) <= total[kind]
    mvau = [name for name in report["nodes"] if name.startswith("MVAU")]
    assert mvau and all(report["nodes"][name]["LUT"] > 0 for name in mvau)
    # the board top adds the UART bridge and the reset/LED logic to the accelerator
    board = report["board_total"]
    assert board["LUT"] > total["LUT"] and board["FF"] > total["FF"] and board["BRAM"] >= total["BRAM"]
    assert (folder / "synth" / "board.json").is_file() and (folder / "synth" / "board_top.v").is_file()
    assert not list((folder / "synth").glob(".yosys-*"))  # the scratch folder is gone


def test_cell_mapping_to_lut_ff_bram_dsp():
    assert cell_kind("LUT4") == ("LUT", 1) and cell_kind("CCU2C") == ("LUT", 2)
    assert cell_kind("TRELLIS_DPR16X4") == ("LUT", 4) and cell_kind("TRELLIS_FF") == ("FF", 1)
    assert cell_kind("DP16KD") == ("BRAM", 1) and cell_kind("MULT18X18D") == ("DSP", 1)
    assert cell_kind("LUT6") == ("LUT", 1) and cell_kind("FDRE") == ("FF", 1) and cell_kind("FDCE") == ("FF", 1)
    assert cell_kind("RAMB36E2") == ("BRAM", 2) and cell_kind("RAMB18E1") == ("BRAM", 1)
    assert cell_kind("DSP48E2") == ("DSP", 1) and cell_kind("RAM64M") == ("LUT", 4)
    assert cell_kind("CARRY4") is None and cell_kind("TRELLIS_IO") is None and cell_kind("MUXF7") is None
    assert kinds_of({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 7, "DP16KD": 2, "PFUMX": 4}) == \
        {"LUT": 16, "FF": 7, "BRAM": 2, "DSP": 0}


def test_hierarchy_is_expanded_per_instance():
    modules = {"top": {"a": 2, "LUT4": 1}, "a": {"b": 3, "TRELLIS_FF": 1}, "b": {"LUT4": 2}}
    assert flatten_cells(modules, "top") == {"LUT4": 13, "TRELLIS_FF": 2}


def test_fit_table_and_the_message_when_over():
    board = BOARDS["ulx3s-25f"]
    table = check_fit({"LUT": 100, "FF": 50, "BRAM": 1, "DSP": 0}, board, "x")
    assert table["LUT"] == {"used": 100, "available": 24288, "percent": 0.4}
    with pytest.raises(FqsrError, match=r"does not fit ulx3s-25f.*LUT, BRAM over capacity") as err:
        check_fit({"LUT": 30000, "FF": 50, "BRAM": 57, "DSP": 0}, board, "x")
    assert "lower --target-fps" in str(err.value) and err.value.table["BRAM"]["used"] == 57


def test_missing_rtl_and_unknown_target(tmp_path):
    with pytest.raises(FqsrError, match="fqsr rtl MODEL"):
        yosys_resources(tmp_path, "ecp5")
    with pytest.raises(FqsrError, match="unknown synthesis target 'ice40'"):
        yosys_resources(tmp_path, "ice40")
