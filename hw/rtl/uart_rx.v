`default_nettype none
// UART receiver, 8N1: one start bit, 8 data bits LSB first, one stop bit.
// CLKS_PER_BIT clock cycles per bit (the clock must be an exact multiple of the baud
// rate; fqsr.hw.board checks that). The line is synchronised by two flops; each bit is
// sampled in its middle. A byte whose stop bit is low is dropped and flagged.
// A UART cannot be back-pressured: rx_valid is a one-cycle strobe.
module uart_rx #(
    parameter integer CLKS_PER_BIT = 217
) (
    input  wire       ap_clk,
    input  wire       ap_rst_n,
    input  wire       rx,
    output reg  [7:0] rx_data,
    output reg        rx_valid,
    output reg        framing_error
);
    localparam integer CW = CLKS_PER_BIT > 1 ? $clog2(CLKS_PER_BIT) + 1 : 2;
    initial if (CLKS_PER_BIT < 2) $fatal(1, "uart_rx: CLKS_PER_BIT (%0d) must be at least 2", CLKS_PER_BIT);
    localparam [1:0] IDLE = 2'd0, START = 2'd1, DATA = 2'd2, STOP = 2'd3;

    reg [2:0] sync;  // metastability guard; sync[2] is the line
    reg [1:0] state;
    reg [CW-1:0] timer;
    reg [2:0] bit_index;
    reg [7:0] shift;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sync <= 3'b111;
            state <= IDLE;
            timer <= 0;
            bit_index <= 0;
            shift <= 0;
            rx_data <= 0;
            rx_valid <= 1'b0;
            framing_error <= 1'b0;
        end else begin
            sync <= {sync[1:0], rx};
            rx_valid <= 1'b0;
            framing_error <= 1'b0;
            case (state)
                IDLE:
                    if (!sync[2]) begin  // falling edge of the start bit: wait half a bit
                        state <= START;
                        timer <= CLKS_PER_BIT / 2;
                    end
                START:
                    if (timer != 0) timer <= timer - 1'b1;
                    else if (sync[2]) state <= IDLE;  // a glitch, not a start bit
                    else begin
                        state <= DATA;
                        timer <= CLKS_PER_BIT - 1;
                        bit_index <= 0;
                    end
                DATA:
                    if (timer != 0) timer <= timer - 1'b1;
                    else begin
                        shift <= {sync[2], shift[7:1]};
                        timer <= CLKS_PER_BIT - 1;
                        bit_index <= bit_index + 1'b1;
                        if (bit_index == 3'd7) state <= STOP;
                    end
                STOP:
                    if (timer != 0) timer <= timer - 1'b1;
                    else begin
                        // back to IDLE in the middle of the stop bit: the next start edge is seen in time
                        state <= IDLE;
                        if (sync[2]) begin
                            rx_data <= shift;
                            rx_valid <= 1'b1;
                        end else
                            framing_error <= 1'b1;
                    end
            endcase
        end
    end
endmodule
`default_nettype wire
