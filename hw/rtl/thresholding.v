`default_nettype none
// Multi-threshold activation, PE lanes: out = BIAS + #{t : x >= T[c][t]} per element, the
// channel c of lane p in channel fold f being f*PE + p (FINN's NHWC / PE interleave).
// The thresholds of a channel are sorted (non-decreasing), so the count is found by a binary
// search of LEVELS = clog2(STEPS + 1) pipelined compares instead of STEPS parallel ones: stage
// j holds the prefix (the j upper bits of the count) found so far and compares x with the one
// threshold that decides the next bit, T[c][(prefix*2 + 1) << (LEVELS-1-j) - 1]. Each stage
// reads its threshold from its own ROM (per lane, FOLDS * 2^j words of TH_BITS, address
// {f, prefix}), synchronously, so synthesis maps the large ones to block RAM; an 8-bit
// activation needs 8 comparators and 255 stored thresholds per channel, read one per stage.
// Stage ROMs (rom.v) smaller than SMALL_ROM_BITS are built from LUTs, larger ones from block RAM.
// The ROM files ($readmemh, one signed TH_BITS-wide hex word per line) are named
// {THRESHOLDS_PREFIX}_p<lane, 3 digits>_s<stage>.mem; the generator writes them, pads STEPS up
// to 2^LEVELS - 1 with max(x) + 1 (never reached), rounds FINN's thresholds up to integers
// (x >= t <=> x >= ceil(t) for integer x) and clips them to [min(x), max(x)+1], so
// TH_BITS = IN_BITS + 2 always holds them. Between two levels the compare's result goes into a
// register (the prefix of the next level) before it addresses the next level's ROM: compare and ROM
// address on one path were the critical path (benchmarks/fmax.md). The pipeline (2 LEVELS - 1
// positions: level j's read at 2j, its registered result at 2j + 1) advances as a whole when the output
// register is free (latency 2 LEVELS cycles, one beat per cycle).
// THRESHOLD_RAM = 1 (the rolled build): the stage memories are double-buffered RAMs (bank_ram.v) read from
// bank cfg_rd_bank and written through the cfg port instead of ROMs from files. The cfg address space holds
// the stages one after the other, stage j at FOLDS * (2^j - 1) (FOLDS << j words each); a word carries all
// PE lanes' thresholds of one address (lane p at cfg_wr_data[p*TH_BITS +: TH_BITS]).
module thresholding #(
    parameter integer PE        = 1,
    parameter integer CHANNELS  = 2,
    parameter integer STEPS     = 1,
    parameter integer IN_BITS   = 4,
    parameter integer IN_SIGNED = 1,
    parameter integer OUT_BITS  = 4,
    parameter integer BIAS      = 0,
    parameter integer TH_BITS   = IN_BITS + 2,
    parameter THRESHOLDS_PREFIX = "",
    parameter integer SMALL_ROM_BITS = 9216,
    parameter integer THRESHOLD_RAM = 0,
    parameter integer IN_WIDTH  = (PE * IN_BITS + 7) / 8 * 8,
    parameter integer OUT_WIDTH = (PE * OUT_BITS + 7) / 8 * 8
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [IN_WIDTH-1:0]  in0_tdata,
    input  wire                 in0_tvalid,
    output wire                 in0_tready,
    output reg  [OUT_WIDTH-1:0] out0_tdata,
    output reg                  out0_tvalid,
    input  wire                 out0_tready,
    // THRESHOLD_RAM only (unused otherwise)
    input  wire                 cfg_wr_en,
    input  wire                 cfg_wr_bank,
    input  wire [31:0]          cfg_wr_addr,
    input  wire [PE*TH_BITS-1:0] cfg_wr_data,
    input  wire                 cfg_rd_bank
);
    localparam integer FOLDS = CHANNELS / PE;
    localparam integer FA_BITS = FOLDS > 1 ? $clog2(FOLDS) : 1;
    initial if (PE < 1 || CHANNELS % PE != 0) $fatal(1, "thresholding: CHANNELS (%0d) must be a multiple of PE (%0d)", CHANNELS, PE);
    initial if (STEPS < 1) $fatal(1, "thresholding: STEPS (%0d) must be at least 1", STEPS);
    localparam integer LEVELS = STEPS > 1 ? $clog2(STEPS + 1) : 1;
    localparam integer CW = (TH_BITS > IN_BITS ? TH_BITS : IN_BITS) + 1;  // compare width

    wire advance = !out0_tvalid || out0_tready;
    assign in0_tready = advance;
    wire take = in0_tvalid && in0_tready;

    reg [FA_BITS-1:0] fold;  // channel fold of the next input beat
    always @(posedge ap_clk)
        if (!ap_rst_n) fold <= 0;
        else if (take) fold <= fold == FOLDS - 1 ? 0 : fold + 1'b1;

    // pipeline position k registers: valid, fold; per lane x and prefix. Level j reads its threshold at
    // position 2j (prefix: j bits); position 2j + 1 holds the prefix with level j's compare appended
    localparam integer NPOS = 2 * LEVELS - 1;
    reg [NPOS-1:0]         valid;
    reg [NPOS*FA_BITS-1:0] folds;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) valid <= 0;
        else if (advance) valid <= (valid << 1) | take;
        if (advance) folds <= (folds << FA_BITS) | fold;
    end

    wire [PE*OUT_BITS-1:0] result;
    genvar p, j;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            reg  [NPOS*IN_BITS-1:0]   xs;
            reg  [NPOS*LEVELS-1:0]    prefixes;  // position k's prefix at [k*LEVELS +: LEVELS]
            wire [LEVELS*TH_BITS-1:0] ths;
            wire [LEVELS-1:0]         bits;      // level j: x >= its threshold
            wire [IN_BITS-1:0] x_in = in0_tdata[p*IN_BITS +: IN_BITS];
            always @(posedge ap_clk)
                if (advance) xs <= (xs << IN_BITS) | x_in;
            for (j = 0; j < LEVELS; j = j + 1) begin : stage
                localparam integer R = 2 * j;  // the position where level j compares
                wire [IN_BITS-1:0] x  = xs[R*IN_BITS +: IN_BITS];
                wire [TH_BITS-1:0] th = ths[j*TH_BITS +: TH_BITS];
                wire signed [CW-1:0] xw = IN_SIGNED ? {{(CW-IN_BITS){x[IN_BITS-1]}}, x}
                                                    : {{(CW-IN_BITS){1'b0}}, x};
                wire signed [CW-1:0] tw = {{(CW-TH_BITS){th[TH_BITS-1]}}, th};
                assign bits[j] = xw >= tw;
                // what enters position 2j on `advance`: fold, prefix (j bits, all from registers) -> the ROM address
                wire [FA_BITS-1:0] src_fold = j == 0 ? fold : folds[(j > 0 ? R - 1 : 0)*FA_BITS +: FA_BITS];
                wire [LEVELS-1:0] src_prefix;
                if (j == 0) begin : first
                    assign src_prefix = 0;
                end else begin : next
                    assign src_prefix = prefixes[(R-1)*LEVELS +: LEVELS];
                end
                always @(posedge ap_clk)
                    if (advance) prefixes[R*LEVELS +: LEVELS] <= src_prefix;
                if (j < LEVELS - 1) begin : result_register
                    always @(posedge ap_clk)
                        if (advance) prefixes[(R+1)*LEVELS +: LEVELS] <= (prefixes[R*LEVELS +: LEVELS] << 1) | bits[j];
                end
                localparam integer DEPTH = FOLDS << j;
                localparam integer AW = FA_BITS + j;
                wire [AW-1:0] addr = (src_fold << j) | src_prefix;
                localparam [7:0] D2 = 48 + p / 100 % 10, D1 = 48 + p / 10 % 10, D0 = 48 + p % 10, DS = 48 + j;
                localparam FILE = {THRESHOLDS_PREFIX, "_p", D2, D1, D0, "_s", DS, ".mem"};
                wire [TH_BITS-1:0] th_q;
                if (THRESHOLD_RAM) begin : ram
                    localparam integer BASE = FOLDS * ((1 << j) - 1);
                    wire hit = cfg_wr_en && cfg_wr_addr >= BASE && cfg_wr_addr < BASE + DEPTH;
                    wire [31:0] local_addr = cfg_wr_addr - BASE;
                    bank_ram #(.WIDTH(TH_BITS), .DEPTH(DEPTH), .SMALL_BITS(SMALL_ROM_BITS), .AW(AW))
                        thresholds (.clk(ap_clk), .en(advance), .rd_bank(cfg_rd_bank), .addr(addr), .q(th_q),
                                    .wr_en(hit), .wr_bank(cfg_wr_bank), .wr_addr(local_addr[AW-1:0]),
                                    .wr_data(cfg_wr_data[p*TH_BITS +: TH_BITS]));
                end else begin : rom_file
                    rom #(.WIDTH(TH_BITS), .DEPTH(DEPTH), .FILE(THRESHOLDS_PREFIX != "" ? FILE : ""),
                          .SMALL_BITS(SMALL_ROM_BITS), .AW(AW))
                        thresholds (.clk(ap_clk), .en(advance), .addr(addr), .q(th_q));
                end
                assign ths[j*TH_BITS +: TH_BITS] = th_q;
            end
            wire [LEVELS-1:0] count = (prefixes[(NPOS-1)*LEVELS +: LEVELS] << 1) | bits[LEVELS-1];
            assign result[p*OUT_BITS +: OUT_BITS] = BIAS + count;
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else if (advance) begin
            out0_tvalid <= valid[NPOS-1];
            if (valid[NPOS-1]) out0_tdata <= result;
        end
    end
endmodule
`default_nettype wire
