"""One comparison table of the quantization recipes, rebuilt from the measurements on record.

Usage: python benchmarks/psnr_table.py [--table benchmarks/psnr.md] [--check]

Reads every measured row there is (nothing is typed in here except the published reference rows):

- ``models/checkpoints/psnr.json``: the shipped QAT checkpoints (``make eval-zoo``), with their twin and
  bicubic scores;
- ``benchmarks/daq.json``: DAQ and per-tensor calibration without training, DAQ + QAT, and mixed
  precision at the bit-ops of the model's own widths with and without QAT (``python benchmarks/daq.py``;
  method ``daq``, ``calibrate``, ``daq+qat``, ``auto``, ``auto+qat`` with the budget ``bitops=own``).

and writes one row per (model, bit width, scale, set) between the ``<!-- comparison -->`` markers of
``--table``, the published rows below it. A cell is ``-`` where nothing was measured. ``--check`` exits
1 if the table on disk differs from what the records give (a stale table).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- comparison: python benchmarks/psnr_table.py -->", "<!-- /comparison -->"

# fqsr quantizes every layer: the input, the output, every conv, every activation and every residual add
FQSR_FLOAT = "none"
# Published figures (Y PSNR, x2/x4, the papers' own training), for scale beside the measured rows
PUBLISHED = [
    # (model, bits, scale, set, psnr, what stays in float, source)
    ("EDSR-baseline", "float", 2, "Set5", 37.99, "all", "Lim et al., CVPRW 2017"),
    ("EDSR-baseline", "float", 2, "Set14", 33.57, "all", "Lim et al., CVPRW 2017"),
    ("EDSR-baseline", "float", 4, "Set5", 32.10, "all", "Lim et al., CVPRW 2017"),
    ("EDSR-baseline", "float", 4, "Set14", 28.58, "all", "Lim et al., CVPRW 2017"),
    ("EDSR-baseline, DDTB", "W4A4", 2, "Set5", 37.72, "head, tail, skips", "Zhong et al., ECCV 2022"),
    ("EDSR-baseline, DDTB", "W4A4", 2, "Set14", 33.35, "head, tail, skips", "Zhong et al., ECCV 2022"),
    ("EDSR-baseline, DDTB", "W2A2", 2, "Set5", 37.25, "head, tail, skips", "Zhong et al., ECCV 2022"),
    ("EDSR-baseline, DDTB", "W4A4", 4, "Set5", 31.85, "head, tail, skips", "Zhong et al., ECCV 2022"),
]
COLUMNS = ("float twin", "QAT (shipped)", "DAQ, no training", "calibration only", "DAQ + QAT",
           "mixed precision at the same bit-ops, no training", "mixed precision + QAT", "bicubic")
METHOD_COLUMN = {"daq": "DAQ, no training", "calibrate": "calibration only", "daq+qat": "DAQ + QAT",
                 "auto": "mixed precision at the same bit-ops, no training", "auto+qat": "mixed precision + QAT"}
SAME_COST = "bitops=own"  # the mixed-precision columns compare at the bit-ops of the model's own widths


def _lines(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _key(model: str, scale, data_set: str):
    family, _, bits = model.partition("_")
    return family, bits or "-", int(scale or 2), data_set


def collect(root: Path = ROOT) -> dict:
    """(family, bits, scale, set) -> {column: PSNR}; later records of one cell replace earlier ones."""
    rows: dict = {}

    def put(key, column, value):
        if value is not None:
            rows.setdefault(key, {})[column] = float(value)

    shipped = root / "models" / "checkpoints" / "psnr.json"
    for r in (json.loads(shipped.read_text()) if shipped.exists() else []):
        key = _key(r["model"], r.get("scale"), r["set"])
        put(key, "QAT (shipped)", r.get("psnr_y_quant"))
        put(key, "float twin", r.get("psnr_y_float"))
        put(key, "bicubic", r.get("psnr_y_bicubic"))
    for r in _lines(root / "benchmarks" / "daq.json"):  # measured from the current twins: they win
        key = _key(r["model"], r.get("scale"), r["set"])
        if r.get("method") in METHOD_COLUMN and r.get("budget", SAME_COST) == SAME_COST:
            put(key, METHOD_COLUMN[r["method"]], r.get("psnr_y_quant"))
        put(key, "float twin", r.get("psnr_y_float"))
        put(key, "bicubic", r.get("psnr_y_bicubic"))
    return rows


def _row_order(item):
    (family, bits, scale, data_set), _ = item
    return family, bits, scale, {"Set5": 0, "Set14": 1}.get(data_set, 2), data_set


def render(rows: dict) -> str:
    head = ["model", "bits", "scale", "set", *COLUMNS, "in float"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (family, bits, scale, data_set), cells in sorted(rows.items(), key=_row_order):
        values = [f"{cells[c]:.2f}" if c in cells else "-" for c in COLUMNS]
        out.append(f"| {family} | {bits} | x{scale} | {data_set} | " + " | ".join(values) + f" | {FQSR_FLOAT} |")
    out += ["", "Published, for scale (their training; what they keep in float differs):", "",
            "| model | bits | scale | set | PSNR | in float | source |", "|---|---|---|---|---|---|---|"]
    out += [f"| {m} | {b} | x{s} | {d} | {p:.2f} | {f} | {src} |" for m, b, s, d, p, f, src in PUBLISHED]
    return "\n".join(out)


def splice(text: str, table: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"the table file has no {BEGIN} ... {END} section to fill")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table + "\n" + text[end:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=ROOT / "benchmarks" / "psnr.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if the table on disk is stale")
    args = ap.parse_args(argv)
    text = args.table.read_text()
    new = splice(text, render(collect()))
    if args.check:
        if new != text:
            print(f"{args.table}: the comparison table differs from the records; run python benchmarks/psnr_table.py")
            return 1
        return 0
    args.table.write_text(new)
    print(f"wrote the comparison table into {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
