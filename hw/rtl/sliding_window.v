`default_nettype none
// Sliding window generator (FINN ConvolutionInputGenerator / Im2Col), stride 1, no dilation,
// NHWC, SIMD elements per beat. For every output pixel (oh, ow) it emits the window in
// Im2Col order: for kh, kw, cf in (K_H, K_W, C/SIMD): x[oh+kh, ow+kw, cf*SIMD +: SIMD].
// Storage: a ring of SLOTS input rows. Rows are written in stream order across frame
// boundaries; `rows` counts the complete rows not yet released, starting with row oh of
// the frame being read. Output row oh is read once K_H rows are there and releases one row
// (the last output row of a frame releases K_H). The row being written sits at offset
// `rows` >= K_H from the read rows, so reads and writes never touch the same slot, and with
// the default 2*K_H slots the next frame's first K_H rows load while the last windows of a
// frame are read: no bubble between frames.
// Addresses follow the walks in registers (a write counter over the ring; the read address stepped by
// one, by a row or by a column from registered bases), with no product by the row length: a product
// by a constant that is not a power of two goes to a MULT18X18D, which with the adders around it was
// the critical path (benchmarks/fmax.md).
// RUNTIME = 1: the frame's rows and columns come from frame_rows / frame_cols (held stable while a frame
// streams, changed only with the node empty); H and W are then the maxima: W sizes the ring (a row
// always starts at a slot boundary, ROW words apart), rows count up to 65535.
// PARALLEL = 1 (FINN's parallel_window, SIMD = CHANNELS): one beat per output pixel holding
// the whole window, lanes in Im2Col order (kh, kw, channel; element 0 in the LSBs).
module sliding_window #(
    parameter integer SIMD     = 1,
    parameter integer BITS     = 4,
    parameter integer CHANNELS = 2,
    parameter integer H        = 4,   // input rows
    parameter integer W        = 4,   // input columns
    parameter integer K_H      = 3,
    parameter integer K_W      = 3,
    parameter integer SLOTS    = 2 * K_H,  // at least K_H + 1
    parameter integer PARALLEL = 0,
    parameter integer RUNTIME  = 0,
    parameter integer STREAM_WIDTH = (SIMD * BITS + 7) / 8 * 8,
    parameter integer OUT_WIDTH = PARALLEL ? (K_H * K_W * SIMD * BITS + 7) / 8 * 8 : STREAM_WIDTH
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [15:0]             frame_rows,  // RUNTIME: this node's input rows and columns
    input  wire [15:0]             frame_cols,
    input  wire [STREAM_WIDTH-1:0] in0_tdata,
    input  wire                    in0_tvalid,
    output wire                    in0_tready,
    output reg  [OUT_WIDTH-1:0]    out0_tdata,
    output reg                     out0_tvalid,
    input  wire                    out0_tready
);
    localparam integer CF    = CHANNELS / SIMD;
    localparam integer OH    = H - K_H + 1;
    localparam integer OW    = W - K_W + 1;
    localparam integer ROW   = W * CF;           // beats per row
    localparam integer DEPTH = SLOTS * ROW;
    localparam integer AW    = $clog2(DEPTH) > 0 ? $clog2(DEPTH) : 1;
    localparam integer KH_N  = PARALLEL ? 1 : K_H;  // window positions walked beat by beat
    localparam integer KW_N  = PARALLEL ? 1 : K_W;
    localparam integer OH_MAX = RUNTIME ? 65536 : OH;  // sizes the output row counter
    // the walks' last values for a runtime geometry (registered: the geometry is stable during a frame)
    reg [15:0] w_last, oh_last, ow_last;
    always @(posedge ap_clk) begin
        w_last <= frame_cols - 1'b1;
        oh_last <= frame_rows - K_H;
        ow_last <= frame_cols - K_W;
    end
    initial if (SIMD < 1 || CHANNELS % SIMD != 0)
        $fatal(1, "sliding_window: CHANNELS (%0d) must be a multiple of SIMD (%0d)", CHANNELS, SIMD);
    initial if (K_H > H || K_W > W) $fatal(1, "sliding_window: the %0dx%0d window is larger than the %0dx%0d input", K_H, K_W, H, W);
    initial if (SLOTS < K_H + 1) $fatal(1, "sliding_window: SLOTS (%0d) must be at least K_H + 1 (%0d)", SLOTS, K_H + 1);
    initial if (PARALLEL && SIMD != CHANNELS) $fatal(1, "sliding_window: PARALLEL needs SIMD (%0d) = CHANNELS (%0d)", SIMD, CHANNELS);

    reg [SIMD*BITS-1:0] mem [0:DEPTH-1];  // the elements only, not the stream's byte padding

    // ---- write side: column iw, fold icf of the row in a slot; the slots are written in turn, so the
    // address slot * ROW + iw * CF + icf is a counter over the ring
    localparam integer RW = $clog2(SLOTS + 1);  // rows counts 0 .. SLOTS (a 32-bit compare was a critical path)
    reg [RW-1:0] rows;
    assign in0_tready = rows < SLOTS;
    wire take = in0_tvalid && in0_tready;
    wire [63:0] wr_count;
    wire [1:0]  wr_last;
    counter_chain #(.N(2), .LIMITS({W, CF}), .RUNTIME({RUNTIME != 0, 1'b0})) wr_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(take), .last_values({16'd0, w_last, 32'd0}),
        .count(wr_count), .last(wr_last));
    wire row_in = take && wr_last[1];
    reg [AW-1:0] waddr, wslot;  // wslot: the first word of the slot being written
    wire [AW:0]   wslot_sum = wslot + ROW;
    wire [AW-1:0] wslot_next = wslot_sum >= DEPTH ? wslot_sum - DEPTH : wslot_sum;
    always @(posedge ap_clk)
        if (!ap_rst_n) begin
            waddr <= 0; wslot <= 0;
        end else if (take) begin
            if (!RUNTIME) waddr <= waddr == DEPTH - 1 ? {AW{1'b0}} : waddr + 1'b1;
            else if (row_in) begin waddr <= wslot_next; wslot <= wslot_next; end  // a short row: next slot
            else waddr <= waddr + 1'b1;
        end
    always @(posedge ap_clk)
        if (take) mem[waddr] <= in0_tdata[SIMD*BITS-1:0];

    // ---- read side: output pixel (oh, ow), window position (kh, kw), fold cf
    // OUT_REG (one word per beat): the word read from the ring (a block RAM's own read register when the ring is
    // one) goes through a fabric register before out0_tdata: the block RAM's clock-to-output (5.8 ns on speed 6)
    // and the routing to the next node's input buffer were the board's critical path (benchmarks/fmax.md).
    // One cycle more latency, the same rate: the read stage advances whenever the output stage takes its word.
    localparam integer OUT_REG = !PARALLEL;
    reg rd_valid;
    reg [OUT_WIDTH-1:0] rd_data;
    wire out_advance = !out0_tvalid || out0_tready;
    wire advance = OUT_REG ? !rd_valid || out_advance : out_advance;
    wire give = advance && rows >= K_H;
    wire [159:0] rd_count;
    wire [4:0]   rd_last;
    counter_chain #(.N(5), .LIMITS({OH_MAX, OW, KH_N, KW_N, CF}), .RUNTIME({RUNTIME != 0, RUNTIME != 0, 3'b000}))
    rd_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(give),
        .last_values({16'd0, oh_last, 16'd0, ow_last, 96'd0}), .count(rd_count), .last(rd_last));
    wire row_out = give && rd_last[3];
    wire frame_done = give && rd_last[4];
    // the read address of (oh, ow, kh, kw, cf) is slot(oh + kh) * ROW + (ow + kw) * CF + cf, slot(r) the ring
    // slot of row r; registers: row_base = slot(oh) * ROW, pixel = row_base + ow * CF (the window's first
    // beat), krow = slot(oh + kh) * ROW + ow * CF (its row kh), raddr = the address itself. Within a
    // window row the beats (kw, cf) are consecutive; a row of the ring wraps at DEPTH.
    reg [AW-1:0] row_base, pixel, krow, raddr;
    wire [AW:0]   row_sum1 = row_base + ROW;
    wire [AW:0]   row_sumk = row_base + K_H * ROW;
    wire [AW-1:0] row_now1 = row_sum1 >= DEPTH ? row_sum1 - DEPTH : row_sum1;
    wire [AW-1:0] row_nowk = row_sumk >= DEPTH ? row_sumk - DEPTH : row_sumk;
    wire [AW:0]   krow_sum = krow + ROW;
    wire [AW-1:0] krow_now = krow_sum >= DEPTH ? krow_sum - DEPTH : krow_sum;
    wire [AW-1:0] pixel_now = pixel + CF;
    // The next kh, ow and oh addresses are computed from the registers a cycle ahead (their add and
    // wrap were the stitched design's critical path, after the walk's last-digit flags: benchmarks/fmax.md):
    // krow changes at most every KW_N x CF gives before the next kh step reads its successor, pixel every
    // KH_N x KW_N x CF, row_base every OW x KH_N x KW_N x CF. Where a period can be 1 the sum stays
    // combinational. The registers are loaded every cycle, reset included, so they are valid by the first give.
    localparam integer KROW_AHEAD  = KW_N * CF >= 2;
    localparam integer PIXEL_AHEAD = KH_N * KW_N * CF >= 2;
    localparam integer ROW_AHEAD   = (RUNTIME ? 1 : OW) * KH_N * KW_N * CF >= 2;
    reg [AW-1:0] row_ahead1, row_aheadk, krow_ahead, pixel_ahead;
    always @(posedge ap_clk) begin
        row_ahead1 <= row_now1;
        row_aheadk <= row_nowk;
        krow_ahead <= krow_now;
        pixel_ahead <= pixel_now;
    end
    wire [AW-1:0] row_next = rd_last[4] ? (ROW_AHEAD ? row_aheadk : row_nowk) : (ROW_AHEAD ? row_ahead1 : row_now1);
    wire [AW-1:0] krow_next = KROW_AHEAD ? krow_ahead : krow_now;
    wire [AW-1:0] pixel_next = PIXEL_AHEAD ? pixel_ahead : pixel_now;
    always @(posedge ap_clk)
        if (!ap_rst_n) begin
            row_base <= 0; pixel <= 0; krow <= 0; raddr <= 0;
        end else if (give) begin
            if (!rd_last[1]) raddr <= raddr + 1'b1;                                   // next (kw, cf)
            else if (!rd_last[2]) begin krow <= krow_next; raddr <= krow_next; end    // next kh
            else if (!rd_last[3]) begin                                               // next ow
                pixel <= pixel_next; krow <= pixel_next; raddr <= pixel_next;
            end else begin                                                            // next oh
                row_base <= row_next; pixel <= row_next; krow <= row_next; raddr <= row_next;
            end
        end

    // the beat: one stored word, or (PARALLEL) the K_H x K_W words of the window
    wire [OUT_WIDTH-1:0] beat;
    generate
        if (PARALLEL) begin : whole_window
            genvar wh, ww;
            for (wh = 0; wh < K_H; wh = wh + 1) begin : rows_of_window
                // slot(oh + wh) * ROW + ow * CF: pixel stepped by wh rows, wrapped at DEPTH (CF = 1 here)
                wire [AW:0]   sum = pixel + wh * ROW;
                wire [AW-1:0] start = sum >= DEPTH ? sum - DEPTH : sum;
                for (ww = 0; ww < K_W; ww = ww + 1) begin : cols_of_window
                    assign beat[(wh * K_W + ww) * SIMD * BITS +: SIMD * BITS] = mem[start + ww];
                end
            end
            if (OUT_WIDTH > K_H * K_W * SIMD * BITS) begin : pad
                assign beat[OUT_WIDTH-1:K_H * K_W * SIMD * BITS] = 0;
            end
        end else begin : one_word
            assign beat = mem[raddr];  // zero-padded to OUT_WIDTH
        end
    endgenerate
    wire [RW-1:0] released = !row_out ? 0 : frame_done ? K_H : 1;

    always @(posedge ap_clk)
        if (give) rd_data <= beat;  // no reset: a block RAM's read register
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            rows <= 0;
            rd_valid <= 1'b0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            rows <= rows + row_in - released;
            if (!OUT_REG) begin
                if (advance) out0_tvalid <= give;
                if (give) out0_tdata <= beat;
            end else begin
                if (advance) rd_valid <= give;
                if (out_advance) out0_tvalid <= rd_valid;
                if (out_advance && rd_valid) out0_tdata <= rd_data;
            end
        end
    end
endmodule
`default_nettype wire
