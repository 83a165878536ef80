// Sliding window generator (FINN ConvolutionInputGenerator / Im2Col), stride 1, no dilation,
// NHWC, SIMD elements per beat. For every output pixel (oh, ow) it emits the window in
// Im2Col order: for kh, kw, cf in (K_H, K_W, C/SIMD): x[oh+kh, ow+kw, cf*SIMD +: SIMD].
// Storage: K_H+1 input rows in a ring; row ih is written while the K_H rows oh..oh+K_H-1
// (oh = ih - K_H) are read, so reads and writes never touch the same row slot. A frame's
// writes finish before its last window is read; the next frame starts after it.
module sliding_window #(
    parameter integer SIMD     = 1,
    parameter integer BITS     = 4,
    parameter integer CHANNELS = 2,
    parameter integer H        = 4,   // input rows
    parameter integer W        = 4,   // input columns
    parameter integer K_H      = 3,
    parameter integer K_W      = 3,
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
    localparam integer CF    = CHANNELS / SIMD;
    localparam integer OH    = H - K_H + 1;
    localparam integer OW    = W - K_W + 1;
    localparam integer SLOTS = K_H + 1;
    localparam integer ROW   = W * CF;           // beats per row
    localparam integer DEPTH = SLOTS * ROW;
    localparam integer AW    = $clog2(DEPTH) > 0 ? $clog2(DEPTH) : 1;

    reg [STREAM_WIDTH-1:0] mem [0:DEPTH-1];

    // ---- write side: row ih (== number of complete rows), column iw, fold icf
    reg [31:0] ih, iw, icf, slot_wr;
    reg [31:0] oh, ow, kh, kw, cf, slot_oh;
    assign in0_tready = ih < H && ih <= oh + K_H;
    wire take = in0_tvalid && in0_tready;
    always @(posedge ap_clk)
        if (take) mem[slot_wr * ROW + iw * CF + icf] <= in0_tdata;

    // ---- read side: output pixel (oh, ow), window position (kh, kw), fold cf
    wire [31:0] slot_rd = slot_oh + kh >= SLOTS ? slot_oh + kh - SLOTS : slot_oh + kh;
    wire [AW-1:0] raddr = slot_rd * ROW + (ow + kw) * CF + cf;
    wire advance = !out0_tvalid || out0_tready;
    wire give = advance && ih >= oh + K_H;
    wire frame_done = give && oh == OH - 1 && ow == OW - 1 && kh == K_H - 1 && kw == K_W - 1 && cf == CF - 1;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            ih <= 0; iw <= 0; icf <= 0; slot_wr <= 0;
            oh <= 0; ow <= 0; kh <= 0; kw <= 0; cf <= 0; slot_oh <= 0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (take) begin
                if (icf != CF - 1) icf <= icf + 1;
                else begin
                    icf <= 0;
                    if (iw != W - 1) iw <= iw + 1;
                    else begin
                        iw <= 0;
                        ih <= ih + 1;
                        slot_wr <= slot_wr == SLOTS - 1 ? 0 : slot_wr + 1;
                    end
                end
            end
            if (advance) out0_tvalid <= give;
            if (give) begin
                out0_tdata <= mem[raddr];
                if (cf != CF - 1) cf <= cf + 1;
                else begin
                    cf <= 0;
                    if (kw != K_W - 1) kw <= kw + 1;
                    else begin
                        kw <= 0;
                        if (kh != K_H - 1) kh <= kh + 1;
                        else begin
                            kh <= 0;
                            if (ow != OW - 1) ow <= ow + 1;
                            else begin
                                ow <= 0;
                                oh <= oh + 1;
                                slot_oh <= slot_oh == SLOTS - 1 ? 0 : slot_oh + 1;
                            end
                        end
                    end
                end
            end
            if (frame_done) begin  // all H rows are in (ih == H): rewind both sides
                ih <= 0; slot_wr <= 0;
                oh <= 0; slot_oh <= 0;
            end
        end
    end
endmodule
