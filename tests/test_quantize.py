"""Training-free quantization (fqsr quantize): DAQ's per-channel ranges, folded so the chain stays integer."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import small
from fqsr.apps.cli import main
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.models.checkpoint import load_model, read_checkpoint, shipped_checkpoint
from fqsr.models.data import eval_pairs
from fqsr.models.infer import super_resolve
from fqsr.models.metrics import psnr_y
from fqsr.models.quantize import (QuantizeSettings, act_step, build_quantized, calibration_batches, channel_links,
                                  daq_ranges, fold_channel_scales, fold_stream_gains, learned_points, load_float_twin,
                                  quantize, record_activations, stream_link)
from fqsr.models.registry import build_model, get_config

FAST = QuantizeSettings(calib=8, patch=16, samples=2048)


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def small_twin(cfg, seed=0):
    torch.manual_seed(seed)
    return build_model(get_config(cfg.twin_name).replace(features=cfg.features, blocks=cfg.blocks)).eval()


@pytest.mark.parametrize("name", ["tiny_w4a4", "espcn_w4a4", "fsrcnn_w4a4", "srresnet_w4a4", "edsr_w4a4_x4"])
def test_folding_keeps_the_float_function(name):
    """Scaling a producer's channels by g and its consumer's inputs by 1/g changes no output (ReLU, shuffle),
    nor does scaling the residual stream's writers by 1/g and its readers by g."""
    cfg = small(name, features=8, blocks=2)
    twin = small_twin(cfg)
    if cfg.arch == "srresnet":  # non-trivial batch-norm affine parameters
        for module in twin.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(module.weight, 0.5, 1.5)
    x = torch.rand(2, cfg.channels, 9, 9)
    with torch.no_grad():
        before = twin(x)
    state = {k: v.clone() for k, v in twin.state_dict().items()}
    generator = torch.Generator().manual_seed(1)
    links = channel_links(cfg)
    assert links
    for link in links:
        channels = state[f"{link.producer}.weight"].shape[0]
        groups = torch.rand(channels // link.group, generator=generator) * 8 + 0.1
        fold_channel_scales(state, link, groups.repeat_interleave(link.group))
    stream = stream_link(cfg)
    if stream is not None:  # the residual nets: the whole stream scaled per channel as well
        fold_stream_gains(state, stream, torch.rand(cfg.features, generator=generator) * 8 + 0.1)
    twin.load_state_dict(state)
    with torch.no_grad():
        after = twin(x)
    assert torch.allclose(before, after, atol=1e-5)
    assert not torch.equal(state[f"{links[0].consumer}.weight"], small_twin(cfg).state_dict()[
        f"{links[0].consumer}.weight"])


def test_daq_sets_per_channel_ranges_and_export_compile_are_equal(tmp_path):
    """Per-channel ranges on the ReLUs, the upsampler and the residual stream, all folded: still integer."""
    cfg = small("tiny_w4a4", features=8, blocks=1)
    twin = small_twin(cfg)
    model, meta = quantize(cfg, twin, FAST)
    assert set(meta["variants"]) == {"stream", "per_tensor_stream"}
    assert meta["output_mse_gray"] == min(meta["variants"].values())
    batches = calibration_batches(cfg, FAST)
    points = learned_points(build_model(cfg))
    stats = record_activations(twin, list(points), batches, FAST.samples, FAST.seed)
    state, steps, record = daq_ranges(cfg, twin.state_dict(), points, stats, stream=True)
    ranges = record["ranges"]
    assert ranges["body.0.act"]["per_channel"] and ranges["up.1"]["per_channel"]
    assert ranges["body.0.act"]["channel_step_spread"] > 1.5  # the channels' ranges differ
    assert ranges["skip_quant"]["shared_stream"] and ranges["body.0.quant"]["shared_stream"]
    assert record["stream"]["gain_spread"] > 1.5
    model = build_quantized(cfg, state, batches, steps)
    for name, entry in ranges.items():  # the step DAQ chose is the one the quantizer uses
        assert act_step(dict(model.named_modules())[name]) == 2.0 ** entry["log2_step"]
    report = export(model, tile=(4, 5), random_tiles=1, out_dir=tmp_path)
    assert report["equal"] and report["mismatches"] == 0
    compiled = compile_model(tmp_path / ONNX_NAME, random_tiles=1, reference=model)
    assert compiled["equal"] and compiled["mismatches"] == 0
    graph = load_qonnx(tmp_path / DATAFLOW_NAME)
    # body.0.conv1 with its ReLU's thresholds: one row of 15 (4-bit unsigned) per channel, rows distinct
    conv1 = [n for n in graph.graph.node if n.op_type.startswith("MVAU")][1]
    thresholds = graph.get_initializer(conv1.input[2])
    assert thresholds.shape == (8, 15) and len(np.unique(thresholds, axis=0)) == 8


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    """tiny_w4a4 from the shipped tiny twin by each method, scored on one embedded photograph."""
    cfg = get_config("tiny_w4a4")
    twin = load_float_twin(cfg, shipped_checkpoint("tiny_float"))
    (_, lr, hr), = [p for p in eval_pairs("embedded", 2, channels=3) if p[0] == "astronaut"]
    lr, hr = lr[:64, :64], hr[:128, :128]
    scores = {"float": psnr_y(super_resolve(twin, lr), hr, 2)}
    for method in ("daq", "calibrate"):
        model, _ = quantize(cfg, twin, QuantizeSettings(method=method, calib=16, patch=32, samples=4096))
        scores[method] = psnr_y(super_resolve(model, lr), hr, 2)
    return scores


def test_daq_beats_per_tensor_calibration_on_a_real_twin(tiny_results):
    # W4A4 with a 4-bit residual stream, no training: per-channel ranges and least-error steps win clearly.
    assert tiny_results["daq"] > tiny_results["calibrate"] + 1.0, tiny_results
    assert tiny_results["daq"] < tiny_results["float"]


def test_cli_quantize_writes_a_checkpoint_that_export_and_compile_take(tmp_build, tmp_path):
    out = tmp_path / "tiny-daq.pt"
    code, text, err = run("quantize", "tiny_w4a4", "--calib", "8", "--patch", "16", "--out", str(out), "--json")
    assert code == 0, err
    report = json.loads(text)
    assert report["checkpoint"] == str(out) and report["method"] == "daq"
    payload = read_checkpoint(out)
    assert payload["meta"]["stage"] == "ptq-daq" and payload["meta"]["float_twin"] == "tiny_float"
    model, meta = load_model("tiny_w4a4", out, require_trained=True)
    assert "requantized" not in meta
    code, text, err = run("export", "tiny_w4a4", "--checkpoint", str(out), "--tile", "4x4", "--random-tiles", "1",
                          "--json")
    assert code == 0, err
    exported = json.loads(text)
    assert exported["equal"] and exported["mismatches"] == 0
    code, text, err = run("compile", "tiny_w4a4", "--tile", "4x4", "--random-tiles", "1", "--json")
    assert code == 0, err
    compiled = json.loads(text)
    assert compiled["equal"] and compiled["mismatches"] == 0


def test_cli_quantize_then_qat_continues_from_the_daq_checkpoint(tmp_path):
    out = tmp_path / "espcn-daq.pt"
    code, text, err = run("quantize", "espcn_w4a4", "--calib", "4", "--patch", "16", "--qat", "1", "--out", str(out),
                          "--json")
    assert code == 0, err
    qat = json.loads(text)["qat"]
    meta = read_checkpoint(qat["checkpoint"])["meta"]
    assert qat["iterations"] == meta["iterations"] == 1
    assert meta["previous"]["stage"] == "ptq-daq" and meta["float_twin"] == "espcn_float"


@pytest.mark.parametrize("args, fragment", [
    (["tiny_w4a4", "--method", "gptq"], "unknown quantization method 'gptq'; choose one of daq, calibrate"),
    (["tiny_w4a4", "--bits", "body.0.conv1=9"], "layer body.0.conv1 asks for 9 bits; fqsr supports 2 to 8"),
    (["tiny_w9a4"], "bit widths go from 2 to 8"),
    (["tiny_float"], "tiny_float is a float model"),
    (["tiny_w4a4", "--calib", "0"], "--calib must be at least 1"),
    (["tiny_w4a4", "--qat", "-1"], "--qat must be 0 or more"),
    (["tiny_w4a4", "--float-checkpoint", "missing.pt"], "no float twin checkpoint missing.pt"),
])
def test_bad_arguments_are_one_sentence(args, fragment, tmp_path):
    out = tmp_path / "never.pt"
    code, _, err = run("quantize", *args, "--out", str(out))
    lines = [line for line in err.splitlines() if line.startswith("fqsr: error:")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err and not out.exists()
