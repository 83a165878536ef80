"""Training: float pre-training of the twin, then quantization-aware training from it.

L1 loss on random aligned patches with flips/rotations (EDSR's recipe, scaled
to what a CPU can do). Both stages save their state every ``save_every``
iterations, so an interrupted run resumes where it stopped.

QAT recipe (measured on espcn_w4a4, Set5 x2, 1500 iterations from the same
twin, benchmarks/psnr.md): the weights train at ``qat_lr`` = 1e-3 rather than
a fine-tuning rate (the largest gain: 30.8 -> 33.3 dB), the quantizers'
learned log2 ranges get their own rate ``scale_lr`` without weight decay (at
2e-4 a range moves less than one power of two in a whole run, so it stays
where calibration put it), and the loss adds L1 to the float twin's output
(``distill``; 33.0 -> 33.5 dB with the fast ranges).
"""
from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .calibrate import calibrate
from .checkpoint import load_weights, read_checkpoint, save_checkpoint
from .data import PatchSampler, list_images, shared_data_dir
from .errors import FqsrError
from .infer import as_tensor
from .registry import ModelConfig, build_model, file_stem, get_config


@dataclass
class TrainSettings:
    float_iters: int = 3000
    qat_iters: int = 3000
    batch: int = 16
    lr_patch: int = 24  # LR patch side; the HR patch is scale times larger
    float_lr: float = 5e-4
    qat_lr: float = 1e-3
    scale_lr: float = 1e-2  # learned log2 ranges of the quantizers (QAT only; no weight decay)
    distill: float = 1.0  # weight of L1 to the float twin's output during QAT (0: HR only)
    data: str | None = None  # a folder of images; None: SunHays80 if present, else embedded
    seed: int = 0
    save_every: int = 100
    # Float stage only: convs in bfloat16 under autocast (4.6x faster on a CPU with AMX, together with
    # channels-last; benchmarks/training.md); the anchor's add at the output stays float32.
    bf16: bool = False


def default_train_source() -> str:
    shared = shared_data_dir()
    if shared is not None and (shared / "SunHays80").is_dir():
        return str(shared / "SunHays80")
    return "embedded:train"


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def transfer_float_weights(quant_model, float_state: dict) -> None:
    """Start QAT from the float twin: same parameter names, plus quantizer state to learn.

    Only quantizer parameters may be missing (they initialise from activation
    statistics during the first training steps); anything else means the twin
    is not the same network.
    """
    result = quant_model.load_state_dict(float_state, strict=False)
    not_quantizer = [k for k in result.missing_keys if "_quant" not in k]
    if not_quantizer or result.unexpected_keys:
        raise FqsrError(
            f"float checkpoint does not match {quant_model.config.name}: "
            f"missing {not_quantizer[:3]}, unexpected {result.unexpected_keys[:3]}"
        )


def cosine_factor(step: int, iters: int, floor: float = 1 / 20) -> float:
    """Cosine decay of every group's learning rate from 1 to ``floor`` times its start."""
    t = min(step, iters) / max(iters, 1)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def is_range_parameter(name: str) -> bool:
    """Quantizer range parameters (Brevitas' learned scale, log2 domain for power-of-two scales)."""
    return "_quant" in name and "scaling_impl" in name


def param_groups(model, lr: float, scale_lr: float) -> list[dict]:
    """Weights and biases at ``lr``; quantizer ranges at ``scale_lr`` without weight decay."""
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if not is_range_parameter(n)], "lr": lr}]
    ranges = [p for n, p in named if is_range_parameter(n)]
    if ranges:
        groups.append({"params": ranges, "lr": scale_lr, "weight_decay": 0.0})
    return groups


@contextmanager
def float32_output_add(model):
    """Under autocast, keep the input anchor and the detail in float32, so the add that makes the
    output image is exact rather than rounded to bfloat16's 8 significant bits (half a gray level)."""
    hooks = [module.register_forward_hook(lambda _module, _inputs, output: output.float())
             for name, module in model.named_modules() if name in ("anchor", "detail_quant")]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def memory_format_for(model) -> torch.memory_format:
    """channels-last for float nets (1.19x faster on one CPU thread, 1.7x with bf16); Brevitas nets as they are."""
    return torch.contiguous_format if model.config.quantized else torch.channels_last


def batch_tensors(lr_batch: np.ndarray, hr_batch: np.ndarray, device, memory_format) -> tuple[torch.Tensor, ...]:
    """float32 NCHW numpy batches -> tensors on ``device`` in ``memory_format``."""
    return tuple(torch.from_numpy(a).to(device).contiguous(memory_format=memory_format) for a in (lr_batch, hr_batch))


def forward_loss(model, x, hr, bf16: bool = False, teacher=None, distill: float = 0.0) -> torch.Tensor:
    """L1 to ``hr`` (plus ``distill`` times L1 to the ``teacher``'s output), optionally under bf16 autocast."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16), \
            float32_output_add(model) if bf16 else nullcontext():
        sr = as_tensor(model(x)).float()
    loss = torch.nn.functional.l1_loss(sr, hr)
    if teacher is not None and distill:
        with torch.no_grad():
            target = as_tensor(teacher(x))
        loss = loss + distill * torch.nn.functional.l1_loss(sr, target)
    return loss


def fit(model, sampler, settings: TrainSettings, iters: int, lr: float, state_path: Path,
        device, stage: str, teacher=None) -> dict:
    """Train ``model`` for ``iters`` iterations, resuming from ``state_path`` if it exists.

    With a ``teacher`` (the float twin), the loss adds ``settings.distill`` times
    the L1 distance to the teacher's output.
    """
    bf16 = settings.bf16 and not model.config.quantized  # Brevitas' quantizers stay in float32
    memory_format = memory_format_for(model)
    model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.Adam(param_groups(model, lr, settings.scale_lr))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, iters))
    rng = np.random.default_rng(settings.seed)
    start, seconds = 0, 0.0
    if state_path.is_file():
        payload = read_checkpoint(state_path)
        load_weights(model, state_path)
        try:
            optimizer.load_state_dict(payload["optimizer"])
            schedule.load_state_dict(payload["schedule"])
        except (KeyError, ValueError):
            raise FqsrError(
                f"{state_path} was saved by a different training recipe and cannot resume; "
                f"delete it or train into another --out folder"
            ) from None
        rng.bit_generator.state = payload["rng"]
        start, seconds = payload["iteration"], payload["meta"]["seconds"]
        model.to(device).train()

    def save(iteration):
        meta = {"stage": stage, "iterations": iteration, "seconds": seconds, "device": str(device),
                "settings": dataclasses.asdict(settings)}
        extra = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                 "rng": rng.bit_generator.state, "iteration": iteration}
        save_checkpoint(state_path, model, meta, extra)
        return meta

    if teacher is not None:
        teacher.to(device).eval()
    bar = tqdm(range(start, iters), initial=start, total=iters, desc=f"{stage} {model.config.name}",
               unit="it", dynamic_ncols=True, mininterval=5.0)
    tick = time.monotonic()
    for iteration in bar:
        x, hr = batch_tensors(*sampler.sample(settings.batch, settings.lr_patch, rng), device, memory_format)
        loss = forward_loss(model, x, hr, bf16, teacher, settings.distill)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(l1=f"{loss.item() * 256:.2f}", refresh=False)
        if (iteration + 1) % settings.save_every == 0 or iteration + 1 == iters:
            now = time.monotonic()
            seconds, tick = seconds + now - tick, now
            save(iteration + 1)
    model.to(memory_format=torch.contiguous_format).eval()
    return save(iters)


def train(name: str | ModelConfig, settings: TrainSettings, out_dir: Path,
          float_checkpoint: Path | None = None, device: str | None = None,
          init_checkpoint: Path | None = None) -> dict:
    """Train ``name`` (and its float twin first, unless one is given or already trained).

    With ``init_checkpoint`` (a quantized checkpoint of the same model), QAT
    continues from it instead of from the twin: a second stage, typically at
    a lower ``qat_lr``. Its metadata keeps the earlier stage's under ``previous``.

    With ``--bits`` overrides, ``init_checkpoint`` may have other bit widths (its
    weights are re-quantized, :func:`load_weights`) and the files are named
    ``<name>-mp<hash>``. Writes ``<out_dir>/<twin>.pt`` and ``<out_dir>/<name>.pt`` (weights and
    metadata only) and ``*.state.pt`` files used to resume. Returns the paths.
    """
    cfg = name if isinstance(name, ModelConfig) else get_config(name)
    twin_cfg = get_config(cfg.twin_name).replace(
        features=cfg.features, blocks=cfg.blocks, shrink=cfg.shrink, channels=cfg.channels)
    out_dir = Path(out_dir)
    dev = pick_device(device)
    torch.manual_seed(settings.seed)
    source = settings.data or default_train_source()
    settings = dataclasses.replace(settings, data=source)  # the checkpoints record what they saw
    images = [img for _, img in list_images(source)]
    sampler = PatchSampler(images, cfg.scale, channels=cfg.channels)
    results = {"data": source, "device": str(dev)}

    twin = build_model(twin_cfg)
    twin_path = Path(float_checkpoint) if float_checkpoint else out_dir / f"{twin_cfg.name}.pt"
    if twin_path.is_file():
        load_weights(twin, twin_path)
    else:
        meta = fit(twin, sampler, settings, settings.float_iters, settings.float_lr,
                   out_dir / f"{twin_cfg.name}.state.pt", dev, "float")
        save_checkpoint(twin_path, twin.cpu(), meta)
    results["float_checkpoint"] = str(twin_path)
    if not cfg.quantized:
        return results

    model = build_model(cfg)
    stem = file_stem(cfg)  # a --bits variant gets its own files
    state_path = out_dir / f"{stem}.state.pt"
    previous = None  # the earlier stage's metadata, for a second stage
    if init_checkpoint and not state_path.is_file():
        previous = load_weights(model, init_checkpoint, requantize=True)  # other --bits: re-quantized
    elif init_checkpoint:  # resuming a second stage: the weights come from its state
        previous = read_checkpoint(init_checkpoint)["meta"]
    elif not state_path.is_file():
        transfer_float_weights(model, twin.state_dict())
        # Activation ranges start from data statistics, not from defaults.
        calibrate(model, [torch.from_numpy(sampler.sample(settings.batch, settings.lr_patch, rng)[0])
                          for rng in map(np.random.default_rng, range(8))])
    meta = fit(model, sampler, settings, settings.qat_iters, settings.qat_lr, state_path, dev, "qat",
               teacher=twin if settings.distill else None)
    meta["float_twin"] = twin_cfg.name
    if twin_path.is_file():  # the twin as it was then: a later campaign may replace the shipped one
        twin_meta = read_checkpoint(twin_path)["meta"]
        meta["twin"] = {key: twin_meta[key] for key in ("iterations", "seconds") if key in twin_meta}
    if previous is not None:
        meta["previous"] = previous
    results["checkpoint"] = str(save_checkpoint(out_dir / f"{stem}.pt", model.cpu(), meta))
    return results


def finetune(cfg: ModelConfig, twin_checkpoint: Path, init_checkpoint: Path, iters: int, out_dir: Path,
             data: str | None = None) -> dict:
    """QAT for ``iters`` iterations from a quantized checkpoint (``fqsr quantize --qat N``: DAQ's or the
    mixed-precision search's ranges and weights as the starting point), the twin as the float teacher.

    Returns :func:`train`'s paths plus ``iterations`` and ``seconds`` (wall time of the fine-tuning).
    """
    tick = time.monotonic()
    result = train(cfg, dataclasses.replace(TrainSettings(), qat_iters=iters, data=data), out_dir,
                   twin_checkpoint, None, init_checkpoint)
    return {**result, "iterations": iters, "seconds": round(time.monotonic() - tick, 1)}
