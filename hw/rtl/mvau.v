// Matrix-vector-activation unit (FINN MVAU), PE x SIMD folding, weights as ROM.
// Per input vector x (MW elements, SIMD per beat, SF = MW/SIMD beats) it emits
// y = act(x . Wt) (MH elements, PE per beat, NF = MH/PE beats):
//   for nf in NF: for sf in SF: acc[p] += sum_s x[sf*SIMD+s] * W[sf*SIMD+s][nf*PE+p]
// Input vectors are written into a two-vector buffer (2 x SF beats) as they arrive and read
// from it for every nf: the computation follows the writer one beat behind on a vector
// still arriving, and the next vector streams into the other half while the current one is
// replayed for nf > 0, so an upstream that delivers SF beats spread over NF*SF cycles (a
// width converter, a slower producer) never stalls the computation. act is FINN's
// multithreshold (BIAS + #{t : acc >= T[ch][t]}) when HAS_THRESHOLDS, else the accumulator
// itself (noActivation = 1); it is applied one register stage after the last MAC step, so
// the MAC adder tree and the threshold compare are separate timing paths (latency + 1 cycle,
// same throughput: both stages stall together only when the output is back-pressured).
// Both ROMs are read synchronously (the address one cycle ahead, the word in a register), so
// synthesis can map them to block RAM: the weight word of the next fold step is read while the
// current one is used (the read address is the step counter's next value, which holds while the
// computation stalls), and the threshold word is read into a register together with `fin`.
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
    localparam integer WA_BITS = NF * SF > 1 ? $clog2(NF * SF) : 1;
    localparam integer TA_BITS = NF > 1 ? $clog2(NF) : 1;

    reg [PE*SIMD*W_BITS-1:0]     wrom [0:NF*SF-1];
    reg [PE*STEPS*ACC_BITS-1:0] trom [0:NF-1];
    // no file (a module elaborated with its defaults, e.g. by Yosys' read_verilog): no ROM contents
    generate
        if (WEIGHTS_FILE != "") begin : load_weights
            initial $readmemh(WEIGHTS_FILE, wrom);
        end
        if (HAS_THRESHOLDS && THRESHOLDS_FILE != "") begin : load_thresholds
            initial $readmemh(THRESHOLDS_FILE, trom);
        end
    endgenerate

    // ---- input side: beat wr_sf of the vector in half wr_half; full[h]: half h holds a whole
    // vector the computation has not finished with
    reg [SIMD*IN_BITS-1:0] ibuf [0:2*SF-1];
    reg [31:0] wr_sf;
    reg        wr_half, rd_half;
    reg [1:0]  full;
    assign in0_tready = !full[wr_half];
    wire push      = in0_tvalid && in0_tready;
    wire push_last = push && wr_sf == SF - 1;
    always @(posedge ap_clk)
        if (push) ibuf[wr_half * SF + wr_sf] <= in0_tdata[SIMD*IN_BITS-1:0];

    // ---- computation: fold (nf, sf) of the vector in half rd_half
    reg [31:0] sf, nf;
    reg [PE*ACC_BITS-1:0] acc;  // lane p at [p*ACC_BITS +: ACC_BITS]

    // Two pipeline stages after the MACs, so the adder tree and the threshold compare are
    // separate paths: `fin` holds a finished accumulator (its thresholds in tword), out0 its activation.
    reg [PE*ACC_BITS-1:0] fin;
    reg        fin_valid;
    wire advance  = !out0_tvalid || out0_tready;   // the output register takes a beat
    wire fin_free = !fin_valid || advance;         // `fin` takes a new accumulator
    wire last_sf  = sf == SF - 1;
    wire have     = full[rd_half] || (wr_half == rd_half && wr_sf > sf);  // beat sf is in the buffer
    wire [SIMD*IN_BITS-1:0] x = ibuf[rd_half * SF + sf];
    wire step     = have && (!last_sf || fin_free);
    wire done_vec = step && last_sf && nf == NF - 1;
    wire load_fin = step && last_sf && fin_free;

    // weight ROM, synchronous read: waddr = nf*SF + sf (the current fold step), wword = its word
    reg [WA_BITS-1:0] waddr;
    wire [WA_BITS-1:0] waddr_next = !ap_rst_n || done_vec ? {WA_BITS{1'b0}}
                                  : step ? waddr + 1'b1 : waddr;
    reg [PE*SIMD*W_BITS-1:0] wword;
    always @(posedge ap_clk) begin
        waddr <= waddr_next;
        wword <= wrom[waddr_next];
    end

    // threshold ROM, synchronous read: the word of fold nf goes into tword as its accumulator into fin
    wire [TA_BITS-1:0] taddr = nf[TA_BITS-1:0];
    reg [PE*STEPS*ACC_BITS-1:0] tword;
    always @(posedge ap_clk)
        if (HAS_THRESHOLDS && load_fin) tword <= trom[taddr];

    // one fold step: the new accumulator values
    reg [PE*ACC_BITS-1:0] sums;
    reg signed [ACC_BITS-1:0] sum, xe, we, th, total;
    integer p, s, t, count;
    always @* begin
        for (p = 0; p < PE; p = p + 1) begin
            sum = sf == 0 ? 0 : acc[p*ACC_BITS +: ACC_BITS];
            for (s = 0; s < SIMD; s = s + 1) begin
                xe = IN_SIGNED ? $signed(x[s*IN_BITS +: IN_BITS]) : $signed({1'b0, x[s*IN_BITS +: IN_BITS]});
                we = W_SIGNED ? $signed(wword[(p * SIMD + s) * W_BITS +: W_BITS])
                              : $signed({1'b0, wword[(p * SIMD + s) * W_BITS +: W_BITS]});
                sum = sum + xe * we;
            end
            sums[p*ACC_BITS +: ACC_BITS] = sum;
        end
    end

    // the activation of the finished accumulator in `fin`: the output beat
    reg [OUT_WIDTH-1:0] result;
    always @* begin
        result = 0;
        for (p = 0; p < PE; p = p + 1) begin
            total = fin[p*ACC_BITS +: ACC_BITS];
            if (HAS_THRESHOLDS) begin
                count = BIAS;
                for (t = 0; t < STEPS; t = t + 1) begin
                    th = tword[(p * STEPS + t) * ACC_BITS +: ACC_BITS];
                    count = count + (total >= th);
                end
                result[p*OUT_BITS +: OUT_BITS] = count;
            end else
                result[p*OUT_BITS +: OUT_BITS] = total;
        end
    end

    always @(posedge ap_clk) begin
        if (step) acc <= sums;
        if (load_fin) fin <= sums;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sf <= 0; nf <= 0;
            wr_sf <= 0;
            wr_half <= 1'b0; rd_half <= 1'b0;
            full <= 2'b00;
            fin_valid <= 1'b0;
            out0_tvalid <= 1'b0;
            out0_tdata <= 0;
        end else begin
            if (push) begin
                wr_sf <= push_last ? 0 : wr_sf + 1;
                if (push_last) wr_half <= !wr_half;
            end
            full <= (full | (push_last ? 2'b01 << wr_half : 2'b00)) & ~(done_vec ? 2'b01 << rd_half : 2'b00);
            if (done_vec) rd_half <= !rd_half;
            if (fin_free) fin_valid <= step && last_sf;
            if (advance) begin
                out0_tvalid <= fin_valid;
                if (fin_valid) out0_tdata <= result;
            end
            if (step) begin
                sf <= last_sf ? 0 : sf + 1;
                if (last_sf) nf <= nf == NF - 1 ? 0 : nf + 1;
            end
        end
    end
endmodule
