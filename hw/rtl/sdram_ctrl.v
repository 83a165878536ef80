`default_nettype none
// SDR SDRAM controller for one 16-bit chip of 4 banks (ULX3S: 32 MB, IS42S16160 class, 8192 rows x 512 columns).
//
// Host side: a command (word address, length - 1, write flag) taken on cmd_valid & cmd_ready, then `length`
// 16-bit words on the write stream (write) or the read stream (read), both valid/ready, in address order.
// Word address = {row, bank, column}: a sequential stream fills a row, then the same row of the next bank.
// The chip runs with burst length 1 and the controller issues one READ or WRITE per word, so a burst may
// start and end anywhere, stall on either stream, and cross rows and banks.
// Rows stay open after a burst; a word in another row of an open bank precharges that bank first.
// AUTO REFRESH takes priority at every word boundary once due (the chip's burst is one word), so a stalled
// host never delays it past tREFI; all open banks are precharged first and reopened when the burst goes on.
// Reads are issued only while the read FIFO has room for every word in flight: read data never drops.
// Write data passes a small FIFO, so wr_tready, like cmd_ready and rd_tvalid, comes from a register and the
// host's logic never sits in a path with the controller's bank and row compare.
// Timing parameters are nanoseconds, turned into cycles of the CLK_MHZ clock (rounded up); the defaults are
// conservative values covering the parts ULX3S boards carry
// (IS42S16160, MT48LC16M16A2-75, AS4C32M16SB-7; the last has 1024 columns: COL_BITS 10). Commands, address and write data are registered at the
// pins; read data is registered as it enters, CAS_LATENCY + 2 cycles after the READ is decided.
module sdram_ctrl #(
    parameter integer CLK_MHZ        = 100,
    parameter integer CAS_LATENCY    = 2,
    parameter integer ROW_BITS       = 13,
    parameter integer COL_BITS       = 9,
    parameter integer LEN_BITS       = 8,       // a command moves 1 .. 2**LEN_BITS words
    parameter integer T_RCD_NS       = 21,      // ACTIVE to READ/WRITE
    parameter integer T_RP_NS        = 21,      // PRECHARGE to ACTIVE/REFRESH
    parameter integer T_RAS_NS       = 45,      // ACTIVE to PRECHARGE
    parameter integer T_RC_NS        = 68,      // ACTIVE to ACTIVE/REFRESH, same bank
    parameter integer T_RRD_NS       = 15,      // ACTIVE to ACTIVE, other bank
    parameter integer T_WR_NS        = 15,      // last write data to PRECHARGE (at least 2 cycles)
    parameter integer T_RFC_NS       = 70,      // REFRESH to any command
    parameter integer T_MRD_CYCLES   = 2,       // MODE REGISTER SET to any command
    parameter integer T_REFI_NS      = 7812,    // 8192 refreshes per 64 ms
    parameter integer POWERUP_US     = 200,     // wait after power-up before the init sequence
    parameter integer INIT_REFRESHES = 8,
    parameter integer RD_FIFO_DEPTH  = 16,
    parameter integer WR_FIFO_DEPTH  = 4        // write data may run this many words ahead of its command
) (
    input  wire                             ap_clk,
    input  wire                             ap_rst_n,
    // host: command
    input  wire                             cmd_valid,
    output wire                             cmd_ready,
    input  wire                             cmd_write,
    input  wire [ROW_BITS+COL_BITS+1:0]     cmd_addr,
    input  wire [LEN_BITS-1:0]              cmd_len,     // words - 1
    // host: write and read data
    input  wire [15:0]                      wr_tdata,
    input  wire                             wr_tvalid,
    output wire                             wr_tready,
    output wire [15:0]                      rd_tdata,
    output wire                             rd_tvalid,
    input  wire                             rd_tready,
    output reg                              init_done,
    // chip
    output reg                              sdram_cke,
    output reg                              sdram_cs_n,
    output reg                              sdram_ras_n,
    output reg                              sdram_cas_n,
    output reg                              sdram_we_n,
    output reg  [1:0]                       sdram_ba,
    output reg  [ROW_BITS-1:0]              sdram_a,
    output reg  [1:0]                       sdram_dqm,
    output reg  [15:0]                      sdram_dq_o,
    output reg                              sdram_dq_oe,
    input  wire [15:0]                      sdram_dq_i
);
    localparam integer ADDR_BITS = ROW_BITS + COL_BITS + 2;
    function integer cycles(input integer ns);
        cycles = (ns * CLK_MHZ + 999) / 1000;
    endfunction
    function integer at_least(input integer a, input integer b);
        at_least = a > b ? a : b;
    endfunction
    localparam integer TRCD = at_least(cycles(T_RCD_NS), 1);
    localparam integer TRP  = at_least(cycles(T_RP_NS), 1);
    localparam integer TRAS = at_least(cycles(T_RAS_NS), 1);
    localparam integer TRC  = at_least(cycles(T_RC_NS), 1);
    localparam integer TRRD = at_least(cycles(T_RRD_NS), 1);
    localparam integer TWR  = at_least(cycles(T_WR_NS), 2);
    localparam integer TRFC = at_least(cycles(T_RFC_NS), 1);
    localparam integer TMRD = at_least(T_MRD_CYCLES, 1);
    localparam integer POWERUP_CYCLES = POWERUP_US * CLK_MHZ;
    // a due refresh waits at most for the open banks' tRAS and tWR and then tRP, and the first one also
    // for tRFC and tMRD after the last init refresh: start that much early
    localparam integer REFRESH_MARGIN = TRAS + TWR + TRP + TRFC + TMRD + 4;
    localparam integer REFRESH_CYCLES = T_REFI_NS * CLK_MHZ / 1000 - REFRESH_MARGIN;
    localparam integer CW = 8;  // width of the timing counters
    localparam integer PW = $clog2(POWERUP_CYCLES + 2);
    localparam integer RW = $clog2(REFRESH_CYCLES + 2);
    localparam integer FW = $clog2(RD_FIFO_DEPTH + 1);

    initial begin
        if (CAS_LATENCY != 2 && CAS_LATENCY != 3) $fatal(1, "sdram_ctrl: CAS_LATENCY (%0d) must be 2 or 3", CAS_LATENCY);
        if (CLK_MHZ < 1 || CLK_MHZ > 200) $fatal(1, "sdram_ctrl: CLK_MHZ (%0d) must be 1 .. 200", CLK_MHZ);
        if (ROW_BITS < 11 || ROW_BITS > 13) $fatal(1, "sdram_ctrl: ROW_BITS (%0d) must be 11 .. 13", ROW_BITS);
        if (COL_BITS < 8 || COL_BITS > 10) $fatal(1, "sdram_ctrl: COL_BITS (%0d) must be 8 .. 10 (A10 is the precharge flag)", COL_BITS);
        if (LEN_BITS < 1 || LEN_BITS > 16) $fatal(1, "sdram_ctrl: LEN_BITS (%0d) must be 1 .. 16", LEN_BITS);
        if (TRAS >= 256 || TRC >= 256 || TRFC >= 256 || TMRD >= 256 || TWR >= 256)
            $fatal(1, "sdram_ctrl: a timing parameter exceeds 255 cycles at %0d MHz", CLK_MHZ);
        if (REFRESH_CYCLES < 2 * REFRESH_MARGIN)
            $fatal(1, "sdram_ctrl: T_REFI_NS (%0d) leaves no time between refreshes at %0d MHz", T_REFI_NS, CLK_MHZ);
        if (POWERUP_US < 1) $fatal(1, "sdram_ctrl: POWERUP_US (%0d) must be positive", POWERUP_US);
        if (INIT_REFRESHES < 2 || INIT_REFRESHES > 15) $fatal(1, "sdram_ctrl: INIT_REFRESHES (%0d) must be 2 .. 15", INIT_REFRESHES);
        if (WR_FIFO_DEPTH < 1) $fatal(1, "sdram_ctrl: WR_FIFO_DEPTH (%0d) must be positive", WR_FIFO_DEPTH);
        if (RD_FIFO_DEPTH < CAS_LATENCY + 3) $fatal(1, "sdram_ctrl: RD_FIFO_DEPTH (%0d) must cover the read latency (%0d)", RD_FIFO_DEPTH, CAS_LATENCY + 3);
    end

    // chip commands {cs_n, ras_n, cas_n, we_n}
    localparam [3:0] CMD_NOP = 4'b0111, CMD_ACTIVE = 4'b0011, CMD_READ = 4'b0101, CMD_WRITE = 4'b0100,
                     CMD_PRECHARGE = 4'b0010, CMD_REFRESH = 4'b0001, CMD_MRS = 4'b0000;
    // mode register: burst length 1, sequential, CAS latency, programmed burst on writes
    localparam [2:0] CL_BITS = CAS_LATENCY;
    localparam [12:0] MODE = {6'd0, CL_BITS, 1'b0, 3'b000};
    localparam [ROW_BITS-1:0] A10 = 1 << 10;  // PRECHARGE: all banks

    localparam [2:0] S_POWERUP = 0, S_INIT_PRE = 1, S_INIT_REF = 2, S_INIT_MRS = 3, S_IDLE = 4, S_XFER = 5, S_REF = 6;
    reg [2:0] state, resume;

    reg [PW-1:0] powerup_cnt;
    reg [RW-1:0] refresh_cnt;
    reg          refresh_due;
    reg [3:0]    init_refs;
    reg [CW-1:0] wait_cnt;                      // no command at all until zero (tRP, tRFC, tMRD)
    reg [CW-1:0] pre_ok [0:3];                  // per bank: PRECHARGE allowed at zero (tRAS, tWR)
    reg [CW-1:0] act_ok [0:3];                  // per bank: ACTIVE/REFRESH allowed at zero (tRC, tRP, tRFC)
    reg [CW-1:0] rrd_cnt, rcd_cnt, turn_cnt;    // tRRD; tRCD of the bank just opened; READ to WRITE turnaround
    reg [3:0]    open;
    reg [4*ROW_BITS-1:0] open_rows;            // bank b's open row at [b*ROW_BITS +: ROW_BITS] (registers)

    reg                 xfer_write;
    reg [ADDR_BITS-1:0] cur_addr;
    reg [LEN_BITS-1:0]  words_left;             // words after the current one

    wire [COL_BITS-1:0] cur_col  = cur_addr[COL_BITS-1:0];
    wire [1:0]          cur_bank = cur_addr[COL_BITS +: 2];
    wire [ROW_BITS-1:0] cur_row  = cur_addr[COL_BITS+2 +: ROW_BITS];
    wire bank_open = open[cur_bank];
    wire row_hit   = bank_open && open_rows[cur_bank*ROW_BITS +: ROW_BITS] == cur_row;
    wire [ROW_BITS-1:0] col_a = cur_col;
    wire col_ok    = state == S_XFER && !refresh_due && row_hit && rcd_cnt == 0 && wait_cnt == 0;

    // read path: a pipeline that marks when a READ's data reaches the pins, a capture register, a FIFO
    reg [CAS_LATENCY:0] rd_pipe;
    reg        cap_valid;
    reg [15:0] cap_data;
    reg [FW-1:0] reserved;                      // FIFO words + reads in flight
    wire rd_fifo_ready;

    wire [15:0] wf_tdata;
    wire wf_tvalid;
    wire issue_read  = col_ok && !xfer_write && reserved < RD_FIFO_DEPTH;
    wire issue_write = col_ok && xfer_write && turn_cnt == 0 && wf_tvalid;
    assign cmd_ready = state == S_IDLE && !refresh_due;
    wire rd_pop = rd_tvalid && rd_tready;

    stream_fifo #(.WIDTH(16), .DEPTH(WR_FIFO_DEPTH)) write_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(wr_tdata), .in0_tvalid(wr_tvalid), .in0_tready(wr_tready),
        .out0_tdata(wf_tdata), .out0_tvalid(wf_tvalid), .out0_tready(issue_write));

    stream_fifo #(.WIDTH(16), .DEPTH(RD_FIFO_DEPTH)) read_fifo (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(cap_data), .in0_tvalid(cap_valid), .in0_tready(rd_fifo_ready),
        .out0_tdata(rd_tdata), .out0_tvalid(rd_tvalid), .out0_tready(rd_tready));

    wire any_open_busy = (open[0] && pre_ok[0] != 0) || (open[1] && pre_ok[1] != 0)
                      || (open[2] && pre_ok[2] != 0) || (open[3] && pre_ok[3] != 0);
    wire all_act_ok = act_ok[0] == 0 && act_ok[1] == 0 && act_ok[2] == 0 && act_ok[3] == 0;

    function [CW-1:0] down(input [CW-1:0] v);
        down = v != 0 ? v - 1'b1 : v;
    endfunction
    function [CW-1:0] hold(input [CW-1:0] v, input [CW-1:0] n);  // count down, but wait at least n more cycles
        hold = v > n ? v - 1'b1 : n - 1'b1;  // max(down(v), n - 1) for n >= 1, in CW bits
    endfunction

    task command(input [3:0] cmd, input [1:0] ba, input [ROW_BITS-1:0] a);
        begin
            {sdram_cs_n, sdram_ras_n, sdram_cas_n, sdram_we_n} <= cmd;
            sdram_ba <= ba;
            sdram_a <= a;
        end
    endtask

    integer b;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            state <= S_POWERUP;
            resume <= S_IDLE;
            powerup_cnt <= 0;
            refresh_cnt <= 0;
            refresh_due <= 1'b0;
            init_refs <= 0;
            init_done <= 1'b0;
            wait_cnt <= 0;
            rrd_cnt <= 0;
            rcd_cnt <= 0;
            turn_cnt <= 0;
            open <= 4'b0;
            for (b = 0; b < 4; b = b + 1) begin
                pre_ok[b] <= 0;
                act_ok[b] <= 0;
            end
            xfer_write <= 1'b0;
            cur_addr <= 0;
            words_left <= 0;
            rd_pipe <= 0;
            cap_valid <= 1'b0;
            reserved <= 0;
            sdram_cke <= 1'b1;
            sdram_dqm <= 2'b11;
            sdram_dq_oe <= 1'b0;
            command(CMD_NOP, 2'b00, {ROW_BITS{1'b0}});
        end else begin
            // defaults: NOP, counters run down
            command(CMD_NOP, sdram_ba, sdram_a);
            sdram_dq_oe <= 1'b0;
            wait_cnt <= down(wait_cnt);
            rrd_cnt <= down(rrd_cnt);
            rcd_cnt <= down(rcd_cnt);
            turn_cnt <= down(turn_cnt);
            for (b = 0; b < 4; b = b + 1) begin
                pre_ok[b] <= down(pre_ok[b]);
                act_ok[b] <= down(act_ok[b]);
            end
            rd_pipe <= {rd_pipe[CAS_LATENCY-1:0], issue_read};
            cap_valid <= rd_pipe[CAS_LATENCY];
            cap_data <= sdram_dq_i;
            reserved <= reserved + issue_read - rd_pop;

            if (init_done) begin
                if (refresh_cnt == REFRESH_CYCLES - 1) refresh_due <= 1'b1;
                else refresh_cnt <= refresh_cnt + 1'b1;
            end

            case (state)
                S_POWERUP: begin
                    powerup_cnt <= powerup_cnt + 1'b1;
                    if (powerup_cnt == POWERUP_CYCLES - 1) state <= S_INIT_PRE;
                end
                S_INIT_PRE: begin
                    command(CMD_PRECHARGE, 2'b00, A10);  // A10: all banks
                    wait_cnt <= TRP - 1;
                    state <= S_INIT_REF;
                end
                S_INIT_REF: if (wait_cnt == 0) begin
                    command(CMD_REFRESH, 2'b00, sdram_a);
                    wait_cnt <= TRFC - 1;
                    init_refs <= init_refs + 1'b1;
                    if (init_refs == INIT_REFRESHES - 1) state <= S_INIT_MRS;
                end
                S_INIT_MRS: if (wait_cnt == 0) begin
                    command(CMD_MRS, 2'b00, MODE[ROW_BITS-1:0]);
                    wait_cnt <= TMRD - 1;
                    sdram_dqm <= 2'b00;
                    init_done <= 1'b1;
                    state <= S_IDLE;
                end
                S_IDLE: if (refresh_due) begin
                    state <= S_REF;
                    resume <= S_IDLE;
                end else if (cmd_valid) begin
                    xfer_write <= cmd_write;
                    cur_addr <= cmd_addr;
                    words_left <= cmd_len;
                    state <= S_XFER;
                end
                S_XFER: if (refresh_due) begin
                    state <= S_REF;
                    resume <= S_XFER;
                end else if (wait_cnt != 0) begin
                    // tMRD after init: nothing yet
                end else if (bank_open && !row_hit) begin
                    if (pre_ok[cur_bank] == 0) begin
                        command(CMD_PRECHARGE, cur_bank, {ROW_BITS{1'b0}});
                        open[cur_bank] <= 1'b0;
                        act_ok[cur_bank] <= hold(act_ok[cur_bank], TRP);
                    end
                end else if (!bank_open) begin
                    if (act_ok[cur_bank] == 0 && rrd_cnt == 0) begin
                        command(CMD_ACTIVE, cur_bank, cur_row);
                        open[cur_bank] <= 1'b1;
                        open_rows[cur_bank*ROW_BITS +: ROW_BITS] <= cur_row;
                        pre_ok[cur_bank] <= TRAS - 1;
                        act_ok[cur_bank] <= TRC - 1;
                        rrd_cnt <= TRRD - 1;
                        rcd_cnt <= TRCD - 1;
                    end
                end else if (issue_read || issue_write) begin
                    command(issue_write ? CMD_WRITE : CMD_READ, cur_bank, col_a);  // A10 low: no auto precharge
                    if (issue_write) begin
                        sdram_dq_o <= wf_tdata;
                        sdram_dq_oe <= 1'b1;
                        pre_ok[cur_bank] <= hold(pre_ok[cur_bank], TWR);
                    end else begin
                        turn_cnt <= CAS_LATENCY + 1;  // the read's data leaves the bus before a WRITE drives it
                    end
                    cur_addr <= cur_addr + 1'b1;
                    words_left <= words_left - 1'b1;
                    if (words_left == 0) state <= S_IDLE;
                end
                S_REF: if (wait_cnt == 0) begin
                    if (open != 0) begin
                        if (!any_open_busy) begin
                            command(CMD_PRECHARGE, 2'b00, A10);
                            open <= 4'b0;
                            for (b = 0; b < 4; b = b + 1) act_ok[b] <= hold(act_ok[b], TRP);
                        end
                    end else if (all_act_ok) begin
                        command(CMD_REFRESH, 2'b00, sdram_a);
                        wait_cnt <= TRFC - 1;
                        for (b = 0; b < 4; b = b + 1) act_ok[b] <= TRFC - 1;
                        refresh_due <= 1'b0;
                        refresh_cnt <= 0;
                        state <= resume;
                    end
                end
                default: state <= S_POWERUP;
            endcase
        end
    end
endmodule
`default_nettype wire
