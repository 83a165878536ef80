"""Integer graph -> FINN hardware nodes, specialized; and the python-executable view of them."""
from __future__ import annotations

import json

from onnx import helper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from fqsr.models.errors import FqsrError

from . import register_custom_ops  # noqa: F401 (registers PixelShuffle)
from .pixel_shuffle import InferPixelShuffle

HW_DOMAIN = "finn.custom_op.fpgadataflow"
HOST_LAYOUT_KEY = "fqsr_host_layout"  # {"input_perm": [...], "output_perm": [...]}


def convert_to_hardware(model):
    """FINN's own Infer* passes (+ ours for pixel shuffle), then a check that nothing is left over."""
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import InferDuplicateStreamsLayer
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer

    for step in (InferConvInpGen(), InferQuantizedMatrixVectorActivation(), InferThresholdingLayer(),
                 InferElementwiseBinaryOperation(), InferPixelShuffle(), InferDuplicateStreamsLayer(),
                 GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):
        model = model.transform(step)
    model = model.transform(StripLayoutTransposes())
    check_all_hardware(model)
    return model


class StripLayoutTransposes(Transformation):
    """Move the NCHW<->NHWC transposes at the graph input and output to the host.

    What remains is a pure dataflow graph (FINN's analyses, e.g. SetFolding's
    dataflow_performance, expect nothing else); the permutations are recorded
    in the ``fqsr_host_layout`` metadata so a host can apply them.
    """

    def apply(self, model):
        layout = {}
        first = model.find_consumers(model.graph.input[0].name)
        if len(first) == 1 and first[0].op_type == "Transpose":
            node = first[0]
            old = model.graph.input[0]
            new = helper.make_tensor_value_info(node.output[0], old.type.tensor_type.elem_type,
                                                model.get_tensor_shape(node.output[0]))
            dt = model.get_tensor_datatype(node.output[0])
            model.graph.input.remove(old)
            model.graph.input.insert(0, new)
            model.set_tensor_datatype(node.output[0], dt)
            model.graph.node.remove(node)
            layout["input_perm"] = [int(p) for p in node_attr(node, "perm")]
        last = model.find_producer(model.graph.output[0].name)
        if last is not None and last.op_type == "Transpose":
            old = model.graph.output[0]
            new = helper.make_tensor_value_info(last.input[0], old.type.tensor_type.elem_type,
                                                model.get_tensor_shape(last.input[0]))
            model.graph.output.remove(old)
            model.graph.output.insert(0, new)
            model.graph.node.remove(last)
            layout["output_perm"] = [int(p) for p in node_attr(last, "perm")]
        ends = {model.graph.input[0].name, model.graph.output[0].name}
        for vi in [vi for vi in model.graph.value_info if vi.name in ends]:
            model.graph.value_info.remove(vi)
        if layout:
            model.set_metadata_prop(HOST_LAYOUT_KEY, json.dumps(layout))
        return model, False


def check_all_hardware(model) -> None:
    """Every node must be a FINN hardware node (the layout transposes have moved to the host)."""
    for node in model.graph.node:
        if node.domain.startswith(HW_DOMAIN):
            continue
        raise FqsrError(f"node {node.name} (op type {node.op_type}) has no FINN hardware mapping; "
                        f"no dataflow.onnx was written")


class IntegerWeightTypes(Transformation):
    """A BIPOLAR weight type on an MVAU that is not in XNOR mode becomes INT2.

    FINN's MinimizeWeightBitWidth picks the smallest type holding the weights' extremes, which
    is BIPOLAR when every weight is -1 (a 2-bit conv with few weights, `fqsr fuzz` seed 31).
    The integer MVAU computes the same products either way; fqsr's RTL takes two's complement
    weights only. Other nodes and other types are left alone.
    """

    def apply(self, model):
        from qonnx.custom_op.registry import getCustomOp

        for node in model.graph.node:
            if node.op_type.startswith("MVAU"):
                inst = getCustomOp(node)
                if inst.get_nodeattr("weightDataType") == "BIPOLAR" and not inst.get_nodeattr("binaryXnorMode"):
                    inst.set_nodeattr("weightDataType", "INT2")
        return model, False


def specialize(model, fpgapart: str):
    """FINN's SpecializeLayers (HLS or RTL variant per node) and bit-width minimization."""
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    model = model.transform(MinimizeWeightBitWidth()).transform(IntegerWeightTypes())
    model = model.transform(MinimizeAccumulatorWidth())
    model = model.transform(SpecializeLayers(fpgapart))
    return model.transform(InferShapes()).transform(InferDataTypes())


class PythonExecutionView(Transformation):
    """``X_hls`` / ``X_rtl`` -> ``X``: the generic FINN op executes in Python, no Vivado needed.

    The specialized classes only execute through cppsim (needs HLS headers)
    or xsim rtlsim (needs Vivado); their generic parents hold FINN's Python
    model of the same node with the same attributes.
    """

    def apply(self, model):
        for node in model.graph.node:
            for impl in ("hls", "rtl"):
                if node.domain == f"{HW_DOMAIN}.{impl}" and node.op_type.endswith(f"_{impl}"):
                    node.op_type = node.op_type[: -len(impl) - 1]
                    node.domain = HW_DOMAIN
        return model, False


def hardware_op_types(model) -> list[str]:
    return sorted({n.op_type for n in model.graph.node if n.domain.startswith(HW_DOMAIN)})


def node_attr(node, name):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)
