"""Make a folded dataflow graph stitchable: width converters and residual FIFOs, FINN's nodes.

The RTL stage instantiates one module per node and wires each tensor as one
AXI stream, so every producer/consumer pair must agree on the stream word
(FINN's ``InsertDWC`` adds a ``StreamingDataWidthConverter`` where the PE of
the two sides differs -- both operands of an ``ElementwiseAdd`` and all
outputs of a ``DuplicateStreams`` share their node's PE, so mixed PE around a
residual add is fine after this) and every residual skip must buffer enough
not to deadlock (:class:`SizeResidualFifos`, then FINN's ``InsertFIFO``).
"""
from __future__ import annotations

import math
from fractions import Fraction

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

FIFO_MARGIN_PIXELS = 1  # on top of the summed per-node upper bounds
DERIVED_OPS = ("StreamingDataWidthConverter", "StreamingFIFO")  # regenerated from the folding, never folded


def is_derived(node) -> bool:
    return node.op_type.startswith(DERIVED_OPS)


def held_pixels(node) -> int:
    """Upper bound of the input pixels ``node`` can hold before its output catches up.

    A sliding-window generator holds what it needs before its first window,
    FINN's ``get_buffer_depth()`` beats of ``IFMChannels/SIMD`` beats per pixel
    ((K-1) padded rows + K pixels); an MVAU holds the input vector it replays
    for every PE fold plus the one being read; our pixel shuffle holds its
    double-buffered input row; every other node (thresholds, adds, forks,
    padding, width converters) at most one pixel. FIFOs are not counted: they
    need not be full for data to pass.
    """
    op = node.op_type
    if op.startswith("StreamingFIFO"):
        return 0
    inst = getCustomOp(node)
    if op.startswith("ConvolutionInputGenerator"):
        beats_per_pixel = inst.get_nodeattr("IFMChannels") // inst.get_nodeattr("SIMD")
        if hasattr(inst, "get_buffer_depth"):
            return math.ceil(inst.get_buffer_depth() / beats_per_pixel) + 1
        (kh, kw), (_, w) = inst.get_nodeattr("ConvKernelDim"), inst.get_nodeattr("IFMDim")
        return (kh - 1) * w + kw + 1
    if op.startswith("MVAU"):
        return 2
    if op.startswith("PixelShuffle"):
        width, depth = inst.row_buffer()
        h, w, c, r = inst._dims()
        return math.ceil(depth / (c * r * r // inst.get_nodeattr("PE")))
    return 1


class SizeResidualFifos(Transformation):
    """Set ``inFIFODepths`` on the skip input of every ``ElementwiseAdd`` (FINN's InsertFIFO reads it).

    Rule: an add consumes one beat of each operand at a time, and the fork
    feeding both branches emits to both at once. Until the long (conv)
    branch produces its first beat, everything the fork emitted waits on the
    short (skip) branch; if that does not fit, the fork stalls, the conv
    branch starves and the pipeline deadlocks. So the skip FIFO holds

        depth = (L(long operand) - L(fork output) + 1 pixel) * C / PE beats,

    where ``L`` is the longest path from the graph input summing
    :func:`held_pixels` (the line buffers of every sliding-window generator
    on the conv branch dominate: (K-1) padded rows + K pixels per KxK conv,
    2*(W+2)+4 for a 3x3), and ``C/PE`` the beats per pixel of the FIFO's
    stream (the add's PE on that input). ``L`` is summed in pixels of the
    graph input: behind a pixel shuffle of factor r a node's pixels count
    1/r**2 each, and the add reads the lag back in its own pixels, so a skip
    that forks at LR and adds at HR (EDSR's input anchor) holds r**2 times the
    pixels the LR part of the long branch held. The same depth keeps the add at the
    branch's rate: in the steady state the long branch holds about ``L`` pixels
    in flight, and a shallower skip FIFO makes the fork wait for the add. So it
    is not capped at a frame, though a frame always avoids the deadlock: on
    small tiles a conv's line buffer spans most of a frame, and the skip around
    a deep body holds many frames (measured by ``fqsr verify``: full-size EDSR,
    16 blocks on a 4x4 tile, ran at 14.7x the slowest node's cycles with its
    global skip capped at two frames). FINN sizes FIFOs by rtlsim, which needs
    Vivado. Adds whose short operand does not lead back to a
    ``DuplicateStreams`` through single-input nodes get ``L`` from the graph
    input.
    """

    def apply(self, model):
        source = model.graph.input[0].name
        lag = {source: Fraction(0)}  # in graph-input pixels
        density = {source: 1}  # a tensor's pixels per graph-input pixel: r*r behind each pixel shuffle
        for node in model.graph.node:  # FINN keeps dataflow graphs topologically sorted
            start = max(lag.get(i, Fraction(0)) for i in node.input if model.get_initializer(i) is None)
            dense = density.get(node.input[0], 1)
            for out in node.output:
                lag[out] = start + Fraction(held_pixels(node), dense)
                density[out] = dense * getCustomOp(node).get_nodeattr("Upscale") ** 2 \
                    if node.op_type.startswith("PixelShuffle") else dense
            if node.op_type.startswith("ElementwiseAdd"):
                self.size(model, node, lag, density)
        return model, False

    @staticmethod
    def size(model, add, lag, density):
        short = min(range(2), key=lambda i: lag[add.input[i]])
        long_lag = lag[add.input[1 - short]]
        fork = _fork_behind(model, add.input[short])
        _, h, w, c = model.get_tensor_shape(add.input[short])
        inst = getCustomOp(add)
        held = (long_lag - (0 if fork is None else lag[fork])) * density[add.input[short]]
        pixels = math.ceil(held) + FIFO_MARGIN_PIXELS
        beats_per_pixel = math.prod(inst.get_folded_input_shape(short)[1:-1]) // (h * w)
        depths = list(inst.get_nodeattr("inFIFODepths")) + [2] * 2
        depths[short] = max(2, pixels * beats_per_pixel)
        inst.set_nodeattr("inFIFODepths", depths[:2])


def _fork_behind(model, tensor):
    """The DuplicateStreams output ``tensor`` comes from through single-input nodes, or None."""
    while True:
        producer = model.find_producer(tensor)
        if producer is None:
            return None
        if producer.op_type.startswith("DuplicateStreams"):
            return tensor
        inputs = [i for i in producer.input if model.get_initializer(i) is None]
        if len(inputs) != 1:
            return None
        tensor = inputs[0]


def stitchable(model, fpgapart: str):
    """InsertDWC, residual FIFO sizing, InsertFIFO, then SpecializeLayers for the new nodes (RTL variants)."""
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    for step in (InsertDWC(), SizeResidualFifos(), InsertFIFO(create_shallow_fifos=False),
                 SpecializeLayers(fpgapart), GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):
        model = model.transform(step)
    check_stream_widths(model)
    return model


def check_stream_widths(model) -> None:
    """Every edge between two HW nodes carries one stream word size on both ends (what the RTL wires)."""
    from fqsr.models.errors import FqsrError

    for node in model.graph.node:
        for j, tensor in enumerate(node.input):
            producer = model.find_producer(tensor)
            if producer is None or model.get_initializer(tensor) is not None:
                continue
            out_index = list(producer.output).index(tensor)
            width_out = getCustomOp(producer).get_outstream_width(out_index)
            width_in = getCustomOp(node).get_instream_width(j)
            if width_out != width_in:
                raise FqsrError(f"stream {tensor}: {producer.name} writes {width_out}-bit words but "
                                f"{node.name} reads {width_in}-bit words")
