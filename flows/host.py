"""The accelerator's host interface: one object, built from ``dataflow.onnx``, that hw, sim and the board link share.

It knows the two streams of ``fqsr_top`` (bits, lanes, sign of each beat
element), the host's layout permutations (``fqsr_host_layout``, set by the
compile), the tile or frame the hardware is compiled for, and FINN's beat
packing: element 0 of a beat in the least significant bits, each element
``bits`` wide in two's complement, a beat zero-padded to whole bytes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDENTITY = (0, 1, 2, 3)


def padded_width(bits: int, lanes: int) -> int:
    return (bits * lanes + 7) // 8 * 8


def pack_beats(values, bits: int, lanes: int) -> list[int]:
    """Integers (any shape, innermost axis folded into ``lanes``) -> one int per beat, element 0 in the LSBs."""
    flat = np.asarray(values).astype(np.int64).reshape(-1, lanes)
    mask = (1 << bits) - 1
    if bits * lanes <= 64:  # whole images of beats: numpy, not a Python loop per element
        words = np.zeros(len(flat), dtype=np.uint64)
        for lane in range(lanes):
            words |= (flat[:, lane].astype(np.uint64) & np.uint64(mask)) << np.uint64(lane * bits)
        return words.tolist()
    beats = []
    for row in flat:
        word = 0
        for lane, v in enumerate(row.tolist()):
            word |= (int(v) & mask) << (lane * bits)
        beats.append(word)
    return beats


def unpack_beats(beats, bits: int, lanes: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_beats`: (beats, lanes) array of integers."""
    mask = (1 << bits) - 1
    if bits * lanes <= 64:
        words = np.asarray(beats, dtype=np.uint64).reshape(-1)  # a padded beat of <= 64 bits
        out = np.stack([((words >> np.uint64(lane * bits)) & np.uint64(mask)).astype(np.int64)
                        for lane in range(lanes)], axis=1) if len(words) else np.zeros((0, lanes), np.int64)
        if signed:
            out[out >> (bits - 1) > 0] -= 1 << bits
        return out
    out = np.zeros((len(beats), lanes), dtype=np.int64)
    for i, word in enumerate(beats):
        for lane in range(lanes):
            v = (int(word) >> (lane * bits)) & mask
            if signed and v >> (bits - 1):
                v -= 1 << bits
            out[i, lane] = v
    return out


def host_layout(model) -> dict:
    """The compile's record of how host tiles map to the dataflow's tensors (``input_perm``, ``output_perm``)."""
    from .finn.hardware import HOST_LAYOUT_KEY

    return json.loads(model.get_metadata_prop(HOST_LAYOUT_KEY) or "{}")


def stream_format(model):
    """(input bits, input lanes, output bits, output lanes, output signed) of the top's two streams."""
    from qonnx.custom_op.registry import getCustomOp

    from . import finn  # noqa: F401 (registers fqsr's custom ops)

    src, dst = model.graph.input[0].name, model.graph.output[0].name
    consumer, producer = model.find_consumer(src), model.find_producer(dst)
    in_index = [n for n in consumer.input if model.get_initializer(n) is None].index(src)
    in_lanes = getCustomOp(consumer).get_folded_input_shape(in_index)[-1]
    out_lanes = getCustomOp(producer).get_folded_output_shape(list(producer.output).index(dst))[-1]
    in_dt, out_dt = model.get_tensor_datatype(src), model.get_tensor_datatype(dst)
    return in_dt.bitwidth(), in_lanes, out_dt.bitwidth(), out_lanes, bool(out_dt.min() < 0)


@dataclass(frozen=True)
class HostInterface:
    in_bits: int
    in_lanes: int
    out_bits: int
    out_lanes: int
    out_signed: bool
    input_perm: tuple  # NCHW host tile -> dataflow input (x.transpose(input_perm))
    output_perm: tuple  # dataflow output -> NCHW
    in_shape: tuple  # dataflow input shape (batch 1)
    out_shape: tuple  # dataflow output shape (batch 1)
    cycles_per_frame: int | None = None  # FINN's estimate of the slowest node, when the compile wrote it

    @classmethod
    def from_model(cls, model, cycles_per_frame: int | None = None) -> "HostInterface":
        in_bits, in_lanes, out_bits, out_lanes, signed = stream_format(model)
        layout = host_layout(model)
        return cls(in_bits, in_lanes, out_bits, out_lanes, signed,
                   tuple(layout.get("input_perm", IDENTITY)), tuple(layout.get("output_perm", IDENTITY)),
                   tuple(model.get_tensor_shape(model.graph.input[0].name)),
                   tuple(model.get_tensor_shape(model.graph.output[0].name)), cycles_per_frame)

    @classmethod
    def load(cls, model_dir) -> "HostInterface":
        """From ``<model_dir>/dataflow.onnx`` (its provenance checked) and ``estimates.json``."""
        from .artifacts import DATAFLOW_NAME, ESTIMATES_NAME, require_current
        from .export import load_qonnx

        model_dir = Path(model_dir)
        require_current(model_dir, DATAFLOW_NAME, "fqsr compile MODEL")
        estimates = model_dir / ESTIMATES_NAME
        cycles = json.loads(estimates.read_text()).get("cycles_per_frame") if estimates.is_file() else None
        return cls.from_model(load_qonnx(model_dir / DATAFLOW_NAME), cycles)

    @property
    def in_bytes(self) -> int:
        return padded_width(self.in_bits, self.in_lanes) // 8

    @property
    def out_bytes(self) -> int:
        return padded_width(self.out_bits, self.out_lanes) // 8

    @property
    def tile_shape(self) -> tuple:
        """(C, H, W) of one host input tile."""
        nchw = [0] * 4
        for axis, source in enumerate(self.input_perm):  # in_shape[axis] = nchw[input_perm[axis]]
            nchw[source] = self.in_shape[axis]
        return tuple(nchw[1:])

    @property
    def output_tile_shape(self) -> tuple:
        return tuple(self.out_shape[p] for p in self.output_perm)[1:]

    def beats_in_per_tile(self) -> int:
        return math.prod(self.in_shape) // self.in_lanes

    def beats_out_per_tile(self) -> int:
        return math.prod(self.out_shape) // self.out_lanes

    def bytes_out_per_tile(self) -> int:
        return self.beats_out_per_tile() * self.out_bytes

    def input_beats(self, tiles) -> list[int]:
        """Host tiles ``[N, C, H, W]`` (integers) -> the input stream's beats, in stream order."""
        return [b for tile in np.asarray(tiles) for b in
                pack_beats(tile[None].transpose(self.input_perm), self.in_bits, self.in_lanes)]

    def frame_shapes(self, rows: int, cols: int) -> tuple:
        """The dataflow (input, output) shapes of one frame of ``rows`` x ``cols`` LR pixels: the compiled
        shapes with the spatial sizes replaced (hardware with runtime frame geometry)."""
        channels, tile_h, tile_w = self.tile_shape
        out_c, out_h, out_w = self.output_tile_shape
        scale = out_h // tile_h
        in_nchw, out_nchw = (1, channels, rows, cols), (1, out_c, rows * scale, cols * scale)
        return (tuple(in_nchw[source] for source in self.input_perm),
                tuple(out_nchw[list(self.output_perm).index(axis)] for axis in range(4)))

    def beats_out_per_frame(self, rows: int, cols: int) -> int:
        return math.prod(self.frame_shapes(rows, cols)[1]) // self.out_lanes

    def output_frame(self, beats, rows: int, cols: int) -> np.ndarray:
        """The output stream's beats of one ``rows`` x ``cols`` frame -> integers ``[C, rows*s, cols*s]``."""
        values = unpack_beats(beats, self.out_bits, self.out_lanes, self.out_signed)
        return values.reshape(self.frame_shapes(rows, cols)[1]).transpose(self.output_perm)[0]

    def output_tiles(self, beats, n: int) -> np.ndarray:
        """The output stream's beats of ``n`` tiles -> integer tiles ``[n, C, H*s, W*s]``."""
        values = unpack_beats(beats, self.out_bits, self.out_lanes, self.out_signed)
        return values.reshape((n, *self.out_shape[1:])).transpose(self.output_perm)
