"""Without stalls every module streams at FINN's estimated rate: cycles within a few percent of
get_exp_cycles (plus a small pipeline latency), so a stitched top runs at its slowest node's rate.
Ops FINN does not estimate (FIFO, width converter) must move one beat per cycle on their busier side."""
import pytest
from test_rtl_elementwise_add import add_model
from test_rtl_fm_padding import padding_model
from test_rtl_mvau import mvau_model
from test_rtl_pixel_shuffle import shuffle_model
from test_rtl_sliding_window import swg_model
from test_rtl_stream_fifo import fifo_model
from test_rtl_stream_width_converter import dwc_model
from test_rtl_thresholding import threshold_model

from fqsr.sim.stimulus import verify_node

LATENCY = 8  # cycles of fill / pipeline per frame we allow on top of FINN's estimate


@pytest.mark.parametrize("make", [
    lambda: add_model(6, 3, "UINT2", "UINT8"),
    lambda: threshold_model(6, 3, "UINT8", "UINT2", seed=9),
    lambda: padding_model((3, 5), (2, 0, 1, 3), 4, 2, 8, False),
    lambda: mvau_model(12, 6, 3, 2, "INT8", "INT2", None, seed=14),
    lambda: shuffle_model(2, 4, 2, 8, False),
    lambda: swg_model((4, 6), 3, 4, 2, 8, False),
    lambda: fifo_model(2, 8, True, 3),
    lambda: dwc_model(6, 2, 3, 3, True),
    lambda: dwc_model(6, 6, 2, 8, False),
], ids=["add", "thresholding", "fm_padding", "mvau", "pixel_shuffle", "sliding_window", "fifo", "dwc_up", "dwc_down"])
def test_full_rate_without_stalls(make):
    res = verify_node(make(), p_gap=0.0, p_stall=0.0, seed=0)
    bound = res.exp_cycles or max(res.beats_in, res.beats_out)
    assert res.cycles <= 1.05 * bound + LATENCY, (res.cycles, bound)
