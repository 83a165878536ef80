"""Runtime frame geometry: one compiled RTL takes frames of any size up to its compiled width, each frame
equal element for element to the quantized model's whole-image output, under random stalls."""
import re

import numpy as np
import pytest

from conftest import calibrated, small
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export
from fqsr.hw.stitch import generate_rtl
from fqsr.models.data import to_model
from fqsr.models.errors import FqsrError
from fqsr.models.infer import integer_output
from fqsr.sim.hil import RtlsimDevice, _whole_frames, run_session

ROWS, COLS = 6, 8  # the compiled tile: 8 is the widest frame the line buffers hold


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    model = calibrated(small("tiny_w4a4", features=4, blocks=1))
    export(model, tile=(ROWS, COLS), random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model, target_fps=20000, clock_mhz=100.0)
    summary = generate_rtl(folder / DATAFLOW_NAME, folder)
    return folder, model, summary


def _frames(sizes, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8) for rows, cols in sizes]


def _want(model, lr):
    want, _ = integer_output(model, to_model(lr))
    return np.asarray(want[0]).astype(np.int64)


def test_frames_of_other_sizes_equal_the_model_under_stalls(built):
    folder, model, summary = built
    frame = summary["frame"]
    assert frame["runtime"] and frame["max_cols"] == COLS and frame["compiled"] == [ROWS, COLS]
    top = (folder / "rtl" / "top.v").read_text()
    assert "input  wire [15:0] frame_rows" in top and "frame_rows + 16'd" in top  # the padded nodes' offset
    # taller than compiled, narrower; then shorter at the full width; then the compiled size
    sizes = [(8, 6), (5, 8), (8, 6), (ROWS, COLS)]
    lrs = _frames(sizes)
    device = RtlsimDevice(folder, stall_prob=0.4)
    got = device.run_frames([lr.transpose(2, 0, 1) for lr in lrs])
    for (rows, cols), lr, image in zip(sizes, lrs, got):
        want = _want(model, lr)
        assert image.shape == want.shape == (3, 2 * rows, 2 * cols)
        diff = np.argwhere(image != want)
        assert diff.size == 0, f"{rows}x{cols}: {len(diff)} of {want.size} differ, first at {diff[0].tolist()}"


def test_whole_frame_session_and_the_refused_width(built):
    folder, model, _ = built
    sizes = [(8, 8), (11, 8)]  # HR >= 16x16: room for the 11x11 SSIM window after the border shave
    pairs = [(f"img{r}x{c}", lr, np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1))
             for (r, c), lr in zip(sizes, _frames(sizes, seed=9))]
    report = run_session(model, pairs, folder, RtlsimDevice(folder, stall_prob=0.3), frames="whole")
    assert report["frames"] == "whole" and report["halo"] == 0 and report["tiles"] == 2
    assert report["equal"] and report["mismatches"] == 0 and report["psnr_equal"], report
    wide = _frames([(8, COLS + 1)])[0]
    refusal = f"it is {COLS + 1} pixels wide and the RTL's line buffers hold {COLS}"
    with pytest.raises(FqsrError, match=re.escape(f"a 8x{COLS + 1} frame cannot stream whole: {refusal}")):
        RtlsimDevice(folder).run_frames([wide.transpose(2, 0, 1)])
    wide_pair = [("wide", wide, np.repeat(np.repeat(wide, 2, 0), 2, 1))]
    with pytest.raises(FqsrError, match=re.escape(f"whole frames are impossible here: image wide (LR 8x9) does not "
                                                  f"fit: {refusal}")):
        run_session(model, wide_pair, folder, RtlsimDevice(folder), frames="whole")
    whole, why = _whole_frames(RtlsimDevice(folder), wide_pair, "auto")  # auto: tiles, saying why
    assert not whole and why.startswith(f"image wide (LR 8x9) does not fit: {refusal}")


def test_cocotb_bench_agrees_with_the_harness_across_frame_changes(built, tmp_path):
    from fqsr.sim.verify import simulate

    folder, _, _ = built
    device = RtlsimDevice(folder)
    sizes = [(3, 5), (4, 8), (4, 8)]
    phases = [{"beats": device.host.input_beats(lr.transpose(2, 0, 1)[None]), "frame": list(size),
               "expect": device.host.beats_out_per_frame(*size), "p_gap": 0.3, "p_stall": 0.3, "seed": k}
              for k, (size, lr) in enumerate(zip(sizes, _frames(sizes, seed=4)))]
    spec = {"phases": phases, "max_cycles": 500_000}
    harness = simulate(device.sources, spec, tmp_path / "harness", "verilator", seed=0)
    bench = simulate(device.sources, spec, tmp_path / "cocotb", "cocotb", seed=0)
    assert not harness["deadlock"] and harness["extra_beats"] == bench["extra_beats"] == []
    for mine, theirs, phase in zip(harness["phases"], bench["phases"], phases, strict=True):
        assert len(mine["beats"]) == phase["expect"]
        assert (mine["beats"], mine["cycles"], mine["first_in"]) == (theirs["beats"], theirs["cycles"],
                                                                     theirs["first_in"])
    assert harness["cycles"] == bench["cycles"]


def test_verify_checks_a_second_runtime_size(built):
    from fqsr.sim.hil import check_frame_sizes, second_size

    folder, model, summary = built
    assert second_size(summary["frame"]) == (5, 6)
    report = check_frame_sizes(model, folder, stall_prob=0.3, seed=2)
    assert report["sizes"] == [[ROWS, COLS], [5, 6]] and report["equal"] and report["mismatches"] == 0
    assert report["elements"] == 3 * 4 * (ROWS * COLS + 5 * 6)


def test_verify_streams_the_compiled_frame_on_a_runtime_top(built):
    from fqsr.sim.verify import verify

    report = verify(built[0], tiles=1, stall_prob=0.3)  # its phases name no frame: the compiled one is set
    assert report["equal"] and report["mismatches"] == 0 and report["elements"] > 0
