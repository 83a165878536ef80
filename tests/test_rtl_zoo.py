"""Every registry architecture and bit-width family in RTL: export -> compile (folded) -> rtl -> verify.

Small variants (4 features, 1 block, one 4x4 tile) of every zoo entry that ``test_rtl_network.py``
does not already cover, folded by FINN for 150k tiles/s at 200 MHz (PE/SIMD > 1, width converters,
FINN's parallel sliding window on srresnet's 9x9 output conv) so the simulation stays short. Each
must equal FINN's execution under random stalls and stream at its slowest node's rate, simulated
by the compiled harness (``--sim verilator``; it equals the cocotb bench, test_rtl_network.py).
"""
import pytest
from qonnx.custom_op.registry import getCustomOp

from conftest import calibrated, small
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.stitch import generate_rtl
from fqsr.sim.verify import TIMING_FRAMES, verify

TARGET_FPS = 150_000  # ~1300 cycles per 4x4 tile at 200 MHz
MODELS = {
    "edsr_w8a8": dict(features=4, blocks=1),
    "edsr_w2a2": dict(features=4, blocks=1),
    "srresnet_w4a4": dict(features=4, blocks=1),  # batch norm, 9x9 head and tail
    "espcn_w4a4": dict(features=4),
    "fsrcnn_w4a4": dict(features=4, blocks=1, shrink=4),
    "edsr_w4a4_x4": dict(features=4, blocks=1),  # two pixel shuffles + the anchor's, its add at HR
    "tiny_w4a4_mp": dict(features=4, blocks=1),  # 8-bit first/last layers
}


@pytest.fixture(scope="module", params=list(MODELS))
def built(request, tmp_path_factory):
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    model = calibrated(small(name, **MODELS[name]))
    export(model, tile=(4, 4), random_tiles=1, out_dir=folder)
    compiled = compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model, target_fps=TARGET_FPS)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    return name, folder, compiled


def test_zoo_model_equals_finn_at_its_slowest_nodes_rate(built):
    name, folder, compiled = built
    report = verify(folder, tiles=2, stall_prob=0.3, seed=1)
    assert report["sim"] == "verilator" and report["equal"] and report["mismatches"] == 0 and report["extra_beats"] == 0, report
    scale, channels = (4 if name.endswith("_x4") else 2), (1 if name.startswith(("espcn", "fsrcnn")) else 3)
    assert report["elements"] == (2 + TIMING_FRAMES) * channels * (4 * scale) ** 2  # every output element compared
    # steady state within 5% of FINN's estimate of the slowest node (the dataflow ideal)
    assert 0.95 <= report["cycles_per_frame"] / report["estimated_cycles_per_frame"] <= 1.05, report
    assert report["estimated_cycles_per_frame"] == compiled["cycles_per_frame"]
    graph = load_qonnx(folder / DATAFLOW_NAME)
    if name.endswith("_x4"):  # the upsampler's two x2 stages and the anchor's one x4
        assert sorted(getCustomOp(n).get_nodeattr("Upscale") for n in graph.graph.node
                      if n.op_type.startswith("PixelShuffle")) == [2, 2, 4]
    if name.startswith(("edsr", "srresnet")):
        assert {"ElementwiseAdd_hls", "DuplicateStreams_hls"} <= {n.op_type for n in graph.graph.node}
