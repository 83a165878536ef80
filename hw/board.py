"""Boards fqsr builds for, and the board top level that puts the accelerator behind a UART.

:data:`BOARDS` is the table: the open flow's Lattice ECP5 boards (ULX3S, which
get a bitstream from Yosys + nextpnr-ecp5 + ecppack) and Xilinx boards (Yosys
``synth_xilinx`` resource counts; a bitstream needs Vivado). Capacities are the
device's LUT4/LUT6, flip-flops, 18-Kbit block RAMs and multipliers/DSP slices.

``write_board_top(model_dir, board)`` writes ``build/<model>/synth/board_top.v``::

    board_top (clk_25mhz, ftdi_txd, ftdi_rxd, btn_reset, led[7:0])
      uart_stream_bridge (hw/rtl/uart_*.v)  <->  fqsr_top (build/<model>/rtl/)

One clock domain: an ECP5 PLL (``EHXPLLL``, configured by ``ecppll``: module
``fqsr_pll``) makes the design clock from the 25 MHz oscillator and clocks the
UART and the accelerator alike; :func:`fqsr.hw.synth.place_and_route` chooses
its frequency (the highest nextpnr closes timing for) and, without a PLL
(``pll_mhz=None``, as in simulation), the oscillator clocks the design. The
baud rate must divide the clock exactly (the bit period is a whole number of
cycles). Reset is held while the PLL has not locked. Reset: a short
power-on reset, or the FIRE1 button held. LEDs: 0 byte received, 1 byte sent,
2 receive-buffer overflow (sticky), 3 framing error (sticky), 4 a beat entered
the accelerator, 5 a beat left it, 7 heartbeat.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from fqsr.models.errors import FqsrError

BOARDS_DIR = Path(__file__).resolve().parent / "boards"
RTL_DIR = Path(__file__).resolve().parent / "rtl"
BRIDGE_SOURCES = ("uart_rx.v", "uart_tx.v", "uart_rx_buffer.v", "uart_stream_bridge.v")
ROLLED_BRIDGE_SOURCES = BRIDGE_SOURCES + ("uart_image_split.v",)
BOARD_TOP = "board_top"
ROLLED_CORE = "rolled_board_core"  # the rolled board top without its I/O buffers (what simulation runs)
SDRAM_LPF = "ulx3s_sdram.lpf"
PLL_MODULE = "fqsr_pll"
DEFAULT_BOARD = "ulx3s-85f"
DEFAULT_BAUD = 1_000_000  # 25 MHz / 25; the FT231X makes 1 Mbaud exactly (3 MHz / 3)


@dataclass(frozen=True)
class Board:
    name: str
    vendor: str  # "lattice": open bitstream flow; "xilinx": resource counts (bitstream with Vivado)
    target: str  # fqsr.hw.synth target: ecp5 | xc7 | xcup
    device: str  # part number
    package: str
    capacity: dict = field(default_factory=dict)  # LUT, FF, BRAM (18 Kbit), DSP
    nextpnr_device: str | None = None  # nextpnr-ecp5 device option, e.g. "85k"
    speed: int | None = None
    lpf: str | None = None
    clock_mhz: float = 100.0  # the design clock fqsr aims for (ECP5: the PLL's first target)
    oscillator_mhz: float | None = None  # the board's oscillator, where a PLL makes the design clock from it
    lut_inputs: int = 6  # LUT4 (ECP5) or LUT6 (7-series, UltraScale+)
    uram: int = 0  # 288-Kbit UltraRAM blocks (UltraScale+)

    @property
    def finn_part(self) -> str:
        """The Xilinx part FINN's estimates are made for: the board's own, else FINN's usual (ZCU104) part."""
        from fqsr.flows.compile import DEFAULT_FPGAPART  # heavy (torch, via the export stage): on demand

        return self.device if self.vendor == "xilinx" else DEFAULT_FPGAPART

    def storage_bits(self) -> int:
        """The most ROM bits the device could hold: every block RAM and UltraRAM full, and every LUT
        used as a ROM (2^inputs bits each) with no logic left over. A design whose ROMs need more
        cannot fit, whatever synthesis does."""
        return (self.capacity["BRAM"] * 18 * 1024 + self.uram * 288 * 1024
                + self.capacity["LUT"] * (1 << self.lut_inputs))


def _ecp5(name, size, luts, ebr, mult):
    return Board(name, "lattice", "ecp5", f"LFE5U-{size}F", "CABGA381",
                 {"LUT": luts, "FF": luts, "BRAM": ebr, "DSP": mult},
                 nextpnr_device=f"{size}k", speed=6, lpf="ulx3s.lpf", clock_mhz=100.0, oscillator_mhz=25.0,
                 lut_inputs=4)


BOARDS = {b.name: b for b in (
    _ecp5("ulx3s-85f", 85, 83640, 208, 156),
    _ecp5("ulx3s-45f", 45, 43848, 108, 72),
    _ecp5("ulx3s-25f", 25, 24288, 56, 28),
    Board("kv260", "xilinx", "xcup", "xck26-sfvc784-2LV-c", "sfvc784",
          {"LUT": 117120, "FF": 234240, "BRAM": 288, "DSP": 1248}, uram=64),
    Board("zcu104", "xilinx", "xcup", "xczu7ev-ffvc1156-2-e", "ffvc1156",
          {"LUT": 230400, "FF": 460800, "BRAM": 624, "DSP": 1728}, uram=96),
    Board("pynq-z2", "xilinx", "xc7", "xc7z020clg400-1", "clg400",
          {"LUT": 53200, "FF": 106400, "BRAM": 280, "DSP": 220}),
)}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise FqsrError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


def lpf_path(board: Board) -> Path:
    if board.lpf is None:
        raise FqsrError(f"board {board.name} has no open place-and-route flow (it is a {board.vendor} board)")
    return BOARDS_DIR / board.lpf


def clocks_per_bit(clock_mhz: float, baud: int) -> int:
    clock_hz = round(clock_mhz * 1e6)
    if baud <= 0 or clock_hz % baud:
        raise FqsrError(f"baud rate {baud} does not divide the {clock_mhz:g} MHz clock exactly; "
                        f"use a divisor of {clock_hz} such as {clock_hz // 25} or {clock_hz // 50}")
    if clock_hz // baud < 4:
        raise FqsrError(f"baud rate {baud} leaves fewer than 4 clock cycles per bit at {clock_mhz:g} MHz")
    return clock_hz // baud


def interface(model_dir: Path) -> dict:
    """The accelerator's stream widths (``rtl/rtl.json``) and its input beats per tile (``dataflow.onnx``)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from fqsr.flows.host import stream_format

    rtl_json = Path(model_dir) / "rtl" / "rtl.json"
    if not rtl_json.is_file():
        raise FqsrError(f"{rtl_json} does not exist; run `fqsr rtl MODEL` first")
    summary = json.loads(rtl_json.read_text())
    model = ModelWrapper(summary["dataflow"])
    _, in_lanes, _, _, _ = stream_format(model)
    elements = math.prod(model.get_tensor_shape(model.graph.input[0].name))
    frame = summary.get("frame") or {}
    return {"in_bytes": summary["in_width"] // 8, "out_bytes": summary["out_width"] // 8,
            "in_beats_per_tile": elements // in_lanes,
            "frame": frame.get("compiled") if frame.get("runtime") else None}



def power_on_reset(clock: str) -> str:
    """Verilog of the board tops' reset: ``rst_n`` rises RESET_CYCLES after configuration, after FIRE1
    (``btn_reset``, synchronized) is released and once ``pll_locked``; ``clock`` is the clock it runs on."""
    return f"""    // power-on reset (flip-flops start at 0 after configuration), FIRE1 held, and the PLL not locked
    reg [1:0] btn_sync = 2'b00;
    reg [$clog2(RESET_CYCLES + 1):0] por = 0;
    reg rst_n = 1'b0;
    always @(posedge {clock}) begin
        btn_sync <= {{btn_sync[0], btn_reset}};
        if (btn_sync[1] || !pll_locked) por <= 0;
        else if (por != RESET_CYCLES) por <= por + 1'b1;
        rst_n <= por == RESET_CYCLES;
    end"""


def status_leds(clock: str, clock_mhz: float, pulses: dict[str, str], levels: list[str], comment: str) -> str:
    """The board's 8 LEDs: ``pulses`` (register name -> event) each restart a ~20 ms pulse on their event,
    ``levels`` are LEDs 6..0 (first = LED 6, expressions over the pulses and the design's flags), LED 7 a
    heartbeat. ``comment`` says what each LED shows."""
    stretch = max(4, int(clock_mhz * 1e6 / 50).bit_length())
    ones = f"{{{stretch}{{1'b1}}}}"
    updates = "".join(f"        {name} <= {event} ? {ones} : {name} - ({name} != 0);\n" for name, event in pulses.items())
    return (f"    // {comment}\n"
            f"    reg [{stretch - 1}:0] {', '.join(f'{name} = 0' for name in pulses)};\n"
            f"    reg [{stretch + 3}:0] heartbeat = 0;\n"
            f"    always @(posedge {clock}) begin\n{updates}        heartbeat <= heartbeat + 1'b1;\n    end\n"
            f"    assign led = {{heartbeat[{stretch + 3}], {', '.join(levels)}}};\n")


def board_top_text(board: Board, in_bytes: int, out_bytes: int, buffer_depth: int, clks_per_bit: int,
                   reset_cycles: int = 1 << 16, pll_mhz: float | None = None, frame=None) -> str:
    """``frame``: (rows, cols) the board streams, for an accelerator with runtime frame geometry (the UART
    bridge carries tiles of the compiled size); None: one without the geometry ports."""
    geometry = f",\n        .frame_rows(16'd{frame[0]}), .frame_cols(16'd{frame[1]})" if frame else ""
    clock_mhz = pll_mhz or board.oscillator_mhz or board.clock_mhz
    if pll_mhz:
        clocking = f"""    wire clk, pll_locked;
    {PLL_MODULE} pll (.clkin(clk_25mhz), .clkout0(clk), .locked(pll_locked));"""
        source = f"{pll_mhz:g} MHz from the PLL ({PLL_MODULE}.v)"
    else:
        clocking = """    wire clk = clk_25mhz;
    wire pll_locked = 1'b1;"""
        source = f"{clock_mhz:g} MHz oscillator, no PLL"
    return f"""// generated by fqsr.hw.board for {board.name} ({board.device}); do not edit
// One clock domain ({source}); UART 8N1 at {clks_per_bit} cycles per bit.
module {BOARD_TOP} #(
    parameter integer CLKS_PER_BIT = {clks_per_bit},
    parameter integer RESET_CYCLES = {reset_cycles}
) (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_reset,
    output wire [7:0] led
);
{clocking}

{power_on_reset("clk")}

    wire [{in_bytes * 8 - 1}:0] in_tdata;
    wire in_tvalid, in_tready;
    wire [{out_bytes * 8 - 1}:0] out_tdata;
    wire out_tvalid, out_tready;
    wire rx_strobe, tx_busy, overflow, framing_error;

    uart_stream_bridge #(
        .CLKS_PER_BIT(CLKS_PER_BIT), .IN_BYTES({in_bytes}), .OUT_BYTES({out_bytes}),
        .BUFFER_DEPTH({buffer_depth})
    ) bridge (
        .ap_clk(clk), .ap_rst_n(rst_n), .uart_rxd(ftdi_txd), .uart_txd(ftdi_rxd),
        .m_axis_tdata(in_tdata), .m_axis_tvalid(in_tvalid), .m_axis_tready(in_tready),
        .s_axis_tdata(out_tdata), .s_axis_tvalid(out_tvalid), .s_axis_tready(out_tready),
        .rx_strobe(rx_strobe), .tx_busy(tx_busy), .overflow(overflow), .framing_error(framing_error)
    );

    fqsr_top accelerator (
        .ap_clk(clk), .ap_rst_n(rst_n),
        .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready){geometry}
    );

{status_leds("clk", clock_mhz, {"rx_led": "rx_strobe", "tx_led": "tx_busy", "in_led": "in_tvalid && in_tready",
                                   "out_led": "out_tvalid && out_tready"},
             ["1'b0", "out_led != 0", "in_led != 0", "framing_error", "overflow", "tx_led != 0", "rx_led != 0"],
             "activity LEDs: each event restarts a ~20 ms pulse")}endmodule
"""


def write_board_top(model_dir: Path, board: str | Board = DEFAULT_BOARD, baud: int = DEFAULT_BAUD,
                    clks_per_bit: int | None = None, reset_cycles: int = 1 << 16, path: Path | None = None,
                    pll_mhz: float | None = None) -> Path:
    """``build/<model>/synth/board_top.v`` (or ``path``) for ``board``; ``clks_per_bit`` overrides the baud
    and ``reset_cycles`` the power-on reset (both for simulation). ``pll_mhz``: the design clock made by
    ``fqsr_pll`` (a module the caller supplies, :func:`fqsr.hw.synth.pll_module`); None: the oscillator."""
    return _write_top(model_dir, board, baud, clks_per_bit, path, pll_mhz, interface,
                      lambda b, io, depth, cpb: board_top_text(b, io["in_bytes"], io["out_bytes"], depth, cpb,
                                                                reset_cycles, pll_mhz, io["frame"]))


def _write_top(model_dir: Path, board: str | Board, baud: int, clks_per_bit: int | None, path: Path | None,
               pll_mhz: float | None, interface_of, text_of) -> Path:
    """What both board tops' writers share: the board check, the receive buffer (one whole tile), the
    UART's clocks per bit and the atomic write; ``interface_of(model_dir)`` gives the design's stream
    sizes, ``text_of(board, io, depth, clks_per_bit)`` the Verilog."""
    from fqsr.flows.artifacts import atomic_path

    board = get_board(board) if isinstance(board, str) else board
    if board.vendor != "lattice":
        raise FqsrError(f"board {board.name} is a {board.vendor} board; the UART board top is for the ULX3S")
    io = interface_of(model_dir)
    depth = receive_buffer_depth(io["in_beats_per_tile"] * io["in_bytes"])
    cpb = clks_per_bit or clocks_per_bit(pll_mhz or board.oscillator_mhz or board.clock_mhz, baud)
    path = Path(path or Path(model_dir) / "synth" / f"{BOARD_TOP}.v")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text_of(board, io, depth, cpb))
    return path


def receive_buffer_depth(tile_bytes: int) -> int:
    """Bytes of the UART bridge's receive buffer: one whole input tile or frame (the host cannot be paused),
    rounded up to a power of two."""
    return 1 << max(4, (tile_bytes - 1).bit_length())


def bridge_sources() -> list[Path]:
    return [RTL_DIR / name for name in BRIDGE_SOURCES]


def rolled_interface(model_dir: Path) -> dict:
    """The rolled design's stream widths, input beats per tile and weight image size (``rolled/``)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from fqsr.flows.host import stream_format
    from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME, WEIGHTS_NAME

    rolled = Path(model_dir) / ROLLED_DIRNAME
    if not (rolled / SUMMARY_NAME).is_file():
        raise FqsrError(f"{rolled / SUMMARY_NAME} does not exist; run `fqsr rtl MODEL --roll body` first")
    summary = json.loads((rolled / SUMMARY_NAME).read_text())
    model = ModelWrapper(summary["dataflow"])
    _, in_lanes, _, _, _ = stream_format(model)
    elements = math.prod(model.get_tensor_shape(model.graph.input[0].name))
    return {"in_bytes": summary["interface"]["in_width"] // 8, "out_bytes": summary["interface"]["out_width"] // 8,
            "in_beats_per_tile": elements // in_lanes, "image_bytes": (rolled / WEIGHTS_NAME).stat().st_size}


def rolled_board_text(board: Board, in_bytes: int, out_bytes: int, image_bytes: int, buffer_depth: int,
                      clks_per_bit: int, reset_cycles: int = 1 << 16, pll_mhz: float | None = None,
                      core_only: bool = False) -> str:
    """The rolled design's board top: ``rolled_board_core`` (reset, UART bridge, the image/frame split,
    ``rolled_top``, LEDs; SDRAM data as separate in/out/enable wires) and ``board_top`` around it (the PLL,
    the SDRAM clock and the data pins' tristate buffers); ``core_only``: the core alone (simulation)."""
    clock_mhz = pll_mhz or board.oscillator_mhz or board.clock_mhz
    if pll_mhz:
        clocking = f"""    wire clk, pll_locked;
    {PLL_MODULE} pll (.clkin(clk_25mhz), .clkout0(clk), .locked(pll_locked));"""
        source = f"{pll_mhz:g} MHz from the PLL ({PLL_MODULE}.v)"
    else:
        clocking = """    wire clk = clk_25mhz;
    wire pll_locked = 1'b1;"""
        source = f"{clock_mhz:g} MHz oscillator, no PLL"
    sdram_out = ("sdram_cke", "sdram_cs_n", "sdram_ras_n", "sdram_cas_n", "sdram_we_n")
    return f"""// generated by fqsr.hw.board for {board.name} ({board.device}); do not edit
// The rolled design on the board. One clock domain ({source}); UART 8N1 at {clks_per_bit} cycles per bit.
// Start-up: the host sends weights.bin ({image_bytes} bytes) first; weight_loader writes it into the SDRAM and
// raises image_ok (LED 4) when its CRC matches (image_error: LED 5, reset and send it again); every byte after
// the image is frame data. No iteration starts before image_ok. The SDRAM clock is the design clock inverted
// (ODDRX1F): the chip samples commands and write data half a cycle after the controller launches them.
module {ROLLED_CORE} #(
    parameter integer CLKS_PER_BIT = {clks_per_bit},
    parameter integer RESET_CYCLES = {reset_cycles},
    parameter integer CLK_MHZ = {int(round(clock_mhz))},
    parameter integer POWERUP_US = 200,
    parameter integer T_REFI_NS = 7812
) (
    input  wire        ap_clk,
    input  wire        pll_locked,
    input  wire        uart_rxd,
    output wire        uart_txd,
    input  wire        btn_reset,
    output wire [7:0]  led,
    output wire        image_ok,
    output wire        image_error,
    output wire        iter_start,
    output wire [15:0] iter_block,
    output wire [1:0]  phase,
{chr(10).join(f"    output wire        {n}," for n in sdram_out)}
    output wire [1:0]  sdram_ba,
    output wire [12:0] sdram_a,
    output wire [1:0]  sdram_dqm,
    output wire [15:0] sdram_dq_o,
    output wire        sdram_dq_oe,
    input  wire [15:0] sdram_dq_i
);
{power_on_reset("ap_clk")}

    wire [7:0] rx_tdata, img_tdata;
    wire rx_tvalid, rx_tready, img_tvalid, img_tready, img_tlast, image_sent;
    wire [{in_bytes * 8 - 1}:0] in_tdata;
    wire in_tvalid, in_tready;
    wire [{out_bytes * 8 - 1}:0] out_tdata;
    wire out_tvalid, out_tready;
    wire rx_strobe, tx_busy, overflow, framing_error;
    wire [2:0] error_code;
    wire [31:0] frames_done;

    uart_stream_bridge #(
        .CLKS_PER_BIT(CLKS_PER_BIT), .IN_BYTES(1), .OUT_BYTES({out_bytes}), .BUFFER_DEPTH({buffer_depth})
    ) bridge (
        .ap_clk(ap_clk), .ap_rst_n(rst_n), .uart_rxd(uart_rxd), .uart_txd(uart_txd),
        .m_axis_tdata(rx_tdata), .m_axis_tvalid(rx_tvalid), .m_axis_tready(rx_tready),
        .s_axis_tdata(out_tdata), .s_axis_tvalid(out_tvalid), .s_axis_tready(out_tready),
        .rx_strobe(rx_strobe), .tx_busy(tx_busy), .overflow(overflow), .framing_error(framing_error)
    );

    uart_image_split #(.IMAGE_BYTES({image_bytes}), .OUT_BYTES({in_bytes})) split (
        .ap_clk(ap_clk), .ap_rst_n(rst_n), .s_tdata(rx_tdata), .s_tvalid(rx_tvalid), .s_tready(rx_tready),
        .img_tdata(img_tdata), .img_tvalid(img_tvalid), .img_tready(img_tready), .img_tlast(img_tlast),
        .m_tdata(in_tdata), .m_tvalid(in_tvalid), .m_tready(in_tready), .image_sent(image_sent)
    );

    rolled_top #(.CLK_MHZ(CLK_MHZ), .POWERUP_US(POWERUP_US), .T_REFI_NS(T_REFI_NS)) accelerator (
        .ap_clk(ap_clk), .ap_rst_n(rst_n),
        .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready),
        .img_tdata(img_tdata), .img_tvalid(img_tvalid), .img_tready(img_tready), .img_tlast(img_tlast),
        .image_ok(image_ok), .image_error(image_error), .error_code(error_code),
        .iter_start(iter_start), .iter_block(iter_block), .phase(phase), .frames_done(frames_done),
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_cs_n), .sdram_ras_n(sdram_ras_n), .sdram_cas_n(sdram_cas_n),
        .sdram_we_n(sdram_we_n), .sdram_ba(sdram_ba), .sdram_a(sdram_a), .sdram_dqm(sdram_dqm),
        .sdram_dq_o(sdram_dq_o), .sdram_dq_oe(sdram_dq_oe), .sdram_dq_i(sdram_dq_i)
    );

{status_leds("ap_clk", clock_mhz, {"rx_led": "rx_strobe", "tx_led": "tx_busy"},
             ["frames_done[0]", "image_error", "image_ok", "framing_error", "overflow", "tx_led != 0", "rx_led != 0"],
             "LEDs: 0 byte received, 1 byte sent, 2 receive-buffer overflow, 3 framing error, 4 image_ok, "
             "5 image_error, 6 a frame finished (toggles), 7 heartbeat")}endmodule
""" + ("" if core_only else f"""
module {BOARD_TOP} (
    input  wire        clk_25mhz,
    input  wire        ftdi_txd,
    output wire        ftdi_rxd,
    input  wire        btn_reset,
    output wire [7:0]  led,
    output wire        sdram_clk,
    output wire        sdram_cke,
    output wire        sdram_csn,
    output wire        sdram_rasn,
    output wire        sdram_casn,
    output wire        sdram_wen,
    output wire [1:0]  sdram_ba,
    output wire [12:0] sdram_a,
    output wire [1:0]  sdram_dqm,
    inout  wire [15:0] sdram_d
);
{clocking}
    wire [15:0] dq_o;
    wire dq_oe;
    wire image_ok, image_error, iter_start;
    wire [15:0] iter_block;
    wire [1:0] phase;

    {ROLLED_CORE} core (
        .ap_clk(clk), .pll_locked(pll_locked), .uart_rxd(ftdi_txd), .uart_txd(ftdi_rxd), .btn_reset(btn_reset),
        .led(led), .image_ok(image_ok), .image_error(image_error), .iter_start(iter_start),
        .iter_block(iter_block), .phase(phase),
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_csn), .sdram_ras_n(sdram_rasn), .sdram_cas_n(sdram_casn),
        .sdram_we_n(sdram_wen), .sdram_ba(sdram_ba), .sdram_a(sdram_a), .sdram_dqm(sdram_dqm),
        .sdram_dq_o(dq_o), .sdram_dq_oe(dq_oe), .sdram_dq_i(sdram_d)
    );

    ODDRX1F sdram_clock (.SCLK(clk), .RST(1'b0), .D0(1'b0), .D1(1'b1), .Q(sdram_clk));
    assign sdram_d = dq_oe ? dq_o : 16'hzzzz;
endmodule
""")


def write_rolled_board_top(model_dir: Path, board: str | Board = DEFAULT_BOARD, baud: int = DEFAULT_BAUD,
                           clks_per_bit: int | None = None, reset_cycles: int = 1 << 16, path: Path | None = None,
                           pll_mhz: float | None = None) -> Path:
    """``build/<model>/synth/board_top.v`` (or ``path``) for the rolled design (``rolled/``); arguments as
    :func:`write_board_top`'s."""
    return _write_top(model_dir, board, baud, clks_per_bit, path, pll_mhz, rolled_interface,
                      lambda b, io, depth, cpb: rolled_board_text(b, io["in_bytes"], io["out_bytes"],
                                                                   io["image_bytes"], depth, cpb, reset_cycles,
                                                                   pll_mhz))


def rolled_bridge_sources() -> list[Path]:
    return [RTL_DIR / name for name in ROLLED_BRIDGE_SOURCES]
