`default_nettype none
// Stream data-width converter (FINN StreamingDataWidthConverter): repacks a stream of
// BITS-wide elements from IN_ELEMS per beat to OUT_ELEMS per beat, order preserved
// (element 0 in the LSBs). The element buffer holds up to IN_ELEMS + OUT_ELEMS elements;
// an input beat is taken while at most OUT_ELEMS remain after this cycle's output beat, so
// neither side waits on a partial beat and the narrower side runs at one beat per cycle.
module stream_width_converter #(
    parameter integer BITS      = 4,
    parameter integer IN_ELEMS  = 2,
    parameter integer OUT_ELEMS = 3,
    parameter integer IN_WIDTH  = (IN_ELEMS * BITS + 7) / 8 * 8,
    parameter integer OUT_WIDTH = (OUT_ELEMS * BITS + 7) / 8 * 8
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [IN_WIDTH-1:0]  in0_tdata,
    input  wire                 in0_tvalid,
    output wire                 in0_tready,
    output wire [OUT_WIDTH-1:0] out0_tdata,
    output wire                 out0_tvalid,
    input  wire                 out0_tready
);
    localparam integer CAP = IN_ELEMS + OUT_ELEMS;
    initial if (BITS < 1 || IN_ELEMS < 1 || OUT_ELEMS < 1) $fatal(1, "stream_width_converter: BITS, IN_ELEMS and OUT_ELEMS must be positive");

    reg [CAP*BITS-1:0] buffer;
    reg [31:0] count;  // elements buffered

    assign out0_tvalid = count >= OUT_ELEMS;
    assign out0_tdata  = buffer[OUT_ELEMS*BITS-1:0];

    wire pop  = out0_tvalid && out0_tready;
    wire [31:0] kept = pop ? count - OUT_ELEMS : count;
    assign in0_tready  = kept <= OUT_ELEMS;
    wire push = in0_tvalid && in0_tready;
    wire [CAP*BITS-1:0] shifted = pop ? buffer >> (OUT_ELEMS * BITS) : buffer;
    wire [CAP*BITS-1:0] incoming = in0_tdata[IN_ELEMS*BITS-1:0];

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            count <= 0;
            buffer <= 0;
        end else begin
            count <= kept + (push ? IN_ELEMS : 0);
            buffer <= push ? (shifted & ~({CAP*BITS{1'b1}} << (kept * BITS))) | (incoming << (kept * BITS))
                           : shifted;
        end
    end
endmodule
`default_nettype wire
