"""FINN dataflow node -> instance of one of our RTL modules.

``emit_node(model, node, out_dir)`` writes a small wrapper module named after
the node, with the uniform stream ports the stitcher connects::

    ap_clk, ap_rst_n, in<i>_tdata/_tvalid/_tready, out<j>_tdata/_tvalid/_tready

(``tdata`` widths are FINN's padded stream widths), and returns
``(module_name, verilog_text, files)``: ``files`` are the generic RTL
sources under ``hw/rtl`` the wrapper instantiates, then the ROM files it
reads. ROM contents (weights, thresholds) go to ``$readmemh`` files next to
the wrapper (``<node>_weights.mem``, ``<node>_thresholds_p<lane>_s<stage>.mem``: one word
per line, lane 0 in the LSBs;
Verilator cannot take constants over 64 kbit, which a 288x128 4-bit weight
matrix already exceeds). The wrapper names them by bare file name, so the
folder can be moved anywhere: simulators and Yosys run with the folder of the
``.mem`` files as their working directory (``fqsr.sim.runner`` copies them into
the simulation's directory), vendor tools find them as project files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from fqsr.flows.host import pack_beats
from fqsr.models.errors import FqsrError

RTL_DIR = Path(__file__).resolve().parent / "rtl"


@dataclass
class Instance:
    """One generic module instance: parameters and the FINN stream widths of its ports."""

    module: str
    params: dict
    in_widths: list[int]
    out_widths: list[int]
    vector_outputs: bool = False  # outputs are one vector port ``out_t*`` (the fork)
    sources: list[str] = field(default_factory=list)
    roms: dict = field(default_factory=dict)  # file parameter -> (words x lanes integer array, bits per lane)
    rom_sets: dict = field(default_factory=dict)  # prefix parameter -> {file suffix: (words x lanes, bits)}
    cfg_width: int = 0  # > 0: parameters in RAMs written through the cfg port (the rolled build), its data width
    frame: tuple | None = None  # (rows, cols) of the node's input frame, for modules with frame geometry ports


def copies_current(rtl_dir: Path) -> bool:
    """Every generic module copied into a generated ``rtl/`` is byte-identical to ``hw/rtl`` (a copy made
    before an RTL change is stale even when its provenance is intact)."""
    return all(not (Path(rtl_dir) / src.name).is_file() or (Path(rtl_dir) / src.name).read_bytes() == src.read_bytes()
               for src in RTL_DIR.glob("*.v"))


def base_op_type(node) -> str:
    for impl in ("_hls", "_rtl"):
        if node.op_type.endswith(impl):
            return node.op_type[: -len(impl)]
    return node.op_type


def is_signed(dt: DataType) -> int:
    return int(dt.min() < 0)


def rom_text(words, bits: int) -> str:
    """``$readmemh`` text: one line per row of ``words``, lane 0 in the LSBs, ``bits`` per lane (two's complement)."""
    words = np.asarray(words, dtype=np.int64)
    digits = (words.shape[1] * bits + 3) // 4
    return "".join(f"{word:0{digits}x}\n" for word in pack_beats(words, bits, words.shape[1]))


# one function per FINN op type -----------------------------------------------------------

def _fifo(model, node, inst):
    return Instance("stream_fifo", {"WIDTH": inst.get_instream_width_padded(),
                                    "DEPTH": max(1, inst.get_nodeattr("depth"))},
                    [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()])


def _duplicate_streams(model, node, inst):
    n = inst.get_num_output_streams()
    width = inst.get_instream_width_padded()
    return Instance("duplicate_streams", {"WIDTH": width, "N_OUTPUTS": n}, [width], [width] * n,
                    vector_outputs=True)


def _elementwise_add(model, node, inst):
    if inst.get_nodeattr("lhs_style") != "input" or inst.get_nodeattr("rhs_style") != "input":
        raise FqsrError(f"{node.name}: only stream + stream ElementwiseAdd has RTL; constant inputs are unsupported")
    if list(inst.lhs_shape) != list(inst.rhs_shape):
        raise FqsrError(f"{node.name}: broadcasting ElementwiseAdd has no RTL; shapes must be equal")
    a, b, out = inst.lhs_dtype, inst.rhs_dtype, inst.out_dtype
    return Instance("elementwise_add", {
        "PE": inst.pe, "A_BITS": a.bitwidth(), "A_SIGNED": is_signed(a), "B_BITS": b.bitwidth(),
        "B_SIGNED": is_signed(b), "OUT_BITS": out.bitwidth()},
        [inst.get_instream_width_padded(0), inst.get_instream_width_padded(1)],
        [inst.get_outstream_width_padded()])


def _pixel_shuffle(model, node, inst):
    h, w, c, r = inst._dims()
    return Instance("pixel_shuffle", {"PE": inst.get_nodeattr("PE"), "BITS": inst.get_input_datatype().bitwidth(),
                                      "CHANNELS": c, "R": r, "WIDTH": w},
                    [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()], frame=(h, w))


def integer_thresholds(thresholds, channels: int, lo: int, hi: int) -> np.ndarray:
    """FINN thresholds (float, per channel or shared) -> integers with the same effect on integers in [lo, hi].

    For an integer x, ``x >= t`` equals ``x >= ceil(t)``; clipping to [lo, hi + 1] keeps
    the result (always / never true) and bounds the width to that of [lo, hi] plus 1 bit.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape[0] == 1:
        t = np.tile(t, (channels, 1))
    return np.clip(np.ceil(t), lo, hi + 1).astype(np.int64)


def search_levels(steps: int) -> int:
    """Compare stages of the binary-search thresholding: clog2(steps + 1), at least 1."""
    return max(1, int(steps).bit_length())


def threshold_search_roms(thresholds, pe: int, never: int, bits: int, where: str) -> dict:
    """Per-channel sorted integer thresholds -> the ROM files of ``thresholding.v``'s binary search.

    ``thresholds`` is (channels, steps); channel ``f*pe + p`` is lane ``p``'s fold ``f``. The steps are
    padded to 2^levels - 1 with ``never`` (an integer above every input). Stage j of lane p has one
    threshold per (fold f, prefix q < 2^j), at address ``f * 2^j + q``: T[f*pe + p][(2q + 1) * 2^(levels-1-j) - 1].
    Returns {file suffix ``_p<lane>_s<stage>``: (words x 1 array, bits)}.
    """
    th = np.asarray(thresholds, dtype=np.int64)
    channels, steps = th.shape
    unsorted = np.flatnonzero(np.any(np.diff(th, axis=1) < 0, axis=1))
    if unsorted.size:
        raise FqsrError(f"{where}: the thresholds of channel {int(unsorted[0])} are not sorted, so the "
                        f"binary-search thresholding cannot compute them")
    levels = search_levels(steps)
    padded = np.full((channels, (1 << levels) - 1), never, dtype=np.int64)
    padded[:, :steps] = th
    if pe > 999:
        raise FqsrError(f"{where}: PE {pe} is over the 999 lanes the threshold ROM file names allow")
    lanes = padded.reshape(channels // pe, pe, -1)  # (fold, lane, step)
    roms = {}
    for j in range(levels):
        probes = (2 * np.arange(1 << j) + 1) * (1 << (levels - 1 - j)) - 1
        for p in range(pe):
            roms[f"_p{p:03d}_s{j}"] = (lanes[:, p, probes].reshape(-1, 1), bits)
    return roms


def _thresholding(model, node, inst):
    in_dt = inst.get_input_datatype(0)
    channels = inst.get_nodeattr("NumChannels")
    th = integer_thresholds(model.get_initializer(node.input[1]), channels, int(in_dt.min()), int(in_dt.max()))
    th_bits = in_dt.bitwidth() + 2
    pe = inst.get_nodeattr("PE")
    return Instance("thresholding", {
        "PE": pe, "CHANNELS": channels, "STEPS": th.shape[1],
        "IN_BITS": in_dt.bitwidth(), "IN_SIGNED": is_signed(in_dt),
        "OUT_BITS": inst.get_output_datatype().bitwidth(), "BIAS": inst.get_nodeattr("ActVal"),
        "TH_BITS": th_bits},
        [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()], sources=["thresholding", "rom"],
        rom_sets={"THRESHOLDS_PREFIX": threshold_search_roms(th, pe, int(in_dt.max()) + 1, th_bits, node.name)})


def _fm_padding(model, node, inst):
    h, w = inst.get_nodeattr("ImgDim")
    top, left, bottom, right = inst.get_nodeattr("Padding")
    return Instance("fm_padding", {
        "SIMD": inst.get_nodeattr("SIMD"), "BITS": inst.get_input_datatype().bitwidth(),
        "CHANNELS": inst.get_nodeattr("NumChannels"), "H": h, "W": w,
        "PAD_T": top, "PAD_L": left, "PAD_B": bottom, "PAD_R": right},
        [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()], frame=(h, w))


def _sliding_window(model, node, inst):
    if list(inst.get_nodeattr("Stride")) != [1, 1] or list(inst.get_nodeattr("Dilation")) != [1, 1] \
            or inst.get_nodeattr("depthwise"):
        raise FqsrError(f"{node.name}: the sliding window RTL supports stride 1, dilation 1, "
                        f"non-depthwise windows only")
    h, w = inst.get_nodeattr("IFMDim")
    k_h, k_w = inst.get_nodeattr("ConvKernelDim")
    simd, channels = inst.get_nodeattr("SIMD"), inst.get_nodeattr("IFMChannels")
    parallel = int("parallel_window" in inst.get_nodeattr_types() and inst.get_nodeattr("parallel_window"))
    if parallel and simd != channels:
        raise FqsrError(f"{node.name}: a parallel window needs SIMD = IFMChannels ({simd} != {channels})")
    return Instance("sliding_window", {
        "SIMD": simd, "BITS": inst.get_input_datatype().bitwidth(),
        "CHANNELS": channels, "H": h, "W": w, "K_H": k_h, "K_W": k_w, "PARALLEL": parallel},
        [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()], frame=(h, w))


def accumulator_range(weights, in_dt: DataType) -> tuple[int, int]:
    """Exact bounds of every MVAU partial sum, from the actual (constant) weights.

    Output column j accumulates terms x_i * w_ij with x_i in [min(x), max(x)]; term i lies
    in [min(w_ij*min(x), w_ij*max(x)), max(...)]. Every integer datatype holds 0, so each
    term's range contains 0 and any partial sum (any subset of the terms, in any order)
    lies within the sum of the term bounds. The accumulator holding [lo, hi] of the
    worst column therefore never overflows, whatever the input and the fold order.
    """
    w = np.asarray(weights, dtype=np.int64)
    corners = np.stack([w * int(in_dt.min()), w * int(in_dt.max())])
    return int(corners.min(axis=0).sum(axis=0).min()), int(corners.max(axis=0).sum(axis=0).max())


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding lo..hi."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def _mvau(model, node, inst):
    if inst.get_nodeattr("binaryXnorMode") or "BIPOLAR" in (inst.get_nodeattr("inputDataType"),
                                                             inst.get_nodeattr("weightDataType")):
        raise FqsrError(f"{node.name}: bipolar / XNOR MVAU has no RTL; use integer datatypes")
    mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
    simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
    in_dt, w_dt = inst.get_input_datatype(0), inst.get_input_datatype(1)
    weights = np.asarray(model.get_initializer(node.input[1])).astype(np.int64).reshape(mw, mh)
    lo, hi = accumulator_range(weights, in_dt)
    acc_bits = max(2, signed_bits(lo, hi + 1))  # +1: thresholds are clipped to hi + 1
    # ROM word nf*SF + sf, lane p*SIMD + s  <->  W[sf*SIMD + s][nf*PE + p]
    rom = weights.reshape(mw // simd, simd, mh // pe, pe).transpose(2, 0, 3, 1).reshape(-1, pe * simd)
    params = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "IN_BITS": in_dt.bitwidth(), "IN_SIGNED": is_signed(in_dt),
              "W_BITS": w_dt.bitwidth(), "W_SIGNED": is_signed(w_dt), "ACC_BITS": acc_bits,
              "OUT_BITS": inst.get_output_datatype().bitwidth()}
    if inst.get_nodeattr("resType") == "lut":  # products from LUTs, never MULT18X18D ("auto", "dsp": `*`, Yosys')
        params["LUT_MULT"] = 1
    roms, rom_sets = {"WEIGHTS_FILE": (rom, w_dt.bitwidth())}, {}
    if inst.get_nodeattr("noActivation") == 0:
        th = integer_thresholds(model.get_initializer(node.input[2]), mh, lo, hi)
        params.update({"HAS_THRESHOLDS": 1, "STEPS": th.shape[1], "BIAS": inst.get_nodeattr("ActVal")})
        rom_sets["THRESHOLDS_PREFIX"] = threshold_search_roms(th, pe, hi + 1, acc_bits, node.name)
    return Instance("mvau", params, [inst.get_instream_width_padded(0)], [inst.get_outstream_width_padded()],
                    sources=["mvau", "rom", *(["thresholding"] if rom_sets else [])], roms=roms, rom_sets=rom_sets)


def _width_converter(model, node, inst):
    bits = inst.get_input_datatype().bitwidth()
    return Instance("stream_width_converter", {
        "BITS": bits, "IN_ELEMS": inst.get_nodeattr("inWidth") // bits, "OUT_ELEMS": inst.get_nodeattr("outWidth") // bits},
        [inst.get_instream_width_padded()], [inst.get_outstream_width_padded()])


GENERATORS = {
    "StreamingFIFO": _fifo,
    "DuplicateStreams": _duplicate_streams,
    "ElementwiseAdd": _elementwise_add,
    "PixelShuffle": _pixel_shuffle,
    "Thresholding": _thresholding,
    "FMPadding": _fm_padding,
    "ConvolutionInputGenerator": _sliding_window,
    "MVAU": _mvau,
    "StreamingDataWidthConverter": _width_converter,
}


# generic modules that a node's module instantiates (they travel into rtl/ with it)
SUBMODULES = {"pixel_shuffle": ("counter_chain",), "sliding_window": ("counter_chain",),
              "fm_padding": ("counter_chain",), "mvau": ("adder_tree",),
              "elementwise_add": ("stream_fifo",)}


def node_instance(model, node) -> Instance:
    op = base_op_type(node)
    if op not in GENERATORS:
        raise FqsrError(f"node {node.name} (op type {node.op_type}) has no fqsr RTL module yet; "
                        f"supported: {', '.join(sorted(GENERATORS))}")
    instance = GENERATORS[op](model, node, getCustomOp(node))
    instance.sources = instance.sources or [instance.module]
    instance.sources += [m for m in SUBMODULES.get(instance.module, ()) if m not in instance.sources]
    return instance


def wrapper_text(name: str, instance: Instance) -> str:
    """The node's wrapper: uniform ports, one instance of the generic module."""
    ports = ["input  wire ap_clk", "input  wire ap_rst_n"]
    for i, w in enumerate(instance.in_widths):
        ports += [f"input  wire [{w - 1}:0] in{i}_tdata", f"input  wire in{i}_tvalid", f"output wire in{i}_tready"]
    for j, w in enumerate(instance.out_widths):
        ports += [f"output wire [{w - 1}:0] out{j}_tdata", f"output wire out{j}_tvalid", f"input  wire out{j}_tready"]
    runtime = bool(instance.frame and instance.params.get("RUNTIME"))
    if runtime:  # the frame's geometry at run time (fqsr.hw.stitch.runtime_geometry)
        ports += ["input  wire [15:0] frame_rows", "input  wire [15:0] frame_cols"]
    if instance.cfg_width:
        ports += ["input  wire cfg_wr_en", "input  wire cfg_wr_bank", "input  wire [31:0] cfg_wr_addr",
                  f"input  wire [{instance.cfg_width - 1}:0] cfg_wr_data", "input  wire cfg_rd_bank"]
    conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)"]
    if instance.frame:  # a compiled geometry ignores the ports
        conns += [".frame_rows(frame_rows)", ".frame_cols(frame_cols)"] if runtime else \
            [".frame_rows(16'd0)", ".frame_cols(16'd0)"]
    for i in range(len(instance.in_widths)):
        conns += [f".in{i}_{s}(in{i}_{s})" for s in ("tdata", "tvalid", "tready")]
    if instance.vector_outputs:
        outs = range(len(instance.out_widths) - 1, -1, -1)  # concatenation lists the MSB part first
        conns += [f".out_{s}({{{', '.join(f'out{j}_{s}' for j in outs)}}})" for s in ("tdata", "tvalid", "tready")]
    else:
        conns += [f".out{j}_{s}(out{j}_{s})" for j in range(len(instance.out_widths))
                  for s in ("tdata", "tvalid", "tready")]
    if instance.cfg_width:
        conns += [f".{port}({port})" for port in CFG_PORTS]
    params = ",\n".join(f"        .{k}({v})" for k, v in instance.params.items())
    return (f"// generated by fqsr.hw.generate from FINN node {name}; do not edit\n"
            f"module {name} (\n    " + ",\n    ".join(ports) + "\n);\n"
            f"    {instance.module} #(\n{params}\n    ) core (\n        " + ",\n        ".join(conns) +
            "\n    );\nendmodule\n")


CFG_PORTS = ("cfg_wr_en", "cfg_wr_bank", "cfg_wr_addr", "cfg_wr_data", "cfg_rd_bank")


def rom_bits(instance: Instance) -> int:
    """Bits the instance stores in ROMs (weights, thresholds incl. the search padding), exactly."""
    arrays = [*instance.roms.values()] + [rom for files in instance.rom_sets.values() for rom in files.values()]
    return sum(int(np.asarray(words).size) * bits for words, bits in arrays)


def buffer_bits(instance: Instance) -> int:
    """Bits the instance stores in data buffers (line buffers, FIFOs, the pixel shuffle's row pair), exactly as
    its module declares them; these grow with the frame or tile width, ROMs do not."""
    p = instance.params
    if instance.module == "sliding_window":  # a ring of SLOTS (default 2*K_H) input rows
        return int(p.get("SLOTS", 2 * p["K_H"])) * p["W"] * p["CHANNELS"] * p["BITS"]
    if instance.module == "stream_fifo":
        return p["DEPTH"] * p["WIDTH"]
    if instance.module == "pixel_shuffle":  # two input rows (W pixels x C*R*R channels), double-buffered
        return 2 * p["WIDTH"] * p["CHANNELS"] * p["R"] * p["R"] * p["BITS"]
    return 0


def emit_node(model, node, out_dir, instance: Instance | None = None) -> tuple[str, str, list[Path]]:
    """Write ``<out_dir>/<node name>.v`` and its ROM files (``instance``: from :func:`node_instance`).

    Returns (module name, wrapper text, files): the generic RTL sources to compile
    with the wrapper, then the ``.mem`` ROM files it reads.
    """
    instance = instance or node_instance(model, node)
    name = node.name
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    roms = []
    for param, (words, bits) in instance.roms.items():
        path = out_dir / f"{name}_{param.lower().removesuffix('_file')}.mem"
        path.write_text(rom_text(words, bits))
        instance.params[param] = f'"{path.name}"'  # relative: the folder stays relocatable
        roms.append(path)
    for param, files in instance.rom_sets.items():  # one file per suffix: <prefix><suffix>.mem
        prefix = f"{name}_{param.lower().removesuffix('_prefix')}"
        for suffix, (words, bits) in files.items():
            path = out_dir / f"{prefix}{suffix}.mem"
            path.write_text(rom_text(words, bits))
            roms.append(path)
        instance.params[param] = f'"{prefix}"'
    text = wrapper_text(name, instance)
    (out_dir / f"{name}.v").write_text(text)
    return name, text, [RTL_DIR / f"{src}.v" for src in instance.sources] + roms
