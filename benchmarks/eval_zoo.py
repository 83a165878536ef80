"""PSNR/SSIM table of every shipped checkpoint on Set5 and Set14 (x2 unless the model says otherwise).

Usage: python benchmarks/eval_zoo.py [--data ../shared/data] [--out benchmarks/psnr.md] [--models a,b]
Prints the table and writes it (plus a JSON twin) for the README to quote. With ``--models`` only
those are evaluated again; the other rows come from the JSON twin as it is (after retraining a few).
A hand-written section of the existing output file that starts with
``## Experiments`` (how the checkpoints got here, attempts below the bar included) is kept as it is.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from fqsr.models.checkpoint import SHIPPED_DIR, read_checkpoint
from fqsr.models.files import SHIPPED_PSNR_NAME
from fqsr.models.evaluate import evaluate
from fqsr.models.registry import get_config


def shipped_quantized_models() -> list[str]:
    names = []
    for path in sorted(SHIPPED_DIR.glob("*.pt")):
        if get_config(path.stem).quantized:
            names.append(path.stem)
    return names


def training_note(name: str) -> str:
    meta = read_checkpoint(SHIPPED_DIR / f"{name}.pt")["meta"]
    stages = [meta]  # a second QAT stage (fqsr train --init) keeps the first under "previous"
    while "previous" in stages[0]:
        stages.insert(0, stages[0]["previous"])
    # The twin this checkpoint was trained from, as recorded then (checkpoints older than that record
    # fall back to the shipped twin, which is the same one unless a campaign replaced it since).
    twin = next((stage["twin"] for stage in reversed(stages) if "twin" in stage), None)
    if twin is None:
        twin = read_checkpoint(SHIPPED_DIR / f"{get_config(name).twin_name}.pt")["meta"]
    hours = (sum(stage["seconds"] for stage in stages) + twin["seconds"]) / 3600

    def qat(part):
        return " + ".join(f"{stage['iterations']} (lr {stage['settings']['qat_lr']:g})" for stage in part)

    # A stage marked weights_from handed only its quantizer ranges on: the next one started from the twin's weights.
    cut = max((i + 1 for i, stage in enumerate(stages) if "weights_from" in stage), default=0)
    ranges = f"quantizer ranges from {qat(stages[:cut])} QAT iterations on an earlier twin, then " if cut else ""
    data = Path(meta["settings"].get("data") or "default source").name
    return (f"{ranges}{twin['iterations']} float + {qat(stages[cut:])} QAT iterations, batch "
            f"{meta['settings']['batch']}, {hours:.1f} h on {meta['device']} ({data})")


KEPT_SECTION = "## Experiments"


def kept_section(path: Path) -> list[str]:
    """The hand-written section of an earlier table, from its heading to the end."""
    if not path.is_file():
        return []
    text = path.read_text()
    start = text.find(KEPT_SECTION)
    return [text[start:].rstrip("\n"), ""] if start >= 0 else []


def main() -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--sets", default="Set5,Set14")
    parser.add_argument("--models", default=None,
                        help="evaluate only these (comma-separated); the others' rows come from the JSON twin")
    args = parser.parse_args()
    only = set(args.models.split(",")) if args.models else None
    unknown = only - set(shipped_quantized_models()) if only else set()
    if unknown:
        parser.error(f"not shipped quantized models: {', '.join(sorted(unknown))}")
    kept = {}
    if only is not None:
        earlier = json.loads((SHIPPED_DIR / SHIPPED_PSNR_NAME).read_text())
        kept = {(r["model"], r["set"]): r for r in earlier}
    rows, results = [], []
    for name in shipped_quantized_models():
        for dataset in args.sets.split(","):
            if only is not None and name not in only:
                if (name, dataset) not in kept:
                    parser.error(f"{SHIPPED_PSNR_NAME} has no {name} on {dataset}; evaluate it too (--models)")
                r = kept[(name, dataset)]
                results.append(r)
            else:
                r = evaluate(name, str(Path(args.data) / dataset))
                r.pop("per_image")
                results.append({"set": dataset, **r})
            gap = r["psnr_y_quant"] - r["psnr_y_float"]
            rows.append(
                f"| {name} | {dataset} x{r['scale']} | {r['psnr_y_quant']:.2f} / {r['ssim_y_quant']:.4f} | "
                f"{r['psnr_y_float']:.2f} / {r['ssim_y_float']:.4f} | {r['psnr_y_bicubic']:.2f} / "
                f"{r['ssim_y_bicubic']:.4f} | {r['psnr_y_quant'] - r['psnr_y_bicubic']:+.2f} | {gap:+.2f} |"
            )
            print(rows[-1], flush=True)
    notes = [f"- `{name}`: {training_note(name)}" for name in shipped_quantized_models()]
    table = "\n".join([
        "# PSNR / SSIM (Y channel) of the shipped checkpoints",
        "",
        "Generated by `make eval-zoo` (`benchmarks/eval_zoo.py`). PSNR in dB / SSIM, Y channel",
        "(BT.601), `scale` pixels shaved, MATLAB-bicubic LR. The quantized column is the",
        "Brevitas integer model, i.e. the output the hardware must reproduce bit for bit.",
        "",
        "| model | set | quantized | float twin | bicubic | quant - bicubic | quant - float |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Training (from the checkpoints' own metadata; wall time on a 2-core CPU shared with",
        "other jobs, one or two torch threads per run, see Experiments):",
        "",
        *notes,
        "",
        *(kept_section(Path(args.out)) if args.out else []),
    ])
    if args.out:
        Path(args.out).write_text(table)
        (SHIPPED_DIR / SHIPPED_PSNR_NAME).write_text(json.dumps(results, indent=2) + "\n")  # shipped with the checkpoints
    return 0


if __name__ == "__main__":
    sys.exit(main())
