"""elementwise_add (residual add) against FINN's ElementwiseAdd, both inputs with independent gaps."""
import pytest
from qonnx.core.datatype import DataType

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def add_model(channels, pe, a, b, pixels=(4, 4)):
    a, b = DataType[a], DataType[b]
    # the smallest integer type holding every sum, as FINN's datatype inference gives the Add
    lo, hi = a.min() + b.min(), a.max() + b.max()
    out = DataType.get_smallest_possible(lo) if lo < 0 else DataType.get_smallest_possible(hi)
    while not (out.allowed(lo) and out.allowed(hi)):
        out = DataType[dt_name(out.bitwidth() + 1, lo < 0)]
    shape = [1, *pixels, channels]
    return single_node_model("ElementwiseAdd_hls", {"lhs": (shape, a.name), "rhs": (shape, b.name)},
                             {"out": (shape, out.name)}, lhs_dtype=a.name, rhs_dtype=b.name, out_dtype=out.name,
                             lhs_shape=shape, rhs_shape=shape, out_shape=shape, PE=pe)


@pytest.mark.parametrize("channels, pe, a, b, p_gap, p_stall", [
    (4, 1, "INT4", "INT4", 0.3, 0.3),
    (6, 3, "UINT2", "UINT8", 0.5, 0.2),
    (8, 4, "INT8", "UINT3", 0.2, 0.5),
    (4, 2, "UINT5", "INT2", 0.4, 0.4),
])
def test_elementwise_add(channels, pe, a, b, p_gap, p_stall):
    res = verify_node(add_model(channels, pe, a, b), p_gap=p_gap, p_stall=p_stall, seed=pe)
    assert res.beats_out == 16 * channels // pe


@pytest.mark.icarus
def test_elementwise_add_icarus():
    res = verify_node(add_model(4, 2, "INT3", "INT6"), sim="icarus", p_gap=0.3, p_stall=0.3)
    assert res.beats_out == 32
