"""Every registry model builds, runs, and is quantized where it says it is."""
import brevitas.nn as qnn
import pytest
import torch
from brevitas.quant_tensor import QuantTensor

from conftest import calibrated
from fqsr.models.errors import FqsrError
from fqsr.models.nets import ResBlock
from fqsr.models.registry import ZOO, build_model, get_config, parse_bits

VARIANTS = ZOO + ["tiny_w3a3_x4_mp", "edsr_w4a4_x3", "edsr_w4a4_x4", "espcn_w3a5_x3", "fsrcnn_w6a2_x4", "tiny_w4a4_fs"]


@pytest.mark.parametrize("name", VARIANTS)
def test_quantized_model_outputs_8bit_integer_image(name):
    cfg = get_config(name)
    model = calibrated(cfg)
    out = model(torch.rand(1, cfg.channels, 6, 7))
    assert isinstance(out, QuantTensor)
    assert tuple(out.shape) == (1, cfg.channels, 6 * cfg.scale, 7 * cfg.scale)
    assert float(out.scale) == 2.0 ** -8
    ints = out.int()
    assert 0 <= int(ints.min()) and int(ints.max()) <= 255


@pytest.mark.parametrize("name", ZOO)
def test_float_twin_has_same_parameters(name):
    cfg = get_config(name)
    twin = build_model(get_config(cfg.twin_name))
    quant = build_model(cfg)
    float_names = {k for k, _ in twin.named_parameters()}
    quant_names = {k for k, _ in quant.named_parameters() if "_quant" not in k}
    assert float_names == quant_names


@pytest.mark.parametrize("name", ZOO)
def test_layer_names_are_module_paths(name):
    model = build_model(get_config(name))
    modules = dict(model.named_modules())
    assert set(model.layer_names) <= set(modules)
    quant_layers = {n for n, m in modules.items() if isinstance(m, (qnn.QuantConv2d, qnn.QuantReLU, qnn.QuantIdentity))}
    assert quant_layers == set(model.layer_names)


def test_no_float_op_between_input_and_output():
    """Every conv is quantized with its configured width; every activation is a quantizer."""
    model = build_model(get_config("edsr_w4a4"))
    quant_types = (qnn.QuantConv2d, qnn.QuantReLU, qnn.QuantIdentity)
    inside_quant = tuple(f"{n}." for n, m in model.named_modules() if isinstance(m, quant_types))
    convs = 0
    for name, module in model.named_modules():
        if name.startswith(inside_quant):
            continue  # a quant layer's own internals (its ReLU implementation, proxies)
        if isinstance(module, torch.nn.Conv2d):
            assert isinstance(module, qnn.QuantConv2d), name
            if name == "anchor":  # fixed weights 0 and 1, exact at 2 bits, no bias
                assert int(module.quant_weight().bit_width) == 2 and module.bias is None
            else:
                assert int(module.quant_weight().bit_width) == 4, name
                assert module.bias_quant.is_quant_enabled, name
            convs += 1
        assert not isinstance(module, torch.nn.ReLU) or isinstance(module, qnn.QuantReLU), name
    assert convs == 1 + 2 * 16 + 1 + 1 + 1 + 1  # head, blocks, body_end, upsampler, tail, anchor


@pytest.mark.parametrize("name", ["edsr_w4a4", "srresnet_w4a4", "tiny_w2a2"])
def test_residual_adds_stay_integer_with_equal_scales(name):
    """Both add operands come from one quantizer, so the sum is still a QuantTensor of that scale."""
    cfg = get_config(name).replace(blocks=2, features=8)
    model = calibrated(cfg)
    seen = []

    def check(block, inputs, output):
        assert isinstance(output, QuantTensor), "add fell back to float: operand scales differ"
        assert torch.equal(output.scale, block.quant(inputs[0]).scale)
        seen.append(int(output.bit_width))

    for block in model.modules():
        if isinstance(block, ResBlock):
            block.register_forward_hook(check)
    model(torch.rand(1, cfg.channels, 8, 8))
    assert seen == [cfg.act_bits + 1] * 2


def test_per_layer_bit_widths():
    cfg = get_config("tiny_w4a4").replace(bits=parse_bits("body.*.conv1=3, tail=8, body.1.act=6"))
    model = build_model(cfg)
    assert int(model.body[0].conv1.quant_weight().bit_width) == 3
    assert int(model.body[3].conv1.quant_weight().bit_width) == 3
    assert int(model.body[0].conv2.quant_weight().bit_width) == 4
    assert int(model.tail.quant_weight().bit_width) == 8
    model.eval()
    model(torch.rand(1, 3, 4, 4))
    assert int(model.body[1].act.act_quant.bit_width()) == 6
    assert int(model.body[0].act.act_quant.bit_width()) == 4


@pytest.mark.parametrize("spec, message", [
    ("nosuchlayer=3", "matches no layer"),
    ("tail=9", "supports 2 to 8"),
    ("tail", "LAYER_PATTERN=BITS"),
])
def test_bad_bit_overrides(spec, message):
    with pytest.raises(FqsrError, match=message):
        build_model(get_config("tiny_w4a4").replace(bits=parse_bits(spec)))


@pytest.mark.parametrize("name", ["edsr", "foo_w4a4", "edsr_w1a4", "edsr_w4a9", "edsr_w4a4_x5", "edsr_w4a4_y"])
def test_unknown_names(name):
    with pytest.raises(FqsrError):
        get_config(name)


def test_multi_precision_config_keeps_edges_at_8_bits():
    model = build_model(get_config("edsr_w4a4_mp"))
    assert int(model.head.quant_weight().bit_width) == 8
    assert int(model.tail.quant_weight().bit_width) == 8
    assert int(model.up[0].quant_weight().bit_width) == 8
    assert int(model.body[5].conv1.quant_weight().bit_width) == 4
    model.eval()
    model(torch.rand(1, 3, 4, 4))
    assert int(model.body[5].quant.act_quant.bit_width()) == 8
    assert int(model.body[5].act.act_quant.bit_width()) == 4
    espcn = build_model(get_config("espcn_w2a2_mp"))
    assert [int(c.quant_weight().bit_width) for c in (espcn.conv1, espcn.conv2, espcn.conv3)] == [8, 2, 8]
    with pytest.raises(FqsrError, match="quantized models only"):
        get_config("edsr_float_mp")


def test_names_parse():
    cfg = get_config("espcn_w3a5_x3_fs")
    assert (cfg.arch, cfg.weight_bits, cfg.act_bits, cfg.scale, cfg.scaling, cfg.channels) == ("espcn", 3, 5, 3, "float", 1)
    assert cfg.twin_name == "espcn_float_x3"
    assert not get_config("edsr_float").quantized


def test_quantizer_report_measures_clipping_and_scale_choice():
    """The range diagnostics see every quantizer, and a range forced too narrow shows up as clipping."""
    from fqsr.models.calibrate import quantizer_report

    cfg = get_config("espcn_w4a4")
    model = calibrated(cfg)
    batches = [torch.rand(2, 1, 10, 10) for _ in range(2)]
    report = quantizer_report(model, batches)
    assert set(report["activations"]) == {"inp", "act1", "act2", "detail_quant", "out"}
    assert set(report["weights"]) == {"conv1", "conv2", "conv3", "anchor"}
    detail = report["activations"]["detail_quant"]  # added to the input pixel: the pixel's own scale
    assert detail["bits"] == 8 and detail["log2_scale"] == -8
    pixels = report["activations"]["inp"]
    assert pixels["bits"] == 8 and pixels["log2_scale"] == -8 and pixels["clipped"] == 0.0
    assert all(0.0 <= w["channels_off_best_scale"] <= 1.0 for w in report["weights"].values())
    before = report["activations"]["act1"]
    with torch.no_grad():  # four powers of two narrower than calibration chose
        model.act1.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value.sub_(4)
    after = quantizer_report(model, batches)["activations"]["act1"]
    assert after["log2_scale"] == before["log2_scale"] - 4
    assert after["clipped"] > before["clipped"] and after["sqnr_db"] < before["sqnr_db"]
