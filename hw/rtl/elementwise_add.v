`default_nettype none
// Residual add: out = in0 + in1, lane by lane (PE lanes per beat); a beat is taken from
// both inputs together. Each element is sign- or zero-extended to OUT_BITS before the
// add; the generator sets OUT_BITS from FINN's out_dtype, which holds every sum.
// Each input enters through a 2-beat skid (stream_fifo, DEPTH 2), so in0_tready and in1_tready
// come from registers: a join's ready otherwise depends on the other input's valid, which put the
// skip FIFO's fill level, this join and the producer's stall logic on one path (benchmarks/fmax.md).
// One more cycle of latency; the rate stays one beat per cycle.
module elementwise_add #(
    parameter integer PE        = 1,
    parameter integer A_BITS    = 4,
    parameter integer A_SIGNED  = 1,
    parameter integer B_BITS    = 4,
    parameter integer B_SIGNED  = 1,
    parameter integer OUT_BITS  = 5,
    parameter integer IN0_WIDTH = (PE * A_BITS + 7) / 8 * 8,
    parameter integer IN1_WIDTH = (PE * B_BITS + 7) / 8 * 8,
    parameter integer OUT_WIDTH = (PE * OUT_BITS + 7) / 8 * 8
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [IN0_WIDTH-1:0] in0_tdata,
    input  wire                 in0_tvalid,
    output wire                 in0_tready,
    input  wire [IN1_WIDTH-1:0] in1_tdata,
    input  wire                 in1_tvalid,
    output wire                 in1_tready,
    output reg  [OUT_WIDTH-1:0] out0_tdata,
    output reg                  out0_tvalid,
    input  wire                 out0_tready
);
    wire [PE*A_BITS-1:0] a_data;
    wire [PE*B_BITS-1:0] b_data;
    wire a_valid, b_valid;
    wire advance = !out0_tvalid || out0_tready;
    wire both    = a_valid && b_valid;
    stream_fifo #(.WIDTH(PE * A_BITS), .DEPTH(2)) skid_a (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(in0_tdata[PE*A_BITS-1:0]), .in0_tvalid(in0_tvalid), .in0_tready(in0_tready),
        .out0_tdata(a_data), .out0_tvalid(a_valid), .out0_tready(advance && b_valid));
    stream_fifo #(.WIDTH(PE * B_BITS), .DEPTH(2)) skid_b (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(in1_tdata[PE*B_BITS-1:0]), .in0_tvalid(in1_tvalid), .in0_tready(in1_tready),
        .out0_tdata(b_data), .out0_tvalid(b_valid), .out0_tready(advance && a_valid));

    reg [OUT_WIDTH-1:0] sum;
    reg [OUT_BITS-1:0]  a, b;
    integer lane;
    always @* begin
        sum = 0;
        for (lane = 0; lane < PE; lane = lane + 1) begin
            a = extend(a_data[lane*A_BITS +: A_BITS], A_BITS, A_SIGNED);
            b = extend(b_data[lane*B_BITS +: B_BITS], B_BITS, B_SIGNED);
            sum[lane*OUT_BITS +: OUT_BITS] = a + b;
        end
    end

    // Widen a BITS-wide element to OUT_BITS (sign or zero extension).
    function [OUT_BITS-1:0] extend(input [31:0] value, input integer bits, input integer is_signed);
        integer i;
        begin
            for (i = 0; i < OUT_BITS; i = i + 1)
                extend[i] = i < bits ? value[i] : (is_signed != 0 && value[bits-1]);
        end
    endfunction

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out0_tvalid <= 1'b0;
            out0_tdata  <= 0;
        end else if (advance) begin
            out0_tvalid <= both;
            if (both) out0_tdata <= sum;
        end
    end
endmodule
`default_nettype wire
