// Zero padding of an NHWC feature map, SIMD elements per beat: the output frame is
// (PAD_T + H + PAD_B) x (PAD_L + W + PAD_R) pixels; border beats are zeros, inner beats
// are the input beats in order. A frame's first border beat waits for the frame's first
// input beat to be offered (not taken), so no border of a frame that never comes is emitted.
module fm_padding #(
    parameter integer SIMD     = 1,
    parameter integer BITS     = 4,
    parameter integer CHANNELS = 2,
    parameter integer H        = 4,
    parameter integer W        = 4,
    parameter integer PAD_T    = 1,
    parameter integer PAD_L    = 1,
    parameter integer PAD_B    = 1,
    parameter integer PAD_R    = 1,
    parameter integer STREAM_WIDTH = (SIMD * BITS + 7) / 8 * 8
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [STREAM_WIDTH-1:0] in0_tdata,
    input  wire                    in0_tvalid,
    output wire                    in0_tready,
    output reg  [STREAM_WIDTH-1:0] out0_tdata,
    output reg                     out0_tvalid,
    input  wire                    out0_tready
);
    localparam integer OH = PAD_T + H + PAD_B;
    localparam integer OW = PAD_L + W + PAD_R;
    localparam integer CF = CHANNELS / SIMD;

    reg [31:0] oh, ow, cf;
    reg started;  // the current frame has begun
    wire in_image  = oh >= PAD_T && oh < PAD_T + H && ow >= PAD_L && ow < PAD_L + W;
    wire advance = !out0_tvalid || out0_tready;
    wire produce = advance && (in_image ? in0_tvalid : started || in0_tvalid);
    wire last    = oh == OH - 1 && ow == OW - 1 && cf == CF - 1;
    assign in0_tready = advance && in_image;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            oh <= 0; ow <= 0; cf <= 0;
            started <= 1'b0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (advance) out0_tvalid <= produce;
            if (produce) begin
                started <= !last;
                out0_tdata <= in_image ? in0_tdata : {STREAM_WIDTH{1'b0}};
                if (cf != CF - 1) cf <= cf + 1;
                else begin
                    cf <= 0;
                    if (ow != OW - 1) ow <= ow + 1;
                    else begin
                        ow <= 0;
                        oh <= oh == OH - 1 ? 0 : oh + 1;
                    end
                end
            end
        end
    end
endmodule
