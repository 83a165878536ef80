"""Brevitas -> QONNX export: the QONNX execution equals the Brevitas integers, element for element."""
import json

import numpy as np
import pytest
import torch

from conftest import calibrated, small
from fqsr.flows.equality import compare, to_integers
from fqsr.flows.export import (ONNX_NAME, check_qonnx, equality_tiles, export, geometry, load_qonnx, parse_frame,
                               parse_tile)
from fqsr.models.errors import FqsrError
from fqsr.models.registry import ZOO, get_config, parse_bits


@pytest.mark.parametrize("name", ZOO + ["edsr_w4a4_x4", "espcn_w4a4_x3", "tiny_w3a5_fs"])
def test_export_equals_brevitas(name, tmp_path):
    """Full-size exports run in `make export-zoo`; here deep nets keep two blocks (same code path)."""
    cfg = get_config(name)
    model = calibrated(cfg.replace(blocks=min(cfg.blocks, 2)))
    report = export(model, tile=(5, 6), random_tiles=1, out_dir=tmp_path)
    assert report["equal"] and report["mismatches"] == 0
    channels, scale = model.config.channels, model.config.scale
    assert report["elements"] == 2 * channels * 5 * 6 * scale * scale
    assert (tmp_path / ONNX_NAME).is_file()
    saved = json.loads((tmp_path / "export.json").read_text())
    assert saved["equal"] and saved["untrained"]
    # The real-image tile is not a degenerate (constant) output; an untrained
    # 2-bit net legitimately is one, trained ones are checked with checkpoints.
    x = equality_tiles(channels, (5, 6), 0)[0][1]
    assert len(np.unique(model(x).int().numpy())) > (4 if model.config.act_bits > 2 else 0)


def test_export_with_mixed_precision(tmp_path):
    cfg = small("tiny_w4a4", blocks=2, bits=parse_bits("head=8,body.0.*=2,body.1.conv2=6,up.*=5"))
    report = export(calibrated(cfg), tile=(4, 4), random_tiles=2, out_dir=tmp_path)
    assert report["equal"] and report["elements"] == 3 * 3 * 64


def test_mismatch_is_reported_and_leaves_no_onnx(tmp_path, monkeypatch):
    """A QONNX graph that disagrees with Brevitas must fail loudly and leave no artifact."""
    import fqsr.flows.export as export_stage

    real_run = export_stage.run_qonnx

    def off_by_one(wrapper, x):
        out = real_run(wrapper, x)
        out.flat[7] += 2.0 ** -8
        return out

    monkeypatch.setattr(export_stage, "run_qonnx", off_by_one)
    with pytest.raises(FqsrError, match=r"differs from Brevitas in 3 of .* elements"):
        export(calibrated(small("espcn_w4a4")), tile=(4, 4), random_tiles=2, out_dir=tmp_path)
    assert not (tmp_path / ONNX_NAME).exists()
    report = json.loads((tmp_path / "export.json").read_text())
    assert report["mismatches"] == 3 and report["first_failure"]["first_mismatch"]["index"] == [0, 0, 0, 7]


def test_compare_reports_first_index():
    a = np.arange(12).reshape(3, 4)
    b = a.copy()
    b[2, 1] = 0
    b[1, 3] = 5
    report = compare(a, b, stage="s", layer="conv1")
    assert report["mismatches"] == 2 and report["first_mismatch"]["index"] == (1, 3)
    assert report["first_mismatch"]["expected"] == 7 and report["first_mismatch"]["got"] == 5


def test_off_grid_values_are_refused():
    with pytest.raises(FqsrError, match="not integer multiples"):
        to_integers(np.array([0.5, 0.25 + 1e-7]), 0.25, "x")


def test_float_twin_is_not_exported(tmp_path):
    with pytest.raises(FqsrError, match="float twin"):
        export(calibrated(get_config("espcn_float")), out_dir=tmp_path)


@pytest.mark.parametrize("text", ["32", "axb", "0x4", "4x-1"])
def test_bad_tiles(text):
    with pytest.raises(FqsrError):
        parse_tile(text)


def test_frames_are_width_by_height():
    assert parse_frame("640x360") == (360, 640) == geometry(None, "640x360", (16, 16))
    assert geometry("8x12", None, (16, 16)) == (8, 12) and geometry(None, None, (16, 16)) == (16, 16)
    for bad in ("640", "0x360", "ax3"):
        with pytest.raises(FqsrError, match=f"frame '{bad}' must"):
            parse_frame(bad)
    with pytest.raises(FqsrError, match="not both"):
        geometry("8x8", "8x8", (16, 16))


def test_a_frame_wider_than_the_photograph_is_mirrored_out():
    """The real-image tile of a frame larger than the embedded photograph is that photograph, mirrored out."""
    tiles = equality_tiles(1, (24, 300), 0)
    (name, x), = tiles
    assert x.shape == (1, 1, 24, 300) and name.endswith("-tile")
    row = x[0, 0, 0].numpy()
    assert len(set(row.tolist())) > 50 and np.array_equal(row[256:300], row[255:211:-1])  # mirrored at column 256


def test_corrupt_onnx_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    with pytest.raises(FqsrError, match="not a readable ONNX model"):
        load_qonnx(bad)


class _UserNet(torch.nn.Module):
    """A network written as a Brevitas user writes it: no fqsr config, brevitas.nn layers only."""

    def __init__(self):
        super().__init__()
        from brevitas.nn import QuantConv2d, QuantIdentity, QuantReLU
        from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

        self.inp = QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv1 = QuantConv2d(3, 8, 3, padding=1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                 weight_bit_width=4)
        self.act = QuantReLU(bit_width=4, return_quant_tensor=True)
        self.conv2 = QuantConv2d(8, 12, 3, padding=1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                 weight_bit_width=4)
        self.out = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)

    def forward(self, x):
        return self.out(self.conv2(self.act(self.conv1(self.inp(x)))))


def test_export_takes_any_brevitas_module(tmp_path):
    """No fqsr config: channels come from the first conv, the name from the class, the proof is the same."""
    torch.manual_seed(0)
    net = _UserNet()
    net.train()
    with torch.no_grad():  # let the learned ranges see data before the proof
        for _ in range(3):
            net(torch.rand(2, 3, 8, 8))
    report = export(net, tile=(4, 5), random_tiles=1, out_dir=tmp_path)
    assert report["equal"] and report["mismatches"] == 0
    assert report["model"] == "_UserNet" and report["config"] is None
    assert report["elements"] == 2 * 12 * 4 * 5
    assert (tmp_path / ONNX_NAME).is_file()


def test_export_refuses_a_float_output(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1))
    with pytest.raises(FqsrError, match="not a Brevitas QuantTensor"):
        export(net, tile=(4, 4), out_dir=tmp_path)
    assert not (tmp_path / ONNX_NAME).exists()
