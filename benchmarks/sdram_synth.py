"""Yosys synth_ecp5 resource counts of the SDRAM controller and the weight memory (controller + loader), and
nextpnr-ecp5 Fmax of the weight memory on the ULX3S's LFE5U-85F (speed 6, CABGA381), pins unconstrained.

    python benchmarks/sdram_synth.py [--out build/sdram_synth] [--clock-mhz 100] [--seed 1]

The place-and-route top is weight_memory with its 16 data pins as real tristate pins (``sdram_dq``); every
other port is a pin, so nothing is optimized away. Writes ``sdram_synth.json`` in ``--out``.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from fqsr.hw.generate import RTL_DIR
from fqsr.hw.synth import _fmax, kinds_of, run_tool, tool

SOURCES = ["sdram_ctrl.v", "stream_fifo.v", "weight_loader.v", "weight_memory.v"]
TOP = """`default_nettype none
// weight_memory with the chip's data pins as tristate pins
module sdram_pnr_top (
    input wire clk, input wire rst_n,
    input wire [7:0] img_tdata, input wire img_tvalid, output wire img_tready, input wire img_tlast,
    output wire image_ok, output wire image_error, output wire [2:0] error_code, output wire [31:0] payload_bytes,
    input wire u_cmd_valid, output wire u_cmd_ready, input wire u_cmd_write, input wire [23:0] u_cmd_addr,
    input wire [7:0] u_cmd_len, input wire [15:0] u_wr_tdata, input wire u_wr_tvalid, output wire u_wr_tready,
    output wire [15:0] u_rd_tdata, output wire u_rd_tvalid, input wire u_rd_tready,
    output wire sdram_cke, output wire sdram_csn, output wire sdram_rasn, output wire sdram_casn,
    output wire sdram_wen, output wire [1:0] sdram_ba, output wire [12:0] sdram_a, output wire [1:0] sdram_dqm,
    inout wire [15:0] sdram_d
);
    wire [15:0] dq_o;
    wire dq_oe;
    assign sdram_d = dq_oe ? dq_o : 16'bz;
    weight_memory #(.CLK_MHZ(CLOCK)) mem (
        .ap_clk(clk), .ap_rst_n(rst_n),
        .img_tdata(img_tdata), .img_tvalid(img_tvalid), .img_tready(img_tready), .img_tlast(img_tlast),
        .image_ok(image_ok), .image_error(image_error), .error_code(error_code), .payload_bytes(payload_bytes),
        .u_cmd_valid(u_cmd_valid), .u_cmd_ready(u_cmd_ready), .u_cmd_write(u_cmd_write), .u_cmd_addr(u_cmd_addr),
        .u_cmd_len(u_cmd_len), .u_wr_tdata(u_wr_tdata), .u_wr_tvalid(u_wr_tvalid), .u_wr_tready(u_wr_tready),
        .u_rd_tdata(u_rd_tdata), .u_rd_tvalid(u_rd_tvalid), .u_rd_tready(u_rd_tready),
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_csn), .sdram_ras_n(sdram_rasn), .sdram_cas_n(sdram_casn),
        .sdram_we_n(sdram_wen), .sdram_ba(sdram_ba), .sdram_a(sdram_a), .sdram_dqm(sdram_dqm),
        .sdram_dq_o(dq_o), .sdram_dq_oe(dq_oe), .sdram_dq_i(sdram_d));
endmodule
`default_nettype wire
"""


def synthesize(work: Path, top: str, clock_mhz: int) -> dict:
    script = [f"read_verilog -sv {' '.join(SOURCES)} sdram_pnr_top.v", f"chparam -set CLK_MHZ {clock_mhz} {top}"
              if top != "sdram_pnr_top" else "", f"synth_ecp5 -top {top} -json {top}.json",
              f"tee -q -o {top}.stat.json stat -json"]
    (work / f"{top}.ys").write_text("\n".join(line for line in script if line) + "\n")
    seconds = run_tool(tool("yosys") + ["-q", "-l", f"{top}.yosys.log", f"{top}.ys"], work, f"{top}.yosys.out")
    stat = json.loads((work / f"{top}.stat.json").read_text())
    cells = {t.lstrip("\\"): int(n) for t, n in stat["modules"][f"\\{top}"]["num_cells_by_type"].items()}
    return {"cells": cells, "kinds": kinds_of(cells), "yosys_s": round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/sdram_synth"))
    parser.add_argument("--clock-mhz", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:  # the yowasp tools read files below their working directory only
        shutil.copy(RTL_DIR / name, work / name)
    (work / "sdram_pnr_top.v").write_text(TOP.replace("CLOCK", str(args.clock_mhz)))
    result = {"clock_mhz": args.clock_mhz}
    for top in ("sdram_ctrl", "weight_memory", "sdram_pnr_top"):
        result[top] = synthesize(work, top, args.clock_mhz)
        print(top, result[top]["kinds"], result[top]["cells"])
    argv = tool("nextpnr-ecp5") + ["--85k", "--package", "CABGA381", "--speed", "6", "--json", "sdram_pnr_top.json",
                                   "--lpf-allow-unconstrained", "--freq", str(args.clock_mhz), "--report",
                                   "report.json", "--timing-allow-fail", "--seed", str(args.seed), "-l", "nextpnr.log"]
    seconds = run_tool(argv, work, "nextpnr.out")
    report = json.loads((work / "report.json").read_text())
    result["pnr"] = {"fmax": _fmax(report), "utilization": report.get("utilization", {}), "nextpnr_s": round(seconds, 1),
                     "command": " ".join(["nextpnr-ecp5", *argv[1:]])}
    print("Fmax", result["pnr"]["fmax"], "in", result["pnr"]["nextpnr_s"], "s")
    (work / "sdram_synth.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
