// Multi-threshold activation, PE lanes: out = BIAS + #{t : x >= T[c][t]} per element, the
// channel c of lane p in channel fold f being f*PE + p (FINN's NHWC / PE interleave).
// THRESHOLDS_FILE ($readmemh, one hex word per line, lane 0 in the LSBs) holds FOLDS words
// of PE*STEPS signed TH_BITS-wide integers: word f, lane p*STEPS + t is T[f*PE + p][t]. The generator rounds FINN's thresholds up to
// integers (x >= t <=> x >= ceil(t) for integer x) and clips them to [min(x), max(x)+1],
// so TH_BITS = IN_BITS + 2 always holds them. The ROM is read synchronously (so synthesis can
// map it to block RAM): tword holds the word of the current fold, read with the fold counter's
// next value as the address (which holds while the input waits or the output is back-pressured).
module thresholding #(
    parameter integer PE        = 1,
    parameter integer CHANNELS  = 2,
    parameter integer STEPS     = 1,
    parameter integer IN_BITS   = 4,
    parameter integer IN_SIGNED = 1,
    parameter integer OUT_BITS  = 4,
    parameter integer BIAS      = 0,
    parameter integer TH_BITS   = IN_BITS + 2,
    parameter THRESHOLDS_FILE   = "",
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
    input  wire                 out0_tready
);
    localparam integer FOLDS = CHANNELS / PE;
    localparam integer FA_BITS = FOLDS > 1 ? $clog2(FOLDS) : 1;

    wire advance = !out0_tvalid || out0_tready;
    assign in0_tready = advance;
    wire take = in0_tvalid && in0_tready;

    reg [PE*STEPS*TH_BITS-1:0] trom [0:FOLDS-1];
    generate  // no file (a module elaborated with its defaults, e.g. by Yosys' read_verilog): no contents
        if (THRESHOLDS_FILE != "") begin : load_thresholds
            initial $readmemh(THRESHOLDS_FILE, trom);
        end
    endgenerate

    reg [FA_BITS-1:0] fold;
    wire [FA_BITS-1:0] fold_next = !ap_rst_n || (take && fold == FOLDS - 1) ? {FA_BITS{1'b0}}
                                 : take ? fold + 1'b1 : fold;
    reg [PE*STEPS*TH_BITS-1:0] tword;
    always @(posedge ap_clk) begin
        fold <= fold_next;
        tword <= trom[fold_next];
    end
    reg [OUT_WIDTH-1:0] result;
    reg signed [TH_BITS-1:0] x, th;
    integer lane, t, count;
    always @* begin
        result = 0;
        for (lane = 0; lane < PE; lane = lane + 1) begin
            x = IN_SIGNED ? $signed(in0_tdata[lane*IN_BITS +: IN_BITS])
                          : $signed({1'b0, in0_tdata[lane*IN_BITS +: IN_BITS]});
            count = BIAS;
            for (t = 0; t < STEPS; t = t + 1) begin
                th = tword[(lane * STEPS + t) * TH_BITS +: TH_BITS];
                count = count + (x >= th);
            end
            result[lane*OUT_BITS +: OUT_BITS] = count;
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else if (advance) begin
            out0_tvalid <= in0_tvalid;
            if (take) begin
                out0_tdata <= result;
            end
        end
    end
endmodule
