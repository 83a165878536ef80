"""The fqsr command: JSON on success, one error sentence and exit code 2 on bad input."""
import json

import pytest
import torch
from click.testing import CliRunner

from fqsr.apps.cli import main
from fqsr.models.checkpoint import save_checkpoint
from conftest import calibrated
from fqsr.models.registry import build_model, get_config


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code, err, fragment):
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("fqsr: error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_help_for_every_stage():
    for command in ["train", "eval", "export", "list", "demo"]:
        code, out, _ = run(command, "--help")
        assert code == 0 and "Usage" in out


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


def test_checkpoint_with_other_bits(tmp_path):
    path = save_checkpoint(tmp_path / "espcn.pt", calibrated(get_config("espcn_w4a4")))
    code, _, err = run("export", "espcn_w4a4", "--checkpoint", str(path), "--bits", "conv1=8")
    assert_one_line_error(code, err, "trained for espcn_w4a4")


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
    code, out, err = run("export", "fsrcnn_w4a4", "--tile", "6x5", "--random-tiles", "1")
    assert code == 0, err
    report = json.loads(out)
    assert report["equal"] and report["mismatches"] == 0 and report["elements"] == 2 * 6 * 5 * 4
    assert (tmp_build / "fsrcnn_w4a4" / "model.qonnx.onnx").is_file()
    assert "untrained" in err  # no fsrcnn checkpoint is shipped


def test_mixed_precision_export_gets_its_own_folder(tmp_build):
    code, out, err = run("export", "fsrcnn_w4a4", "--tile", "4x4", "--bits", "extract=8,*_act=3")
    assert code == 0, err
    onnx = json.loads(out)["onnx"]
    assert "/fsrcnn_w4a4-mp" in onnx


@pytest.mark.parametrize("args, fragment", [
    (["export", "espcn_w4a4", "--tile", "big"], "HxW"),
    (["export", "espcn_w4a4", "--bits", "conv9=4"], "matches no layer"),
    (["export", "espcn_float"], "float twin"),
])
def test_bad_options(args, fragment, tmp_build):
    code, _, err = run(*args)
    assert_one_line_error(code, err, fragment)
