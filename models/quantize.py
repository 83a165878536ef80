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
percentile. The residual stream's channels can still get ranges of their own,
one set for the whole stream: its writers' output channels are divided by a
per-channel gain and its readers' input channels multiplied by it (the
network is built both ways and the one closer to the twin kept). Weights are
quantized per output channel by the recipe as always.

``calibrate`` is fqsr's naive post-training baseline (Brevitas' per-tensor
percentile statistics on the unchanged twin weights), the start QAT uses.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .calibrate import calibrate, run_hooked
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
    stream: bool = True  # DAQ: per-channel scales of the residual stream too (one set for all its quantizers)
    bias_correction: bool = True  # DAQ: biases absorb the mean shift of weight quantization


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


@dataclass(frozen=True)
class StreamLink:
    """The residual stream: every tensor on it is added to or read from the others, so its channels
    can only be scaled all together, once for the whole stream. ``points`` quantize it, ``writers``
    produce its channels (their outputs), ``readers`` are the convs that read it (their inputs)."""

    points: tuple[str, ...]
    writers: tuple[str, ...]
    readers: tuple[str, ...]


def stream_link(cfg: ModelConfig) -> StreamLink | None:
    """The residual stream of EDSR, tiny and SRResNet (None for the nets without one)."""
    blocks = range(cfg.blocks)
    points = ("skip_quant", *(f"body.{i}.quant" for i in blocks), "body_quant", "up_quant")
    readers = (*(f"body.{i}.conv1" for i in blocks), "body_end", "up.0")
    if cfg.arch in ("edsr", "tiny"):
        return StreamLink(points, ("head", *(f"body.{i}.conv2" for i in blocks), "body_end"), readers)
    if cfg.arch == "srresnet":  # the head's ReLU quantizes the stream too; batch norms write it
        return StreamLink(("head_act", *points), ("head", *(f"body.{i}.bn2" for i in blocks), "body_bn"), readers)
    return None


def calibration_batches(cfg: ModelConfig, settings: QuantizeSettings, batch: int = 8) -> list[torch.Tensor]:
    """``settings.calib`` random LR patches of ``settings.data``, in batches."""
    sampler = PatchSampler([img for _, img in list_images(settings.data)], cfg.scale, channels=cfg.channels)
    rng = np.random.default_rng(settings.seed)
    sizes = [batch] * (settings.calib // batch) + ([settings.calib % batch] if settings.calib % batch else [])
    return [torch.from_numpy(sampler.sample(n, settings.patch, rng)[0]) for n in sizes]


def learned_points(model) -> dict:
    """The activation quantizers of ``model`` whose ranges calibration sets, by name."""
    import brevitas.nn as qnn

    return {name: m for name, m in model.named_modules()
            if isinstance(m, (qnn.QuantReLU, qnn.QuantIdentity)) and _learned(m)}


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
    run_hooked(float_model, batches,
               {name: lambda _m, _i, out, name: seen[name].append(out.detach()) for name in names})
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
    floor = absmax.max().clamp_min(1e-12) * 2.0 ** -12  # dead channels: keep the fold's ratios finite
    best = None
    for alpha in ALPHAS:
        clip = _clip(values, absmax, alpha).view(-1, group).amax(dim=1).repeat_interleave(group).clamp_min(floor)
        step = (clip / hi).unsqueeze(1)
        error = float(_quant_error(values, step, lo, hi))
        if best is None or error < best[0]:
            best = (error, step.squeeze(1), alpha)
    return best[1], best[2]


def search_po2_step(stats: dict, levels: tuple[int, int], gain=None) -> tuple[float, float]:
    """The power-of-two step of least squared error over the sample (one step for the whole tensor), and
    that error. With ``gain`` (C), channel ``c`` is quantized divided by ``gain[c]`` and its error counted
    back in the original units (the residual stream's per-channel scales)."""
    lo, hi = levels
    values, absmax = stats["sample"], stats["absmax"]
    weight = 1.0
    if gain is not None:
        values, absmax, weight = values / gain[:, None], absmax / gain, gain[:, None] ** 2
    top = float(absmax.max().clamp_min(1e-12))
    first = math.ceil(math.log2(top / hi))
    errors = {e: float(((torch.clamp(torch.round(values / 2.0 ** e), lo, hi) * 2.0 ** e - values).pow(2)
                        * weight).sum()) for e in range(first - 6, first + 1)}
    best = min(errors, key=errors.get)
    return 2.0 ** best, errors[best]


def _clip(values, absmax, alpha):
    """DAQ's per-channel range: the mean's magnitude plus ``alpha`` standard deviations, at most the max."""
    if math.isinf(alpha):
        return absmax
    return torch.minimum(absmax, values.mean(dim=1).abs() + alpha * values.std(dim=1))


def search_stream_gains(stats: dict, levels: dict) -> tuple[torch.Tensor, float, dict]:
    """Per-channel scales of the residual stream, shared by all its quantizers (``stats`` and ``levels``
    by quantizer name): each channel's DAQ range over every point of the stream, normalized to a geometric
    mean of one, with ``alpha`` searched for the least total error of the points' own po2 steps.
    Returns (gains, alpha, po2 step per point)."""
    values = torch.cat([entry["sample"] for entry in stats.values()], dim=1)
    absmax = torch.stack([entry["absmax"] for entry in stats.values()]).amax(dim=0)
    floor = absmax.max().clamp_min(1e-12) * 2.0 ** -12
    best = None
    for alpha in ALPHAS:
        clip = _clip(values, absmax, alpha).clamp_min(floor)
        gain = clip / torch.exp(torch.log(clip).mean())
        found = {name: search_po2_step(stats[name], levels[name], gain) for name in stats}
        error = sum(err for _, err in found.values())
        if best is None or error < best[0]:
            best = (error, gain, alpha, {name: step for name, (step, _) in found.items()})
    return best[1], best[2], best[3]


def scale_channels(state: dict, module: str, factor: torch.Tensor, inputs: bool = False) -> None:
    """Multiply ``module``'s output channels (weight and bias; a conv or a batch norm) or, with ``inputs``,
    a conv's input channels by ``factor``, in a float state dict."""
    weight, factor = state[f"{module}.weight"], factor.float()
    if inputs:
        state[f"{module}.weight"] = weight * factor.view(1, -1, *([1] * (weight.dim() - 2)))
        return
    state[f"{module}.weight"] = weight * factor.view(-1, *([1] * (weight.dim() - 1)))
    if f"{module}.bias" in state:
        state[f"{module}.bias"] = state[f"{module}.bias"] * factor


def fold_channel_scales(state: dict, link: ChannelLink, factor: torch.Tensor) -> None:
    """Scale ``link.producer``'s output channels by ``factor`` and ``link.consumer``'s input channels by its
    inverse (per sub-pixel group after a shuffle), in the float state dict: the same float function."""
    scale_channels(state, link.producer, factor)
    scale_channels(state, link.consumer, 1.0 / factor.float()[::link.group], inputs=True)


def fold_stream_gains(state: dict, stream: StreamLink, gain: torch.Tensor) -> None:
    """Divide the residual stream's channels by ``gain`` (its writers' outputs) and multiply them back
    where convs read the stream: the same float function, the stream itself scaled per channel."""
    for writer in stream.writers:
        scale_channels(state, writer, 1.0 / gain)
    for reader in stream.readers:
        scale_channels(state, reader, gain, inputs=True)


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


def daq_ranges(cfg: ModelConfig, twin_state: dict, points: dict, stats: dict, stream: bool):
    """DAQ's ranges for the quantizers ``points`` (name -> module): the float state with the per-channel
    scales folded in, the po2 step of every quantizer, and a record of what was chosen."""
    state = {k: v.clone() for k, v in twin_state.items()}
    links = {link.point: link for link in channel_links(cfg) if link.point in points}
    steps, ranges, record = {}, {}, {}
    residual = stream_link(cfg) if stream else None
    if residual is not None:
        names = [name for name in residual.points if name in points]
        gain, alpha, steps = search_stream_gains({n: stats[n] for n in names},
                                                 {n: _levels_of(points[n]) for n in names})
        fold_stream_gains(state, residual, gain)
        record["stream"] = {"alpha": alpha, "gain_spread": float(gain.max() / gain.min())}
        ranges.update({name: {"per_channel": True, "shared_stream": True, "log2_step": math.log2(step)}
                       for name, step in steps.items()})
    for name, module in points.items():
        if name in steps:
            continue
        levels = _levels_of(module)
        if name in links:
            channel_step, alpha = search_channel_steps(stats[name], levels, links[name].group)
            step = 2.0 ** round(float(torch.log2(channel_step).mean()))
            fold_channel_scales(state, links[name], step / channel_step)
            ranges[name] = {"per_channel": True, "alpha": alpha, "log2_step": math.log2(step),
                            "channel_step_spread": float(channel_step.max() / channel_step.min())}
        else:
            step, _ = search_po2_step(stats[name], levels)
            ranges[name] = {"per_channel": False, "log2_step": math.log2(step)}
        steps[name] = step
    record["ranges"] = ranges
    return state, steps, record


def build_quantized(cfg: ModelConfig, state: dict, batches, steps: dict | None = None):
    """``cfg``'s model with the float ``state``, every quantizer initialised by calibration, then set to
    ``steps`` (name -> po2 step) where given."""
    model = build_model(cfg)
    transfer_float_weights(model, state)
    calibrate(model, batches)
    modules = dict(model.named_modules())
    for name, step in (steps or {}).items():
        set_po2_step(modules[name], step)
    return model.eval()


@torch.no_grad()
def correct_biases(model, batches) -> int:
    """Empirical bias correction: each conv's bias absorbs the mean shift its weight quantization causes on
    the calibration patches (``conv(x, Wq - W)`` averaged per output channel, ``x`` its quantized input).
    Returns the number of convs corrected."""
    import brevitas.nn as qnn
    import torch.nn.functional as F

    from .infer import as_tensor

    convs = {name: m for name, m in model.named_modules()
             if isinstance(m, qnn.QuantConv2d) and m.bias is not None and m.weight.requires_grad}
    shifts = {name: [] for name in convs}

    def hook(module, inputs, _output, name):
        delta = module.quant_weight().value - module.weight
        shift = F.conv2d(as_tensor(inputs[0]), delta, None, module.stride, module.padding)
        shifts[name].append(shift.mean(dim=(0, 2, 3)))

    run_hooked(model, batches, {name: hook for name in convs})
    for name, conv in convs.items():
        conv.bias.sub_(torch.stack(shifts[name]).mean(dim=0))
    return len(convs)


@torch.no_grad()
def output_error(model, reference: list[torch.Tensor], batches) -> float:
    """Mean squared error of ``model``'s output against the float twin's (``reference``), in gray levels."""
    from .infer import as_tensor

    return float(torch.cat([((as_tensor(model(x)) - ref) * 256).pow(2).flatten()
                            for x, ref in zip(batches, reference)]).mean())


def quantize(cfg: ModelConfig, twin: nn.Module, settings: QuantizeSettings):
    """Quantize the float ``twin`` to ``cfg`` without training. Returns (model in eval mode, meta).

    DAQ with a residual stream builds the network with and without the stream's per-channel scales and
    keeps the one whose output is closer to the twin's on the calibration patches: the stream's scales
    also scale the weights that read it, which can cost more than the finer ranges win.
    """
    if settings.method not in METHODS:
        raise FqsrError(f"unknown quantization method '{settings.method}'; choose one of {', '.join(METHODS)}")
    if not cfg.quantized:
        raise FqsrError(f"{cfg.name} is a float model; quantize to a quantized name such as {cfg.arch}_w4a4")
    if settings.calib < 1:
        raise FqsrError("--calib must be at least 1 patch")
    start = time.monotonic()
    batches = calibration_batches(cfg, settings)
    meta = {"method": settings.method, "settings": dataclasses.asdict(settings)}
    twin.eval()
    with torch.no_grad():
        reference = [twin(x) for x in batches]
    if settings.method == "calibrate":
        model = build_quantized(cfg, twin.state_dict(), batches)
    else:
        points = learned_points(build_model(cfg))
        stats = record_activations(twin, list(points), batches, settings.samples, settings.seed)
        variants = [False, True] if settings.stream and stream_link(cfg) is not None else [False]
        best = None
        for stream in variants:
            state, steps, record = daq_ranges(cfg, twin.state_dict(), points, stats, stream)
            candidate = build_quantized(cfg, state, batches, steps)
            if settings.bias_correction:
                correct_biases(candidate, batches)
            error = output_error(candidate, reference, batches)
            meta.setdefault("variants", {})["stream" if stream else "per_tensor_stream"] = round(error, 4)
            if best is None or error < best[0]:
                best = (error, candidate, record)
        model = best[1]
        meta.update(best[2])
    meta["output_mse_gray"] = round(output_error(model, reference, batches), 4)
    meta["calibration_seconds"] = round(time.monotonic() - start, 2)
    return model, meta


def quantize_to_checkpoint(cfg: ModelConfig, float_checkpoint, out, settings: QuantizeSettings,
                           extra: dict | None = None) -> dict:
    """Quantize ``float_checkpoint`` to ``cfg`` and save an fqsr checkpoint at ``out`` (``extra`` added to its
    meta). Returns a report."""
    twin = load_float_twin(cfg, float_checkpoint)
    model, meta = quantize(cfg, twin, settings)
    meta.update({"stage": f"ptq-{settings.method}", "float_twin": twin.config.name,
                 "float_checkpoint": str(float_checkpoint), **(extra or {})})
    path = save_checkpoint(out, model, meta)
    return {"model": cfg.name, "method": settings.method, "checkpoint": str(path),
            "float_checkpoint": str(float_checkpoint), "calibration_seconds": meta["calibration_seconds"],
            "calibration_patches": settings.calib, "data": settings.data, "output_mse_gray": meta["output_mse_gray"],
            **{key: meta[key] for key in ("variants", "stream", "ranges") if key in meta}}


def mean_psnr_y(model, cfg: ModelConfig, data, crop: int | None = None) -> float:
    """Mean Y PSNR of ``model`` over ``data``: a folder or an embedded set (each HR image cut to its central
    ``crop`` pixels when given), or a list of ``(name, lr, hr)`` pairs already made."""
    from .data import eval_pairs
    from .infer import super_resolve
    from .metrics import psnr_y

    pairs = data if isinstance(data, list) else eval_pairs(data, cfg.scale, channels=cfg.channels, crop=crop)
    with torch.no_grad():
        return float(np.mean([psnr_y(super_resolve(model, lr), hr, cfg.scale) for _, lr, hr in pairs]))


def layer_groups(cfg: ModelConfig) -> dict[str, tuple[str, ...]]:
    """The layer groups whose bit widths mixed precision chooses (label -> ``--bits`` patterns): one role in
    every block (all blocks' first convs are one group), each weight and activation role on its own. The
    pixel quantizers, the input anchor and its fixed-scale detail quantizer are not in any group."""
    if cfg.arch == "espcn":
        return {name: (name,) for name in ("conv1", "act1", "conv2", "act2", "conv3")}
    if cfg.arch == "fsrcnn":
        maps = range(cfg.blocks)
        return {"extract": ("extract",), "extract_act": ("extract_act",), "shrink": ("shrink",),
                "shrink_act": ("shrink_act",), "mapping_conv": tuple(f"mapping.{2 * i}" for i in maps),
                "mapping_act": tuple(f"mapping.{2 * i + 1}" for i in maps), "expand": ("expand",),
                "expand_act": ("expand_act",), "subpixel": ("subpixel",)}
    if cfg.arch in ("edsr", "tiny", "srresnet"):
        stream = stream_link(cfg).points
        ups = _upsampler_links(cfg)
        return {"head": ("head",), "stream": stream, "body_conv1": ("body.*.conv1",), "body_act": ("body.*.act",),
                "body_conv2": ("body.*.conv2",), "body_end": ("body_end",),
                "up_conv": tuple(link.producer for link in ups), "up_act": tuple(link.point for link in ups),
                "tail": ("tail",)}
    raise FqsrError(f"mixed precision does not know the layer groups of {cfg.arch}")


def group_bits(groups: dict[str, tuple[str, ...]], widths: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """Per-layer overrides setting each group of ``widths`` (label -> bits) to its width."""
    return tuple((pattern, int(widths[label])) for label, patterns in groups.items() if label in widths
                 for pattern in patterns)


@torch.no_grad()
def integer_layers(cfg: ModelConfig, side: int = 4) -> list[dict]:
    """The integer layers of ``cfg``'s network, in the order they run on one ``side`` x ``side`` input: every
    conv (``mw`` = inputs per output, ``mh`` outputs, ``positions`` per LR input pixel, the widths of its input,
    weights and, when a quantizer reads its output directly, that quantizer's output as ``out_bits`` with
    ``steps`` thresholds) and every other activation quantizer call (``in_bits``, ``out_bits``, ``steps``,
    ``channels``). Widths are read off the QuantTensors, so adds and pixel shuffles are accounted for."""
    import brevitas.nn as qnn

    model = build_model(cfg).eval()
    layers, by_output, keep = [], {}, []

    def thresholds(module, output) -> dict:
        lo, hi = _levels_of(module)
        return {"out_bits": int(output.bit_width), "out_signed": bool(output.signed), "steps": hi - lo}

    def conv_hook(module, inputs, output, name):
        keep.append(output)  # the ids below stay unique while the tensors live
        x = inputs[0]
        entry = {"layer": name, "kind": "conv", "mw": module.in_channels * math.prod(module.kernel_size),
                 "mh": module.out_channels, "positions": output.value.shape[-2] * output.value.shape[-1] / side ** 2,
                 "in_bits": int(x.bit_width), "in_signed": bool(x.signed),
                 "w_bits": int(module.quant_weight().bit_width), "quant": None}
        layers.append(entry)
        by_output[id(output.value)] = entry

    def quant_hook(module, inputs, output, name):
        keep.append(output)
        x = inputs[0]
        conv = by_output.get(id(getattr(x, "value", x)))
        if conv is not None and conv["quant"] is None:
            conv.update(quant=name, **thresholds(module, output))
        elif getattr(x, "bit_width", None) is not None:  # not the network's input pixels (the host's)
            layers.append({"layer": name, "kind": "quant", "channels": output.value.shape[1],
                           "in_bits": int(x.bit_width), **thresholds(module, output)})

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, qnn.QuantConv2d):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: conv_hook(m, i, o, name)))
        elif isinstance(module, (qnn.QuantReLU, qnn.QuantIdentity)):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: quant_hook(m, i, o, name)))
    try:
        model(torch.rand(1, cfg.channels, side, side))
    finally:
        for handle in handles:
            handle.remove()
    return layers


WIDTH_KEYS = ("in_bits", "w_bits", "out_bits")


def width_dependence(cfg: ModelConfig, groups: dict[str, tuple[str, ...]]) -> tuple[list[dict], dict]:
    """How each integer layer's widths follow the groups' widths: the layers of ``cfg`` (its own widths), the
    width of each group there, and for every layer ``depends[key] = {group: slope}``, found by moving one
    group by one bit at a time (an add's output width follows its operands' by one, a conv's input width
    its producer's, a threshold count the quantizer's width). Returns (layers, group widths)."""
    reference = integer_layers(cfg)
    own = {label: _group_width(reference, label, patterns) for label, patterns in groups.items()}
    for layer in reference:
        layer["depends"] = {key: {} for key in WIDTH_KEYS if key in layer}
    for label, width in own.items():
        moved = width + 1 if width < 8 else width - 1
        shifted = integer_layers(cfg.replace(bits=cfg.bits + group_bits(groups, {label: moved})))
        for before, after in zip(reference, shifted):
            for key in before["depends"]:
                if after[key] != before[key]:
                    before["depends"][key][label] = (after[key] - before[key]) / (moved - width)
    return reference, own


def _group_width(layers: list[dict], label: str, patterns) -> int:
    """A group's width in ``layers``: its first conv's weight width, or its first quantizer's output width."""
    def matches(name):
        return name is not None and any(fnmatch.fnmatchcase(name, p) for p in patterns)

    for layer in layers:
        if layer["kind"] == "conv" and matches(layer["layer"]):
            return int(layer["w_bits"])
        if matches(layer["quant"] if layer["kind"] == "conv" else layer["layer"]):
            return int(layer["out_bits"])
    raise FqsrError(f"layer group {label} ({', '.join(patterns)}) matches no conv or quantizer")


def sensitivity_table(cfg: ModelConfig, twin: nn.Module, groups: dict[str, tuple[str, ...]], widths, own: dict,
                      pairs, settings: QuantizeSettings, progress=None) -> dict:
    """Each layer group's sensitivity: the mean Y PSNR on ``pairs`` ((name, lr, hr) triples) when only that
    group goes to each width of ``widths`` and the rest stays at ``cfg``'s (``own``: each group's width
    there), every variant quantized from ``twin`` by ``settings.method`` without training. Returns the
    reference PSNR and, per group, the PSNR and the drop (reference - PSNR; 0 at its own width) per width.
    ``progress(done, total, label)`` is called after each variant."""
    total = 1 + sum(1 for label in groups for width in widths if width != own[label])
    done = 0

    def score(variant: ModelConfig, label: str) -> float:
        nonlocal done
        model, _ = quantize(variant, twin, settings)
        value = mean_psnr_y(model, variant, pairs)
        done += 1
        if progress:
            progress(done, total, label)
        return value

    reference = score(cfg, "reference")
    rows = {}
    for label, patterns in groups.items():
        psnr = {int(width): (reference if width == own[label] else
                             score(cfg.replace(bits=cfg.bits + group_bits(groups, {label: width})), f"{label}={width}"))
                for width in widths}
        rows[label] = {"patterns": list(patterns), "own_bits": own[label], "psnr_y": psnr,
                       "drop_db": {width: reference - value for width, value in psnr.items()}}
    return {"model": cfg.name, "psnr_y": reference, "widths": [int(w) for w in widths], "groups": rows}


def sensitivity(cfg: ModelConfig, twin: nn.Module, groups: dict[str, tuple[str, ...]], low_bits: int, data: str,
                settings: QuantizeSettings) -> dict:
    """Each layer group's sensitivity to quantization: the PSNR drop on ``data`` when only that group
    (``groups``: label -> ``--bits`` patterns) goes to ``low_bits`` and the rest stays at ``cfg``'s widths,
    each variant quantized by ``settings.method`` without training. Returns the reference PSNR and the
    PSNR and drop per group (the measurement :func:`sensitivity_table` makes at every width)."""
    from .data import eval_pairs

    _, own = width_dependence(cfg, groups)
    pairs = eval_pairs(data, cfg.scale, channels=cfg.channels)
    table = sensitivity_table(cfg, twin, groups, (low_bits,), own, pairs, settings)
    rows = {label: {"patterns": row["patterns"], "psnr_y": row["psnr_y"][low_bits], "drop_db": row["drop_db"][low_bits]}
            for label, row in table["groups"].items()}
    return {"model": cfg.name, "low_bits": low_bits, "data": data, "psnr_y": table["psnr_y"], "groups": rows}
