"""The video board top: an LR frame loaded once over the UART, upscaled again and again by the accelerator, and
the result shown continuously on the ULX3S's GPDI (HDMI) port.

``write_video_board_top(model_dir)`` writes ``build/<model>/video/board_top.v``::

    video_board_core (design clock clk; pixel clock pix_clk and its 5x clk_x5)
      uart_stream_bridge -> frame_loop (LR frame RAM, replayed) -> fqsr_top -> video_frame (HR frame RAM,
      dual-clock) -> raster + TMDS (dvi_out) -> 2-bit DDR words
    board_top: fqsr_pll (design clock, as the UART board top's) + fqsr_video_pll (the 5x and pixel clocks,
      one EHXPLLL from the 25 MHz oscillator) + ODDRX1F on gpdi_dp[3:0] (LVCMOS33D: the pins drive their pairs)

The accelerator must be compiled for the whole LR frame as its tile (``--tile ROWSxCOLS``): the frame RAM
holds one tile's beats and replays them. Its output must be 8-bit unsigned pixels with 1 (gray) or 3 (RGB)
channels. The UART answers each whole LR frame received with one byte, :data:`ACK`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fqsr.hw.board import (BOARD_TOP, BRIDGE_SOURCES, DEFAULT_BAUD, DEFAULT_BOARD, PLL_MODULE, RTL_DIR, Board,
                           _write_top, interface, power_on_reset, status_leds)
from fqsr.models.errors import FqsrError

VIDEO_CORE = "video_board_core"
VIDEO_PLL_MODULE = "fqsr_video_pll"
VIDEO_DIRNAME = "video"
GPDI_LPF = "ulx3s_gpdi.lpf"
VIDEO_SOURCES = ("frame_ram.v", "frame_loop.v", "counter_chain.v", "video_timing.v", "tmds_encoder.v", "dvi_out.v",
                 "video_frame.v")
ACK = 0x06  # the byte the board sends back for each whole LR frame it has stored
UART_BUFFER_BYTES = 16  # the frame RAM takes a beat every cycle, so the receive buffer never fills


@dataclass(frozen=True)
class Timing:
    """A raster: active, front porch, sync, back porch per axis; positive syncs (hw/rtl/video_timing.v)."""

    h_active: int
    h_front: int
    h_sync: int
    h_back: int
    v_active: int
    v_front: int
    v_sync: int
    v_back: int

    @property
    def h_total(self) -> int:
        return self.h_active + self.h_front + self.h_sync + self.h_back

    @property
    def v_total(self) -> int:
        return self.v_active + self.v_front + self.v_sync + self.v_back

    def signals(self, x: int, y: int) -> tuple[bool, int, int]:
        """(de, hsync, vsync) at position (x, y), as hw/rtl/video_timing.v makes them."""
        de = x < self.h_active and y < self.v_active
        hsync = int(self.h_active + self.h_front <= x < self.h_active + self.h_front + self.h_sync)
        vsync = int(self.v_active + self.v_front <= y < self.v_active + self.v_front + self.v_sync)
        return de, hsync, vsync

    def parameters(self) -> dict:
        return {"H_ACTIVE": self.h_active, "H_FRONT": self.h_front, "H_SYNC": self.h_sync, "H_BACK": self.h_back,
                "V_ACTIVE": self.v_active, "V_FRONT": self.v_front, "V_SYNC": self.v_sync, "V_BACK": self.v_back}

    @property
    def frame_cycles(self) -> int:
        return self.h_total * self.v_total


@dataclass(frozen=True)
class VideoMode(Timing):
    """A named raster and its pixel clock."""

    name: str
    pixel_mhz: float


MODES = {"720p": VideoMode(1280, 110, 40, 220, 720, 5, 5, 20, name="720p", pixel_mhz=74.25)}  # CEA-861 1280x720 at 60 Hz
DEFAULT_MODE = "720p"


def video_interface(model_dir: Path) -> dict:
    """The UART board top's interface plus what the video path needs: the HR image (channels, rows, cols)
    and the output beat's 8-bit lanes; one sentence when the accelerator's output cannot be shown."""
    from fqsr.flows.host import HostInterface

    io = interface(model_dir)
    fmt = HostInterface.load(model_dir)
    channels, rows, cols = fmt.output_tile_shape
    if fmt.out_bits != 8 or fmt.out_signed:
        raise FqsrError(f"the video top shows 8-bit unsigned pixels; this accelerator's output elements are "
                        f"{fmt.out_bits}-bit {'signed' if fmt.out_signed else 'unsigned'}")
    if channels not in (1, 3) or channels % fmt.out_lanes:
        raise FqsrError(f"the video top shows 1 (gray) or 3 (RGB) channels, a whole number of output beats per "
                        f"pixel; this accelerator writes {channels} channels {fmt.out_lanes} per beat")
    if tuple(fmt.output_perm) != (0, 3, 1, 2):
        raise FqsrError("the video top needs the output stream in raster order, channels fastest (NHWC); this "
                        f"accelerator's output layout is {tuple(fmt.output_perm)}")
    return {**io, "channels": channels, "rows": rows, "cols": cols, "lanes": fmt.out_lanes}


def fit_repeat(rows: int, cols: int, mode: VideoMode) -> int:
    """The largest whole pixel repeat that shows a ``rows`` x ``cols`` image inside ``mode``'s active area."""
    repeat = min(mode.h_active // cols, mode.v_active // rows)
    if repeat < 1:
        raise FqsrError(f"a {cols}x{rows} image does not fit the {mode.h_active}x{mode.v_active} raster of {mode.name}")
    return repeat


def video_core_text(io: dict, clks_per_bit: int, repeat: int, mode: VideoMode, reset_cycles: int = 1 << 16,
                    clock_mhz: float = 25.0, bank_words: int = 2048) -> str:
    """``video_board_core``: reset, the UART bridge, the LR frame loop, ``fqsr_top``, the HR frame and raster."""
    frame = io["frame"]
    geometry = f",\n        .frame_rows(16'd{frame[0]}), .frame_cols(16'd{frame[1]})" if frame else ""
    params = ", ".join(f".{k}({v})" for k, v in mode.parameters().items())
    in_width, out_width = io["in_bytes"] * 8, io["out_bytes"] * 8
    return f"""// generated by fqsr.hw.video; do not edit
// The video board's core: an LR frame of {io['in_beats_per_tile']} beats loaded over the UART (8N1, {clks_per_bit}
// cycles per bit; one byte {ACK:#04x} back per whole frame stored), replayed into the accelerator frame after
// frame; its {io['cols']}x{io['rows']} output ({io['channels']} channel(s)) held in a dual-clock frame RAM and shown
// {repeat}x{repeat} per pixel on a {mode.h_active}x{mode.v_active} raster ({mode.name}). Clocks: clk (the design's),
// pix_clk and clk_x5 (5x pix_clk, edges aligned).
module {VIDEO_CORE} #(
    parameter integer CLKS_PER_BIT = {clks_per_bit},
    parameter integer RESET_CYCLES = {reset_cycles}
) (
    input  wire       clk,
    input  wire       pll_locked,
    input  wire       pix_clk,
    input  wire       clk_x5,
    input  wire       video_locked,
    input  wire       uart_rxd,
    output wire       uart_txd,
    input  wire       btn_reset,
    output wire [7:0] led,
    output wire       lr_loaded,
    output wire       frame_written,
    output wire [31:0] frames_written,
    output wire       showing,
    output wire [1:0] ddr_red,
    output wire [1:0] ddr_green,
    output wire [1:0] ddr_blue,
    output wire [1:0] ddr_clock
);
{power_on_reset("clk")}

    wire [{in_width - 1}:0] rx_tdata, in_tdata;
    wire rx_tvalid, rx_tready, in_tvalid, in_tready;
    wire [{out_width - 1}:0] out_tdata;
    wire out_tvalid, out_tready;
    wire rx_strobe, tx_busy, overflow, framing_error, frame_received, ack_tready;
    reg ack_pending;

    uart_stream_bridge #(
        .CLKS_PER_BIT(CLKS_PER_BIT), .IN_BYTES({io['in_bytes']}), .OUT_BYTES(1), .BUFFER_DEPTH({UART_BUFFER_BYTES})
    ) bridge (
        .ap_clk(clk), .ap_rst_n(rst_n), .uart_rxd(uart_rxd), .uart_txd(uart_txd),
        .m_axis_tdata(rx_tdata), .m_axis_tvalid(rx_tvalid), .m_axis_tready(rx_tready),
        .s_axis_tdata(8'h{ACK:02x}), .s_axis_tvalid(ack_pending), .s_axis_tready(ack_tready),
        .rx_strobe(rx_strobe), .tx_busy(tx_busy), .overflow(overflow), .framing_error(framing_error)
    );
    always @(posedge clk) begin
        if (!rst_n) ack_pending <= 1'b0;
        else if (frame_received) ack_pending <= 1'b1;
        else if (ack_tready) ack_pending <= 1'b0;
    end

    frame_loop #(.WIDTH({in_width}), .BEATS({io['in_beats_per_tile']})) lr_frame (
        .ap_clk(clk), .ap_rst_n(rst_n), .s_tdata(rx_tdata), .s_tvalid(rx_tvalid), .s_tready(rx_tready),
        .m_tdata(in_tdata), .m_tvalid(in_tvalid), .m_tready(in_tready), .loaded(lr_loaded),
        .frame_received(frame_received)
    );

    fqsr_top accelerator (
        .ap_clk(clk), .ap_rst_n(rst_n),
        .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready){geometry}
    );

    video_frame #(
        .FRAME_W({io['cols']}), .FRAME_H({io['rows']}), .CHANNELS({io['channels']}), .LANES({io['lanes']}),
        .REPEAT({repeat}), .BANK_WORDS({bank_words}), {params}
    ) hr_frame (
        .ap_clk(clk), .ap_rst_n(rst_n), .s_tdata(out_tdata), .s_tvalid(out_tvalid), .s_tready(out_tready),
        .frame_written(frame_written), .frames_written(frames_written),
        .pix_clk(pix_clk), .clk_x5(clk_x5), .pix_rst_n(rst_n && video_locked), .showing(showing),
        .ddr_red(ddr_red), .ddr_green(ddr_green), .ddr_blue(ddr_blue), .ddr_clock(ddr_clock)
    );

{status_leds("clk", clock_mhz, {"rx_led": "rx_strobe", "tx_led": "tx_busy"},
             ["frames_written[6]", "frame_written", "lr_loaded", "framing_error", "overflow", "tx_led != 0",
              "rx_led != 0"],
             "LEDs: 0 byte received, 1 byte sent, 2 receive-buffer overflow, 3 framing error, 4 LR frame "
             "stored, 5 an HR frame written, 6 HR frames written (toggles), 7 heartbeat")}endmodule
"""


def video_top_text(clock_mhz: float, pll: bool, pixel_mhz: float) -> str:
    """``board_top`` around the core: the two PLLs and the GPDI pins' DDR output cells."""
    if pll:
        clocking = f"""    wire clk, pll_locked;
    {PLL_MODULE} pll (.clkin(clk_25mhz), .clkout0(clk), .locked(pll_locked));"""
    else:
        clocking = """    wire clk = clk_25mhz;
    wire pll_locked = 1'b1;"""
    pins = "\n".join(f"    ODDRX1F tmds_{name} (.SCLK(clk_x5), .RST(1'b0), .D0(ddr_{name}[0]), .D1(ddr_{name}[1]), "
                     f".Q(gpdi_dp[{index}]));" for index, name in enumerate(("blue", "green", "red", "clock")))
    return f"""
// The ULX3S: design clock {clock_mhz:g} MHz ({'fqsr_pll' if pll else 'the oscillator'}); pixel clock {pixel_mhz:g} MHz
// and its 5x ({5 * pixel_mhz:g} MHz) from {VIDEO_PLL_MODULE}; TMDS on gpdi_dp[3:0] = clock, red, green, blue
// (LVCMOS33D: each pin drives its gpdi_dn complement).
module {BOARD_TOP} (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_reset,
    output wire [7:0] led,
    output wire [3:0] gpdi_dp
);
{clocking}
    wire clk_x5, pix_clk, video_locked;
    {VIDEO_PLL_MODULE} video_pll (.clkin(clk_25mhz), .clkout0(clk_x5), .clkout1(pix_clk), .locked(video_locked));
    wire [1:0] ddr_red, ddr_green, ddr_blue, ddr_clock;
    wire lr_loaded, frame_written, showing;
    wire [31:0] frames_written;

    {VIDEO_CORE} core (
        .clk(clk), .pll_locked(pll_locked), .pix_clk(pix_clk), .clk_x5(clk_x5), .video_locked(video_locked),
        .uart_rxd(ftdi_txd), .uart_txd(ftdi_rxd), .btn_reset(btn_reset), .led(led), .lr_loaded(lr_loaded),
        .frame_written(frame_written), .frames_written(frames_written), .showing(showing),
        .ddr_red(ddr_red), .ddr_green(ddr_green), .ddr_blue(ddr_blue), .ddr_clock(ddr_clock)
    );

{pins}
endmodule
"""


def write_video_board_top(model_dir: Path, board: str | Board = DEFAULT_BOARD, mode: VideoMode | str = DEFAULT_MODE,
                          repeat: int | None = None, baud: int = DEFAULT_BAUD, clks_per_bit: int | None = None,
                          reset_cycles: int = 1 << 16, path: Path | None = None, pll_mhz: float | None = None,
                          pixel_mhz: float | None = None, core_only: bool = False, bank_words: int = 2048) -> Path:
    """``build/<model>/video/board_top.v`` (or ``path``): the core and, unless ``core_only`` (simulation), the
    board top around it. ``repeat``: the pixel repeat (default: the largest that fits ``mode``); ``pll_mhz``:
    the design clock from ``fqsr_pll`` (None: the oscillator); ``pixel_mhz``: the pixel clock the video PLL
    makes (a comment; default the mode's); ``bank_words``: the HR frame RAM's bank size (2048: one DP16KD per
    bank at 8 bits; smaller in tests, so a small image spans several banks)."""
    mode = MODES[mode] if isinstance(mode, str) else mode
    found = {}

    def interface_of(folder):
        found.update(video_interface(folder))
        return found

    def text_of(spec, io, _depth, cpb):
        rep = repeat or fit_repeat(io["rows"], io["cols"], mode)
        if io["cols"] * rep > mode.h_active or io["rows"] * rep > mode.v_active:
            raise FqsrError(f"a {io['cols']}x{io['rows']} image repeated {rep} times does not fit the "
                            f"{mode.h_active}x{mode.v_active} raster of {mode.name}")
        clock = pll_mhz or spec.oscillator_mhz
        core = video_core_text(io, cpb, rep, mode, reset_cycles, clock, bank_words)
        return core if core_only else core + video_top_text(clock, bool(pll_mhz), pixel_mhz or mode.pixel_mhz)

    path = Path(path or Path(model_dir) / VIDEO_DIRNAME / f"{BOARD_TOP}.v")
    return _write_top(model_dir, board, baud, clks_per_bit, path, pll_mhz, interface_of, text_of)


def video_sources(rtl_dir: Path | None = None) -> list[Path]:
    """The RTL the video core adds to the accelerator's: the UART bridge, frame RAMs, raster, TMDS; without the
    files ``rtl_dir`` (the accelerator's ``rtl/``) already has (``counter_chain.v``: one module, defined once)."""
    have = {path.name for path in Path(rtl_dir).iterdir()} if rtl_dir else set()
    return [RTL_DIR / name for name in (*BRIDGE_SOURCES, *VIDEO_SOURCES) if name not in have]


def video_pll_module(board: Board, pixel_mhz: float, work: Path) -> tuple[Path, float]:
    """``work/fqsr_video_pll.v``: ecppll's EHXPLLL making the 5x clock (CLKOP) and the pixel clock (CLKOS) from
    one VCO; (the file, the pixel clock reached). The PLL's dividers reach only some frequencies: the 5x clock is
    the nearest ecppll makes to 5 x ``pixel_mhz``, and the pixel clock exactly a fifth of it, or one sentence."""
    from fqsr.hw.synth import run_tool, tool

    path = work / f"{VIDEO_PLL_MODULE}.v"

    def make(x5_mhz, pix_mhz):
        run_tool(tool("ecppll") + ["-i", f"{board.oscillator_mhz:g}", "-o", f"{x5_mhz:g}", "--clkout1", f"{pix_mhz:g}",
                                   "--module", VIDEO_PLL_MODULE, "-f", path.name], work, "ecppll-video.log")
        text = path.read_text()
        return (float(re.search(r'FREQUENCY_PIN_CLKOP="([0-9.]+)"', text).group(1)),
                float(re.search(r'FREQUENCY_PIN_CLKOS="([0-9.]+)"', text).group(1)))

    x5, _ = make(5 * pixel_mhz, pixel_mhz)  # the 5x clock the VCO reaches nearest to the mode's
    x5, pix = make(x5, x5 / 5)
    if abs(5 * pix - x5) > 1e-6 or abs(pix - pixel_mhz) / pixel_mhz > 0.005:
        raise FqsrError(f"the ECP5 PLL cannot make a {pixel_mhz:g} MHz pixel clock (within 0.5 %) and exactly 5x it "
                        f"from the {board.oscillator_mhz:g} MHz oscillator (nearest: {pix:g} and {x5:g} MHz)")
    return path, pix


def synthesize_video(model_dir: Path, mode: VideoMode | str = DEFAULT_MODE, repeat: int | None = None,
                     clock_mhz: float | None = None, board: str = DEFAULT_BOARD, place: bool = False, seed: int = 1,
                     timeout_s: float | None = None) -> dict:
    """Yosys ``synth_ecp5`` of the video board top (``rtl/`` + the video RTL + both PLLs) and, with ``place``,
    nextpnr-ecp5 on the ULX3S pins (``ulx3s.lpf`` + ``ulx3s_gpdi.lpf``) and ecppack; writes
    ``video/resources.json`` (and ``video/pnr.json``, ``video/<model>.bit``). ``clock_mhz``: the design clock
    (default: the board's; the oscillator's needs no PLL). Fmax is reported per clock (design, pixel, 5x)."""
    import shutil

    from fqsr.flows.artifacts import write_json
    from fqsr.hw.board import BOARDS_DIR, get_board, lpf_path
    from fqsr.hw.synth import (_fmax_all, _module_cells, _stat, design_of, flatten_cells, kinds_of, nextpnr_ecp5,
                               pll_module, run_tool, scratch, stage_rtl, tool, utilization)

    mode = MODES[mode] if isinstance(mode, str) else mode
    spec = get_board(board)
    model_dir = Path(model_dir)
    clock = float(clock_mhz or spec.clock_mhz)
    pll = clock != spec.oscillator_mhz
    out_dir = model_dir / VIDEO_DIRNAME
    out_dir.mkdir(parents=True, exist_ok=True)
    with scratch(out_dir, "video") as work:
        rtl = design_of(model_dir)["dir"]
        sources = stage_rtl(rtl, work)
        for src in video_sources(rtl):
            shutil.copy(src, work / src.name)
        _, pixel_mhz = video_pll_module(spec, mode.pixel_mhz, work)
        top = write_video_board_top(model_dir, spec, mode, repeat, pll_mhz=clock if pll else None,
                                    pixel_mhz=pixel_mhz, path=work / f"{BOARD_TOP}.v")
        shutil.copy(top, out_dir / top.name)
        sources += [src.name for src in video_sources(rtl)] + [top.name, f"{VIDEO_PLL_MODULE}.v"]
        if pll:
            sources.append(pll_module(spec, clock, work).name)
        script = [f"read_verilog -defer -sv {' '.join(sources)}", f"hierarchy -top {BOARD_TOP}",
                  f"synth_ecp5 -top {BOARD_TOP}", "tee -q -o stat.json stat -json", "write_json board.json"]
        (work / "synth.ys").write_text("\n".join(script) + "\n")
        yosys_s = run_tool(tool("yosys") + ["-q", "-l", "yosys.log", "synth.ys"], work, "yosys.out", timeout_s)
        cells = flatten_cells(_module_cells(_stat(work, "stat.json")), BOARD_TOP)
        report = {"board": spec.name, "mode": mode.name, "clock_mhz": clock, "pixel_mhz": pixel_mhz,
                  "x5_mhz": 5 * pixel_mhz, "total": kinds_of(cells), "cells": dict(sorted(cells.items())),
                  "yosys_s": round(yosys_s, 1)}
        if place:
            lpf = lpf_path(spec).read_text() + "\n" + (BOARDS_DIR / GPDI_LPF).read_text()
            (work / "board.lpf").write_text(lpf)
            pnr, nextpnr_s = nextpnr_ecp5(spec, work, "board.lpf", seed, timeout_s)
            run_tool(tool("ecppack") + ["--compress", "board.config", "board.bit"], work, "ecppack.log", timeout_s)
            shutil.move(str(work / "board.bit"), out_dir / f"{model_dir.resolve().name}.bit")
            report["pnr"] = {"fmax_mhz": _fmax_all(pnr), "nextpnr_s": round(nextpnr_s, 1), "seed": seed,
                             "utilization": utilization(pnr)}
    write_json(out_dir / "resources.json", report)
    return report
