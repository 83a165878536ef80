"""Stage 1 -> 2: Brevitas model -> ``build/<model>/model.qonnx.onnx``, proven equal.

The exported graph is executed with QONNX on random tiles and on a tile of a
real photograph, and its integer output must equal the Brevitas
``QuantTensor`` integer output element for element; otherwise no ONNX file is
left behind.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from fqsr.models.data import list_images, make_pair, to_model, y_uint8
from fqsr.models.errors import FqsrError
from fqsr.models.infer import integer_output

from .artifacts import atomic_path, model_dir, write_json
from .equality import compare, merge, to_integers

ONNX_NAME = "model.qonnx.onnx"


def parse_tile(text: str) -> tuple[int, int]:
    """``'32x24'`` -> (32, 24): LR pixels, height x width."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise FqsrError(f"tile '{text}' must look like HxW, e.g. 32x32") from None
    if h < 1 or w < 1:
        raise FqsrError(f"tile '{text}' must have positive height and width")
    return h, w


def equality_tiles(channels: int, tile: tuple[int, int], random_tiles: int, seed: int = 0) -> list[tuple[str, torch.Tensor]]:
    """Random 8-bit tiles plus one LR tile of a real photograph, as model inputs (k/256)."""
    rng = np.random.default_rng(seed)
    h, w = tile
    tiles = [
        (f"random{i}", torch.from_numpy(rng.integers(0, 256, (1, channels, h, w)).astype(np.float32) / 256))
        for i in range(random_tiles)
    ]
    name, photo = list_images("embedded:eval")[0]
    lr, _ = make_pair(photo, 2)
    if channels == 1:
        lr = y_uint8(lr)
    top, left = (lr.shape[0] - h) // 2, (lr.shape[1] - w) // 2
    tiles.append((f"{name}-tile", to_model(lr[top:top + h, left:left + w])))
    return tiles


def load_qonnx(path: Path):
    """Load an ONNX file as a QONNX ModelWrapper; anything unreadable is one clear error."""
    from qonnx.core.modelwrapper import ModelWrapper

    try:
        return ModelWrapper(str(path))
    except Exception as exc:
        raise FqsrError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from None


def run_qonnx(wrapper, x: np.ndarray) -> np.ndarray:
    from qonnx.core.onnx_exec import execute_onnx

    outputs = execute_onnx(wrapper, {wrapper.graph.input[0].name: x})
    return outputs[wrapper.graph.output[0].name]


def check_qonnx(model, wrapper, tiles) -> dict:
    """Brevitas integer output vs QONNX execution, per tile; exact equality only."""
    reports = []
    for name, x in tiles:
        expected, scale = integer_output(model, x)
        got = to_integers(run_qonnx(wrapper, x.numpy()), scale, f"QONNX output on {name}")
        reports.append(compare(expected, got, stage=f"brevitas->qonnx[{name}]"))
    return merge(reports)


def input_channels(model) -> int:
    """Image channels a model takes: its config's, else the ``in_channels`` of its first conv."""
    cfg = getattr(model, "config", None)
    if cfg is not None:
        return cfg.channels
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            return module.in_channels
    raise FqsrError(f"{type(model).__name__} has no Conv2d; pass channels= to say how many image channels it takes")


def export_qonnx_model(model, tile: tuple[int, int], out_path: Path, channels: int | None = None) -> None:
    """Brevitas ``export_qonnx`` + QONNX cleanup to ``out_path`` (static shape 1xCxHxW)."""
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup_model

    example = torch.zeros(1, channels or input_channels(model), *tile)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with torch.no_grad():
        export_qonnx(model, input_t=example, export_path=str(out_path), dynamo=False)
    cleanup_model(load_qonnx(out_path)).save(str(out_path))


def export(model, tile=(32, 32), random_tiles=2, out_dir: Path | None = None, meta=None,
           channels: int | None = None, name: str | None = None) -> dict:
    """Export a loaded model (eval mode) and prove the export; returns the JSON report.

    ``model`` is a zoo model (it carries ``config``) or any Brevitas ``nn.Module`` whose
    output is a ``QuantTensor``; for the latter ``out_dir`` is required, ``channels``
    defaults to its first conv's input channels and ``name`` to its class name."""
    cfg = getattr(model, "config", None)
    if cfg is not None and not cfg.quantized:
        raise FqsrError(f"{cfg.name} is a float twin; only quantized models go to hardware")
    if cfg is None and out_dir is None:
        raise FqsrError("a model without an fqsr config needs an output folder (out_dir)")
    channels = channels or input_channels(model)
    name = name or (cfg.name if cfg is not None else type(model).__name__)
    model.eval()
    out_dir = Path(out_dir or model_dir(cfg))
    onnx_path = out_dir / ONNX_NAME
    timings = {}
    start = time.monotonic()
    tiles = equality_tiles(channels, tile, random_tiles)
    with torch.no_grad():
        probe = model(tiles[0][1])
    if not hasattr(probe, "scale"):
        raise FqsrError(f"{name}'s output is a plain tensor, not a Brevitas QuantTensor; end the network in a "
                        "quantizer (e.g. brevitas.nn.QuantIdentity(return_quant_tensor=True))")
    with atomic_path(onnx_path) as tmp:
        export_qonnx_model(model, tile, tmp, channels)
        timings["export_s"] = round(time.monotonic() - start, 3)
        wrapper = load_qonnx(tmp)
        start = time.monotonic()
        verdict = check_qonnx(model, wrapper, tiles)
        timings["check_s"] = round(time.monotonic() - start, 3)
        report = {
            "model": name,
            "onnx": str(onnx_path),
            "tile": list(tile),
            "untrained": not (meta or {}).get("checkpoint"),
            **({"requantized": meta["requantized"]} if "requantized" in (meta or {}) else {}),
            **verdict,
            "timing": timings,
            "config": cfg.to_dict() if cfg is not None else None,
        }
        if not verdict["equal"]:
            onnx_path.unlink(missing_ok=True)
            write_json(out_dir / "export.json", {**report, "onnx": None})
            failure = verdict["first_failure"]
            raise FqsrError(
                f"QONNX output differs from Brevitas in {verdict['mismatches']} of "
                f"{verdict['elements']} elements (first at {failure['stage']} "
                f"{failure['layer']} index {failure['first_mismatch']['index']}); no ONNX written"
            )
    write_json(out_dir / "export.json", report)
    return report
