"""thresholding against FINN's Thresholding (MultiThreshold semantics, ActVal bias, PE lanes)."""
import numpy as np
import pytest
from qonnx.core.datatype import DataType

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def threshold_model(channels, pe, in_dt, out_dt, shared=False, seed=0, pixels=(4, 4)):
    in_dt, out_dt = DataType[in_dt], DataType[out_dt]
    steps = out_dt.get_num_possible_values() - 1
    rng = np.random.default_rng(seed)
    lo, hi = in_dt.min() - 1.5, in_dt.max() + 1.5  # some thresholds outside the input range
    th = np.sort(rng.uniform(lo, hi, size=(1 if shared else channels, steps)), axis=1)
    th[:, ::3] = np.round(th[:, ::3])  # integer thresholds too: x == t must count (>=)
    if not in_dt.signed():
        th = np.maximum(th, 0)  # FINN asserts non-negative thresholds on unsigned inputs
    shape = [1, *pixels, channels]
    return single_node_model(
        "Thresholding_rtl", {"inp": (shape, in_dt.name)}, {"out": (shape, out_dt.name)},
        initializers={"thresholds": (th, "FLOAT32")}, PE=pe, NumChannels=channels, numSteps=steps,
        inputDataType=in_dt.name, weightDataType="FLOAT32", outputDataType=out_dt.name,
        numInputVectors=[1, *pixels], ActVal=int(out_dt.min()))


@pytest.mark.parametrize("channels, pe, in_dt, out_dt, shared, p_gap, p_stall", [
    (4, 1, "INT5", "INT4", False, 0.3, 0.3),
    (6, 3, "UINT8", "UINT2", False, 0.2, 0.5),
    (4, 4, "INT2", "UINT3", True, 0.5, 0.2),
    (8, 2, "INT8", "INT8", False, 0.3, 0.3),
])
def test_thresholding(channels, pe, in_dt, out_dt, shared, p_gap, p_stall):
    model = threshold_model(channels, pe, in_dt, out_dt, shared, seed=channels + pe)
    res = verify_node(model, p_gap=p_gap, p_stall=p_stall, seed=pe)
    assert res.beats_out == 16 * channels // pe


def test_thresholding_icarus():
    res = verify_node(threshold_model(4, 2, "INT6", "INT3"), sim="icarus", p_gap=0.3, p_stall=0.3)
    assert res.beats_out == 32
