"""Training-free initialisation of activation ranges from data (post-training calibration)."""
from __future__ import annotations

import math

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


@torch.no_grad()
def run_hooked(model, batches, hooks: dict) -> None:
    """Run ``batches`` through ``model`` in eval mode with ``hooks[name](module, inputs, output, name)``
    called after each named module's forward; the hooks are removed afterwards, whatever happens."""
    handles = [module.register_forward_hook(lambda mod, inputs, output, name=name: hooks[name](mod, inputs, output,
                                                                                                name))
               for name, module in model.named_modules() if name in hooks]
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for handle in handles:
            handle.remove()


def image_batches(cfg, count=4, batch=4, lr_patch=32, seed=0, source="embedded:train"):
    """``count`` batches of real LR patches for calibration (the embedded photographs by default)."""
    import numpy as np

    from .data import PatchSampler, list_images

    sampler = PatchSampler([img for _, img in list_images(source)], cfg.scale, channels=cfg.channels)
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(sampler.sample(batch, lr_patch, rng)[0]) for _ in range(count)]


@torch.no_grad()
def quantizer_report(model, batches) -> dict:
    """How well every quantizer of ``model`` fits the data in ``batches`` (what to fix first).

    Activations (per quantizer): bit width, log2 of the scale, the fraction of
    values clipped at the range's ends, the fraction rounded to zero and the
    signal-to-quantization-noise ratio in dB. Conv weights (per layer): the
    SQNR, and the fraction of output channels whose power-of-two scale is not
    the one with the least squared error (the scale follows the channel max).
    """
    import brevitas.nn as qnn

    from .infer import as_tensor

    seen: dict[str, list] = {}

    def hook(mod, inputs, output, name):
        value = as_tensor(inputs[0])
        if isinstance(mod, qnn.QuantReLU):
            value = torch.relu(value)
        seen.setdefault(name, []).append((value, output))

    run_hooked(model, batches, {name: hook for name, module in model.named_modules()
                                if isinstance(module, (qnn.QuantReLU, qnn.QuantIdentity))})

    def sqnr(signal, error):
        return float(10 * torch.log10(signal.pow(2).mean() / error.pow(2).mean().clamp_min(1e-30)))

    acts = {}
    for name, pairs in seen.items():
        value = torch.cat([v.flatten() for v, _ in pairs])
        quant = torch.cat([o.value.flatten() for _, o in pairs])
        out = pairs[0][1]
        scale, bits = float(out.scale), int(out.bit_width)
        top = (2 ** (bits - 1) - 1 if out.signed else 2 ** bits - 1) * scale
        bottom = -(2 ** (bits - 1)) * scale if out.signed else 0.0
        acts[name] = {
            "bits": bits, "log2_scale": round(math.log2(scale), 3),
            "clipped": float(((value > top + scale / 2) | (value < bottom - scale / 2)).float().mean()),
            "zero": float((quant == 0).float().mean()), "sqnr_db": sqnr(value, quant - value),
        }
    weights = {}
    for name, module in model.named_modules():
        if isinstance(module, qnn.QuantConv2d):
            qw = module.quant_weight()
            w, bits = module.weight.detach(), int(qw.bit_width)
            lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1  # narrow range, as the recipe
            flat = w.flatten(1)
            current = torch.log2(qw.scale.detach().flatten())
            candidates = torch.arange(-16, 4, dtype=flat.dtype)
            errors = torch.stack([
                (torch.clamp(torch.round(flat / 2.0 ** e), lo, hi) * 2.0 ** e - flat).pow(2).sum(1)
                for e in candidates
            ])
            best = candidates[errors.argmin(0)]
            weights[name] = {
                "bits": bits, "sqnr_db": sqnr(w, qw.value.detach() - w),
                "channels_off_best_scale": float((best != current).float().mean()),
            }
    return {"activations": acts, "weights": weights}
