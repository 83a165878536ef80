`default_nettype none
// Pixel shuffle (DepthToSpace, CRD order) on an NHWC stream, PE elements per beat.
// An input row (W pixels x C*R*R channels) holds R output rows (W*R pixels x C channels):
//   in : for w, k in (W, C*R*R):        x[w, k]            (k = c*R*R + i*R + j)
//   out: for i, w, j, c in (R, W, R, C): x[w, c*R*R + i*R + j]
// Storage: PE*R*R banks, bank (p, s) holds sub-pixel s of the channels c with c % PE == p,
// so an input beat (PE consecutive k) and an output beat (PE consecutive c, one s) each
// touch every bank at most once. Two halves (double buffer): one row is written while
// the previous one is read out.
// RUNTIME = 1: an input row is frame_cols pixels (held stable while a frame streams, changed only with
// the node empty); WIDTH is then the maximum, which sizes the banks. frame_rows is not needed (rows
// are independent).
module pixel_shuffle #(
    parameter integer PE       = 1,
    parameter integer BITS     = 4,
    parameter integer CHANNELS = 2,  // C, output channels
    parameter integer R        = 2,  // upscale factor
    parameter integer WIDTH    = 4,  // W, input row width in pixels
    parameter integer RUNTIME  = 0,
    parameter integer STREAM_WIDTH = (PE * BITS + 7) / 8 * 8
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [15:0]             frame_rows,  // unused: the shuffle works row by row
    input  wire [15:0]             frame_cols,  // RUNTIME: the input row width in pixels
    input  wire [STREAM_WIDTH-1:0] in0_tdata,
    input  wire                    in0_tvalid,
    output wire                    in0_tready,
    output reg  [STREAM_WIDTH-1:0] out0_tdata,
    output reg                     out0_tvalid,
    input  wire                    out0_tready
);
    localparam integer RR    = R * R;
    localparam integer CF    = CHANNELS / PE;    // channel folds of an output pixel
    localparam integer NBANK = PE * RR;
    localparam integer HALF  = WIDTH * CF;       // bank words per row
    localparam integer AW    = $clog2(2 * HALF) > 0 ? $clog2(2 * HALF) : 1;
    localparam integer SW    = $clog2(RR) > 0 ? $clog2(RR) : 1;
    reg [15:0] w_last;  // registered: the geometry is stable during a frame
    always @(posedge ap_clk) w_last <= frame_cols - 1'b1;
    initial if (PE < 1 || CHANNELS % PE != 0)
        $fatal(1, "pixel_shuffle: CHANNELS (%0d) must be a multiple of PE (%0d)", CHANNELS, PE);
    initial if (R < 1 || WIDTH < 1) $fatal(1, "pixel_shuffle: R (%0d) and WIDTH (%0d) must be positive", R, WIDTH);

    // ---- write side. An output pixel's channels c = g*PE + p (fold g, lane p) with sub-pixels s
    // are the input channels k = c*RR + s = g*(PE*RR) + (p*RR + s), and bank (p, s) is bank
    // p*RR + s: a pixel's input beats walk g (CF folds) and u (RR beats per fold), and lane l
    // of beat u holds k = g*(PE*RR) + u*PE + l, i.e. bank u*PE + l at word g. So no divide:
    // bank b takes lane b % PE on the beats where u == b / PE. The word, half_wr*HALF + w*CF + g,
    // has a counter of its own over both halves (half_wr turns with its wrap at a row's end).
    reg [1:0] full;
    reg       half_wr, half_rd;
    wire take = in0_tvalid && in0_tready;
    wire [95:0] wr_count;
    wire [2:0]  wr_last;
    counter_chain #(.N(3), .LIMITS({WIDTH, CF, RR}), .RUNTIME({RUNTIME != 0, 2'b00})) wr_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(take), .last_values({16'd0, w_last, 64'd0}),
        .count(wr_count), .last(wr_last));
    wire [31:0] u_wr = wr_count[31:0];
    wire row_in_done = take && wr_last[2];
    assign in0_tready = !full[half_wr];
    reg [AW-1:0] waddr;
    always @(posedge ap_clk)
        if (!ap_rst_n) waddr <= 0;
        else if (take && wr_last[2]) waddr <= half_wr ? {AW{1'b0}} : HALF;  // the next row: the other half
        else if (take && wr_last[0]) waddr <= waddr + 1'b1;

    // ---- read side: i (output row within the input row), w, j, g_rd (channel fold). Registers
    // follow the walk so that no index is multiplied: rbase = half_rd*HALF + w*CF (the word of
    // fold 0 of the pixel being read) and s_rd = i*R + j (the sub-pixel).
    wire advance = !out0_tvalid || out0_tready;
    wire give = advance && full[half_rd];
    wire [127:0] rd_count;
    wire [3:0]   rd_last;
    counter_chain #(.N(4), .LIMITS({R, WIDTH, R, CF}), .RUNTIME({1'b0, RUNTIME != 0, 2'b00})) rd_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(give), .last_values({32'd0, 16'd0, w_last, 64'd0}),
        .count(rd_count), .last(rd_last));
    wire [31:0] g_rd = rd_count[31:0];
    reg  [AW-1:0] rbase;
    reg  [SW-1:0] s_rd;
    wire [AW-1:0] raddr = rbase + g_rd[AW-1:0];
    always @(posedge ap_clk)
        if (!ap_rst_n) begin
            rbase <= 0;
            s_rd <= 0;
        end else if (give && rd_last[0]) begin  // j steps
            if (!rd_last[1]) s_rd <= s_rd + 1'b1;                    // next j
            else if (!rd_last[2]) begin                               // next pixel w, j = 0
                s_rd <= s_rd - (R - 1);
                rbase <= rbase + CF;
            end else if (!rd_last[3]) begin                           // next i, w = 0, j = 0
                s_rd <= s_rd + 1'b1;
                rbase <= half_rd ? HALF : {AW{1'b0}};               // the row's first pixel
            end else begin                                            // next row, in the other half
                s_rd <= 0;
                rbase <= half_rd ? {AW{1'b0}} : HALF;
            end
        end
    wire [NBANK*BITS-1:0] bank_rdata;
    wire row_out_done = give && rd_last[3];

    // ---- storage
    genvar gb;
    generate
        for (gb = 0; gb < NBANK; gb = gb + 1) begin : bank
            reg [BITS-1:0] mem [0:2*HALF-1];
            always @(posedge ap_clk)
                if (take && u_wr == gb / PE) mem[waddr] <= in0_tdata[(gb % PE)*BITS +: BITS];
            assign bank_rdata[gb*BITS +: BITS] = mem[raddr];
        end
    endgenerate

    reg [STREAM_WIDTH-1:0] beat;
    integer q;
    always @* begin
        beat = 0;
        for (q = 0; q < PE; q = q + 1)
            beat[q*BITS +: BITS] = bank_rdata[(q * RR + s_rd)*BITS +: BITS];
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            full <= 2'b00;
            half_wr <= 1'b0;
            half_rd <= 1'b0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (row_in_done) half_wr <= !half_wr;
            if (row_out_done) half_rd <= !half_rd;
            full <= (full | (row_in_done ? (2'b01 << half_wr) : 2'b00))
                         & ~(row_out_done ? (2'b01 << half_rd) : 2'b00);
            if (advance) begin
                out0_tvalid <= full[half_rd];
                if (give) out0_tdata <= beat;
            end
        end
    end
endmodule
`default_nettype wire
