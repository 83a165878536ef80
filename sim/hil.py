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
        summary = top.parent / "rtl.json"
        # the runtime frame geometry (whole images, no tiles) where the RTL has it
        self.frame = (json.loads(summary.read_text()).get("frame") or {}) if summary.is_file() else {}
        self.cycles = self.cycles_per_tile = self.sim_wall_s = self.sim_build_s = self.sim_cycles_per_s = None
        self.sim_cycles_per_cpu_s = self.sim_build_cached = None

    @property
    def runtime_frames(self) -> bool:
        """The RTL takes each frame's rows and columns at run time (``rtl.json``'s ``frame``)."""
        return bool(self.frame.get("runtime"))

    def frame_refusal(self, rows: int, cols: int) -> str | None:
        """Why a ``rows`` x ``cols`` frame cannot go through whole, or None."""
        if not self.runtime_frames:
            return "the RTL was generated without runtime frame geometry (`fqsr rtl MODEL` regenerates it)"
        f = self.frame
        if cols > f["max_cols"]:
            return (f"it is {cols} pixels wide and the RTL's line buffers hold {f['max_cols']} (compile with a "
                    f"tile at least {cols} wide, e.g. --tile 8x{cols})")
        if rows > f["max_rows"] or rows < f["min_rows"] or cols < f["min_cols"]:
            return (f"the RTL takes {f['min_rows']}..{f['max_rows']} rows and {f['min_cols']}..{f['max_cols']} "
                    f"columns")
        return None

    def run_frames(self, frames) -> list:
        """Whole frames of any size (``[C, rows, cols]`` integers each; the RTL's runtime geometry), one
        simulation: frame k is phase k with its own ``frame`` -> the integer outputs ``[C, rows*s, cols*s]``."""
        for frame in frames:
            why = self.frame_refusal(*np.asarray(frame).shape[1:])
            if why:
                raise FqsrError(f"a {frame.shape[1]}x{frame.shape[2]} frame cannot stream whole: {why}")
        sizes = [tuple(np.asarray(f).shape[1:]) for f in frames]
        _, tile_h, tile_w = self.host.tile_shape
        phases = [{"beats": self.host.input_beats(np.asarray(f)[None]), "frame": list(size),
                   "expect": self.host.beats_out_per_frame(*size), "p_gap": self.stall_prob,
                   "p_stall": self.stall_prob, "seed": self.seed + k} for k, (f, size) in enumerate(zip(frames, sizes))]
        # the slowest node's cycles scale with the pixels; the first frame's latency with the rows too
        pixels = sum(r * c for r, c in sizes) / (tile_h * tile_w)
        result = self._simulate(phases, pixels + len(frames) + 1)
        return [self.host.output_frame(phase["beats"], *size) for phase, size in zip(result["phases"], sizes)]

    def run(self, tiles) -> np.ndarray:
        tiles = np.asarray(tiles)
        phases = [{"beats": self.host.input_beats(tiles), "expect": self.host.beats_out_per_tile() * len(tiles),
                   "p_gap": self.stall_prob, "p_stall": self.stall_prob, "seed": self.seed}]
        if self.runtime_frames:  # the compiled size, set explicitly
            phases[0]["frame"] = list(self.frame["compiled"])
        result = self._simulate(phases, len(tiles) + 1)
        got, stamps = result["phases"][0]["beats"], result["phases"][0]["cycles"]
        per_tile = self.host.beats_out_per_tile()
        if len(tiles) > 1 and len(stamps) == per_tile * len(tiles):  # steady state: consecutive tiles' first beats
            self.cycles_per_tile = round((stamps[-per_tile] - stamps[0]) / (len(tiles) - 1), 1)
        return self.host.output_tiles(got, len(tiles))

    def _simulate(self, phases, frames_of_work: float) -> dict:
        """Run ``phases`` in one simulation (``frames_of_work``: the work in compiled frames, for the
        deadlock bounds); fails unless every phase received exactly its beats."""
        from fqsr.sim.runner import sim_build_root
        from fqsr.sim.verify import simulate

        beats = sum(len(p["beats"]) + p["expect"] for p in phases)
        slowdown = 1.0 / (1.0 - self.stall_prob) ** 2
        max_cycles = int(slowdown * (4 * frames_of_work * self.estimate + 20 * beats) + 20000 * len(phases))
        key = hashlib.sha256(json.dumps([str(self.dataflow_path.resolve()), self.sim]).encode()).hexdigest()[:12]
        work = sim_build_root() / "hil" / key
        work.mkdir(parents=True, exist_ok=True)
        spec = {"phases": phases, "max_cycles": max_cycles}
        start, timings = time.monotonic(), {}
        # the simulation runs in ``work``, where the wrappers' ``$readmemh`` finds the ROM copies; the idle
        # bound: no node idles a whole frame of the slowest one (the largest frame's, for whole frames)
        largest = max(len(p["beats"]) for p in phases) / max(1, self.host.beats_in_per_tile())
        result = simulate(self.sources, spec, work, self.sim, self.seed, timings=timings,
                          idle_cycles=int(2 * slowdown * self.estimate * max(1.0, largest) + 10000))
        self.sim_wall_s = round(time.monotonic() - start, 2)
        self.sim_build_s, self.sim_build_cached = timings.get("build_s"), timings.get("build_cached")
        self.sim_cycles_per_s = round(result["cycles"] / max(result["wall_s"], 1e-9), 1)
        self.sim_cycles_per_cpu_s = (round(result["cycles"] / max(result["cpu_s"], 1e-9), 1)
                                     if "cpu_s" in result else None)
        self.cycles = int(result["cycles"])
        got = [len(p["beats"]) for p in result["phases"]]
        want = [p["expect"] for p in phases]
        if result["deadlock"] or got != want or result["extra_beats"]:
            raise FqsrError(f"the RTL returned {sum(got)} output beats (+{len(result['extra_beats'])} extra) of "
                            f"{sum(want)} expected"
                            f"{' and deadlocked' if result['deadlock'] else ''}"
                            f"{_held(result)}; run `fqsr verify MODEL`")
        return result


def _held(result) -> str:
    at = result.get("deadlock_at")
    return f" (held at {', '.join(at['nodes'])})" if at and at["nodes"] else ""


def rolled_weight_image(model_dir: Path) -> Path | None:
    """``rolled/weights.bin`` when the board runs a rolled design: the bitstream was built with ``--roll body``
    (``synth/pnr.json``), or the folder holds a rolled design only; None for an unrolled one."""
    from fqsr.flows.artifacts import RTL_DIRNAME
    from fqsr.hw.rolled import ROLLED_DIRNAME, WEIGHTS_NAME
    from fqsr.hw.synth import PNR_NAME, SYNTH_DIRNAME

    pnr = model_dir / SYNTH_DIRNAME / PNR_NAME
    roll = json.loads(pnr.read_text()).get("roll") if pnr.is_file() else None
    rolled = roll is not None or ((model_dir / ROLLED_DIRNAME).is_dir() and not (model_dir / RTL_DIRNAME).is_dir())
    return model_dir / ROLLED_DIRNAME / WEIGHTS_NAME if rolled else None


def open_device(spec: str, model_dir: Path, sim: str = "verilator", stall_prob: float = 0.0):
    """``rtlsim``, ``python`` or ``serial:PORT`` -> a device with ``run(tiles)``."""
    if spec == "rtlsim":
        return RtlsimDevice(model_dir, sim=sim, stall_prob=stall_prob)
    if spec == "python":
        return PythonDevice(model_dir)
    if spec.startswith("serial:") and len(spec) > len("serial:"):
        from fqsr.sim.link import SerialDevice

        device = SerialDevice(spec[len("serial:"):], model_dir=Path(model_dir),
                              weight_image=rolled_weight_image(Path(model_dir)))
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


FRAME_MODES = ("auto", "whole", "tiles")


def _whole_frames(device, pairs, mode: str) -> tuple[bool, str | None]:
    """(stream whole images?, why not): ``whole`` demands it, ``tiles`` refuses it, ``auto`` takes it where the
    device has runtime frame geometry and every image fits."""
    if mode not in FRAME_MODES:
        raise FqsrError(f"unknown frame mode {mode!r}; choose auto, whole or tiles")
    if mode == "tiles":
        return False, "tiles were asked for"
    why = None
    if not hasattr(device, "frame_refusal"):
        why = f"device {getattr(device, 'name', device)} takes tiles of the compiled size only"
    else:
        for name, lr, _ in pairs:
            refusal = device.frame_refusal(lr.shape[0], lr.shape[1])
            if refusal:
                why = f"image {name} (LR {lr.shape[0]}x{lr.shape[1]}) does not fit: {refusal}"
                break
    if why and mode == "whole":
        raise FqsrError(f"whole frames are impossible here: {why}; use --frames tiles")
    return why is None, why


def second_size(frame: dict) -> tuple[int, int]:
    """A runtime frame size smaller than the compiled one (about 3/4 of each side) that the RTL takes."""
    rows, cols = frame["compiled"]
    return (max(frame["min_rows"], rows - max(1, rows // 4)), max(frame["min_cols"], cols - max(1, cols // 4)))


def check_frame_sizes(model, model_dir: Path, sim: str = "verilator", stall_prob: float = 0.3, seed: int = 0,
                      sizes=None) -> dict:
    """Random frames of ``sizes`` (default: the compiled size, then :func:`second_size`) streamed whole
    through RTL with runtime frame geometry under random stalls, each compared element for element with
    ``model``'s (the Brevitas quantized model's) integer output on that frame. The compiled size comes
    first: a mismatch there means ``model`` is not the network compiled (FINN's execution, which
    ``fqsr verify`` compares at that size, is bound to the compiled shape)."""
    from fqsr.models.data import to_model
    from fqsr.models.infer import integer_output

    device = RtlsimDevice(model_dir, sim=sim, stall_prob=stall_prob, seed=seed)
    if not device.runtime_frames:
        raise FqsrError(f"{model_dir}/rtl has no runtime frame geometry; regenerate it with `fqsr rtl MODEL`")
    channels = device.host.tile_shape[0]
    sizes = [tuple(device.frame["compiled"]), second_size(device.frame)] if sizes is None else sizes
    rng = np.random.default_rng(seed)
    lrs = [rng.integers(0, 256, size=(rows, cols, channels), dtype=np.uint8) for rows, cols in sizes]
    start = time.monotonic()
    outputs = device.run_frames([lr.transpose(2, 0, 1) for lr in lrs])
    report = {"sizes": [list(size) for size in sizes], "equal": True, "mismatches": 0, "elements": 0,
              "sim_cycles": device.cycles, "wall_s": None}
    for (rows, cols), lr, got in zip(sizes, lrs, outputs):
        want = np.asarray(integer_output(model, to_model(lr))[0][0]).astype(np.int64)
        report["elements"] += int(want.size)
        if not np.array_equal(want, got):
            mismatch = {"frame": [rows, cols], **_first_mismatch(want, got)}
            report["mismatches"] += mismatch["mismatches"]
            report.setdefault("first_mismatch", mismatch)
            report["equal"] = False
    report["wall_s"] = round(time.monotonic() - start, 2)
    return report


def run_session(model, pairs, model_dir: Path, device, float_model=None, halo: int | None = None,
                frames: str = "auto") -> dict:
    """Run every LR image of ``pairs`` (``(name, lr, hr)`` as from :func:`fqsr.models.data.eval_pairs`) on
    ``device``, compare with ``model``'s whole-image integers and score.

    ``frames``: ``whole`` streams each image whole through RTL with runtime frame geometry (no tiles, no
    halo), ``tiles`` cuts them into overlapping tiles of the compiled size (all tiles in one run) and
    assembles the cores, ``auto`` (default) takes whole frames where possible. ``halo``: the tiles' halo
    (default: the dataflow graph's receptive field)."""
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
    whole, why_tiles = _whole_frames(device, pairs, frames)
    s = cfg.scale
    plans, inputs, tiles = [], [], []
    if whole:
        device_start = time.monotonic()
        images = device.run_frames([np.ascontiguousarray(lr.transpose(2, 0, 1)).astype(np.uint8)
                                    for _, lr, _ in pairs])
        device_wall = time.monotonic() - device_start
        assembled = [np.asarray(image).astype(np.int64) for image in images]
        for (name, lr, _), image in zip(pairs, assembled):
            if image.shape != (channels, lr.shape[0] * s, lr.shape[1] * s):
                raise FqsrError(f"the device returned shape {image.shape} for image {name}, expected "
                                f"{(channels, lr.shape[0] * s, lr.shape[1] * s)}")
    for name, lr, _ in ([] if whole else pairs):
        try:
            plan = plan_tiles(lr.shape[0], lr.shape[1], tile_h, tile_w, halo)
        except FqsrError as exc:
            raise FqsrError(f"image {name} (LR {lr.shape[0]}x{lr.shape[1]}): {exc}") from None
        plans.append(plan)
        inputs.append(cut(np.ascontiguousarray(lr.transpose(2, 0, 1)), plan))
    if not whole:
        tiles = np.concatenate(inputs).astype(np.uint8)
        device_start = time.monotonic()
        outputs = np.asarray(device.run(tiles)).astype(np.int64)
        device_wall = time.monotonic() - device_start
        if outputs.shape != (len(tiles), channels, tile_h * s, tile_w * s):
            raise FqsrError(f"the device returned shape {outputs.shape}, expected "
                            f"{(len(tiles), channels, tile_h * s, tile_w * s)}")
        offset, assembled = 0, []
        for (name, lr, hr), plan in zip(pairs, plans):
            assembled.append(assemble(plan, outputs[offset:offset + len(plan)], lr.shape[0], lr.shape[1], s))
            offset += len(plan)

    rows, first, mismatches = [], None, 0
    for k, (name, lr, hr) in enumerate(pairs):
        hw_ints = assembled[k]
        want, out_scale = integer_output(model, to_model(lr))
        want = want[0]
        if not np.array_equal(want, hw_ints):
            report = {"image": name, **_first_mismatch(want, hw_ints)}
            mismatches += report["mismatches"]
            first = first or report
        hw_sr = from_model(torch.from_numpy(hw_ints[None]).float() * out_scale)
        row = {"image": name, "lr": list(lr.shape[:2]), "tiles": 1 if whole else len(plans[k]),
               "hw": _scores(hw_sr, hr, s),
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
        "scale": s, "images": len(rows), "frames": "whole" if whole else "tiles", "tiles_because": why_tiles,
        "tiles": len(pairs) if whole else int(len(tiles)), "halo": 0 if whole else int(halo),
        "tile": [tile_h, tile_w],
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
        float_checkpoint=None, sim: str = "verilator", stall_prob: float = 0.0, bits: str | None = None,
        frames: str = "auto") -> dict:
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
    report = run_session(model, pairs, folder, dev, float_model, frames=frames)
    report = {**report, "data": str(data), "checkpoint": meta.get("checkpoint"),
              "sim": sim if device == "rtlsim" else None}
    write_json(folder / HIL_NAME, report)
    record(folder, HIL_NAME, inputs=[DATAFLOW_NAME] + ([RTL_DIRNAME] if device == "rtlsim" else []),
           settings={"data": str(data), "device": device, "sim": sim, "stall_prob": stall_prob, "frames": frames})
    return report
