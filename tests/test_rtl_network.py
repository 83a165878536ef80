"""Whole networks in RTL: dataflow.onnx -> stitched top -> cocotb under random stalls == FINN's execution."""
import json
import re

import pytest
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.flows.cli import main
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.stitch import TOP_NAME, generate_rtl, rtl_sources
from fqsr.models.errors import FqsrError
from fqsr.sim.verify import verify

MODELS = {"tiny_w4a4": dict(features=4, blocks=1), "espcn_w4a4_x3": dict(features=4)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = {}
    for name, changes in MODELS.items():
        folder = tmp_path_factory.mktemp(name)
        model = calibrated(small(name, **changes))
        export(model, tile=(4, 4), random_tiles=1, out_dir=folder)
        compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
        out[name] = (folder, generate_rtl(folder / DATAFLOW_NAME, folder))
    return out


def test_stitched_top_connects_every_node(built):
    folder, summary = built["tiny_w4a4"]
    graph = load_qonnx(folder / DATAFLOW_NAME)
    rtl = folder / "rtl"
    top = (rtl / "top.v").read_text()
    assert f"module {TOP_NAME} (" in top
    for node in graph.graph.node:
        assert f"    {node.name} {node.name}_i (" in top
        assert (rtl / f"{node.name}.v").is_file()
    # a fork has two outputs, an add two inputs
    assert re.search(r"DuplicateStreams_hls_0 DuplicateStreams_hls_0_i \([^;]*\.out1_tdata", top)
    assert re.search(r"ElementwiseAdd_hls_0 ElementwiseAdd_hls_0_i \([^;]*\.in1_tdata", top)
    sources = rtl_sources(rtl)
    assert all(src.is_file() for src in sources) and sources[-1].name == "top.v"
    roms = [m for m in re.findall(r'"([^"]+\.mem)"', "".join(p.read_text() for p in sources))]
    assert roms and all(m.startswith(str(rtl.resolve()) + "/") for m in roms)
    assert summary["nodes"] == len(graph.graph.node) and not list(folder.glob(".rtl.*"))


@pytest.mark.parametrize("name", list(MODELS))
def test_network_equals_finn_under_stalls(built, name):
    folder, _ = built[name]
    report = verify(folder, tiles=2, sim="verilator", stall_prob=0.3, seed=1)
    assert report["equal"] and report["mismatches"] == 0, report
    assert report["elements"] > 0 and report["extra_beats"] == 0
    # steady state within 25% of FINN's estimate of the slowest node
    assert 0.95 <= report["cycles_per_frame"] / report["estimated_cycles_per_frame"] <= 1.25, report
    assert json.loads((folder / "sim" / "verify.json").read_text())["equal"]


def test_network_on_icarus(built):
    folder, _ = built["espcn_w4a4_x3"]
    report = verify(folder, tiles=1, sim="icarus", stall_prob=0.3)
    assert report["equal"] and report["mismatches"] == 0, report


def test_wrong_weights_are_found_named_and_the_cli_exits_2(built):
    folder, _ = built["tiny_w4a4"]
    rom = folder / "rtl" / "MVAU_hls_2_weights.mem"  # inside the residual block
    good = rom.read_text()
    lines = good.splitlines()
    inverted = ["".join(f"{15 - int(c, 16):x}" for c in line) for line in lines[:6]]
    rom.write_text("\n".join(inverted + lines[6:]) + "\n")
    try:
        result = CliRunner().invoke(main, ["verify", "tiny_w4a4", "--out-dir", str(folder), "--tiles", "2",
                                           "--stall-prob", "0.2"])
    finally:
        rom.write_text(good)
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert not report["equal"] and report["mismatches"] > 0
    assert report["first_mismatch"]["got"] != report["first_mismatch"]["expected"]
    assert report["first_differing_node"]["node"] == "MVAU_hls_2", report  # named by the per-stream taps


def test_unsupported_node_is_named_and_leaves_no_rtl(built, tmp_path):
    folder, _ = built["espcn_w4a4_x3"]
    graph = load_qonnx(folder / DATAFLOW_NAME)
    node = graph.graph.node[2]
    node.op_type = "ChannelwiseOp_hls"
    graph.save(str(tmp_path / DATAFLOW_NAME))
    with pytest.raises(FqsrError, match=rf"{node.name} \(op type ChannelwiseOp_hls\)"):
        generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    assert not (tmp_path / "rtl").exists() and not list(tmp_path.glob(".rtl.*"))


def test_a_failure_half_way_keeps_the_previous_rtl(built, tmp_path, monkeypatch):
    import fqsr.hw.generate as generate

    folder, _ = built["espcn_w4a4_x3"]
    (tmp_path / DATAFLOW_NAME).write_bytes((folder / DATAFLOW_NAME).read_bytes())
    generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    before = (tmp_path / "rtl" / "top.v").read_text()
    real, calls = generate.emit_node, []

    def flaky(model, node, out_dir):
        calls.append(node.name)
        if len(calls) == 5:
            raise FqsrError(f"{node.name}: injected failure")
        return real(model, node, out_dir)

    monkeypatch.setattr(generate, "emit_node", flaky)
    with pytest.raises(FqsrError, match="injected"):
        generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    assert (tmp_path / "rtl" / "top.v").read_text() == before
    assert not list(tmp_path.glob(".rtl.*"))


def test_cli_rtl(built, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["rtl", "tiny_w4a4", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "run `fqsr compile tiny_w4a4` first" in result.stderr
    folder, _ = built["espcn_w4a4_x3"]
    result = runner.invoke(main, ["rtl", "espcn_w4a4_x3", "--out-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["top"] == TOP_NAME
