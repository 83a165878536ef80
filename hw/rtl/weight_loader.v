`default_nettype none
// Weight loader: takes the weight image (weights.bin) as a byte stream, writes its payload to SDRAM through
// sdram_ctrl's host port, and raises image_ok only when the image is whole and its CRC matches.
//
// Image: a 16-byte header, all fields little-endian, then the payload:
//   0  magic "FQSW"   4  format version (16 bit, 1)   6  flags (16 bit, 0)
//   8  payload length in bytes (32 bit, 1 .. 2 * 2**ADDR_BITS)   12  CRC-32 (IEEE 802.3, zlib's) of the payload
// The payload goes to word addresses BASE_ADDR.., two bytes per 16-bit word, the first in the low byte
// (an odd last byte is padded with a zero high byte), in bursts of up to 2**LEN_BITS words.
// in0_tlast marks the image's last byte. Refused images (image_error, error_code; never image_ok):
//   1 bad magic, version or flags   2 length 0 or larger than the memory   3 short: tlast before the end
//   4 over-long: no tlast on the last payload byte   5 CRC mismatch
// After a refusal the loader completes the SDRAM burst it opened (with zero words) and drops the rest of the
// stream; a reset starts a new load.
module weight_loader #(
    parameter integer ADDR_BITS = 24,
    parameter integer LEN_BITS  = 8,
    parameter integer BASE_ADDR = 0
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [7:0]           in0_tdata,
    input  wire                 in0_tvalid,
    output wire                 in0_tready,
    input  wire                 in0_tlast,
    output wire                 cmd_valid,
    input  wire                 cmd_ready,
    output wire                 cmd_write,
    output wire [ADDR_BITS-1:0] cmd_addr,
    output wire [LEN_BITS-1:0]  cmd_len,
    output wire [15:0]          wr_tdata,
    output wire                 wr_tvalid,
    input  wire                 wr_tready,
    output reg                  image_ok,
    output reg                  image_error,
    output reg  [2:0]           error_code,
    output reg  [31:0]          payload_bytes
);
    initial begin
        if (ADDR_BITS < 8 || ADDR_BITS > 30) $fatal(1, "weight_loader: ADDR_BITS (%0d) must be 8 .. 30", ADDR_BITS);
        if (LEN_BITS < 1 || LEN_BITS > 16) $fatal(1, "weight_loader: LEN_BITS (%0d) must be 1 .. 16", LEN_BITS);
        if (BASE_ADDR < 0 || BASE_ADDR >= (1 << ADDR_BITS))
            $fatal(1, "weight_loader: BASE_ADDR (%0d) must address the memory", BASE_ADDR);
    end
    localparam [31:0] MAGIC = 32'h57535146;  // "FQSW", little-endian
    localparam [15:0] VERSION = 16'd1;
    localparam [32:0] CAPACITY_BYTES = (33'd1 << (ADDR_BITS + 1)) - 2 * BASE_ADDR;
    localparam [2:0] E_HEADER = 1, E_LENGTH = 2, E_SHORT = 3, E_LONG = 4, E_CRC = 5;
    localparam [2:0] S_HEADER = 0, S_CMD = 1, S_DATA = 2, S_DONE = 3, S_ERROR = 4;

    reg [2:0]   state;
    reg [3:0]   hdr_idx;
    reg [127:0] header;                       // shifted in from the top: byte 0 ends in header[7:0]
    reg [31:0]  crc, bytes_left;              // payload bytes still to come
    reg         last_byte;                    // the next payload byte is the last (a register: off the ready path)
    reg [ADDR_BITS:0] words_left;             // words of the payload not yet given a burst
    reg [ADDR_BITS-1:0] next_addr;
    reg [LEN_BITS:0] burst_left;              // words of the open burst not yet written
    reg         phase;                        // 1: low byte held
    reg [7:0]   low_byte;

    wire [127:0] header_next = {in0_tdata, header[127:8]};
    wire [31:0] length_field = header_next[95:64];
    wire in_beat = in0_tvalid && in0_tready;
    wire word_out = phase || last_byte;       // this byte completes a word

    function [31:0] crc32_byte(input [31:0] c, input [7:0] d);
        integer i;
        begin
            crc32_byte = c ^ {24'd0, d};
            for (i = 0; i < 8; i = i + 1)
                crc32_byte = crc32_byte[0] ? (crc32_byte >> 1) ^ 32'hEDB88320 : crc32_byte >> 1;
        end
    endfunction
    wire [31:0] crc_next = crc32_byte(crc, in0_tdata);

    wire [LEN_BITS:0] max_burst = 1 << LEN_BITS;
    wire [LEN_BITS:0] burst_words = words_left > max_burst ? max_burst : words_left[LEN_BITS:0];
    assign cmd_valid = state == S_CMD;
    assign cmd_write = 1'b1;
    assign cmd_addr  = next_addr;
    assign cmd_len   = burst_words - 1'b1;

    wire data_open = state == S_DATA && burst_left != 0;
    assign wr_tvalid = (data_open && in0_tvalid && word_out) || (state == S_ERROR && burst_left != 0);
    assign wr_tdata  = state == S_ERROR ? 16'd0 : phase ? {in0_tdata, low_byte} : {8'd0, in0_tdata};
    assign in0_tready = state == S_HEADER || (data_open && (!word_out || wr_tready))
                     || (state == S_ERROR && burst_left == 0) || state == S_DONE;

    task refuse(input [2:0] code);
        begin
            state <= S_ERROR;
            image_error <= 1'b1;
            error_code <= code;
            image_ok <= 1'b0;
        end
    endtask

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            state <= S_HEADER;
            hdr_idx <= 0;
            header <= 0;
            crc <= 32'hFFFFFFFF;
            bytes_left <= 0;
            last_byte <= 1'b0;
            words_left <= 0;
            next_addr <= BASE_ADDR;
            burst_left <= 0;
            phase <= 1'b0;
            image_ok <= 1'b0;
            image_error <= 1'b0;
            error_code <= 0;
            payload_bytes <= 0;
        end else case (state)
            S_HEADER: if (in_beat) begin
                header <= header_next;
                hdr_idx <= hdr_idx + 1'b1;
                if (in0_tlast) refuse(E_SHORT);
                else if (hdr_idx == 15) begin
                    payload_bytes <= length_field;
                    bytes_left <= length_field;
                    last_byte <= length_field == 1;
                    words_left <= (length_field + 1) >> 1;
                    if (header_next[31:0] != MAGIC || header_next[47:32] != VERSION || header_next[63:48] != 0)
                        refuse(E_HEADER);
                    else if (length_field == 0 || length_field > CAPACITY_BYTES) refuse(E_LENGTH);
                    else state <= S_CMD;
                end
            end
            S_CMD: if (cmd_ready) begin
                burst_left <= burst_words;
                words_left <= words_left - burst_words;
                next_addr <= next_addr + burst_words;
                state <= S_DATA;
            end
            S_DATA: if (in_beat) begin
                crc <= crc_next;
                bytes_left <= bytes_left - 1'b1;
                last_byte <= bytes_left == 2;
                low_byte <= in0_tdata;
                phase <= !phase && !last_byte;
                if (word_out) burst_left <= burst_left - 1'b1;
                if (last_byte) begin
                    if (!in0_tlast) refuse(E_LONG);
                    else if (~crc_next != header[127:96]) refuse(E_CRC);
                    else begin
                        state <= S_DONE;
                        image_ok <= 1'b1;
                    end
                end else if (in0_tlast) refuse(E_SHORT);
                else if (word_out && burst_left == 1) state <= S_CMD;
            end
            S_ERROR: if (wr_tvalid && wr_tready) burst_left <= burst_left - 1'b1;
            S_DONE: if (in_beat) refuse(E_LONG);  // a byte after the image's end
            default: state <= S_HEADER;
        endcase
    end
endmodule
`default_nettype wire
