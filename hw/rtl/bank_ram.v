`default_nettype none
// Double-buffered parameter RAM (the rolled build's weights and thresholds): two banks of DEPTH words of
// WIDTH bits. One bank is read as rom.v reads its ROM (q <= mem[rd_bank][addr] on a clock with `en`), the
// other written one word per clock from the weight stream (wr_en, wr_bank, wr_addr, wr_data), so the
// parameters of the next iteration load while the current one computes. The banks sit one above the other
// (bank b at b*DEPTH + addr): a simple dual-port RAM that synthesis maps to block RAM, or, under SMALL_BITS
// bits in all (as rom.v decides), to distributed RAM in LUTs: a written memory in "logic" would be registers.
module bank_ram #(
    parameter integer WIDTH      = 8,
    parameter integer DEPTH      = 16,
    parameter integer SMALL_BITS = 9216,
    parameter integer AW         = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  wire             clk,
    input  wire             en,
    input  wire             rd_bank,
    input  wire [AW-1:0]    addr,
    output reg  [WIDTH-1:0] q,
    input  wire             wr_en,
    input  wire             wr_bank,
    input  wire [AW-1:0]    wr_addr,
    input  wire [WIDTH-1:0] wr_data
);
    localparam STYLE = 2 * DEPTH * WIDTH < SMALL_BITS ? "distributed" : "auto";
    initial if (DEPTH < 1 || WIDTH < 1) $fatal(1, "bank_ram: DEPTH (%0d) and WIDTH (%0d) must be positive", DEPTH, WIDTH);
    initial if ((1 << AW) < DEPTH) $fatal(1, "bank_ram: AW (%0d) address bits cannot reach DEPTH (%0d) words", AW, DEPTH);
    (* ram_style = STYLE *) reg [WIDTH-1:0] mem [0:2*DEPTH-1];
    wire [AW:0] rd_index = rd_bank ? addr + DEPTH : {1'b0, addr};
    wire [AW:0] wr_index = wr_bank ? wr_addr + DEPTH : {1'b0, wr_addr};
    always @(posedge clk)
        if (wr_en) mem[wr_index] <= wr_data;
    always @(posedge clk)
        if (en) q <= mem[rd_index];
endmodule
`default_nettype wire
