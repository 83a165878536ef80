"""Hardware in the loop: whole images in overlapping tiles through the RTL == the quantized model, exactly."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import calibrated, small
from fqsr.apps.cli import main
from fqsr.apps.summary import hil_lines
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export
from fqsr.flows.tiling import receptive_halo, tiles_per_image
from fqsr.hw.stitch import generate_rtl
from fqsr.models.checkpoint import save_checkpoint
from fqsr.models.data import list_images, make_pair
from fqsr.models.errors import FqsrError
from fqsr.sim.hil import PythonDevice, RtlsimDevice, open_device, run_session

TILE = 16  # halo 6 (features=4, blocks=1): a core of 4x4 LR pixels per tile
TARGET_FPS, CLOCK_MHZ = 10000, 100.0  # ~9.3k cycles per tile; no parallel windows at this rate
# HR crops: 48x42 -> LR 24x21 (9 tiles; 21 is no multiple of the core), 38x60 -> LR 19x30 (10 tiles)
CROPS = [(48, 42), (38, 60)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hil")
    model = calibrated(small("tiny_w4a4", features=4, blocks=1))
    export(model, tile=(TILE, TILE), random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model, target_fps=TARGET_FPS,
                  clock_mhz=CLOCK_MHZ)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    return folder, model


def _pairs(scale=2):
    pairs = []
    for (name, img), (h, w) in zip(list_images("embedded:eval"), CROPS):
        lr, hr = make_pair(img[100:100 + h, 120:120 + w], scale)
        pairs.append((name, lr, hr))
    return pairs


def test_rtl_and_finn_return_the_quantized_model_exactly(built):
    folder, model = built
    pairs = _pairs()
    halo = receptive_halo(folder / DATAFLOW_NAME)
    assert halo == 6
    rtl = run_session(model, pairs, folder, RtlsimDevice(folder))
    finn = run_session(model, pairs, folder, PythonDevice(folder))
    for report in (rtl, finn):
        assert report["equal"] and report["mismatches"] == 0 and "first_mismatch" not in report, report
        assert report["psnr_equal"] and report["psnr_y_hw"] == report["psnr_y_quant_model"]
        assert report["ssim_y_hw"] == report["ssim_y_quant_model"]
        assert report["tiles"] == sum(tiles_per_image(*lr.shape[:2], TILE, TILE, halo) for _, lr, _ in pairs) == 19
        assert report["elements"] == sum(lr.shape[0] * lr.shape[1] for _, lr, _ in pairs) * 3 * 4
        assert report["psnr_y_hw"] != report["psnr_y_bicubic"] and 5 < report["psnr_y_hw"] < 60
    # every tile streamed back to back in one simulation at FINN's estimated rate
    assert rtl["cycles"] > rtl["tiles"] * rtl["cycles_per_tile"] > 0
    estimate = json.loads((folder / "estimates.json").read_text())["cycles_per_frame"]
    assert 0.9 < rtl["cycles_per_tile"] / estimate < 1.1, (rtl["cycles_per_tile"], estimate)
    assert finn["cycles"] is None and rtl["per_image"] == finn["per_image"]
    # through the compiled harness (the default simulator): no Python per clock
    assert rtl["sim_cycles_per_s"] > 50_000 and finn["sim_cycles_per_s"] is None


def test_a_halo_one_pixel_short_is_caught_as_a_mismatch(built):
    folder, model = built
    report = run_session(model, _pairs(), folder, PythonDevice(folder), halo=5)
    assert not report["equal"] and report["mismatches"] > 0
    first = report["first_mismatch"]
    assert first["image"] in {name for name, _, _ in _pairs()} and first["got"] != first["expected"]
    assert len(first["first_index_nchw"]) == 3


def test_the_cli_writes_hil_json_and_fails_loudly_on_a_mismatch(built, tmp_path, monkeypatch):
    folder, model = built
    checkpoint = save_checkpoint(tmp_path / "small.pt", model, meta={"note": "test"})
    # the registry name resolves to this small config, so its checkpoint fits
    monkeypatch.setattr("fqsr.models.registry.get_config", lambda name, _cfg=model.config: _cfg)
    data = tmp_path / "images"
    data.mkdir()
    for name, _, hr in _pairs():
        Image.fromarray(hr).save(data / f"{name}.png")
    args = ["hil", "tiny_w4a4", "--data", str(data), "--device", "python", "--checkpoint", str(checkpoint),
            "--out-dir", str(folder), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["equal"] and report["psnr_y_hw"] == report["psnr_y_quant_model"] and report["images"] == 2
    assert json.loads((folder / "hil.json").read_text())["tiles"] == report["tiles"] == 19
    assert f"psnr_y_hw {report['psnr_y_hw']:.3f} dB" in "\n".join(hil_lines(report))
    monkeypatch.setattr("fqsr.flows.tiling.receptive_halo", lambda graph: 4)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "differs from the quantized model in" in result.stderr and "first in image" in result.stderr
    assert json.loads((folder / "hil.json").read_text())["equal"] is False


def test_bad_input_is_a_clear_error(built, tmp_path):
    folder, model = built
    tiny_lr = [("speck", np.zeros((10, 40, 3), np.uint8), np.zeros((20, 80, 3), np.uint8))]
    with pytest.raises(FqsrError, match="image speck .* height 10 is smaller than the compiled tile height 16"):
        run_session(model, tiny_lr, folder, PythonDevice(folder))
    with pytest.raises(FqsrError, match="unknown device 'fpga'"):
        open_device("fpga", folder)
    with pytest.raises(FqsrError, match="run `fqsr compile MODEL` first"):
        open_device("python", tmp_path)
    (tmp_path / DATAFLOW_NAME).write_bytes((folder / DATAFLOW_NAME).read_bytes())
    with pytest.raises(FqsrError, match="rtl/top.v does not exist; run `fqsr rtl MODEL` first"):
        open_device("rtlsim", tmp_path)
    result = CliRunner().invoke(main, ["hil", "tiny_w4a4_mp", "--data", "embedded", "--out-dir", str(tmp_path),
                                       "--device", "serial"])
    assert result.exit_code == 2 and "unknown device 'serial'" in result.stderr
