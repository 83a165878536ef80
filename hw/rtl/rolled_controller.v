`default_nettype none
// Iteration controller and weight loader of the rolled residual body (one block engine run N_BLOCKS times).
//
// Weights: w_t* is the weight payload (fqsr.hw.rolled), 16-bit words, block after block (0, 1, .., N_BLOCKS-1,
// 0, ..: the DMA repeats it for every frame). A block is REGIONS regions, region r holding REGION_ENTRIES[r]
// entries of REGION_WORDS[r] words (least significant first) for cfg address REGION_BASE[r] + entry of stage
// REGION_STAGE[r] (the stages' cfg ports: mvau.v WEIGHT_RAM, thresholding.v THRESHOLD_RAM). Blocks load
// alternately into bank 0 and bank 1 of the stages' RAMs; a bank is loaded again only after the iteration that
// used it has finished, so block i+1 loads while iteration i computes (loaded[bank] marks a complete bank).
//
// Iterations: iteration k (block k mod N_BLOCKS) reads bank k mod 2. Once its bank is complete and the engine
// is idle, the controller offers the command cmd_tdata = block index; the DMA takes it (the block's input frame
// is ready to stream), then the frame's IN_BEATS beats pass from rd_t* into the block (dp_in_t*), and the block's
// OUT_BEATS output beats pass from dp_out_t* to wr_t*. The last output beat ends the iteration: the bank is
// released to the loader and the next iteration reads the other one (the block is then empty, so no beat sees
// the switch). Parameters are packed 32 bits per region, region r at [32*r +: 32].
module rolled_controller #(
    parameter integer N_BLOCKS  = 2,
    parameter integer IN_BEATS  = 4,
    parameter integer OUT_BEATS = 4,
    parameter integer STAGES    = 1,
    parameter integer DATA_BITS = 16,
    parameter integer REGIONS   = 1,
    parameter [32*REGIONS-1:0] REGION_STAGE   = 0,
    parameter [32*REGIONS-1:0] REGION_BASE    = 0,
    parameter [32*REGIONS-1:0] REGION_ENTRIES = 1,
    parameter [32*REGIONS-1:0] REGION_WORDS   = 1
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    // weight payload
    input  wire [15:0]          w_tdata,
    input  wire                 w_tvalid,
    output wire                 w_tready,
    // iteration commands to the frame DMA
    output wire [15:0]          cmd_tdata,
    output wire                 cmd_tvalid,
    input  wire                 cmd_tready,
    // frame handshakes: DMA read stream -> block, block -> DMA write stream (data passes beside)
    input  wire                 rd_tvalid,
    output wire                 rd_tready,
    output wire                 dp_in_tvalid,
    input  wire                 dp_in_tready,
    input  wire                 dp_out_tvalid,
    output wire                 dp_out_tready,
    output wire                 wr_tvalid,
    input  wire                 wr_tready,
    // the stages' parameter RAMs
    output reg  [STAGES-1:0]    cfg_wr_en,
    output reg                  cfg_wr_bank,
    output reg  [31:0]          cfg_wr_addr,
    output reg  [DATA_BITS-1:0] cfg_wr_data,
    output wire                 cfg_rd_bank,
    // status
    output wire [1:0]           banks_loaded,
    output wire                 busy
);
    localparam integer MAX_WORDS = (DATA_BITS + 15) / 16;
    initial if (N_BLOCKS < 1 || N_BLOCKS > 65535) $fatal(1, "rolled_controller: N_BLOCKS (%0d) must be 1 .. 65535", N_BLOCKS);
    initial if (IN_BEATS < 1 || OUT_BEATS < 1) $fatal(1, "rolled_controller: IN_BEATS and OUT_BEATS must be positive");
    initial if (REGIONS < 1 || STAGES < 1) $fatal(1, "rolled_controller: REGIONS (%0d) and STAGES (%0d) must be positive", REGIONS, STAGES);

    // ---- weight loader: region, entry, word of the block being loaded into bank load_bank
    reg [1:0]  loaded;
    reg        load_bank, finishing;
    reg [31:0] region, entry, sub;
    reg [MAX_WORDS*16-1:0] acc;
    wire [31:0] r_stage   = REGION_STAGE[32*region +: 32];
    wire [31:0] r_base    = REGION_BASE[32*region +: 32];
    wire [31:0] r_entries = REGION_ENTRIES[32*region +: 32];
    wire [31:0] r_words   = REGION_WORDS[32*region +: 32];
    assign w_tready = !loaded[load_bank] && !finishing;
    wire w_take      = w_tvalid && w_tready;
    wire last_sub    = sub == r_words - 1;
    wire last_entry  = entry == r_entries - 1;
    wire last_region = region == REGIONS - 1;
    reg [MAX_WORDS*16-1:0] merged;  // the entry with this word in place
    always @* begin
        merged = acc;
        merged[sub*16 +: 16] = w_tdata;
    end

    // ---- iterations
    reg        run_bank, active;
    reg [15:0] block;
    reg [31:0] in_left, out_left;
    assign cmd_tvalid    = !active && loaded[run_bank];
    assign cmd_tdata     = block;
    assign cfg_rd_bank   = run_bank;
    wire   rd_open       = active && in_left != 0;
    assign dp_in_tvalid  = rd_tvalid && rd_open;
    assign rd_tready     = dp_in_tready && rd_open;
    assign wr_tvalid     = dp_out_tvalid;
    assign dp_out_tready = wr_tready;
    wire start    = cmd_tvalid && cmd_tready;
    wire rd_beat  = rd_tvalid && rd_tready;
    wire wr_beat  = wr_tvalid && wr_tready;
    wire finished = wr_beat && out_left == 1;
    assign banks_loaded = loaded;
    assign busy = active;

    wire [1:0] set_loaded   = finishing ? 2'b01 << load_bank : 2'b00;
    wire [1:0] clear_loaded = finished ? 2'b01 << run_bank : 2'b00;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            loaded <= 2'b00;
            load_bank <= 1'b0;
            finishing <= 1'b0;
            region <= 0; entry <= 0; sub <= 0;
            cfg_wr_en <= 0;
            run_bank <= 1'b0;
            active <= 1'b0;
            block <= 0;
            in_left <= 0; out_left <= 0;
        end else begin
            loaded <= (loaded | set_loaded) & ~clear_loaded;
            cfg_wr_en <= 0;
            if (finishing) begin
                finishing <= 1'b0;
                load_bank <= !load_bank;
            end
            if (w_take) begin
                acc <= merged;
                if (last_sub) begin
                    cfg_wr_en <= {{(STAGES-1){1'b0}}, 1'b1} << r_stage;
                    sub <= 0;
                    if (last_entry) begin
                        entry <= 0;
                        region <= last_region ? 0 : region + 1;
                        if (last_region) finishing <= 1'b1;
                    end else entry <= entry + 1;
                end else sub <= sub + 1;
            end
            if (start) begin
                active <= 1'b1;
                in_left <= IN_BEATS;
                out_left <= OUT_BEATS;
            end
            if (rd_beat) in_left <= in_left - 1;
            if (wr_beat) out_left <= out_left - 1;
            if (finished) begin
                active <= 1'b0;
                run_bank <= !run_bank;
                block <= block == N_BLOCKS - 1 ? 0 : block + 1'b1;
            end
        end
    end
    always @(posedge ap_clk)
        if (w_take && last_sub) begin
            cfg_wr_bank <= load_bank;
            cfg_wr_addr <= r_base + entry;
            cfg_wr_data <= merged[DATA_BITS-1:0];
        end
endmodule
`default_nettype wire
