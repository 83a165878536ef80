"""Stage 1 -> 2: Brevitas model -> ``build/<model>/model.qonnx.onnx``, proven equal.

The exported graph is executed with QONNX on random tiles and on a tile of a
real photograph, and its integer output must equal the Brevitas
``QuantTensor`` integer output element for element; otherwise no ONNX file is
left behind.

Three kinds of model come in: a zoo model (it carries an fqsr ``config``), any
Brevitas module whose output is a ``QuantTensor`` (a user's model, made by a
factory named ``path/to/file.py:factory`` or ``package.module:factory``,
:class:`UserModel`), and a QONNX file made elsewhere (:func:`import_qonnx`).
``export.json`` records which, so that every later stage can address the
folder whatever the model's name.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fqsr.models.data import list_images, make_pair, to_model, y_uint8
from fqsr.models.errors import FqsrError
from fqsr.models.infer import integer_output

from .artifacts import (NETWORK_NAME, ONNX_NAME, atomic_path, content_hash, forget, model_dir, record,
                        why_stale, write_json)
from .equality import compare, grid_integers, merge



def _two_sizes(text: str, what: str, form: str, positive: str) -> tuple[int, int]:
    """``'AxB'`` -> (A, B), both positive; anything else is one sentence naming ``what`` and its ``form``."""
    try:
        a, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise FqsrError(f"{what} '{text}' must look like {form}") from None
    if a < 1 or b < 1:
        raise FqsrError(f"{what} '{text}' must have positive {positive}")
    return a, b


def parse_tile(text: str) -> tuple[int, int]:
    """``'32x24'`` -> (32, 24): LR pixels, height x width."""
    return _two_sizes(text, "tile", "HxW, e.g. 32x32", "height and width")


def parse_frame(text: str) -> tuple[int, int]:
    """``'640x360'`` -> (360, 640): a whole LR frame given as video sizes are, width x height, returned as the
    (height, width) tile it is compiled as. A frame is a tile the size of the whole image: no halo, no pixel
    computed twice, line buffers as wide as the frame."""
    w, h = _two_sizes(text, "frame", "WxH (LR width x height), e.g. 640x360", "width and height")
    return h, w


def geometry(tile: str | None, frame: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) compiled for: ``--tile HxW`` or ``--frame WxH`` (not both), else ``default``."""
    if tile and frame:
        raise FqsrError(f"give either --tile ({tile}, HxW) or --frame ({frame}, WxH), not both")
    if frame:
        return parse_frame(frame)
    return parse_tile(tile) if tile else tuple(default)


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
    if lr.shape[0] < h or lr.shape[1] < w:  # a frame larger than the photograph: mirror it out to the frame
        grow = [(0, max(0, h - lr.shape[0])), (0, max(0, w - lr.shape[1]))] + [(0, 0)] * (lr.ndim - 2)
        lr = np.pad(lr, grow, mode="symmetric")
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


_SANITIZE = "SANITIZE_QUANT_TENSORS"  # read by qonnx.util.basic.get_sanitize_quant_tensors


def execute(wrapper, inputs: dict, full: bool = False) -> dict:
    """QONNX's ``execute_onnx`` without its rounding of integer-annotated tensors.

    By default QONNX rounds every integer-annotated tensor after each node and measures the rounding
    with Python's builtin ``max`` element by element: 6.9 s of the 11.0 s that the compile check of
    tiny_w4a4_mp at 48x48 took (profiled), growing with the tile. fqsr compares integers exactly and
    refuses values off their grid itself (:mod:`fqsr.flows.equality`), so the rounding is off here: a
    node whose output leaves its grid is reported as a mismatch instead of being repaired silently.
    """
    from qonnx.core.onnx_exec import execute_onnx

    saved = os.environ.get(_SANITIZE)
    os.environ[_SANITIZE] = "0"
    try:
        return execute_onnx(wrapper, inputs, return_full_exec_context=full)
    finally:
        if saved is None:
            os.environ.pop(_SANITIZE, None)
        else:
            os.environ[_SANITIZE] = saved


def run_qonnx(wrapper, x: np.ndarray) -> np.ndarray:
    outputs = execute(wrapper, {wrapper.graph.input[0].name: x})
    return outputs[wrapper.graph.output[0].name]


def check_qonnx(model, wrapper, tiles) -> dict:
    """Brevitas integer output vs QONNX execution, per tile; exact equality only."""
    reports = []
    for name, x in tiles:
        expected, scale = integer_output(model, x)
        got = grid_integers(run_qonnx(wrapper, x.numpy()), scale, f"QONNX output on {name}")
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


@dataclass(frozen=True)
class UserModel:
    """A user's Brevitas model, named by its factory: ``path/to/file.py:factory`` or ``package.module:factory``.

    The factory takes no arguments and returns the ``nn.Module`` (its weights loaded)."""

    spec: str

    @property
    def source(self) -> str:
        return self.spec.rpartition(":")[0]

    @property
    def factory(self) -> str:
        return self.spec.rpartition(":")[2]

    @property
    def is_file(self) -> bool:
        return self.source.endswith(".py") or "/" in self.source or "\\" in self.source

    @classmethod
    def parse(cls, spec: str) -> "UserModel":
        source, _, factory = spec.rpartition(":")
        if not source or not factory.isidentifier():
            raise FqsrError(f"--module '{spec}' must look like path/to/file.py:factory or package.module:factory")
        if source.endswith(".py") or "/" in source:
            path = Path(source)
            if not path.is_file():
                raise FqsrError(f"--module '{spec}': {path} is not a file")
            return cls(f"{path.resolve()}:{factory}")
        return cls(spec)

    def _import(self):
        try:
            if self.is_file:
                path = Path(self.source)
                name = f"fqsr_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
            return importlib.import_module(self.source)
        except FqsrError:
            raise
        except Exception as exc:  # the user's code: any failure is one sentence, not a traceback
            raise FqsrError(f"importing {self.source} failed: {type(exc).__name__}: {exc}") from None

    def load(self) -> torch.nn.Module:
        """Import the source, call the factory; one sentence for anything that goes wrong."""
        factory = getattr(self._import(), self.factory, None)
        if not callable(factory):
            raise FqsrError(f"{self.source} has no callable {self.factory}; --module names a function or class "
                            f"that returns the network")
        try:
            net = factory()
        except Exception as exc:
            raise FqsrError(f"{self.spec}() failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(net, torch.nn.Module):
            raise FqsrError(f"{self.spec}() returned {type(net).__name__}, not a torch.nn.Module")
        return net.eval()

    def record(self) -> dict:
        """What export.json stores: enough to load the model again and to see that its source changed."""
        record = {"module": self.spec, "factory": self.factory}
        if self.is_file:
            record["sha256"] = content_hash(Path(self.source))
        return record


def source_changed(user: dict) -> bool:
    """The user model's source file differs from the one its export was made from (or is gone)."""
    if not user.get("module") or not user.get("sha256"):
        return False
    path = Path(UserModel(user["module"]).source)
    return not path.is_file() or content_hash(path) != user["sha256"]


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
           channels: int | None = None, name: str | None = None, source: UserModel | None = None,
           scale: int | None = None) -> dict:
    """Export a loaded model (eval mode) and prove the export; returns the JSON report.

    ``model`` is a zoo model (it carries ``config``) or any Brevitas ``nn.Module`` whose
    output is a ``QuantTensor``; for the latter ``out_dir`` is required, ``channels``
    defaults to its first conv's input channels and ``name`` to its class name, and
    export.json's ``user_model`` records it (with ``source``, its factory, when given).
    ``scale``: the upscaling factor the model must have (checked against its output)."""
    cfg = getattr(model, "config", None)
    if cfg is not None and not cfg.quantized:
        raise FqsrError(f"{cfg.name} is a float twin; only quantized models go to hardware")
    if cfg is None and out_dir is None:
        raise FqsrError("a model without an fqsr config needs an output folder (out_dir)")
    channels = channels or input_channels(model)
    if channels not in (1, 3):
        raise FqsrError(f"the model takes {channels} input channels; fqsr streams Y (1) or RGB (3) images")
    name = name or (cfg.name if cfg is not None else type(model).__name__)
    model.eval()
    out_dir = Path(out_dir or model_dir(cfg))
    onnx_path = out_dir / ONNX_NAME
    timings = {}
    start = time.monotonic()
    tiles = equality_tiles(channels, tile, random_tiles)
    forget(out_dir, ONNX_NAME, "export.json", NETWORK_NAME)
    with torch.no_grad():
        probe = model(tiles[0][1])
    if not hasattr(probe, "scale"):
        raise FqsrError(f"{name}'s output is a plain tensor, not a Brevitas QuantTensor; end the network in a "
                        "quantizer (e.g. brevitas.nn.QuantIdentity(return_quant_tensor=True))")
    user = None
    if cfg is None:
        user = user_record(name, probe, channels, tile, source, scale)
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
        if user is not None:
            report["user_model"] = user
        if not verdict["equal"]:
            onnx_path.unlink(missing_ok=True)
            write_json(out_dir / "export.json", {**report, "onnx": None})
            failure = verdict["first_failure"]
            raise FqsrError(
                f"QONNX output differs from Brevitas in {verdict['mismatches']} of "
                f"{verdict['elements']} elements (first at {failure['stage']} "
                f"{failure['layer']} index {failure['first_mismatch']['index']}); no ONNX written"
            )
    record(out_dir, ONNX_NAME, settings={"model": name, "tile": list(tile), "checkpoint": (meta or {}).get("checkpoint")})
    if cfg is not None:  # the network as exported, whatever a later load would draw or pick (a user's factory
        from fqsr.models.checkpoint import save_checkpoint  # returns its model with its weights: no copy kept)

        save_checkpoint(out_dir / NETWORK_NAME, model, meta)
        record(out_dir, NETWORK_NAME, inputs=[ONNX_NAME])
    else:
        (out_dir / NETWORK_NAME).unlink(missing_ok=True)
    write_json(out_dir / "export.json", report)
    record(out_dir, "export.json", inputs=[ONNX_NAME])
    return report


def exported_network(folder: Path):
    """The zoo network ``folder`` was exported from (eval mode), exactly as exported: its configuration and its
    weights, untrained or re-quantized ones included; None for a user's model or a folder without a current copy."""
    if why_stale(folder, NETWORK_NAME):
        return None
    from fqsr.models.checkpoint import load_model, read_checkpoint
    from fqsr.models.registry import ModelConfig

    path = Path(folder) / NETWORK_NAME
    return load_model(ModelConfig.from_dict(read_checkpoint(path)["config"]), path)[0]


def user_record(name: str, probe, channels: int, tile, source: UserModel | None, scale: int | None) -> dict:
    """The identity of a user's model in export.json; its output must be an image ``scale`` times the tile."""
    shape = tuple(probe.value.shape if hasattr(probe, "value") else probe.shape)
    h, w = tile
    measured = shape[2] // h if len(shape) == 4 else 0
    if len(shape) != 4 or shape[2] != measured * h or shape[3] != measured * w or measured < 1:
        raise FqsrError(f"{name} maps a {channels}x{h}x{w} tile to shape {list(shape[1:])}, not to an image "
                        f"an integer factor larger")
    if scale is not None and measured != scale:
        raise FqsrError(f"{name} upscales x{measured}, not x{scale} as --scale says")
    record = {"name": name, "channels": channels, "out_channels": int(shape[1]), "scale": measured}
    return {**record, **(source.record() if source is not None else {"module": None})}


def import_qonnx(path, out_dir: Path) -> dict:
    """A QONNX file made elsewhere -> ``out_dir/model.qonnx.onnx`` (QONNX cleanup) and its identity in export.json.

    There is no Brevitas model to prove it against: the compile proves FINN's execution equal to
    QONNX's execution of this graph."""
    from qonnx.util.cleanup import cleanup_model

    path = Path(path)
    if not path.is_file():
        raise FqsrError(f"{path} does not exist")
    out_dir = Path(out_dir)
    wrapper = load_qonnx(path)
    inputs = [i for i in wrapper.graph.input if wrapper.get_initializer(i.name) is None]
    if len(inputs) != 1:  # the first output is the image, as in Brevitas' own exports
        raise FqsrError(f"{path} has {len(inputs)} run-time inputs; fqsr compiles one image in, one image out")
    try:
        wrapper = cleanup_model(wrapper)
    except Exception as exc:
        raise FqsrError(f"QONNX cannot clean up {path} ({type(exc).__name__}: {exc})") from None
    shape = wrapper.get_tensor_shape(wrapper.graph.input[0].name)
    out_shape = wrapper.get_tensor_shape(wrapper.graph.output[0].name)
    if not shape or len(shape) != 4 or shape[0] != 1 or not out_shape or len(out_shape) != 4:
        raise FqsrError(f"{path} takes shape {shape} to {out_shape}; fqsr compiles a static 1xCxHxW image "
                        f"to a 1xCx(sH)x(sW) one (export with a fixed input shape)")
    scale = out_shape[2] // shape[2]
    if scale < 1 or out_shape[2] != scale * shape[2] or out_shape[3] != scale * shape[3]:
        raise FqsrError(f"{path} maps {shape} to {out_shape}, not to an image an integer factor larger")
    onnx_path = out_dir / ONNX_NAME
    forget(out_dir, ONNX_NAME, "export.json", NETWORK_NAME)
    with atomic_path(onnx_path) as tmp:
        wrapper.save(str(tmp))
    record(out_dir, ONNX_NAME, inputs=[str(path.resolve())], settings={"source": str(path.resolve())})
    report = {
        "model": path.stem.split(".")[0], "onnx": str(onnx_path), "tile": list(shape[2:]),
        "untrained": None, "equal": None, "reference": "none (a QONNX file made elsewhere)",
        "config": None,
        "user_model": {"name": path.stem.split(".")[0], "channels": shape[1], "out_channels": out_shape[1],
                       "scale": scale, "module": None, "onnx_source": str(path.resolve()),
                       "sha256": content_hash(path)},
    }
    write_json(out_dir / "export.json", report)
    record(out_dir, "export.json", inputs=[ONNX_NAME])
    return report


def exported_identity(folder: Path) -> dict | None:
    """The ``export.json`` of ``folder`` (None when absent or unreadable)."""
    try:
        return json.loads((Path(folder) / "export.json").read_text())
    except (OSError, ValueError):
        return None
