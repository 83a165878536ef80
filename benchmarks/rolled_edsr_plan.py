"""Where the feature map of a loop-rolled EDSR body lives: the trade-off in numbers (benchmarks/rolled_edsr.md).

Reads a compiled full-size EDSR folder (``dataflow.onnx`` and ``rtl/rtl.json``, any tile: the weights and
thresholds do not depend on it) for the ROM bits of one residual block, and the board's capacity, then
prints, for each frame size, the three places the feature map can live between block iterations:

  A  on chip, a tile at a time, all blocks applied to a tile before the next (halo grows by 2 per block);
  B  on chip, a strip of full rows at a time (the same halo, in rows);
  C  in SDRAM, the whole frame streamed through the block engine once per iteration (no halo at all).

    python benchmarks/rolled_edsr_plan.py --model-dir build/edsr_w4a4
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

import fqsr.flows.finn  # noqa: F401 (registers fqsr's custom ops)
from fqsr.hw.board import get_board

EBR_BITS = 18 * 1024
FRAMES = {"Set5-like 128x128": (128, 128), "360p (640x360)": (360, 640), "540p (960x540)": (540, 960)}


def block_nodes(model, features: int):
    """The MVAUs of the residual body: 3x3 convs from ``features`` to ``features`` channels."""
    nodes = []
    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            inst = getCustomOp(node)
            if inst.get_nodeattr("MW") == 9 * features and inst.get_nodeattr("MH") == features:
                nodes.append(node.name)
    return nodes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--act-bits", type=int, default=4)
    parser.add_argument("--ebr-for-maps", type=int, default=150,
                        help="block RAMs left for feature maps after the engine's weights and line buffers")
    parser.add_argument("--sdram-mb-s", type=float, default=160.0,
                        help="sustained SDRAM bandwidth (16-bit SDR at 100 MHz: 200 MB/s peak)")
    parser.add_argument("--macs-per-cycle", type=int, default=1024, help="4-bit MACs of the block engine per cycle")
    parser.add_argument("--clock-mhz", type=float, default=50.0)
    args = parser.parse_args(argv)

    board = get_board(args.board)
    model = ModelWrapper(str(args.model_dir / "dataflow.onnx"))
    rtl = json.loads((args.model_dir / "rtl" / "rtl.json").read_text())
    body = block_nodes(model, args.features)
    per_conv = [rtl["rom_bits"][name] for name in body]
    if len(body) < 2 * args.blocks:
        print(f"found {len(body)} body convs, expected {2 * args.blocks}", file=sys.stderr)
        return 2
    block_bits = max(a + b for a, b in zip(per_conv[0::2], per_conv[1::2]))
    f, a = args.features, args.act_bits
    print(f"# Rolled EDSR body: {args.blocks} blocks of 2 convs {f}->{f} 3x3 on {board.name}\n")
    print(f"- ROM bits, whole accelerator: {rtl['rom_bits_total']:,}; body convs: {sum(per_conv):,} "
          f"({len(body)} convs); one block (weights + thresholds): {block_bits:,} bits "
          f"= {math.ceil(block_bits / EBR_BITS)} EBR, double-buffered {2 * math.ceil(block_bits / EBR_BITS)} EBR "
          f"of the board's {board.capacity['BRAM']}")
    load_s = block_bits / 8 / (args.sdram_mb_s * 1e6)
    print(f"- loading one block's weights from SDRAM at {args.sdram_mb_s:g} MB/s: {load_s * 1e6:.0f} us\n")
    halo = 2 * args.blocks + 2  # every 3x3 conv of the body, the body-end conv and the head
    px_bits = f * a
    budget = args.ebr_for_maps * EBR_BITS
    print(f"Feature map: {px_bits} bits per LR pixel; {args.ebr_for_maps} EBR for maps = {budget:,} bits; "
          f"body halo {halo} LR pixels; engine {args.macs_per_cycle} MACs/cycle at {args.clock_mhz:g} MHz\n")
    print("| frame (LR) | A: largest on-chip tile (ping-pong), useful work | B: largest strip (rows), useful work | "
          "C: line buffers + skip FIFO (EBR) | C: SDRAM traffic per frame | C: SDRAM time | compute time | "
          "C is bound by |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (h, w) in FRAMES.items():
        side = math.isqrt(budget // (2 * px_bits))  # ping-pong: input and output of an iteration
        core = side - 2 * halo
        a_cell = f"{side}x{side}: core {max(core, 0)}x{max(core, 0)}, " + (
            f"{core * core / (side * side):.1%}" if core > 0 else "none (halo larger than the tile)")
        rows = budget // (2 * px_bits * w)
        core_rows = rows - 2 * halo
        b_cell = f"{rows} rows: " + (f"{core_rows / rows:.1%}" if core_rows > 0 else "none (halo larger than the strip)")
        traffic = 2 * h * w * px_bits / 8 * args.blocks  # read the block's input, write its output, per block
        sdram_s = traffic / (args.sdram_mb_s * 1e6) + args.blocks * load_s
        macs = args.blocks * 2 * h * w * 9 * f * f
        compute_s = macs / (args.macs_per_cycle * args.clock_mhz * 1e6)
        # the engine's two sliding windows hold K+1 = 4 rows each (the minimum; 2K = 6 as generated today),
        # and the skip FIFO the block input for the two convs' latency, about 2 rows
        line_ebr = math.ceil((2 * 4 + 2) * w * px_bits / EBR_BITS)
        line_ebr_now = math.ceil((2 * 6 + 2) * w * px_bits / EBR_BITS)
        print(f"| {name} | {a_cell} | {b_cell} | {line_ebr} ({line_ebr_now} with 6-row windows) | "
              f"{traffic / 1e6:.1f} MB | {sdram_s:.2f} s | {compute_s:.2f} s | "
              f"{'compute' if compute_s >= sdram_s else 'SDRAM'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
