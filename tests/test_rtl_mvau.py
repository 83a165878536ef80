"""mvau against FINN's MVAU (matmul + optional multithreshold), PE/SIMD folding, signed/unsigned."""
import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.util.basic import gen_finn_dt_tensor

from fqsr.hw.generate import accumulator_range
from fqsr.sim.stimulus import single_node_model, verify_node

VECTORS = [1, 2, 3]  # numInputVectors: 6 vectors per frame


def mvau_model(mw, mh, simd, pe, in_dt, w_dt, out_dt=None, seed=0, res_type="auto"):
    """out_dt=None: noActivation (output = accumulator, FINN's accDataType). res_type "lut": products from LUTs."""
    in_dt, w_dt = DataType[in_dt], DataType[w_dt]
    np.random.seed(seed)
    weights = gen_finn_dt_tensor(w_dt, (mw, mh))
    lo, hi = accumulator_range(weights, in_dt)
    attrs = dict(MW=mw, MH=mh, SIMD=simd, PE=pe, inputDataType=in_dt.name, weightDataType=w_dt.name,
                 numInputVectors=VECTORS, binaryXnorMode=0, mem_mode="internal_embedded", resType=res_type)
    inits = {"weights": (weights, w_dt.name)}
    if out_dt is None:
        acc = DataType.get_smallest_possible(lo) if lo < 0 else DataType.get_smallest_possible(hi)
        acc = acc if acc.allowed(hi) else DataType[f"INT{acc.bitwidth() + 1}"]
        out = acc
        attrs.update(noActivation=1, outputDataType=acc.name, accDataType=acc.name)
    else:
        out = DataType[out_dt]
        steps = out.get_num_possible_values() - 1
        # thresholds spread over the reachable accumulator values (a few outside), sorted per channel
        th = np.sort(np.random.uniform(lo - 2, hi + 2, size=(mh, steps)), axis=1)
        th[:, ::2] = np.round(th[:, ::2])
        th = np.sort(th, axis=1)  # rounding may swap neighbours; FINN's thresholds are sorted
        inits["thresholds"] = (th, "FLOAT32")
        attrs.update(noActivation=0, outputDataType=out.name, ActVal=int(out.min()), accDataType="INT32")
    return single_node_model("MVAU_hls", {"inp": ([*VECTORS, mw], in_dt.name)}, {"out": ([*VECTORS, mh], out.name)},
                             initializers=inits, **attrs)


@pytest.mark.parametrize("mw, mh, simd, pe, in_dt, w_dt, out_dt, p_gap, p_stall", [
    (8, 4, 1, 1, "UINT4", "INT4", "INT4", 0.3, 0.3),
    (12, 6, 3, 2, "INT8", "INT2", None, 0.2, 0.5),
    (18, 4, 9, 4, "INT3", "UINT5", "UINT4", 0.4, 0.2),
    (8, 8, 8, 1, "UINT2", "INT8", "UINT8", 0.3, 0.3),
    (6, 3, 2, 3, "INT5", "INT7", None, 0.3, 0.4),
    (144, 4, 72, 2, "INT4", "UINT3", None, 0.3, 0.3),  # SIMD > 64: the lanes unpacked from wide words
])
def test_mvau(mw, mh, simd, pe, in_dt, w_dt, out_dt, p_gap, p_stall):
    model = mvau_model(mw, mh, simd, pe, in_dt, w_dt, out_dt, seed=mw + pe)
    res = verify_node(model, p_gap=p_gap, p_stall=p_stall, seed=simd + pe)
    assert res.beats_out == 6 * mh // pe


@pytest.mark.parametrize("mw, mh, simd, pe, in_dt, w_dt, out_dt, lut_products", [
    (8, 4, 2, 2, "UINT4", "INT4", "INT4", True),
    (12, 6, 3, 2, "INT8", "INT2", None, True),
    (18, 4, 9, 4, "INT3", "UINT5", "UINT4", True),
    (18, 4, 9, 4, "INT3", "UINT5", "UINT4", False),
])
def test_mvau_lut_products(mw, mh, simd, pe, in_dt, w_dt, out_dt, lut_products):
    """resType "lut": equal to FINN's execution with every product built from LUTs (shift and add, what
    synthesis builds; ``lut_products``) and as simulation builds it by default (`*`, FQSR_SIM_PRODUCTS)."""
    model = mvau_model(mw, mh, simd, pe, in_dt, w_dt, out_dt, seed=mw + pe, res_type="lut")
    res = verify_node(model, p_gap=0.3, p_stall=0.3, seed=simd, lut_products=lut_products)
    assert res.beats_out == 6 * mh // pe


@pytest.mark.icarus
def test_mvau_icarus():
    res = verify_node(mvau_model(12, 4, 3, 2, "INT4", "INT4", "INT4", seed=3), sim="icarus")
    assert res.beats_out == 12
