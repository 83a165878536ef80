"""A long float-twin training that stops and resumes at any moment: the training campaign.

A campaign continues a float twin (the shipped checkpoint, say) in *legs*: each
leg has a budget of training minutes (or iterations) and its own learning-rate
schedule, a short linear warm-up then a cosine decay over that budget (warm
restarts, SGDR), so a leg that runs to its end leaves annealed weights however
long it was. A killed or stopped leg resumes where its last save left it; the
next call after a finished leg starts a new one.

Everything lives in one state file, itself an fqsr checkpoint (``fqsr eval
edsr_float --checkpoint <state>`` reads it): float32 weights, Adam's moments in
bfloat16 (float16 would flush most second moments to zero, benchmarks/training.md),
iteration, RNG states, the leg and the learning curve. It is written
atomically every ``save_minutes`` and at each evaluation, and the curve CSV is
rewritten from it, so the two always agree.

The state is a working file (it is large and only a leg in progress needs it);
the curve CSV is the record. A campaign without a state starts a new leg from a
checkpoint, and when the CSV's curve ends at that checkpoint's iteration (the
shipped twin is the end of the last leg) it continues that curve, so the
history stays in one file.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .checkpoint import FORMAT, atomic_save, load_weights, read_checkpoint
from .data import PatchSampler, eval_pairs, list_images, shared_data_dir
from .errors import FqsrError
from .files import atomic_path
from .infer import super_resolve
from .metrics import psnr_y
from .registry import ModelConfig, build_model
from .train import batch_tensors, default_train_source, forward_loss, memory_format_for, pick_device

CURVE_FIELDS = ("iteration", "seconds", "leg", "lr", "loss_l1", "set", "psnr_y", "eval_seconds", "device")


@dataclass
class CampaignSettings:
    leg_minutes: float = 60.0  # training minutes of a new leg (evaluation not counted)
    leg_iters: int | None = None  # or a budget in iterations (whichever ends first)
    lr: float = 2e-4  # a leg's peak learning rate (EDSR's own is 1e-4 at batch 16)
    lr_floor: float = 1 / 20  # the cosine ends at lr * lr_floor
    warmup_iters: int = 100
    batch: int = 16
    lr_patch: int = 24
    bf16: bool = True  # autocast (forward_loss); float32 eval
    eval_every: int = 500  # iterations between evaluations
    save_minutes: float = 3.0
    data: str | None = None  # training images; None: SunHays80 if present, else embedded
    seed: int = 0


def default_eval_sets() -> dict[str, str]:
    """Set5 and Set14 from the shared data folder when present, else the embedded photographs."""
    shared = shared_data_dir()
    sets = {name: str(shared / name) for name in ("Set5", "Set14") if shared and (shared / name).is_dir()}
    return sets or {"embedded": "embedded"}


def leg_lr(settings: CampaignSettings, leg: dict) -> float:
    """Warm-up over the leg's first iterations, then cosine from ``lr`` to ``lr * lr_floor`` over its budget."""
    done = leg["iterations"]
    progress = leg["seconds"] / max(leg["budget_seconds"], 1e-9)
    if leg["budget_iters"]:
        progress = max(progress, done / leg["budget_iters"])
    warm = min(1.0, (done + 1) / settings.warmup_iters)
    cosine = settings.lr_floor + (1 - settings.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return settings.lr * warm * cosine


def leg_finished(leg: dict) -> bool:
    out_of_iterations = bool(leg["budget_iters"]) and leg["iterations"] >= leg["budget_iters"]
    return leg["seconds"] >= leg["budget_seconds"] or out_of_iterations


def new_leg(settings: CampaignSettings, index: int) -> dict:
    return {"index": index, "budget_seconds": settings.leg_minutes * 60, "budget_iters": settings.leg_iters,
            "seconds": 0.0, "iterations": 0}


def evaluate_sets(model, eval_sets: dict[str, str]) -> list[tuple[str, float, float]]:
    """``(set, mean Y-PSNR, seconds)`` per set, float32, the way ``fqsr eval`` scores a float twin."""
    model.eval()
    scores = []
    for name, source in eval_sets.items():
        start = time.monotonic()
        pairs = eval_pairs(source, model.config.scale, channels=model.config.channels)
        psnr = float(np.mean([psnr_y(super_resolve(model, lr), hr, model.config.scale) for _, lr, hr in pairs]))
        scores.append((name, psnr, time.monotonic() - start))
    model.train()
    return scores


def read_curve(path: Path) -> list[dict]:
    """The rows of a curve CSV as :meth:`Campaign.record` makes them (iteration, seconds and leg as numbers)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CURVE_FIELDS:
            raise FqsrError(f"{path} is not a learning curve (its columns are not {', '.join(CURVE_FIELDS)})")
        return [dict(row, iteration=int(row["iteration"]), seconds=float(row["seconds"]), leg=int(row["leg"]))
                for row in reader]


def write_curve(curve: list[dict], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(curve)
    return path


def curve_table(curve: list[dict]) -> str:
    """The learning curve as a markdown table: one row per evaluation, one PSNR column per set."""
    sets = list(dict.fromkeys(row["set"] for row in curve))
    points: dict[int, dict] = {}
    for row in curve:
        points.setdefault(int(row["iteration"]), dict(row))[row["set"]] = row["psnr_y"]
    lines = ["| iteration | training h | leg | lr | L1 (gray levels) | " + " | ".join(f"{s} dB" for s in sets) + " |",
             "|---" * (5 + len(sets)) + "|"]
    for iteration, point in points.items():
        lines.append(f"| {iteration} | {float(point['seconds']) / 3600:.2f} | {point['leg']} | {point['lr']} | "
                     f"{point['loss_l1'] or '-'} | " + " | ".join(point.get(s, "-") for s in sets) + " |")
    return "\n".join(lines)


class Campaign:
    """One campaign's state: a model, its optimizer, the iteration and RNGs, the leg and the curve."""

    def __init__(self, cfg: ModelConfig, state_path: Path, settings: CampaignSettings, device=None,
                 init_checkpoint: Path | None = None, start_new_leg: bool = False, curve_path: Path | None = None):
        if cfg.quantized:
            raise FqsrError(f"a training campaign continues a float twin; {cfg.name} is quantized "
                            f"(train it with 'fqsr train {cfg.name} --float-checkpoint ...')")
        self.cfg, self.settings, self.state_path = cfg, settings, Path(state_path)
        self.curve_path = Path(curve_path) if curve_path else self.state_path.with_name(f"{cfg.name}_curve.csv")
        self.device = pick_device(device)
        self.model = build_model(cfg)
        self.memory_format = memory_format_for(self.model)
        self.rng = np.random.default_rng(settings.seed)
        self.optimizer = None
        if self.state_path.is_file():
            self._restore(start_new_leg)
        else:
            if init_checkpoint is None:
                raise FqsrError(f"no campaign state at {self.state_path}; start one from a checkpoint "
                                f"(--init models/checkpoints/{cfg.name}.pt)")
            meta = load_weights(self.model, init_checkpoint)
            self.iteration, self.seconds = int(meta.get("iterations", 0)), float(meta.get("seconds", 0.0))
            self.init = {"checkpoint": str(init_checkpoint), "iterations": self.iteration, "seconds": self.seconds}
            self.curve = self._history(init_checkpoint)
            self.leg = new_leg(settings, self.curve[-1]["leg"] + 1 if self.curve else 0)
            self._make_optimizer(None)

    def _history(self, init_checkpoint: Path) -> list[dict]:
        """The curve CSV's rows when they end at the starting checkpoint's iteration; none without a CSV."""
        if not self.curve_path.is_file():
            return []
        curve = read_curve(self.curve_path)
        if curve and curve[-1]["iteration"] != self.iteration:
            raise FqsrError(f"the learning curve {self.curve_path} ends at iteration {curve[-1]['iteration']}, "
                            f"but {init_checkpoint} is at iteration {self.iteration}; start from the checkpoint "
                            f"that curve ends at, or give this campaign another curve file")
        return curve

    def _make_optimizer(self, state: dict | None) -> None:
        self.model.to(self.device, memory_format=self.memory_format).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr)
        if state is not None:
            self.optimizer.load_state_dict(state)  # bfloat16 moments come back as float32 (the params' dtype)

    def _restore(self, start_new_leg: bool) -> None:
        payload = read_checkpoint(self.state_path)
        if "campaign" not in payload:
            raise FqsrError(f"{self.state_path} is not a campaign state (no 'campaign' entry); "
                            f"pass it as --init to start a campaign from it")
        load_weights(self.model, self.state_path)
        campaign = payload["campaign"]
        self.iteration, self.seconds = campaign["iteration"], campaign["seconds"]
        self.init, self.curve, self.leg = campaign["init"], list(campaign["curve"]), dict(campaign["leg"])
        self.rng.bit_generator.state = campaign["rng"]
        torch.set_rng_state(campaign["torch_rng"])
        self._make_optimizer(payload["optimizer"])
        if start_new_leg or leg_finished(self.leg):
            self.leg = new_leg(self.settings, self.leg["index"] + 1)

    def save(self) -> Path:
        optimizer = self.optimizer.state_dict()  # its per-parameter dicts are the live ones: copy, then cast
        optimizer["state"] = {index: {key: value.to(torch.bfloat16) if key in ("exp_avg", "exp_avg_sq") else value
                                      for key, value in state.items()}  # float16 flushes second moments to 0
                              for index, state in optimizer["state"].items()}
        state_dict = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        campaign = {"iteration": self.iteration, "seconds": self.seconds, "init": self.init, "leg": self.leg,
                    "curve": self.curve, "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        meta = {"stage": "float campaign", "iterations": self.iteration, "seconds": round(self.seconds, 1),
                "device": str(self.device), "settings": dataclasses.asdict(self.settings), "init": self.init}
        atomic_save({"format": FORMAT, "config": self.cfg.to_dict(), "state_dict": state_dict, "meta": meta,
                     "optimizer": optimizer, "campaign": campaign}, self.state_path)
        write_curve(self.curve, self.curve_path)
        return self.state_path

    def record(self, eval_sets: dict[str, str], loss_l1: float | None, lr: float) -> list[dict]:
        """Evaluate on every set and append one curve row per set."""
        rows = [{"iteration": self.iteration, "seconds": round(self.seconds, 1), "leg": self.leg["index"],
                 "lr": f"{lr:.3g}", "loss_l1": "" if loss_l1 is None else f"{loss_l1:.4f}", "set": name,
                 "psnr_y": f"{psnr:.3f}", "eval_seconds": f"{seconds:.1f}", "device": str(self.device)}
                for name, psnr, seconds in evaluate_sets(self.model, eval_sets)]
        self.model.to(memory_format=self.memory_format)
        self.curve.extend(rows)
        return rows

    def evaluate_now(self, eval_sets: dict[str, str], log: Callable[[str], None] = print) -> list[dict]:
        """Add the curve's point for the current weights (unless it has it) and save: the end of a stopped leg."""
        if self.curve and int(self.curve[-1]["iteration"]) == self.iteration:
            return []
        rows = self.record(eval_sets, None, leg_lr(self.settings, self.leg))
        for row in rows:
            log(f"iteration {row['iteration']} ({row['seconds']} s): {row['set']} {row['psnr_y']} dB (at the stop)")
        self.save()
        return rows

    def run(self, eval_sets: dict[str, str] | None = None, should_stop: Callable[[], bool] = lambda: False,
            max_iters: int | None = None, log: Callable[[str], None] = print) -> dict:
        """Train until the leg ends, ``should_stop()`` turns true or ``max_iters`` more iterations ran.

        Saves every ``save_minutes`` of training and after every evaluation; returns a summary.
        """
        settings = self.settings
        eval_sets = eval_sets if eval_sets is not None else default_eval_sets()
        source = settings.data or default_train_source()
        sampler = PatchSampler([img for _, img in list_images(source)], self.cfg.scale, channels=self.cfg.channels)
        if not self.curve:  # the starting point of the curve
            for row in self.record(eval_sets, None, 0.0):
                log(f"iteration {row['iteration']}: {row['set']} {row['psnr_y']} dB (start)")
            self.save()
        # The loss stays on the device until an evaluation: no per-step sync, so on a GPU the next batch
        # is cut while the current one computes.
        loss_sum, losses, lr, ran, reason = torch.zeros((), device=self.device), 0, 0.0, 0, "leg finished"
        last_save = tick = time.monotonic()
        while not leg_finished(self.leg):
            if should_stop():
                reason = "stopped"
                break
            if max_iters is not None and ran >= max_iters:
                reason = f"{max_iters} iterations"
                break
            lr = leg_lr(settings, self.leg)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            x, hr = batch_tensors(*sampler.sample(settings.batch, settings.lr_patch, self.rng), self.device,
                                  self.memory_format)
            loss = forward_loss(self.model, x, hr, settings.bf16)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach()
            losses += 1
            now = time.monotonic()
            self.seconds += now - tick
            self.leg["seconds"] += now - tick
            self.iteration += 1
            self.leg["iterations"] += 1
            ran += 1
            if self.iteration % settings.eval_every == 0 or leg_finished(self.leg):
                for row in self.record(eval_sets, loss_sum.item() * 256 / losses, lr):
                    log(f"iteration {row['iteration']} ({row['seconds']} s): loss {row['loss_l1']}, "
                        f"{row['set']} {row['psnr_y']} dB, lr {row['lr']}")
                loss_sum.zero_()
                losses = 0
                self.save()
                last_save = time.monotonic()
            elif now - last_save >= settings.save_minutes * 60:
                self.save()
                last_save = time.monotonic()
            tick = time.monotonic()
        self.save()
        return {"state": str(self.state_path), "curve": str(self.curve_path), "iteration": self.iteration,
                "ran": ran, "seconds": round(self.seconds, 1), "leg": self.leg, "stopped_by": reason,
                "last": {row["set"]: float(row["psnr_y"]) for row in self.curve[-len(eval_sets):]}}
