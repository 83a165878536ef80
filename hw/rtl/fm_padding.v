`default_nettype none
// Zero padding of an NHWC feature map, SIMD elements per beat: the output frame is
// (PAD_T + H + PAD_B) x (PAD_L + W + PAD_R) pixels; border beats are zeros, inner beats
// are the input beats in order. A frame's first border beat waits for the frame's first
// input beat to be offered (not taken), so no border of a frame that never comes is emitted.
// RUNTIME = 1: the input frame is frame_rows x frame_cols (held stable while a frame streams, changed
// only with the node empty); H and W are then unused (rows count up to 65535, columns up to W).
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
    parameter integer RUNTIME  = 0,
    parameter integer STREAM_WIDTH = (SIMD * BITS + 7) / 8 * 8
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [15:0]             frame_rows,  // RUNTIME: the input rows and columns
    input  wire [15:0]             frame_cols,
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
    localparam integer OH_MAX = RUNTIME ? 65536 + PAD_T + PAD_B : OH;
    reg [17:0] rows_end_m1, cols_end_m1, oh_last, ow_last;  // registered: the geometry is stable during a frame
    always @(posedge ap_clk) begin
        rows_end_m1 <= PAD_T + frame_rows - 1;
        cols_end_m1 <= PAD_L + frame_cols - 1;
        oh_last <= PAD_T + frame_rows + PAD_B - 1;
        ow_last <= PAD_L + frame_cols + PAD_R - 1;
    end
    initial if (SIMD < 1 || CHANNELS % SIMD != 0)
        $fatal(1, "fm_padding: CHANNELS (%0d) must be a multiple of SIMD (%0d)", CHANNELS, SIMD);
    initial if (PAD_T < 0 || PAD_L < 0 || PAD_B < 0 || PAD_R < 0) $fatal(1, "fm_padding: padding must not be negative");

    reg started;  // the current frame has begun
    wire advance = !out0_tvalid || out0_tready;
    wire produce;
    wire [95:0] count;
    wire [2:0]  at_last;
    counter_chain #(.N(3), .LIMITS({OH_MAX, OW, CF}), .RUNTIME({RUNTIME != 0, RUNTIME != 0, 1'b0})) walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(produce),
        .last_values({14'd0, oh_last, 14'd0, ow_last, 32'd0}), .count(count), .last(at_last));
    wire [31:0] ow = count[63:32], oh = count[95:64];
    // in_image = row_inside && col_inside, kept in registers and updated when the walk leaves a column or a
    // row, by equality compares only: the four range compares on the runtime geometry fed `produce` and the
    // walk's step (the stitched design's critical path, benchmarks/fmax.md). A frame has at least one row
    // and one column, so PAD_T - 1 (entering) and the last image row (leaving) are different rows.
    wire [17:0] last_row = RUNTIME ? rows_end_m1 : PAD_T + H - 1;
    wire [17:0] last_col = RUNTIME ? cols_end_m1 : PAD_L + W - 1;
    reg row_inside, col_inside;
    wire in_image = row_inside && col_inside;
    always @(posedge ap_clk)
        if (!ap_rst_n) begin
            row_inside <= PAD_T == 0;
            col_inside <= PAD_L == 0;
        end else if (produce && at_last[0]) begin  // the walk leaves column ow
            if (at_last[1]) col_inside <= PAD_L == 0;
            else if (PAD_L > 0 && ow == PAD_L - 1) col_inside <= 1'b1;
            else if (ow == last_col) col_inside <= 1'b0;
            if (at_last[1]) begin  // and row oh
                if (at_last[2]) row_inside <= PAD_T == 0;
                else if (PAD_T > 0 && oh == PAD_T - 1) row_inside <= 1'b1;
                else if (oh == last_row) row_inside <= 1'b0;
            end
        end
    assign produce = advance && (in_image ? in0_tvalid : started || in0_tvalid);
    wire last    = at_last[2];
    assign in0_tready = advance && in_image;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            started <= 1'b0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (advance) out0_tvalid <= produce;
            if (produce) begin
                started <= !last;
                out0_tdata <= in_image ? in0_tdata : {STREAM_WIDTH{1'b0}};
            end
        end
    end
endmodule
`default_nettype wire
