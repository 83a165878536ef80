// Matrix-vector-activation unit (FINN MVAU), PE x SIMD folding, weights as ROM.
// Per input vector x (MW elements, SIMD per beat, SF = MW/SIMD beats) it emits
// y = act(x . Wt) (MH elements, PE per beat, NF = MH/PE beats):
//   for nf in NF: for sf in SF: acc[p] += sum_s x[sf*SIMD+s] * W[sf*SIMD+s][nf*PE+p]
// The vector is taken from the stream during nf = 0 and replayed from a SF-beat buffer
// for nf > 0. act is FINN's multithreshold (BIAS + #{t : acc >= T[ch][t]}) when
// HAS_THRESHOLDS, else the accumulator itself (noActivation = 1).
// ROMs are $readmemh files (one hex word per line, lane 0 in the LSBs):
//   WEIGHTS_FILE:    NF*SF words of PE*SIMD*W_BITS bits; word nf*SF + sf, lane p*SIMD + s
//                    holds W[sf*SIMD + s][nf*PE + p] (two's complement / unsigned)
//   THRESHOLDS_FILE: NF words of PE*STEPS*ACC_BITS bits; word nf, lane p*STEPS + t holds
//                    T[nf*PE + p][t] (signed)
// ACC_BITS must hold every partial sum; the generator derives the tight bound from the
// actual weights (see fqsr.hw.generate.accumulator_range), the default is the generic one.
module mvau #(
    parameter integer MW        = 4,
    parameter integer MH        = 2,
    parameter integer SIMD      = 1,
    parameter integer PE        = 1,
    parameter integer IN_BITS   = 4,
    parameter integer IN_SIGNED = 1,
    parameter integer W_BITS    = 4,
    parameter integer W_SIGNED  = 1,
    parameter integer ACC_BITS  = IN_BITS + W_BITS + $clog2(MW) + 1,
    parameter integer HAS_THRESHOLDS = 0,
    parameter integer STEPS     = 1,
    parameter integer BIAS      = 0,
    parameter integer OUT_BITS  = ACC_BITS,
    parameter WEIGHTS_FILE      = "",
    parameter THRESHOLDS_FILE   = "",
    parameter integer IN_WIDTH  = (SIMD * IN_BITS + 7) / 8 * 8,
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
    localparam integer SF = MW / SIMD;
    localparam integer NF = MH / PE;

    reg [PE*SIMD*W_BITS-1:0]     wrom [0:NF*SF-1];
    reg [PE*STEPS*ACC_BITS-1:0] trom [0:NF-1];
    initial begin
        $readmemh(WEIGHTS_FILE, wrom);
        if (HAS_THRESHOLDS) $readmemh(THRESHOLDS_FILE, trom);
    end

    reg [SIMD*IN_BITS-1:0] ibuf [0:SF-1];
    reg [31:0] sf, nf;
    reg [PE*ACC_BITS-1:0] acc;  // lane p at [p*ACC_BITS +: ACC_BITS]

    wire advance  = !out0_tvalid || out0_tready;
    wire last_sf  = sf == SF - 1;
    wire [SIMD*IN_BITS-1:0] x = nf == 0 ? in0_tdata[SIMD*IN_BITS-1:0] : ibuf[sf];
    wire step     = (nf != 0 || in0_tvalid) && (!last_sf || advance);
    wire [PE*SIMD*W_BITS-1:0]     wword = wrom[nf * SF + sf];
    wire [PE*STEPS*ACC_BITS-1:0]  tword = trom[nf];
    assign in0_tready = nf == 0 && (!last_sf || advance);

    // one fold step: the new accumulator values and, on the last fold, the output beat
    reg [PE*ACC_BITS-1:0] sums;
    reg signed [ACC_BITS-1:0] sum, xe, we, th;
    reg [OUT_WIDTH-1:0] result;
    integer p, s, t, count;
    always @* begin
        result = 0;
        for (p = 0; p < PE; p = p + 1) begin
            sum = sf == 0 ? 0 : acc[p*ACC_BITS +: ACC_BITS];
            for (s = 0; s < SIMD; s = s + 1) begin
                xe = IN_SIGNED ? $signed(x[s*IN_BITS +: IN_BITS]) : $signed({1'b0, x[s*IN_BITS +: IN_BITS]});
                we = W_SIGNED ? $signed(wword[(p * SIMD + s) * W_BITS +: W_BITS])
                              : $signed({1'b0, wword[(p * SIMD + s) * W_BITS +: W_BITS]});
                sum = sum + xe * we;
            end
            sums[p*ACC_BITS +: ACC_BITS] = sum;
            if (HAS_THRESHOLDS) begin
                count = BIAS;
                for (t = 0; t < STEPS; t = t + 1) begin
                    th = tword[(p * STEPS + t) * ACC_BITS +: ACC_BITS];
                    count = count + (sum >= th);
                end
                result[p*OUT_BITS +: OUT_BITS] = count;
            end else
                result[p*OUT_BITS +: OUT_BITS] = sum;
        end
    end

    always @(posedge ap_clk) begin
        if (nf == 0 && step) ibuf[sf] <= x;
        if (step) acc <= sums;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sf <= 0; nf <= 0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (advance) out0_tvalid <= step && last_sf;
            if (step) begin
                if (last_sf) out0_tdata <= result;
                sf <= last_sf ? 0 : sf + 1;
                if (last_sf) nf <= nf == NF - 1 ? 0 : nf + 1;
            end
        end
    end
endmodule
