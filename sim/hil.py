"""Hardware in the loop: whole images through the compiled tile accelerator, PSNR measured on what it returns.

Every LR image is cut into overlapping tiles (:mod:`fqsr.flows.tiling`, halo =
the dataflow graph's receptive field), all tiles of all images go to one
*device* in one call, and each tile's core is pasted into the whole output
image. The assembled integers must equal the Brevitas quantized model's
whole-image integer output element for element; PSNR/SSIM are then computed
with the model stage's own functions (:mod:`fqsr.models.metrics` on
:func:`fqsr.models.data.from_model` images), so ``psnr_y_hw`` equals
``psnr_y_quant_model`` exactly or the session fails.

Devices (``run(tiles uint8 [N, C, H, W]) -> int [N, C, H*s, W*s]``):

- ``rtlsim``: the stitched RTL (``rtl/top.v``), all tiles streamed back to back
  in one simulator run: the compiled Verilator harness (:mod:`fqsr.sim.harness`,
  default) or the cocotb bench (:mod:`fqsr.sim.network_bench`) on Verilator or Icarus;
- ``python``: FINN's Python execution of ``dataflow.onnx``;
- ``serial:PORT``: the board behind its UART bridge (:class:`fqsr.sim.link.SerialDevice`).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from fqsr.flows.artifacts import HIL_NAME  # noqa: F401 (file names live in one place)
from fqsr.flows.host import HostInterface
from fqsr.models.errors import FqsrError


def _dataflow(model_dir: Path):
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME, require_current
    from fqsr.flows.export import load_qonnx

    require_current(model_dir, DATAFLOW_NAME, "fqsr compile MODEL")
    path = Path(model_dir) / DATAFLOW_NAME
    return load_qonnx(path), path


class PythonDevice:
    """FINN's Python execution of ``dataflow.onnx``, one tile at a time (fast checks, no RTL)."""

    name = "python"

    def __init__(self, model_dir: Path):
        from fqsr.flows.compile import python_view

        model, _ = _dataflow(model_dir)
        self.view = python_view(model)
        self.cycles = None

    def run(self, tiles) -> np.ndarray:
        from tqdm import tqdm

        from fqsr.flows.compile import run_dataflow

        tiles = np.asarray(tiles)
        return np.concatenate([np.asarray(run_dataflow(self.view, t[None].astype(np.float32))).astype(np.int64)
                               for t in tqdm(tiles, desc="hil python", unit="tile", leave=False)])


class RtlsimDevice:
    """The stitched RTL top (``sim``: see :func:`fqsr.sim.verify.simulate`): every tile of one ``run``
    streamed back to back in one simulation.

    ``stall_prob`` adds random input gaps and output back-pressure (the stream
    must not care); 0 streams at full rate, so ``cycles_per_tile`` is the steady
    state. After ``run``: ``cycles`` (simulated), ``cycles_per_tile``, ``sim_wall_s``, ``sim_build_s``,
    ``sim_build_cached``, ``sim_cycles_per_s``, ``sim_cycles_per_cpu_s`` (harness only).
    """

    name = "rtlsim"

    def __init__(self, model_dir: Path, sim: str = "verilator", stall_prob: float = 0.0, seed: int = 0):
        from fqsr.flows.artifacts import RTL_DIRNAME, require_current
        from fqsr.hw.stitch import rtl_sources
        from fqsr.sim.verify import check_sim, estimated_cycles

        self.model_dir = Path(model_dir)
        self.model, self.dataflow_path = _dataflow(self.model_dir)
        top = self.model_dir / "rtl" / "top.v"
        if not top.is_file():
            raise FqsrError(f"{top} does not exist; run `fqsr rtl MODEL` first")
        require_current(self.model_dir, RTL_DIRNAME, "fqsr rtl MODEL")
        if not 0 <= stall_prob < 1:
            raise FqsrError("the stall probability must be in [0, 1)")
        check_sim(sim)
        self.sources = rtl_sources(top.parent)
        self.sim, self.stall_prob, self.seed = sim, stall_prob, seed
        self.host = HostInterface.from_model(self.model)  # packing and layout of the two streams
        self.estimate = estimated_cycles(self.model, self.model_dir)
        self.cycles = self.cycles_per_tile = self.sim_wall_s = self.sim_build_s = self.sim_cycles_per_s = None
        self.sim_cycles_per_cpu_s = self.sim_build_cached = None

    def run(self, tiles) -> np.ndarray:
        from fqsr.sim.runner import sim_build_root
        from fqsr.sim.verify import simulate

        tiles = np.asarray(tiles)
        beats = self.host.input_beats(tiles)
        per_tile = self.host.beats_out_per_tile()
        expect = per_tile * len(tiles)
        slowdown = 1.0 / (1.0 - self.stall_prob) ** 2
        max_cycles = int(slowdown * (4 * (len(tiles) + 1) * self.estimate + 20 * (len(beats) + expect)) + 20000)
        key = hashlib.sha256(json.dumps([str(self.dataflow_path.resolve()), self.sim]).encode()).hexdigest()[:12]
        work = sim_build_root() / "hil" / key
        work.mkdir(parents=True, exist_ok=True)
        spec = {"phases": [{"beats": beats, "expect": expect, "p_gap": self.stall_prob, "p_stall": self.stall_prob,
                            "seed": self.seed}], "max_cycles": max_cycles}
        start, timings = time.monotonic(), {}
        # the simulation runs in ``work``, where the wrappers' ``$readmemh`` finds the ROM copies
        result = simulate(self.sources, spec, work, self.sim, self.seed, timings=timings,
                          idle_cycles=int(2 * slowdown * self.estimate + 10000))
        self.sim_wall_s = round(time.monotonic() - start, 2)
        self.sim_build_s, self.sim_build_cached = timings.get("build_s"), timings.get("build_cached")
        self.sim_cycles_per_s = round(result["cycles"] / max(result["wall_s"], 1e-9), 1)
        self.sim_cycles_per_cpu_s = (round(result["cycles"] / max(result["cpu_s"], 1e-9), 1)
                                     if "cpu_s" in result else None)
        got, stamps = result["phases"][0]["beats"], result["phases"][0]["cycles"]
        self.cycles = int(result["cycles"])
        if len(tiles) > 1 and len(stamps) == expect:  # steady state: first output beats of consecutive tiles
            self.cycles_per_tile = round((stamps[-per_tile] - stamps[0]) / (len(tiles) - 1), 1)
        if result["deadlock"] or len(got) != expect or result["extra_beats"]:
            raise FqsrError(f"the RTL returned {len(got)} output beats (+{len(result['extra_beats'])} extra) of "
                            f"{expect} expected for {len(tiles)} tiles"
                            f"{' and deadlocked' if result['deadlock'] else ''}"
                            f"{_held(result)}; run `fqsr verify MODEL`")
        return self.host.output_tiles(got, len(tiles))


def _held(result) -> str:
    at = result.get("deadlock_at")
    return f" (held at {', '.join(at['nodes'])})" if at and at["nodes"] else ""


def open_device(spec: str, model_dir: Path, sim: str = "verilator", stall_prob: float = 0.0):
    """``rtlsim``, ``python`` or ``serial:PORT`` -> a device with ``run(tiles)``."""
    if spec == "rtlsim":
        return RtlsimDevice(model_dir, sim=sim, stall_prob=stall_prob)
    if spec == "python":
        return PythonDevice(model_dir)
    if spec.startswith("serial:") and len(spec) > len("serial:"):
        from fqsr.sim.link import SerialDevice

        device = SerialDevice(spec[len("serial:"):], model_dir=Path(model_dir))
        device.name = spec
        return device
    raise FqsrError(f"unknown device '{spec}'; use rtlsim, python or serial:PORT (e.g. serial:/dev/ttyUSB0)")


def _first_mismatch(want: np.ndarray, got: np.ndarray) -> dict:
    diff = np.argwhere(want != got)
    index = tuple(int(i) for i in diff[0])
    return {"mismatches": int(len(diff)), "elements": int(want.size), "first_index_nchw": list(index),
            "expected": int(want[index]), "got": int(got[index])}


def _scores(sr, hr, scale) -> dict:
    from fqsr.models.metrics import psnr_y, ssim_y

    return {"psnr_y": psnr_y(sr, hr, scale), "ssim_y": ssim_y(sr, hr, scale)}


def run_session(model, pairs, model_dir: Path, device, float_model=None, halo: int | None = None) -> dict:
    """Tile every LR image of ``pairs`` (``(name, lr, hr)`` as from :func:`fqsr.models.data.eval_pairs`),
    run all tiles on ``device``, assemble, compare with ``model``'s whole-image integers and score.

    ``halo``: the tiles' halo (default: the dataflow graph's receptive field)."""
    import torch

    from fqsr.flows.tiling import assemble, cut, plan_tiles, receptive_halo
    from fqsr.models.bicubic import upscale
    from fqsr.models.data import from_model, to_model
    from fqsr.models.infer import integer_output, super_resolve
    from fqsr.sim.verify import nchw_tile

    start = time.monotonic()
    dataflow, _ = _dataflow(model_dir)
    cfg = model.config
    channels, (tile_h, tile_w) = nchw_tile(dataflow)
    if channels != cfg.channels:
        raise FqsrError(f"the compiled graph takes {channels} channels but {cfg.name} has {cfg.channels}; "
                        "compile this model's export")
    halo = receptive_halo(dataflow) if halo is None else halo
    if not pairs:
        raise FqsrError("no images to run; --data must name a folder with images")
    plans, inputs = [], []
    for name, lr, _ in pairs:
        try:
            plan = plan_tiles(lr.shape[0], lr.shape[1], tile_h, tile_w, halo)
        except FqsrError as exc:
            raise FqsrError(f"image {name} (LR {lr.shape[0]}x{lr.shape[1]}): {exc}") from None
        plans.append(plan)
        inputs.append(cut(np.ascontiguousarray(lr.transpose(2, 0, 1)), plan))
    tiles = np.concatenate(inputs).astype(np.uint8)
    device_start = time.monotonic()
    outputs = np.asarray(device.run(tiles)).astype(np.int64)
    device_wall = time.monotonic() - device_start
    s = cfg.scale
    if outputs.shape != (len(tiles), channels, tile_h * s, tile_w * s):
        raise FqsrError(f"the device returned shape {outputs.shape}, expected "
                        f"{(len(tiles), channels, tile_h * s, tile_w * s)}")

    rows, first, mismatches, offset = [], None, 0, 0
    for (name, lr, hr), plan in zip(pairs, plans):
        hw_ints = assemble(plan, outputs[offset:offset + len(plan)], lr.shape[0], lr.shape[1], s)
        offset += len(plan)
        want, out_scale = integer_output(model, to_model(lr))
        want = want[0]
        if not np.array_equal(want, hw_ints):
            report = {"image": name, **_first_mismatch(want, hw_ints)}
            mismatches += report["mismatches"]
            first = first or report
        hw_sr = from_model(torch.from_numpy(hw_ints[None]).float() * out_scale)
        row = {"image": name, "lr": list(lr.shape[:2]), "tiles": len(plan), "hw": _scores(hw_sr, hr, s),
               "quant": _scores(super_resolve(model, lr), hr, s), "bicubic": _scores(upscale(lr, s), hr, s)}
        if float_model is not None:
            row["float"] = _scores(super_resolve(float_model, lr), hr, s)
        rows.append(row)

    def mean(method, metric):
        values = [r[method][metric] for r in rows if method in r]
        return float(np.mean(values)) if values else None

    report = {
        "model": cfg.name, "model_dir": str(model_dir), "device": getattr(device, "name", type(device).__name__),
        "equal": first is None, "mismatches": mismatches,
        "elements": int(sum(np.prod(r["lr"]) for r in rows) * channels * s * s),
        "psnr_y_hw": mean("hw", "psnr_y"), "ssim_y_hw": mean("hw", "ssim_y"),
        "psnr_y_quant_model": mean("quant", "psnr_y"), "ssim_y_quant_model": mean("quant", "ssim_y"),
        "psnr_y_float": mean("float", "psnr_y"), "ssim_y_float": mean("float", "ssim_y"),
        "psnr_y_bicubic": mean("bicubic", "psnr_y"), "ssim_y_bicubic": mean("bicubic", "ssim_y"),
        "scale": s, "images": len(rows), "tiles": int(len(tiles)), "halo": int(halo), "tile": [tile_h, tile_w],
        "cycles": getattr(device, "cycles", None), "cycles_per_tile": getattr(device, "cycles_per_tile", None),
        "sim_cycles_per_s": getattr(device, "sim_cycles_per_s", None),
        "sim_cycles_per_cpu_s": getattr(device, "sim_cycles_per_cpu_s", None),
        "sim_build_s": getattr(device, "sim_build_s", None),
        "sim_build_cached": getattr(device, "sim_build_cached", None),
        "device_wall_s": round(device_wall, 2), "wall_s": round(time.monotonic() - start, 2),
        "per_image": rows,
    }
    if first is not None:
        report["first_mismatch"] = first
    report["psnr_equal"] = report["psnr_y_hw"] == report["psnr_y_quant_model"]
    return report


def hil(name: str, data: str, device: str = "rtlsim", model_dir: Path | None = None, checkpoint=None,
        float_checkpoint=None, sim: str = "verilator", stall_prob: float = 0.0, bits: str | None = None) -> dict:
    """``fqsr hil``: the trained model ``name`` on every image of ``data`` through ``device``.

    Writes ``<model_dir>/hil.json`` (also when the check fails) and returns the report;
    the caller fails on ``report["equal"]`` / ``report["psnr_equal"]``."""
    from fqsr.flows.artifacts import DATAFLOW_NAME, RTL_DIRNAME, record, write_json
    from fqsr.flows.artifacts import model_dir as default_dir
    from fqsr.models.checkpoint import load_model
    from fqsr.models.data import eval_pairs
    from fqsr.models.registry import get_config, parse_bits

    cfg = get_config(name)
    if bits:
        cfg = cfg.replace(bits=cfg.bits + parse_bits(bits))
    if not cfg.quantized:
        raise FqsrError(f"{name} is a float twin; only quantized models go to hardware")
    folder = Path(model_dir) if model_dir else default_dir(cfg)
    _dataflow(folder)  # a clear error before any loading
    model, meta = load_model(cfg, checkpoint, require_trained=True)
    float_model = None
    try:
        float_model, _ = load_model(cfg.twin_name, float_checkpoint, require_trained=True)
    except FqsrError:
        if float_checkpoint:
            raise
    dev = open_device(device, folder, sim=sim, stall_prob=stall_prob)
    pairs = eval_pairs(data, cfg.scale, channels=cfg.channels)
    report = run_session(model, pairs, folder, dev, float_model)
    report = {**report, "data": str(data), "checkpoint": meta.get("checkpoint"),
              "sim": sim if device == "rtlsim" else None}
    write_json(folder / HIL_NAME, report)
    record(folder, HIL_NAME, inputs=[DATAFLOW_NAME] + ([RTL_DIRNAME] if device == "rtlsim" else []),
           settings={"data": str(data), "device": device, "sim": sim, "stall_prob": stall_prob})
    return report
