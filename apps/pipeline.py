"""One build pipeline: named steps over one :class:`BuildConfig`.

In the shape of FINN's ``step_*`` functions over its ``DataflowBuildConfig``:
every fqsr command chooses steps from :data:`STEPS` and runs them over one
configuration, whose fields hold the only defaults of the toolkit.

==========================  ==============================================================
``fqsr build``              every step, skipping those whose artifact is current
``fqsr export`` ...         one step each (export, compile, rtl, verify, report), always run
``fqsr demo``               export, compile (after scoring the model)
``fqsr sweep --synth``      compile, rtl per point (the fast sweep folds and estimates with
                            compile's own functions and proves nothing)
:mod:`fqsr.apps.api`        export, compile, rtl, verify
==========================  ==============================================================

A step's artifact is *current* when its provenance is intact (unchanged since
it was written, made from the artifacts now in the folder: :mod:`fqsr.flows.artifacts`)
and it was made with the configuration's settings; ``fqsr build`` skips such a step.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fqsr.models.errors import FqsrError

from fqsr.flows.artifacts import (DATAFLOW_NAME, FOLDING_NAME, ONNX_NAME, RTL_DIRNAME, VERIFY_NAME, require_current,
                                  settings_of, why_stale)
from fqsr.hw.board import DEFAULT_BOARD

DEFAULT_TILE = (16, 16)  # LR tile: what the shipped small model fits an 85F with; line buffers grow with it
DEFAULT_SIM = "verilator"
RESOURCES = "synth/resources.json"
PNR = "synth/pnr.json"


@dataclasses.dataclass
class BuildConfig:
    """Everything a build is made from; each field's default is fqsr's default for every command.

    The model is one of: a zoo ``model`` config (weights from ``checkpoint`` or the shipped one), a ``user``
    model record (``user_model`` of export.json: re-exported from its factory), an in-memory Brevitas ``net``
    (the Python API, the sweep), or only an export already in ``folder`` (a QONNX file made elsewhere)."""

    folder: Path
    model: Any = None  # fqsr.models.registry.ModelConfig
    user: dict | None = None
    net: Any = None  # the Brevitas module: the reference of the compile proof when loaded
    meta: dict | None = None  # its checkpoint's metadata
    checkpoint: str | None = None
    onnx: Path | None = None  # the QONNX input (default: the folder's export)
    tile: tuple[int, int] = DEFAULT_TILE
    board: str = DEFAULT_BOARD
    clock_mhz: float | None = None  # None: the board's clock
    fpgapart: str | None = None  # None: the board's own part (Xilinx) or FINN's default part (ECP5)
    target_fps: float | None = None  # None: FINN's most folded default (PE = SIMD = 1)
    folding: Path | None = None  # a folding JSON applied as written (excludes target_fps)
    fps: str | None = None  # "max" or a frame rate: the folding search for the board (excludes the two above)
    fps_scale: dict | None = None  # the search's budget per kind, lowered when synthesis finds it too large
    random_tiles: int = 2  # random tiles in the export and compile proofs (plus one real-image tile)
    verify_tiles: int = 2  # tiles streamed through the RTL: random ones plus one real-image tile
    sim: str = DEFAULT_SIM
    stall_prob: float = 0.3
    seed: int = 0
    waves: bool = False
    roll: str | None = None  # "body": the residual body as one block engine on SDRAM (fqsr.hw.rolled)
    verify_budget_min: float = 60.0  # a rolled verify estimated longer runs on a smaller tile (verify_rolled)
    roll_auto: bool = False  # fqsr build of a zoo model: roll the body when the unrolled ROMs cannot fit the board

    def __post_init__(self):
        self.folder = Path(self.folder)

    @property
    def name(self) -> str:
        if self.model is not None:
            return self.model.name
        if self.user is not None:
            return self.user["name"]
        return self.folder.name

    @property
    def spec(self):
        from fqsr.hw.board import get_board

        return get_board(self.board)

    @property
    def clock(self) -> float:
        return float(self.clock_mhz or self.spec.clock_mhz)

    @property
    def part(self) -> str:
        return self.fpgapart or self.spec.finn_part

    @property
    def qonnx(self) -> Path:
        return Path(self.onnx) if self.onnx else self.folder / ONNX_NAME

    def load(self):
        """The Brevitas module (loaded once): the zoo checkpoint, calibrated random weights for an untrained
        zoo model, or the user model's factory."""
        if self.net is None:
            if self.model is not None:
                from fqsr.models.checkpoint import load_model

                self.net, self.meta = load_model(self.model, self.checkpoint, calibrate_untrained=True)
            elif self.user is not None and self.user.get("module"):
                from fqsr.flows.export import UserModel

                self.net = UserModel(self.user["module"]).load()
            else:
                raise FqsrError(f"{self.folder} holds an export made without a factory fqsr could call again; "
                                f"export it for tile {self.tile[0]}x{self.tile[1]} yourself or use the tile it "
                                f"was exported for")
        return self.net


DEFAULTS = {f.name: f.default for f in dataclasses.fields(BuildConfig)}  # what every command defaults to


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _command(cfg: BuildConfig, stage: str) -> str:
    """The command that makes a stage's artifact again, as the user would type it."""
    target = cfg.model.name if cfg.model is not None else f"--out-dir {cfg.folder}"
    return f"fqsr {stage} {target}"


# ---- the steps: run(cfg) -> report, current(cfg) -> bool ----------------------------------------------------

def step_export(cfg: BuildConfig) -> dict:
    """Brevitas -> QONNX (``model.qonnx.onnx``), proven equal element for element."""
    from fqsr.flows.export import UserModel, export

    if cfg.user is not None:
        net = cfg.load()
        source = UserModel(cfg.user["module"]) if cfg.user.get("module") else None
        return export(net, cfg.tile, cfg.random_tiles, cfg.folder, name=cfg.user["name"], source=source)
    return export(cfg.load(), cfg.tile, cfg.random_tiles, cfg.folder, cfg.meta)


def export_current(cfg: BuildConfig) -> bool:
    from fqsr.flows.export import source_changed

    exported = read_json(cfg.folder / "export.json")
    proven = exported.get("equal") or bool((cfg.user or {}).get("onnx_source"))  # a QONNX file made elsewhere
    proven = proven and not (cfg.user and source_changed(cfg.user))  # an edited model file is exported again
    return not why_stale(cfg.folder, ONNX_NAME) and exported.get("tile") == list(cfg.tile) and bool(proven)


def step_compile(cfg: BuildConfig, progress=None) -> dict:
    """QONNX -> FINN's folded dataflow graph (``dataflow.onnx``), proven equal; ``progress``: a tqdm bar."""
    from fqsr.flows.compile import compile_model

    if not cfg.qonnx.is_file():
        raise FqsrError(f"{cfg.qonnx} does not exist; run `{_command(cfg, 'export')}` first")
    return compile_model(cfg.qonnx, cfg.folder, folding=Path(cfg.folding) if cfg.folding else None,
                         target_fps=cfg.target_fps, clock_mhz=cfg.clock, fpgapart=cfg.part,
                         random_tiles=cfg.random_tiles, reference=cfg.net, progress=progress,
                         choose_folding=folding_search(cfg), search_settings=search_settings(cfg))


def folding_search(cfg: BuildConfig):
    """The board-aware folding search for ``--fps`` (:mod:`fqsr.hw.folding_search`), or None."""
    if cfg.fps is None:
        return None
    from fqsr.flows.compile import stitch
    from fqsr.hw.folding_search import search_folding

    if cfg.spec.target != "ecp5":
        raise FqsrError(f"--fps searches a folding with the ECP5 cost model; {cfg.spec.name} is a {cfg.spec.vendor} "
                        f"board (use --target-fps or --folding for it)")
    return lambda model: search_folding(model, cfg.spec, cfg.clock, cfg.fps, cfg.fps_scale,
                                        stitch=lambda m: stitch(m, cfg.part))


def search_settings(cfg: BuildConfig) -> dict | None:
    return None if cfg.fps is None else {"fps": cfg.fps, "board": cfg.spec.name, "scale": cfg.fps_scale or {}}


def compile_settings(cfg: BuildConfig) -> dict:
    """The settings ``dataflow.onnx``'s provenance records (see :func:`fqsr.flows.compile.compile_model`)."""
    settings = {"folding": str(cfg.folding) if cfg.folding else None, "target_fps": cfg.target_fps,
                "clock_mhz": cfg.clock, "fpgapart": cfg.part}
    if cfg.fps is not None:
        settings["search"] = search_settings(cfg)
    return settings


def compile_current(cfg: BuildConfig) -> bool:
    return (not why_stale(cfg.folder, DATAFLOW_NAME) and read_json(cfg.folder / "compile.json").get("dataflow")
            and settings_of(cfg.folder, DATAFLOW_NAME) == compile_settings(cfg))


def step_rtl(cfg: BuildConfig) -> dict:
    """One Verilog wrapper per dataflow node, the stitched ``top.v`` and ``filelist.f`` (``rtl/``); with
    ``roll="body"`` the rolled design instead (``rolled/``: the block engine, its SDRAM DMA and ``rolled_top``)."""
    from fqsr.hw.stitch import generate_rtl

    require_current(cfg.folder, DATAFLOW_NAME, _command(cfg, "compile"))
    if cfg.roll is not None:
        from fqsr.hw.rolled import generate_rolled_rtl

        _check_roll(cfg)
        return generate_rolled_rtl(cfg.folder / DATAFLOW_NAME, cfg.folder)
    return generate_rtl(cfg.folder / DATAFLOW_NAME, cfg.folder)  # results of the old RTL lose their provenance


ROLL_CHOICES = ("body",)


def _check_roll(cfg: BuildConfig) -> None:
    if cfg.roll not in ROLL_CHOICES:
        raise FqsrError(f"--roll {cfg.roll} is not a rolled design; the choices are {', '.join(ROLL_CHOICES)}")


def rtl_current(cfg: BuildConfig) -> bool:
    """Intact provenance, and the generic modules copied into ``rtl/`` are byte-identical to ``hw/rtl``."""
    from fqsr.hw.generate import copies_current

    if cfg.roll is not None:
        from fqsr.hw.rolled import ROLLED_DIRNAME

        return not why_stale(cfg.folder, ROLLED_DIRNAME)
    rtl = cfg.folder / RTL_DIRNAME
    return not why_stale(cfg.folder, RTL_DIRNAME) and copies_current(rtl) and "buffer_bits_total" in read_json(
        rtl / "rtl.json")


def step_storage(cfg: BuildConfig) -> dict:
    """The ROM and buffer bits against all the device could store: what cannot fit stops before an hour of Yosys.
    Rolled: the on-chip ROMs (head, tail) and RAM (the engine's weight bank, buffers, the frame-deep FIFOs beside
    the body); the body's weights are in SDRAM (``weights.bin``) and are not counted."""
    from fqsr.hw.synth import check_storage

    if cfg.roll is not None:
        from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME

        rolled = read_json(cfg.folder / ROLLED_DIRNAME / SUMMARY_NAME)
        report = check_storage(rolled.get("rom_bits_total", 0), cfg.spec, f"{cfg.name}'s rolled accelerator",
                               rolled.get("rom_bits"), rolled.get("buffer_bits_total", 0),
                               rolled.get("buffer_bits_by_node"))
        return {**report, "roll": cfg.roll, "sdram_weight_bits": rolled.get("sdram_weight_bits")}
    rtl = read_json(cfg.folder / RTL_DIRNAME / "rtl.json")
    return check_storage(rtl.get("rom_bits_total", 0), cfg.spec, f"{cfg.name}'s accelerator", rtl.get("rom_bits"),
                         rtl.get("buffer_bits_total", 0), rtl.get("buffer_bits"))


def unrolled_rom_bits(cfg: BuildConfig) -> int:
    """The ROM bits of the unrolled design, from ``dataflow.onnx`` (without generating its RTL)."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.export import load_qonnx
    from fqsr.hw.generate import node_instance, rom_bits

    model = load_qonnx(cfg.folder / DATAFLOW_NAME)
    return sum(rom_bits(node_instance(model, node)) for node in model.graph.node)


def choose_roll(cfg: BuildConfig) -> str | None:
    """With ``roll_auto``: ``"body"`` when the unrolled ROMs exceed all the board could store (the one line to
    say so), else None; ``cfg.roll`` is set accordingly."""
    if cfg.roll is not None or not cfg.roll_auto or cfg.spec.vendor != "lattice":  # the rolled board is a ULX3S
        return None
    bits, capacity = unrolled_rom_bits(cfg), cfg.spec.storage_bits()
    if bits <= capacity:
        return None
    from fqsr.flows.export import load_qonnx
    from fqsr.hw.rolled import residual_blocks

    try:
        residual_blocks(load_qonnx(cfg.folder / DATAFLOW_NAME))
    except FqsrError:  # no body to roll: the storage check says why the model cannot fit
        return None
    cfg.roll = "body"
    return (f"fqsr: {cfg.name}'s weight and threshold ROMs ({bits / 1e6:.2f} Mbit) cannot fit {cfg.spec.name} "
            f"({capacity / 1e6:.2f} Mbit at most); building it with --roll body (the residual body as one block "
            f"engine, its weights in SDRAM)")


def step_synth(cfg: BuildConfig) -> dict:
    """Yosys counts of the accelerator for the board's family (``synth/resources.json``)."""
    from fqsr.hw.synth import yosys_resources

    return yosys_resources(cfg.folder, cfg.spec.target, clock_mhz=_board_clock(cfg), roll=cfg.roll)


def _board_clock(cfg: BuildConfig) -> float | None:
    """The clock the ECP5 board top is synthesized for (its PLL's): the configuration's."""
    return cfg.clock if cfg.spec.vendor == "lattice" else None


def synth_settings(cfg: BuildConfig) -> dict:
    """The settings ``synth/resources.json``'s provenance records; the roll only for a rolled design."""
    settings = {"target": cfg.spec.target, "clock_mhz": _board_clock(cfg)}
    return {**settings, "roll": cfg.roll} if cfg.roll is not None else settings


def synth_current(cfg: BuildConfig) -> bool:
    return not why_stale(cfg.folder, RESOURCES) and settings_of(cfg.folder, RESOURCES) == synth_settings(cfg)


def step_fit(cfg: BuildConfig) -> dict:
    """Those counts against the board; :class:`fqsr.hw.synth.DoesNotFit` names what binds."""
    from fqsr.hw.synth import check_fit

    return check_fit(read_json(cfg.folder / RESOURCES)["total"], cfg.spec, f"{cfg.name}'s accelerator")


def step_verify(cfg: BuildConfig) -> dict:
    """Tiles through the stitched RTL under random stalls, compared with FINN's execution element for element."""
    from fqsr.sim.verify import verify

    if cfg.verify_tiles < 1:
        raise FqsrError("--verify-tiles must be at least 1")
    require_current(cfg.folder, DATAFLOW_NAME, _command(cfg, "compile"))
    if cfg.roll is not None:
        return verify_rolled(cfg)
    report = verify(cfg.folder, tiles=cfg.verify_tiles, sim=cfg.sim, stall_prob=cfg.stall_prob, waves=cfg.waves,
                    seed=cfg.seed)
    if report["equal"] and _runtime_frames(cfg.folder):  # and a second, smaller frame size, whole
        from fqsr.flows.artifacts import record, write_json
        from fqsr.flows.export import exported_network
        from fqsr.sim.hil import check_frame_sizes

        try:  # the zoo network as exported (its copy in the folder), else the user's factory called again
            net = exported_network(cfg.folder) or cfg.load()
        except FqsrError as exc:  # an export without a factory to call again: nothing to compare a new size with
            net, sizes = None, {"checked": False, "why": str(exc)}
        exported = read_json(cfg.folder / "export.json").get("config")
        loaded = getattr(getattr(net, "config", None), "to_dict", lambda: None)()
        loaded = json.loads(json.dumps(loaded))  # as export.json holds it (tuples become lists)
        if net is not None and exported and loaded and exported != loaded:
            net, sizes = None, {"checked": False, "why": f"{cfg.folder} was exported from another configuration "
                                "of the model than the one this build loads; nothing to compare a new size with"}
        if net is not None:
            sizes = {"checked": True, **check_frame_sizes(net, cfg.folder, sim=cfg.sim, stall_prob=cfg.stall_prob,
                                                          seed=cfg.seed)}
            compiled = list(sizes["sizes"][0])
            if sizes.get("first_mismatch", {}).get("frame") == compiled:
                # The RTL equals FINN at the compiled size (above), so the model loaded here is not the network
                # exported (e.g. untrained weights drawn again): it cannot judge another size either.
                sizes = {"checked": False, "why": "the model loaded again differs from the exported network at the "
                         "compiled size (its weights are not kept with the export); nothing to compare a new size "
                         "with", "mismatches_at_compiled_size": sizes["first_mismatch"]["mismatches"]}
        report = {**report, "frame_sizes": sizes, "equal": sizes.get("equal", True)}
        settings = settings_of(cfg.folder, VERIFY_NAME)  # verify's own record, kept for the amended report
        write_json(cfg.folder / VERIFY_NAME, report)
        record(cfg.folder, VERIFY_NAME, inputs=[DATAFLOW_NAME, RTL_DIRNAME], settings=settings)
    return report


def _runtime_frames(folder: Path) -> bool:
    return bool((read_json(Path(folder) / RTL_DIRNAME / "rtl.json").get("frame") or {}).get("runtime"))


MIN_VERIFY_TILE = 3  # the smallest tile a reduced rolled verify goes down to (the engine's tests run 3x3)
VERIFY_TILE_DIRNAME = "verify_tile"  # the same network compiled for a smaller tile, for a reduced rolled verify


def rolled_verify_estimate(folder: Path):
    """``estimate(tile=None, tiles=1, stall_prob=0.0) -> {tile, tiles, cycles, cycles_per_s, seconds}``: simulated
    cycles and seconds of the rolled bench (``rolled_top``) on ``tiles`` tiles of ``tile`` (default: the compiled
    one), from the compiled graph in ``folder``: the weight image through the loader (one byte per cycle), then per
    tile the body's cycle model (:func:`fqsr.sim.rolled.cycle_model`, its compute scaled to ``tile`` with the same
    cycles per pixel), the head's and the tail's slowest node (FINN's estimate scaled by the tile's area) and the
    frame's load and unload through the DMA; the rate is the cocotb benches' measured cycles per second."""
    from qonnx.custom_op.registry import getCustomOp

    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.export import load_qonnx
    from fqsr.hw.rolled import ROLLED_DIRNAME, WEIGHTS_NAME
    from fqsr.sim.rolled import cycle_model, load_summary
    from fqsr.sim.verify import COCOTB_RATE

    summary, model = load_summary(folder), load_qonnx(folder / DATAFLOW_NAME)
    stream = summary["stream"]
    _, h0, w0, _ = stream["shape"]
    body = cycle_model(summary, model)
    per_pixel, beats_per_pixel = body["slowest_node_cycles"] / (h0 * w0), stream["beats"] / (h0 * w0)
    inside = {n for blk in summary["block_nodes"] for n in blk}
    names = [n.name for n in model.graph.node]
    first = min(names.index(n) for n in inside)
    outer = {names.index(n.name): int(getCustomOp(n).get_exp_cycles()) / (h0 * w0) for n in model.graph.node
             if n.name not in inside}  # per LR pixel of the tile
    head = max([c for i, c in outer.items() if i < first] or [0])
    tail = max([c for i, c in outer.items() if i > first] or [0])
    words_per_pixel = 2 * beats_per_pixel * -(-stream["width"] // 16)  # the frame's load and unload
    image = (folder / ROLLED_DIRNAME / WEIGHTS_NAME).stat().st_size
    rate = COCOTB_RATE["cocotb"]

    def estimate(tile=None, tiles: int = 1, stall_prob: float = 0.0) -> dict:
        h, w = tile or (h0, w0)
        compute = (h + 2) * w * per_pixel + 3 * (w + 2) * beats_per_pixel
        iteration = max(compute, body["load_cycles_per_block"])
        cycles = int(image / (1.0 - stall_prob)
                     + tiles * (summary["blocks"] * iteration + (head + tail + words_per_pixel) * h * w))
        return {"tile": [h, w], "tiles": tiles, "cycles": cycles, "cycles_per_s": rate, "seconds": round(cycles / rate)}
    return estimate


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"


def verify_rolled(cfg: BuildConfig, echo=None) -> dict:
    """The rolled design (``rolled_top``: head, engine + DMA + SDRAM controller + chip model, tail) under random
    stalls against FINN's execution of the whole graph (:func:`fqsr.sim.rolled.verify_rolled_top`); the report
    is written to ``sim/verify.json``, its ``scope`` saying what was proven.

    The run's length is estimated first (:func:`rolled_verify_estimate`) and said on stderr. Longer than
    ``cfg.verify_budget_min``, the proof moves to the same network exported and compiled for the largest smaller
    square tile that fits the budget (one tile; ``verify_tile/`` in the model folder) with this build's folding:
    the same weight image byte for byte, the same engine stages and folding; what differs (the frame geometry:
    line buffer widths, frame beats, FIFO depths) is listed in ``scope.differs``."""
    from fqsr.flows.artifacts import record, write_json
    from fqsr.hw.rolled import ROLLED_DIRNAME
    from fqsr.sim.rolled import verify_rolled_top

    _check_roll(cfg)
    if cfg.sim == "icarus":
        raise FqsrError("the rolled design is verified with the cocotb bench on Verilator; drop --sim icarus")
    if not cfg.verify_budget_min > 0:
        raise FqsrError("--verify-budget must be a positive number of minutes")
    require_current(cfg.folder, ROLLED_DIRNAME, f"{_command(cfg, 'rtl')} --roll {cfg.roll}")
    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    budget_s = 60.0 * cfg.verify_budget_min
    estimate = rolled_verify_estimate(cfg.folder)
    full = estimate(tiles=cfg.verify_tiles, stall_prob=cfg.stall_prob)
    h, w = full["tile"]
    say(f"fqsr verify: {cfg.name}'s rolled design, {cfg.verify_tiles} tile(s) of {h}x{w}: about "
        f"{full['cycles']:,} cycles (cycle model) at ~{full['cycles_per_s']:,.0f} cycles/s: "
        f"~{_duration(full['seconds'])} of simulation (budget {cfg.verify_budget_min:g} min, --verify-budget)")
    scope = {"design": "rolled_top", "compiled_tile": [h, w], "estimate": full, "budget_min": cfg.verify_budget_min}
    folder = cfg.folder
    if full["seconds"] <= budget_s:
        scope.update(reduced=False, tile=[h, w], tiles=cfg.verify_tiles, what=f"the build's own RTL, {h}x{w} tiles")
        tiles = cfg.verify_tiles
    else:
        folder, scope = _reduced_rolled_proof(cfg, scope, estimate, budget_s, say)
        tiles = 1
    report = verify_rolled_top(folder, tiles=tiles, p_gap=cfg.stall_prob, p_stall=cfg.stall_prob,
                               seed=cfg.seed + 1)
    if report.get("first_mismatch"):
        report["first_mismatch"] = {"stage": "rtl", "tile": report["first_mismatch"].pop("frame"),
                                    **report["first_mismatch"]}
    expected = (scope["verified_estimate"] if scope["reduced"] else full)["cycles"]
    measured = round(report["cycles"] / report["test_s"], 1) if report.get("test_s") else None
    report = {"model_dir": str(cfg.folder), "roll": cfg.roll, "sim": "verilator", "stall_prob": cfg.stall_prob,
              **report, "scope": scope, "sim_cycles": report["cycles"], "expected_sim_cycles": expected,
              "sim_cycles_per_s": measured}
    if scope["reduced"]:  # cycles of the smaller tile say nothing of the build's throughput
        report["verified_cycles_per_frame"] = report.pop("cycles_per_frame", None)
    write_json(cfg.folder / VERIFY_NAME, report)
    record(cfg.folder, VERIFY_NAME, inputs=[DATAFLOW_NAME, ROLLED_DIRNAME], settings=_rolled_verify_settings(cfg))
    return report


def _rolled_verify_settings(cfg: BuildConfig) -> dict:
    """What a rolled verify's report was made with (its provenance settings)."""
    return {"tiles": cfg.verify_tiles, "sim": "verilator", "stall_prob": cfg.stall_prob, "seed": cfg.seed,
            "roll": cfg.roll, "verify_budget_min": cfg.verify_budget_min}


def _reduced_rolled_proof(cfg: BuildConfig, scope: dict, estimate, budget_s: float, say) -> tuple[Path, dict]:
    """The largest square tile below the compiled one whose one-tile verify fits ``budget_s``; the network exported,
    compiled (this build's ``folding.json``) and rolled for it in ``verify_tile/``, checked to hold the same engine
    and weight image. Returns that folder and the scope."""
    from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME, WEIGHTS_NAME

    h, w = scope["compiled_tile"]
    sizes = range(min(h, w) - 1, MIN_VERIFY_TILE - 1, -1)
    fits = [s for s in sizes if estimate((s, s), 1, cfg.stall_prob)["seconds"] <= budget_s]
    if not fits:
        least = estimate((MIN_VERIFY_TILE,) * 2, 1, cfg.stall_prob)
        raise FqsrError(f"verifying {cfg.name}'s rolled design takes ~{_duration(scope['estimate']['seconds'])}, and "
                        f"~{_duration(least['seconds'])} even on one {MIN_VERIFY_TILE}x{MIN_VERIFY_TILE} tile; raise "
                        f"--verify-budget to at least {least['seconds'] / 60:.0f} min, or fold the body faster")
    side = estimate((fits[0], fits[0]), 1, cfg.stall_prob)
    say(f"fqsr verify: that exceeds the budget; verifying instead one {fits[0]}x{fits[0]} tile of the same network "
        f"compiled with this build's folding (~{_duration(side['seconds'])} of simulation, after its export, compile "
        f"and Verilator build): the same engine and weight image, a smaller frame")
    sub = dataclasses.replace(cfg, folder=cfg.folder / VERIFY_TILE_DIRNAME, tile=(fits[0], fits[0]), onnx=None,
                              folding=cfg.folder / FOLDING_NAME, target_fps=None, fps=None, fps_scale=None,
                              verify_tiles=1, roll_auto=False)
    try:
        sub.load()
    except FqsrError:
        raise FqsrError(f"verifying {cfg.name}'s rolled design at its {h}x{w} tile takes "
                        f"~{_duration(scope['estimate']['seconds'])}, over the budget, and a smaller tile needs the "
                        f"model exported again, which {cfg.folder} cannot do (no model to load); raise "
                        f"--verify-budget to {scope['estimate']['seconds'] / 60:.0f} min") from None
    for step in ("export", "compile", "rtl"):  # always made again: the export must be of this build's weights
        STEP[step].run(sub)
    mine, theirs = (read_json(f / ROLLED_DIRNAME / SUMMARY_NAME) for f in (cfg.folder, sub.folder))
    same_image = (cfg.folder / ROLLED_DIRNAME / WEIGHTS_NAME).read_bytes() == \
        (sub.folder / ROLLED_DIRNAME / WEIGHTS_NAME).read_bytes()
    if not same_image or mine.get("stages") != theirs.get("stages") or mine.get("blocks") != theirs.get("blocks"):
        raise FqsrError(f"the network compiled for a {fits[0]}x{fits[0]} tile in {sub.folder} does not hold this "
                        f"build's engine ({'stages or blocks differ' if same_image else 'weights.bin differs'}), so "
                        f"it cannot stand in for it; raise --verify-budget to verify the build's own RTL")
    differs = sorted(f"{stage}.{key}" for stage, params in mine["params"].items()
                     for key in set(params) | set(theirs["params"][stage])
                     if params.get(key) != theirs["params"][stage].get(key))
    scope.update(reduced=True, tile=[fits[0], fits[0]], tiles=1, folder=str(sub.folder), verified_estimate=side,
                 same=["weights.bin (byte for byte)", "engine stages and their folding, data types, thresholds",
                       "blocks", "the RTL modules (hw/rtl) and generators"],
                 differs=differs + ["the frame geometry outside the engine (head, tail, FIFO depths, DMA frame "
                                    "size and SDRAM layout)"],
                 what=f"one {fits[0]}x{fits[0]} tile of the same network (not the build's {h}x{w} RTL): the "
                      f"{h}x{w} verify was estimated at {_duration(scope['estimate']['seconds'])}, over the "
                      f"{scope['budget_min']:g} min budget")
    return sub.folder, scope


def verify_gate(report: dict, cfg: BuildConfig) -> None:
    if not report["equal"]:
        raise FqsrError(f"the RTL differs from FINN's execution ({report['mismatches']} of {report['elements']} "
                        f"elements); see {cfg.folder / VERIFY_NAME}; no bitstream is built from it")


def verify_current(cfg: BuildConfig) -> bool:
    verified = read_json(cfg.folder / VERIFY_NAME)
    if cfg.roll is not None:  # the same proof: same roll, tiles asked, stalls, seed and budget
        return not why_stale(cfg.folder, VERIFY_NAME) and bool(verified.get("equal")) and \
            settings_of(cfg.folder, VERIFY_NAME) == _rolled_verify_settings(cfg)
    return not why_stale(cfg.folder, VERIFY_NAME) and bool(verified.get("equal")) \
        and verified.get("tiles", 0) >= cfg.verify_tiles


def step_pnr(cfg: BuildConfig) -> dict:
    """ECP5: the board top with the UART bridge through Yosys, nextpnr-ecp5 and ecppack (a ``.bit``).
    Xilinx: Vivado's out-of-context implementation of the same RTL where ``vivado`` is installed (its script
    is written either way)."""
    if cfg.spec.vendor == "lattice":
        from fqsr.hw.synth import place_and_route

        return place_and_route(cfg.folder, cfg.spec.name, clock_mhz=cfg.clock, roll=cfg.roll)
    from fqsr.hw.vivado import run_vivado, write_vivado_script

    script = write_vivado_script(cfg.folder, cfg.spec)
    if shutil.which("vivado") is None:
        return {"vivado_script": str(script), "not_run": "vivado is not on PATH"}
    return {"vivado_script": str(script), "vivado": run_vivado(cfg.folder, cfg.spec)}


def pnr_current(cfg: BuildConfig) -> bool:
    if cfg.spec.vendor == "lattice":
        placed = read_json(cfg.folder / PNR)
        return not why_stale(cfg.folder, PNR) and placed.get("board") == cfg.spec.name \
            and placed.get("requested_clock_mhz") == cfg.clock and placed.get("roll") == cfg.roll \
            and bool(placed.get("bitstream")) and Path(placed.get("bitstream") or "").is_file()
    from fqsr.hw.vivado import RESULT_NAME, vivado_dir

    done = (vivado_dir(cfg.folder) / RESULT_NAME).relative_to(cfg.folder).as_posix()
    return shutil.which("vivado") is not None and not why_stale(cfg.folder, done) \
        and "fmax_mhz" in read_json(cfg.folder / done)


def step_report(cfg: BuildConfig) -> dict:
    """``report.md``, ``report.json`` and plots from whichever artifacts are current."""
    from fqsr.reports.report import write_report

    return write_report(cfg.folder)


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildConfig], dict]
    current: Callable[[BuildConfig], bool] = lambda cfg: False  # noqa: E731 (checks that are cheap run always)
    gate: Callable[[dict, BuildConfig], None] | None = None  # what a build may not go past


STEPS = (
    Step("export", step_export, export_current),
    Step("compile", step_compile, compile_current),
    Step("rtl", step_rtl, rtl_current),
    Step("storage", step_storage),
    Step("synth", step_synth, synth_current),
    Step("fit", step_fit),
    # after the fit check, so that no one waits for a long simulation of a design that cannot fit
    Step("verify", step_verify, verify_current, verify_gate),
    Step("pnr", step_pnr, pnr_current),
    Step("report", step_report),
)
STEP = {step.name: step for step in STEPS}


class Progress:
    """Runs steps, one line each: ``[i/n] model: name ... done in s`` or ``skipped (up to date)``."""

    def __init__(self, cfg: BuildConfig, names, echo=print):
        self.cfg, self.names, self.echo, self.rows = cfg, list(names), echo, {}

    def run(self, name: str, skip_current: bool = True, gate: bool = True):
        """Run step ``name`` (skipped when ``skip_current`` and its artifact is current); ``gate``: apply the
        step's gate (a build stops there; a stage command reports the result instead)."""
        step, index = STEP[name], self.names.index(name) + 1
        prefix = f"[{index}/{len(self.names)}] {self.cfg.name}: {name:8}"
        if skip_current and step.current(self.cfg):
            self.rows[name] = {"status": "skipped"}
            self.echo(f"{prefix} skipped (up to date)")
            return None
        self.echo(f"{prefix} ...")
        start = time.monotonic()
        try:
            result = step.run(self.cfg)
            if gate and step.gate is not None:
                step.gate(result, self.cfg)
        except FqsrError:
            self.rows[name] = {"status": "failed", "seconds": round(time.monotonic() - start, 1)}
            raise
        seconds = round(time.monotonic() - start, 1)
        self.rows[name] = {"status": "ran", "seconds": seconds}
        self.echo(f"{prefix} done in {seconds:.1f} s")
        return result


def run_steps(cfg: BuildConfig, names, echo=None, skip_current: bool = False, gates: bool = False) -> dict:
    """Run the named steps in order; ``{name: report}``. ``echo``: a line per step; ``gates``: stop at a gate
    as a build does (a stage command shows the result and its own verdict instead)."""
    unknown = [n for n in names if n not in STEP]
    if unknown:
        raise FqsrError(f"unknown step {unknown[0]!r}; the steps are {', '.join(STEP)}")
    progress = Progress(cfg, names, echo or (lambda line: None))
    return {name: progress.run(name, skip_current, gates) for name in names}
