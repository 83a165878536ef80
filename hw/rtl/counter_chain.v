`default_nettype none
// A chain of N nested wrap-around counters (digits), digit 0 the innermost: each `step` adds
// one to digit 0; a digit at its last value (LIMITS[i] - 1) goes back to 0 and carries into the
// next. It walks a loop nest such as (row, column, channel fold) of a stream in order.
// LIMITS packs the N limits, 32 bits each, digit i at [32*i +: 32] (write {outer, ..., inner}).
// count: the digits, 32 bits each (zero-extended from their own $clog2(LIMIT) bits);
// last[i]: digits 0..i all at their last values (a step then carries out of digit i);
// last[N-1]: the walk is at its final position and the next step starts it again.
// RUNTIME: bit i set makes digit i wrap at last_values[32*i +: 32] (a limit chosen at run time, e.g. a
// frame's columns; held stable while the walk runs, at most LIMITS[i] - 1, which sizes the digit).
module counter_chain #(
    parameter integer N = 2,
    parameter [32*N-1:0] LIMITS = {32'd2, 32'd2},
    parameter [N-1:0] RUNTIME = {N{1'b0}}
) (
    input  wire            ap_clk,
    input  wire            ap_rst_n,
    input  wire            step,
    input  wire [32*N-1:0] last_values,
    output wire [32*N-1:0] count,
    output wire [N-1:0]    last
);
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : digit
            localparam integer LIMIT = LIMITS[32*i +: 32];
            localparam integer BITS = LIMIT > 1 ? $clog2(LIMIT) : 1;
            initial if (LIMIT < 1) $fatal(1, "counter_chain: digit %0d has limit %0d; every limit must be at least 1", i, LIMIT);
            reg [BITS-1:0] value;
            wire at_last = RUNTIME[i] ? value == last_values[32*i +: BITS] : value == LIMIT - 1;
            wire carry_in;  // every inner digit is at its last value
            if (i == 0) begin : innermost
                assign carry_in = 1'b1;
            end else begin : inner
                assign carry_in = last[i-1];
            end
            assign last[i] = carry_in && at_last;
            always @(posedge ap_clk)
                if (!ap_rst_n) value <= 0;
                else if (step && carry_in) value <= at_last ? {BITS{1'b0}} : value + 1'b1;
            assign count[32*i +: 32] = {{(32 - BITS){1'b0}}, value};
        end
    endgenerate
endmodule
`default_nettype wire
