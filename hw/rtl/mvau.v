`default_nettype none
// Matrix-vector-activation unit (FINN MVAU), PE x SIMD folding, weights as ROM.
// Per input vector x (MW elements, SIMD per beat, SF = MW/SIMD beats) it emits
// y = act(x . Wt) (MH elements, PE per beat, NF = MH/PE beats):
//   for nf in NF: for sf in SF: acc[p] += sum_s x[sf*SIMD+s] * W[sf*SIMD+s][nf*PE+p]
// Input vectors are written into a two-vector buffer (2 x SF beats) as they arrive and read
// from it for every nf: the computation follows the writer one beat behind on a vector
// still arriving, and the next vector streams into the other half while the current one is
// replayed for nf > 0, so an upstream that delivers SF beats spread over NF*SF cycles (a
// width converter, a slower producer) never stalls the computation. The MAC is three pipeline
// stages: the operands (the beat and the weight word, each read from its memory a step ahead into
// the memory's read register, then into a register of their own), the PE*SIMD products (from LUTs
// or `*`), the accumulate (an adder tree over the products and the accumulator, adder_tree.v); a
// valid bit per stage with stall propagation links them (a stage takes a step when it is empty or
// being emptied; the last stage empties a vector's last step only when the output register takes a
// beat), so a vector leaves two cycles later than with a one-stage MAC at the same rate
// (benchmarks/fmax.md: 30 -> 91 MHz for SIMD 9 x PE 4 LUT products). When the accumulate's tree would
// be 3 or more adders deep (SIMD >= 4), a fourth stage sums the products in groups of GROUP into
// registers first (SPLIT), and the accumulate adds those group sums and the running sum: one cycle more
// latency, the same rate (the 10-term tree was the critical path at SIMD 9 x PE 4). Finished accumulators
// go into a register (the end of the accumulate path); act is FINN's multithreshold
// (BIAS + #{t : acc >= T[ch][t]}) when HAS_THRESHOLDS, computed by a `thresholding` instance
// on that accumulator stream (a pipelined binary search, its thresholds in block-RAM-friendly
// ROMs), else the accumulator itself (noActivation = 1), sign-extended to OUT_BITS.
// The weight ROM is read synchronously (so synthesis can map it to block RAM): the word of the
// next fold step is loaded on each step from a registered address (wnext), so it is there when that
// step comes; the input buffer's beat is read a step ahead the same way (into a read register).
// WEIGHTS_FILE ($readmemh, one hex word per line, lane 0 in the LSBs): NF*SF words of
// PE*SIMD*W_BITS bits; word nf*SF + sf, lane p*SIMD + s holds W[sf*SIMD + s][nf*PE + p]
// (two's complement / unsigned). THRESHOLDS_PREFIX names the threshold ROMs as in
// thresholding.v (TH_BITS = ACC_BITS).
// The MAC takes the beat and the weight word apart once, with constant selects, into arrays of
// sign-extended lanes and accumulates each PE lane in its own clocked block on a fold step: a
// simulator built by Verilator runs that far faster than variable part-selects of the packed
// words in a lane loop (benchmarks/sim_speed.md); synthesis sees the same adders and multipliers.
// LUT_MULT = 1 builds every product from LUTs (shift and add of the weight's bits, one partial
// product per weight bit, the sign bit's subtracted) instead of the `*` that synth_ecp5 maps to a
// MULT18X18D per product whatever its width (Yosys has no per-cell attribute that stops it); the
// partial products of all SIMD lanes then meet in one adder tree. LUT_MULT = 0: `*`, synthesis decides.
// Simulation builds define FQSR_SIM_PRODUCTS (fqsr.sim.runner / fqsr.sim.harness: every Verilator and
// Icarus build unless it asks for the LUT form): the products are then `*` of the same sign-extended
// operands whatever LUT_MULT says, because Verilator's C++ of the LUT form grows with every bit of every
// product (a network folded to PE 16 x SIMD 72 per MVAU gave 662 MB of C++ that did not compile in 31 min,
// benchmarks/sim_speed.md). Synthesis never defines it. The two forms are proved equal by Yosys' SAT
// solver for every width and signedness the generator emits (tests/test_lut_product.py), and the MVAU
// tests simulate both.
// WEIGHT_RAM = 1 (the rolled build, one engine for all residual blocks): the weights (and the thresholds)
// live in double-buffered RAMs (bank_ram.v) read from bank cfg_rd_bank and written through the cfg port:
// cfg addresses 0 .. NF*SF-1 are the weight words (as the ROM file's lines), the thresholding's address
// space (thresholding.v, THRESHOLD_RAM) follows from NF*SF on, its words in cfg_wr_data's low PE*ACC_BITS bits.
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
    parameter THRESHOLDS_PREFIX = "",
    parameter integer SMALL_ROM_BITS = 9216,
    parameter integer LUT_MULT  = 0,
    parameter integer WEIGHT_RAM = 0,
    parameter integer CFG_WIDTH = PE * SIMD * W_BITS > PE * ACC_BITS ? PE * SIMD * W_BITS : PE * ACC_BITS,
    parameter integer IN_WIDTH  = (SIMD * IN_BITS + 7) / 8 * 8,
    parameter integer OUT_WIDTH = (PE * OUT_BITS + 7) / 8 * 8
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [IN_WIDTH-1:0]  in0_tdata,
    input  wire                 in0_tvalid,
    output wire                 in0_tready,
    output wire [OUT_WIDTH-1:0] out0_tdata,
    output wire                 out0_tvalid,
    input  wire                 out0_tready,
    // WEIGHT_RAM only (unused otherwise)
    input  wire                 cfg_wr_en,
    input  wire                 cfg_wr_bank,
    input  wire [31:0]          cfg_wr_addr,
    input  wire [CFG_WIDTH-1:0] cfg_wr_data,
    input  wire                 cfg_rd_bank
);
    localparam integer SF = MW / SIMD;
    localparam integer NF = MH / PE;
    localparam integer WA_BITS = NF * SF > 1 ? $clog2(NF * SF) : 1;
    localparam integer SA_BITS = SF > 1 ? $clog2(SF) : 1;  // the fold counters as narrow as their ranges:
    localparam integer NA_BITS = NF > 1 ? $clog2(NF) : 1;  // a 32-bit compare was a critical path
    initial if (SIMD < 1 || MW % SIMD != 0) $fatal(1, "mvau: MW (%0d) must be a multiple of SIMD (%0d)", MW, SIMD);
    initial if (PE < 1 || MH % PE != 0) $fatal(1, "mvau: MH (%0d) must be a multiple of PE (%0d)", MH, PE);


    // ---- input side: beat wr_sf of the vector in half wr_half; full[h]: half h holds a whole
    // vector the computation has not finished with
    // LUT RAM: the cost model (hw/cost.py) counts the buffer in LUTs
    (* ram_style = "distributed" *) reg [SIMD*IN_BITS-1:0] ibuf [0:2*SF-1];
    reg [SA_BITS-1:0] wr_sf;
    reg        wr_half, rd_half;
    reg [1:0]  full;
    assign in0_tready = !full[wr_half];
    wire push      = in0_tvalid && in0_tready;
    wire push_last = push && wr_sf == SF - 1;
    always @(posedge ap_clk)
        if (push) ibuf[iwaddr] <= in0_tdata[SIMD*IN_BITS-1:0];

    // ---- computation: fold (nf, sf) of the vector in half rd_half
    reg [SA_BITS-1:0] sf;
    reg [NA_BITS-1:0] nf;

    // the accumulator output register: a finished accumulator per lane (mac[p].data below),
    // lane p at acc_data[p*ACC_BITS +: ACC_BITS]
    wire [PE*ACC_BITS-1:0] acc_data;
    reg        acc_valid;
    wire       acc_ready;
    wire advance  = !acc_valid || acc_ready;       // the output register takes a beat
    wire last_sf  = sf == SF - 1;
    wire have     = full[rd_half] || (wr_half == rd_half && wr_sf > sf);  // beat sf is in the buffer
    // the MAC's three stages, each a register with a valid bit and whether its fold step is the first
    // (sf == 0) and the last (last_sf) of an accumulation: the operands (stage 1, on `step`: the beat and
    // the weight word, out of the memories' read registers), the PE*SIMD products (stage 2, on `fill_p`)
    // and the accumulate (stage 3, on `consume`, a last step only when the output register takes a beat)
    // SPLIT: a stage of group sums (on `fill_s`) between the products and the accumulate
    localparam integer TREE_LEVELS = $clog2(SIMD + 1);
    localparam integer SPLIT  = TREE_LEVELS >= 3;
    localparam integer GROUP  = 1 << ((TREE_LEVELS + 1) / 2);  // products per group sum: the two trees balanced
    localparam integer GROUPS = (SIMD + GROUP - 1) / GROUP;
    reg        o_valid, o_first, o_last;
    reg        p_valid, p_first, p_last;
    reg        s_valid, s_first, s_last;
    wire a_valid  = SPLIT ? s_valid : p_valid;     // the stage the accumulate reads
    wire a_first  = SPLIT ? s_first : p_first;
    wire a_last   = SPLIT ? s_last : p_last;
    wire consume  = a_valid && (!a_last || advance);
    wire fill_s   = p_valid && (!s_valid || consume);
    wire fill_p   = o_valid && (!p_valid || (SPLIT ? fill_s : consume));
    wire step     = have && (!o_valid || fill_p);
    wire done_vec = step && last_sf && nf == NF - 1;

    // weight ROM, synchronous read: waddr = nf*SF + sf (the current fold step), wword = its word;
    // wnext = the next step's word address (0 after a vector's last). The ROM loads word wnext on a step
    // (word 0 in reset), so its address comes from a register and `step` only enables it: the address
    // is not behind the stall logic, whose path into a ROM built from LUTs was a critical one
    reg [WA_BITS-1:0] waddr, wnext;
    wire [WA_BITS-1:0] waddr_next = !ap_rst_n ? {WA_BITS{1'b0}} : step ? wnext : waddr;
    wire [PE*SIMD*W_BITS-1:0] wword;
    always @(posedge ap_clk)
        if (!ap_rst_n) begin
            waddr <= 0;
            wnext <= NF * SF > 1 ? 1 : 0;
        end else if (step) begin
            waddr <= wnext;
            wnext <= wnext == NF * SF - 1 ? {WA_BITS{1'b0}} : wnext + 1'b1;
        end

    // the beat of the current fold step, x = ibuf[rd_half * SF + sf], read into a register like the weight
    // word: from the address of the next step (the step counter's and the half's next values), or from
    // the input when that beat is written on the same edge (so x is the buffer's word as the step sees it)
    localparam integer IA_BITS = 2 * SF > 1 ? $clog2(2 * SF) : 1;
    wire [SA_BITS-1:0] sf_next = step ? (last_sf ? {SA_BITS{1'b0}} : sf + 1'b1) : sf;
    wire        rd_half_next = done_vec ? !rd_half : rd_half;
    wire [IA_BITS-1:0] raddr_next = !ap_rst_n ? {IA_BITS{1'b0}} : rd_half_next * SF + sf_next;
    wire [IA_BITS-1:0] iwaddr = wr_half * SF + wr_sf;
    reg  [SIMD*IN_BITS-1:0] x;
    always @(posedge ap_clk)
        x <= push && iwaddr == raddr_next ? in0_tdata[SIMD*IN_BITS-1:0] : ibuf[raddr_next];
    // the operand register: a memory's read register (a block RAM's own, for a large ROM) feeds no
    // multiplier directly, whose path would start at the block's slow clock-to-output (benchmarks/fmax.md)
    reg [SIMD*IN_BITS-1:0]     xo;
    reg [PE*SIMD*W_BITS-1:0]   wo;
    always @(posedge ap_clk)
        if (step) begin
            xo <= x;
            wo <= wword;
        end
    generate
        if (WEIGHT_RAM) begin : weight_ram
            initial if (CFG_WIDTH < PE * SIMD * W_BITS || (HAS_THRESHOLDS && CFG_WIDTH < PE * ACC_BITS))
                $fatal(1, "mvau: CFG_WIDTH (%0d) must hold a weight word and a threshold word", CFG_WIDTH);
            // read every cycle (a bank switch between iterations must show in word 0), from waddr_next
            bank_ram #(.WIDTH(PE * SIMD * W_BITS), .DEPTH(NF * SF), .SMALL_BITS(SMALL_ROM_BITS), .AW(WA_BITS))
                weights (.clk(ap_clk), .en(1'b1), .rd_bank(cfg_rd_bank), .addr(waddr_next), .q(wword),
                         .wr_en(cfg_wr_en && cfg_wr_addr < NF * SF), .wr_bank(cfg_wr_bank),
                         .wr_addr(cfg_wr_addr[WA_BITS-1:0]), .wr_data(cfg_wr_data[PE*SIMD*W_BITS-1:0]));
        end else begin : weight_rom
            rom #(.WIDTH(PE * SIMD * W_BITS), .DEPTH(NF * SF), .FILE(WEIGHTS_FILE), .SMALL_BITS(SMALL_ROM_BITS),
                  .AW(WA_BITS))
                weights (.clk(ap_clk), .en(step || !ap_rst_n), .addr(ap_rst_n ? wnext : {WA_BITS{1'b0}}),
                         .q(wword));
        end
    endgenerate

    // the lanes of the input beat and of the weight word, each extended by its sign bit (0 when
    // unsigned), taken apart once with constant selects; xl[s], wl[p*SIMD + s]
    wire signed [IN_BITS:0] xl [0:SIMD-1];
    wire signed [W_BITS:0]  wl [0:PE*SIMD-1];

    localparam integer PW = IN_BITS + W_BITS + 2;  // a product's width
`ifdef FQSR_SIM_PRODUCTS
    localparam integer LUT_FORM = 0;  // a simulation build: `*`, proved equal to lut_product
`else
    localparam integer LUT_FORM = LUT_MULT;
`endif
    // x * w from LUTs: the sum of x << i over the weight's set bits i < W_BITS, minus x << W_BITS when its
    // sign bit is set (the (W_BITS+1)-bit two's complement value of wl), added as a balanced tree (pairs,
    // then pairs of pairs; the subtracted term last, so it is the one carried up unpaired) in this module:
    // a chain of W_BITS adders was the product stage's critical path (78 MHz at SIMD 9 x PE 4), and a tree
    // in a module of its own (adder_tree.v) cost 1.8x the LUTs under synth_ecp5 -noflatten, the zero bits
    // of the shifted terms not crossing the module boundary (benchmarks/fmax.md)
    function automatic signed [PW-1:0] lut_product(input signed [IN_BITS:0] a, input signed [W_BITS:0] b);
        integer i, n;
        reg [(W_BITS+1)*PW-1:0] t;
        reg signed [PW-1:0] a_wide;
        begin
            a_wide = a;
            for (i = 0; i < W_BITS; i = i + 1)
                t[i*PW +: PW] = b[i] ? a_wide <<< i : {PW{1'b0}};
            t[W_BITS*PW +: PW] = b[W_BITS] ? -(a_wide <<< W_BITS) : {PW{1'b0}};
            for (n = W_BITS + 1; n > 1; n = (n + 1) / 2)
                for (i = 0; i <= W_BITS; i = i + 1)
                    if (2 * i + 1 < n) t[i*PW +: PW] = t[2*i*PW +: PW] + t[(2*i+1)*PW +: PW];
                    else if (2 * i < n) t[i*PW +: PW] = t[2*i*PW +: PW];
            lut_product = t[PW-1:0];
        end
    endfunction

    localparam integer TW = PW > ACC_BITS ? PW : ACC_BITS;  // an accumulate term's width
    genvar lane, g;
    generate
        for (g = 0; g < SIMD; g = g + 1) begin : x_lane
            wire [IN_BITS-1:0] v = xo[g*IN_BITS +: IN_BITS];
            assign xl[g] = {IN_SIGNED ? v[IN_BITS-1] : 1'b0, v};
        end
        for (g = 0; g < PE * SIMD; g = g + 1) begin : w_lane
            wire [W_BITS-1:0] v = wo[g*W_BITS +: W_BITS];
            assign wl[g] = {W_SIGNED ? v[W_BITS-1] : 1'b0, v};
        end
        // stage 2, per lane p on `fill_p`: prod[s] <= x[s] * W[s][p]; stage 3 on `consume`:
        // acc <= (first ? 0 : acc) + sum_s prod[s], in ACC_BITS two's complement; the finished sum (last)
        // also goes into the output register
        for (lane = 0; lane < PE; lane = lane + 1) begin : mac
            reg signed [ACC_BITS-1:0] acc, data;
            wire [(SIMD+1)*TW-1:0] terms;  // the SIMD products and (last) the running sum, for the adder tree
            for (g = 0; g < SIMD; g = g + 1) begin : prod
                reg signed [PW-1:0] q;
                wire signed [PW-1:0] product;
                if (LUT_FORM) begin : from_luts
                    assign product = lut_product(xl[g], wl[lane * SIMD + g]);
                end else begin : multiply
                    assign product = xl[g] * wl[lane * SIMD + g];
                end
                always @(posedge ap_clk)
                    if (fill_p) q <= product;
                wire signed [TW-1:0] term = q;
                assign terms[g*TW +: TW] = term;
            end
            wire signed [ACC_BITS-1:0] running = a_first ? {ACC_BITS{1'b0}} : acc;
            wire signed [ACC_BITS-1:0] sum;
            if (SPLIT) begin : split
                // a group sum is exact in GW bits, or wraps at ACC_BITS like the accumulator (the final sum
                // fits ACC_BITS, so it is the same modulo 2^ACC_BITS)
                localparam integer GW = PW + $clog2(GROUP) < ACC_BITS ? PW + $clog2(GROUP) : ACC_BITS;
                wire [(GROUPS+1)*ACC_BITS-1:0] sums;
                for (g = 0; g < GROUPS; g = g + 1) begin : group
                    localparam integer N = (g + 1) * GROUP <= SIMD ? GROUP : SIMD - g * GROUP;
                    wire signed [GW-1:0] part;
                    adder_tree #(.N(N), .IN_BITS(TW), .OUT_BITS(GW)) group_sum (
                        .terms(terms[g*GROUP*TW +: N*TW]), .sum(part));
                    reg signed [GW-1:0] q;
                    always @(posedge ap_clk)
                        if (fill_s) q <= part;
                    wire signed [ACC_BITS-1:0] e = q;
                    assign sums[g*ACC_BITS +: ACC_BITS] = e;
                end
                assign sums[GROUPS*ACC_BITS +: ACC_BITS] = running;
                assign terms[SIMD*TW +: TW] = {TW{1'b0}};  // the running sum goes into the second tree
                adder_tree #(.N(GROUPS + 1), .IN_BITS(ACC_BITS), .OUT_BITS(ACC_BITS)) fold_sum (
                    .terms(sums), .sum(sum));
            end else begin : whole
                wire signed [TW-1:0] running_term = running;
                assign terms[SIMD*TW +: TW] = running_term;
                adder_tree #(.N(SIMD + 1), .IN_BITS(TW), .OUT_BITS(ACC_BITS)) fold_sum (.terms(terms), .sum(sum));
            end
            always @(posedge ap_clk)
                if (consume) begin
                    acc <= sum;
                    if (a_last) data <= sum;
                end
            assign acc_data[lane*ACC_BITS +: ACC_BITS] = data;
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sf <= 0; nf <= 0;
            wr_sf <= 0;
            wr_half <= 1'b0; rd_half <= 1'b0;
            full <= 2'b00;
            acc_valid <= 1'b0;
            o_valid <= 1'b0;
            p_valid <= 1'b0;
            s_valid <= 1'b0;
        end else begin
            if (push) begin
                wr_sf <= push_last ? {SA_BITS{1'b0}} : wr_sf + 1'b1;
                if (push_last) wr_half <= !wr_half;
            end
            full <= (full | (push_last ? 2'b01 << wr_half : 2'b00)) & ~(done_vec ? 2'b01 << rd_half : 2'b00);
            if (done_vec) rd_half <= !rd_half;
            if (advance) acc_valid <= consume && a_last;
            if (step) begin
                o_valid <= 1'b1;
                o_first <= sf == 0;
                o_last <= last_sf;
            end else if (fill_p) o_valid <= 1'b0;
            if (fill_p) begin
                p_valid <= 1'b1;
                p_first <= o_first;
                p_last <= o_last;
            end else if (SPLIT ? fill_s : consume) p_valid <= 1'b0;
            if (fill_s) begin
                s_valid <= 1'b1;
                s_first <= p_first;
                s_last <= p_last;
            end else if (consume) s_valid <= 1'b0;
            if (step) begin
                sf <= last_sf ? {SA_BITS{1'b0}} : sf + 1'b1;
                if (last_sf) nf <= nf == NF - 1 ? {NA_BITS{1'b0}} : nf + 1'b1;
            end
        end
    end

    generate
        if (HAS_THRESHOLDS) begin : act
            thresholding #(
                .PE(PE), .CHANNELS(MH), .STEPS(STEPS), .IN_BITS(ACC_BITS), .IN_SIGNED(1),
                .OUT_BITS(OUT_BITS), .BIAS(BIAS), .TH_BITS(ACC_BITS), .THRESHOLDS_PREFIX(THRESHOLDS_PREFIX),
                .SMALL_ROM_BITS(SMALL_ROM_BITS), .THRESHOLD_RAM(WEIGHT_RAM), .IN_WIDTH(PE * ACC_BITS),
                .OUT_WIDTH(OUT_WIDTH)
            ) thresholds (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .in0_tdata(acc_data), .in0_tvalid(acc_valid), .in0_tready(acc_ready),
                .out0_tdata(out0_tdata), .out0_tvalid(out0_tvalid), .out0_tready(out0_tready),
                .cfg_wr_en(cfg_wr_en && cfg_wr_addr >= NF * SF), .cfg_wr_bank(cfg_wr_bank),
                .cfg_wr_addr(cfg_wr_addr - NF * SF), .cfg_wr_data(cfg_wr_data[PE*ACC_BITS-1:0]),
                .cfg_rd_bank(cfg_rd_bank)
            );
        end else begin : no_act  // the accumulators, each sign-extended to OUT_BITS
            wire [PE*OUT_BITS-1:0] wide;
            for (lane = 0; lane < PE; lane = lane + 1) begin : extend
                wire signed [ACC_BITS-1:0] a = acc_data[lane*ACC_BITS +: ACC_BITS];
                wire signed [OUT_BITS-1:0] e = a;
                assign wide[lane*OUT_BITS +: OUT_BITS] = e;
            end
            assign out0_tdata = wide;  // zero-padded to OUT_WIDTH
            assign out0_tvalid = acc_valid;
            assign acc_ready = out0_tready;
        end
    endgenerate
endmodule
`default_nettype wire
