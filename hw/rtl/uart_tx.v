`default_nettype none
// UART transmitter, 8N1, with a stream input: a byte is taken when tx_tvalid && tx_tready,
// and tx_tready is high only while the line is idle (one byte in flight at a time).
module uart_tx #(
    parameter integer CLKS_PER_BIT = 217
) (
    input  wire       ap_clk,
    input  wire       ap_rst_n,
    input  wire [7:0] tx_tdata,
    input  wire       tx_tvalid,
    output wire       tx_tready,
    output wire       tx
);
    localparam integer CW = CLKS_PER_BIT > 1 ? $clog2(CLKS_PER_BIT) + 1 : 2;
    initial if (CLKS_PER_BIT < 1) $fatal(1, "uart_tx: CLKS_PER_BIT (%0d) must be positive", CLKS_PER_BIT);

    reg [9:0] frame;      // stop, data[7:0], start; shifted out LSB first
    reg [3:0] bits_left;  // 0: idle
    reg [CW-1:0] timer;

    assign tx_tready = bits_left == 0;
    assign tx = bits_left == 0 ? 1'b1 : frame[0];

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            frame <= 10'h3ff;
            bits_left <= 0;
            timer <= 0;
        end else if (bits_left == 0) begin
            if (tx_tvalid) begin
                frame <= {1'b1, tx_tdata, 1'b0};
                bits_left <= 4'd10;
                timer <= CLKS_PER_BIT - 1;
            end
        end else if (timer != 0)
            timer <= timer - 1'b1;
        else begin
            frame <= {1'b1, frame[9:1]};
            bits_left <= bits_left - 1'b1;
            timer <= CLKS_PER_BIT - 1;
        end
    end
endmodule
`default_nettype wire
