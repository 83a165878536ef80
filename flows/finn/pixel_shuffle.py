"""Pixel shuffle (DepthToSpace, PyTorch's CRD order) as a streaming FINN hardware op.

FINN has no such layer: decomposed into Reshape/Transpose it becomes FINN's
``Shuffle`` -> ``OuterShuffle_hls`` (HLS only) + ``InnerShuffle_rtl`` (does not
compile under Verilator), and the deconvolution rewrite costs r**2 more MACs.
The operation itself is cheap in a stream: an NHWC input row of ``W`` pixels
with ``C*r*r`` channels holds exactly ``r`` NHWC output rows of ``W*r``
pixels with ``C`` channels, so one double-buffered input row (written in
input order, read in output order) is all the state it needs.

Stream orders (``PE`` elements per beat on both sides, ``PE`` divides ``C``)::

    in : for h, w, k in (H, W, C*r*r):       x[h, w, k]
    out: for h, i, w, j, c in (H, r, W, r, C): x[h, w, c*r*r + i*r + j]
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp

from .integer_graph import NCHW_TO_NHWC, NHWC_TO_NCHW

DOMAIN = "finn.custom_op.fpgadataflow"
# BRAM18 aspect ratios (width bits, depth) as on 7-series / UltraScale+.
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
LUTRAM_DEPTH = 64  # shallower buffers go to distributed RAM, as FINN's FIFOs do


def pixel_shuffle_nhwc(x: np.ndarray, r: int) -> np.ndarray:
    """NHWC (N, H, W, C*r*r) -> (N, H*r, W*r, C), the integer permutation the hardware streams."""
    n, h, w, crr = x.shape
    c = crr // (r * r)
    return x.reshape(n, h, w, c, r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c)


class PixelShuffle(HWCustomOp):
    """Streaming pixel shuffle; folding attribute ``PE`` (elements per beat)."""

    def get_nodeattr_types(self):
        attrs = super().get_nodeattr_types()
        attrs.update({
            "NumChannels": ("i", True, 0),  # output channels C
            "Upscale": ("i", True, 0),  # r
            "ImgDim": ("ints", True, []),  # input [H, W]
            "PE": ("i", False, 1),
            "dataType": ("s", True, ""),
        })
        return attrs

    # shapes ------------------------------------------------------------
    def _dims(self):
        h, w = self.get_nodeattr("ImgDim")
        return h, w, self.get_nodeattr("NumChannels"), self.get_nodeattr("Upscale")

    def get_normal_input_shape(self, ind=0):
        h, w, c, r = self._dims()
        return (1, h, w, c * r * r)

    def get_normal_output_shape(self, ind=0):
        h, w, c, r = self._dims()
        return (1, h * r, w * r, c)

    def get_folded_input_shape(self, ind=0):
        h, w, c, r = self._dims()
        pe = self.get_nodeattr("PE")
        return (1, h, w, c * r * r // pe, pe)

    def get_folded_output_shape(self, ind=0):
        h, w, c, r = self._dims()
        pe = self.get_nodeattr("PE")
        return (1, h * r, w * r, c // pe, pe)

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("dataType")]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("dataType")]

    def get_instream_width(self, ind=0):
        return self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()

    def get_outstream_width(self, ind=0):
        return self.get_instream_width()

    def get_number_output_values(self):
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op(self.get_normal_output_shape())

    def infer_node_datatype(self, model):
        dt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("dataType", dt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], dt)

    def verify_node(self):
        h, w, c, r = self._dims()
        pe = self.get_nodeattr("PE")
        problems = []
        if r < 2:
            problems.append(f"Upscale must be >= 2, is {r}")
        if c % pe:
            problems.append(f"PE={pe} must divide NumChannels={c}")
        return problems

    # behaviour ---------------------------------------------------------
    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        context[node.output[0]] = pixel_shuffle_nhwc(x, self.get_nodeattr("Upscale")).astype(np.float32)

    # estimates ---------------------------------------------------------
    def row_buffer(self):
        """(width bits, depth) of the double-buffered input row."""
        h, w, c, r = self._dims()
        pe = self.get_nodeattr("PE")
        return pe * self.get_input_datatype().bitwidth(), 2 * w * c * r * r // pe

    def get_exp_cycles(self):
        """One beat per PE elements, plus filling the first input row before output starts."""
        h, w, c, r = self._dims()
        pe = self.get_nodeattr("PE")
        return (h + 1) * w * c * r * r // pe

    def bram_estimation(self, fpgapart=None):
        width, depth = self.row_buffer()
        if depth <= LUTRAM_DEPTH:
            return 0
        return min(math.ceil(width / wb) * math.ceil(depth / db) for wb, db in BRAM18_SHAPES)

    def bram_efficiency_estimation(self, fpgapart=None):
        width, depth = self.row_buffer()
        brams = self.bram_estimation(fpgapart)
        return 1 if brams == 0 else width * depth / (brams * 18 * 1024)

    def lut_estimation(self, fpgapart=None):
        """Write/read address counters and the read-side address permutation, plus LUTRAM if shallow."""
        width, depth = self.row_buffer()
        address_bits = max(1, math.ceil(math.log2(depth)))
        luts = 6 * address_bits + 2 * width + 40
        if depth <= LUTRAM_DEPTH:
            luts += width * math.ceil(depth / LUTRAM_DEPTH)
        return luts

    def get_op_and_param_counts(self):
        return {}


class PixelShuffle_rtl(PixelShuffle):  # noqa: N801 (FINN's <op>_<impl> naming)
    """The specialized variant; its RTL comes from fqsr's ``hw/`` generator, not from FINN."""

    def get_nodeattr_types(self):
        attrs = super().get_nodeattr_types()
        attrs["gen_top_module"] = ("s", False, "")
        return attrs


class InferPixelShuffle(Transformation):
    """Transpose(NHWC->NCHW) -> DepthToSpace(CRD) -> Transpose(NCHW->NHWC) becomes one PixelShuffle.

    Leaves DepthToSpace in DCR mode, or without the NHWC transposes around it,
    alone (the end-of-flow check then names it).
    """

    def apply(self, model):
        graph = model.graph
        for d2s in list(graph.node):
            if d2s.op_type != "DepthToSpace":
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in d2s.attribute}
            before = model.find_producer(d2s.input[0])
            after = model.find_consumers(d2s.output[0])
            if (attrs.get("mode") not in (b"CRD", "CRD") or before is None or len(after) != 1
                    or not _is_transpose(before, NHWC_TO_NCHW) or not _is_transpose(after[0], NCHW_TO_NHWC)
                    or len(model.find_consumers(before.output[0])) != 1):
                continue
            after = after[0]
            r = int(attrs["blocksize"])
            _, h, w, crr = model.get_tensor_shape(before.input[0])
            node = helper.make_node(
                "PixelShuffle", [before.input[0]], [after.output[0]], domain=DOMAIN,
                backend="fpgadataflow", name=f"PixelShuffle_{d2s.name}", NumChannels=crr // (r * r),
                Upscale=r, ImgDim=[h, w], PE=1,
                dataType=model.get_tensor_datatype(before.input[0]).name,
            )
            graph.node.insert(list(graph.node).index(before), node)
            for old in (before, d2s, after):
                graph.node.remove(old)
            return model, True
        return model, False


def _is_transpose(node, perm) -> bool:
    if node.op_type != "Transpose":
        return False
    return [int(p) for p in helper.get_attribute_value(node.attribute[0])] == perm


class FoldPixelShuffle(Transformation):
    """Smallest PE (dividing C) that meets ``target_cycles``; FINN's SetFolding skips ops it does not know."""

    def __init__(self, target_cycles: int):
        super().__init__()
        self.target_cycles = target_cycles

    def apply(self, model):
        from qonnx.custom_op.registry import getCustomOp

        for node in model.graph.node:
            if node.op_type.startswith("PixelShuffle"):
                inst = getCustomOp(node)
                c = inst.get_nodeattr("NumChannels")
                for pe in [d for d in range(1, c + 1) if c % d == 0]:
                    inst.set_nodeattr("PE", pe)
                    if inst.get_exp_cycles() <= self.target_cycles:
                        break
        return model, False
