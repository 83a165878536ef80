"""Training-free quantization of a float twin: DAQ-style per-channel activation ranges, integer end to end.

DAQ (distribution-aware quantization for SR, Hong et al., WACV 2022) observes
that the feature maps of SR networks vary strongly from channel to channel and
carry outliers, so one range per tensor wastes most levels on most channels.
It sets each channel's range from that channel's distribution (its mean plus a
multiple of its standard deviation, clipping the outliers beyond) and searches
the multiple per layer for the least quantization error.

Here the ranges are calibrated once on a few images (DAQ recomputes them per
image at run time, which a dataflow accelerator of thresholds cannot), and
they stay integer without a per-channel quantizer in the graph: between a
producer conv and its consumer conv (a ReLU or a plain requantization in
between, both positively homogeneous), channel ``c`` of the producer is
scaled by ``t / s_c`` and the consumer's input channel ``c`` by ``s_c / t``
*before* their weights are quantized, where ``s_c`` is the channel's step and
``t`` the one power-of-two step of the tensor's quantizer. The network's float
function is unchanged; the quantizer's integer codes are the per-channel
codes ``round(y_c / s_c)``, which the consumer reads directly. After FINN's
streamlining they are thresholds with one row per channel. A pixel shuffle
between the two convs makes its ``r*r`` sub-pixel channels share one step.

Every residual add keeps its one shared per-tensor quantizer (equal scale and
sign on both operands); its power-of-two step is the one with the least
squared error on the calibration data instead of calibration's rounded-up
percentile. Weights are quantized per output channel by the recipe as always.

``calibrate`` is fqsr's naive post-training baseline (Brevitas' per-tensor
percentile statistics on the unchanged twin weights), the start QAT uses.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .calibrate import calibrate
from .checkpoint import load_weights, save_checkpoint
from .data import PatchSampler, list_images
from .errors import FqsrError
from .registry import ModelConfig, build_model
from .train import transfer_float_weights

METHODS = ("daq", "calibrate")

# Clipping multiples of a channel's standard deviation above its mean, searched per layer
# (inf: the channel's own maximum, no clipping).
ALPHAS = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, math.inf)


@dataclass
class QuantizeSettings:
    method: str = "daq"
    calib: int = 32  # LR calibration patches
    patch: int = 48  # their side in LR pixels
    data: str = "embedded:train"  # a folder of images, or an embedded set
    seed: int = 0
    samples: int = 16384  # pixel positions per quantizer kept for the range search


@dataclass(frozen=True)
class ChannelLink:
    """A quantizer between two convs whose ranges may be set per channel by folding.

    ``point`` quantizes ``producer``'s output channels (through a ReLU or
    identity); ``consumer`` reads them, after a pixel shuffle of ``group``
    sub-pixel channels each when ``group`` > 1.
    """

    point: str
    producer: str
    consumer: str
    group: int = 1


def _upsampler_links(cfg) -> list[ChannelLink]:
    factors = [2, 2] if cfg.scale == 4 else [cfg.scale]
    links = []
    for j, r in enumerate(factors):
        consumer = f"up.{3 * j + 3}" if j + 1 < len(factors) else "tail"
        links.append(ChannelLink(f"up.{3 * j + 1}", f"up.{3 * j}", consumer, r * r))
    return links


def channel_links(cfg: ModelConfig) -> list[ChannelLink]:
    """Every quantizer of ``cfg``'s network that sits between one producer and one consumer conv."""
    if cfg.arch == "espcn":
        return [ChannelLink("act1", "conv1", "conv2"), ChannelLink("act2", "conv2", "conv3")]
    if cfg.arch == "fsrcnn":
        convs = ["extract", "shrink"] + [f"mapping.{2 * i}" for i in range(cfg.blocks)] + ["expand", "subpixel"]
        acts = ["extract_act", "shrink_act"] + [f"mapping.{2 * i + 1}" for i in range(cfg.blocks)] + ["expand_act"]
        return [ChannelLink(act, convs[i], convs[i + 1]) for i, act in enumerate(acts)]
    if cfg.arch in ("edsr", "tiny"):
        blocks = [ChannelLink(f"body.{i}.act", f"body.{i}.conv1", f"body.{i}.conv2") for i in range(cfg.blocks)]
        return blocks + _upsampler_links(cfg)
    if cfg.arch == "srresnet":  # batch norm follows conv1: its affine output is what gets scaled
        blocks = [ChannelLink(f"body.{i}.act", f"body.{i}.bn1", f"body.{i}.conv2") for i in range(cfg.blocks)]
        return blocks + _upsampler_links(cfg)
    raise FqsrError(f"fqsr quantize does not know the per-channel links of {cfg.arch}")


def calibration_batches(cfg: ModelConfig, settings: QuantizeSettings, batch: int = 8) -> list[torch.Tensor]:
    """``settings.calib`` random LR patches of ``settings.data``, in batches."""
    sampler = PatchSampler([img for _, img in list_images(settings.data)], cfg.scale, channels=cfg.channels)
    rng = np.random.default_rng(settings.seed)
    sizes = [batch] * (settings.calib // batch) + ([settings.calib % batch] if settings.calib % batch else [])
    return [torch.from_numpy(sampler.sample(n, settings.patch, rng)[0]) for n in sizes]


def _act_points(model) -> dict:
    import brevitas.nn as qnn

    return {name: m for name, m in model.named_modules() if isinstance(m, (qnn.QuantReLU, qnn.QuantIdentity))}


def _scaling_impl(module):
    return module.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl


def _learned(module) -> bool:
    """A quantizer whose range calibration sets (not a constant-scale one: pixels, the anchor's detail)."""
    from brevitas.core.scaling import ParameterFromRuntimeStatsScaling

    return isinstance(_scaling_impl(module), ParameterFromRuntimeStatsScaling)


@torch.no_grad()
def record_activations(float_model, names, batches, samples: int, seed: int) -> dict[str, dict]:
    """Per-channel statistics of the float twin at each named quantizer point: a random sample of
    ``samples`` pixel positions (C x N) and every channel's absolute maximum over all the data."""
    seen: dict[str, list] = {name: [] for name in names}
    hooks = [module.register_forward_hook(lambda _m, _i, out, name=name: seen[name].append(out.detach()))
             for name, module in float_model.named_modules() if name in seen]
    float_model.eval()
    try:
        for x in batches:
            float_model(x)
    finally:
        for hook in hooks:
            hook.remove()
    rng = torch.Generator().manual_seed(seed)
    stats = {}
    for name, outputs in seen.items():
        flat = torch.cat([o.transpose(0, 1).reshape(o.shape[1], -1) for o in outputs], dim=1)
        keep = torch.randperm(flat.shape[1], generator=rng)[:samples]
        stats[name] = {"sample": flat[:, keep].double(), "absmax": flat.abs().amax(dim=1).double()}
    return stats


def _levels(bits: int, signed: bool) -> tuple[int, int]:
    """Integer codes of a ``bits``-wide quantizer (full range)."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def _quant_error(values, step, lo, hi) -> torch.Tensor:
    """Squared error of quantizing ``values`` (C x N) with per-channel ``step`` (C x 1) on levels lo..hi."""
    return (torch.clamp(torch.round(values / step), lo, hi) * step - values).pow(2).sum()


def search_channel_steps(stats: dict, levels: tuple[int, int], group: int = 1) -> tuple[torch.Tensor, float]:
    """DAQ's ranges: channel ``c`` clips at ``min(max_c, |mean_c| + alpha * std_c)``; ``alpha`` is the one
    of :data:`ALPHAS` with the least squared error over the sample. Returns (per-channel steps, alpha)."""
    values, absmax = stats["sample"], stats["absmax"]
    lo, hi = levels
    mean, std = values.mean(dim=1).abs(), values.std(dim=1)
    floor = absmax.max().clamp_min(1e-12) * 2.0 ** -12  # dead channels: keep the fold's ratios finite
    best = None
    for alpha in ALPHAS:
        clip = absmax if math.isinf(alpha) else torch.minimum(absmax, mean + alpha * std)
        clip = clip.view(-1, group).amax(dim=1).repeat_interleave(group).clamp_min(floor)
        step = (clip / hi).unsqueeze(1)
        error = float(_quant_error(values, step, lo, hi))
        if best is None or error < best[0]:
            best = (error, step.squeeze(1), alpha)
    return best[1], best[2]


def search_po2_step(stats: dict, levels: tuple[int, int]) -> float:
    """The power-of-two step of least squared error over the sample (one step for the whole tensor)."""
    values = stats["sample"]
    lo, hi = levels
    top = float(stats["absmax"].max().clamp_min(1e-12))
    first = math.ceil(math.log2(top / hi))
    errors = {e: float(_quant_error(values, 2.0 ** e, lo, hi)) for e in range(first - 6, first + 1)}
    return 2.0 ** min(errors, key=errors.get)


def fold_channel_scales(state: dict, link: ChannelLink, factor: torch.Tensor) -> None:
    """Scale ``link.producer``'s output channels by ``factor`` and ``link.consumer``'s input channels by its
    inverse (per sub-pixel group after a shuffle), in the float state dict: the same float function."""
    factor = factor.float()
    out = state[f"{link.producer}.weight"]
    state[f"{link.producer}.weight"] = out * factor.view(-1, *([1] * (out.dim() - 1)))
    if f"{link.producer}.bias" in state:
        state[f"{link.producer}.bias"] = state[f"{link.producer}.bias"] * factor
    inverse = 1.0 / factor[::link.group]
    state[f"{link.consumer}.weight"] = state[f"{link.consumer}.weight"] * inverse.view(1, -1, 1, 1)


def set_po2_step(module, step: float) -> None:
    """Set a learned power-of-two activation quantizer to exactly ``step`` (its log2 parameter moves by an
    integer, so the rounded exponent moves by the same integer); checked on the quantizer itself."""
    current = act_step(module)
    shift = math.log2(step) - math.log2(current)
    if abs(shift - round(shift)) > 1e-9:
        raise FqsrError(f"quantizer step {step} is not a power of two")
    with torch.no_grad():
        _scaling_impl(module).value.add_(round(shift))
    if act_step(module) != step:
        raise FqsrError(f"could not set the quantizer step to {step}")


def _levels_of(module) -> tuple[int, int]:
    """The integer codes ``lo..hi`` of an activation quantizer."""
    proxy = module.act_quant
    bits, signed = int(proxy.bit_width()), bool(proxy.is_signed)
    lo, hi = _levels(bits, signed)
    return (lo + 1 if signed and proxy.is_narrow_range else lo), hi


def act_step(module) -> float:
    return float(module.act_quant.scale())


def load_float_twin(cfg: ModelConfig, float_checkpoint) -> nn.Module:
    """The float twin of ``cfg`` (same features, blocks and channels), loaded from ``float_checkpoint``."""
    from .registry import get_config

    twin_cfg = get_config(cfg.twin_name).replace(features=cfg.features, blocks=cfg.blocks, shrink=cfg.shrink,
                                                 channels=cfg.channels)
    twin = build_model(twin_cfg)
    load_weights(twin, float_checkpoint)
    return twin.eval()


def quantize(cfg: ModelConfig, twin: nn.Module, settings: QuantizeSettings):
    """Quantize the float ``twin`` to ``cfg`` without training. Returns (model in eval mode, meta)."""
    if settings.method not in METHODS:
        raise FqsrError(f"unknown quantization method '{settings.method}'; choose one of {', '.join(METHODS)}")
    if not cfg.quantized:
        raise FqsrError(f"{cfg.name} is a float model; quantize to a quantized name such as {cfg.arch}_w4a4")
    if settings.calib < 1:
        raise FqsrError("--calib must be at least 1 patch")
    start = time.monotonic()
    batches = calibration_batches(cfg, settings)
    model = build_model(cfg)
    state = {k: v.clone() for k, v in twin.state_dict().items()}
    meta = {"method": settings.method, "settings": dataclasses.asdict(settings)}
    points = {name: m for name, m in _act_points(model).items() if _learned(m)}
    if settings.method == "daq":
        links = {link.point: link for link in channel_links(cfg) if link.point in points}
        stats = record_activations(twin, list(points), batches, settings.samples, settings.seed)
        steps, ranges = {}, {}
        for name, module in points.items():
            levels = _levels_of(module)
            if name in links:
                channel_step, alpha = search_channel_steps(stats[name], levels, links[name].group)
                step = 2.0 ** round(float(torch.log2(channel_step).mean()))
                fold_channel_scales(state, links[name], step / channel_step)
                ranges[name] = {"per_channel": True, "alpha": alpha, "log2_step": math.log2(step),
                                "channel_step_spread": float(channel_step.max() / channel_step.min())}
            else:
                step = search_po2_step(stats[name], levels)
                ranges[name] = {"per_channel": False, "log2_step": math.log2(step)}
            steps[name] = step
        meta["ranges"] = ranges
    transfer_float_weights(model, state)
    calibrate(model, batches)  # every quantizer gets its state; DAQ then sets the ranges it chose
    if settings.method == "daq":
        for name, step in steps.items():
            set_po2_step(points[name], step)
    model.eval()
    meta["calibration_seconds"] = round(time.monotonic() - start, 2)
    return model, meta


def quantize_to_checkpoint(cfg: ModelConfig, float_checkpoint, out, settings: QuantizeSettings) -> dict:
    """Quantize ``float_checkpoint`` to ``cfg`` and save an fqsr checkpoint at ``out``. Returns a report."""
    twin = load_float_twin(cfg, float_checkpoint)
    model, meta = quantize(cfg, twin, settings)
    meta.update({"stage": f"ptq-{settings.method}", "float_twin": twin.config.name,
                 "float_checkpoint": str(float_checkpoint)})
    path = save_checkpoint(out, model, meta)
    return {"model": cfg.name, "method": settings.method, "checkpoint": str(path),
            "float_checkpoint": str(float_checkpoint), "calibration_seconds": meta["calibration_seconds"],
            "calibration_patches": settings.calib, "data": settings.data,
            **({"ranges": meta["ranges"]} if "ranges" in meta else {})}
