"""A folding JSON for a rolled build (``fqsr build MODEL --roll body --folding F``): every residual block alike.

FINN's ``--target-fps`` gives every node the same cycle budget, and the board search (``--fps``) costs all 16
blocks as if each were in silicon and folds them one by one; a rolled build needs the opposite: the one
block engine runs 16 times per frame (its two convs the most parallel) and must be folded alike in every
block (``fqsr.hw.rolled.rolled_engine`` refuses blocks that differ), while the head and tail run once.

Reads a compiled folder's ``folding.json`` (FINN's default folding of ``fqsr compile``) and ``dataflow.onnx``,
sets SIMD / PE / resType of every residual block's two MVAUs (``--body SIMD,PE,RES``) and of named other
MVAUs (``--set NAME=SIMD,PE,RES``), makes the sliding window and padding in front of each MVAU follow its
SIMD, and writes the result. The cycles per frame (FINN's estimates) and the cost model's prediction
(:mod:`fqsr.hw.cost`) of the body's two convs are printed. benchmarks/rolled_edsr.md uses it as::

    python benchmarks/rolled_folding.py build/edsr_w4a4 --body 32,8,lut \\
        --set MVAU_hls_1=3,8,lut --set MVAU_hls_34=32,2,lut --set MVAU_hls_35=32,4,dsp --set MVAU_hls_36=8,3,lut \\
        --out /tmp/edsr_rolled_folding.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
from fqsr.flows.export import load_qonnx
from fqsr.hw.generate import base_op_type
from fqsr.hw.rolled import residual_blocks

FOLLOWERS = ("ConvolutionInputGenerator", "FMPadding")
PASSED = ("StreamingFIFO", "StreamingDataWidthConverter", *FOLLOWERS)


def parse_fold(text: str) -> tuple[int, int, str]:
    simd, pe, res = text.split(",")
    if res not in ("lut", "dsp", "auto"):
        raise SystemExit(f"resType must be lut, dsp or auto, not {res!r}")
    return int(simd), int(pe), res


def followers(model, mvau) -> list[str]:
    """The sliding window and padding in front of ``mvau`` (FIFOs and width converters passed)."""
    producers = {t: n for n in model.graph.node for t in n.output}
    found, node = [], producers.get(mvau.input[0])
    while node is not None and base_op_type(node) in PASSED:
        if base_op_type(node) in FOLLOWERS:
            found.append(node.name)
        node = producers.get(node.input[0])
    return found


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a compiled model folder (folding.json, dataflow.onnx)")
    ap.add_argument("--body", required=True, help="SIMD,PE,RES of every residual block's two convs")
    ap.add_argument("--set", action="append", default=[], help="NAME=SIMD,PE,RES for another MVAU (repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    from qonnx.custom_op.registry import getCustomOp

    fold = json.loads((args.folder / "folding.json").read_text())
    model = load_qonnx(args.folder / "dataflow.onnx")
    blocks = residual_blocks(model)
    choice = {n.name: parse_fold(args.body) for blk in blocks for n in blk.nodes if base_op_type(n) == "MVAU"}
    for item in args.set:
        name, _, spec = item.partition("=")
        choice[name] = parse_fold(spec)
    cycles = {}
    for node in model.graph.node:
        if node.name not in choice:
            continue
        simd, pe, res = choice[node.name]
        op = getCustomOp(node)
        mw, mh = op.get_nodeattr("MW"), op.get_nodeattr("MH")
        if mw % simd or mh % pe:
            raise SystemExit(f"{node.name}: SIMD {simd} must divide MW {mw} and PE {pe} MH {mh}")
        if node.name not in fold:
            raise SystemExit(f"{node.name} is not in {args.folder / 'folding.json'}")
        fold[node.name].update(SIMD=simd, PE=pe, resType=res)
        for up in followers(model, node):
            fold[up]["SIMD"] = simd
        pixels = 1
        for d in op.get_nodeattr("numInputVectors"):
            pixels *= d
        cycles[node.name] = pixels * (mw // simd) * (mh // pe)
    args.out.write_text(json.dumps(fold, indent=1) + "\n")
    body_names = [n.name for blk in blocks for n in blk.nodes if base_op_type(n) == "MVAU"]
    report = {"blocks": len(blocks), "body_convs": len(body_names), "body": args.body, "out": str(args.out),
              "cycles_per_tile": {"body (all iterations, convs only)": sum(cycles[n] for n in body_names),
                                  **{n: c for n, c in cycles.items() if n not in body_names}}}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
