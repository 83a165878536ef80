"""The board's UART link: the byte protocol, the board top (bridge + stitched network) driven bit by bit
in cocotb against FINN's execution of the same dataflow.onnx, and the serial device's errors."""
import json

import numpy as np
import pytest

from conftest import calibrated, small
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, equality_tiles, export, load_qonnx
from fqsr.hw.board import BOARDS, clocks_per_bit, write_board_top
from fqsr.hw.synth import next_clock, pll_module
from fqsr.hw.stitch import generate_rtl
from fqsr.models.errors import FqsrError
from fqsr.sim.axis import pack_beats
from fqsr.flows.host import HostInterface
from fqsr.sim.link import SerialDevice, UartRtlDevice, decode, encode
from fqsr.sim.verify import reference


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A 1-block tiny_w4a4_mp (8-bit skip stream: a 3-byte input beat) on 4x4 tiles, and FINN's reference."""
    folder = tmp_path_factory.mktemp("uart-net")
    model = calibrated(small("tiny_w4a4_mp", features=4, blocks=1))
    export(model, tile=(4, 4), random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    fmt = HostInterface.load(folder)
    frames = reference(load_qonnx(folder / DATAFLOW_NAME), equality_tiles(3, (4, 4), 1, seed=5))
    # reference(): (name, NHWC input integers, NHWC output integers); the host tiles are NCHW uint8
    tiles = np.concatenate([x.transpose(0, 3, 1, 2) for _, x, _ in frames]).astype(np.uint8)
    want = np.concatenate([y.transpose(fmt.output_perm) for _, _, y in frames])
    return folder, fmt, tiles, want, frames


def test_protocol_is_the_stream_beats_in_bytes(network):
    folder, fmt, tiles, want, frames = network
    # the first sliding window and its padding take the first MVAU's SIMD (1): one channel per input beat
    assert (fmt.in_bytes, fmt.out_bytes) == (1, 1) and fmt.tile_shape == (3, 4, 4)
    data = encode(tiles, fmt)
    beats = [b for _, x, _ in frames for b in pack_beats(x, fmt.in_bits, fmt.in_lanes)]
    assert data == b"".join(b.to_bytes(1, "little") for b in beats)
    out = b"".join(int(v).to_bytes(1, "little") for _, _, y in frames for v in y.reshape(-1))
    assert np.array_equal(decode(out, want.shape, fmt), want)
    with pytest.raises(FqsrError, match="do not match the compiled tile"):
        encode(tiles[:, :1], fmt)
    with pytest.raises(FqsrError, match="expected 384"):
        decode(out[:-1], want.shape, fmt)


def test_board_top_over_uart_equals_finn(network):
    folder, fmt, tiles, want, _ = network
    device = UartRtlDevice(folder, clks_per_bit=4, sim="verilator", seed=2)
    got = device.run(tiles)
    assert got.shape == want.shape == (2, 3, 8, 8)
    mismatches = np.flatnonzero(got != want)
    assert mismatches.size == 0, f"{mismatches.size} elements differ, first at {mismatches[0]}"
    result = device.last_result
    assert result["framing_errors"] == [] and not result["timeout"]
    assert len(result["bytes"]) == want.size  # nothing extra after the last expected byte
    led = result["led"]
    assert not led & 0b1100  # no receive-buffer overflow, no framing error


def test_serial_device_without_a_port_is_one_clear_error(network):
    folder = network[0]
    with pytest.raises(FqsrError, match="serial port /dev/fqsr-no-such-port cannot be opened"):
        SerialDevice("/dev/fqsr-no-such-port", 1_000_000, model_dir=folder)


def test_baud_must_divide_the_clock(network, tmp_path):
    assert clocks_per_bit(25.0, 1_000_000) == 25
    with pytest.raises(FqsrError, match="does not divide the 25 MHz clock exactly"):
        clocks_per_bit(25.0, 115200)
    top = write_board_top(network[0], "ulx3s-85f", path=tmp_path / "board_top.v").read_text()
    assert "CLKS_PER_BIT = 25" in top and ".IN_BYTES(1), .OUT_BYTES(1)" in top
    assert json.loads((network[0] / "rtl" / "rtl.json").read_text())["in_width"] == 8
    assert "fqsr_pll" not in top and "clk = clk_25mhz" in top  # simulation: the oscillator clocks the design


def test_the_pll_makes_the_design_clock_and_the_uart_counts_its_cycles(network, tmp_path):
    board = BOARDS["ulx3s-85f"]
    assert board.oscillator_mhz == 25.0 and board.clock_mhz == 100.0
    top = write_board_top(network[0], board, pll_mhz=100.0, path=tmp_path / "board_top.v").read_text()
    assert "CLKS_PER_BIT = 100" in top and "fqsr_pll pll (.clkin(clk_25mhz), .clkout0(clk)" in top
    assert "if (btn_sync[1] || !pll_locked) por <= 0;" in top  # reset held until the PLL locks
    pll = pll_module(board, 100.0, tmp_path).read_text()  # ecppll's own configuration
    assert "EHXPLLL" in pll and 'FREQUENCY_PIN_CLKOP="100"' in pll and "module fqsr_pll" in pll
    with pytest.raises(FqsrError, match="cannot make exactly 97 MHz from the 25 MHz oscillator"):
        pll_module(board, 97.0, tmp_path)
    # a failed attempt steps down to the highest multiple of 5 MHz 3 % below its Fmax, not below the oscillator
    assert next_clock(48.3, 100.0, board) == 45.0 and next_clock(20.0, 100.0, board) == 25.0
    assert next_clock(26.0, 25.0, board) is None and next_clock(99.0, 100.0, board) == 95.0
