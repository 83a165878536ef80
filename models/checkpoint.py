"""Checkpoints: saving, loading with clear errors, and the shipped ones.

A checkpoint is a torch file holding ``{"format": "fqsr-1", "config": ...,
"state_dict": ..., "meta": ...}``. The config travels with the weights so a
checkpoint trained for one model is never silently loaded into another.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .errors import FqsrError
from .files import SHIPPED_DIR, atomic_path, short_path
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


# Module-path components that name a tensor inside a layer rather than the layer itself.
_TENSOR_PARTS = {"weight", "bias", "act_quant", "weight_quant", "bias_quant", "input_quant", "output_quant",
                 "running_mean", "running_var", "num_batches_tracked"}


def _layer_of(key: str) -> str:
    """``body.3.conv1.weight`` -> ``body.3.conv1``: the layer a state-dict entry belongs to."""
    parts = key.split(".")
    cut = next((i for i, part in enumerate(parts) if part in _TENSOR_PARTS and i > 0), len(parts))
    return ".".join(parts[:cut])


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint file; anything unusable is one clear FqsrError.

    Checked here, before any weight is used: the format tag, the keys fqsr
    writes (``config``, ``state_dict``), a config fqsr can build, tensors only,
    and finite values in every tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise FqsrError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise FqsrError(f"checkpoint {path} is corrupt or not a torch file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FqsrError(f"checkpoint {path} is not an fqsr checkpoint (no '{FORMAT}' format tag)")
    missing = [key for key in ("config", "state_dict") if not isinstance(payload.get(key), dict)]
    if missing:
        raise FqsrError(f"checkpoint {path} is not a complete fqsr checkpoint: it has no {' or '.join(missing)}; "
                        f"save checkpoints with fqsr (fqsr train)")
    try:
        ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise FqsrError(f"checkpoint {path} has a config fqsr cannot read ({exc})") from None
    for key, value in payload["state_dict"].items():
        if not isinstance(value, torch.Tensor):
            raise FqsrError(f"checkpoint {path} holds a {type(value).__name__} at {key}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise FqsrError(f"checkpoint {path} has non-finite values in layer {_layer_of(key)} ({key}); "
                            f"it cannot be used")
    payload.setdefault("meta", {})
    return payload


def _same_network(a: ModelConfig, b: ModelConfig) -> bool:
    """Configs are compatible when everything but the name matches."""
    return a.replace(name="") == b.replace(name="")


def _differences(saved: ModelConfig, wanted: ModelConfig) -> str:
    """``features=8, blocks=2``: the saved config's values where it differs from the wanted one (its bit
    overrides only when nothing else differs, since those alone can be re-quantized)."""
    fields = [field.name for field in dataclasses.fields(saved)
              if field.name != "name" and getattr(saved, field.name) != getattr(wanted, field.name)]
    shown = [name for name in fields if name != "bits"] or fields
    return ", ".join(f"{name}={bits_spec(saved.bits) if name == 'bits' else getattr(saved, name)}" for name in shown)


def bits_spec(bits) -> str:
    """Per-layer overrides as ``--bits`` takes them: ``head=8,body.*.conv1=3`` (``none`` when empty)."""
    return ",".join(f"{pattern}={width}" for pattern, width in bits) or "none"


def _requantized_state(payload: dict, saved: ModelConfig) -> dict:
    """The checkpoint's weights for other bit widths: its float weights and learned ranges.

    A compact (shipped) checkpoint stores each quantized conv weight nudged by
    7/16 of a step (see :func:`compact_state_dict`); on a finer grid that nudge
    would become a bias, so those weights are taken as the values the saved
    config quantized them to.
    """
    state = dict(payload["state_dict"])
    if not any(tensor.dtype == torch.float16 for tensor in state.values()):
        return state
    model = build_model(saved)
    model.load_state_dict(state, strict=False)
    model.eval()
    for name, conv in _quant_convs(model).items():
        if state[f"{name}.weight"].dtype == torch.float16:
            state[f"{name}.weight"] = conv.quant_weight().value.detach().clone()
    return state


def _load_checked(model, state: dict, path) -> None:
    """Load ``state`` into ``model``: every tensor with the model's shape, none missing or extra; one sentence if not.

    Brevitas creates a learned range only once it has seen data (or on loading
    it), so the key check is the one ``load_state_dict`` does, not ours.
    """
    own = model.state_dict()
    name = model.config.name
    for key, tensor in state.items():
        if key in own and tuple(tensor.shape) != tuple(own[key].shape):
            raise FqsrError(f"checkpoint {path} does not fit {name}: {key} has shape {tuple(tensor.shape)}, "
                            f"the model's is {tuple(own[key].shape)}")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape Brevitas checks itself
        detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise FqsrError(f"checkpoint {path} does not fit {name}: {detail}") from None
    if result.missing_keys or result.unexpected_keys:
        keys = result.missing_keys or result.unexpected_keys
        raise FqsrError(f"checkpoint {path} does not fit {name}: {len(result.missing_keys)} tensors missing and "
                        f"{len(result.unexpected_keys)} unexpected (e.g. {keys[0]})")


def load_weights(model, path, requantize: bool = False) -> dict:
    """Load a checkpoint into ``model``; a checkpoint of another model is refused. Returns its meta.

    With ``requantize``, a checkpoint of the same network with other per-layer
    bit widths (``--bits``) is accepted: its float weights and learned ranges
    are quantized at ``model``'s widths, and ``meta["requantized"]`` says so.
    """
    payload = read_checkpoint(path)
    saved = ModelConfig.from_dict(payload["config"])
    target = model.config
    meta = dict(payload["meta"])
    state = payload["state_dict"]
    if not _same_network(saved, target):
        if not (requantize and _same_network(saved.replace(bits=target.bits), target)):
            named = saved.name if saved.name != target.name else f"{saved.name} ({_differences(saved, target)})"
            raise FqsrError(
                f"checkpoint {path} was trained for {named}, not {target.name}; "
                f"pass the matching checkpoint or model name"
            )
        state = _requantized_state(payload, saved)
        to_bits = bits_spec(target.bits)
        own = get_config(target.name).bits  # what the name itself sets (_mp); --bits adds to it
        given = bits_spec(target.bits[len(own):] if target.bits[:len(own)] == own else target.bits)
        meta["requantized"] = {
            "checkpoint": str(path), "from_bits": bits_spec(saved.bits), "to_bits": to_bits,
            "note": f"re-quantized {saved.name}'s weights to {to_bits}; no QAT (run `fqsr train {target.name} "
                    f"--bits '{given}' --init {short_path(path)}` for it)"}
    _load_checked(model, state, path)
    return meta


def load_model(name_or_cfg, checkpoint=None, require_trained=False, calibrate_untrained=False):
    """Build a model and load its checkpoint (given, else the shipped one if present).

    A checkpoint of the same network with other per-layer bit widths is
    re-quantized to ``name_or_cfg``'s (see :func:`load_weights`), with no QAT.
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
        meta = load_weights(model, path, requantize=True)
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
