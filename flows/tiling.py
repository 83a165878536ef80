"""Whole images through a fixed-tile accelerator: the receptive-field halo and the tile plan.

The compiled hardware takes one LR tile of a fixed size. A larger image is cut
into overlapping tiles; each tile contributes only its *core*, the part whose
receptive field lies inside the tile (or reaches past the tile only where the
tile touches the image border). Every conv zero-pads its own input at the image
border, so a tile must sit inside the image: an edge tile starts exactly at the
edge (zero-padding the image instead would feed zeros where the network sees
its own per-layer padding). With the halo equal to the receptive field, the
stitched cores equal the whole-image network output exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from fqsr.models.errors import FqsrError

# op types that move pixels; everything else in a dataflow graph is per pixel (MVAU, Thresholding, FIFOs, ...)
_WINDOW_OPS = ("ConvolutionInputGenerator",)
_PAD_OPS = ("FMPadding",)
_SHUFFLE_OPS = ("PixelShuffle", "DepthToSpace")
_REFUSED_OPS = ("Pool", "Resize", "Upsample", "ConvTranspose", "Deconvolution", "Im2Col", "SpaceToDepth")


def _base(op_type: str) -> str:
    for suffix in ("_rtl", "_hls"):
        if op_type.endswith(suffix):
            return op_type[: -len(suffix)]
    return op_type


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _back(node, out: list[list[int]], model) -> list[list[int]]:
    """The input offset interval [[lo_h, hi_h], [lo_w, hi_w]] that an output offset interval ``out`` reads."""
    op, a = _base(node.op_type), _attrs(node)
    if op in _WINDOW_OPS or op == "Conv":
        if op == "Conv":
            kernel = list(a.get("kernel_shape") or model.get_tensor_shape(node.input[1])[2:])
            dilation, stride = list(a.get("dilations", [1, 1])), list(a.get("strides", [1, 1]))
            pads = list(a.get("pads", [0, 0, 0, 0]))
        else:
            kernel, dilation, stride = list(a["ConvKernelDim"]), list(a.get("Dilation", [1, 1])), list(a["Stride"])
            pads = [0, 0, 0, 0]  # FINN pads in a separate FMPadding node
        if any(s != 1 for s in stride):
            raise FqsrError(f"node {node.name} has stride {stride}; tiling supports stride-1 windows only")
        # output pixel x reads input x - pad_begin .. x - pad_begin + dilation * (kernel - 1)
        return [[lo - pads[i], hi - pads[i] + dilation[i] * (kernel[i] - 1)] for i, (lo, hi) in enumerate(out)]
    if op in _PAD_OPS:
        pads = list(a["Padding"])  # [top, left, bottom, right]
        return [[lo - pads[i], hi - pads[i]] for i, (lo, hi) in enumerate(out)]
    if op in _SHUFFLE_OPS:
        r = int(a["Upscale"] if "Upscale" in a else a["blocksize"])
        # HR pixel r*X + j reads HR offsets lo..hi: LR floor(lo / r) .. ceil(hi / r) around X
        return [[math.floor(lo / r), math.ceil(hi / r)] for lo, hi in out]
    return out


def _model(dataflow):
    if isinstance(dataflow, (str, Path)):
        from fqsr.flows.export import load_qonnx

        path = Path(dataflow)
        if not path.is_file():
            raise FqsrError(f"{path} does not exist; run `fqsr compile MODEL` first")
        return load_qonnx(path)
    return dataflow


def receptive_halo(dataflow) -> int:
    """LR pixels of context each side that one output pixel needs, from the graph's windows.

    ``dataflow``: a qonnx ``ModelWrapper`` or a path (``dataflow.onnx``, or a QONNX
    export with ``Conv``/``DepthToSpace``). Walks the graph backwards from the output:
    each sliding window widens the offset interval by its (dilated) kernel, FMPadding
    shifts it, and a pixel shuffle by ``r`` maps HR offsets to LR ones
    (``ceil(radius / r)``). Ops that change the spatial size otherwise are refused.
    """
    model = _model(dataflow)
    nodes = list(model.graph.node)
    need: dict[str, list[list[int]]] = {o.name: [[0, 0], [0, 0]] for o in model.graph.output}
    for node in reversed(nodes):
        outs = [need[t] for t in node.output if t in need]
        if not outs:
            continue
        out = [[min(o[i][0] for o in outs), max(o[i][1] for o in outs)] for i in range(2)]
        if any(k in node.op_type for k in _REFUSED_OPS):
            raise FqsrError(f"node {node.name} ({node.op_type}) resamples the image in a way the tiler does not "
                            "model; tiling is not supported for this graph")
        back = _back(node, out, model)
        for t in node.input:
            if model.get_initializer(t) is not None:
                continue
            prev = need.get(t)
            need[t] = back if prev is None else [[min(p[0], b[0]), max(p[1], b[1])] for p, b in zip(prev, back)]
    src = model.graph.input[0].name
    if src not in need:
        raise FqsrError("the graph output does not depend on its input; cannot compute a receptive field")
    return int(max(max(-lo, hi, 0) for lo, hi in need[src]))


@dataclass(frozen=True)
class Tile:
    """One LR tile of an image: its input window and the core it contributes (image coordinates, end-exclusive)."""
    y: int  # input origin (top-left) in the LR image
    x: int
    h: int  # tile size (the compiled input shape)
    w: int
    core_y0: int  # the core region of the LR image this tile's output provides
    core_y1: int
    core_x0: int
    core_x1: int

    def input_slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def core_slices(self, scale: int = 1) -> tuple[slice, slice]:
        """The core in image coordinates at output scale ``scale``."""
        return (slice(self.core_y0 * scale, self.core_y1 * scale), slice(self.core_x0 * scale, self.core_x1 * scale))

    def core_in_tile(self, scale: int = 1) -> tuple[slice, slice]:
        """The core in the tile's own output coordinates at output scale ``scale``."""
        return (slice((self.core_y0 - self.y) * scale, (self.core_y1 - self.y) * scale),
                slice((self.core_x0 - self.x) * scale, (self.core_x1 - self.x) * scale))


def _axis(size: int, tile: int, halo: int, name: str) -> list[tuple[int, int, int]]:
    """(origin, core start, core end) per tile along one axis."""
    if size < tile:
        raise FqsrError(f"the image {name} {size} is smaller than the compiled tile {name} {tile}; "
                        "compile a smaller tile (`fqsr export --tile`) or use larger images")
    core = tile - 2 * halo
    if size == tile:
        return [(0, 0, size)]
    if core < 1:
        raise FqsrError(f"the tile {name} {tile} leaves no core with a halo of {halo} pixels each side; "
                        f"compile a tile larger than {2 * halo}")
    count = 1 + math.ceil((size - tile) / core)
    out = []
    for k in range(count):
        origin = min(k * core, size - tile)
        start = 0 if k == 0 else k * core + halo
        end = size if k == count - 1 else (k + 1) * core + halo
        out.append((origin, start, end))
    return out


def plan_tiles(h: int, w: int, tile_h: int, tile_w: int, halo: int) -> list[Tile]:
    """Tiles (row-major) whose cores cover every pixel of an ``h`` x ``w`` LR image exactly once.

    Tiles lie inside the image (edge tiles start exactly at the edge). Inner core
    borders are at least ``halo`` pixels from their tile's edge; at the image border
    the core reaches the border. Raises :class:`FqsrError` for an image smaller than a
    tile or a tile without a core.
    """
    if halo < 0:
        raise FqsrError(f"the halo must be >= 0, got {halo}")
    if min(h, w, tile_h, tile_w) < 1:
        raise FqsrError(f"image {h}x{w} and tile {tile_h}x{tile_w} must be positive")
    rows, cols = _axis(h, tile_h, halo, "height"), _axis(w, tile_w, halo, "width")
    return [Tile(y, x, tile_h, tile_w, y0, y1, x0, x1) for y, y0, y1 in rows for x, x0, x1 in cols]


def tiles_per_image(h: int, w: int, tile_h: int, tile_w: int, halo: int) -> int:
    """How many tiles :func:`plan_tiles` cuts an ``h`` x ``w`` LR image into."""
    return len(plan_tiles(h, w, tile_h, tile_w, halo))


def cut(image, tiles: list[Tile]):
    """The tiles' input windows of an ``[N, C, H, W]`` (or ``[C, H, W]``) LR array, stacked on axis 0."""
    import numpy as np

    return np.stack([image[..., ys, xs] for ys, xs in (t.input_slices() for t in tiles)])


def assemble(tiles: list[Tile], outputs, h: int, w: int, scale: int):
    """Each tile's core of its ``[..., C, tile_h*s, tile_w*s]`` output, pasted into one ``[..., C, h*s, w*s]`` image."""
    import numpy as np

    outputs = np.asarray(outputs)
    if len(outputs) != len(tiles):
        raise FqsrError(f"{len(outputs)} output tiles for {len(tiles)} planned tiles")
    image = np.zeros((*outputs.shape[1:-2], h * scale, w * scale), dtype=outputs.dtype)
    for tile, out in zip(tiles, outputs):
        (ys, xs), (ty, tx) = tile.core_slices(scale), tile.core_in_tile(scale)
        image[..., ys, xs] = out[..., ty, tx]
    return image
