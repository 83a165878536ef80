"""QONNX -> FINN dataflow: every node a FINN hardware node, folded, estimated, bit-exact to Brevitas."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.apps import summary
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.flows.finn.pixel_shuffle import PixelShuffle, pixel_shuffle_nhwc
from fqsr.flows.finn.thresholds import QuantSpec, search_thresholds
from fqsr.models.errors import FqsrError
from fqsr.models.registry import parse_bits


def exported(name, out_dir, tile=(5, 6), **changes):
    changes.setdefault("features", 8)
    changes.setdefault("blocks", 1)
    model = calibrated(small(name, **changes))
    export(model, tile=tile, random_tiles=1, out_dir=out_dir)
    return model, out_dir / ONNX_NAME


def dataflow_nodes(out_dir):
    return list(load_qonnx(out_dir / DATAFLOW_NAME).graph.node)


def op_count(nodes, op_type):
    return sum(n.op_type == op_type for n in nodes)


def assert_all_hardware(nodes):
    leftovers = [(n.name, n.op_type) for n in nodes if not n.domain.startswith("finn.custom_op.fpgadataflow")]
    assert leftovers == []


@pytest.mark.parametrize("name, r", [("espcn_w4a4", 2), ("espcn_w4a4_x3", 3), ("espcn_w4a4_x4", 4)])
def test_espcn_pixel_shuffle_is_bit_exact(name, r, tmp_path):
    model, onnx_path = exported(name, tmp_path)
    report = compile_model(onnx_path, random_tiles=2, reference=model)
    assert report["equal"] and report["mismatches"] == 0
    assert report["elements"] == 3 * 1 * 5 * 6 * r * r and report["reference"] == "brevitas"
    nodes = dataflow_nodes(tmp_path)
    assert_all_hardware(nodes)
    (shuffle,) = [n for n in nodes if n.op_type == "PixelShuffle_rtl"]
    assert {a.name: a.i for a in shuffle.attribute}["Upscale"] == r
    # three convs and the anchor (a fixed 1x1 conv on the forked input), added before the shuffle
    assert op_count(nodes, "MVAU_hls") + op_count(nodes, "MVAU_rtl") == 4
    assert op_count(nodes, "DuplicateStreams_hls") == 1 and op_count(nodes, "ElementwiseAdd_hls") == 1
    for artifact in ("folding.json", "estimates.json", "compile.json"):
        assert (tmp_path / artifact).is_file()


def test_residual_net_adds_and_forks_are_hardware(tmp_path):
    """EDSR topology with 2 blocks: 2 block adds + the global skip, each fed by a fork."""
    model, onnx_path = exported("tiny_w4a4", tmp_path, blocks=2)
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["equal"] and report["elements"] == 2 * 3 * 10 * 12
    nodes = dataflow_nodes(tmp_path)
    assert_all_hardware(nodes)
    assert op_count(nodes, "ElementwiseAdd_hls") == 3
    assert op_count(nodes, "DuplicateStreams_hls") == 3
    assert op_count(nodes, "PixelShuffle_rtl") == 1


@pytest.mark.parametrize("name", ["edsr_w2a2", "edsr_w8a8", "srresnet_w4a4", "fsrcnn_w4a4"])
def test_bit_widths_and_architectures(name, tmp_path):
    model, onnx_path = exported(name, tmp_path, tile=(6, 6))
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["equal"] and report["mismatches"] == 0 and report["power_of_two_scales"]
    assert_all_hardware(dataflow_nodes(tmp_path))


def test_mixed_precision(tmp_path):
    bits = parse_bits("head=8,body.0.*=2,body.1.conv2=6,up.*=5")
    model, onnx_path = exported("tiny_w4a4", tmp_path, blocks=2, bits=bits)
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["equal"]
    graph = load_qonnx(tmp_path / DATAFLOW_NAME)
    weight_types = {graph.get_tensor_datatype(n.input[1]).name for n in graph.graph.node if n.op_type.startswith("MVAU")}
    assert "INT2" in weight_types and len(weight_types) >= 3  # several weight widths survive


def test_rounding_ties_go_to_even():
    """Scale 1/2: every odd input is a tie. The searched thresholds reproduce np.round exactly;
    FINN's (k - 1/2)-style thresholds would send 1/2 -> 1 and 5/2 -> 3."""
    spec = QuantSpec(scale=1.0, bits=4, signed=True, narrow=False)
    lo, hi = np.array([-40]), np.array([40])
    thresholds = search_thresholds(lambda v, ch: v * 0.5, spec, lo, hi, np.array([1]))
    v = np.arange(-40, 41)
    got = spec.qmin + np.searchsorted(thresholds[0], v, side="right")
    assert np.array_equal(got, np.clip(np.round(v * 0.5), -8, 7))
    assert got[v == 1][0] == 0 and got[v == 5][0] == 2 and got[v == 3][0] == 2
    ties_up = spec.qmin + np.searchsorted(np.arange(-15, 15, 2) + 0.0, v, side="right")  # FINN-style
    assert not np.array_equal(ties_up, got)


def test_pixel_shuffle_op_matches_torch_and_estimates():
    x = np.arange(2 * 3 * 4 * 3 * 9).reshape(2, 3, 4, 27)
    expected = torch.nn.functional.pixel_shuffle(torch.from_numpy(x).permute(0, 3, 1, 2), 3).permute(0, 2, 3, 1)
    assert np.array_equal(pixel_shuffle_nhwc(x, 3), expected.numpy())
    from onnx import helper

    node = helper.make_node("PixelShuffle", ["i"], ["o"], domain="finn.custom_op.fpgadataflow",
                            backend="fpgadataflow", NumChannels=3, Upscale=3, ImgDim=[3, 4], PE=1, dataType="INT4")
    op = PixelShuffle(node)
    assert op.get_exp_cycles() == (3 + 1) * 4 * 27
    op.set_nodeattr("PE", 3)
    assert op.get_exp_cycles() == (3 + 1) * 4 * 9 and op.get_outstream_width() == 12
    assert op.get_folded_output_shape() == (1, 9, 12, 1, 3)
    op.set_nodeattr("PE", 2)
    assert op.verify_node() == ["PE=2 must divide NumChannels=3"]


def test_target_fps_folding_and_folding_file_round_trip(tmp_path):
    model, onnx_path = exported("espcn_w4a4", tmp_path)
    slow = compile_model(onnx_path, random_tiles=1)
    fast = compile_model(onnx_path, random_tiles=1, target_fps=200_000, clock_mhz=200)
    assert fast["equal"] and fast["cycles_per_frame"] < slow["cycles_per_frame"]
    assert fast["fps"] == pytest.approx(200e6 / fast["cycles_per_frame"], rel=1e-6)
    folding = json.loads((tmp_path / "folding.json").read_text())
    estimates = json.loads((tmp_path / "estimates.json").read_text())
    assert estimates["cycles_per_frame"] == fast["cycles_per_frame"]
    assert set(estimates["totals"]) == {"lut", "bram18", "uram", "dsp"} and estimates["totals"]["lut"] > 0
    # Edit the written folding and feed it back.
    shuffle = next(name for name in folding if name.startswith("PixelShuffle"))
    folding[shuffle]["PE"] = 1
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(folding))
    again = compile_model(onnx_path, random_tiles=1, folding=edited)
    assert again["equal"]
    node = next(n for n in dataflow_nodes(tmp_path) if n.name == shuffle)
    assert {a.name: a.i for a in node.attribute}["PE"] == 1


def test_bad_folding_is_refused_and_leaves_no_dataflow(tmp_path):
    _, onnx_path = exported("espcn_w4a4", tmp_path)
    compile_model(onnx_path, random_tiles=0)
    folding = json.loads((tmp_path / "folding.json").read_text())
    mvau = next(name for name in folding if name.startswith("MVAU"))
    folding[mvau]["PE"] = 7  # divides no channel count here
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(folding))
    with pytest.raises(FqsrError, match=f"{mvau}.*PE=7"):
        compile_model(onnx_path, folding=bad)
    assert not (tmp_path / DATAFLOW_NAME).exists()
    bad.write_text(json.dumps({"NoSuchNode_0": {"PE": 1}}))
    with pytest.raises(FqsrError, match="NoSuchNode_0"):
        compile_model(onnx_path, folding=bad)


def test_unmappable_node_names_node_and_op_type(tmp_path):
    _, onnx_path = exported("espcn_w4a4", tmp_path)
    compile_model(onnx_path, random_tiles=0)
    graph = load_qonnx(onnx_path)
    relu = next(n for n in graph.graph.node if n.op_type == "Relu")
    relu.op_type = "Sigmoid"
    with pytest.raises(FqsrError, match="model.qonnx.onnx was changed after fqsr wrote it.*fqsr export"):
        graph.save(str(onnx_path))  # an edited export is not trusted...
        compile_model(onnx_path)
    user_onnx = tmp_path / "user" / "model.onnx"  # ...a user's own QONNX file (no record) is compiled
    user_onnx.parent.mkdir()
    graph.save(str(user_onnx))
    with pytest.raises(FqsrError, match=f"node {relu.name} has op type Sigmoid"):
        compile_model(user_onnx, out_dir=tmp_path)
    assert not (tmp_path / DATAFLOW_NAME).exists()


def test_mismatch_names_first_differing_layer(tmp_path, monkeypatch):
    """Shift one requantizer's thresholds by one step: the report names that layer, nothing is written."""
    import fqsr.flows.finn.integer_graph as integer_graph

    model, onnx_path = exported("espcn_w4a4", tmp_path)
    real = integer_graph.search_thresholds
    calls = []

    def off_by_one(*args):
        thresholds = real(*args)
        calls.append(1)
        return thresholds + (1 if len(calls) == 2 else 0)  # the second quantizer: act2 after conv2

    monkeypatch.setattr(integer_graph, "search_thresholds", off_by_one)
    monkeypatch.setattr(integer_graph, "check_monotone", lambda *a: None)
    # MVAU_hls_0 is the anchor (no thresholds), 1 is conv1, 2 is conv2 with act2's thresholds
    with pytest.raises(FqsrError, match=r"first differing layer Quant_\d+_out0 \(node MVAU_hls_2"):
        compile_model(onnx_path, random_tiles=1, reference=model)
    assert not (tmp_path / DATAFLOW_NAME).exists()
    report = json.loads((tmp_path / "compile.json").read_text())
    assert report["mismatches"] > 0 and report["dataflow"] is None


def test_missing_export_is_one_clear_error(tmp_path):
    with pytest.raises(FqsrError, match="run `fqsr export MODEL` first"):
        compile_model(tmp_path / ONNX_NAME)


def test_cli_compile(tmp_path):
    from fqsr.apps.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["compile", "espcn_w4a4", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "fqsr export espcn_w4a4" in result.output
    exported("espcn_w4a4", tmp_path)
    result = runner.invoke(main, ["compile", "espcn_w4a4", "--out-dir", str(tmp_path), "--tile", "4x4"])
    assert result.exit_code == 2 and "exported for tile 5x6" in result.output
    result = runner.invoke(main, ["compile", "espcn_w4a4", "--out-dir", str(tmp_path), "--tile", "5x6",
                                  "--target-fps", "100000", "--clock-mhz", "150", "--random-tiles", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["equal"] and report["clock_mhz"] == 150
    assert "QONNX == FINN dataflow: equal yes, mismatches 0 of" in "\n".join(summary.compile_lines(report))


def skip_fifo_depths(graph):
    """ElementwiseAdd name -> depth of the StreamingFIFO on its skip input (None if there is none)."""
    from qonnx.custom_op.registry import getCustomOp

    depths = {}
    for add in (n for n in graph.graph.node if n.op_type.startswith("ElementwiseAdd")):
        producers = [graph.find_producer(i) for i in add.input]
        fifos = [p for p in producers if p is not None and p.op_type.startswith("StreamingFIFO")]
        depths[add.name] = getCustomOp(fifos[0]).get_nodeattr("depth") if len(fifos) == 1 else None
    return depths


def test_dataflow_is_stitchable_with_sized_skip_fifos(tmp_path):
    """Every edge has one word width (DWCs where the PE differs), every skip a FIFO by the documented rule,
    and FINN's execution of the stitched graph is still bit-exact."""
    from qonnx.custom_op.registry import getCustomOp

    from fqsr.flows.finn.stitching import check_stream_widths, held_pixels

    model, onnx_path = exported("tiny_w4a4", tmp_path, blocks=2, tile=(8, 12))
    report = compile_model(onnx_path, random_tiles=1, reference=model, target_fps=30_000)
    assert report["equal"] and report["mismatches"] == 0
    graph = load_qonnx(tmp_path / DATAFLOW_NAME)
    check_stream_widths(graph)
    nodes = list(graph.graph.node)
    assert_all_hardware(nodes)
    assert report["dwc"] == op_count(nodes, "StreamingDataWidthConverter_rtl") > 0
    assert report["fifo"] == op_count(nodes, "StreamingFIFO_rtl") == 3
    depths = skip_fifo_depths(graph)
    assert None not in depths.values() and sorted(depths.values()) == sorted(report["fifo_depths"].values())
    frame_beats = 8 * 12 * 8  # pixels x channels at PE=1 (the adds stay at PE 1 for this target)
    inner = [depths["ElementwiseAdd_hls_0"], depths["ElementwiseAdd_hls_1"]]
    # One block's conv branch: two sliding windows hold 2 x ((3-1) x 14 + 3 + 1) pixels of the padded
    # 10x14 map, plus ~1 pixel per other node; the global skip spans both blocks and is sized by its lag,
    # which on this small tile is more than a frame (a frame cap would throttle the fork).
    swg = [n for n in nodes if n.op_type.startswith("ConvolutionInputGenerator")][1]
    assert held_pixels(swg) == 2 * 14 + 3 + 1
    for depth in inner:
        assert 2 * 32 * 8 <= depth < frame_beats
    assert depths["ElementwiseAdd_hls_2"] > frame_beats and depths["ElementwiseAdd_hls_2"] >= sum(inner)
    dup = next(n for n in nodes if n.op_type.startswith("DuplicateStreams"))
    assert getCustomOp(dup).get_nodeattr("PE") == 1


def test_windows_take_their_mvau_simd_so_no_width_converter_is_needed(tmp_path):
    """FINN gives every RTL sliding window SIMD = channels; fqsr narrows the window and its padding to
    the MVAU's SIMD, so the most folded graph has no width converter and the MVAU stays the bottleneck."""
    from qonnx.custom_op.registry import getCustomOp

    model, onnx_path = exported("tiny_w4a4", tmp_path, blocks=1)
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["equal"] and report["dwc"] == 0
    graph = load_qonnx(tmp_path / DATAFLOW_NAME)
    windows = [n for n in graph.graph.node if n.op_type.startswith("ConvolutionInputGenerator")]
    assert windows
    for window in windows:
        mvau, padding = graph.find_consumer(window.output[0]), graph.find_producer(window.input[0])
        simd = getCustomOp(mvau).get_nodeattr("SIMD")
        assert getCustomOp(window).get_nodeattr("SIMD") == getCustomOp(padding).get_nodeattr("SIMD") == simd == 1
    layers = json.loads((tmp_path / "estimates.json").read_text())["layers"]
    slowest = max(layers.values(), key=lambda layer: layer["cycles"])
    assert slowest["op_type"].startswith("MVAU")


def test_target_fps_is_met_and_every_slow_node_is_folded(tmp_path):
    """tiny, 5x6: the 960-cycle MVAUs bound it (4-bit weights: SIMD <= 9 under FINN's 36-bit weight-width
    cap); 1000 cycles is reachable, and every node slower than that unfolded (MVAU, the sliding window
    at the output resolution, the pixel shuffle) is folded to meet it."""
    model, onnx_path = exported("tiny_w4a4", tmp_path)
    slow = compile_model(onnx_path, random_tiles=0)
    slow_layers = json.loads((tmp_path / "estimates.json").read_text())["layers"]
    target_fps = 200_000  # 1000 cycles at 200 MHz
    report = compile_model(onnx_path, random_tiles=1, reference=model, target_fps=target_fps)
    assert report["equal"] and report["target_met"] and report["fps"] >= target_fps
    assert report["finn_warnings"] == [] and slow["cycles_per_frame"] > 1000
    layers = json.loads((tmp_path / "estimates.json").read_text())["layers"]
    assert all(layer["cycles"] <= 1000 for layer in layers.values())
    folded = {layer["op_type"] for name, layer in layers.items() if slow_layers.get(name, layer)["cycles"] > 1000}
    assert {"MVAU_hls", "ConvolutionInputGenerator_rtl", "PixelShuffle_rtl"} <= folded


def test_set_folding_folds_adds_forks_and_thresholds(tmp_path):
    """Adds, forks and standalone thresholds (240 cycles at PE 1 here) are folded by FINN's SetFolding
    like any PE op: with a 100-cycle target each gets the smallest PE that meets it (PE 3 of 8 channels
    is not a divisor, so PE 4 -> 60 cycles)."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from qonnx.custom_op.registry import getCustomOp

    from fqsr.flows.compile import lower_and_convert

    _, onnx_path = exported("tiny_w4a4", tmp_path)
    _, graph = lower_and_convert(load_qonnx(onnx_path), "xczu7ev-ffvc1156-2-e")
    graph = graph.transform(SetFolding(100, two_pass_relaxation=False))
    for prefix in ("Thresholding", "ElementwiseAdd", "DuplicateStreams"):
        nodes = [getCustomOp(n) for n in graph.graph.node if n.op_type.startswith(prefix)]
        assert nodes and all(n.get_nodeattr("PE") == 4 and n.get_exp_cycles() == 60 for n in nodes), prefix


def test_unreachable_target_fps_is_reported(tmp_path):
    _, onnx_path = exported("espcn_w4a4", tmp_path)
    report = compile_model(onnx_path, random_tiles=0, target_fps=1e9)
    assert report["target_met"] is False and report["fps"] < 1e9
    assert any("did not meet the target" in w for w in report["finn_warnings"])


def test_folding_file_round_trip_regenerates_dwc_and_fifos(tmp_path):
    _, onnx_path = exported("tiny_w4a4", tmp_path)
    first = compile_model(onnx_path, random_tiles=0, target_fps=50_000)
    folding = (tmp_path / "folding.json").read_text()
    assert "StreamingFIFO" not in folding and "StreamingDataWidthConverter" not in folding
    saved = tmp_path / "saved.json"
    saved.write_text(folding)
    nodes = [(n.name, n.op_type) for n in dataflow_nodes(tmp_path)]
    again = compile_model(onnx_path, random_tiles=1, folding=saved)
    assert again["equal"] and (tmp_path / "folding.json").read_text() == folding
    assert [(n.name, n.op_type) for n in dataflow_nodes(tmp_path)] == nodes
    assert again["fifo_depths"] == first["fifo_depths"] and again["cycles_per_frame"] == first["cycles_per_frame"]


def test_learned_scales_count_float_ties_within_budget(tmp_path, monkeypatch):
    """``_fs`` (non-power-of-two) scales: real compile, then the tie counting and its budget."""
    import fqsr.flows.compile as compile_stage

    model, onnx_path = exported("tiny_w4a4_fs", tmp_path)
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["power_of_two_scales"] is False
    assert report["float_tie_mismatches"] == report["mismatches"] <= 4
    graph = load_qonnx(tmp_path / DATAFLOW_NAME)
    scales = [s for _, _, s in json.loads(graph.get_metadata_prop("fqsr_layers"))]
    assert any(not float(np.log2(s)).is_integer() for s in scales)

    real = compile_stage.reference_integers
    flips = {"count": 1}

    def tie_flipped(*args):  # a reference that rounded `count` elements the other way
        expected = real(*args).copy()
        expected.reshape(-1)[: flips["count"]] += 1
        return expected

    monkeypatch.setattr(compile_stage, "reference_integers", tie_flipped)
    report = compile_model(onnx_path, random_tiles=1, reference=model)
    assert report["float_tie_mismatches"] == report["mismatches"] == 2 and not report["equal"]
    assert (tmp_path / DATAFLOW_NAME).exists()
    flips["count"] = 100  # 200 of 720: far beyond float32 ties, a bug
    with pytest.raises(FqsrError, match=r"200 of 720 elements \(more than the 4 float32 rounding ties"):
        compile_model(onnx_path, random_tiles=1, reference=model)
    assert not (tmp_path / DATAFLOW_NAME).exists()
