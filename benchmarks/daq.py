"""Training-free quantization measured: DAQ against fqsr's per-tensor calibration and the shipped QAT checkpoints.

Usage: python benchmarks/daq.py [--models espcn_w4a4,edsr_w4a4] [--methods daq,calibrate,daq+qat,auto,auto+qat]
                                [--qat 2000] [--budget bitops=own] [--edsr-twin CHECKPOINT] [--out benchmarks/daq.json]
Quantizes each model's float twin with each method (`fqsr quantize MODEL --method M`, the same
function; ``auto`` is `fqsr quantize MODEL --bits auto --budget B`, DAQ at the widths chosen from the
measured sensitivity, by default at the bit-ops of the model's own widths; ``+qat`` adds --qat N QAT
iterations), scores the result on Set5 and Set14 (Y PSNR) and appends one JSON line per
(model, method, set) to --out, so a long run can be stopped and resumed (rows already there are skipped).
Then writes the table of every row in --out, beside the shipped QAT checkpoints' scores
(models/checkpoints/psnr.json), into the part of --table above its hand-written ``## Notes``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from fqsr.apps.mixed_precision import quantize_auto
from fqsr.models.checkpoint import SHIPPED_DIR, shipped_checkpoint
from fqsr.models.files import SHIPPED_PSNR_NAME
from fqsr.models.evaluate import evaluate
from fqsr.models.quantize import QuantizeSettings, quantize_to_checkpoint
from fqsr.models.registry import get_config
from fqsr.models.train import finetune

ROOT = Path(__file__).resolve().parents[1]


def twin_checkpoint(name: str, edsr_twin: str | None) -> Path:
    cfg = get_config(name)
    if cfg.arch == "edsr" and edsr_twin:
        return Path(edsr_twin)
    return shipped_checkpoint(cfg.twin_name)


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="espcn_w4a4,edsr_w4a4")
    parser.add_argument("--methods", default="daq,calibrate")
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    parser.add_argument("--sets", default="Set5,Set14")
    parser.add_argument("--edsr-twin", default=None,
                        help="EDSR float twin to quantize (default: the shipped edsr_float.pt; e.g. a campaign state)")
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "daq.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--qat", type=int, default=2000,
                        help="QAT iterations after DAQ for the method daq+qat (training data: SunHays80 if present)")
    parser.add_argument("--budget", default="bitops=own",
                        help="the budget of the methods auto and auto+qat (fqsr quantize --bits auto --budget)")
    parser.add_argument("--table", default=str(ROOT / "benchmarks" / "daq.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(r["model"], r["method"], r["set"]) for r in map(json.loads, out.read_text().splitlines())}
    for name in args.models.split(","):
        twin = twin_checkpoint(name, args.edsr_twin)
        for method in args.methods.split(","):
            sets = [s for s in args.sets.split(",") if (name, method, s) not in done]
            if not sets:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                ckpt = Path(tmp) / f"{name}-{method}.pt"
                cfg, base = get_config(name), method.split("+")[0]
                if base == "auto":  # mixed precision: DAQ at the widths chosen under the budget
                    report, cfg = quantize_auto(cfg, twin, ckpt, QuantizeSettings(calib=args.calib), args.budget)
                else:
                    report = quantize_to_checkpoint(cfg, twin, ckpt, QuantizeSettings(method=base, calib=args.calib))
                if method.endswith("+qat"):  # DAQ's ranges and weights as QAT's starting point (fqsr quantize --qat N)
                    trained = finetune(cfg, twin, ckpt, args.qat, Path(tmp) / "qat")
                    ckpt = Path(trained["checkpoint"])
                    report["qat_iterations"], report["qat_seconds"] = trained["iterations"], trained["seconds"]
                for set_name in sets:
                    scores = evaluate(cfg, str(Path(args.data) / set_name), ckpt, twin)
                    row = {"model": name, "method": method, "set": set_name, "twin": str(twin),
                           "psnr_y_quant": scores["psnr_y_quant"], "psnr_y_float": scores.get("psnr_y_float"),
                           "psnr_y_bicubic": scores["psnr_y_bicubic"],
                           "calibration_seconds": report["calibration_seconds"], "calib": args.calib,
                           "qat_iterations": report.get("qat_iterations", 0), "qat_seconds": report.get("qat_seconds"),
                           "ranges": report.get("ranges")}
                    if base == "auto":
                        mp = report["mixed_precision"]
                        row.update(bits=report["bits"], budget=mp["budget"]["spec"], cost=mp["cost"],
                                   cost_own_widths=mp["cost_own_widths"])
                    print(json.dumps({k: v for k, v in row.items() if k != "ranges"}), flush=True)
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    write_table(out, Path(args.table))
    return 0


NOTES = "## Notes"


def db(value) -> str:
    return f"{value:.2f}" if value is not None else "-"


def write_table(rows_path: Path, table: Path) -> None:
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.is_file() else []
    shipped = {(r["model"], r["set"]): r for r in json.loads((SHIPPED_DIR / SHIPPED_PSNR_NAME).read_text())}
    by_key = {(r["model"], r["method"], r["set"]): r for r in rows}
    lines = [
        "# Training-free quantization: DAQ vs per-tensor calibration vs the shipped QAT checkpoints",
        "",
        "Generated by `python benchmarks/daq.py` from `benchmarks/daq.json` (rows appended by each run). Y PSNR in dB,",
        "x2, MATLAB-bicubic LR, `scale` pixels shaved; the quantized models are the Brevitas integer models",
        "(what the hardware reproduces bit for bit). DAQ and calibrate quantize the float twin named in the",
        "twin column with no training, on 32 LR patches of 48x48 from the embedded photographs; calibration",
        "time is wall time on the shared 2-core CPU (one torch thread) and includes DAQ's two candidate builds.",
        "The shipped QAT checkpoints were trained from the older twins of `benchmarks/psnr.md` (column QAT twin).",
        "",
        "| model | set | DAQ (no training) | calibrate (no training) | float twin | DAQ - twin | bicubic | shipped QAT | QAT twin "
        "| calibration s (DAQ / calibrate) | twin |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["model"], r["set"]) for r in rows if r["method"] in ("daq", "calibrate")},
                  key=lambda k: (k[0], k[1] != "Set5"))  # the other methods are psnr_table.py's
    for model, set_name in keys:
        daq, cal = by_key.get((model, "daq", set_name)), by_key.get((model, "calibrate", set_name))
        any_row = daq or cal
        qat = shipped.get((model, set_name))

        seconds = " / ".join(f"{r['calibration_seconds']:.0f}" if r else "-" for r in (daq, cal))
        gap = f"{daq['psnr_y_quant'] - daq['psnr_y_float']:+.2f}" if daq else "-"
        lines.append(
            f"| {model} | {set_name} x2 | {db(daq and daq['psnr_y_quant'])} | {db(cal and cal['psnr_y_quant'])} "
            f"| {db(any_row['psnr_y_float'])} | {gap} | {db(any_row['psnr_y_bicubic'])} "
            f"| {db(qat and qat['psnr_y_quant'])} | {db(qat and qat['psnr_y_float'])} | {seconds} "
            f"| {Path(any_row['twin']).name} |")
    kept = ""
    if table.is_file() and NOTES in table.read_text():
        text = table.read_text()
        kept = text[text.index(NOTES):]
    table.write_text("\n".join(lines) + "\n\n" + kept)


if __name__ == "__main__":
    sys.exit(main())
