"""Design-space sweeps: bit widths, width/depth, folding and boards -> a CSV, a summary and Pareto plots.

A grid (YAML/JSON, or built from CLI options) names model configs and the
target frame rates and boards to cross them with::

    tile: 32x32            # LR tile the hardware is compiled for
    clock_mhz: 200         # clock of SetFolding's target and of the fps estimates (default: each board's)
    target_fps: [null, 2000]   # null: FINN's default folding (PE = SIMD = 1)
    boards: [zcu104, pynq-z2, ulx3s-85f]   # fqsr.hw.board.BOARDS
    models:
      - name: [tiny_w2a2, tiny_w4a4]       # list values expand to every combination
        features: [16, 32]
        blocks: 4
        bits: "body.*.conv1=2"             # optional per-layer overrides (--bits syntax)
      - module: path/to/file.py:factory    # a user's Brevitas model (fqsr export --module)

Per config the model is exported once (Brevitas -> QONNX) and lowered to FINN
hardware nodes once per FINN part; per target frame rate it is folded,
stitched and estimated with the same functions ``fqsr compile`` uses
(:mod:`fqsr.flows.compile`). Fast mode (the default) skips the equality
proofs and uses FINN's estimates only; ``synth=True`` runs the full
``compile_model`` (proof on a real-image tile), generates the RTL and counts
it with Yosys (:func:`fqsr.hw.synth.yosys_resources`).

PSNR is measured with the model stage (:func:`fqsr.models.evaluate.evaluate`)
for configs that have a shipped checkpoint and are unchanged from the
registry; other points are ``untrained``. Weights matter for the hardware too
(FINN minimises weight and accumulator widths from their values), so trained
configs are compiled from their checkpoint, untrained ones from calibrated
random weights.

FINN estimates are for a Xilinx part: a Xilinx board's own part, FINN's
default (ZCU104) part for an ECP5 board, whose fit flag then compares
LUT6-based estimates with LUT4 capacity (synthesis gives the real count).
Boards without UltraRAM count each FINN URAM as 16 BRAM18 (the same bits in
block RAM).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import json
import logging
import math
import time
from pathlib import Path

from fqsr.models.errors import FqsrError

from fqsr.flows.artifacts import DATAFLOW_NAME, ESTIMATES_NAME, atomic_path, content_hash, write_json
from fqsr.hw.board import get_board

from .pipeline import DEFAULT_TILE, BuildConfig, run_steps

DEFAULT_GRID = Path(__file__).resolve().parent / "sweep_grid.yaml"  # package data
MAX_JOBS = 2
URAM_AS_BRAM18 = 16  # 288 Kbit UltraRAM = 16 x 18 Kbit block RAM
OUTPUT_FRAME_720P = (720, 1280)
COLUMNS = [
    "point", "model", "arch", "weight_bits", "act_bits", "bits", "features", "blocks", "scale", "tile",
    "target_fps", "board", "fpgapart", "clock_mhz", "trained", "psnr_y", "psnr_data", "macs", "bitops",
    "lut", "bram18", "uram", "dsp", "cycles_per_frame", "fps", "target_met", "bottleneck", "halo", "tiles_720p", "fps_720p",
    "fits_board", "yosys_lut", "yosys_ff", "yosys_bram", "yosys_dsp", "fits_board_yosys", "error",
]


@dataclasses.dataclass(frozen=True)
class ConfigSpec:
    """One model config of a grid: a registry name plus width/depth and bit-width changes, or a user's
    Brevitas model named by its factory (``module``, as ``fqsr export --module`` takes it)."""
    name: str = ""
    features: int | None = None
    blocks: int | None = None
    bits: str = ""
    module: str = ""

    def config(self):
        from fqsr.models.registry import get_config, parse_bits

        if self.module:
            return None
        cfg = get_config(self.name)
        if self.blocks is not None and cfg.blocks == 0:
            raise FqsrError(f"{self.name} has no repeated blocks; leave 'blocks' out for it")
        changes = {k: v for k, v in (("features", self.features), ("blocks", self.blocks)) if v is not None}
        if self.bits:
            changes["bits"] = cfg.bits + parse_bits(self.bits)
        return cfg.replace(**changes)

    @property
    def point(self) -> str:
        """A readable id: the name plus what differs from the registry config (a user model: its factory)."""
        from fqsr.models.registry import get_config

        if self.module:
            return "user-" + self.module.rpartition(":")[2]
        base, cfg = get_config(self.name), self.config()
        label = self.name
        if cfg.features != base.features:
            label += f"-f{cfg.features}"
        if cfg.blocks != base.blocks:
            label += f"-b{cfg.blocks}"
        if self.bits:
            label += "-bits" + hashlib.sha1(self.bits.encode()).hexdigest()[:6]
        return label


@dataclasses.dataclass(frozen=True)
class Grid:
    configs: tuple[ConfigSpec, ...]
    target_fps: tuple[float | None, ...] = (None,)
    boards: tuple[str, ...] = ("zcu104",)
    tile: tuple[int, int] = DEFAULT_TILE
    clock_mhz: float | None = None  # None: each board's clock

    def clock(self, board: str) -> float:
        return self.clock_mhz or get_board(board).clock_mhz

    def points(self) -> int:
        return len(self.configs) * len(self.target_fps) * len(self.boards)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def grid_from_dict(data: dict) -> Grid:
    """Validate a grid description (see the module docstring); one clear error for anything wrong."""
    from fqsr.flows.export import parse_tile

    if not isinstance(data, dict) or not data.get("models"):
        raise FqsrError("a sweep grid needs a non-empty 'models' list")
    unknown = set(data) - {"models", "target_fps", "boards", "tile", "clock_mhz"}
    if unknown:
        raise FqsrError(f"unknown sweep grid keys: {', '.join(sorted(unknown))}")
    configs = []
    for entry in data["models"]:
        entry = {"name": entry} if isinstance(entry, str) else dict(entry)
        if "module" in entry:
            if set(entry) != {"module"}:
                raise FqsrError(f"sweep grid model entry {entry}: a 'module' entry takes no other keys (its "
                                f"factory sets width, depth and bit widths)")
            from fqsr.flows.export import UserModel

            configs += [ConfigSpec(module=UserModel.parse(str(m)).spec) for m in _as_list(entry["module"])]
            continue
        extra = set(entry) - {"name", "features", "blocks", "bits"}
        if extra or "name" not in entry:
            raise FqsrError(f"sweep grid model entry {entry} must have 'name' and only features/blocks/bits")
        keys = list(entry)
        for values in itertools.product(*(_as_list(entry[k]) for k in keys)):
            spec = ConfigSpec(**{k: (v if v is not None or k != "bits" else "") for k, v in zip(keys, values)})
            cfg = spec.config()
            if not cfg.quantized:
                raise FqsrError(f"{spec.name} is a float model; sweeps cover quantized models")
            if cfg.features < 1 or (spec.blocks is not None and spec.blocks < 1):
                raise FqsrError(f"{spec.point}: features and blocks must be positive")
            if spec.bits:  # the patterns must name layers of this network
                from fqsr.models.registry import build_model

                build_model(cfg)
            configs.append(spec)
    fps = tuple(None if v is None else float(v) for v in _as_list(data.get("target_fps", [None])))
    if any(v is not None and v <= 0 for v in fps):
        raise FqsrError("sweep target_fps values must be positive (or null for the default folding)")
    boards = tuple(_as_list(data.get("boards", ["zcu104"])))
    for board in boards:
        get_board(board)
    clock = data.get("clock_mhz")
    if clock is not None and float(clock) <= 0:
        raise FqsrError("sweep clock_mhz must be positive (or null for each board's clock)")
    tile = parse_tile(str(data["tile"])) if data.get("tile") else DEFAULT_TILE
    return Grid(tuple(dict.fromkeys(configs)), tuple(dict.fromkeys(fps)), tuple(dict.fromkeys(boards)), tile,
                None if clock is None else float(clock))


def load_grid(path: Path) -> Grid:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as exc:
        raise FqsrError(f"sweep grid {path} is not readable YAML/JSON ({exc.__class__.__name__})") from None
    return grid_from_dict(data)


def is_trained(spec: ConfigSpec) -> bool:
    """A shipped checkpoint exists and the config is the registry's, unchanged."""
    from fqsr.models.checkpoint import shipped_checkpoint
    from fqsr.models.registry import get_config

    return not spec.module and shipped_checkpoint(spec.name).is_file() and spec.config() == get_config(spec.name)


def load_network(spec: ConfigSpec):
    """The shipped checkpoint for trained configs; calibrated random weights otherwise."""
    import torch

    from fqsr.models.calibrate import calibrate, image_batches
    from fqsr.models.checkpoint import load_model
    from fqsr.models.registry import build_model

    if spec.module:  # the factory loads its own weights
        from fqsr.flows.export import UserModel

        return UserModel(spec.module).load()
    if is_trained(spec):
        return load_model(spec.name)[0]
    torch.manual_seed(0)  # the same random weights in every run and worker: reproducible estimates
    net = build_model(spec.config()).eval()
    calibrate(net, image_batches(net.config))
    return net


def bitops(model) -> dict:
    """MACs and BitOps (MACs x weight bits x input bits) of every MVAU of a FINN dataflow graph, summed."""
    from qonnx.custom_op.registry import getCustomOp

    macs = ops = 0
    for node in model.graph.node:
        if not node.op_type.startswith("MVAU"):
            continue
        inst = getCustomOp(node)
        n = inst.get_nodeattr("MW") * inst.get_nodeattr("MH") * math.prod(inst.get_nodeattr("numInputVectors"))
        macs += n
        ops += n * inst.get_input_datatype(1).bitwidth() * inst.get_input_datatype(0).bitwidth()
    return {"macs": int(macs), "bitops": int(ops)}


def fits(totals: dict, board_name: str, keys: dict) -> bool:
    """Whether ``totals`` (resource -> count, named by ``keys``: board kind -> totals key) fit the board."""
    capacity = get_board(board_name).capacity
    need = {kind: float(totals.get(key) or 0) for kind, key in keys.items()}
    if "uram" in totals and "URAM" not in capacity:
        need["BRAM"] = need.get("BRAM", 0) + URAM_AS_BRAM18 * float(totals["uram"] or 0)
    return all(need[kind] <= capacity[kind] for kind in need)


FINN_KEYS = {"LUT": "lut", "BRAM": "bram18", "DSP": "dsp"}
YOSYS_KEYS = {"LUT": "LUT", "FF": "FF", "BRAM": "BRAM", "DSP": "DSP"}


def _frame_columns(model, tile, scale, fps) -> dict:
    from fqsr.flows.tiling import receptive_halo, tiles_per_image

    halo = receptive_halo(model)
    h, w = (math.ceil(side / scale) for side in OUTPUT_FRAME_720P)
    try:
        tiles = tiles_per_image(h, w, tile[0], tile[1], halo)
    except FqsrError:  # the tile leaves no core inside the halo
        return {"halo": halo, "tiles_720p": None, "fps_720p": None}
    return {"halo": halo, "tiles_720p": tiles, "fps_720p": float(f"{fps / tiles:.6g}")}


def _estimate(hardware, part, target_fps, clock_mhz):
    """Fold, stitch and estimate a copy of a specialized hardware graph, as ``fqsr compile`` does."""
    from fqsr.flows.compile import fold, stitch
    from fqsr.flows.finn.estimates import estimates

    model = stitch(fold(hardware, None, target_fps, clock_mhz)[0], part)
    return model, estimates(model, part, clock_mhz)


def _synth(onnx_path, net, folder, part, target_fps, clock_mhz):
    """The pipeline's compile (proof on a real-image tile) and rtl steps for one point, in ``folder``."""
    from fqsr.flows.export import load_qonnx

    cfg = BuildConfig(folder, net=net, onnx=onnx_path, fpgapart=part, target_fps=target_fps, clock_mhz=clock_mhz,
                      random_tiles=0)
    run_steps(cfg, ["compile", "rtl"])
    return load_qonnx(folder / DATAFLOW_NAME), json.loads((folder / ESTIMATES_NAME).read_text())


def _yosys_columns(folder: Path, board: str, cache: dict) -> dict:
    """Yosys counts of ``folder/rtl`` for the board's synthesis target (once per target) and the fit flag."""
    from fqsr.hw.synth import yosys_resources

    target = get_board(board).target
    if (folder, target) not in cache:
        cache[folder, target] = yosys_resources(folder, target)["total"]
    total = cache[folder, target]
    return {"yosys_lut": total["LUT"], "yosys_ff": total["FF"], "yosys_bram": total["BRAM"],
            "yosys_dsp": total["DSP"], "fits_board_yosys": fits(total, board, YOSYS_KEYS)}


def sweep_config(spec: ConfigSpec, grid: Grid, work_dir: Path, psnr: dict | None, synth: bool = False) -> list[dict]:
    """Every (target fps, board) row of one config; ``psnr``: {"psnr_y", "psnr_data"} or None (untrained)."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.compile import finn_warnings, lower_and_convert
    from fqsr.flows.export import export_qonnx_model, load_qonnx

    cfg = spec.config()
    described = {"model": spec.module, "arch": "user"} if cfg is None else {
        "model": spec.name, "arch": cfg.arch, "weight_bits": cfg.weight_bits, "act_bits": cfg.act_bits,
        "bits": ",".join(f"{p}={b}" for p, b in cfg.bits), "features": cfg.features, "blocks": cfg.blocks,
        "scale": cfg.scale}
    base = {
        "point": spec.point, **described, "tile": "x".join(map(str, grid.tile)),
        "trained": psnr is not None,
        "psnr_y": (psnr or {}).get("psnr_y", "untrained"), "psnr_data": (psnr or {}).get("psnr_data"),
    }
    work = Path(work_dir) / spec.point
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        net = load_network(spec)
        onnx_path = work / "model.qonnx.onnx"
        with atomic_path(onnx_path) as tmp:
            export_qonnx_model(net, grid.tile, tmp)
        scale = base.get("scale") or upscaling(load_qonnx(onnx_path))
        base["scale"] = scale
        parts = {}  # boards that share a FINN part and a clock share their estimates
        for board in grid.boards:
            parts.setdefault((get_board(board).finn_part, grid.clock(board)), []).append(board)
        yosys_cache, lowered = {}, {}
        with finn_warnings():
            for (part, clock), boards in parts.items():
                if not synth and part not in lowered:
                    lowered[part] = lower_and_convert(load_qonnx(onnx_path), part)[1]
                for fps in grid.target_fps:
                    folder = work / f"{part}-{clock:g}MHz-fps{'default' if fps is None else f'{fps:g}'}"
                    if synth:
                        model, est = _synth(onnx_path, net, folder, part, fps, clock)
                    else:
                        model, est = _estimate(lowered[part], part, fps, clock)
                    shared = {**base, "target_fps": fps, "fpgapart": part, "clock_mhz": clock, **bitops(model),
                              **{k: est["totals"][k] for k in ("lut", "bram18", "uram", "dsp")},
                              "cycles_per_frame": est["cycles_per_frame"], "fps": est["fps"],
                              "target_met": None if fps is None else est["fps"] >= fps,
                              "bottleneck": est["bottleneck"],
                              **_frame_columns(model, grid.tile, scale, est["fps"])}
                    for board in boards:
                        row = {**shared, "board": board, "fits_board": fits(est["totals"], board, FINN_KEYS)}
                        if synth:
                            row.update(_yosys_columns(folder, board, yosys_cache))
                        rows.append(row)
    except Exception as exc:  # one failing point must not lose the rest of the sweep; the CSV names it
        message = " ".join(str(exc).split())[:300]
        done = {(r["target_fps"], r["board"]) for r in rows}
        rows += [{**base, "target_fps": fps, "board": board, "fpgapart": get_board(board).finn_part,
                  "clock_mhz": grid.clock(board),
                  "error": f"{type(exc).__name__}: {message}"}
                 for fps in grid.target_fps for board in grid.boards if (fps, board) not in done]
    return rows


def upscaling(qonnx_model) -> int:
    """Output height over input height of an exported graph."""
    inp = qonnx_model.get_tensor_shape(qonnx_model.graph.input[0].name)
    out = qonnx_model.get_tensor_shape(qonnx_model.graph.output[0].name)
    return out[2] // inp[2]


def measure_psnr(name: str, data: str) -> dict:
    """The quantized model's mean PSNR-Y on ``data``, measured by the model stage."""
    from fqsr.models.evaluate import evaluate

    report = evaluate(name, data, with_twin=False)
    return {"psnr_y": round(report["psnr_y_quant"], 4), "psnr_data": Path(str(data)).name}


def default_data() -> str:
    from fqsr.models.data import shared_data_dir

    shared = shared_data_dir()
    return str(shared / "Set5") if shared and (shared / "Set5").is_dir() else "embedded"


def _worker_init():
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)


def _run_task(spec, grid, work_dir, data, synth):
    psnr = measure_psnr(spec.name, data) if is_trained(spec) else None
    return sweep_config(spec, grid, work_dir, psnr, synth)


def network_size(spec: ConfigSpec) -> int:
    """features**2 x blocks of a zoo config (work per point, roughly); 0 for a user model (unknown)."""
    cfg = spec.config()
    return 0 if cfg is None else cfg.features ** 2 * max(cfg.blocks, 1)


def code_hash() -> str:
    """Content hash of the installed fqsr package (its sources, RTL, board files and shipped checkpoints):
    a cached sweep point is reused only while the code and weights it came from are unchanged. Not
    :func:`content_hash` of each folder: that would take in ``__pycache__``, which Python writes lazily."""
    digest = hashlib.sha256()
    for package in ("models", "flows", "hw", "sim", "reports", "apps"):
        base = Path(importlib.import_module(f"fqsr.{package}").__file__).resolve().parent
        for path in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{package}/{path.relative_to(base)}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _data_identity(data: str) -> list:
    """What of the PSNR data a point depends on: the images' contents (or the embedded set's name)."""
    return [data, content_hash(Path(data)) if Path(data).is_dir() else None]


def task_key(spec: ConfigSpec, grid: Grid, data: str, synth: bool, code: str) -> str:
    """The content key of one config's rows: its spec, the grid's crossing, the data, the mode and the code.
    A user module's file is hashed too (its path alone does not say what it builds)."""
    module_file = spec.module.rsplit(":", 1)[0] if spec.module else ""
    module_bytes = content_hash(Path(module_file)) if module_file.endswith(".py") else None
    text = json.dumps([dataclasses.asdict(spec), grid_to_dict(dataclasses.replace(grid, configs=())),
                       _data_identity(data), synth, code, module_bytes], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _cached_rows(cache: Path, key: str) -> list[dict] | None:
    path = cache / f"{key}.json"
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: computed again, never trusted half-written
    return rows if isinstance(rows, list) else None


def _store_rows(cache: Path, key: str, rows: list[dict]) -> None:
    if any(r.get("error") for r in rows):
        return  # a failed point is tried again on the next run
    cache.mkdir(parents=True, exist_ok=True)
    write_json(cache / f"{key}.json", {"rows": rows})


@contextlib.contextmanager
def dask_client(jobs: int, scheduler: str | None):
    """A Dask client: connected to ``scheduler`` (an address such as tcp://host:8786, whose workers have fqsr
    installed and see the same work folder), or on a local cluster of ``jobs`` single-threaded processes."""
    # dask.distributed is imported here: only sweeps that run in parallel need it
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise FqsrError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def run_sweep(grid: Grid, out_dir: Path, work_dir: Path | None = None, jobs: int = MAX_JOBS,
              synth: bool = False, data: str | None = None, progress: bool = True,
              scheduler: str | None = None) -> dict:
    """Run every point of ``grid``; write ``sweep.csv``, ``sweep.json``, ``sweep.md`` and Pareto PNGs to ``out_dir``.

    Each config is one task; tasks run on Dask: a local cluster of up to ``jobs`` (at most :data:`MAX_JOBS`)
    processes, or the cluster behind ``scheduler``. A config's rows are cached in ``<work>/cache`` under the
    content key of everything they depend on (:func:`task_key`), so a rerun computes only what changed.
    Returns ``{"rows": [...], "plots": {...}, "errors": n, "cached": n, "seconds": s, ...}``.
    """
    from tqdm import tqdm

    from fqsr.reports.pareto import sweep_plots
    from fqsr.reports.sweep_summary import sweep_markdown

    from fqsr.flows.artifacts import build_root

    if not scheduler and not 1 <= jobs <= MAX_JOBS:
        raise FqsrError(f"--jobs must be 1 or {MAX_JOBS} (the machine budget for sweeps)")
    out_dir, data = Path(out_dir), data or default_data()
    work_dir = Path(work_dir or build_root() / "sweep")
    cache = work_dir / "cache"
    start = time.monotonic()
    # the largest networks first, so the workers finish close together
    specs = sorted(grid.configs, key=network_size, reverse=True)
    code = code_hash()
    keys = {spec: task_key(spec, grid, data, synth, code) for spec in specs}
    rows, todo = [], []
    for spec in specs:
        cached = _cached_rows(cache, keys[spec])
        if cached is None:
            todo.append(spec)
        else:
            rows += cached
    bar = tqdm(total=len(todo), desc="sweep", unit="config", disable=not progress, leave=False)
    if todo and not scheduler and (jobs == 1 or len(todo) == 1):
        for spec in todo:
            bar.set_description(f"sweep {spec.point}")
            done = _run_task(spec, grid, work_dir, data, synth)
            _store_rows(cache, keys[spec], done)
            rows += done
            bar.update(1)
    elif todo:
        from distributed import as_completed

        with dask_client(jobs, scheduler) as client:
            client.run(_worker_init)
            futures = {client.submit(_run_task, spec, grid, work_dir, data, synth, key=f"sweep-{keys[spec]}",
                                     pure=False): spec for spec in todo}
            for future in as_completed(futures):
                done = future.result()
                _store_rows(cache, keys[futures[future]], done)
                rows += done
                bar.update(1)
    bar.close()
    order = {s.point: i for i, s in enumerate(grid.configs)}
    fps_order = {v: i for i, v in enumerate(grid.target_fps)}
    board_order = {b: i for i, b in enumerate(grid.boards)}
    rows = [{col: row.get(col) for col in COLUMNS}
            for row in sorted(rows, key=lambda r: (order[r["point"]], fps_order[r["target_fps"]],
                                                   board_order[r["board"]]))]
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = sweep_plots([r for r in rows if r["board"] == grid.boards[0] and not r["error"]], out_dir)
    result = {"grid": grid_to_dict(grid), "data": data, "synth": synth, "jobs": jobs, "scheduler": scheduler,
              "seconds": round(time.monotonic() - start, 1), "points": len(rows),
              "cached": len(specs) - len(todo), "computed": len(todo),
              "errors": sum(bool(r["error"]) for r in rows), "plots": plots, "rows": rows}
    write_csv(rows, out_dir / "sweep.csv")
    write_json(out_dir / "sweep.json", result)
    with atomic_path(out_dir / "sweep.md") as tmp:
        tmp.write_text(sweep_markdown(result))
    return result


def grid_to_dict(grid: Grid) -> dict:
    return {"tile": "x".join(map(str, grid.tile)), "clock_mhz": grid.clock_mhz, "target_fps": list(grid.target_fps),
            "boards": list(grid.boards),
            "models": [{k: v for k, v in dataclasses.asdict(s).items() if v not in (None, "")} for s in grid.configs]}


def write_csv(rows: list[dict], path: Path) -> Path:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False)
    return Path(path)
