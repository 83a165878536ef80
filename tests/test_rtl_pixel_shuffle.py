"""pixel_shuffle against fqsr's PixelShuffle FINN op (DepthToSpace CRD), two frames back to back."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def shuffle_model(r, channels, pe, bits, signed, img=(3, 4)):
    h, w = img
    dt = dt_name(bits, signed)
    return single_node_model("PixelShuffle_rtl", {"inp": ([1, h, w, channels * r * r], dt)},
                             {"out": ([1, h * r, w * r, channels], dt)}, NumChannels=channels, Upscale=r,
                             ImgDim=[h, w], PE=pe, dataType=dt)


@pytest.mark.parametrize("r, channels, pe, bits, signed, p_gap, p_stall", [
    (2, 2, 1, 4, True, 0.3, 0.3),
    (2, 4, 2, 8, False, 0.2, 0.5),
    (3, 3, 3, 5, True, 0.4, 0.3),
    (3, 2, 1, 2, False, 0.1, 0.1),
    (4, 4, 4, 3, True, 0.3, 0.4),
    # a beat spans sub-pixels of two channels (PE not a multiple of R*R) or several whole channels (PE > R*R)
    (2, 6, 3, 4, False, 0.3, 0.3),
    (3, 6, 6, 3, True, 0.2, 0.4),
    (2, 8, 8, 5, True, 0.3, 0.2),
])
def test_pixel_shuffle(r, channels, pe, bits, signed, p_gap, p_stall):
    res = verify_node(shuffle_model(r, channels, pe, bits, signed), p_gap=p_gap, p_stall=p_stall, seed=r + pe,
                      frames=2)
    assert res.beats_out == 2 * 3 * 4 * r * r * channels // pe


@pytest.mark.icarus
def test_pixel_shuffle_icarus():
    res = verify_node(shuffle_model(3, 2, 2, 6, True), sim="icarus", p_gap=0.3, p_stall=0.3, frames=2)
    assert res.beats_out == 2 * 3 * 4 * 9
