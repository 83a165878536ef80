"""fm_padding against FINN's FMPadding (zero border, asymmetric padding, SIMD lanes), two frames."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def padding_model(img, pad, channels, simd, bits, signed):
    h, w = img
    dt = dt_name(bits, signed)
    out = [1, h + pad[0] + pad[2], w + pad[1] + pad[3], channels]
    return single_node_model("FMPadding_rtl", {"inp": ([1, h, w, channels], dt)}, {"out": (out, dt)},
                             ImgDim=[h, w], Padding=list(pad), NumChannels=channels, SIMD=simd, inputDataType=dt)


@pytest.mark.parametrize("img, pad, channels, simd, bits, signed, p_gap, p_stall", [
    ((4, 4), (1, 1, 1, 1), 2, 1, 4, True, 0.3, 0.3),
    ((3, 5), (2, 0, 1, 3), 4, 2, 8, False, 0.4, 0.2),
    ((4, 3), (0, 2, 2, 1), 3, 3, 2, True, 0.2, 0.5),
])
def test_fm_padding(img, pad, channels, simd, bits, signed, p_gap, p_stall):
    res = verify_node(padding_model(img, pad, channels, simd, bits, signed), p_gap=p_gap, p_stall=p_stall,
                      seed=simd, frames=2)
    oh, ow = img[0] + pad[0] + pad[2], img[1] + pad[1] + pad[3]
    assert res.beats_out == 2 * oh * ow * channels // simd


@pytest.mark.icarus
def test_fm_padding_icarus():
    res = verify_node(padding_model((3, 3), (1, 1, 1, 1), 4, 2, 5, False), sim="icarus", frames=2)
    assert res.beats_out == 2 * 25 * 2
