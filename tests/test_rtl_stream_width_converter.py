"""stream_width_converter against FINN's StreamingDataWidthConverter (identity on the element stream)."""
import pytest

from fqsr.sim.stimulus import dt_name, single_node_model, verify_node


def dwc_model(channels, in_elems, out_elems, bits, signed, pixels=(3, 4)):
    shape = [1, *pixels, channels]
    dt = dt_name(bits, signed)
    return single_node_model("StreamingDataWidthConverter_rtl", {"inp": (shape, dt)}, {"out": (shape, dt)},
                             inShape=shape, outShape=shape, inWidth=in_elems * bits, outWidth=out_elems * bits,
                             dataType=dt)


@pytest.mark.parametrize("channels, in_elems, out_elems, bits, signed, p_gap, p_stall", [
    (4, 1, 4, 4, True, 0.3, 0.3),
    (6, 6, 2, 8, False, 0.2, 0.5),
    (6, 2, 3, 3, True, 0.4, 0.3),   # neither divides the other
    (4, 4, 4, 2, False, 0.3, 0.3),
    (3, 3, 2, 5, True, 0.3, 0.3),   # 3 channels, 2 per beat: crosses pixels
])
def test_stream_width_converter(channels, in_elems, out_elems, bits, signed, p_gap, p_stall):
    res = verify_node(dwc_model(channels, in_elems, out_elems, bits, signed), p_gap=p_gap, p_stall=p_stall,
                      seed=in_elems + out_elems)
    assert res.beats_out == 12 * channels // out_elems


@pytest.mark.icarus
def test_stream_width_converter_icarus():
    res = verify_node(dwc_model(6, 2, 3, 7, False), sim="icarus")
    assert res.beats_out == 24
