"""The rolled residual body: one block engine computes every residual block of an EDSR, once per iteration.

The plan is benchmarks/rolled_edsr.md (option C): the feature map lives in a memory between iterations
(SDRAM on the board) and streams through the one engine per iteration; each block's weights and
thresholds are loaded from a 16-bit weight stream into double-buffered RAMs while the previous block
computes.

In ``dataflow.onnx`` a residual block is the subgraph between two requantizers::

    Thresholding (input quantizer) -> DuplicateStreams -+-> (FIFO) -------------------------------+-> ElementwiseAdd
                                                        +-> FMPadding, sliding window, MVAU (ReLU) |   -> Thresholding
                                                            FMPadding, sliding window, MVAU -------+

(FINN's FIFOs and width converters anywhere in between). The engine's iteration k is the fork of block k
through the Thresholding after its add, which is block k+1's input quantizer (after the last block, the
body's ``body_quant``): so every iteration reads and writes the same data type (4-bit at W4A4), and block
0's own input quantizer stays with the head. :func:`residual_blocks` finds that chain; :func:`rolled_engine`
checks that all blocks have one structure and the same node parameters (folding, data types, threshold
steps), so one engine computes all. What differs per block is data: the weights, the thresholds (each
block's quantizer scales), the accumulator range (the engine takes the widest) and the skip FIFO depth
(the deepest). The engine's sliding windows keep K_H + 1 rows, not the unrolled 2 K_H: one iteration's
frame ends before the next begins, so no next frame's rows need loading during the last windows.

Weight payload (:func:`block_payload`, the body of ``weights.bin``, :mod:`fqsr.hw.weight_image`): block after
block, each a sequence of regions (:class:`Region`) of 16-bit words, least significant first:

- an MVAU: its NF*SF weight words (``mvau.v``'s ROM lines), then its thresholds;
- thresholds (an MVAU's or a Thresholding's): the binary search's stages one after the other, stage j
  holding FOLDS << j entries, one entry all PE lanes of one address (``thresholding.v``), each TH_BITS wide.

An entry of ``b`` bits takes ceil(b / 16) words. ``hw/rtl/rolled_controller.v`` walks the same regions.

``generate_rolled_rtl(dataflow_path)`` writes ``rolled/`` beside it: the generic modules, one wrapper per
stage of the block (``rolled_<node of block 0>``; weighted stages with RAMs and a cfg port), the block
datapath ``rolled_block`` (stitched as :mod:`fqsr.hw.stitch` stitches a network), the engine
``rolled_body`` (the block and its controller), ``weights.bin`` and ``rolled.json``. The engine's ports::

    rd_t*   (in)   the iteration's input frame (the DMA reads it from memory), the block's input stream format
    wr_t*   (out)  the iteration's output frame (the DMA writes it to memory), the same format
    w_t*    (in)   16-bit weight payload words, block 0 .. N-1, repeated for every frame
    cmd_t*  (out)  "iteration of block k starts": the DMA takes it once block k's input frame can stream

Around the engine, ``rolled/`` also holds ``rolled_system`` (:func:`system_text`: the engine, a register slice on
each of its data streams, its SDRAM DMA ``rolled_dma.v`` and ``weight_memory``, frames in on ``in0_t*`` and out on
``out0_t*``, the SDRAM regions of :func:`sdram_layout`) and ``rolled_top`` (:func:`rolled_top_text`: the whole network, the nodes outside the body
stitched around ``rolled_system`` as :mod:`fqsr.hw.stitch` stitches the unrolled top).
"""
from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fqsr.models.errors import FqsrError

ROLLED_DIRNAME = "rolled"
WEIGHTS_NAME = "weights.bin"
SUMMARY_NAME = "rolled.json"
ENGINE_TOP = "rolled_body"
SYSTEM_TOP = "rolled_system"
ROLLED_TOP = "rolled_top"
SYSTEM_PORTS = ("input  wire [7:0] img_tdata", "input  wire img_tvalid", "output wire img_tready", "input  wire img_tlast",
                "output wire image_ok", "output wire image_error", "output wire [2:0] error_code",
                "output wire iter_start", "output wire [15:0] iter_block", "output wire [1:0] phase",
                "output wire [31:0] frames_done", "output wire sdram_cke", "output wire sdram_cs_n",
                "output wire sdram_ras_n", "output wire sdram_cas_n", "output wire sdram_we_n",
                "output wire [1:0] sdram_ba", "output wire [12:0] sdram_a", "output wire [1:0] sdram_dqm",
                "output wire [15:0] sdram_dq_o", "output wire sdram_dq_oe", "input  wire [15:0] sdram_dq_i")
SYSTEM_SOURCES = ("stream_fifo.v", "stream_register_slice.v", "rolled_dma.v", "weight_loader.v", "sdram_ctrl.v",
                  "weight_memory.v")
SDRAM_ALIGN_WORDS = 512  # regions start on a row of one bank (9 column bits)
BLOCK_TOP = "rolled_block"
WORD_BITS = 16
CHAIN = ("FMPadding", "ConvolutionInputGenerator", "MVAU", "FMPadding", "ConvolutionInputGenerator", "MVAU")
PASS_THROUGH = ("StreamingFIFO", "StreamingDataWidthConverter")
MERGED = {"ACC_BITS": max, "DEPTH": max}  # parameters that may differ per block: the engine takes the largest


@dataclass
class ResidualBlock:
    nodes: list  # graph order: the fork .. the requantizer after the add
    input: str  # the tensor into the fork
    output: str  # the requantizer's output


@dataclass
class Region:
    stage: int  # index among the weighted stages (the controller's cfg_wr_en bit)
    base: int  # first cfg address
    entries: int
    words: int  # 16-bit words per entry
    bits: int  # the entry's bits (in the RAM; the payload pads it to whole words)


@dataclass
class Stage:
    name: str  # the engine's module and instance name
    nodes: list  # the node of every block at this position
    instance: object  # fqsr.hw.generate.Instance, merged over the blocks, RAM mode where weighted
    weighted: bool = False


@dataclass
class RolledEngine:
    blocks: list
    stages: list
    regions: list = field(default_factory=list)
    cfg_bits: int = 0
    stream: dict = field(default_factory=dict)  # bits, signed, lanes, width, beats of the frame streams

    @property
    def weighted(self) -> list:
        return [s for s in self.stages if s.weighted]

    def words_per_block(self) -> int:
        return sum(r.entries * r.words for r in self.regions)


def _graph_maps(model):
    producers = {t: n for n in model.graph.node for t in n.output}
    consumers = {}
    for n in model.graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    return producers, consumers


def residual_blocks(model) -> list:
    """The chain of residual blocks of the body, in order (see the module docstring); FqsrError when there is none."""
    from .generate import base_op_type

    producers, consumers = _graph_maps(model)
    order = {n.name: i for i, n in enumerate(model.graph.node)}

    def back(tensor):  # the producer behind FIFOs and width converters, and those passed
        passed, node = [], producers.get(tensor)
        while node is not None and base_op_type(node) in PASS_THROUGH:
            passed.append(node)
            node = producers.get(node.input[0])
        return node, passed

    blocks = []
    for add in model.graph.node:
        if base_op_type(add) != "ElementwiseAdd":
            continue
        (a, pa), (b, pb) = back(add.input[0]), back(add.input[1])
        for fork, skip, last, path in ((a, pa, b, pb), (b, pb, a, pa)):
            if fork is None or base_op_type(fork) != "DuplicateStreams" or last is None:
                continue
            chain, node, nodes = [], last, [*skip, *path]
            while node is not None and node is not fork and base_op_type(node) in CHAIN + PASS_THROUGH:
                if base_op_type(node) not in PASS_THROUGH:
                    chain.append(base_op_type(node))
                nodes.append(node)
                node = producers.get(node.input[0])
            after = consumers.get(add.output[0], [])
            if node is not fork or tuple(reversed(chain)) != CHAIN or len(after) != 1 \
                    or base_op_type(after[0]) != "Thresholding" or len(fork.output) != 2:
                continue
            nodes = sorted({n.name: n for n in [fork, *nodes, add, after[0]]}.values(), key=lambda n: order[n.name])
            blocks.append(ResidualBlock(nodes, fork.input[0], after[0].output[0]))
            break
    blocks.sort(key=lambda blk: order[blk.nodes[0].name])
    if not blocks:
        raise FqsrError("the dataflow graph has no residual block (fork -> pad, window, conv, pad, window, conv "
                        "-> add with the fork -> requantizer), so there is no body to roll")
    chain = [blocks[0]]
    for blk in blocks[1:]:
        if blk.input != chain[-1].output:
            raise FqsrError(f"residual block {len(chain)} (from {blk.nodes[0].name}) does not read the output of "
                            f"the block before it ({chain[-1].output}); a rolled body needs one chain of blocks")
        chain.append(blk)
    return chain


def _edges(block: ResidualBlock) -> list:
    """The block's wiring by position: (producer position, output j, consumer position, input i)."""
    where = {t: (k, j) for k, n in enumerate(block.nodes) for j, t in enumerate(n.output)}
    return sorted((*where[t], k, i) for k, n in enumerate(block.nodes) for i, t in enumerate(n.input) if t in where)


def _merge(instances, nodes, position: int):
    """One instance for all blocks at ``position``: equal parameters, :data:`MERGED` ones at their largest."""
    first = copy.deepcopy(instances[0])
    for b, inst in enumerate(instances[1:], start=1):
        if inst.module != first.module:
            raise FqsrError(f"residual blocks 0 and {b} differ at position {position}: {nodes[0].name} is a "
                            f"{first.module}, {nodes[b].name} a {inst.module}")
        for key in sorted(set(first.params) | set(inst.params)):
            mine, theirs = first.params.get(key), inst.params.get(key)
            if key in MERGED:
                first.params[key] = MERGED[key](mine, theirs)
            elif mine != theirs:
                raise FqsrError(f"residual blocks 0 and {b} differ in {key} ({nodes[0].name}: {mine}, "
                                f"{nodes[b].name}: {theirs}); one engine computes blocks of one shape only "
                                f"(same folding and data types)")
    return first


def _threshold_levels(params) -> int:
    from .generate import search_levels

    return search_levels(params["STEPS"])


def _threshold_region_entries(params) -> int:
    return params["CHANNELS" if "CHANNELS" in params else "MH"] // params["PE"] * ((1 << _threshold_levels(params)) - 1)


def _words(bits: int) -> int:
    return math.ceil(bits / WORD_BITS)


def ram_regions(inst, stage: int) -> list:
    """Turn an mvau / thresholding instance into its RAM form (parameters through the cfg port, no ROM files) in
    place; returns its payload regions (cfg_wr_en bit ``stage``), [] for any other module."""
    p = inst.params
    if inst.module == "mvau":
        weight_bits = p["PE"] * p["SIMD"] * p["W_BITS"]
        th_bits = p["PE"] * p["ACC_BITS"] if p.get("HAS_THRESHOLDS") else 0
        inst.cfg_width = max(weight_bits, th_bits)
        p.update(WEIGHT_RAM=1, CFG_WIDTH=inst.cfg_width)
        depth = (p["MW"] // p["SIMD"]) * (p["MH"] // p["PE"])
        regions = [Region(stage, 0, depth, _words(weight_bits), weight_bits)]
        if th_bits:
            regions.append(Region(stage, depth, _threshold_region_entries(p), _words(th_bits), th_bits))
    elif inst.module == "thresholding":
        inst.cfg_width = p["PE"] * p["TH_BITS"]
        p.update(THRESHOLD_RAM=1)
        regions = [Region(stage, 0, _threshold_region_entries(p), _words(inst.cfg_width), inst.cfg_width)]
    else:
        return []
    inst.roms, inst.rom_sets = {}, {}
    inst.sources = [*inst.sources, "bank_ram"]
    return regions


def rolled_engine(model, blocks=None) -> RolledEngine:
    """The engine of ``model``'s residual body: merged stages, weight regions, frame stream format."""
    from qonnx.custom_op.registry import getCustomOp

    from .generate import node_instance

    blocks = blocks or residual_blocks(model)
    first = blocks[0]
    for b, blk in enumerate(blocks[1:], start=1):
        if len(blk.nodes) != len(first.nodes) or _edges(blk) != _edges(first) \
                or [n.op_type for n in blk.nodes] != [n.op_type for n in first.nodes]:
            raise FqsrError(f"residual block {b} ({blk.nodes[0].name} ..) is wired differently from block 0 "
                            f"({first.nodes[0].name} ..); one engine computes blocks of one structure only")
    engine = RolledEngine(blocks, [])
    for k, node in enumerate(first.nodes):
        nodes = [blk.nodes[k] for blk in blocks]
        inst = _merge([node_instance(model, n) for n in nodes], nodes, k)
        stage = Stage(f"rolled_{node.name}", nodes, inst)
        regions = ram_regions(inst, len(engine.weighted))
        stage.weighted = bool(regions)
        engine.regions += regions
        if inst.module == "sliding_window":
            # K_H + 1 row slots, not 2 K_H: iterations never overlap, so no next frame's rows load early
            inst.params["SLOTS"] = inst.params["K_H"] + 1
        engine.stages.append(stage)
    engine.cfg_bits = max(s.instance.cfg_width for s in engine.weighted)

    fork, requant = getCustomOp(first.nodes[0]), getCustomOp(first.nodes[-1])
    fmt = {}
    for side, inst, folded, dtype, width in (
            ("in", fork, fork.get_folded_input_shape(), fork.get_input_datatype(), fork.get_instream_width_padded()),
            ("out", requant, requant.get_folded_output_shape(), requant.get_output_datatype(),
             requant.get_outstream_width_padded())):
        fmt[side] = {"bits": dtype.bitwidth(), "signed": bool(dtype.min() < 0), "lanes": int(folded[-1]),
                     "width": int(width), "beats": int(np.prod(folded[:-1])), "datatype": dtype.name,
                     "shape": [int(v) for v in (inst.get_normal_input_shape() if side == "in"
                                                else inst.get_normal_output_shape())]}
    if {k: v for k, v in fmt["in"].items()} != {k: v for k, v in fmt["out"].items()}:
        raise FqsrError(f"the residual block reads {fmt['in']['beats']} beats of {fmt['in']['lanes']} x "
                        f"{fmt['in']['datatype']} and writes {fmt['out']['beats']} of {fmt['out']['lanes']} x "
                        f"{fmt['out']['datatype']}; a rolled body needs one frame format for both (same PE at the "
                        f"fork and the requantizer)")
    engine.stream = fmt["in"]
    return engine


def _entry_words(values: list, words: int) -> list:
    return [(int(v) >> (WORD_BITS * i)) & 0xFFFF for v in values for i in range(words)]


def _threshold_entries(rom_set: dict, params, th_bits: int) -> list:
    """The search stages' entries, stage by stage, all PE lanes of one address packed (lane 0 lowest)."""
    from fqsr.flows.host import pack_beats

    entries = []
    for j in range(_threshold_levels(params)):
        lanes = np.stack([np.asarray(rom_set[f"_p{p:03d}_s{j}"][0]).reshape(-1) for p in range(params["PE"])],
                         axis=1)
        entries += pack_beats(lanes, th_bits, params["PE"])
    return entries


def block_payload(model, engine: RolledEngine, block: int) -> list:
    """The 16-bit words of block ``block``'s weights and thresholds, in the order the engine loads them."""
    from fqsr.flows.host import pack_beats

    from .generate import node_instance

    words = []
    for stage in engine.weighted:
        node = stage.nodes[block]
        inst, p = node_instance(model, node), stage.instance.params
        if stage.instance.module == "mvau":
            rom, bits = inst.roms["WEIGHTS_FILE"]
            words += _entry_words(pack_beats(rom, bits, rom.shape[1]), _words(p["PE"] * p["SIMD"] * p["W_BITS"]))
            if p.get("HAS_THRESHOLDS"):
                entries = _threshold_entries(inst.rom_sets["THRESHOLDS_PREFIX"], p, p["ACC_BITS"])
                words += _entry_words(entries, _words(p["PE"] * p["ACC_BITS"]))
        else:
            entries = _threshold_entries(inst.rom_sets["THRESHOLDS_PREFIX"], p, p["TH_BITS"])
            words += _entry_words(entries, _words(p["PE"] * p["TH_BITS"]))
    if len(words) != engine.words_per_block():
        raise FqsrError(f"block {block}'s payload has {len(words)} words, the engine's regions "
                        f"{engine.words_per_block()}; the weight layout and the regions disagree")
    return words


def body_payload(model, engine: RolledEngine) -> bytes:
    """The weight image's payload: every block's words (:func:`block_payload`), little-endian."""
    words = [w for b in range(len(engine.blocks)) for w in block_payload(model, engine, b)]
    return np.asarray(words, dtype="<u2").tobytes()


def _packed(values) -> str:
    return f"{32 * len(values)}'h" + "".join(f"{int(v):08x}" for v in reversed(values))


def block_text(model, engine: RolledEngine) -> str:
    """``rolled_block``: block 0's nodes stitched, the weighted stages' cfg ports on the module's ports."""
    from onnx import helper

    from .stitch import _stream_widths, top_text

    first = engine.blocks[0]
    renamed, widths, conns = [], {}, {}
    for stage, node in zip(engine.stages, first.nodes):
        renamed.append(onnx_copy(node, stage.name))
        widths[stage.name] = _stream_widths(model, node)
    for k, stage in enumerate(engine.weighted):
        conns[stage.name] = [f".cfg_wr_en(cfg_wr_en[{k}])", ".cfg_wr_bank(cfg_wr_bank)", ".cfg_wr_addr(cfg_wr_addr)",
                             f".cfg_wr_data(cfg_wr_data[{stage.instance.cfg_width - 1}:0])",
                             ".cfg_rd_bank(cfg_rd_bank)"]
    graph = helper.make_graph(renamed, BLOCK_TOP, [helper.make_empty_tensor_value_info(first.input)],
                              [helper.make_empty_tensor_value_info(first.output)])
    ports = [f"input  wire [{len(engine.weighted) - 1}:0] cfg_wr_en", "input  wire cfg_wr_bank",
             "input  wire [31:0] cfg_wr_addr", f"input  wire [{engine.cfg_bits - 1}:0] cfg_wr_data",
             "input  wire cfg_rd_bank"]
    text, _ = top_text(helper.make_model(graph), widths, module=BLOCK_TOP, extra_ports=ports, extra_conns=conns)
    return text


def engine_text(engine: RolledEngine) -> str:
    """``rolled_body``: the block datapath and its controller (weight loader, banks, iterations)."""
    width, n = engine.stream["width"], len(engine.weighted)
    regions = engine.regions
    params = {"N_BLOCKS": len(engine.blocks), "IN_BEATS": engine.stream["beats"], "OUT_BEATS": engine.stream["beats"],
              "STAGES": n, "DATA_BITS": engine.cfg_bits, "REGIONS": len(regions),
              "REGION_STAGE": _packed([r.stage for r in regions]), "REGION_BASE": _packed([r.base for r in regions]),
              "REGION_ENTRIES": _packed([r.entries for r in regions]),
              "REGION_WORDS": _packed([r.words for r in regions])}
    plist = ",\n".join(f"        .{k}({v})" for k, v in params.items())
    return f"""// generated by fqsr.hw.rolled; do not edit
`default_nettype none
module {ENGINE_TOP} (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [{width - 1}:0] rd_tdata,
    input  wire rd_tvalid,
    output wire rd_tready,
    output wire [{width - 1}:0] wr_tdata,
    output wire wr_tvalid,
    input  wire wr_tready,
    input  wire [15:0] w_tdata,
    input  wire w_tvalid,
    output wire w_tready,
    output wire [15:0] cmd_tdata,
    output wire cmd_tvalid,
    input  wire cmd_tready,
    output wire [1:0] banks_loaded,
    output wire busy
);
    wire dp_in_tvalid, dp_in_tready, dp_out_tvalid, dp_out_tready;
    wire [{n - 1}:0] cfg_wr_en;
    wire cfg_wr_bank, cfg_rd_bank;
    wire [31:0] cfg_wr_addr;
    wire [{engine.cfg_bits - 1}:0] cfg_wr_data;
    rolled_controller #(
{plist}
    ) controller (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .w_tdata(w_tdata), .w_tvalid(w_tvalid), .w_tready(w_tready),
        .cmd_tdata(cmd_tdata), .cmd_tvalid(cmd_tvalid), .cmd_tready(cmd_tready),
        .rd_tvalid(rd_tvalid), .rd_tready(rd_tready), .dp_in_tvalid(dp_in_tvalid), .dp_in_tready(dp_in_tready),
        .dp_out_tvalid(dp_out_tvalid), .dp_out_tready(dp_out_tready), .wr_tvalid(wr_tvalid), .wr_tready(wr_tready),
        .cfg_wr_en(cfg_wr_en), .cfg_wr_bank(cfg_wr_bank), .cfg_wr_addr(cfg_wr_addr), .cfg_wr_data(cfg_wr_data),
        .cfg_rd_bank(cfg_rd_bank), .banks_loaded(banks_loaded), .busy(busy)
    );
    {BLOCK_TOP} block (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(rd_tdata), .s_axis_tvalid(dp_in_tvalid), .s_axis_tready(dp_in_tready),
        .m_axis_tdata(wr_tdata), .m_axis_tvalid(dp_out_tvalid), .m_axis_tready(dp_out_tready),
        .cfg_wr_en(cfg_wr_en), .cfg_wr_bank(cfg_wr_bank), .cfg_wr_addr(cfg_wr_addr), .cfg_wr_data(cfg_wr_data),
        .cfg_rd_bank(cfg_rd_bank)
    );
endmodule
`default_nettype wire
"""


def sdram_layout(engine: RolledEngine) -> dict:
    """Word addresses of the SDRAM regions: the weight payload at 0 (where ``weight_loader`` writes it), then the
    body's input frame and the two ping-pong frame buffers, each starting on a row."""
    def align(words):
        return -(-words // SDRAM_ALIGN_WORDS) * SDRAM_ALIGN_WORDS

    frame_words = engine.stream["beats"] * _words(engine.stream["width"])
    weight_words = len(engine.blocks) * engine.words_per_block()
    in_addr = align(weight_words)
    return {"weight_base": 0, "weight_words": weight_words, "frame_words": frame_words, "in_addr": in_addr,
            "buf0_addr": in_addr + align(frame_words), "buf1_addr": in_addr + 2 * align(frame_words)}


def system_text(engine: RolledEngine, layout: dict) -> str:
    """``rolled_system``: the engine, its DMA and the SDRAM with its weight image (``weight_memory``). The body's
    input frame comes in on ``in0_t*``, its output leaves on ``out0_t*``; the weight image (``weights.bin``) is
    loaded first through ``img_t*`` (the DMA's SDRAM commands wait for ``image_ok``). ``iter_start`` pulses when an
    iteration starts (``iter_block``: its block), for a bench to time iterations."""
    width = engine.stream["width"]
    dma = {"BEAT_BITS": width, "FRAME_BEATS": engine.stream["beats"], "N_BLOCKS": len(engine.blocks),
           "WEIGHT_BASE": layout["weight_base"], "WEIGHT_WORDS": layout["weight_words"],
           "IN_ADDR": layout["in_addr"], "BUF0_ADDR": layout["buf0_addr"], "BUF1_ADDR": layout["buf1_addr"],
           "LEN_BITS": "LEN_BITS", "BURST": "BURST", "FIFO_WORDS": "FIFO_WORDS"}
    plist = ",\n".join(f"        .{k}({v})" for k, v in dma.items())
    return f"""// generated by fqsr.hw.rolled; do not edit
`default_nettype none
module {SYSTEM_TOP} #(
    parameter integer CLK_MHZ    = 100,
    parameter integer POWERUP_US = 200,
    parameter integer T_REFI_NS  = 7812,
    parameter integer LEN_BITS   = 8,
    parameter integer BURST      = 32,
    parameter integer FIFO_WORDS = 64
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [7:0] img_tdata,
    input  wire img_tvalid,
    output wire img_tready,
    input  wire img_tlast,
    output wire image_ok,
    output wire image_error,
    output wire [2:0] error_code,
    input  wire [{width - 1}:0] in0_tdata,
    input  wire in0_tvalid,
    output wire in0_tready,
    output wire [{width - 1}:0] out0_tdata,
    output wire out0_tvalid,
    input  wire out0_tready,
    output wire iter_start,
    output wire [15:0] iter_block,
    output wire [1:0] phase,
    output wire [31:0] frames_done,
    output wire sdram_cke,
    output wire sdram_cs_n,
    output wire sdram_ras_n,
    output wire sdram_cas_n,
    output wire sdram_we_n,
    output wire [1:0] sdram_ba,
    output wire [12:0] sdram_a,
    output wire [1:0] sdram_dqm,
    output wire [15:0] sdram_dq_o,
    output wire sdram_dq_oe,
    input  wire [15:0] sdram_dq_i
);
    wire [{width - 1}:0] frd_tdata, fwr_tdata, erd_tdata, ewr_tdata;
    wire frd_tvalid, frd_tready, fwr_tvalid, fwr_tready, w_tvalid, w_tready, cmd_tvalid, cmd_tready;
    wire erd_tvalid, erd_tready, ewr_tvalid, ewr_tready, ew_tvalid, ew_tready;
    wire [15:0] w_tdata, cmd_tdata, ew_tdata;
    wire m_cmd_valid, m_cmd_ready, m_cmd_write, m_wr_tvalid, m_wr_tready, m_rd_tvalid, m_rd_tready;
    wire [23:0] m_cmd_addr;
    wire [LEN_BITS-1:0] m_cmd_len;
    wire [15:0] m_wr_tdata, m_rd_tdata;
    wire [31:0] payload_bytes;
    wire [1:0] banks_loaded;
    wire busy;
    assign iter_start = cmd_tvalid && cmd_tready;
    assign iter_block = cmd_tdata;

    // register slices on the engine's three data streams: no combinational valid or ready path between the
    // engine's nodes and the DMA's counters (the full-size build's critical path ran from the DMA's write counter
    // back through the whole block)
    stream_register_slice #(.WIDTH({width})) rd_slice (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(frd_tdata), .in0_tvalid(frd_tvalid), .in0_tready(frd_tready),
        .out0_tdata(erd_tdata), .out0_tvalid(erd_tvalid), .out0_tready(erd_tready)
    );
    stream_register_slice #(.WIDTH({width})) wr_slice (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(ewr_tdata), .in0_tvalid(ewr_tvalid), .in0_tready(ewr_tready),
        .out0_tdata(fwr_tdata), .out0_tvalid(fwr_tvalid), .out0_tready(fwr_tready)
    );
    stream_register_slice #(.WIDTH(16)) w_slice (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(w_tdata), .in0_tvalid(w_tvalid), .in0_tready(w_tready),
        .out0_tdata(ew_tdata), .out0_tvalid(ew_tvalid), .out0_tready(ew_tready)
    );
    {ENGINE_TOP} engine (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .rd_tdata(erd_tdata), .rd_tvalid(erd_tvalid), .rd_tready(erd_tready),
        .wr_tdata(ewr_tdata), .wr_tvalid(ewr_tvalid), .wr_tready(ewr_tready),
        .w_tdata(ew_tdata), .w_tvalid(ew_tvalid), .w_tready(ew_tready),
        .cmd_tdata(cmd_tdata), .cmd_tvalid(cmd_tvalid), .cmd_tready(cmd_tready),
        .banks_loaded(banks_loaded), .busy(busy)
    );
    rolled_dma #(
{plist}
    ) dma (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(in0_tdata), .in0_tvalid(in0_tvalid), .in0_tready(in0_tready),
        .out0_tdata(out0_tdata), .out0_tvalid(out0_tvalid), .out0_tready(out0_tready),
        .frd_tdata(frd_tdata), .frd_tvalid(frd_tvalid), .frd_tready(frd_tready),
        .fwr_tdata(fwr_tdata), .fwr_tvalid(fwr_tvalid), .fwr_tready(fwr_tready),
        .w_tdata(w_tdata), .w_tvalid(w_tvalid), .w_tready(w_tready),
        .cmd_tdata(cmd_tdata), .cmd_tvalid(cmd_tvalid), .cmd_tready(cmd_tready),
        .mem_cmd_valid(m_cmd_valid), .mem_cmd_ready(m_cmd_ready), .mem_cmd_write(m_cmd_write),
        .mem_cmd_addr(m_cmd_addr), .mem_cmd_len(m_cmd_len),
        .mem_wr_tdata(m_wr_tdata), .mem_wr_tvalid(m_wr_tvalid), .mem_wr_tready(m_wr_tready),
        .mem_rd_tdata(m_rd_tdata), .mem_rd_tvalid(m_rd_tvalid), .mem_rd_tready(m_rd_tready),
        .phase(phase), .frames_done(frames_done)
    );
    weight_memory #(.CLK_MHZ(CLK_MHZ), .LEN_BITS(LEN_BITS), .POWERUP_US(POWERUP_US), .T_REFI_NS(T_REFI_NS)) memory (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .img_tdata(img_tdata), .img_tvalid(img_tvalid), .img_tready(img_tready), .img_tlast(img_tlast),
        .image_ok(image_ok), .image_error(image_error), .error_code(error_code), .payload_bytes(payload_bytes),
        .u_cmd_valid(m_cmd_valid), .u_cmd_ready(m_cmd_ready), .u_cmd_write(m_cmd_write),
        .u_cmd_addr(m_cmd_addr), .u_cmd_len(m_cmd_len),
        .u_wr_tdata(m_wr_tdata), .u_wr_tvalid(m_wr_tvalid), .u_wr_tready(m_wr_tready),
        .u_rd_tdata(m_rd_tdata), .u_rd_tvalid(m_rd_tvalid), .u_rd_tready(m_rd_tready),
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_cs_n), .sdram_ras_n(sdram_ras_n), .sdram_cas_n(sdram_cas_n),
        .sdram_we_n(sdram_we_n), .sdram_ba(sdram_ba), .sdram_a(sdram_a), .sdram_dqm(sdram_dqm),
        .sdram_dq_o(sdram_dq_o), .sdram_dq_oe(sdram_dq_oe), .sdram_dq_i(sdram_dq_i)
    );
endmodule
`default_nettype wire
"""


def outer_nodes(model, engine: RolledEngine) -> list:
    """The dataflow graph's nodes outside the body, in graph order: the head (through block 0's input quantizer),
    the tail (from the body's output on) and the branches beside the body (global skip, anchor)."""
    body = {n.name for blk in engine.blocks for n in blk.nodes}
    return [n for n in model.graph.node if n.name not in body]


def frame_beats(model, node) -> int:
    """Beats per frame on ``node``'s output stream."""
    from qonnx.custom_op.registry import getCustomOp

    return int(np.prod(getCustomOp(node).get_folded_output_shape()[:-1]))


def rolled_top_text(model, engine: RolledEngine, widths: dict) -> tuple[str, dict]:
    """``rolled_top``: the whole network with the body replaced by ``rolled_system`` (the engine, its DMA and the
    SDRAM), stitched by :func:`fqsr.hw.stitch.top_text` like the unrolled top; the weight image and SDRAM pins are
    the top's extra ports. Parameters CLK_MHZ, POWERUP_US, T_REFI_NS reach the SDRAM controller."""
    from onnx import helper

    from .stitch import top_text

    first, last = engine.blocks[0], engine.blocks[-1]
    body = helper.make_node("RolledBody", [first.input], [last.output], name=SYSTEM_TOP)
    nodes = [onnx_copy(n, n.name) for n in outer_nodes(model, engine)]
    at = next(i for i, n in enumerate(nodes) if last.output in n.input)
    nodes.insert(at, body)
    widths = {**widths, SYSTEM_TOP: ([first.input], [engine.stream["width"]], [engine.stream["width"]])}
    graph = helper.make_graph(nodes, ROLLED_TOP, [helper.make_empty_tensor_value_info(model.graph.input[0].name)],
                              [helper.make_empty_tensor_value_info(model.graph.output[0].name)])
    names = [p.split()[-1] for p in SYSTEM_PORTS]
    text, interface = top_text(helper.make_model(graph), widths, module=ROLLED_TOP, extra_ports=SYSTEM_PORTS,
                               extra_conns={SYSTEM_TOP: [f".{n}({n})" for n in names]})
    params = ("CLK_MHZ", 100), ("POWERUP_US", 200), ("T_REFI_NS", 7812)
    header = ",\n".join(f"    parameter integer {k} = {v}" for k, v in params)
    text = text.replace(f"module {ROLLED_TOP} (", f"module {ROLLED_TOP} #(\n{header}\n) (", 1)
    text = text.replace(f"    {SYSTEM_TOP} {SYSTEM_TOP}_i (",
                        f"    {SYSTEM_TOP} #(" + ", ".join(f".{k}({k})" for k, _ in params) + f") {SYSTEM_TOP}_i (", 1)
    return text, interface


def emit_outer(model, engine: RolledEngine, out_dir: Path) -> tuple[list, list, list, dict, dict, dict]:
    """Write the wrappers (and ROM files) of the nodes outside the body into ``out_dir``; returns (generic module
    files, wrapper files, ROM files, stream widths, ROM bits and buffer bits per node: the on-chip storage). A FIFO outside the body is made at least one frame deep: the
    branches beside the body (global skip, anchor) hold a whole frame while the engine iterates."""
    from .generate import base_op_type, buffer_bits, emit_node, node_instance, rom_bits
    from .stitch import _stream_widths

    generic, wrappers, roms, widths, rom, buffers = [], [], [], {}, {}, {}
    for node in outer_nodes(model, engine):
        widths[node.name] = _stream_widths(model, node)
        inst = node_instance(model, node)
        if base_op_type(node) == "StreamingFIFO":
            inst.params["DEPTH"] = max(inst.params["DEPTH"], frame_beats(model, node))
        for counted, count in ((rom, rom_bits(inst)), (buffers, buffer_bits(inst))):
            if count:
                counted[node.name] = count
        name, _, files = emit_node(model, node, out_dir, inst)
        generic += [f for f in files if f.suffix == ".v" and f.name not in [g.name for g in generic]]
        roms += [f.name for f in files if f.suffix == ".mem"]
        wrappers.append(f"{name}.v")
    return generic, wrappers, roms, widths, rom, buffers


def engine_summary(engine: RolledEngine) -> dict:
    from .generate import buffer_bits

    return {"bank_bits": sum(r.entries * r.bits for r in engine.regions),
            "buffer_bits": sum(buffer_bits(s.instance) for s in engine.stages), "blocks": len(engine.blocks),
            "block_nodes": [[n.name for n in blk.nodes] for blk in engine.blocks],
            "input": engine.blocks[0].input, "output": engine.blocks[-1].output,
            "block_outputs": [blk.output for blk in engine.blocks],
            "stream": engine.stream, "stages": [s.name for s in engine.stages],
            "weighted_stages": [s.name for s in engine.weighted], "cfg_bits": engine.cfg_bits,
            "regions": [vars(r) for r in engine.regions], "words_per_block": engine.words_per_block(),
            "params": {s.name: s.instance.params for s in engine.stages}}


def generate_rolled_rtl(dataflow_path, out_dir=None) -> dict:
    """Write ``<out_dir>/rolled`` (default: beside ``dataflow.onnx``); returns the summary (``rolled/rolled.json``)."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import record, require_current
    from fqsr.flows.export import load_qonnx

    from .generate import RTL_DIR, emit_node
    from .stitch import check_supported, replace_folder
    from .weight_image import write_weight_image

    dataflow_path = Path(dataflow_path)
    require_current(dataflow_path.parent, dataflow_path.name, "fqsr compile MODEL")
    model = load_qonnx(dataflow_path)
    check_supported(model)  # the head and tail are generated too
    engine = rolled_engine(model)
    final = Path(out_dir or dataflow_path.parent).resolve() / ROLLED_DIRNAME
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{ROLLED_DIRNAME}."))
    try:
        generic, wrappers = ["rolled_controller.v"], []
        for stage in engine.stages:
            node = onnx_copy(stage.nodes[0], stage.name)
            name, _, files = emit_node(model, node, tmp, copy.deepcopy(stage.instance))
            generic += [f.name for f in files if f.suffix == ".v" and f.name not in generic]
            wrappers.append(f"{name}.v")
        for name in generic:
            shutil.copy(RTL_DIR / name, tmp / name)
        (tmp / f"{BLOCK_TOP}.v").write_text(block_text(model, engine))
        (tmp / f"{ENGINE_TOP}.v").write_text(engine_text(engine))
        sources = generic + wrappers + [f"{BLOCK_TOP}.v", f"{ENGINE_TOP}.v"]
        (tmp / "filelist.f").write_text("\n".join(sources) + "\n")
        layout = sdram_layout(engine)
        for name in SYSTEM_SOURCES:
            if name not in generic:
                shutil.copy(RTL_DIR / name, tmp / name)
        (tmp / f"{SYSTEM_TOP}.v").write_text(system_text(engine, layout))
        system_sources = sources + [n for n in SYSTEM_SOURCES if n not in generic] + [f"{SYSTEM_TOP}.v"]
        outer_generic, outer_wrappers, roms, widths, rom, buffers = emit_outer(model, engine, tmp)
        for f in outer_generic:
            if f.name not in system_sources:
                shutil.copy(f, tmp / f.name)
                system_sources.append(f.name)
        top, interface = rolled_top_text(model, engine, widths)
        (tmp / f"{ROLLED_TOP}.v").write_text(top)
        top_sources = system_sources + outer_wrappers + [f"{ROLLED_TOP}.v"]
        write_weight_image(tmp / WEIGHTS_NAME, body_payload(model, engine))
        summary = {"dataflow": str(dataflow_path.resolve()), "rolled_dir": str(final), "top": ENGINE_TOP,
                   "sources": sources,
                   "system_top": SYSTEM_TOP, "system_sources": system_sources, "sdram_layout": layout,
                   "rolled_top": ROLLED_TOP, "top_sources": top_sources, "roms": roms, "interface": interface,
                   **engine_summary(engine)}
        # on-chip storage (the storage check): the head's and tail's ROMs; the engine's weight bank and stage
        # buffers count as buffers beside the outer FIFOs and line buffers; the body's weights are in SDRAM
        buffers.update({f"{ENGINE_TOP}.bank": summary["bank_bits"], f"{ENGINE_TOP}.stages": summary["buffer_bits"]})
        summary.update({"rom_bits_total": sum(rom.values()), "rom_bits": rom,
                        "buffer_bits_total": sum(buffers.values()), "buffer_bits_by_node": buffers,
                        "sdram_weight_bits": 8 * (tmp / WEIGHTS_NAME).stat().st_size})
        (tmp / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    record(final.parent, ROLLED_DIRNAME, inputs=[dataflow_path.name if dataflow_path.parent.resolve() == final.parent
                                                 else str(dataflow_path.resolve())])
    return summary


def onnx_copy(node, name: str):
    """A copy of ONNX ``node`` named ``name``."""
    import onnx

    out = onnx.NodeProto()
    out.CopyFrom(node)
    out.name = name
    return out
