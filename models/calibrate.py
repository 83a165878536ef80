"""Training-free initialisation of activation ranges from data (post-training calibration)."""
from __future__ import annotations

import torch
from brevitas.graph.calibrate import calibration_mode


@torch.no_grad()
def calibrate(model, batches) -> None:
    """Run ``batches`` (float tensors, NCHW) through ``model`` so every activation quantizer
    sets its range from statistics; leaves the model in eval mode.

    Without this, a quantizer that has not seen data keeps its default range
    and an untrained model can output a constant image.
    """
    model.eval()
    with calibration_mode(model):
        for x in batches:
            model(x)
    model.eval()


def image_batches(cfg, count=4, batch=4, lr_patch=32, seed=0, source="embedded:train"):
    """``count`` batches of real LR patches for calibration (the embedded photographs by default)."""
    import numpy as np

    from .data import PatchSampler, list_images

    sampler = PatchSampler([img for _, img in list_images(source)], cfg.scale, channels=cfg.channels)
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(sampler.sample(batch, lr_patch, rng)[0]) for _ in range(count)]
