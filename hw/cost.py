"""ECP5 cost model of fqsr's RTL nodes: LUT4, FF, EBR (DP16KD) and MULT18X18D per node from its parameters.

The small interface (what the folding search, and later mixed precision and architecture search, use)::

    node_cost(instance)   -> {"LUT", "FF", "BRAM", "DSP"}   one node (fqsr.hw.generate.Instance)
    graph_cost(model)     -> {node name: cost}               every node of a FINN dataflow graph
    total(costs)          -> the sum over nodes

Counts are those of :func:`fqsr.hw.synth.kinds_of` (LUT = LUT4 + 2 per CCU2C + 4 per
TRELLIS_DPR16X4, BRAM = DP16KD in 18-Kbit blocks, DSP = MULT18X18D).

How each kind is predicted:

- **DSP** exactly: ``synth_ecp5`` puts every ``*`` product on one MULT18X18D whatever its width, so an
  MVAU has PE x SIMD of them, none with ``LUT_MULT = 1`` (products built from LUTs, ``resType = "lut"``).
- **BRAM** by rule: a ROM of ``SMALL_ROM_BITS`` bits or more and at least ``ROM_BRAM_MIN_DEPTH`` words, or
  deeper than ``ROM_LUT_DEPTH`` words (``rom.v``), a synchronously read RAM of at
  least :data:`RAM_EBR_MIN_BITS` (the sliding window's line buffer) and a FIFO that large and deeper than
  :data:`FIFO_LUTRAM_DEPTH` take the fewest DP16KD blocks of the six shapes (16384x1 ... 512x36) that hold
  it; smaller ones and the other asynchronously read RAMs (the MVAU's input buffer, the pixel shuffle's
  banks) are LUTs (LUT RAM) or flip-flops. The few MULT18X18D that address arithmetic takes (a product by a
  constant that is not a power of two: the sliding window's row address, a width converter's element
  offset for odd widths) are rules too.
- **LUT and FF** linear in a few features per module type (multiplier bits, adder bits, accumulator
  bits, ROM bits built from LUTs, RAM bits in LUT RAM, stream widths ...; :func:`features`), with
  non-negative coefficients fitted to Yosys ``synth_ecp5`` counts of the real modules:
  :data:`CALIBRATION` holds the measured points, ``python benchmarks/cost_model.py --calibrate``
  synthesizes them again, and the same script prints the model's error per node type
  (benchmarks/cost_model.md).

An MVAU with thresholds is its ``mvau`` core plus the ``thresholding`` instance it contains (Yosys keeps
the two as modules), each predicted by its own fit.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from fqsr.models.errors import FqsrError

KINDS = ("LUT", "FF", "BRAM", "DSP")
CALIBRATION = Path(__file__).resolve().parent / "ecp5_cost_calibration.json"
SMALL_ROM_BITS = 9216  # rom.v's default: smaller ROMs are built from LUTs
ROM_LUT_DEPTH = 512  # rom.v's LUT_DEPTH: a deeper ROM goes to block RAM whatever its size
ROM_BRAM_MIN_DEPTH = 64  # rom.v's BRAM_MIN_DEPTH: a shallower ROM is built from LUTs whatever its width
RAM_EBR_MIN_BITS = 2048  # a synchronously read RAM this large goes to block RAM (measured: benchmarks/cost_model.md)
FIFO_LUTRAM_DEPTH = 16  # a FIFO no deeper stays in LUT RAM (TRELLIS_DPR16X4 holds 16 words) whatever its width
EBR_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))  # DP16KD (width, depth)


def ebr_blocks(width: int, depth: int) -> int:
    """DP16KD blocks for a ``width`` x ``depth`` memory: the fewest over the six block shapes."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in EBR_SHAPES)


def _rom(width: int, depth: int, small_bits: int = SMALL_ROM_BITS) -> tuple[int, int]:
    """(bits built from LUTs, EBR blocks) of a ``rom.v`` instance."""
    bits = width * depth
    in_luts = (bits < small_bits or depth < ROM_BRAM_MIN_DEPTH) and depth <= ROM_LUT_DEPTH
    return (bits, 0) if in_luts else (0, ebr_blocks(width, depth))


def _sync_ram(width: int, depth: int) -> tuple[int, int]:
    """(bits in LUT RAM or flip-flops, EBR blocks) of a synchronously read RAM."""
    bits = width * depth
    return (bits, 0) if bits < RAM_EBR_MIN_BITS else (0, ebr_blocks(width, depth))


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _levels(steps: int) -> int:
    return max(1, int(steps).bit_length())


def _thresholding(p: dict) -> tuple[dict, dict]:
    pe, channels, steps = p["PE"], p["CHANNELS"], p["STEPS"]
    in_bits, th_bits, out_bits = p["IN_BITS"], p.get("TH_BITS", p["IN_BITS"] + 2), p["OUT_BITS"]
    small = p.get("SMALL_ROM_BITS", SMALL_ROM_BITS)
    levels, folds = _levels(steps), channels // pe
    rom_lut, ebr = 0, 0
    for j in range(levels):
        bits, blocks = _rom(th_bits, folds << j, small)
        rom_lut, ebr = rom_lut + pe * bits, ebr + pe * blocks
    # 2 levels - 1 pipeline positions (a read and a result register per level but the last: thresholding.v)
    return ({"one": 1, "compare_bits": pe * levels * th_bits, "pipe_bits": pe * (2 * levels - 1) * (in_bits + levels),
             "out_bits": pe * out_bits, "rom_lut_bits": rom_lut, "folds_lanes": pe * levels * (folds > 1)},
            {"BRAM": ebr, "DSP": 0})


def _mvau(p: dict) -> tuple[dict, dict]:
    mw, mh, simd, pe = p["MW"], p["MH"], p["SIMD"], p["PE"]
    in_bits, w_bits, acc = p["IN_BITS"], p["W_BITS"], p["ACC_BITS"]
    lut_mult = int(p.get("LUT_MULT", 0))
    sf, nf = mw // simd, mh // pe
    rom_lut, ebr = _rom(pe * simd * w_bits, sf * nf, p.get("SMALL_ROM_BITS", SMALL_ROM_BITS))
    macs = pe * simd
    counters = 2 * max(1, (sf - 1).bit_length()) + max(1, (nf - 1).bit_length()) + max(1, (sf * nf - 1).bit_length())
    # the MAC's registers (mvau.v): the beat's read and operand registers, the weight operand register, the
    # products, the group sums (group_sum_ff), the accumulator and its output register; the fold counters
    return ({"one": 1, "mult_lut_bits": lut_mult * macs * (in_bits + 1) * w_bits,
             "sum_bits": lut_mult * macs * acc, "dsp_sum_bits": (1 - lut_mult) * macs * acc, "acc_bits": pe * acc, "ibuf_bits": 2 * sf * simd * in_bits,
             "rom_lut_bits": rom_lut, "word_bits": macs * w_bits * (rom_lut > 0),
             # with `*` products synth_ecp5 packs the product registers into the MULT18X18D
             "operand_bits": 2 * simd * in_bits + macs * w_bits, "product_bits": lut_mult * macs * (in_bits + w_bits + 2),
             "group_bits": group_sum_ff(p), "counter_bits": counters},
            {"BRAM": ebr, "DSP": 0 if lut_mult else macs})


def group_sum_ff(p: dict) -> int:
    """Flip-flops of the MVAU's group-sum stage (mvau.v, SPLIT: the accumulate's tree 3 or more adders deep):
    PE x GROUPS sums of GW bits and the stage's valid/first/last bits; 0 without the stage."""
    simd, pe, acc = p["SIMD"], p["PE"], p["ACC_BITS"]
    levels = (simd + 1 - 1).bit_length()  # $clog2(SIMD + 1)
    if levels < 3:
        return 0
    group = 1 << ((levels + 1) // 2)
    gw = min(p["IN_BITS"] + p["W_BITS"] + 2 + group.bit_length() - 1, acc)
    return pe * -(-simd // group) * gw + 3


def _sliding_window(p: dict) -> tuple[dict, dict]:
    simd, bits, c, w = p["SIMD"], p["BITS"], p["CHANNELS"], p["W"]
    k_h, k_w, parallel = p["K_H"], p["K_W"], int(p.get("PARALLEL", 0))
    ram_bits, ebr = _sync_ram(simd * bits, 2 * k_h * w * (c // simd))
    out = k_h * k_w * simd * bits if parallel else simd * bits
    # no DSP: the addresses follow the walks in registers (sliding_window.v), with no product by the row length
    mults = 0
    return ({"one": 1, "ram_bits": ram_bits, "out_bits": out, "parallel_bits": parallel * out * k_h},
            {"BRAM": ebr * (k_h * k_w if parallel else 1), "DSP": mults})


def _fm_padding(p: dict) -> tuple[dict, dict]:
    return {"one": 1, "lane_bits": p["SIMD"] * p["BITS"]}, {"BRAM": 0, "DSP": 0}


def _pixel_shuffle(p: dict) -> tuple[dict, dict]:
    pe, bits, c, r, w = p["PE"], p["BITS"], p["CHANNELS"], p["R"], p["WIDTH"]
    return ({"one": 1, "ram_bits": 2 * r * r * w * c * bits, "lane_bits": pe * bits,
             "bank_bits": pe * r * r * bits}, {"BRAM": 0, "DSP": 0})


def _stream_fifo(p: dict) -> tuple[dict, dict]:
    width, depth = p["WIDTH"], p["DEPTH"]
    # deep and large: block RAM (Yosys moves the output register into it); shallow: LUT RAM, 16 words per cell
    ebr = ebr_blocks(width, depth) if depth > FIFO_LUTRAM_DEPTH and width * depth >= RAM_EBR_MIN_BITS else 0
    return ({"one": 1, "ram_bits": 0 if ebr else width * depth, "width": width,
             "addr_bits": max(1, depth - 1).bit_length()}, {"BRAM": ebr, "DSP": 0})


def _stream_width_converter(p: dict) -> tuple[dict, dict]:
    bits = p["BITS"]
    # kept * BITS, twice: on a MULT18X18D unless BITS is a power of two (a shift)
    return ({"one": 1, "buffer_bits": (p["IN_ELEMS"] + p["OUT_ELEMS"]) * bits},
            {"BRAM": 0, "DSP": 0 if _power_of_two(bits) else 2})


def _elementwise_add(p: dict) -> tuple[dict, dict]:
    # the inputs' 2-beat skids (elementwise_add.v) and the output register
    return ({"one": 1, "in_bits": p["PE"] * (p["A_BITS"] + p["B_BITS"]), "out_bits": p["PE"] * p["OUT_BITS"]},
            {"BRAM": 0, "DSP": 0})


def _duplicate_streams(p: dict) -> tuple[dict, dict]:
    return ({"one": 1, "outputs": p["N_OUTPUTS"], "width_outputs": p["WIDTH"] * p["N_OUTPUTS"]},
            {"BRAM": 0, "DSP": 0})


FEATURES = {"mvau": _mvau, "thresholding": _thresholding, "sliding_window": _sliding_window,
            "fm_padding": _fm_padding, "pixel_shuffle": _pixel_shuffle, "stream_fifo": _stream_fifo,
            "stream_width_converter": _stream_width_converter, "elementwise_add": _elementwise_add,
            "duplicate_streams": _duplicate_streams}


def _clean(params: dict) -> dict:
    """Integer parameters only (file names and other strings say nothing about size)."""
    return {k: int(v) for k, v in params.items() if isinstance(v, (int, np.integer))}


def features(module: str, params: dict) -> tuple[dict, dict]:
    """(LUT/FF features, rule counts {BRAM, DSP}) of one instance of ``module`` with ``params``."""
    if module not in FEATURES:
        raise FqsrError(f"the ECP5 cost model has no entry for RTL module {module!r}; "
                        f"known: {', '.join(sorted(FEATURES))}")
    return FEATURES[module](_clean(params))


def parts(module: str, params: dict) -> list[tuple[str, dict]]:
    """The fitted modules an instance consists of: an MVAU with thresholds is its core plus a thresholding."""
    params = _clean(params)
    if module == "mvau" and params.get("HAS_THRESHOLDS"):
        th = {"PE": params["PE"], "CHANNELS": params["MH"], "STEPS": params["STEPS"], "IN_BITS": params["ACC_BITS"],
              "TH_BITS": params["ACC_BITS"], "OUT_BITS": params["OUT_BITS"],
              "SMALL_ROM_BITS": params.get("SMALL_ROM_BITS", SMALL_ROM_BITS)}
        return [("mvau", params), ("thresholding", th)]
    return [(module, params)]


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares (scipy's, which FINN's stack installs)."""
    from scipy.optimize import nnls

    scale = np.maximum(np.abs(a).max(axis=0), 1e-9)  # columns of very different size: fit on unit scale
    x, _ = nnls(a / scale, b.astype(float), maxiter=50 * a.shape[1])
    return x / scale


def calibration_points(path: Path = CALIBRATION) -> list[dict]:
    try:
        return json.loads(Path(path).read_text())["points"]
    except (OSError, ValueError, KeyError):
        raise FqsrError(f"the cost model's calibration {path} is missing or unreadable; "
                        f"run `python benchmarks/cost_model.py --calibrate`") from None


def fit(points: list[dict]) -> dict:
    """{module: {kind: {feature: coefficient}}} for LUT and FF, fitted per module type on ``points``."""
    coefficients: dict = {}
    # a point measured as a whole node (an MVAU with its thresholding) is fitted as its first part, the
    # other parts' predictions taken off: so the part types it contains are fitted first
    order = sorted({p["module"] for p in points}, key=lambda m: (m == "mvau", m))
    for module in order:
        rows = [p for p in points if p["module"] == module]
        names = sorted(features(module, rows[0]["params"])[0])
        a = np.array([[float(features(module, r["params"])[0][n]) for n in names] for r in rows])
        rest = [total([module_cost(m, q, coefficients) for m, q in parts(module, r["params"])[1:]]) for r in rows]
        target = {kind: np.array([r["measured"][kind] - o[kind] for r, o in zip(rows, rest)]) for kind in ("LUT", "FF")}
        coefficients[module] = {kind: dict(zip(names, _nnls(a, target[kind]))) for kind in ("LUT", "FF")}
    return coefficients


@functools.lru_cache(maxsize=4)
def _coefficients(path: str = str(CALIBRATION)) -> dict:
    return fit(calibration_points(Path(path)))


def module_cost(module: str, params: dict, coefficients: dict | None = None) -> dict:
    """Predicted counts of one generic-module instance (one fitted part)."""
    coefficients = coefficients or _coefficients()
    feats, rules = features(module, params)
    if module not in coefficients:
        raise FqsrError(f"the cost model's calibration has no points for {module!r}; "
                        f"run `python benchmarks/cost_model.py --calibrate`")
    fitted = {kind: sum(c * feats[name] for name, c in coefficients[module][kind].items()) for kind in ("LUT", "FF")}
    return {"LUT": max(0, int(round(fitted["LUT"]))), "FF": max(0, int(round(fitted["FF"]))), **rules}


def instance_cost(module: str, params: dict, coefficients: dict | None = None) -> dict:
    """Predicted counts of a node's module with ``params`` (its parts summed)."""
    return total([module_cost(m, p, coefficients) for m, p in parts(module, params)])


def node_cost(instance, coefficients: dict | None = None) -> dict:
    """Predicted counts of one node (an :class:`fqsr.hw.generate.Instance`)."""
    return instance_cost(instance.module, instance.params, coefficients)


def graph_cost(model) -> dict:
    """{node name: predicted counts} for every node of a FINN dataflow graph."""
    from .generate import node_instance

    return {node.name: node_cost(node_instance(model, node)) for node in model.graph.node}


def total(costs) -> dict:
    costs = list(costs.values()) if isinstance(costs, dict) else list(costs)
    return {kind: int(sum(c.get(kind, 0) for c in costs)) for kind in KINDS}


# ---- calibration: Yosys synth_ecp5 of one generic module with given parameters --------------------------------

def _pad8(bits: int) -> int:
    return (bits + 7) // 8 * 8


def _random_thresholds(rng, channels: int, steps: int, bits: int) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 2
    return np.sort(rng.integers(lo, hi, size=(channels, steps)), axis=1)


def calibration_instance(module: str, params: dict, seed: int = 0):
    """An :class:`fqsr.hw.generate.Instance` of ``module`` with ``params`` and random ROM contents of the
    shapes the generator writes (distinct inputs, so Yosys merges nothing a real node would keep)."""
    from .generate import SUBMODULES, Instance, threshold_search_roms

    p, rng = dict(params), np.random.default_rng(seed)
    roms, rom_sets, sources = {}, {}, [module]
    if module == "mvau":
        p.setdefault("OUT_BITS", p["ACC_BITS"])
        lo, hi = (-(1 << (p["W_BITS"] - 1)), (1 << (p["W_BITS"] - 1))) if p["W_SIGNED"] else (0, 1 << p["W_BITS"])
        words = rng.integers(lo, hi, size=(p["MW"] // p["SIMD"] * (p["MH"] // p["PE"]), p["PE"] * p["SIMD"]))
        roms["WEIGHTS_FILE"] = (words, p["W_BITS"])
        sources.append("rom")
        if p.get("HAS_THRESHOLDS"):
            th = _random_thresholds(rng, p["MH"], p["STEPS"], p["ACC_BITS"])
            rom_sets["THRESHOLDS_PREFIX"] = threshold_search_roms(th, p["PE"], (1 << (p["ACC_BITS"] - 1)) - 1,
                                                                  p["ACC_BITS"], "calibration")
            sources.append("thresholding")
        widths = ([_pad8(p["SIMD"] * p["IN_BITS"])], [_pad8(p["PE"] * p["OUT_BITS"])])
    elif module == "thresholding":
        th = _random_thresholds(rng, p["CHANNELS"], p["STEPS"], p["IN_BITS"])
        rom_sets["THRESHOLDS_PREFIX"] = threshold_search_roms(th, p["PE"], (1 << (p["IN_BITS"] - 1)) - 1,
                                                              p["TH_BITS"], "calibration")
        sources.append("rom")
        widths = ([_pad8(p["PE"] * p["IN_BITS"])], [_pad8(p["PE"] * p["OUT_BITS"])])
    elif module == "sliding_window":
        lane = _pad8(p["SIMD"] * p["BITS"])
        widths = ([lane], [_pad8(p["K_H"] * p["K_W"] * p["SIMD"] * p["BITS"]) if p.get("PARALLEL") else lane])
    elif module in ("fm_padding",):
        widths = ([_pad8(p["SIMD"] * p["BITS"])],) * 2
    elif module == "pixel_shuffle":
        widths = ([_pad8(p["PE"] * p["BITS"])],) * 2
    elif module == "stream_fifo":
        widths = ([p["WIDTH"]],) * 2
    elif module == "stream_width_converter":
        widths = ([_pad8(p["IN_ELEMS"] * p["BITS"])], [_pad8(p["OUT_ELEMS"] * p["BITS"])])
    elif module == "elementwise_add":
        widths = ([_pad8(p["PE"] * p["A_BITS"]), _pad8(p["PE"] * p["B_BITS"])], [_pad8(p["PE"] * p["OUT_BITS"])])
    elif module == "duplicate_streams":
        widths = ([p["WIDTH"]], [p["WIDTH"]] * p["N_OUTPUTS"])
    else:
        raise FqsrError(f"no calibration instance for RTL module {module!r}")
    sources += [m for m in SUBMODULES.get(module, ()) if m not in sources]
    return Instance(module, p, widths[0], widths[1], vector_outputs=module == "duplicate_streams", sources=sources,
                    roms=roms, rom_sets=rom_sets)


def measure(module: str, params: dict, work: Path, seed: int = 0, timeout_s: float | None = 1800) -> dict:
    """Yosys ``synth_ecp5 -noflatten`` counts of one ``module`` instance with ``params`` (in ``work``), as the
    build counts a node (:func:`fqsr.hw.synth.kinds_of` of the node's flattened cells)."""
    from types import SimpleNamespace

    from .generate import emit_node
    from .synth import _module_cells, _stat, flatten_cells, kinds_of, run_tool, tool

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    name = "calibration_point"
    _, _, files = emit_node(None, SimpleNamespace(name=name), work, calibration_instance(module, params, seed))
    sources = []
    for f in files:
        if f.suffix == ".v":
            (work / f.name).write_bytes(f.read_bytes())
            sources.append(f.name)
    script = [f"read_verilog -defer -sv {' '.join(sources)} {name}.v", f"hierarchy -top {name}",
              f"synth_ecp5 -noflatten -top {name}", "tee -q -o stat.json stat -json"]
    (work / "synth.ys").write_text("\n".join(script) + "\n")
    seconds = run_tool(tool("yosys") + ["-q", "-l", "yosys.log", "synth.ys"], work, "yosys.out", timeout_s)
    cells = flatten_cells(_module_cells(_stat(work, "stat.json")), name)
    return {**kinds_of(cells), "yosys_s": round(seconds, 1)}
