"""PSNR/SSIM of a quantized model, its float twin and bicubic on an image set."""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from .bicubic import upscale
from .checkpoint import load_model
from .data import eval_pairs
from .errors import FqsrError
from .infer import super_resolve
from .metrics import psnr_y, ssim_y
from .registry import ModelConfig, get_config


def _scores(sr, hr, scale):
    return {"psnr_y": psnr_y(sr, hr, scale), "ssim_y": ssim_y(sr, hr, scale)}


def _mean(rows, method, metric):
    values = [row[method][metric] for row in rows if method in row]
    return float(np.mean(values)) if values else None


def evaluate(name: str | ModelConfig, data: str, checkpoint=None, float_checkpoint=None, with_twin=True) -> dict:
    """Score ``name`` on every image of ``data`` (a folder or ``embedded``).

    The float twin is scored when its checkpoint is shipped (or given); a
    model without a checkpoint is refused, since its numbers would mean nothing.
    A config with other ``--bits`` than its checkpoint scores the re-quantized
    weights (``requantized`` in the report says so).
    """
    cfg = name if isinstance(name, ModelConfig) else get_config(name)
    model, meta = load_model(cfg, checkpoint, require_trained=True)
    methods = {cfg.name: model}
    if with_twin and cfg.quantized:
        try:
            methods["float"], _ = load_model(cfg.twin_name, float_checkpoint, require_trained=True)
        except FqsrError:
            if float_checkpoint:
                raise
    pairs = eval_pairs(data, cfg.scale, channels=cfg.channels)
    rows = []
    start = time.monotonic()
    for image, lr, hr in tqdm(pairs, desc=f"eval {cfg.name}", unit="img", leave=False):
        row = {"image": image, "bicubic": _scores(upscale(lr, cfg.scale), hr, cfg.scale)}
        for method, net in methods.items():
            row[method] = _scores(super_resolve(net, lr), hr, cfg.scale)
        rows.append(row)
    summary = {
        "model": cfg.name,
        "data": str(data),
        "scale": cfg.scale,
        "images": len(rows),
        "checkpoint": meta.get("checkpoint"),
        **({"requantized": meta["requantized"]} if "requantized" in meta else {}),
        "seconds": round(time.monotonic() - start, 2),
    }
    for method, label in [(cfg.name, "quant" if cfg.quantized else "model"), ("float", "float"), ("bicubic", "bicubic")]:
        if any(method in row for row in rows):
            summary[f"psnr_y_{label}"] = _mean(rows, method, "psnr_y")
            summary[f"ssim_y_{label}"] = _mean(rows, method, "ssim_y")
    summary["per_image"] = rows
    return summary
