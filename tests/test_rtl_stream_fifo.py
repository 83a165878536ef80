"""stream_fifo against FINN's StreamingFIFO (identity) under random gaps and back-pressure."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def fifo_model(depth, bits, signed, lanes, pixels=64):
    shape, folded = [1, pixels, lanes], [1, pixels, 1, lanes]
    dt = dt_name(bits, signed)
    return single_node_model("StreamingFIFO_rtl", {"inp": (shape, dt)}, {"out": (shape, dt)},
                             depth=depth, folded_shape=folded, normal_shape=shape, dataType=dt)


@pytest.mark.parametrize("depth, bits, signed, lanes, p_gap, p_stall", [
    (1, 2, False, 1, 0.3, 0.3),
    (2, 8, True, 3, 0.5, 0.2),
    (5, 3, True, 4, 0.2, 0.6),
    (16, 7, False, 2, 0.1, 0.1),
])
def test_stream_fifo(depth, bits, signed, lanes, p_gap, p_stall):
    res = verify_node(fifo_model(depth, bits, signed, lanes), p_gap=p_gap, p_stall=p_stall, seed=depth)
    assert res.beats_out == 64


@pytest.mark.icarus
def test_stream_fifo_icarus():
    res = verify_node(fifo_model(3, 5, True, 2), sim="icarus", p_gap=0.4, p_stall=0.4)
    assert res.beats_out == 64
