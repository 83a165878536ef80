"""stream_register_slice (the skid buffer between the rolled engine and its SDRAM DMA): every beat once, in order,
under random gaps and back-pressure, and one beat per cycle when nothing stalls."""
import json

import pytest

from fqsr.hw.generate import RTL_DIR
from fqsr.sim.runner import run_cocotb


@pytest.mark.parametrize("width, p_gap, p_stall", [(8, 0.0, 0.0), (16, 0.3, 0.3), (5, 0.1, 0.7), (33, 0.7, 0.1)])
def test_register_slice_passes_every_beat_once(width, p_gap, p_stall, tmp_path):
    cfg = {"width": width, "beats": 400, "p_gap": p_gap, "p_stall": p_stall, "seed": width}
    run_cocotb([RTL_DIR / "stream_register_slice.v"], "stream_register_slice", "fqsr.sim.register_slice_bench",
               parameters={"WIDTH": width}, test_dir=tmp_path, extra_env={"FQSR_SLICE": json.dumps(cfg)})
