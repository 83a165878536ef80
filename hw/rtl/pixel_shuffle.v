`default_nettype none
// Pixel shuffle (DepthToSpace, CRD order) on an NHWC stream, PE elements per beat.
// An input row (W pixels x C*R*R channels) holds R output rows (W*R pixels x C channels):
//   in : for w, k in (W, C*R*R):        x[w, k]            (k = c*R*R + i*R + j)
//   out: for i, w, j, c in (R, W, R, C): x[w, c*R*R + i*R + j]
// Storage: PE*R*R banks, bank (p, s) holds sub-pixel s of the channels c with c % PE == p,
// so an input beat (PE consecutive k) and an output beat (PE consecutive c, one s) each
// touch every bank at most once. Two halves (double buffer): one row is written while
// the previous one is read out.
module pixel_shuffle #(
    parameter integer PE       = 1,
    parameter integer BITS     = 4,
    parameter integer CHANNELS = 2,  // C, output channels
    parameter integer R        = 2,  // upscale factor
    parameter integer WIDTH    = 4,  // W, input row width in pixels
    parameter integer STREAM_WIDTH = (PE * BITS + 7) / 8 * 8
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
    localparam integer RR    = R * R;
    localparam integer CF    = CHANNELS / PE;    // channel folds of an output pixel
    localparam integer NBANK = PE * RR;
    localparam integer HALF  = WIDTH * CF;       // bank words per row
    localparam integer AW    = $clog2(2 * HALF) > 0 ? $clog2(2 * HALF) : 1;
    initial if (PE < 1 || CHANNELS % PE != 0)
        $fatal(1, "pixel_shuffle: CHANNELS (%0d) must be a multiple of PE (%0d)", CHANNELS, PE);
    initial if (R < 1 || WIDTH < 1) $fatal(1, "pixel_shuffle: R (%0d) and WIDTH (%0d) must be positive", R, WIDTH);

    // ---- write side: w_wr pixel, k_wr = channel index of lane 0 within the pixel
    reg [1:0] full;
    reg       half_wr, half_rd;
    wire take = in0_tvalid && in0_tready;
    wire [63:0] wr_count;
    wire [1:0]  wr_last;
    counter_chain #(.N(2), .LIMITS({WIDTH, CHANNELS * RR / PE})) wr_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(take), .count(wr_count), .last(wr_last));
    wire [31:0] k_wr = wr_count[31:0] * PE;
    wire [31:0] w_wr = wr_count[63:32];
    wire row_in_done = take && wr_last[1];
    assign in0_tready = !full[half_wr];

    reg [NBANK-1:0]      bank_we;
    reg [NBANK*AW-1:0]   bank_waddr;
    reg [NBANK*BITS-1:0] bank_wdata;
    integer lane, k, c, b;
    always @* begin
        bank_we = 0;
        bank_waddr = 0;
        bank_wdata = 0;
        for (lane = 0; lane < PE; lane = lane + 1) begin
            k = k_wr + lane;
            c = k / RR;
            b = (c % PE) * RR + k % RR;
            bank_we[b] = take;
            bank_waddr[b*AW +: AW] = half_wr * HALF + w_wr * CF + c / PE;
            bank_wdata[b*BITS +: BITS] = in0_tdata[lane*BITS +: BITS];
        end
    end

    // ---- read side: i (output row within the input row), w_rd, j, g_rd (channel fold)
    wire advance = !out0_tvalid || out0_tready;
    wire give = advance && full[half_rd];
    wire [127:0] rd_count;
    wire [3:0]   rd_last;
    counter_chain #(.N(4), .LIMITS({R, WIDTH, R, CF})) rd_walk (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(give), .count(rd_count), .last(rd_last));
    wire [31:0] g_rd = rd_count[31:0], j_rd = rd_count[63:32], w_rd = rd_count[95:64], i_rd = rd_count[127:96];
    wire [AW-1:0] raddr = half_rd * HALF + w_rd * CF + g_rd;
    wire [NBANK*BITS-1:0] bank_rdata;
    wire row_out_done = give && rd_last[3];

    genvar gb;
    generate
        for (gb = 0; gb < NBANK; gb = gb + 1) begin : bank
            reg [BITS-1:0] mem [0:2*HALF-1];
            always @(posedge ap_clk)
                if (bank_we[gb]) mem[bank_waddr[gb*AW +: AW]] <= bank_wdata[gb*BITS +: BITS];
            assign bank_rdata[gb*BITS +: BITS] = mem[raddr];
        end
    endgenerate

    reg [STREAM_WIDTH-1:0] beat;
    integer q;
    always @* begin
        beat = 0;
        for (q = 0; q < PE; q = q + 1)
            beat[q*BITS +: BITS] = bank_rdata[(q * RR + i_rd * R + j_rd)*BITS +: BITS];
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
