"""QONNX export -> FINN's integer NHWC graph (Im2Col, MatMul, MultiThreshold, Add, pixel shuffle).

Why not FINN's ``ConvertQONNXtoFINN`` + streamlining: its Quant->MultiThreshold
conversion rounds ties up where Brevitas rounds them to even (716 of 1024
outputs differed on a tiny net), and streamlining residual nets either leaves
float MatMuls behind a forked scale Mul or loops forever around
DepthToSpace. Every tensor of an fqsr export is the output of a ``Quant``
with a known scale, so the integer graph can be written down directly: the
integer of every quantizer output is kept, each conv becomes an integer
Im2Col + MatMul, and everything between an accumulator (or a residual sum)
and the next quantizer -- scale, bias, ReLU, batch norm, rounding, clipping --
becomes one MultiThreshold whose thresholds are searched on the exact
rounding function (see :mod:`.thresholds`). The result is what FINN's own
``InferConvInpGen``, ``InferQuantizedMatrixVectorActivation``,
``InferThresholdingLayer``, ``InferElementwiseBinaryOperation`` and
``InferDuplicateStreamsLayer`` turn into hardware.

Every tensor that corresponds to a quantizer output keeps the QONNX tensor's
name, so a mismatch can be traced to the first quantizer whose integers differ.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import qonnx.core.data_layout as DataLayout
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import qonnx_make_model

from fqsr.models.errors import FqsrError

from .thresholds import QuantSpec, check_monotone, search_thresholds

PIXEL_SCALE = 2.0 ** -8  # the hardware's input byte k is the model input k * 2**-8
LAYER_MAP_KEY = "fqsr_layers"  # metadata: [[dataflow tensor, qonnx tensor, scale or per-channel scales], ...]
OUTPUT_SCALE_KEY = "fqsr_output_scale"  # metadata: the scale of the output integers
INEXACT_KEY = "fqsr_float_requantizers"  # metadata: requantizers whose float32 reference arithmetic may round
MAPPED = "Conv, BatchNormalization, Relu, residual Add, DepthToSpace, constant Mul/Add/Sub/Div and Quant"
NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_TO_NCHW = [0, 3, 1, 2]


@dataclass
class IntTensor:
    """An integer NHWC tensor of the new graph and what its integers mean.

    ``real(v) = ops(v * scale + offset)`` per channel; a quantizer output has
    no ops and zero offset, an accumulator carries its bias and any float ops
    (ReLU, batch norm) until the next quantizer turns them into thresholds.
    """

    name: str
    lo: np.ndarray
    hi: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    ops: list = field(default_factory=list)
    weight: str | None = None  # the MatMul weights producing it (for sign flips)

    @property
    def quantized(self) -> bool:
        return not self.ops and not np.any(self.offset)

    def real(self, v, ch):
        x = v * self.scale[ch] + self.offset[ch]
        for op in self.ops:
            x = op(x, ch)
        return x


def is_power_of_two(values) -> bool:
    """Every value is +-2**k: float32 products with it are exact."""
    values = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    return bool(np.all(values > 0)) and bool(np.all(np.log2(values) == np.round(np.log2(values))))


def on_grid(values, step, limit=2 ** 24) -> bool:
    """Every value is an integer multiple of ``step`` (per channel) small enough for float32 to add exactly."""
    q = np.asarray(values, dtype=np.float64) / np.asarray(step, dtype=np.float64)
    return bool(np.all(q == np.round(q))) and bool(np.all(np.abs(q) < limit))


def int_datatype(lo: int, hi: int) -> DataType:
    """Smallest FINN integer type holding [lo, hi]."""
    if lo >= 0:
        return DataType[f"UINT{max(1, int(hi).bit_length())}"]
    bits = max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1
    return DataType[f"INT{bits}"]


class QonnxToIntegerDataflow(Transformation):
    """Rewrite a whole fqsr QONNX export into FINN's integer NHWC form (see module docstring).

    The graph input carries the pixel integers ``k`` (the model sees ``k * 2**-8``);
    an input Quant other than that exact pixel quantizer (any bits, sign or
    scale), and a Relu on the input, become one more requantization. Conv with
    Quant'ed weights (per-tensor or per-channel, any scale) and a quantized or
    float bias; Relu / BatchNormalization / constant Mul/Add before a Quant
    (per-tensor or per-channel scale); integer residual Add of two equal-scale
    quantizer outputs; DepthToSpace (CRD, any block size) after a quantizer;
    the graph output is any quantizer's output with one scale. Anything else
    is one FqsrError naming the node, why, and what to change in the model.
    """

    def apply(self, model: ModelWrapper):
        return _Lowering(model).run(), False


class _Lowering:
    def __init__(self, src: ModelWrapper):
        self.src = src
        graph = helper.make_graph([], "fqsr_dataflow", [], [])
        self.dst = ModelWrapper(qonnx_make_model(graph, producer_name="fqsr"))
        self.tensors: dict[str, IntTensor] = {}
        self.layers: list[list] = []
        self.inexact: list[str] = []  # requantizers whose float32 reference may round a tie differently
        self.count = 0

    # -- helpers ---------------------------------------------------------
    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, name: str) -> np.ndarray:
        value = self.src.get_initializer(name)
        if value is None:
            producer = self.src.find_producer(name)
            if producer is not None and producer.op_type == "Quant":
                return None
            raise FqsrError(f"tensor {name} is expected to be a constant but is computed at run time")
        return np.asarray(value)

    def quant_spec(self, node, per_channel=False):
        scale, zero, bits = (self.const(i) for i in node.input[1:4])
        if scale is None or zero is None or bits is None:
            raise FqsrError(f"node {node.name} (Quant) has quantization parameters computed at run time; "
                            f"fqsr needs constant scales (export the model in eval mode)")
        if np.any(zero != 0):
            raise FqsrError(f"node {node.name} (Quant) has a non-zero zero point, which integer hardware cannot "
                            f"add for free; use a symmetric quantizer (zero_point 0, e.g. Brevitas' Int8/Uint8 ones)")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("rounding_mode", b"ROUND")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "ROUND":
            raise FqsrError(f"node {node.name} (Quant) rounds with {mode}; fqsr maps round-half-to-even only "
                            f"(Brevitas' default float_to_int_impl)")
        if int(bits) != bits or not 1 <= int(bits) <= 32:
            raise FqsrError(f"node {node.name} (Quant) has {bits} bits; fqsr maps integer bit widths of 1 to 32")
        if not per_channel and scale.size != 1:
            raise FqsrError(f"node {node.name} (Quant) has per-channel scales here; use a per-tensor quantizer")
        spec = QuantSpec(float(scale.flat[0]), int(bits), bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0)))
        return spec, scale

    def add_node(self, op_type, inputs, outputs, domain="", **attrs):
        node = helper.make_node(op_type, inputs, outputs, name=self.fresh(op_type), **attrs)
        if domain:
            node.domain = domain
        self.dst.graph.node.append(node)
        return node

    def set_tensor(self, name, shape, dtype: DataType, layout=DataLayout.NHWC):
        self.dst.set_tensor_shape(name, list(shape))
        self.dst.set_tensor_datatype(name, dtype)
        self.dst.set_tensor_layout(name, layout)  # FINN's InferThresholdingLayer checks it

    def source(self, name: str, node) -> IntTensor:
        if name not in self.tensors:
            producer = self.src.find_producer(name)
            what = f"{producer.name} ({producer.op_type})" if producer is not None else name
            raise FqsrError(f"node {node.name} ({node.op_type}) reads {what}, which fqsr could not map "
                            f"to integers (a float tensor not produced by a quantizer)")
        return self.tensors[name]

    def quantized_input(self, name, node) -> IntTensor:
        t = self.source(name, node)
        if not t.quantized:
            producer = self.src.find_producer(name)
            what = f"{producer.name} ({producer.op_type})" if producer is not None else name
            raise FqsrError(f"node {node.name} ({node.op_type}) reads the float output of {what}; put a quantizer "
                            f"(e.g. QuantReLU or QuantIdentity) between them")
        return t

    def flag_inexact(self, node, why: str):
        """A requantizer whose float32 reference arithmetic rounds (the compile's tie budget covers it)."""
        entry = f"{node.name}: {why}"
        if entry not in self.inexact:
            self.inexact.append(entry)

    # -- the walk -------------------------------------------------------
    def run(self) -> ModelWrapper:
        src = self.src
        (inp,) = [i for i in src.graph.input if src.get_initializer(i.name) is None]
        shape = src.get_tensor_shape(inp.name)
        if len(shape) != 4:
            raise FqsrError(f"graph input {inp.name} has shape {shape}; fqsr compiles 1xCxHxW images")
        n, c, h, w = shape
        if c < 1:
            raise FqsrError(f"graph input {inp.name} has {c} channels")
        self.dst.graph.input.append(helper.make_tensor_value_info(inp.name, TensorProto.FLOAT, shape))
        self.dst.set_tensor_datatype(inp.name, DataType["UINT8"])
        nhwc = inp.name + "_nhwc"
        self.add_node("Transpose", [inp.name], [nhwc], perm=NCHW_TO_NHWC)
        self.set_tensor(nhwc, (n, h, w, c), DataType["UINT8"])
        self.graph_input = (inp.name, nhwc, c)
        ones = np.ones(c)
        self.tensors[inp.name] = IntTensor(nhwc, 0 * ones, 255 * ones, PIXEL_SCALE * ones, 0 * ones)

        handlers = {
            "Quant": self.on_quant, "Conv": self.on_conv, "Relu": self.on_relu,
            "BatchNormalization": self.on_batch_norm, "Mul": self.on_affine, "Add": self.on_affine,
            "Div": self.on_affine, "Sub": self.on_affine, "DepthToSpace": self.on_depth_to_space,
        }
        for node in src.graph.node:
            if all(src.get_initializer(i) is not None or i == "" for i in node.input):
                continue  # weight / bias quantizers: read by the conv that uses them
            handler = handlers.get(node.op_type)
            if handler is None:
                raise FqsrError(f"node {node.name} has op type {node.op_type}, which fqsr cannot map to FINN "
                                f"hardware (it maps {MAPPED}); remove it from the model or replace it by those")
            handler(node)
        self.finish_output()
        self.dst.set_metadata_prop(LAYER_MAP_KEY, json.dumps(self.layers))
        self.dst.set_metadata_prop(INEXACT_KEY, json.dumps(self.inexact))
        return self.dst

    def on_quant(self, node):
        spec, scales = self.quant_spec(node, per_channel=True)
        t = self.source(node.input[0], node)
        if t.quantized and spec == QuantSpec(PIXEL_SCALE, 8, False, False) and scales.size == 1 \
                and np.all(t.scale == PIXEL_SCALE) and t.lo.min() >= 0 and t.hi.max() <= 255:
            self.tensors[node.output[0]] = t  # the pixel quantizer on pixels: the identity
            return
        channels = t.lo.shape[0]
        pipeline = t.real
        if scales.size > 1:  # per-channel scales: divide per channel, then round at scale 1
            if scales.size != channels:
                raise FqsrError(f"node {node.name} (Quant) has {scales.size} scales for {channels} channels")
            per_channel = scales.reshape(-1).astype(np.float64)
            spec = QuantSpec(1.0, spec.bits, spec.signed, spec.narrow)
            pipeline = lambda v, ch: t.real(v, ch) / per_channel[ch]  # noqa: E731
        out_scale = scales.reshape(-1).astype(np.float64) * np.ones(channels)
        if not is_power_of_two(out_scale) or not is_power_of_two(t.scale):
            self.flag_inexact(node, "a scale that is not a power of two")
        direction = np.ones(channels, dtype=np.int64)
        if t.weight is not None:  # an accumulator: which way does each channel run?
            lo_real = pipeline(t.lo.astype(np.float64), np.arange(channels))
            hi_real = pipeline(t.hi.astype(np.float64), np.arange(channels))
            direction = np.where(spec.levels(hi_real) < spec.levels(lo_real), -1, 1)
        thresholds = search_thresholds(pipeline, spec, t.lo, t.hi, direction)
        check_monotone(pipeline, spec, t.lo, t.hi, direction, thresholds, f"node {node.name} (Quant)")
        inp = t.name
        if np.any(direction < 0) and len(self.src.find_consumers(t.name)) > 1:
            raise FqsrError(f"node {node.name} (Quant) falls as the accumulator {t.name} rises (a negative batch-norm "
                            f"gain or scale), and that accumulator also feeds another node, whose weights fqsr "
                            f"cannot negate for this branch alone; quantize the conv's output before the fork")
        if np.any(direction < 0):
            weights = self.dst.get_initializer(t.weight)
            self.dst.set_initializer(t.weight, weights * direction[None, :].astype(np.float32))
            self.retype_accumulator(t, direction)
        thr_name = self.fresh("thresholds")
        self.dst.set_initializer(thr_name, thresholds.astype(np.float32))
        odt = DataType[f"{'INT' if spec.signed else 'UINT'}{spec.bits}"]
        out = node.output[0]
        self.add_node("MultiThreshold", [inp, thr_name], [out], domain="qonnx.custom_op.general",
                      out_dtype=odt.name, out_bias=float(spec.qmin), data_layout="NHWC")
        self.set_tensor(out, self.dst.get_tensor_shape(inp), odt)
        ones = np.ones(channels)
        self.tensors[out] = IntTensor(out, spec.qmin * ones, spec.qmax * ones, out_scale, 0 * ones)
        self.layers.append([out, out, float(out_scale[0]) if np.unique(out_scale).size == 1 else out_scale.tolist()])

    def retype_accumulator(self, t, direction):
        lo = np.where(direction > 0, t.lo, -t.hi)
        hi = np.where(direction > 0, t.hi, -t.lo)
        self.dst.set_tensor_datatype(t.name, int_datatype(int(lo.min()), int(hi.max()) + 1))

    def on_conv(self, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = self.quantized_input(node.input[0], node)
        for key, plain, what in (("group", 1, "grouped"), ("strides", [1, 1], "strided"),
                                 ("dilations", [1, 1], "dilated")):
            if attrs.get(key, plain) not in (plain, [plain] * 2):
                raise FqsrError(f"node {node.name} (Conv) is {what} ({key}={attrs[key]}), which fqsr's sliding "
                                f"window does not map; use a dense stride-1 convolution (groups=1, stride=1, "
                                f"dilation=1; upsample with PixelShuffle)")
        if np.unique(x.scale).size != 1:
            raise FqsrError(f"node {node.name} (Conv) reads a tensor with per-channel scales, which one integer "
                            f"accumulator cannot sum; quantize the conv's input per tensor")
        w_quant = self.src.find_producer(node.input[1])
        if w_quant is None or w_quant.op_type != "Quant":
            raise FqsrError(f"node {node.name} (Conv) has float weights; use brevitas.nn.QuantConv2d (with a "
                            f"weight_quant) instead of torch.nn.Conv2d")
        w_spec, w_scale = self.quant_spec(w_quant, per_channel=True)
        w_float = self.const(w_quant.input[0]).astype(np.float32)
        w_scale = np.broadcast_to(w_scale.astype(np.float32), (w_float.shape[0], 1, 1, 1))
        w_int = np.clip(np.round(w_float / w_scale), w_spec.qmin, w_spec.qmax)
        cout, cin, kh, kw = w_int.shape
        scale = x.scale[0] * w_scale.reshape(-1).astype(np.float64)
        offset = np.zeros(cout)
        if len(node.input) > 2 and node.input[2]:
            b_quant = self.src.find_producer(node.input[2])
            if b_quant is not None and b_quant.op_type == "Quant":
                b_spec, b_scale = self.quant_spec(b_quant, per_channel=True)
                b_float = self.const(b_quant.input[0]).astype(np.float32)
                b_scale = np.broadcast_to(b_scale.astype(np.float32).reshape(-1), (cout,))
                b_int = np.clip(np.round(b_float / b_scale), b_spec.qmin, b_spec.qmax)
                offset = b_int * b_scale.astype(np.float64)
            else:  # a float bias joins the requantizer that follows (its thresholds)
                offset = self.const(node.input[2]).astype(np.float32).astype(np.float64).reshape(-1)
            if not on_grid(offset, scale):
                self.flag_inexact(node, "a bias off the accumulator's grid")
        pads = attrs.get("pads", [0, 0, 0, 0])
        n, h, w, _ = self.dst.get_tensor_shape(x.name)
        oh, ow = h + pads[0] + pads[2] - kh + 1, w + pads[1] + pads[3] - kw + 1
        cols = self.fresh(node.name + "_im2col")
        self.add_node("Im2Col", [x.name], [cols], domain="qonnx.custom_op.general",
                      stride=[1, 1], kernel_size=[kh, kw], input_shape=str((n, h, w, cin)),
                      pad_amount=[pads[0], pads[1], pads[2], pads[3]], pad_value=0, dilations=[1, 1])
        self.set_tensor(cols, (n, oh, ow, kh * kw * cin), self.dst.get_tensor_datatype(x.name))
        # Im2Col orders a window (kh, kw, cin); the MatMul weight is (kh*kw*cin, cout).
        w_name = self.fresh(node.name + "_weights")
        self.dst.set_initializer(w_name, w_int.transpose(0, 2, 3, 1).reshape(cout, -1).T.astype(np.float32))
        self.dst.set_tensor_datatype(w_name, DataType[f"INT{w_spec.bits}"])
        xlo, xhi = float(x.lo.min()), float(x.hi.max())
        wm = w_int.reshape(cout, -1)
        lo = np.minimum(wm * xlo, wm * xhi).sum(axis=1).astype(np.int64)
        hi = np.maximum(wm * xlo, wm * xhi).sum(axis=1).astype(np.int64)
        acc = node.output[0]
        self.add_node("MatMul", [cols, w_name], [acc])
        self.set_tensor(acc, (n, oh, ow, cout), int_datatype(int(lo.min()), int(hi.max()) + 1))
        self.tensors[acc] = IntTensor(acc, lo, hi, scale, offset, weight=w_name)

    def chain(self, node, op):
        t = self.source(node.input[0], node)
        self.tensors[node.output[0]] = IntTensor(t.name, t.lo, t.hi, t.scale, t.offset, t.ops + [op], t.weight)

    def on_relu(self, node):
        t = self.source(node.input[0], node)
        if t.quantized and t.lo.min() >= 0:  # e.g. a ReLU on the pixels: the identity on non-negative integers
            self.tensors[node.output[0]] = t
            return
        self.chain(node, lambda x, ch: np.maximum(x, 0.0))

    def on_batch_norm(self, node):
        gamma, beta, mean, var = (self.const(i).astype(np.float64) for i in node.input[1:5])
        eps = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5)
        gain = gamma / np.sqrt(var + eps)
        self.flag_inexact(node, "batch norm in float32")
        self.chain(node, lambda x, ch: (x - mean[ch]) * gain[ch] + beta[ch])

    def on_affine(self, node):
        if node.op_type == "Add" and all(self.src.get_initializer(i) is None for i in node.input):
            return self.on_residual_add(node)
        consts = [self.src.get_initializer(i) for i in node.input]
        if consts[1] is None:
            raise FqsrError(f"node {node.name} ({node.op_type}) combines two run-time tensors, which fqsr cannot "
                            f"map; only residual adds of two outputs of one shared quantizer are mapped")
        k = np.asarray(consts[1], dtype=np.float64).reshape(-1)
        grid = self.source(node.input[0], node).scale.min()
        if not (is_power_of_two(k) if node.op_type in ("Mul", "Div") else on_grid(k, grid)):
            self.flag_inexact(node, f"a float32 {node.op_type}")
        k = k if k.size > 1 else np.full(1, k.item())
        pick = (lambda ch: k[ch]) if k.size > 1 else (lambda ch: k[0])
        fn = {"Mul": lambda x, ch: x * pick(ch), "Add": lambda x, ch: x + pick(ch),
              "Sub": lambda x, ch: x - pick(ch), "Div": lambda x, ch: x / pick(ch)}[node.op_type]
        self.chain(node, fn)

    def on_residual_add(self, node):
        a, b = (self.quantized_input(i, node) for i in node.input)
        if not np.array_equal(a.scale, b.scale):
            raise FqsrError(f"node {node.name} (Add) adds tensors of different scales "
                            f"({a.scale[0]:g} and {b.scale[0]:g}), which an integer adder cannot; let both "
                            f"operands leave one shared quantizer (one QuantIdentity instance applied to both)")
        out = node.output[0]
        lo, hi = a.lo + b.lo, a.hi + b.hi
        self.add_node("Add", [a.name, b.name], [out])
        self.set_tensor(out, self.dst.get_tensor_shape(a.name), int_datatype(int(lo.min()), int(hi.max())))
        self.tensors[out] = IntTensor(out, lo, hi, a.scale, 0 * a.offset)

    def on_depth_to_space(self, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "CRD":
            raise FqsrError(f"node {node.name} (DepthToSpace) uses mode {mode}, whose channel order fqsr's pixel "
                            f"shuffle does not stream; use torch.nn.PixelShuffle (mode CRD)")
        t = self.quantized_input(node.input[0], node)
        r = int(attrs["blocksize"])
        n, h, w, c = self.dst.get_tensor_shape(t.name)
        groups = t.scale.reshape(c // (r * r), r * r)
        if not np.all(groups == groups[:, :1]):
            raise FqsrError(f"node {node.name} (DepthToSpace) mixes channels of different scales into one output "
                            f"channel; quantize its input per tensor")
        dt = self.dst.get_tensor_datatype(t.name)
        nchw, shuffled, out = self.fresh("d2s_in"), self.fresh("d2s_out"), node.output[0]
        self.add_node("Transpose", [t.name], [nchw], perm=NHWC_TO_NCHW)
        self.set_tensor(nchw, (n, c, h, w), dt, DataLayout.NCHW)
        self.add_node("DepthToSpace", [nchw], [shuffled], blocksize=r, mode="CRD")
        self.set_tensor(shuffled, (n, c // (r * r), h * r, w * r), dt, DataLayout.NCHW)
        self.add_node("Transpose", [shuffled], [out], perm=NCHW_TO_NHWC)
        self.set_tensor(out, (n, h * r, w * r, c // (r * r)), dt)
        ones = np.ones(c // (r * r))
        out_scale = groups[:, 0].astype(np.float64)
        self.tensors[out] = IntTensor(out, t.lo.min() * ones, t.hi.max() * ones, out_scale, 0 * ones)
        self.layers.append([out, node.output[0],
                            float(out_scale[0]) if np.unique(out_scale).size == 1 else out_scale.tolist()])

    def finish_output(self):
        out = self.src.graph.output[0]
        t = self.tensors.get(out.name)
        if t is None or not t.quantized:
            producer = self.src.find_producer(out.name)
            what = f"{producer.name} ({producer.op_type})" if producer is not None else out.name
            raise FqsrError(f"the graph output comes from {what}, not from a quantizer; end the network in a "
                            f"quantizer (e.g. QuantIdentity(return_quant_tensor=True))")
        if np.unique(t.scale).size != 1:
            raise FqsrError(f"the graph output {out.name} has per-channel scales; end the network in a per-tensor "
                            f"quantizer")
        if t.name == self.graph_input[1]:
            raise FqsrError("the graph output is its input; there is nothing to compile")
        self.dst.set_metadata_prop(OUTPUT_SCALE_KEY, repr(float(t.scale[0])))
        n, h, w, c = self.dst.get_tensor_shape(t.name)
        name = out.name + "_int"
        self.add_node("Transpose", [t.name], [name], perm=NHWC_TO_NCHW)
        self.dst.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, c, h, w]))
        self.dst.set_tensor_datatype(name, self.dst.get_tensor_datatype(t.name))
