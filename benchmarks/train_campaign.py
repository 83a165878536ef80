"""Run (or resume) the float twin's training campaign; stop it any time with Ctrl-C or SIGTERM.

    nice -n 19 .venv/bin/python benchmarks/train_campaign.py --threads 1 --until 16:30

Without a state file a call starts a new leg from the shipped checkpoint (``--init``), continuing
the committed learning curve when it ends there; later calls resume from the state file, continuing
an unfinished leg or starting a new one (``fqsr.models.campaign``). The state (an fqsr checkpoint,
a working file: ``build/training/`` unless ``--state`` says otherwise, never committed) is saved
every few minutes; the learning curve is ``benchmarks/training/MODEL_curve.csv`` (committed: the
record). ``make train-campaign`` runs this with one thread at nice 19. When a leg has ended, ship
its weights (``models/checkpoints/MODEL.pt``, benchmarks/training.md) so that the next leg starts there.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import signal
import sys
from pathlib import Path

import torch

from fqsr.models.campaign import Campaign, CampaignSettings, curve_table, default_eval_sets, read_curve
from fqsr.models.checkpoint import read_checkpoint, shipped_checkpoint
from fqsr.models.errors import FqsrError
from fqsr.models.registry import get_config

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / "build" / "training"  # working state: large, untracked
CURVE_DIR = REPO / "benchmarks" / "training"  # the learning curves: the committed record


def minutes_until(clock: str) -> float:
    """Minutes from now to the next HH:MM (UTC)."""
    now = dt.datetime.now(dt.timezone.utc)
    hour, minute = (int(part) for part in clock.split(":"))
    end = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= now:
        end += dt.timedelta(days=1)
    return (end - now).total_seconds() / 60


def parse_args(argv=None) -> argparse.Namespace:
    defaults = CampaignSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="edsr_float")
    parser.add_argument("--state", type=Path, default=None,
                        help="state file (default build/training/MODEL.state.pt)")
    parser.add_argument("--curve", type=Path, default=None,
                        help="learning curve CSV (default benchmarks/training/MODEL_curve.csv)")
    parser.add_argument("--init", type=Path, default=None,
                        help="checkpoint a new campaign starts from (default: the shipped one)")
    parser.add_argument("--minutes", type=float, default=defaults.leg_minutes, help="training minutes of a new leg")
    parser.add_argument("--until", default=None, help="HH:MM UTC: stop then; a new leg is sized to end by then")
    parser.add_argument("--stop-in", type=float, default=None, help="stop this many wall-clock minutes from now")
    parser.add_argument("--leg-iters", type=int, default=None, help="iteration budget of a new leg")
    parser.add_argument("--max-iters", type=int, default=None, help="stop after this many iterations of this run")
    parser.add_argument("--new-leg", action="store_true", help="start a new leg even if the last one is unfinished")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--patch", type=int, default=defaults.lr_patch, help="LR patch side")
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    parser.add_argument("--save-minutes", type=float, default=defaults.save_minutes)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--data", default=None, help="training images (default SunHays80 if present)")
    parser.add_argument("--device", default=None, help="torch device (default cuda if present, else cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--eval-now", action="store_true",
                        help="only evaluate the state's weights (if its curve has no point for them yet) and save")
    parser.add_argument("--table", action="store_true",
                        help="print the state's learning curve as a markdown table; no training")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick its fastest kernels
    torch.backends.cudnn.allow_tf32 = False  # evaluation in true float32 (training runs under bf16 autocast)
    eval_share = 0.9  # a leg sized by --until leaves about a tenth of the time to evaluation
    minutes = minutes_until(args.until) * eval_share if args.until else args.minutes
    settings = CampaignSettings(leg_minutes=minutes, leg_iters=args.leg_iters, lr=args.lr, batch=args.batch,
                                lr_patch=args.patch, bf16=not args.fp32, eval_every=args.eval_every,
                                save_minutes=args.save_minutes, data=args.data)
    cfg = get_config(args.model)
    state = args.state or STATE_DIR / f"{cfg.name}.state.pt"
    curve = args.curve or CURVE_DIR / f"{cfg.name}_curve.csv"
    stop = {"asked": False}

    def ask_stop(signum, _frame):
        print(f"signal {signum}: stopping after this iteration", flush=True)
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    stop_in = min(m for m in (minutes_until(args.until) if args.until else math.inf, args.stop_in or math.inf))
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=stop_in) if stop_in < math.inf else None

    def should_stop() -> bool:
        return stop["asked"] or (deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline)

    try:
        if args.table:  # the state's curve while there is a state, else the CSV's
            if state.is_file():
                payload = read_checkpoint(state)
                if "campaign" not in payload:
                    raise FqsrError(f"{state} is not a campaign state (no learning curve in it)")
                print(curve_table(payload["campaign"]["curve"]))
            elif curve.is_file():
                print(curve_table(read_curve(curve)))
            else:
                raise FqsrError(f"no campaign state at {state} and no learning curve at {curve}")
            return 0
        campaign = Campaign(cfg, state, settings, args.device, args.init or shipped_checkpoint(cfg.name),
                            start_new_leg=args.new_leg, curve_path=curve)
        print(f"campaign {cfg.name}: iteration {campaign.iteration}, leg {campaign.leg['index']} "
              f"({campaign.leg['seconds'] / 60:.1f} of {campaign.leg['budget_seconds'] / 60:.1f} min), "
              f"device {campaign.device}, torch threads {torch.get_num_threads()}", flush=True)
        log = lambda line: print(line, flush=True)  # noqa: E731
        if args.eval_now:
            campaign.evaluate_now(default_eval_sets(), log)
            print(curve_table(campaign.curve))
            return 0
        result = campaign.run(default_eval_sets(), should_stop, args.max_iters, log)
        if result["stopped_by"] == "stopped" and not stop["asked"]:  # the deadline: its point on the curve
            campaign.evaluate_now(default_eval_sets(), log)
    except FqsrError as exc:
        print(f"train_campaign: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
