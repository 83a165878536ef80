"""Checkpoints: saving, loading with clear errors, and the shipped ones.

A checkpoint is a torch file holding ``{"format": "fqsr-1", "config": ...,
"state_dict": ..., "meta": ...}``. The config travels with the weights so a
checkpoint trained for one model is never silently loaded into another.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .errors import FqsrError
from .files import SHIPPED_DIR, atomic_path
from .registry import ModelConfig, build_model, get_config

FORMAT = "fqsr-1"


def shipped_checkpoint(name: str) -> Path:
    return SHIPPED_DIR / f"{name}.pt"


def atomic_save(obj, path: Path) -> Path:
    """torch.save through a temporary file, so a crash never leaves a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_checkpoint(path, model, meta=None, extra=None) -> Path:
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "meta": dict(meta or {}),
    }
    payload.update(extra or {})
    return atomic_save(payload, path)


def read_checkpoint(path) -> dict:
    """Load a checkpoint file; anything unreadable is one clear FqsrError."""
    path = Path(path)
    if not path.is_file():
        raise FqsrError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise FqsrError(f"checkpoint {path} is corrupt or not a torch file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FqsrError(f"checkpoint {path} is not an fqsr checkpoint (no '{FORMAT}' format tag)")
    return payload


def _same_network(a: ModelConfig, b: ModelConfig) -> bool:
    """Configs are compatible when everything but the name matches."""
    return a.replace(name="") == b.replace(name="")


def load_weights(model, path) -> dict:
    """Load a checkpoint into ``model``; a checkpoint of another model is refused. Returns its meta."""
    payload = read_checkpoint(path)
    saved = ModelConfig.from_dict(payload["config"])
    if not _same_network(saved, model.config):
        raise FqsrError(
            f"checkpoint {path} was trained for {saved.name}, not {model.config.name}; "
            f"pass the matching checkpoint or model name"
        )
    try:
        result = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as exc:  # shape mismatches
        detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise FqsrError(f"checkpoint {path} does not fit {model.config.name}: {detail}") from None
    if result.missing_keys or result.unexpected_keys:
        keys = result.missing_keys or result.unexpected_keys
        raise FqsrError(
            f"checkpoint {path} does not fit {model.config.name}: {len(result.missing_keys)} "
            f"tensors missing and {len(result.unexpected_keys)} unexpected (e.g. {keys[0]})"
        )
    return payload.get("meta", {})


def load_model(name_or_cfg, checkpoint=None, require_trained=False, calibrate_untrained=False):
    """Build a model and load its checkpoint (given, else the shipped one if present).

    Returns ``(model, meta)`` with the model in eval mode; ``meta`` is ``{}``
    for an untrained model (only allowed when ``require_trained`` is false),
    whose activation ranges are calibrated on the embedded photographs when
    ``calibrate_untrained`` is set (untrained weights, real integer ranges).
    """
    cfg = name_or_cfg if isinstance(name_or_cfg, ModelConfig) else get_config(name_or_cfg)
    model = build_model(cfg)
    path = Path(checkpoint) if checkpoint else shipped_checkpoint(cfg.name)
    meta = {}
    if checkpoint or path.is_file():
        meta = load_weights(model, path)
        meta["checkpoint"] = str(path)
    elif require_trained:
        raise FqsrError(
            f"no checkpoint for {cfg.name}: train one with 'fqsr train {cfg.name}' "
            f"or pass --checkpoint FILE"
        )
    model.eval()
    if not meta and calibrate_untrained:
        from .calibrate import calibrate, image_batches

        calibrate(model, image_batches(cfg))
    return model, meta


def _quant_convs(model):
    import brevitas.nn as qnn

    return {name: m for name, m in model.named_modules() if isinstance(m, qnn.QuantConv2d)}


def compact_state_dict(model) -> tuple[dict, str]:
    """A smaller state dict for shipping, and how it was made.

    Quantized nets: each conv weight k*s (k integer, s its power-of-two
    scale) is stored as (k + sign(k)*7/16)*s in float16, which is exact. The
    nudge keeps the per-channel maximum inside the same power-of-two bracket
    (scales round log2(max) to the nearest integer; k_max >= 2**(b-1)/sqrt(2)
    - 7/16 for every width b), so reloading derives the same scale and rounds
    back to the same k. Every layer is checked after reloading; one that does not give back
    the very same integers and scales keeps its float32 weights.
    Float twins: every float tensor in float16 (a reference, not bit-exact).
    """
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if not model.config.quantized:
        return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, "float16"
    originals = _quant_convs(model)
    candidate = dict(state)
    for name, conv in originals.items():
        weight = conv.quant_weight()
        ints = weight.int().float()
        nudged = (ints + 0.4375 * torch.sign(ints)) * weight.scale.detach()
        if torch.equal(nudged.half().float(), nudged):
            candidate[f"{name}.weight"] = nudged.half()
    reloaded = build_model(model.config)
    reloaded.load_state_dict(candidate)
    reloaded.eval()
    for name, conv in _quant_convs(reloaded).items():
        got, want = conv.quant_weight(), originals[name].quant_weight()
        if not (torch.equal(got.int(), want.int()) and torch.equal(got.scale, want.scale)):
            candidate[f"{name}.weight"] = state[f"{name}.weight"]
    return candidate, "quantized conv weights as exact float16 values"


def ship_checkpoint(src, dst=None) -> Path:
    """Copy a trained checkpoint into ``models/checkpoints/`` in compact form (meta kept)."""
    payload = read_checkpoint(src)
    cfg = ModelConfig.from_dict(payload["config"])
    model = build_model(cfg)
    load_weights(model, src)
    model.eval()
    state, how = compact_state_dict(model)
    meta = {k: v for k, v in payload["meta"].items() if k != "checkpoint"}
    meta["stored_as"] = how
    dst = Path(dst or shipped_checkpoint(cfg.name))
    return atomic_save({"format": FORMAT, "config": cfg.to_dict(), "state_dict": state, "meta": meta}, dst)
