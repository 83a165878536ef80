"""thresholding against FINN's Thresholding (MultiThreshold semantics, ActVal bias, PE lanes)."""
import numpy as np
import pytest
from qonnx.core.datatype import DataType

from fqsr.hw.generate import node_instance, rom_bits, search_levels
from fqsr.hw.generate import threshold_search_roms as search_roms
from fqsr.models.errors import FqsrError
from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def threshold_model(channels, pe, in_dt, out_dt, shared=False, seed=0, pixels=(4, 4), steps=None):
    in_dt, out_dt = DataType[in_dt], DataType[out_dt]
    steps = steps or out_dt.get_num_possible_values() - 1
    rng = np.random.default_rng(seed)
    lo, hi = in_dt.min() - 1.5, in_dt.max() + 1.5  # some thresholds outside the input range
    th = np.sort(rng.uniform(lo, hi, size=(1 if shared else channels, steps)), axis=1)
    th[:, ::3] = np.round(th[:, ::3])  # integer thresholds too: x == t must count (>=)
    th = np.sort(th, axis=1)  # sorted per channel, as FINN's are (rounding may swap neighbours)
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


def test_thresholding_steps_padded():
    """5 thresholds for a 4-bit output: the search runs 3 stages over 7, the last two never reached."""
    res = verify_node(threshold_model(4, 2, "INT6", "UINT4", steps=5, seed=3), p_gap=0.3, p_stall=0.3, seed=3)
    assert res.beats_out == 32


def test_search_roms_match_counting():
    """The stage ROMs, walked as the RTL walks them, give #{t : x >= T[c][t]} for every x."""
    rng = np.random.default_rng(0)
    for channels, pe, steps in [(6, 3, 7), (4, 1, 5), (2, 2, 1), (8, 4, 255)]:
        th = np.sort(rng.integers(-40, 40, size=(channels, steps)), axis=1)
        roms = search_roms(th, pe, 41, 8, "test")
        levels = search_levels(steps)
        assert len(roms) == pe * levels
        for c in range(channels):
            f, p = divmod(c, pe)
            for x in range(-41, 41):  # every input below `never`
                prefix = 0
                for j in range(levels):
                    words = roms[f"_p{p:03d}_s{j}"][0][:, 0]
                    prefix = 2 * prefix + int(x >= words[(f << j) + prefix])
                assert prefix == int(np.sum(x >= th[c])), (c, x)


def test_rom_bits_count_the_padded_thresholds():
    model = threshold_model(4, 2, "INT6", "UINT4", steps=5)
    instance = node_instance(model, model.graph.node[0])
    assert rom_bits(instance) == 4 * 7 * 8  # channels x (2^3 - 1 stored thresholds) x (6 + 2 bits)


def test_search_roms_refuse_unsorted():
    with pytest.raises(FqsrError, match="channel 1 are not sorted"):
        search_roms(np.array([[1, 2, 3], [3, 2, 4]]), 1, 9, 8, "node")


@pytest.mark.icarus
def test_thresholding_icarus():
    res = verify_node(threshold_model(4, 2, "INT6", "INT3"), sim="icarus", p_gap=0.3, p_stall=0.3)
    assert res.beats_out == 32
