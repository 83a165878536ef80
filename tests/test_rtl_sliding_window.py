"""sliding_window against FINN's ConvolutionInputGenerator (Im2Col order), two frames back to back."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def swg_model(img, k, channels, simd, bits, signed, parallel=0):
    h, w = img
    oh, ow = h - k + 1, w - k + 1
    dt = dt_name(bits, signed)
    return single_node_model("ConvolutionInputGenerator_rtl", {"inp": ([1, h, w, channels], dt)},
                             {"out": ([1, oh, ow, k * k * channels], dt)}, ConvKernelDim=[k, k],
                             IFMChannels=channels, IFMDim=[h, w], OFMDim=[oh, ow], SIMD=simd, Stride=[1, 1],
                             Dilation=[1, 1], inputDataType=dt, outputDataType=dt, depthwise=0, is1D=0,
                             parallel_window=parallel)


@pytest.mark.parametrize("img, k, channels, simd, bits, signed, p_gap, p_stall", [
    ((5, 5), 3, 2, 1, 4, True, 0.3, 0.3),
    ((4, 6), 3, 4, 2, 8, False, 0.2, 0.5),
    ((5, 4), 2, 3, 3, 2, True, 0.5, 0.2),
    ((4, 4), 1, 2, 2, 5, False, 0.3, 0.3),
])
def test_sliding_window(img, k, channels, simd, bits, signed, p_gap, p_stall):
    res = verify_node(swg_model(img, k, channels, simd, bits, signed), p_gap=p_gap, p_stall=p_stall,
                      seed=k + simd, frames=2)
    oh, ow = img[0] - k + 1, img[1] - k + 1
    assert res.beats_out == 2 * oh * ow * k * k * channels // simd


@pytest.mark.parametrize("img, k, channels, bits, signed", [((5, 5), 3, 2, 4, True), ((6, 4), 2, 3, 3, False)])
def test_parallel_window_emits_one_window_per_beat(img, k, channels, bits, signed):
    res = verify_node(swg_model(img, k, channels, channels, bits, signed, parallel=1), p_gap=0.3, p_stall=0.3,
                      seed=k, frames=3)
    assert res.beats_out == 3 * (img[0] - k + 1) * (img[1] - k + 1)


@pytest.mark.icarus
def test_sliding_window_icarus():
    res = verify_node(swg_model((4, 5), 3, 4, 2, 3, True), sim="icarus", frames=2)
    assert res.beats_out == 2 * 2 * 3 * 9 * 2
