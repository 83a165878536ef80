`default_nettype none
// Read-only memory, read synchronously: q <= mem[addr] on a clock with `en` high. The contents
// come from FILE ($readmemh, one hex word per line; none when FILE is empty, e.g. when a tool
// elaborates the module with its defaults). A ROM of SMALL_BITS bits or more is left to
// synthesis, which maps it to block RAM; a smaller one (by default under half an 18-Kbit
// block) is marked rom_style "logic", so Yosys builds it from LUTs instead of spending a
// whole block on it: on ECP5 a block RAM holds at most 18 Kbit in one of six fixed shapes.
// A ROM deeper than LUT_DEPTH words goes to block RAM whatever its size: its read through LUTs is a
// mux tree as deep as the address is wide (a 1,600-word, 4-bit weight ROM read from LUTs was the
// stitched espcn_w4a4's critical path at 95 MHz, benchmarks/fmax.md). A ROM shallower than
// BRAM_MIN_DEPTH words is built from LUTs whatever its width: block RAM is at least 512 words deep in its
// widest shape, and Yosys itself built the wide 32- and 36-word weight ROMs measured from LUTs
// (benchmarks/cost_model.md); saying it here keeps the cost model's rule and the netlist the same.
module rom #(
    parameter integer WIDTH      = 8,
    parameter integer DEPTH      = 16,
    parameter FILE               = "",
    parameter integer SMALL_BITS = 9216,
    parameter integer LUT_DEPTH  = 512,
    parameter integer BRAM_MIN_DEPTH = 64,
    parameter integer AW         = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  wire             clk,
    input  wire             en,
    input  wire [AW-1:0]    addr,
    output reg  [WIDTH-1:0] q
);
    localparam STYLE = (DEPTH * WIDTH < SMALL_BITS || DEPTH < BRAM_MIN_DEPTH) && DEPTH <= LUT_DEPTH ? "logic" : "auto";
    initial if (DEPTH < 1 || WIDTH < 1) $fatal(1, "rom: DEPTH (%0d) and WIDTH (%0d) must be positive", DEPTH, WIDTH);
    initial if ((1 << AW) < DEPTH) $fatal(1, "rom: AW (%0d) address bits cannot reach DEPTH (%0d) words", AW, DEPTH);
    (* rom_style = STYLE *) reg [WIDTH-1:0] mem [0:DEPTH-1];
    generate
        if (FILE != "") begin : load
            initial $readmemh(FILE, mem);
        end
    endgenerate
    always @(posedge clk)
        if (en) q <= mem[addr];
endmodule
`default_nettype wire
