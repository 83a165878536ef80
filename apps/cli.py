"""The ``fqsr`` command: one sub-command per stage, each a thin layer over a stage function."""
from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import click

from fqsr.models.errors import FqsrError

from fqsr.apps import summary
from fqsr.apps.pipeline import DEFAULT_BOARD, DEFAULT_SIM, DEFAULT_TILE, DEFAULTS, ROLL_CHOICES, BuildConfig, run_steps

DEFAULT_MODEL = "tiny_w4a4_mp"


def user_errors(func):
    """Turn an FqsrError into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FqsrError as exc:
            click.echo(f"fqsr: error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def emit(report: dict, as_json: bool, lines: list[str]):
    """Print ``report`` as JSON with ``--json``, else the command's short human summary (same key names)."""
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo("\n".join(lines))


def resolve_config(model: str, bits: str | None):
    from fqsr.models.registry import get_config, parse_bits

    cfg = get_config(model)
    if bits:
        if not cfg.quantized:
            raise FqsrError(f"{model} is a float model; --bits applies to quantized models")
        cfg = cfg.replace(bits=cfg.bits + parse_bits(bits))
    return cfg


def user_model_in(folder: Path) -> dict | None:
    """The user model (``user_model`` of export.json) whose export ``folder`` holds, if any."""
    from fqsr.flows.export import exported_identity

    return (exported_identity(folder) or {}).get("user_model")


def stage_folder(model: str | None, out_dir: str | None, bits: str | None) -> Path:
    """The folder a stage reads and writes.

    A zoo MODEL: --out-dir, else build/<model> (with --bits in the name). A folder holding an export
    (a user model's or a zoo model's): MODEL given as that folder, or --out-dir with MODEL omitted or
    naming the user model recorded in it. Any other name is one error sentence."""
    from fqsr.flows.artifacts import model_dir

    if model is not None and out_dir is None and Path(model).is_dir():
        model, out_dir = None, model
    if model is None:
        if out_dir is None:
            raise FqsrError("give a zoo MODEL, a model folder, or --out-dir DIR")
        folder = Path(out_dir)
        if not (folder / "export.json").is_file():
            raise FqsrError(f"{folder} holds no export (export.json); run `fqsr export MODEL --out-dir {folder}` "
                            f"or `fqsr export --module FILE.py:FACTORY --out-dir {folder}` first")
        if bits and user_model_in(folder):
            raise FqsrError("--bits applies to zoo models; set a user model's bit widths in its code")
        return folder
    from fqsr.models.registry import ZOO

    try:
        cfg = resolve_config(model, bits)
    except FqsrError:
        user = user_model_in(Path(out_dir)) if out_dir else None
        if user is None or user.get("name") != model:
            where = f" and {out_dir} holds no export of a user model '{model}'" if out_dir else ""
            raise FqsrError(f"'{model}' is not a zoo model{where}; zoo models are e.g. {', '.join(ZOO[:3])}, and "
                            f"a user model's folder is addressed as `--out-dir DIR` (or DIR)") from None
        if bits:
            raise FqsrError("--bits applies to zoo models; set a user model's bit widths in its code")
        return Path(out_dir)
    folder = Path(out_dir) if out_dir else model_dir(cfg)
    user = user_model_in(folder)
    if user is not None:
        raise FqsrError(f"{folder} holds the export of the user model '{user.get('name')}', not of {model}; "
                        f"address it as `--out-dir {folder}` without a model name")
    return folder


def folder_model(model: str | None, out_dir: str | None, bits: str | None):
    """(folder, zoo config or None, user model record or None) for a command that may rebuild the model."""
    from fqsr.models.registry import ModelConfig

    folder = stage_folder(model, out_dir, bits)
    user = user_model_in(folder)
    if user is not None:
        return folder, None, user
    if model is not None and not Path(model).is_dir():
        return folder, resolve_config(model, bits), None
    from fqsr.flows.export import exported_identity

    config = (exported_identity(folder) or {}).get("config")
    if not config:
        raise FqsrError(f"{folder}/export.json names no model; export it again")
    return folder, ModelConfig.from_dict(config), None


def folder_label(folder: Path, model: str | None) -> str:
    """How a command names the folder's model to the user: the zoo name, else ``--out-dir DIR``."""
    return model if model and not Path(model).is_dir() and user_model_in(folder) is None else f"--out-dir {folder}"


bits_option = click.option(
    "--bits", default=None, metavar="PATTERN=N,...",
    help="Per-layer bit widths, e.g. 'head=8,tail=8,body.*.conv1=3' (fnmatch over layer names).")
checkpoint_option = click.option(
    "--checkpoint", type=click.Path(dir_okay=False), default=None,
    help="Checkpoint file (default: the shipped one for MODEL).")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the full result as JSON instead of the short summary.")
# The settings of a build, with the defaults of fqsr.apps.pipeline.BuildConfig: every command that takes
# one takes it with the same name, meaning and default.
TILE_TEXT = "x".join(map(str, DEFAULT_TILE))


def tile_option(command):
    """--tile HxW or --frame WxH: the LR geometry the hardware is built for (``geometry`` resolves the two)."""
    command = click.option("--frame", default=None,
                           help="Build for whole LR frames of this size, WxH as video sizes are given (e.g. 640x360): "
                                "rows stream through line buffers as wide as the frame, no halo, no tiles.")(command)
    return click.option("--tile", default=None,
                        help=f"LR tile (HxW) the hardware is built for; line buffers and skip FIFOs grow with it. "
                             f"[default: {TILE_TEXT}]")(command)
board_option = click.option("--board", default=DEFAULT_BOARD, show_default=True,
                            help="ulx3s-85f, ulx3s-45f, ulx3s-25f (bitstream); kv260, zcu104, pynq-z2 (Yosys counts). "
                                 "Its clock and FINN part are the defaults of the estimates.")
clock_option = click.option("--clock-mhz", type=float, default=None,
                            help="Clock of --target-fps and of the fps estimates (default: the board's).")
target_fps_option = click.option("--target-fps", type=float, default=None,
                                 help="Fold for this many tiles per second at the clock (default: FINN's most "
                                      "folded, PE = SIMD = 1).")
fps_option = click.option("--fps", default=None, metavar="max|N",
                          help="Search the folding for the board: the most frames (tiles) per second ('max') or at "
                               "least N per second, within the board's LUT/FF/block RAM/multiplier budget by the "
                               "ECP5 cost model; the build confirms by synthesis and steps back if it does not fit.")
folding_option = click.option("--folding", type=click.Path(dir_okay=False), default=None,
                              help="Apply this folding JSON (e.g. an edited build/<model>/folding.json).")
random_tiles_option = click.option("--random-tiles", type=int, default=DEFAULTS["random_tiles"], show_default=True,
                                   help="Random tiles in the equality check (plus one real-image tile).")
sim_option = click.option(
    "--sim", type=click.Choice(["verilator", "cocotb", "icarus"]), default=DEFAULT_SIM, show_default=True,
    help="verilator: the compiled harness (C++ driver, fastest); cocotb: the cocotb bench on Verilator; "
         "icarus: the cocotb bench on Icarus. All three drive the same gaps and stalls.")
seed_option = click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
                           help="Seed of the random tiles and stalls.")


def stall_option(default: float):
    return click.option("--stall-prob", type=float, default=default, show_default=True,
                        help="Probability of an input gap / output back-pressure cycle.")


def folder_command(name: str, out_help: str = "Default: build/<model>."):
    """A sub-command over a model folder: MODEL (a zoo name or a folder), --out-dir, --bits, --json and
    one-sentence errors, in that order before the command's own options."""

    def decorate(func):
        for option in (user_errors, json_option, bits_option,
                       click.option("--out-dir", type=click.Path(file_okay=False), default=None, help=out_help)):
            func = option(func)
        return main.command(name)(click.argument("model", required=False)(func))

    return decorate


def stage_config(model: str | None, out_dir: str | None, bits: str | None, **settings) -> BuildConfig:
    """The BuildConfig of a stage command: its folder and (when it names one) its model."""
    folder = stage_folder(model, out_dir, bits)
    user = user_model_in(folder)
    cfg = resolve_config(model, bits) if user is None and model and not Path(model).is_dir() else None
    return BuildConfig(folder, model=cfg, user=user, **settings)

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """fqsr: fully quantized super-resolution networks to verified FPGA hardware."""
    import warnings

    warnings.filterwarnings("ignore")


@main.command("list")
@json_option
@user_errors
def list_models(as_json):
    """List the model zoo with sizes and shipped checkpoints."""
    from fqsr.models.checkpoint import shipped_checkpoint
    from fqsr.models.registry import ARCHS, ZOO, build_model, get_config

    rows = []
    for name in ZOO:
        cfg = get_config(name)
        params = sum(p.numel() for p in build_model(cfg).parameters())
        rows.append({
            "model": name, "arch": ARCHS[cfg.arch].summary, "scale": cfg.scale,
            "weight_bits": cfg.weight_bits, "act_bits": cfg.act_bits, "params": params,
            "checkpoint": shipped_checkpoint(name).is_file(),
            "float_twin": cfg.twin_name, "float_checkpoint": shipped_checkpoint(cfg.twin_name).is_file(),
        })
    lines = [f"{'model':16} {'params':>9}  ckpt  twin-ckpt  architecture"]
    lines += [f"{r['model']:16} {r['params']:>9}  {'yes' if r['checkpoint'] else 'no ':4}  "
              f"{'yes' if r['float_checkpoint'] else 'no ':9}  {r['arch']}" for r in rows]
    emit({"models": rows}, as_json, lines)


@main.command()
@click.argument("model")
@click.option("--float-iters", type=int, default=None, help="Float pre-training iterations of the twin.")
@click.option("--qat-iters", type=int, default=None, help="Quantization-aware training iterations.")
@click.option("--batch", type=int, default=None, help="Patches per batch.")
@click.option("--patch", type=int, default=None, help="LR patch side in pixels.")
@click.option("--data", default=None, help="Folder of training images (default: SunHays80 if present, else embedded).")
@click.option("--out", type=click.Path(file_okay=False), default="build/train", show_default=True,
              help="Where checkpoints and resume state go.")
@click.option("--float-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Start QAT from this float twin instead of training one.")
@click.option("--qat-lr", type=float, default=None, help="QAT learning rate of the weights (default 1e-3).")
@click.option("--distill", type=float, default=None,
              help="Weight of the L1 to the float twin's output during QAT (default 1; 0: HR only).")
@click.option("--init", "init_checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Continue QAT from this quantized checkpoint of MODEL (a second stage) instead of the twin.")
@click.option("--device", default=None, help="torch device (default: cuda if present, else cpu).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--bf16", is_flag=True, help="Float twin under bfloat16 autocast (4x faster on CPUs with AMX).")
@click.option("--ship", is_flag=True, help="Also write compact copies into models/checkpoints/.")
@bits_option
@json_option
@user_errors
def train(model, float_iters, qat_iters, batch, patch, data, out, float_checkpoint, qat_lr, distill,
          init_checkpoint, device, threads, bf16, ship, bits, as_json):
    """Train MODEL: float twin first, then QAT from it (resumes if interrupted)."""
    import dataclasses

    import torch

    from fqsr.models.train import TrainSettings
    from fqsr.models.train import train as run_train

    if threads:
        torch.set_num_threads(threads)
    given = {"float_iters": float_iters, "qat_iters": qat_iters, "batch": batch, "lr_patch": patch, "data": data,
             "qat_lr": qat_lr, "distill": distill, "bf16": bf16 or None}
    settings = dataclasses.replace(TrainSettings(), **{k: v for k, v in given.items() if v is not None})
    result = run_train(resolve_config(model, bits), settings, Path(out), float_checkpoint, device, init_checkpoint)
    if ship:
        from fqsr.models.checkpoint import ship_checkpoint

        result["shipped"] = [str(ship_checkpoint(result[key]))
                             for key in ("float_checkpoint", "checkpoint") if key in result]
    emit(result, as_json, summary.train_lines(result))


@main.command("eval")
@click.argument("model")
@click.option("--data", default="embedded", show_default=True,
              help="Folder of HR images, or 'embedded' for scikit-image's photographs.")
@checkpoint_option
@click.option("--float-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Float twin checkpoint (default: the shipped one).")
@click.option("--per-image", is_flag=True, help="Include per-image scores in the JSON.")
@bits_option
@json_option
@user_errors
def eval_cmd(model, data, checkpoint, float_checkpoint, per_image, bits, as_json):
    """PSNR/SSIM (Y channel) of MODEL, its float twin and bicubic."""
    from fqsr.models.evaluate import evaluate

    report = evaluate(resolve_config(model, bits), data, checkpoint, float_checkpoint)
    if not per_image:
        report.pop("per_image")
    emit(report, as_json, summary.eval_lines(report))


@main.command()
@click.argument("model")
@click.option("--method", default="daq", show_default=True,
              help="daq: per-channel activation ranges from each channel's distribution, folded into the convs; "
                   "calibrate: per-tensor ranges from Brevitas' statistics (the start QAT uses).")
@click.option("--float-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="The float twin to quantize (default: the shipped one for MODEL's twin).")
@click.option("--calib", type=int, default=32, show_default=True, help="LR calibration patches.")
@click.option("--patch", type=int, default=48, show_default=True, help="Their side in LR pixels.")
@click.option("--data", default="embedded:train", show_default=True,
              help="Folder of calibration images, or an embedded set.")
@click.option("--qat", type=int, default=0, show_default=True,
              help="QAT iterations from the quantized result on --data (0: none, training-free).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint to write (default: build/quantize/<model>-<method>.pt).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration patches.")
@click.option("--bits", default=None, metavar="PATTERN=N,...|auto",
              help="Per-layer bit widths, e.g. 'head=8,tail=8,body.*.conv1=3' (fnmatch over layer names); "
                   "'auto': choose each layer group's width from its measured sensitivity under --budget.")
@click.option("--budget", default=None, metavar="lut=N|bitops=N|board=NAME",
              help="--bits auto: predicted ECP5 LUT4 of the MVAU and thresholding nodes at the default folding, "
                   "bit-ops per LR pixel, or the LUT budget of an ECP5 board; N=own is the model's cost at its own "
                   "widths (bitops=own: mixed precision at the cost of the uniform model).")
@click.option("--widths", default=None, metavar="2-8|2,3,4,...",
              help="--bits auto: the widths each layer group may get (default 2-8).")
@click.option("--sens-data", default="embedded:eval", show_default=True,
              help="--bits auto: images whose PSNR measures each group's sensitivity (folder or embedded set).")
@click.option("--sens-crop", type=int, default=128, show_default=True,
              help="--bits auto: each sensitivity image cut to its central crop of this many HR pixels.")
@json_option
@user_errors
def quantize(model, method, float_checkpoint, calib, patch, data, qat, out, seed, bits, budget, widths, sens_data,
             sens_crop, as_json):
    """Quantize MODEL's float twin without training: a checkpoint that eval/export/compile/rtl/verify take."""
    from fqsr.flows.artifacts import build_root
    from fqsr.models.checkpoint import shipped_checkpoint
    from fqsr.models.quantize import METHODS, QuantizeSettings, quantize_to_checkpoint
    from fqsr.models.registry import file_stem

    if method not in METHODS:
        raise FqsrError(f"unknown quantization method '{method}'; choose one of {', '.join(METHODS)}")
    if qat < 0:
        raise FqsrError("--qat must be 0 or more iterations")
    auto = bits is not None and bits.strip() == "auto"
    if budget is not None and not auto:
        raise FqsrError("--budget applies to --bits auto")
    if auto and budget is None:
        raise FqsrError("--bits auto needs --budget lut=N, bitops=N or board=NAME")
    if (widths is not None) and not auto:
        raise FqsrError("--widths applies to --bits auto")
    cfg = resolve_config(model, None if auto else bits)
    twin = Path(float_checkpoint) if float_checkpoint else shipped_checkpoint(cfg.twin_name)
    if not twin.is_file():
        raise FqsrError(f"no float twin checkpoint {twin}; pass --float-checkpoint FILE "
                        f"(train one with `fqsr train {cfg.twin_name}`)")
    settings = QuantizeSettings(method=method, calib=calib, patch=patch, data=data, seed=seed)
    if auto:
        from fqsr.apps.mixed_precision import parse_widths, quantize_auto

        if method != "daq":
            raise FqsrError("--bits auto measures sensitivity with DAQ; leave --method at daq")
        if not cfg.quantized:
            raise FqsrError(f"{model} is a float model; --bits applies to quantized models")
        stem = f"{file_stem(cfg)}-auto-{re.sub(r'[^A-Za-z0-9.-]+', '_', budget.replace('=', ''))}"
        path = Path(out) if out else build_root() / "quantize" / f"{stem}-{method}.pt"
        report, cfg = quantize_auto(cfg, twin, path, settings, budget, parse_widths(widths), sens_data, sens_crop,
                                    progress=not as_json)
        bits = report["bits"]
    else:
        path = Path(out) if out else build_root() / "quantize" / f"{file_stem(cfg)}-{method}.pt"
        report = quantize_to_checkpoint(cfg, twin, path, settings)
    if qat:
        from fqsr.models.train import finetune

        result = finetune(cfg, twin, path, qat, path.parent / f"{path.stem}-qat", data)  # QAT sees the same images
        report["qat"] = {key: result[key] for key in ("iterations", "seconds", "checkpoint", "data")}
    emit(report, as_json, summary.quantize_lines(report, bits))


@main.command()
@click.argument("model", required=False)
@click.option("--module", "module_spec", default=None, metavar="FILE.py:FACTORY",
              help="Export your own Brevitas model instead of a zoo MODEL: path/to/file.py:factory or "
                   "package.module:factory (a function or class returning the nn.Module, output a QuantTensor).")
@click.option("--channels", type=click.IntRange(1, 3), default=None,
              help="--module: image channels the model takes (default: its first conv's).")
@click.option("--scale", type=click.IntRange(1), default=None,
              help="--module: the upscaling factor the model must have (checked against its output).")
@checkpoint_option
@tile_option
@random_tiles_option
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Default: build/<model> (build/<factory> for --module).")
@bits_option
@json_option
@user_errors
def export(model, module_spec, channels, scale, checkpoint, tile, frame, random_tiles, out_dir, bits, as_json):
    """Export MODEL (or --module) to QONNX and prove QONNX execution equals Brevitas, element for element."""
    from fqsr.flows.artifacts import build_root, model_dir
    from fqsr.flows.export import UserModel, geometry
    from fqsr.flows.export import export as run_export

    shape = geometry(tile, frame, DEFAULT_TILE)
    if module_spec is not None:
        if model is not None:
            raise FqsrError(f"give either a zoo MODEL or --module, not both ('{model}' and '{module_spec}')")
        if bits or checkpoint:
            raise FqsrError("--bits and --checkpoint apply to zoo models; a --module factory sets up its own model")
        source = UserModel.parse(module_spec)  # channels and scale are checks of the export alone
        folder = Path(out_dir) if out_dir else build_root() / source.factory
        report = run_export(source.load(), shape, random_tiles, folder, channels=channels,
                            source=source, scale=scale)
    else:
        if model is None:
            raise FqsrError("give a zoo MODEL or --module FILE.py:FACTORY")
        if channels or scale:
            raise FqsrError("--channels and --scale apply to --module; a zoo model's name sets them")
        cfg = resolve_config(model, bits)
        build = BuildConfig(Path(out_dir) if out_dir else model_dir(cfg), model=cfg, checkpoint=checkpoint,
                            tile=shape, random_tiles=random_tiles)
        build.load()
        if not build.meta:
            click.echo(f"fqsr: warning: no checkpoint for {model}; exporting untrained weights "
                       f"with activation ranges calibrated on the embedded images", err=True)
        report = run_steps(build, ["export"])["export"]
    report.pop("config")
    emit(report, as_json, summary.export_lines(report))


@main.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True)
@click.option("--data", default=None, help="Evaluation images (default: Set5 if present, else embedded).")
@json_option
@user_errors
def demo(model, data, as_json):
    """The main job on an embedded default: load (or train) MODEL, evaluate it, export and compile it, draw it.

    Prints five lines (or --json) and writes build/<model>/demo.png: bicubic, the quantized model, its float twin
    and the ground truth side by side, with a zoomed detail."""
    from fqsr.apps.demo import run_demo

    report = run_demo(model, data, echo=lambda line: click.echo(line, err=True))
    emit(report, as_json, summary.demo_lines(report))


@folder_command("compile", "Default: build/<model> (build/<file stem> for a .onnx file).")
@click.option("--tile", default=None, help="LR tile (HxW) the hardware is compiled for; must match the export.")
@board_option
@clock_option
@target_fps_option
@folding_option
@random_tiles_option
def compile_cmd(model, tile, board, clock_mhz, target_fps, folding, random_tiles, out_dir, bits, as_json):
    """Compile MODEL's QONNX export to a folded FINN dataflow graph and prove it equal, element for element.

    MODEL is a zoo name, a model folder, or a QONNX file made elsewhere (path/to/model.onnx: copied into
    --out-dir, and FINN's execution is proven equal to QONNX's execution of it)."""
    from fqsr.flows.artifacts import build_root
    from fqsr.flows.export import ONNX_NAME, import_qonnx, load_qonnx, parse_tile

    if model is not None and model.endswith(".onnx") and not Path(model).is_dir():
        if bits:
            raise FqsrError("--bits applies to zoo models, not to a QONNX file")
        source = Path(model)
        folder = Path(out_dir) if out_dir else build_root() / source.name.split(".")[0]
        if not (source.is_file() and (folder / ONNX_NAME).is_file()
                and source.resolve() == (folder / ONNX_NAME).resolve()):
            import_qonnx(source, folder)
        model, out_dir = None, str(folder)
    cfg = stage_config(model, out_dir, bits, board=board, clock_mhz=clock_mhz, target_fps=target_fps,
                       folding=Path(folding) if folding else None, random_tiles=random_tiles)
    if tile and cfg.qonnx.is_file():
        wrapper = load_qonnx(cfg.qonnx)
        exported = tuple(wrapper.get_tensor_shape(wrapper.graph.input[0].name)[2:])
        if exported != parse_tile(tile):
            raise FqsrError(f"{cfg.qonnx} was exported for tile {exported[0]}x{exported[1]}; "
                            f"run `fqsr export {folder_label(cfg.folder, model)} --tile {tile}` first")
    from tqdm import tqdm

    from fqsr.apps.pipeline import step_compile
    from fqsr.flows.compile import STAGES

    with tqdm(total=len(STAGES), desc=f"compile {cfg.folder.name}", unit="stage", leave=False) as bar:
        report = step_compile(cfg, progress=bar)
    if report["target_met"] is False:
        click.echo(f"fqsr: warning: --target-fps {target_fps:g} not reached; the estimate is {report['fps']:g} fps "
                   f"(bottleneck in estimates.json)", err=True)
    emit(report, as_json, summary.compile_lines(report))


roll_option = click.option(
    "--roll", type=click.Choice(list(ROLL_CHOICES)), default=DEFAULTS["roll"],
    help="body: the residual blocks as one block engine run once per block, its weights and the feature map in "
         "SDRAM (build/<model>/rolled/, benchmarks/rolled_edsr.md).")


@folder_command("rtl")
@roll_option
def rtl_cmd(model, roll, out_dir, bits, as_json):
    """Generate MODEL's RTL (build/<model>/rtl/: node wrappers, stitched top.v, filelist.f) from dataflow.onnx.

    With --roll body: build/<model>/rolled/ (block engine, SDRAM DMA and controller, rolled_top.v, weights.bin)."""
    report = run_steps(stage_config(model, out_dir, bits, roll=roll), ["rtl"])["rtl"]
    emit(report, as_json, summary.rolled_rtl_lines(report) if roll else summary.rtl_lines(report))


@folder_command("video")
@click.option("--mode", type=click.Choice(["720p"]), default="720p", show_default=True,
              help="The raster on the GPDI (HDMI) port; the pixel clock is the nearest the ECP5 PLL makes.")
@click.option("--repeat", type=int, default=None,
              help="Show each HR pixel as NxN raster pixels (default: the largest that fits the raster).")
@click.option("--clock-mhz", type=float, default=None, help="The accelerator's clock (default: the board's).")
@click.option("--pnr", is_flag=True, help="Also place and route (nextpnr-ecp5) and write the bitstream.")
def video_cmd(model, mode, repeat, clock_mhz, pnr, out_dir, bits, as_json):
    """The video board top (build/<model>/video/): an LR frame loaded once over the UART, upscaled frame after
    frame by MODEL's RTL (compiled with the whole LR frame as its tile) and shown on the ULX3S's HDMI port;
    synthesized with Yosys (and with --pnr placed and routed). See benchmarks/video_out.md."""
    from fqsr.hw.video import synthesize_video

    if repeat is not None and repeat < 1:
        raise FqsrError(f"--repeat must be a positive number of raster pixels per HR pixel, not {repeat}")
    report = synthesize_video(stage_folder(model, out_dir, bits), mode, repeat, clock_mhz, place=pnr)
    lines = [f"video board top ({report['mode']}, pixel clock {report['pixel_mhz']:g} MHz, 5x {report['x5_mhz']:g} "
             f"MHz, design clock {report['clock_mhz']:g} MHz): " +
             ", ".join(f"{kind} {count}" for kind, count in report["total"].items())]
    for net, fmax in report.get("pnr", {}).get("fmax_mhz", {}).items():
        lines.append(f"  {net}: Fmax {fmax['achieved']:g} MHz (needs {fmax['constraint']:g})")
    emit(report, as_json, lines)


verify_budget_option = click.option(
    "--verify-budget", "verify_budget", type=float, default=DEFAULTS["verify_budget_min"], show_default=True,
    help="Minutes of simulation a rolled design's verify may take (estimated before it starts); longer, it "
         "verifies one smaller tile of the same network instead, and verify.json's scope says so.")


@folder_command("verify")
@click.option("--tiles", type=int, default=DEFAULTS["verify_tiles"], show_default=True,
              help="Tiles to stream: random 8-bit tiles plus one real-image tile.")
@sim_option
@stall_option(DEFAULTS["stall_prob"])
@click.option("--waves", is_flag=True, help="Dump a waveform into build/<model>/sim/.")
@seed_option
@roll_option
@verify_budget_option
def verify_cmd(model, tiles, sim, stall_prob, waves, seed, roll, verify_budget, out_dir, bits, as_json):
    """Simulate MODEL's stitched RTL under random stalls and compare every output element with FINN's execution.

    With --roll body: the rolled design (fqsr rtl --roll body), its SDRAM a chip model that checks every timing
    rule. Exits 2 when the RTL output differs (or the stream deadlocks)."""
    cfg = stage_config(model, out_dir, bits, verify_tiles=tiles, sim=sim, stall_prob=stall_prob, waves=waves,
                       seed=seed, roll=roll, verify_budget_min=verify_budget)
    report = run_steps(cfg, ["verify"])["verify"]
    emit(report, as_json, summary.rolled_verify_lines(report) if roll else summary.verify_lines(report))
    if not report["equal"]:
        sys.exit(2)


def parse_fps(text: str | None):
    """``--fps``: None, "max" or a positive number."""
    if text is None or text == "max":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise FqsrError(f"--fps must be 'max' or a positive number of frames per second, not {text!r}")
    return value


@folder_command("build")
@board_option
@tile_option
@clock_option
@target_fps_option
@fps_option
@folding_option
@click.option("--verify-tiles", type=int, default=DEFAULTS["verify_tiles"], show_default=True,
              help="Tiles the RTL is verified on.")
@sim_option
@checkpoint_option
@click.option("--roll", type=click.Choice([*ROLL_CHOICES, "none"]), default=None,
              help="body: the residual body as one block engine with its weights in the board's SDRAM "
                   "(build/<model>/rolled/, weights.bin sent over the UART first); none: never. Default: body for a "
                   "zoo model whose unrolled ROMs cannot fit the board, else none.")
@verify_budget_option
def build_cmd(model, board, tile, frame, clock_mhz, target_fps, fps, folding, verify_tiles, sim, checkpoint, roll,
              verify_budget, out_dir, bits, as_json):
    """export -> compile -> rtl -> storage -> synth -> fit -> verify -> pnr (bitstream) -> report, skipping what
    is up to date.

    Exits 2 when the model does not fit the board (before place and route) and for Xilinx boards without Vivado."""
    from fqsr.apps.build import build
    from fqsr.flows.export import geometry

    folder, cfg, user = folder_model(model, out_dir, bits)
    if user is not None and checkpoint:
        raise FqsrError("--checkpoint applies to zoo models; a user model's factory loads its own weights")
    config = BuildConfig(folder, model=cfg, user=user, checkpoint=checkpoint, tile=geometry(tile, frame, DEFAULT_TILE),
                         board=board, clock_mhz=clock_mhz, target_fps=target_fps, folding=Path(folding) if folding else None,
                         fps=parse_fps(fps), verify_tiles=verify_tiles, sim=sim,
                         roll=None if roll in (None, "none") else roll, roll_auto=roll is None and cfg is not None,
                         verify_budget_min=verify_budget)
    result = build(config, echo=lambda line: click.echo(line, err=True))
    emit(result, as_json, summary.build_lines(result))


@folder_command("report")
def report_cmd(model, out_dir, bits, as_json):
    """Write build/<model>/report.md, report.json and plots from whichever stage artifacts exist."""
    report = run_steps(stage_config(model, out_dir, bits), ["report"])["report"]
    emit(report, as_json, summary.report_lines(report))


@main.command("sweep")
@click.option("--grid", "grid_file", type=click.Path(dir_okay=False), default=None,
              help="Grid YAML/JSON (default: the grid shipped as fqsr/apps/sweep_grid.yaml unless --model is given).")
@click.option("--model", "models", multiple=True, help="Model name (repeatable); builds the grid from options.")
@click.option("--module", "modules", multiple=True, metavar="FILE.py:FACTORY",
              help="A user's Brevitas model (repeatable, as fqsr export --module); builds the grid from options.")
@click.option("--bits", "bit_patterns", multiple=True, help="Per-layer bit pattern (repeatable; '' = none).")
@click.option("--features", type=int, multiple=True, help="Feature width (repeatable).")
@click.option("--blocks", type=int, multiple=True, help="Residual blocks (repeatable).")
@click.option("--target-fps", type=float, multiple=True, help="Target tiles/s for folding (repeatable).")
@click.option("--board", "boards", multiple=True, help="Board of fqsr.hw.board (repeatable; default zcu104).")
@click.option("--tile", default=TILE_TEXT, show_default=True, help="LR tile (HxW) for an option-built grid.")
@click.option("--clock-mhz", type=float, default=None, help="Clock for an option-built grid (default: each board's).")
@click.option("--synth", is_flag=True, help="Full compile + RTL + Yosys counts per point (slow).")
@click.option("--jobs", type=int, default=2, show_default=True,
              help="Worker processes of the local Dask cluster (1 or 2).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the points on this Dask cluster (e.g. tcp://host:8786) instead of a local one; its "
                   "workers need fqsr installed and the same --work folder.")
@click.option("--data", default=None, help="PSNR images for trained points (default: Set5 if present, else embedded).")
@click.option("--out", type=click.Path(file_okay=False), default="build/sweep", show_default=True,
              help="Where sweep.csv, sweep.json, sweep.md and the Pareto PNGs go.")
@click.option("--work", type=click.Path(file_okay=False), default=None, help="Per-point files (default: build/sweep).")
@json_option
@user_errors
def sweep_cmd(grid_file, models, modules, bit_patterns, features, blocks, target_fps, boards, tile, clock_mhz, synth,
              jobs, scheduler, data, out, work, as_json):
    """Sweep bit widths, width/depth, folding and boards: CSV, summary and Pareto plots (FINN estimates)."""
    from fqsr.apps.sweep import DEFAULT_GRID, grid_from_dict, load_grid, run_sweep

    if models or modules:
        if grid_file:
            raise FqsrError("give either --grid FILE or --model/--module options, not both")
        entries = []
        if models:
            entry = {"name": list(models)}
            for key, values in (("bits", bit_patterns), ("features", features), ("blocks", blocks)):
                if values:
                    entry[key] = list(values)
            entries.append(entry)
        if modules:
            entries.append({"module": list(modules)})
        grid = grid_from_dict({"models": entries, "target_fps": list(target_fps) or [None],
                               "boards": list(boards) or ["zcu104"], "tile": tile, "clock_mhz": clock_mhz})
    else:
        grid = load_grid(Path(grid_file) if grid_file else DEFAULT_GRID)
    where = f"on the Dask cluster at {scheduler}" if scheduler else f"with {jobs} process(es)"
    click.echo(f"sweep: {grid.points()} points ({len(grid.configs)} configs) {where}", err=True)
    result = run_sweep(grid, Path(out), Path(work) if work else None, jobs=jobs, synth=synth, data=data,
                       scheduler=scheduler)
    emit({k: result[k] for k in ("points", "errors", "cached", "computed", "seconds", "plots")}, as_json,
         summary.sweep_lines(result, out))
    if result["errors"]:
        failed = sorted({r["point"] for r in result["rows"] if r["error"]})
        raise FqsrError(f"{result['errors']} sweep points failed ({', '.join(failed)}); see the error column of "
                        f"{Path(out) / 'sweep.csv'}")


@folder_command("hil")
@click.option("--data", required=True, help="Folder of HR images (e.g. ../shared/data/Set5), or 'embedded'.")
@click.option("--device", default="rtlsim", show_default=True,
              help="rtlsim (the stitched RTL, simulated), python (FINN execution of dataflow.onnx) or serial:PORT.")
@sim_option
@stall_option(0.0)
@checkpoint_option
@click.option("--float-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Float twin checkpoint for psnr_y_float (default: the shipped one, if any).")
@click.option("--frames", "frames", type=click.Choice(["auto", "whole", "tiles"]), default="auto", show_default=True,
              help="whole: each image streamed whole (RTL with runtime frame geometry, images no wider than the "
                   "compiled tile); tiles: overlapping tiles of the compiled size; auto: whole where possible.")
def hil_cmd(model, data, device, sim, stall_prob, checkpoint, float_checkpoint, frames, out_dir, bits, as_json):
    """Whole images through the compiled hardware, each streamed whole (runtime frame geometry) or in
    overlapping tiles; PSNR/SSIM (Y) of what it returns.

    Prints JSON and writes build/<model>/hil.json. Exits 2 unless the assembled hardware output equals the
    quantized model's whole-image integer output element for element (and so psnr_y_hw == psnr_y_quant_model)."""
    from fqsr.sim.hil import hil

    folder, cfg, user = folder_model(model, out_dir, bits)
    if user is not None:
        if checkpoint or float_checkpoint:
            raise FqsrError("--checkpoint and --float-checkpoint apply to zoo models; a user model's factory "
                            "loads its own weights")
        from fqsr.apps.api import hil as user_hil

        report = user_hil(folder, data, device=device, sim=sim, stall_prob=stall_prob, frames=frames)
    else:
        report = hil(model if model and not Path(model).is_dir() else cfg.name, data, device, folder, checkpoint,
                     float_checkpoint, sim, stall_prob, bits, frames)
    report.pop("per_image")
    emit(report, as_json, summary.hil_lines(report))
    if not report["equal"]:
        first = report["first_mismatch"]
        raise FqsrError(f"the hardware output differs from the quantized model in {report['mismatches']} elements; "
                        f"first in image {first['image']} at NCHW index {first['first_index_nchw']} "
                        f"(got {first['got']}, expected {first['expected']})")
    if not report["psnr_equal"]:
        raise FqsrError(f"psnr_y_hw {report['psnr_y_hw']} != psnr_y_quant_model {report['psnr_y_quant_model']} "
                        "although the integers are equal")


@main.command("fuzz")
@click.option("--count", type=int, default=10, show_default=True, help="Networks to generate and run.")
@click.option("--seed", type=int, default=1, show_default=True, help="First seed; network i has seed SEED+i.")
@click.option("--replay", "replay", type=int, multiple=True,
              help="Run only this seed (repeatable): the network, folding and stalls it stands for.")
@click.option("--sim", type=click.Choice(["verilator", "icarus"]), default="verilator", show_default=True)
@click.option("--no-shrink", is_flag=True, help="Report failures without shrinking them or writing test cases.")
@click.option("--cases", type=click.Path(file_okay=False), default=None,
              help="Where shrunk failures go as pytest cases (default: tests/fuzz_cases).")
@click.option("--work", type=click.Path(file_okay=False), default="build/fuzz", show_default=True,
              help="Work folder; a failing network's artifacts stay there.")
@click.option("--keep", is_flag=True, help="Keep the artifacts of equal networks too.")
@json_option
@user_errors
def fuzz_cmd(count, seed, replay, sim, no_shrink, cases, work, keep, as_json):
    """Random small quantized SR networks through export -> compile -> rtl -> verify.

    Prints a table, one line per network (seed, result, stage reached, time, network), and a summary; exits 2 when
    any network is a bug (mismatch, deadlock, slow, error). Rejections (a clear FqsrError) are counted apart."""
    from fqsr.apps.fuzz import CASES_DIR, fuzz, is_bug, summary_lines

    if count < 1 and not replay:
        raise FqsrError("--count must be at least 1")
    seeds = list(replay) or list(range(seed, seed + count))
    summary = fuzz(seeds, Path(work), sim, shrink_failures=not no_shrink, cases_dir=Path(cases or CASES_DIR),
                   keep=keep, log=functools.partial(click.echo, err=True))  # progress on stderr
    emit(summary, as_json, summary_lines(summary))
    bugs = [r for r in summary["records"] if is_bug(r)]
    if bugs:
        raise FqsrError(f"{len(bugs)} of {summary['networks']} networks failed (seeds "
                        f"{', '.join(str(r['seed']) for r in bugs)}); replay one with `fqsr fuzz --replay SEED`")


if __name__ == "__main__":
    main()
