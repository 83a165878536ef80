"""The video board path (fqsr.hw.video): an LR frame loaded over the UART into the board's frame RAM, replayed
through a small stitched ESPCN, its HR output held in a dual-clock frame RAM and shown on a small raster; the
TMDS channels are decoded back to pixels (fqsr.sim.tmds) and every displayed pixel equals the Brevitas model's
integer output, repeated 2x2, with black around it. Then the board top (both PLLs, ODDRX1F on the GPDI pins)
through Yosys."""
import json

import numpy as np
import pytest

from conftest import calibrated, small
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export
from fqsr.flows.host import HostInterface
from fqsr.hw.board import BOARDS
from fqsr.hw.stitch import generate_rtl, rom_files, rtl_sources
from fqsr.hw.video import (ACK, MODES, VIDEO_CORE, VideoMode, fit_repeat, video_pll_module, video_sources,
                           write_video_board_top)
from fqsr.models.data import to_model
from fqsr.models.errors import FqsrError
from fqsr.models.infer import integer_output
from fqsr.sim.link import encode
from fqsr.sim.runner import run_cocotb
from fqsr.sim.tmds import frames_from_symbols, symbols_from_bits

LR = (4, 6)  # rows, cols: the compiled tile is the whole LR frame
REPEAT = 2
# a raster two pixels wider and taller than the 16x24 image shown, so the image sits at (2, 1) inside black
SMALL = VideoMode(28, 2, 2, 2, 18, 1, 1, 1, name="small", pixel_mhz=100.0)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video-net")
    model = calibrated(small("espcn_w4a4", features=4))
    export(model, tile=LR, random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    return folder, model


def test_the_board_shows_the_models_image_over_tmds(network, tmp_path):
    folder, model = network
    fmt = HostInterface.load(folder)
    lr = np.random.default_rng(4).integers(0, 256, size=(*LR, 1), dtype=np.uint8)
    core = write_video_board_top(folder, mode=SMALL, repeat=REPEAT, clks_per_bit=4, reset_cycles=8,
                                 path=tmp_path / "video_core.v", core_only=True, bank_words=16)  # 6 banks
    spec = tmp_path / "spec.json"
    result_path = tmp_path / "result.json"
    frame_cycles = SMALL.frame_cycles
    spec.write_text(json.dumps({"frame": list(encode(lr.transpose(2, 0, 1)[None], fmt)), "clks_per_bit": 4,
                                "clk_ns": 7, "pix_ns": 10, "gap_prob": 0.3, "seed": 1, "max_cycles": 400_000,
                                "record_cycles": 4 * frame_cycles + frame_cycles // 2, "result": str(result_path)}))
    run_cocotb([*rtl_sources(folder / "rtl"), *video_sources(folder / "rtl"), core], VIDEO_CORE, "fqsr.sim.video_board_bench",
               extra_env={"FQSR_VIDEO_BOARD_SPEC": str(spec)}, test_dir=tmp_path,
               data_files=rom_files(folder / "rtl"))
    result = json.loads(result_path.read_text())
    assert result["lr_loaded"] == 1 and result["acks"] == [ACK] and result["framing_errors"] == []
    assert result["showing"] == 1 and result["frames_written"] >= 1
    assert not result["led"] & 0b1100  # no receive-buffer overflow, no framing error

    hr, _ = integer_output(model, to_model(lr))
    hr = hr[0, 0]  # Y only: [rows * 2, cols * 2]
    assert hr.shape == (2 * LR[0], 2 * LR[1]) and len(np.unique(hr)) > 8  # a real picture, not a flat one
    want = np.zeros((SMALL.v_active, SMALL.h_active, 3), np.int64)
    shown = np.repeat(np.repeat(hr, REPEAT, axis=0), REPEAT, axis=1)
    y0, x0 = (SMALL.v_active - shown.shape[0]) // 2, (SMALL.h_active - shown.shape[1]) // 2
    want[y0:y0 + shown.shape[0], x0:x0 + shown.shape[1]] = shown[..., None]  # gray: R = G = B

    symbols = {name: symbols_from_bits(result["bits"][name], result["bits"]["clock"])
               for name in ("red", "green", "blue")}
    decoded = frames_from_symbols(symbols, SMALL)
    assert len(decoded) >= 3
    for k, image in enumerate(decoded):  # integer equality of every displayed pixel of every frame
        diff = np.argwhere(image.astype(np.int64) != want)
        assert diff.size == 0, f"frame {k}: {len(diff)} channel values differ, first at {diff[0].tolist()}"


def test_the_image_must_fit_the_raster(network, tmp_path):
    folder, _ = network
    assert fit_repeat(360, 640, MODES["720p"]) == 2
    with pytest.raises(FqsrError, match="repeated 3 times does not fit the 28x18 raster of small"):
        write_video_board_top(folder, mode=SMALL, repeat=3, path=tmp_path / "top.v")


def test_the_video_pll_makes_a_pixel_clock_and_exactly_five_times_it(tmp_path):
    path, pixel_mhz = video_pll_module(BOARDS["ulx3s-85f"], 74.25, tmp_path)
    text = path.read_text()
    # 720p60's 74.25 MHz is out of the PLL's reach from 25 MHz; 74 MHz (-0.34 %, within CEA-861's 0.5 %) is not
    assert pixel_mhz == 74.0 and 'FREQUENCY_PIN_CLKOP="370"' in text and 'FREQUENCY_PIN_CLKOS="74"' in text
    with pytest.raises(FqsrError, match=r"cannot make a 148.5 MHz pixel clock .* \(nearest: 147.5 and 737.5 MHz\)"):
        video_pll_module(BOARDS["ulx3s-85f"], 148.5, tmp_path)  # 1080p60


def test_fqsr_video_synthesizes_the_board_top_with_its_plls_and_gpdi_cells(network):
    from click.testing import CliRunner

    from fqsr.apps.cli import main

    folder, _ = network
    result = CliRunner().invoke(main, ["video", str(folder), "--clock-mhz", "50", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    cells = report["cells"]
    # the design clock's PLL and the video PLL; one DDR output cell per TMDS pair (3 colours and the clock)
    assert cells["EHXPLLL"] == 2 and cells["ODDRX1F"] == 4 and report["pixel_mhz"] == 74.0
    assert report["total"]["LUT"] > 0 and report["total"]["FF"] > 0
    top = (folder / "video" / "board_top.v").read_text()
    assert "output wire [3:0] gpdi_dp" in top and ".Q(gpdi_dp[3])" in top and ".REPEAT(90)" in top
    assert "fqsr_pll pll (.clkin(clk_25mhz)" in top and ".CLKS_PER_BIT(CLKS_PER_BIT), .IN_BYTES(1)" in top
    refused = CliRunner().invoke(main, ["video", str(folder), "--repeat", "0"])
    assert refused.exit_code == 2 and "--repeat must be a positive number" in refused.output


@pytest.mark.parametrize("beats,width", [(5, 8), (8, 24)])
def test_frame_loop_replays_the_stored_frame_under_stalls(tmp_path, beats, width):
    from fqsr.hw.generate import RTL_DIR

    rng = np.random.default_rng(beats)
    frame = [int(v) for v in rng.integers(0, 1 << width, size=beats)]
    spec, result = tmp_path / "spec.json", tmp_path / "result.json"
    reads = 3 * beats + 2
    spec.write_text(json.dumps({"frame": frame, "reads": reads, "p_gap": 0.3, "p_stall": 0.4, "seed": beats,
                                "result": str(result)}))
    run_cocotb([RTL_DIR / "frame_ram.v", RTL_DIR / "frame_loop.v"], "frame_loop", "fqsr.sim.frame_loop_bench",
               parameters={"WIDTH": width, "BEATS": beats}, extra_env={"FQSR_FRAME_LOOP_SPEC": str(spec)},
               test_dir=tmp_path)
    got = json.loads(result.read_text())
    assert got["early"] == 0 and got["loaded"] == 1 and got["frame_received"] == 1
    assert got["beats"] == [frame[i % beats] for i in range(2 * reads)]  # the frame, again and again
    assert got["full_rate_cycles"] <= reads + 2  # a beat every cycle once tready stays high
