"""Shipped checkpoints: compact storage that reproduces the same integers, and the shipped zoo."""
import pytest
import torch

from conftest import calibrated, small
from fqsr.models.checkpoint import (_quant_convs, load_model, read_checkpoint, save_checkpoint, ship_checkpoint,
                                    shipped_checkpoint)
from fqsr.models.evaluate import evaluate
from fqsr.models.registry import get_config

SHIPPED = ["tiny_w4a4_mp", "espcn_w4a4", "espcn_w8a8", "edsr_w4a4_mp", "edsr_w4a4"]


@pytest.mark.parametrize("name, compact", [
    ("tiny_w4a4", True), ("tiny_w2a2", True), ("espcn_w8a3", True), ("tiny_w4a4_fs", False),
])
def test_compact_checkpoint_reproduces_integers(name, compact, tmp_path):
    model = calibrated(small(name, blocks=1) if name.startswith("tiny") else get_config(name))
    full = save_checkpoint(tmp_path / "full.pt", model, {"iterations": 1})
    shipped = ship_checkpoint(full, tmp_path / "ship.pt")
    reloaded, meta = load_model(model.config, shipped)
    x = torch.rand(2, model.config.channels, 9, 7)
    assert torch.equal(model(x).int(), reloaded(x).int())
    assert meta["iterations"] == 1
    state = read_checkpoint(shipped)["state_dict"]
    halves = [k for k, v in state.items() if k.endswith("conv1.weight") or k == "head.weight" if v.dtype == torch.float16]
    assert bool(halves) == compact  # power-of-two scales store exactly in float16, float scales do not


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_load(name):
    cfg = get_config(name)
    for model_name in (name, cfg.twin_name):
        assert shipped_checkpoint(model_name).is_file(), f"{model_name} checkpoint is not shipped"
        model, meta = load_model(model_name, require_trained=True)
        assert meta["iterations"] > 0 and meta["seconds"] > 0
        out = model(torch.rand(1, cfg.channels, 8, 8))
        assert out.shape[-1] == 8 * cfg.scale


def test_shipped_small_model_beats_bicubic_on_embedded_photos():
    report = evaluate("tiny_w4a4_mp", "embedded")
    assert report["images"] == 4
    assert report["psnr_y_quant"] > report["psnr_y_bicubic"] + 1.0
    assert report["psnr_y_quant"] > report["psnr_y_float"] - 0.5


@pytest.mark.parametrize("name, layer", [("espcn_w4a4", "conv2"), ("tiny_w4a4_mp", "body.0.conv1")])
def test_requantizing_at_the_same_widths_gives_back_the_shipped_integers(name, layer):
    """--bits re-quantizes the stored weights; at unchanged widths every weight integer, scale and output is kept."""
    cfg = get_config(name)
    shipped, _ = load_model(cfg)
    again, meta = load_model(cfg.replace(bits=cfg.bits + ((layer, cfg.weight_bits),)))
    assert meta["requantized"]["to_bits"].endswith(f"{layer}={cfg.weight_bits}")
    for (conv_name, a), (_, b) in zip(_quant_convs(shipped).items(), _quant_convs(again).items()):
        assert torch.equal(a.quant_weight().int(), b.quant_weight().int()), conv_name
        assert torch.equal(a.quant_weight().scale, b.quant_weight().scale), conv_name
    x = torch.rand(1, cfg.channels, 10, 10)
    assert torch.equal(shipped(x).int(), again(x).int())


def test_requantizing_to_other_widths_changes_only_the_layers_asked_for():
    cfg = get_config("espcn_w4a4")
    shipped, _ = load_model(cfg)
    wider, _ = load_model(cfg.replace(bits=(("conv2", 8),)))
    convs = _quant_convs(wider)
    assert int(convs["conv2"].quant_weight().bit_width) == 8 and int(convs["conv1"].quant_weight().bit_width) == 4
    assert torch.equal(convs["conv1"].quant_weight().int(), _quant_convs(shipped)["conv1"].quant_weight().int())
    # the same power-of-two range on a 16x finer grid holds the 4-bit weights exactly
    before, after = _quant_convs(shipped)["conv2"].quant_weight(), convs["conv2"].quant_weight()
    assert torch.equal(after.scale * 16, before.scale) and torch.equal(after.value, before.value)
