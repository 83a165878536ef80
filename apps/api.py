"""fqsr's Python API: any Brevitas model through the same chain of proofs as the ``fqsr`` command.

    from fqsr.apps import api as fqsr

    fqsr.export(net, tile=(8, 8), out_dir="build/mynet")  # Brevitas == QONNX
    fqsr.compile("build/mynet", reference=net)            # Brevitas == FINN's dataflow graph
    fqsr.rtl("build/mynet")                               # Verilog of every node, stitched top.v
    fqsr.verify("build/mynet")                            # FINN == the RTL in cocotb, under stalls
    fqsr.hil("build/mynet", data="images/", model=net)    # whole images in tiles: RTL == Brevitas, PSNR

Each returns the stage's JSON report (also written into the folder) and raises
:class:`fqsr.models.errors.FqsrError` with one sentence when a proof fails or
the model cannot be mapped; the folder then works with every ``fqsr`` command
(``fqsr build --out-dir build/mynet``, ``fqsr report build/mynet``, ...).
"""
from __future__ import annotations

from pathlib import Path

from fqsr.models.errors import FqsrError

from fqsr.flows.export import UserModel, parse_tile
from fqsr.flows.export import export as _export

from .pipeline import DEFAULT_BOARD, DEFAULT_SIM, DEFAULT_TILE, DEFAULTS, BuildConfig, run_steps

DEFAULT_RANDOM_TILES, DEFAULT_VERIFY_TILES, DEFAULT_STALL = (DEFAULTS[k] for k in ("random_tiles", "verify_tiles",
                                                                                  "stall_prob"))

__all__ = ["FqsrError", "UserModel", "compile", "export", "hil", "rtl", "verify"]


def export(module, tile=DEFAULT_TILE, out_dir=None, channels: int | None = None, name: str | None = None,
           random_tiles: int = DEFAULT_RANDOM_TILES, scale: int | None = None) -> dict:
    """Export ``module`` (a Brevitas ``nn.Module`` whose output is a ``QuantTensor``, or a zoo model) to
    ``out_dir/model.qonnx.onnx`` for an LR ``tile`` (``(h, w)`` or ``"HxW"``) and prove QONNX == Brevitas."""
    if isinstance(module, (str, UserModel)):  # 'path/to/file.py:factory'
        source = module if isinstance(module, UserModel) else UserModel.parse(module)
        module = source.load()
    else:
        source = None
    tile = parse_tile(tile) if isinstance(tile, str) else tuple(tile)
    return _export(module, tile, random_tiles, Path(out_dir) if out_dir else None, channels=channels, name=name,
                   source=source, scale=scale)


def compile(folder, reference=None, target_fps: float | None = None, clock_mhz: float | None = None,  # noqa: A001
            folding=None, random_tiles: int = DEFAULT_RANDOM_TILES, board: str = DEFAULT_BOARD) -> dict:
    """``folder/model.qonnx.onnx`` -> ``folder/dataflow.onnx``, proven equal to ``reference`` (the Brevitas
    module) or, without it, to QONNX's execution of the export. ``clock_mhz``: default the ``board``'s."""
    cfg = BuildConfig(Path(folder), net=reference, target_fps=target_fps, clock_mhz=clock_mhz, board=board,
                      folding=Path(folding) if folding else None, random_tiles=random_tiles)
    return run_steps(cfg, ["compile"])["compile"]


def rtl(folder) -> dict:
    """``folder/rtl/``: one Verilog wrapper per dataflow node, the stitched ``top.v`` and ``filelist.f``."""
    return run_steps(BuildConfig(Path(folder)), ["rtl"])["rtl"]


def verify(folder, tiles: int = DEFAULT_VERIFY_TILES, sim: str = DEFAULT_SIM, stall_prob: float = DEFAULT_STALL,
           seed: int = 0) -> dict:
    """Stream tiles through ``folder/rtl/top.v`` and compare every element with FINN's execution."""
    cfg = BuildConfig(Path(folder), verify_tiles=tiles, sim=sim, stall_prob=stall_prob, seed=seed)
    report = run_steps(cfg, ["verify"])["verify"]
    if not report["equal"]:
        raise FqsrError(f"the RTL differs from FINN's execution in {report['mismatches']} of "
                        f"{report['elements']} elements; see {Path(folder) / 'sim' / 'verify.json'}")
    return report


def hil(folder, data, model=None, device: str = "rtlsim", sim: str = "verilator", stall_prob: float = 0.0,
        frames: str = "auto") -> dict:
    """Whole images of ``data`` through ``folder``'s hardware in overlapping tiles; the assembled output must
    equal ``model``'s whole-image integers (default: the user model loaded again from the factory recorded in
    export.json). Writes ``folder/hil.json``; raises when the integers differ."""
    from types import SimpleNamespace

    from fqsr.models.data import eval_pairs
    from fqsr.sim.hil import HIL_NAME, open_device, run_session

    from fqsr.flows.artifacts import write_json
    from fqsr.flows.export import exported_identity

    folder = Path(folder)
    user = (exported_identity(folder) or {}).get("user_model")
    if user is None:
        raise FqsrError(f"{folder} holds no user model's export; `fqsr hil MODEL` scores zoo models")
    if model is None:
        if not user.get("module"):
            raise FqsrError(f"{folder}'s model was exported without a factory fqsr can call again; pass the "
                            f"module itself (model=...)")
        model = UserModel(user["module"]).load()
    # run_session reads the name, channels and scale of the model it scores from a zoo-style config
    model.config = SimpleNamespace(name=user["name"], channels=user["channels"], scale=user["scale"])
    try:
        pairs = eval_pairs(data, user["scale"], channels=user["channels"])
        report = run_session(model, pairs, folder, open_device(device, folder, sim=sim, stall_prob=stall_prob),
                             frames=frames)
    finally:
        del model.config
    report = {**report, "data": str(data), "sim": sim if device == "rtlsim" else None}
    write_json(folder / HIL_NAME, report)
    if not report["equal"]:
        first = report["first_mismatch"]
        raise FqsrError(f"the hardware output differs from {user['name']} in {report['mismatches']} elements; "
                        f"first in image {first['image']} at NCHW index {first['first_index_nchw']}")
    if not report["psnr_equal"]:
        raise FqsrError(f"psnr_y_hw {report['psnr_y_hw']} != psnr_y_quant_model {report['psnr_y_quant_model']} "
                        "although the integers are equal")
    return report
