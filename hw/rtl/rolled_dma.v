`default_nettype none
// Frame and weight DMA of the rolled residual body: the rolled_body engine on one SDRAM host port (sdram_ctrl's,
// or weight_memory's user port), one arbiter for all traffic.
//
// Memory layout (16-bit word addresses): the weight payload at WEIGHT_BASE (WEIGHT_WORDS words: block 0 .. N-1,
// as weight_loader wrote it), the body's input frame at IN_ADDR and two frame buffers at BUF0_ADDR, BUF1_ADDR.
// A frame is FRAME_BEATS beats of BEAT_BITS, each beat WPB = ceil(BEAT_BITS / 16) words, least significant first.
//
// A frame passes three phases, one after the other:
//   load    FRAME_BEATS beats from in0_t* (the head's output) are written to IN_ADDR;
//   run     on the engine's command "block k" (cmd_t*), iteration k streams its input frame to frd_t* (block 0:
//           IN_ADDR, block k > 0: the buffer iteration k-1 wrote) and writes the engine's output (fwr_t*) to
//           buffer k mod 2; a command is taken only once the previous iteration's writes are all commanded
//           (the controller runs commands in order, so a read never overtakes the write of the same words);
//   unload  after the last block, the last output frame (buffer (N-1) mod 2) streams out on out0_t* (to the tail).
// The weight payload streams on w_t* independently, from WEIGHT_BASE to the end and around again, as fast as the
// engine takes it (its double-buffered banks load block k+1 while block k computes).
//
// Bursts never stall the controller, so no stream can block another through it: a read burst is commanded only
// when its destination FIFO has room for every word of it (reserved at the command), a write burst only when
// all of its words are in the write FIFO. Reads of both kinds return in command order; a tag FIFO says whose
// words come next. Fixed priority: frame writes, then frame reads, then weights.
module rolled_dma #(
    parameter integer BEAT_BITS    = 8,
    parameter integer FRAME_BEATS  = 16,
    parameter integer N_BLOCKS     = 2,
    parameter integer WEIGHT_BASE  = 0,
    parameter integer WEIGHT_WORDS = 16,
    parameter integer IN_ADDR      = 4096,
    parameter integer BUF0_ADDR    = 8192,
    parameter integer BUF1_ADDR    = 12288,
    parameter integer ADDR_BITS    = 24,
    parameter integer LEN_BITS     = 8,
    parameter integer BURST        = 32,    // words per command, at most
    parameter integer FIFO_WORDS   = 64     // each of the three word FIFOs (frame read, frame write, weights)
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    // the body's input frame (from the head) and its output frame (to the tail)
    input  wire [BEAT_BITS-1:0]   in0_tdata,
    input  wire                   in0_tvalid,
    output wire                   in0_tready,
    output wire [BEAT_BITS-1:0]   out0_tdata,
    output wire                   out0_tvalid,
    input  wire                   out0_tready,
    // the engine (rolled_body): its rd (frd here), wr (fwr), w and cmd ports
    output wire [BEAT_BITS-1:0]   frd_tdata,
    output wire                   frd_tvalid,
    input  wire                   frd_tready,
    input  wire [BEAT_BITS-1:0]   fwr_tdata,
    input  wire                   fwr_tvalid,
    output wire                   fwr_tready,
    output wire [15:0]            w_tdata,
    output wire                   w_tvalid,
    input  wire                   w_tready,
    input  wire [15:0]            cmd_tdata,
    input  wire                   cmd_tvalid,
    output wire                   cmd_tready,
    // the SDRAM host port
    output reg                    mem_cmd_valid,
    input  wire                   mem_cmd_ready,
    output reg                    mem_cmd_write,
    output reg  [ADDR_BITS-1:0]   mem_cmd_addr,
    output reg  [LEN_BITS-1:0]    mem_cmd_len,
    output wire [15:0]            mem_wr_tdata,
    output wire                   mem_wr_tvalid,
    input  wire                   mem_wr_tready,
    input  wire [15:0]            mem_rd_tdata,
    input  wire                   mem_rd_tvalid,
    output wire                   mem_rd_tready,
    // status: 0 load, 1 run, 2 unload; frames completed (unloaded)
    output reg  [1:0]             phase,
    output reg  [31:0]            frames_done
);
    localparam integer WPB = (BEAT_BITS + 15) / 16;
    localparam integer FRAME_WORDS = FRAME_BEATS * WPB;
    localparam [1:0] P_LOAD = 0, P_RUN = 1, P_UNLOAD = 2;
    localparam integer TAGS = 8;
    localparam integer OUT_ADDR = (N_BLOCKS - 1) % 2 ? BUF1_ADDR : BUF0_ADDR;
    initial begin
        if (BURST < 1 || BURST > (1 << LEN_BITS)) $fatal(1, "rolled_dma: BURST (%0d) must be 1 .. 2**LEN_BITS", BURST);
        if (FIFO_WORDS < BURST) $fatal(1, "rolled_dma: FIFO_WORDS (%0d) must hold a burst (%0d)", FIFO_WORDS, BURST);
        if (N_BLOCKS < 1 || FRAME_BEATS < 1 || WEIGHT_WORDS < 1)
            $fatal(1, "rolled_dma: N_BLOCKS, FRAME_BEATS and WEIGHT_WORDS must be positive");
        if (WEIGHT_BASE + WEIGHT_WORDS > IN_ADDR && IN_ADDR + FRAME_WORDS > WEIGHT_BASE)
            $fatal(1, "rolled_dma: the input frame overlaps the weights");
        if (BUF0_ADDR + FRAME_WORDS > BUF1_ADDR && BUF1_ADDR + FRAME_WORDS > BUF0_ADDR)
            $fatal(1, "rolled_dma: the two frame buffers overlap");
    end

    function [31:0] burst_of(input [31:0] left);
        burst_of = left > BURST ? BURST : left;
    endfunction

    // ---------------- frame write channel: beats (in0 or fwr) -> words -> write FIFO -> SDRAM
    reg  [31:0] wr_beats_left, wr_cmd_left, wr_uncommitted, wr_committed;
    reg  [ADDR_BITS-1:0] wr_addr;
    wire wsrc_valid = phase == P_LOAD ? in0_tvalid : phase == P_RUN ? fwr_tvalid : 1'b0;
    wire [BEAT_BITS-1:0] wsrc_data = phase == P_LOAD ? in0_tdata : fwr_tdata;
    wire wfifo_in_ready, wfifo_out_valid;
    wire [15:0] wfifo_in_data, wfifo_out_data;
    reg  wfull;
    reg  [31:0] wsub;
    reg  [16*WPB-1:0] wbeat;
    wire wword_push = wfull && wfifo_in_ready;
    wire wsrc_ready = wr_beats_left != 0 && (!wfull || (wword_push && wsub == WPB - 1));
    wire wsrc_take = wsrc_valid && wsrc_ready;
    assign in0_tready = phase == P_LOAD && wsrc_ready;
    assign fwr_tready = phase == P_RUN && wsrc_ready;
    assign wfifo_in_data = wbeat[wsub*16 +: 16];
    stream_fifo #(.WIDTH(16), .DEPTH(FIFO_WORDS)) write_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(wfifo_in_data), .in0_tvalid(wfull), .in0_tready(wfifo_in_ready),
        .out0_tdata(wfifo_out_data), .out0_tvalid(wfifo_out_valid), .out0_tready(mem_wr_tready && wr_committed != 0));
    assign mem_wr_tdata = wfifo_out_data;
    assign mem_wr_tvalid = wfifo_out_valid && wr_committed != 0;
    wire mem_wr_beat = mem_wr_tvalid && mem_wr_tready;

    // ---------------- read side: SDRAM words -> frame read FIFO (-> beats to frd or out0) or weight FIFO
    reg  [31:0] rd_cmd_left, rd_free, out_beats_left, w_free, w_off;
    reg  [ADDR_BITS-1:0] rd_addr;
    wire tag_in_ready, tag_valid;
    wire [LEN_BITS:0] tag_data;                 // {weights, words - 1}
    reg  [LEN_BITS-1:0] tag_count;
    wire tag_weights = tag_data[LEN_BITS];
    wire mem_rd_beat = mem_rd_tvalid && mem_rd_tready;
    wire tag_pop = mem_rd_beat && tag_count == tag_data[LEN_BITS-1:0];
    wire rfifo_in_ready, rfifo_out_valid, wfifo_w_in_ready;
    wire [15:0] rfifo_out_data;
    wire rword_pop;
    assign mem_rd_tready = tag_valid && (tag_weights ? wfifo_w_in_ready : rfifo_in_ready);  // room reserved: always

    stream_fifo #(.WIDTH(16), .DEPTH(FIFO_WORDS)) frame_read_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(mem_rd_tdata), .in0_tvalid(mem_rd_tvalid && tag_valid && !tag_weights), .in0_tready(rfifo_in_ready),
        .out0_tdata(rfifo_out_data), .out0_tvalid(rfifo_out_valid), .out0_tready(rword_pop));
    stream_fifo #(.WIDTH(16), .DEPTH(FIFO_WORDS)) weight_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(mem_rd_tdata), .in0_tvalid(mem_rd_tvalid && tag_valid && tag_weights), .in0_tready(wfifo_w_in_ready),
        .out0_tdata(w_tdata), .out0_tvalid(w_tvalid), .out0_tready(w_tready));
    wire w_pop = w_tvalid && w_tready;

    // words -> beats: the first WPB - 1 words of a beat wait in rbeat
    reg  [31:0] rsub;
    reg  [16*WPB-1:0] rbeat;
    wire [16*WPB-1:0] rbeat_next;
    generate
        if (WPB == 1) begin : one_word
            assign rbeat_next = rfifo_out_data;
        end else begin : words
            assign rbeat_next = {rfifo_out_data, rbeat[16*WPB-1:16]};
        end
    endgenerate
    wire rsink_ready = phase == P_RUN ? frd_tready : phase == P_UNLOAD ? out0_tready : 1'b0;
    wire rbeat_valid = rfifo_out_valid && rsub == WPB - 1 && (phase == P_RUN || phase == P_UNLOAD);
    assign rword_pop = rfifo_out_valid && (rsub != WPB - 1 || (rbeat_valid && rsink_ready));
    assign frd_tdata = rbeat_next[BEAT_BITS-1:0];
    assign out0_tdata = frd_tdata;
    assign frd_tvalid = rbeat_valid && phase == P_RUN;
    assign out0_tvalid = rbeat_valid && phase == P_UNLOAD;
    wire out0_beat = out0_tvalid && out0_tready;

    // ---------------- iterations
    reg running, last_iteration;
    wire writes_commanded = wr_beats_left == 0 && wr_cmd_left == 0 && !wfull;
    assign cmd_tready = phase == P_RUN && !running;
    wire cmd_take = cmd_tvalid && cmd_tready;
    wire [15:0] block = cmd_tdata;

    // ---------------- arbiter: one command register
    wire [31:0] wr_n = burst_of(wr_cmd_left), rd_n = burst_of(rd_cmd_left), w_n = burst_of(WEIGHT_WORDS - w_off);
    wire want_wr = wr_cmd_left != 0 && wr_uncommitted >= wr_n;
    wire want_rd = rd_cmd_left != 0 && rd_free >= rd_n && tag_in_ready;
    wire want_w  = w_free >= w_n && tag_in_ready;
    wire latch   = !mem_cmd_valid;
    wire pick_wr = latch && want_wr;
    wire pick_rd = latch && !want_wr && want_rd;
    wire pick_w  = latch && !want_wr && !want_rd && want_w;
    wire [LEN_BITS:0] tag_new = {pick_w, pick_w ? w_n[LEN_BITS-1:0] - 1'b1 : rd_n[LEN_BITS-1:0] - 1'b1};

    stream_fifo #(.WIDTH(LEN_BITS + 1), .DEPTH(TAGS)) tag_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(tag_new), .in0_tvalid(pick_rd || pick_w), .in0_tready(tag_in_ready),
        .out0_tdata(tag_data), .out0_tvalid(tag_valid), .out0_tready(tag_pop));

    wire [31:0] rword_popped = rword_pop ? 32'd1 : 32'd0;
    wire [31:0] w_popped = w_pop ? 32'd1 : 32'd0;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            phase <= P_LOAD;
            frames_done <= 0;
            running <= 1'b0;
            last_iteration <= 1'b0;
            mem_cmd_valid <= 1'b0;
            mem_cmd_write <= 1'b0;
            mem_cmd_addr <= 0;
            mem_cmd_len <= 0;
            wr_beats_left <= FRAME_BEATS;
            wr_cmd_left <= FRAME_WORDS;
            wr_addr <= IN_ADDR;
            wr_uncommitted <= 0;
            wr_committed <= 0;
            wfull <= 1'b0;
            wsub <= 0;
            rd_cmd_left <= 0;
            rd_addr <= 0;
            rd_free <= FIFO_WORDS;
            out_beats_left <= 0;
            w_free <= FIFO_WORDS;
            w_off <= 0;
            tag_count <= 0;
            rsub <= 0;
        end else begin
            // write channel: serialize beats into words
            if (wword_push) begin
                wsub <= wsub == WPB - 1 ? 0 : wsub + 1;
                if (wsub == WPB - 1) wfull <= 1'b0;
            end
            if (wsrc_take) begin
                wbeat <= wsrc_data;  // zero-extended
                wfull <= 1'b1;
                wr_beats_left <= wr_beats_left - 1;
            end
            wr_uncommitted <= wr_uncommitted + (wword_push ? 1 : 0) - (pick_wr ? wr_n : 0);
            wr_committed <= wr_committed + (pick_wr ? wr_n : 0) - (mem_wr_beat ? 1 : 0);

            // read side
            if (mem_rd_beat) tag_count <= tag_pop ? 0 : tag_count + 1'b1;
            if (rword_pop) begin
                rbeat <= rbeat_next;
                rsub <= rsub == WPB - 1 ? 0 : rsub + 1;
            end
            rd_free <= rd_free + rword_popped - (pick_rd ? rd_n : 0);
            w_free <= w_free + w_popped - (pick_w ? w_n : 0);

            // the arbiter
            if (mem_cmd_valid && mem_cmd_ready) mem_cmd_valid <= 1'b0;
            if (pick_wr || pick_rd || pick_w) begin
                mem_cmd_valid <= 1'b1;
                mem_cmd_write <= pick_wr;
            end
            if (pick_wr) begin
                mem_cmd_addr <= wr_addr;
                mem_cmd_len <= wr_n[LEN_BITS-1:0] - 1'b1;
                wr_addr <= wr_addr + wr_n;
                wr_cmd_left <= wr_cmd_left - wr_n;
            end
            if (pick_rd) begin
                mem_cmd_addr <= rd_addr;
                mem_cmd_len <= rd_n[LEN_BITS-1:0] - 1'b1;
                rd_addr <= rd_addr + rd_n;
                rd_cmd_left <= rd_cmd_left - rd_n;
            end
            if (pick_w) begin
                mem_cmd_addr <= WEIGHT_BASE + w_off;
                mem_cmd_len <= w_n[LEN_BITS-1:0] - 1'b1;
                w_off <= w_off + w_n == WEIGHT_WORDS ? 0 : w_off + w_n;
            end

            // phases
            case (phase)
                P_LOAD: if (writes_commanded) phase <= P_RUN;
                P_RUN: begin
                    if (cmd_take) begin
                        running <= 1'b1;
                        last_iteration <= block == N_BLOCKS - 1;
                        rd_addr <= block == 0 ? IN_ADDR : block[0] ? BUF0_ADDR : BUF1_ADDR;
                        rd_cmd_left <= FRAME_WORDS;
                        wr_addr <= block[0] ? BUF1_ADDR : BUF0_ADDR;
                        wr_cmd_left <= FRAME_WORDS;
                        wr_beats_left <= FRAME_BEATS;
                    end else if (running && writes_commanded) begin
                        running <= 1'b0;
                        if (last_iteration) begin
                            phase <= P_UNLOAD;
                            rd_addr <= OUT_ADDR;
                            rd_cmd_left <= FRAME_WORDS;
                            out_beats_left <= FRAME_BEATS;
                        end
                    end
                end
                P_UNLOAD: begin
                    if (out0_beat) out_beats_left <= out_beats_left - 1;
                    if (out0_beat && out_beats_left == 1) begin
                        phase <= P_LOAD;
                        frames_done <= frames_done + 1;
                        wr_addr <= IN_ADDR;
                        wr_cmd_left <= FRAME_WORDS;
                        wr_beats_left <= FRAME_BEATS;
                    end
                end
                default: phase <= P_LOAD;
            endcase
        end
    end
endmodule
`default_nettype wire
