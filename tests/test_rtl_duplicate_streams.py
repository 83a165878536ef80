"""duplicate_streams (fork) against FINN's DuplicateStreams: each output stalls independently."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def fork_model(n_out, channels, pe, bits, signed, pixels=(4, 4)):
    shape = [1, *pixels, channels]
    dt = dt_name(bits, signed)
    outs = {f"out{j}": (shape, dt) for j in range(n_out)}
    return single_node_model("DuplicateStreams_hls", {"inp": (shape, dt)}, outs, NumChannels=channels, PE=pe,
                             NumOutputStreams=n_out, inputDataType=dt, numInputVectors=[1, *pixels])


@pytest.mark.parametrize("n_out, channels, pe, bits, signed, p_gap, p_stall", [
    (2, 4, 1, 4, True, 0.3, 0.3),
    (2, 6, 3, 2, False, 0.5, 0.5),
    (3, 8, 4, 8, True, 0.2, 0.6),
    (4, 2, 2, 5, False, 0.4, 0.2),
])
def test_duplicate_streams(n_out, channels, pe, bits, signed, p_gap, p_stall):
    res = verify_node(fork_model(n_out, channels, pe, bits, signed), p_gap=p_gap, p_stall=p_stall, seed=n_out + pe)
    assert res.beats_out == n_out * 16 * channels // pe


@pytest.mark.icarus
def test_duplicate_streams_icarus():
    res = verify_node(fork_model(3, 4, 2, 3, True), sim="icarus", p_gap=0.3, p_stall=0.5)
    assert res.beats_out == 3 * 16 * 2
