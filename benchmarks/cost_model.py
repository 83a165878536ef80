"""The ECP5 cost model (fqsr.hw.cost) against Yosys synth_ecp5, per node type.

    python benchmarks/cost_model.py --calibrate   # synthesize every point below again -> hw/ecp5_cost_calibration.json
    python benchmarks/cost_model.py               # fit, and the model's error per node type -> benchmarks/cost_model.md

The error is measured leave-one-out: each point is predicted by a model fitted on the other points of its
type, so a point never predicts itself.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fqsr.hw import cost

OUT_MD = Path(__file__).resolve().parent / "cost_model.md"


def _mvau(mw, mh, simd, pe, in_bits, in_signed, w_bits, acc, lut_mult, steps=0, out_bits=4):
    p = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "IN_BITS": in_bits, "IN_SIGNED": in_signed, "W_BITS": w_bits,
         "W_SIGNED": 1, "ACC_BITS": acc, "LUT_MULT": lut_mult}
    if steps:
        p.update({"HAS_THRESHOLDS": 1, "STEPS": steps, "BIAS": 0, "OUT_BITS": out_bits})
    return ("mvau", p)


def _th(pe, channels, steps, in_bits, out_bits):
    return ("thresholding", {"PE": pe, "CHANNELS": channels, "STEPS": steps, "IN_BITS": in_bits, "IN_SIGNED": 1,
                             "OUT_BITS": out_bits, "BIAS": 0, "TH_BITS": in_bits})


def _swg(simd, bits, channels, h, w, k, parallel=0):
    return ("sliding_window", {"SIMD": simd, "BITS": bits, "CHANNELS": channels, "H": h, "W": w, "K_H": k, "K_W": k,
                               "PARALLEL": parallel})


def _pad(simd, bits, channels, h, w, pad):
    return ("fm_padding", {"SIMD": simd, "BITS": bits, "CHANNELS": channels, "H": h, "W": w,
                           "PAD_T": pad, "PAD_L": pad, "PAD_B": pad, "PAD_R": pad})


# the shapes of espcn_w4a4 (5x5/64, 3x3/32, 3x3 sub-pixel, 1x1 anchor) and of the small test models, folded
POINTS = [
    _mvau(25, 64, 1, 1, 8, 0, 4, 16, 0), _mvau(25, 64, 5, 4, 8, 0, 4, 16, 1), _mvau(576, 32, 1, 1, 4, 0, 4, 14, 0),
    _mvau(288, 4, 16, 4, 4, 0, 4, 13, 1), _mvau(288, 4, 32, 1, 4, 0, 4, 13, 0), _mvau(576, 32, 8, 2, 4, 0, 4, 14, 0),
    _mvau(64, 16, 8, 4, 4, 0, 4, 12, 1), _mvau(144, 16, 4, 4, 2, 0, 2, 10, 1), _mvau(72, 8, 8, 8, 3, 1, 3, 11, 0),
    _mvau(36, 8, 4, 2, 4, 1, 4, 10, 1), _mvau(1, 4, 1, 1, 8, 0, 4, 12, 0),
    _mvau(576, 32, 8, 4, 4, 0, 4, 14, 0, steps=15),
    # s12: the foldings the board search picks for espcn_w4a4 and the Fmax bench's MVAU (benchmarks/fmax.md)
    _mvau(576, 32, 9, 4, 4, 0, 4, 14, 1), _mvau(576, 32, 32, 4, 4, 0, 4, 14, 1), _mvau(25, 64, 1, 64, 8, 0, 4, 16, 0),
    _mvau(288, 4, 32, 1, 4, 0, 4, 13, 1), _mvau(36, 16, 9, 4, 4, 1, 4, 12, 1), _mvau(64, 64, 2, 2, 4, 0, 4, 12, 1),
    _mvau(576, 32, 3, 1, 4, 0, 4, 14, 0, steps=15), _mvau(128, 32, 16, 8, 4, 0, 4, 13, 0, steps=15),
    _th(1, 64, 15, 16, 4), _th(4, 64, 15, 16, 4), _th(16, 64, 15, 14, 4), _th(8, 16, 3, 10, 2), _th(1, 4, 255, 16, 8),
    _swg(1, 8, 1, 12, 12, 5), _swg(1, 4, 64, 10, 10, 3), _swg(8, 4, 64, 10, 10, 3), _swg(32, 4, 32, 10, 10, 3, 1),
    _swg(16, 4, 64, 18, 18, 3), _swg(4, 4, 32, 34, 34, 3),
    _pad(1, 8, 1, 8, 8, 2), _pad(8, 4, 64, 8, 8, 1), _pad(64, 4, 64, 8, 8, 1),
    ("pixel_shuffle", {"PE": 1, "BITS": 8, "CHANNELS": 4, "R": 2, "WIDTH": 8}),
    ("pixel_shuffle", {"PE": 4, "BITS": 8, "CHANNELS": 4, "R": 2, "WIDTH": 8}),
    ("pixel_shuffle", {"PE": 2, "BITS": 4, "CHANNELS": 16, "R": 2, "WIDTH": 16}),
    ("stream_fifo", {"WIDTH": 8, "DEPTH": 2}), ("stream_fifo", {"WIDTH": 32, "DEPTH": 32}),
    ("stream_fifo", {"WIDTH": 8, "DEPTH": 256}), ("stream_fifo", {"WIDTH": 128, "DEPTH": 16}),
    ("stream_width_converter", {"BITS": 4, "IN_ELEMS": 64, "OUT_ELEMS": 8}),
    ("stream_width_converter", {"BITS": 4, "IN_ELEMS": 8, "OUT_ELEMS": 64}),
    ("stream_width_converter", {"BITS": 14, "IN_ELEMS": 4, "OUT_ELEMS": 1}),
    ("elementwise_add", {"PE": 1, "A_BITS": 8, "A_SIGNED": 1, "B_BITS": 8, "B_SIGNED": 1, "OUT_BITS": 9}),
    ("elementwise_add", {"PE": 16, "A_BITS": 4, "A_SIGNED": 0, "B_BITS": 6, "B_SIGNED": 1, "OUT_BITS": 7}),
    ("elementwise_add", {"PE": 4, "A_BITS": 4, "A_SIGNED": 1, "B_BITS": 4, "B_SIGNED": 1, "OUT_BITS": 5}),
    ("duplicate_streams", {"WIDTH": 8, "N_OUTPUTS": 2}), ("duplicate_streams", {"WIDTH": 64, "N_OUTPUTS": 2}),
]


def calibrate(path: Path = cost.CALIBRATION, workers: int = 2) -> list[dict]:
    """Synthesize every point of :data:`POINTS` (``workers`` Yosys runs at a time) into ``path``; points already
    there with the same module, parameters and Yosys are kept (an interrupted run resumes)."""
    from concurrent.futures import ThreadPoolExecutor

    from fqsr.hw.synth import _yosys_version

    tool = _yosys_version()
    try:
        old = json.loads(path.read_text())
        done = {json.dumps([p["module"], p["params"]], sort_keys=True): p for p in old["points"]} \
            if old.get("tool") == tool else {}
    except (OSError, ValueError, KeyError):
        done = {}
    record = {"tool": tool, "script": "synth_ecp5 -noflatten; counts of fqsr.hw.synth.kinds_of",
              "command": "python benchmarks/cost_model.py --calibrate", "points": []}
    results: dict = {}

    def one(i, tmp):
        module, params = POINTS[i]
        key = json.dumps([module, params], sort_keys=True)
        if key in done:
            results[i] = done[key]
        else:
            measured = cost.measure(module, params, Path(tmp) / f"p{i:02d}", seed=i)
            results[i] = {"module": module, "params": params, "measured": {k: measured[k] for k in cost.KINDS},
                          "yosys_s": measured["yosys_s"]}
            print(f"[{len(results)}/{len(POINTS)}] {module} {params}: {results[i]['measured']} "
                  f"({measured['yosys_s']:.0f} s)", flush=True)
        record["points"] = [results[j] for j in sorted(results)]
        path.write_text(json.dumps(record, indent=1) + "\n")

    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix=".cost-calibration.") as tmp:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: one(i, tmp), range(len(POINTS))))
    return record["points"]


def errors(points: list[dict]) -> dict:
    """Per module type and kind: leave-one-out predictions against the measured counts."""
    rows = {}
    for i, point in enumerate(points):
        module = point["module"]
        others = [p for j, p in enumerate(points) if j != i]
        if not any(p["module"] == module for p in others):
            continue
        predicted = cost.instance_cost(module, point["params"], cost.fit(others))  # a node's parts summed
        rows.setdefault(module, []).append((point, predicted))
    return rows


def fitted_residuals(points: list[dict]) -> str:
    """Per module type: the model fitted on all points against each point (what the calibration leaves)."""
    coefficients = cost.fit(points)
    lines = ["| node type | points | " + " | ".join(f"{k} residual" for k in ("LUT", "FF")) + " |",
             "|---|---:|---:|---:|"]
    for module in dict.fromkeys(p["module"] for p in points):
        rows = [(p, cost.instance_cost(module, p["params"], coefficients)) for p in points if p["module"] == module]
        cells = [module, str(len(rows))]
        for kind in ("LUT", "FF"):
            rel = [abs(q[kind] - p["measured"][kind]) / p["measured"][kind] * 100 for p, q in rows
                   if p["measured"][kind] >= 20]
            total_err = (sum(q[kind] for _, q in rows) - sum(p["measured"][kind] for p, _ in rows)) \
                / max(sum(p["measured"][kind] for p, _ in rows), 1) * 100
            cells.append(f"median {np.median(rel):.0f} %, max {max(rel):.0f} %; sum {total_err:+.0f} %" if rel
                         else f"sum {total_err:+.0f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(points: list[dict]) -> str:
    per_type = errors(points)
    lines = ["| node type | points | " + " | ".join(f"{k} measured (sum) | {k} error" for k in cost.KINDS) + " |",
             "|---|---:|" + "---:|---:|" * len(cost.KINDS)]
    for module, rows in per_type.items():
        cells = [module, str(len(rows))]
        for kind in cost.KINDS:
            measured = np.array([p["measured"][kind] for p, _ in rows], dtype=float)
            predicted = np.array([q[kind] for _, q in rows], dtype=float)
            big = measured >= 20
            rel = np.abs(predicted[big] - measured[big]) / measured[big] * 100 if big.any() else np.array([])
            err = (f"median {np.median(rel):.0f} %, max {rel.max():.0f} %" if rel.size else
                   f"max {np.abs(predicted - measured).max():.0f} abs")
            total_err = (predicted.sum() - measured.sum()) / max(measured.sum(), 1) * 100
            cells += [f"{measured.sum():,.0f}", f"{err}; sum {total_err:+.0f} %"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="synthesize the points again (minutes)")
    parser.add_argument("--workers", type=int, default=2, help="Yosys runs at a time")
    args = parser.parse_args(argv)
    points = calibrate(workers=args.workers) if args.calibrate else cost.calibration_points()
    table = summary(points)
    residuals = fitted_residuals(points)
    print(table + "\n\n" + residuals)
    tool = json.loads(cost.CALIBRATION.read_text()).get("tool", "Yosys")
    OUT_MD.write_text(
        "# The ECP5 cost model against Yosys, per node type\n\n"
        "`fqsr.hw.cost` predicts LUT4 (LUT4 + 2 per CCU2C + 4 per TRELLIS_DPR16X4), FF, block RAM (DP16KD) and "
        "MULT18X18D per node from its parameters; the folding search (`fqsr build --fps`) folds with it. LUT and FF "
        f"are fitted (non-negative least squares) to {len(points)} Yosys `synth_ecp5 -noflatten` counts of the real "
        f"modules with random ROM contents ({tool}; `hw/ecp5_cost_calibration.json`); BRAM and DSP are rules.\n\n"
        "Error = (predicted - measured) / measured, **leave-one-out**: each point is predicted by the model fitted "
        "without it. Relative errors are over points with at least 20 of that resource; `sum` is the error of "
        "the type's total over all its points.\n\n"
        "```\npython benchmarks/cost_model.py --calibrate   # synthesize the points again (~15 min on 2 busy cores)\n"
        "python benchmarks/cost_model.py               # these tables\n```\n\n" + table + "\n\n"
        "The model fitted on all points (what `fqsr build --fps` uses) against each point, same conventions "
        "(error of the calibration itself, not of a prediction for an unseen shape):\n\n" + residuals + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
