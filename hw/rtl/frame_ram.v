`default_nettype none
// Frame memory: DEPTH words of WIDTH bits with one write port and one read port, each on its own clock.
// Between two clock domains it is a dual-clock block RAM, so the pixels cross inside the memory and never
// through logic; the writer and the reader agree on what is valid by a control signal crossed on its own.
// BANK_WORDS = 0: one memory, read latency one rd_clk cycle (q <= mem[rd_addr] on a clock with rd_en).
// BANK_WORDS > 0: banks of BANK_WORDS words (2048: one DP16KD at 8 or 9 bits), each with its own read
// register, then a registered multiplexer over the banks: read latency two rd_clk cycles (rd_en enables both).
// It takes the multiplexer out of the cycle that reads the block RAMs; at 113 banks it is not yet enough for a
// 74 MHz read (benchmarks/video_out.md: Yosys folds each bank's register into the DP16KD's read).
module frame_ram #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16,
    parameter integer BANK_WORDS = 0,
    parameter integer AW    = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  wire             wr_clk,
    input  wire             wr_en,
    input  wire [AW-1:0]    wr_addr,
    input  wire [WIDTH-1:0] wr_data,
    input  wire             rd_clk,
    input  wire             rd_en,
    input  wire [AW-1:0]    rd_addr,
    output reg  [WIDTH-1:0] q
);
    initial if (DEPTH < 1 || WIDTH < 1 || BANK_WORDS < 0)
        $fatal(1, "frame_ram: DEPTH (%0d) and WIDTH (%0d) must be positive, BANK_WORDS (%0d) not negative", DEPTH,
               WIDTH, BANK_WORDS);
    initial if ((1 << AW) < DEPTH) $fatal(1, "frame_ram: AW (%0d) address bits cannot reach DEPTH (%0d) words", AW, DEPTH);
    genvar b;
    generate
        if (BANK_WORDS == 0) begin : flat
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge wr_clk)
                if (wr_en) mem[wr_addr] <= wr_data;
            always @(posedge rd_clk)
                if (rd_en) q <= mem[rd_addr];
        end else begin : banked
            localparam integer BANKS = (DEPTH + BANK_WORDS - 1) / BANK_WORDS;
            localparam integer SW = BANKS > 1 ? $clog2(BANKS) : 1;
            wire [WIDTH*BANKS-1:0] bank_q;
            reg [SW-1:0] sel;
            for (b = 0; b < BANKS; b = b + 1) begin : bank
                localparam integer WORDS = DEPTH - b * BANK_WORDS < BANK_WORDS ? DEPTH - b * BANK_WORDS : BANK_WORDS;
                reg [WIDTH-1:0] mem [0:WORDS-1];
                reg [WIDTH-1:0] q_bank;
                always @(posedge wr_clk)
                    if (wr_en && wr_addr / BANK_WORDS == b) mem[wr_addr % BANK_WORDS] <= wr_data;
                always @(posedge rd_clk)
                    if (rd_en) q_bank <= mem[rd_addr % BANK_WORDS];
                assign bank_q[b*WIDTH +: WIDTH] = q_bank;
            end
            always @(posedge rd_clk)
                if (rd_en) begin
                    sel <= rd_addr / BANK_WORDS;
                    q <= bank_q[sel*WIDTH +: WIDTH];
                end
        end
    endgenerate
endmodule
`default_nettype wire
