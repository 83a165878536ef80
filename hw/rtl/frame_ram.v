`default_nettype none
// Frame memory: DEPTH words of WIDTH bits with one write port and one read port, each on its own clock.
// Between two clock domains it is a dual-clock block RAM, so the pixels cross inside the memory and never
// through logic; the writer and the reader agree on what is valid by a control signal crossed on its own.
// Read latency: one rd_clk cycle (q <= mem[rd_addr] on a clock with rd_en).
module frame_ram #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16,
    parameter integer AW    = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  wire             wr_clk,
    input  wire             wr_en,
    input  wire [AW-1:0]    wr_addr,
    input  wire [WIDTH-1:0] wr_data,
    input  wire             rd_clk,
    input  wire             rd_en,
    input  wire [AW-1:0]    rd_addr,
    output reg  [WIDTH-1:0] q
);
    initial if (DEPTH < 1 || WIDTH < 1) $fatal(1, "frame_ram: DEPTH (%0d) and WIDTH (%0d) must be positive", DEPTH, WIDTH);
    initial if ((1 << AW) < DEPTH) $fatal(1, "frame_ram: AW (%0d) address bits cannot reach DEPTH (%0d) words", AW, DEPTH);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    always @(posedge wr_clk)
        if (wr_en) mem[wr_addr] <= wr_data;
    always @(posedge rd_clk)
        if (rd_en) q <= mem[rd_addr];
endmodule
`default_nettype wire
