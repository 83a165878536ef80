"""The fqsr command: a short summary (or --json) on success, one error sentence and exit code 2 on bad input."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fqsr.apps.cli import main
from fqsr.models.checkpoint import save_checkpoint, shipped_checkpoint
from conftest import calibrated
from fqsr.models.registry import build_model, get_config

COMMANDS = ["train", "quantize", "eval", "export", "list", "demo", "compile", "rtl", "verify", "hil", "build", "report", "sweep", "video"]
README_BITS = "head=8,tail=8,up.*=6,body.*.conv1=3"  # README.md, Models: the mixed-precision example


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code, err, fragment):
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("fqsr: error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_help_for_every_stage():
    for command in COMMANDS:
        code, out, _ = run(command, "--help")
        assert code == 0 and "Usage" in out and "--json" in out, command


def test_list_summary_and_json_show_the_same_models():
    code, out, _ = run("list")
    assert code == 0 and not out.startswith("{")
    code, text, _ = run("list", "--json")
    models = json.loads(text)["models"]
    assert code == 0 and all(row["model"] in out for row in models)


def test_unknown_model():
    code, _, err = run("export", "resnet50_w4a4")
    assert_one_line_error(code, err, "unknown model 'resnet50_w4a4'")


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run("export", "tiny_w4a4", "--checkpoint", str(bad))
    assert_one_line_error(code, err, "corrupt")


def test_checkpoint_of_another_model(tmp_path):
    path = save_checkpoint(tmp_path / "espcn.pt", calibrated(get_config("espcn_w4a4")))
    code, _, err = run("export", "fsrcnn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "trained for espcn_w4a4, not fsrcnn_w4a4")


def test_checkpoint_of_another_network_with_the_same_name(tmp_path):
    path = save_checkpoint(tmp_path / "espcn.pt", calibrated(get_config("espcn_w4a4").replace(features=8)))
    code, _, err = run("export", "espcn_w4a4", "--checkpoint", str(path), "--bits", "conv1=8")
    assert_one_line_error(code, err, "trained for espcn_w4a4 (features=8), not espcn_w4a4")


def test_bits_requantize_a_checkpoint_and_say_so(tmp_build, tmp_path):
    path = save_checkpoint(tmp_path / "espcn.pt", calibrated(get_config("espcn_w4a4")))
    code, out, err = run("export", "espcn_w4a4", "--checkpoint", str(path), "--bits", "conv1=8", "--tile", "4x4",
                         "--random-tiles", "1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["equal"] and report["requantized"]["to_bits"] == "conv1=8"
    assert report["requantized"]["note"].startswith("re-quantized espcn_w4a4's weights to conv1=8; no QAT (run "
                                                    "`fqsr train espcn_w4a4 --bits 'conv1=8' --init")


def test_readme_mixed_precision_example_on_the_shipped_edsr(tmp_build):
    """README's `fqsr export edsr_w4a4 --bits ...`, on a 4x4 tile: the shipped weights, re-quantized, proven."""
    code, out, err = run("export", "edsr_w4a4", "--bits", README_BITS, "--tile", "4x4", "--random-tiles", "1")
    assert code == 0, err
    assert f"re-quantized edsr_w4a4's weights to {README_BITS}; no QAT" in out
    assert "Brevitas == QONNX: equal yes, mismatches 0 of 384 elements" in out  # 2 tiles x 3 x 8 x 8
    assert "untrained" not in out + err


def test_short_qat_at_other_bits_from_a_shipped_checkpoint(tmp_build, tmp_path):
    """`fqsr train --bits ... --init CKPT`: QAT from the re-quantized checkpoint, in files of its own."""
    code, out, err = run("train", "espcn_w4a4", "--bits", "conv1=8", "--init", str(shipped_checkpoint("espcn_w4a4")),
                         "--float-checkpoint", str(shipped_checkpoint("espcn_float")), "--qat-iters", "2",
                         "--batch", "2", "--patch", "8", "--data", "embedded:train", "--out", str(tmp_path), "--json")
    assert code == 0, err
    trained = json.loads(out)["checkpoint"]
    assert "espcn_w4a4-mp" in trained
    meta = torch.load(trained, weights_only=True)["meta"]
    assert meta["iterations"] == 2 and meta["previous"]["requantized"]["to_bits"] == "conv1=8"
    code, out, err = run("export", "espcn_w4a4", "--bits", "conv1=8", "--checkpoint", trained, "--tile", "4x4",
                         "--random-tiles", "1", "--json")
    assert code == 0, err
    assert "requantized" not in json.loads(out)  # trained at these widths: loaded as it is


def test_checkpoint_missing_tensors(tmp_path):
    """An uncalibrated net has no activation ranges yet: loading it must say what is missing."""
    path = save_checkpoint(tmp_path / "espcn.pt", build_model(get_config("espcn_w4a4")))
    code, _, err = run("export", "espcn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "2 tensors missing and 0 unexpected")  # act1, act2


def test_torch_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    code, _, err = run("eval", "espcn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "not an fqsr checkpoint")


def test_missing_data_folder(tmp_path):
    path = save_checkpoint(tmp_path / "espcn.pt", calibrated(get_config("espcn_w4a4")))
    code, _, err = run("eval", "espcn_w4a4", "--checkpoint", str(path), "--data", str(tmp_path / "nope"))
    assert_one_line_error(code, err, "nope")


def test_export_prints_json_and_writes_artifacts(tmp_build):
    code, out, err = run("export", "fsrcnn_w4a4", "--tile", "6x5", "--random-tiles", "1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["equal"] and report["mismatches"] == 0 and report["elements"] == 2 * 6 * 5 * 4
    assert (tmp_build / "fsrcnn_w4a4" / "model.qonnx.onnx").is_file()
    assert "untrained" in err  # no fsrcnn checkpoint is shipped


def test_mixed_precision_export_gets_its_own_folder(tmp_build):
    code, out, err = run("export", "fsrcnn_w4a4", "--tile", "4x4", "--bits", "extract=8,*_act=3")
    assert code == 0, err
    assert out.startswith("fsrcnn_w4a4: Brevitas == QONNX: equal yes, mismatches 0 of")
    assert "/fsrcnn_w4a4-mp" in out and "untrained yes" in out


@pytest.mark.parametrize("args, fragment", [
    (["export", "espcn_w4a4", "--tile", "big"], "HxW"),
    (["export", "espcn_w4a4", "--bits", "conv9=4"], "matches no layer"),
    (["export", "espcn_float"], "float twin"),
])
def test_bad_options(args, fragment, tmp_build):
    code, _, err = run(*args)
    assert_one_line_error(code, err, fragment)


def shipped_payload():
    return torch.load(shipped_checkpoint("espcn_w4a4"), weights_only=True)


def test_torch_file_without_fqsr_keys(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({"format": "fqsr-1", "state_dict": shipped_payload()["state_dict"]}, path)
    code, _, err = run("eval", "espcn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "is not a complete fqsr checkpoint: it has no config")


def test_unreadable_config(tmp_path):
    payload = shipped_payload()
    payload["config"]["depth"] = 3
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    code, _, err = run("eval", "espcn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "has a config fqsr cannot read")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_before_use(tmp_path, value):
    payload = shipped_payload()
    payload["state_dict"]["conv2.weight"][0, 0, 0, 0] = value
    path = tmp_path / "nan.pt"
    torch.save(payload, path)
    code, _, err = run("export", "espcn_w4a4", "--checkpoint", str(path), "--out-dir", str(tmp_path / "out"))
    assert_one_line_error(code, err, f"checkpoint {path} has non-finite values in layer conv2 (conv2.weight)")
    assert not (tmp_path / "out").exists()


def test_wrong_shapes(tmp_path):
    payload = shipped_payload()
    payload["state_dict"]["conv2.weight"] = payload["state_dict"]["conv2.weight"][:16]
    path = tmp_path / "cut.pt"
    torch.save(payload, path)
    code, _, err = run("eval", "espcn_w4a4", "--checkpoint", str(path))
    assert_one_line_error(code, err, "does not fit espcn_w4a4: conv2.weight has shape (16, 64, 3, 3), "
                                     "the model's is (32, 64, 3, 3)")


@pytest.mark.parametrize("side", [1, 8, 15])
def test_images_too_small_to_evaluate(tmp_path, side):
    (tmp_path / "img").mkdir()
    Image.fromarray(np.full((side, side, 3), 128, np.uint8)).save(tmp_path / "img" / "small.png")
    code, _, err = run("eval", "espcn_w4a4", "--data", str(tmp_path / "img"))
    assert_one_line_error(code, err, f"is {side}x{side} pixels; x2 evaluation needs at least 16x16")


def test_eval_summary_and_json_of_the_smallest_image(tmp_path):
    (tmp_path / "img").mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)).save(tmp_path / "img" / "a.png")
    code, out, err = run("eval", "espcn_w4a4", "--data", str(tmp_path / "img"))
    assert code == 0, err
    code, text, err = run("eval", "espcn_w4a4", "--data", str(tmp_path / "img"), "--json")
    report = json.loads(text)
    for key in ("psnr_y_quant", "ssim_y_quant", "psnr_y_float", "psnr_y_bicubic"):
        assert key in out and key in report
    assert f"psnr_y_quant {report['psnr_y_quant']:.3f} dB" in out
    code, out, err = run("eval", "espcn_w4a4", "--data", str(tmp_path / "img"), "--bits", "conv1=8")
    assert code == 0 and "requantized: re-quantized espcn_w4a4's weights to conv1=8; no QAT" in out, err
