"""Bring your own model: user networks (tests/user_models/) through export -> compile -> rtl -> verify from the CLI
and from Python, the README section as written, the folder checks, and one error sentence per unmappable construct."""
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantReLU
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8ActPerTensorFloat, Int8WeightPerTensorFixedPoint,
                            ShiftedUint8ActPerTensorFloat, Uint8ActPerTensorFixedPoint, Uint8ActPerTensorFloat)
from click.testing import CliRunner
from torch import nn

from fqsr.apps import api as fqsr
from fqsr.apps.cli import main
from fqsr.flows.compile import DATAFLOW_NAME
from fqsr.flows.artifacts import content_hash
from fqsr.flows.export import ONNX_NAME, UserModel
from fqsr.models.errors import FqsrError

ROOT = Path(__file__).resolve().parents[1]
USER_MODELS = ROOT / "tests" / "user_models"


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own model"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_readme_bring_your_own_model_runs_as_written(tmp_path, monkeypatch):
    """Both user networks, every stage, every equality: the CLI door (RGB, BN, float biases, x3) and the
    Python door (residual through a shared quantizer, x2). ``build/`` is redirected to tmp_path."""
    monkeypatch.chdir(ROOT)
    (bash,) = readme_blocks("bash")
    reports = []
    for line in bash.strip().splitlines():
        args = shlex.split(line.split("#")[0].replace("build/", f"{tmp_path}/"))
        assert args[0] == "fqsr"
        if args[1] == "export":
            args += ["--out-dir", f"{tmp_path}/rgb_bn_x3", "--random-tiles", "1"]
        result = cli(*args[1:])  # as written: the short summary names the result
        assert result.exit_code == 0, (line, result.output)
        assert "equal" in result.stdout or args[1] == "rtl", result.stdout
        result = cli(*args[1:], "--json")  # the same command again, for its report
        assert result.exit_code == 0, (line, result.output)
        reports.append(json.loads(result.stdout))
    exported, compiled, rtl, verified = reports
    folder = tmp_path / "rgb_bn_x3"
    assert exported["equal"] and exported["mismatches"] == 0 and exported["elements"] == 2 * 3 * 12 * 12
    assert exported["user_model"]["scale"] == 3 and exported["user_model"]["module"].endswith("rgb_bn_x3.py:rgb_bn_x3")
    assert compiled["equal"] and compiled["reference"] == "qonnx" and compiled["mismatches"] == 0
    assert any("BatchNormalization" in f for f in compiled["float_requantizers"]) and compiled["float_tie_budget"] == 4
    assert "PixelShuffle_rtl" in compiled["hardware_ops"]
    assert (folder / "rtl" / "top.v").is_file() and rtl["nodes"]
    assert verified["equal"] and verified["mismatches"] == 0 and verified["elements"] > 0

    (python,) = readme_blocks("python")
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = {}
    for name in ("export", "compile", "rtl", "verify"):  # record every report the README's calls return
        real = getattr(fqsr, name)
        monkeypatch.setattr(fqsr, name, lambda *a, _real=real, _name=name, **k: calls.setdefault(_name, _real(*a, **k)))
    exec(compile(python.replace('"build/', f'"{tmp_path}/'), "README.md", "exec"), {})
    assert calls["export"]["equal"] and calls["export"]["user_model"]["scale"] == 2
    assert calls["compile"]["equal"] and calls["compile"]["reference"] == "brevitas"
    assert "ElementwiseAdd_hls" in calls["compile"]["hardware_ops"]
    assert calls["verify"]["equal"] and calls["verify"]["mismatches"] == 0


def test_each_door_takes_the_other_network(tmp_path, monkeypatch):
    """The residual net from the CLI and the RGB net from Python, up to FINN; then the QONNX file door."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "res"
    result = cli("export", "--module", "tests/user_models/residual.py:residual", "--tile", "4x4", "--channels", "1",
                 "--out-dir", out, "--random-tiles", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["user_model"]["name"] == "Residual"
    result = cli("compile", out, "--random-tiles", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["equal"]

    net = UserModel.parse(str(USER_MODELS / "rgb_bn_x3.py") + ":rgb_bn_x3").load()
    assert fqsr.export(net, tile="4x5", out_dir=tmp_path / "rgb", random_tiles=1, scale=3)["equal"]
    compiled = fqsr.compile(tmp_path / "rgb", reference=net, random_tiles=1)
    assert compiled["equal"] and compiled["float_tie_mismatches"] == 0

    # a QONNX file made elsewhere: compiled into its own folder, proven against QONNX's execution
    elsewhere = tmp_path / "made_elsewhere.onnx"
    elsewhere.write_bytes((out / ONNX_NAME).read_bytes())
    result = cli("compile", elsewhere, "--out-dir", tmp_path / "imported", "--random-tiles", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reference"] == "qonnx" and json.loads(result.stdout)["equal"]
    identity = json.loads((tmp_path / "imported" / "export.json").read_text())["user_model"]
    assert identity["onnx_source"] == str(elsewhere.resolve()) and identity["scale"] == 2
    result = cli("rtl", tmp_path / "imported")
    assert result.exit_code == 0, result.output


def test_folders_and_names_are_checked(tmp_path, monkeypatch, tmp_build):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "res"
    assert cli("export", "--module", "tests/user_models/residual.py:residual", "--tile", "3x3", "--out-dir", out,
               "--random-tiles", "0").exit_code == 0
    for args, sentence in [
        (("rtl", "nosuchmodel", "--out-dir", out), "'nosuchmodel' is not a zoo model and .* holds no export of a "
                                                   "user model 'nosuchmodel'"),
        (("rtl", "nosuchmodel"), "'nosuchmodel' is not a zoo model;"),
        (("rtl", "tiny_w4a4", "--out-dir", out), "holds the export of the user model 'Residual', not of tiny_w4a4"),
        (("rtl", "--out-dir", tmp_path / "empty"), "holds no export"),
        (("rtl", "Residual", "--out-dir", out), r"dataflow.onnx does not exist; run `fqsr compile --out-dir"),
        (("rtl",), "give a zoo MODEL, a model folder, or --out-dir DIR"),
        (("verify", "--out-dir", out, "--bits", "head=8"), "--bits applies to zoo models"),
        (("hil", "--out-dir", out, "--data", "embedded", "--checkpoint", "x.pt"), "--checkpoint and "
                                                                                   "--float-checkpoint apply to zoo"),
        (("export",), "give a zoo MODEL or --module"),
        (("export", "tiny_w4a4", "--module", "x.py:f"), "either a zoo MODEL or --module"),
        (("export", "--module", "tests/user_models/residual.py"), "must look like path/to/file.py:factory"),
        (("export", "--module", "tests/user_models/nothere.py:f"), "is not a file"),
        (("export", "--module", "tests/user_models/residual.py:nothere"), "has no callable nothere"),
        (("export", "--module", "no_such_package_xyz.mod:f"), "importing no_such_package_xyz.mod failed"),
        (("export", "--module", "tests/user_models/residual.py:Residual", "--scale", "3", "--tile", "3x3",
          "--out-dir", tmp_path / "x"), "upscales x2, not x3 as --scale says"),
        (("compile", tmp_path / "nothere.onnx"), "nothere.onnx does not exist"),
    ]:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert re.search(sentence, result.stderr) and "Traceback" not in result.output, (args, result.stderr)
    assert not (tmp_path / "x" / ONNX_NAME).exists()


@pytest.mark.parametrize("change", ["tile", "source"])
def test_build_re_exports_a_user_model_from_its_factory(change, tmp_path, monkeypatch):
    """`fqsr build --out-dir DIR` at another tile, or after the model's file changed: export from the recorded
    factory, compile, rtl, then the storage check of a device too small for the ROMs stops it (before Yosys)."""
    import dataclasses

    from fqsr.hw import board as board_module

    source = tmp_path / "residual.py"
    source.write_text((USER_MODELS / "residual.py").read_text())
    out = tmp_path / "res"
    tile = "3x3" if change == "tile" else "4x4"
    assert cli("export", "--module", f"{source}:residual", "--tile", "4x4", "--out-dir", out,
               "--random-tiles", "0").exit_code == 0
    if change == "source":
        source.write_text(source.read_text() + "# edited\n")
    tiny = dataclasses.replace(board_module.BOARDS["ulx3s-25f"], name="ulx3s-tiny",
                               capacity={"LUT": 2, "FF": 100_000, "BRAM": 0, "DSP": 100})
    monkeypatch.setitem(board_module.BOARDS, "ulx3s-tiny", tiny)
    result = cli("build", "--out-dir", out, "--board", "ulx3s-tiny", "--tile", tile)
    assert result.exit_code == 2, result.output
    for stage in ("export", "compile", "rtl"):
        assert f"Residual: {stage:8} done in" in result.stderr
    assert "Synthesis and place and route were not run" in result.stderr
    exported = json.loads((out / "export.json").read_text())
    assert exported["tile"] == [int(tile[0])] * 2 and exported["equal"] and exported["user_model"]["name"] == "Residual"
    assert exported["user_model"]["sha256"] == content_hash(source)
    assert json.loads((out / "build.json").read_text())["model"] == "Residual"


def test_hil_on_a_user_model(tmp_path, monkeypatch):
    """Whole images in overlapping tiles through FINN's execution of the compiled user model, assembled, equal to
    the model reloaded from its recorded factory; PSNR from both sides equal."""
    import imageio.v3 as iio
    from skimage import data

    monkeypatch.chdir(ROOT)
    images = tmp_path / "images"
    images.mkdir()
    iio.imwrite(images / "crop.png", data.astronaut()[200:240, 180:220])
    out = tmp_path / "res"
    assert cli("export", "--module", "tests/user_models/residual.py:residual", "--tile", "10x10", "--out-dir", out,
               "--random-tiles", "0").exit_code == 0
    assert cli("compile", out, "--random-tiles", "0").exit_code == 0
    result = cli("hil", out, "--data", images, "--device", "python", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "Residual" and report["equal"] and report["mismatches"] == 0
    assert report["elements"] == 40 * 40 and report["tiles"] == 36 and report["halo"] == 4
    assert report["psnr_y_hw"] == report["psnr_y_quant_model"] and report["psnr_equal"]
    assert json.loads((out / "hil.json").read_text())["equal"]


def test_sweep_takes_a_user_model(tmp_path, monkeypatch):
    """`fqsr sweep --module`: the user model exported once, folded for each target frame rate, FINN's estimates."""
    monkeypatch.chdir(ROOT)
    result = cli("sweep", "--module", "tests/user_models/residual.py:residual", "--target-fps", "1000",
                 "--target-fps", "100000", "--board", "zcu104", "--tile", "4x4", "--jobs", "1", "--out", tmp_path,
                 "--work", tmp_path / "work")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert [(r["point"], r["arch"], r["scale"], r["target_fps"]) for r in rows] == [
        ("user-residual", "user", 2, 1000.0), ("user-residual", "user", 2, 100000.0)]
    assert not any(r["error"] for r in rows) and rows[0]["psnr_y"] == "untrained"
    assert rows[1]["fps"] > rows[0]["fps"] and rows[1]["lut"] > rows[0]["lut"]
    assert "user model `" in (tmp_path / "sweep.md").read_text()


class _Net(nn.Module):
    """input quantizer -> QuantConv -> [middle] -> QuantConv -> output quantizer -> PixelShuffle(2)."""

    def __init__(self, inp, middle=None, out=None, stride=1, r=2):
        super().__init__()
        conv = dict(kernel_size=3, padding=1, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4)
        self.inp = inp
        self.conv1 = QuantConv2d(1, 4, stride=stride, bias=False, **conv)
        self.middle = middle or QuantReLU(bit_width=4, act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv2 = QuantConv2d(4, r * r, bias=False, **conv)
        self.out = out or QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return self.shuffle(self.out(self.conv2(self.middle(self.conv1(self.inp(x))))))


def _calibrated(net, channels=1):
    torch.manual_seed(0)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(2, channels, 8, 8))
    return net.eval()


@pytest.mark.parametrize("inp", ["uint8_po2", "int8_po2", "relu_quant_relu", "none", "per_channel_middle"])
def test_quantizers_map_exactly(inp, tmp_path):
    """Input quantizers other than fqsr's pixel quantizer become a requantization of the pixels; a
    per-channel activation scale becomes per-channel thresholds."""
    if inp == "per_channel_middle":
        per_channel = QuantIdentity(act_quant=Int8ActPerTensorFloat, scaling_per_output_channel=True,
                                    per_channel_broadcastable_shape=(1, 4, 1, 1),
                                    scaling_stats_permute_dims=(1, 0, 2, 3), return_quant_tensor=True)
        middle = nn.Sequential(per_channel, QuantReLU(bit_width=4, act_quant=Uint8ActPerTensorFixedPoint,
                                                      return_quant_tensor=True))
        net = _calibrated(_Net(QuantIdentity(**PIXELS), middle=middle))
        assert len(set(net.middle[0](torch.rand(1, 4, 3, 3)).scale.flatten().tolist())) == 4
        assert fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=1)["equal"]
        compiled = fqsr.compile(tmp_path, reference=net, random_tiles=2)
        assert compiled["equal"] and compiled["float_tie_mismatches"] == 0
        return
    first = {
        "uint8_po2": QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        "int8_po2": QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=6, return_quant_tensor=True),
        "relu_quant_relu": nn.Sequential(nn.ReLU(), QuantReLU(act_quant=Uint8ActPerTensorFloat,
                                                              return_quant_tensor=True)),
        "none": nn.Identity(),
    }[inp]
    net = _calibrated(_Net(first))
    torch.manual_seed(0)
    assert fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=1)["equal"]
    compiled = fqsr.compile(tmp_path, reference=net, random_tiles=2)
    assert compiled["equal"] and compiled["mismatches"] == 0


def _refused(net, tmp_path, sentence, at="compile"):
    net = _calibrated(net)
    if at == "export":
        with pytest.raises(FqsrError, match=sentence):
            fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=0)
        return
    fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=0)
    with pytest.raises(FqsrError, match=sentence):
        fqsr.compile(tmp_path, random_tiles=0)
    assert not (tmp_path / DATAFLOW_NAME).exists()


PIXELS = dict(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True)


def test_unmappable_op_is_named(tmp_path):
    middle = nn.Sequential(QuantReLU(bit_width=4, return_quant_tensor=True), nn.MaxPool2d(3, 1, 1))
    _refused(_Net(QuantIdentity(**PIXELS), middle=middle), tmp_path,
             r"node MaxPool_\d+ has op type MaxPool, which fqsr cannot map to FINN hardware \(it maps Conv, .*\); "
             r"remove it from the model")


def test_strided_conv_is_refused(tmp_path):
    _refused(_Net(QuantIdentity(**PIXELS), stride=2, r=4), tmp_path,
             r"node Conv_\d+ \(Conv\) is strided \(strides=\[2, 2\]\), .* use a dense stride-1 convolution")


def test_float_into_a_conv_is_refused(tmp_path):
    _refused(_Net(QuantIdentity(**PIXELS), middle=nn.BatchNorm2d(4)), tmp_path,
             r"node Conv_\d+ \(Conv\) reads the float output of BatchNormalization_\d+ \(BatchNormalization\); "
             r"put a quantizer")


def test_float_weights_are_refused(tmp_path):
    class FloatConv(_Net):
        def __init__(self):
            super().__init__(QuantIdentity(**PIXELS))
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.shuffle(self.out(self.conv2(self.middle(self.conv1(self.inp(x))).value)))

    _refused(FloatConv(), tmp_path, r"node Conv_\d+ \(Conv\) has float weights; use brevitas.nn.QuantConv2d")


def test_add_of_two_scales_is_refused(tmp_path):
    class TwoScales(_Net):
        def __init__(self):
            super().__init__(QuantIdentity(**PIXELS))
            self.a = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
            self.b = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True)
            self.conv2 = QuantConv2d(4, 4, 3, padding=1, weight_quant=Int8WeightPerTensorFixedPoint, bias=False)

        def forward(self, x):
            h = self.a(self.conv1(self.inp(x)))
            return self.shuffle(self.out(h.value + self.b(self.conv2(self.middle(h))).value))

    _refused(TwoScales(), tmp_path, r"node Add_\d+ \(Add\) adds tensors of different scales .* one shared quantizer")


def test_zero_point_is_refused(tmp_path):
    middle = QuantIdentity(act_quant=ShiftedUint8ActPerTensorFloat, return_quant_tensor=True)
    _refused(_Net(QuantIdentity(**PIXELS), middle=middle), tmp_path,
             r"node Quant_\d+ \(Quant\) has a non-zero zero point.* use a symmetric quantizer")


def test_a_forked_accumulator_maps_unless_a_branch_falls(tmp_path):
    """A conv's accumulator read by a quantizer and by a batch norm: two thresholdings of one MVAU output,
    proven equal; with a negative batch-norm gain its branch would need negated weights: one sentence."""
    class Fork(_Net):
        def __init__(self):
            super().__init__(QuantIdentity(**PIXELS))
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            h = self.conv1(self.inp(x))
            y = self.middle(h) + self.middle(self.bn(h))
            return self.shuffle(self.out(self.conv2(y)))

    net = _calibrated(Fork())
    fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=0)
    assert fqsr.compile(tmp_path, reference=net, random_tiles=1)["equal"]
    with torch.no_grad():
        net.bn.weight.fill_(-1.0)
    _refused(net, tmp_path, r"node Quant_\d+ \(Quant\) falls as the accumulator Conv_\d+_out0 rises .* quantize the "
             r"conv's output before the fork")


def test_depth_to_space_of_another_order_is_refused(tmp_path):
    """ONNX DepthToSpace in DCR mode (TensorFlow's order) is not the channel order the pixel shuffle streams."""
    from fqsr.flows.export import load_qonnx

    net = _calibrated(_Net(QuantIdentity(**PIXELS)))
    fqsr.export(net, tile=(4, 4), out_dir=tmp_path, random_tiles=0)
    graph = load_qonnx(tmp_path / ONNX_NAME)
    d2s = next(n for n in graph.graph.node if n.op_type == "DepthToSpace")
    next(a for a in d2s.attribute if a.name == "mode").s = b"DCR"
    (tmp_path / "dcr").mkdir()
    graph.save(str(tmp_path / "dcr" / ONNX_NAME))  # a graph of the user's own, not fqsr's (edited) export
    with pytest.raises(FqsrError, match=rf"node {d2s.name} \(DepthToSpace\) uses mode DCR, .* use "
                                        r"torch.nn.PixelShuffle \(mode CRD\)"):
        fqsr.compile(tmp_path / "dcr", random_tiles=0)
