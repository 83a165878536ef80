`default_nettype none
// UART <-> accelerator streams (one clock domain).
// Received bytes are buffered (uart_rx_buffer, BUFFER_DEPTH bytes: at least one whole
// input tile, since the UART cannot be paused) and packed little-endian into IN_BYTES-byte
// beats on m_axis (byte 0 in bits [7:0], as fqsr.sim.axis.pack_beats packs lanes).
// Output beats from s_axis (OUT_BYTES bytes) are sent byte 0 first; s_axis_tready stays low
// while a beat is being sent, so the accelerator is back-pressured, never overrun.
module uart_stream_bridge #(
    parameter integer CLKS_PER_BIT = 217,
    parameter integer IN_BYTES     = 1,
    parameter integer OUT_BYTES    = 1,
    parameter integer BUFFER_DEPTH = 4096
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire                   uart_rxd,
    output wire                   uart_txd,
    output reg  [IN_BYTES*8-1:0]  m_axis_tdata,
    output reg                    m_axis_tvalid,
    input  wire                   m_axis_tready,
    input  wire [OUT_BYTES*8-1:0] s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    output wire                   rx_strobe,      // a byte arrived (activity LED)
    output wire                   tx_busy,        // a byte is on the line (activity LED)
    output wire                   overflow,       // sticky: a received byte was dropped
    output reg                    framing_error   // sticky: a byte with a bad stop bit
);
    localparam integer IW = IN_BYTES > 1 ? $clog2(IN_BYTES) : 1;
    localparam integer OW = OUT_BYTES > 1 ? $clog2(OUT_BYTES) : 1;
    initial if (IN_BYTES < 1 || OUT_BYTES < 1) $fatal(1, "uart_stream_bridge: IN_BYTES and OUT_BYTES must be positive");

    // receive: line -> bytes -> buffer -> beats
    wire [7:0] rx_data;
    wire rx_valid, rx_bad;
    uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) rx_i (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .rx(uart_rxd),
        .rx_data(rx_data), .rx_valid(rx_valid), .framing_error(rx_bad));
    assign rx_strobe = rx_valid;

    wire [7:0] buf_tdata;
    wire buf_tvalid;
    wire buf_tready = !m_axis_tvalid;  // fill a beat only while none is waiting
    uart_rx_buffer #(.DEPTH(BUFFER_DEPTH)) buffer_i (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .in_data(rx_data), .in_valid(rx_valid),
        .out_tdata(buf_tdata), .out_tvalid(buf_tvalid), .out_tready(buf_tready), .overflow(overflow));

    reg [IW-1:0] in_index;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            in_index <= 0;
            m_axis_tvalid <= 1'b0;
            m_axis_tdata <= 0;
            framing_error <= 1'b0;
        end else begin
            if (rx_bad) framing_error <= 1'b1;
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (buf_tvalid && buf_tready) begin
                m_axis_tdata[in_index*8 +: 8] <= buf_tdata;
                if (in_index == IN_BYTES - 1) begin
                    in_index <= 0;
                    m_axis_tvalid <= 1'b1;
                end else
                    in_index <= in_index + 1'b1;
            end
        end
    end

    // transmit: beats -> bytes -> line
    reg [OUT_BYTES*8-1:0] out_beat;
    reg out_full;
    reg [OW-1:0] out_index;
    wire tx_tready;
    assign s_axis_tready = !out_full;
    assign tx_busy = !tx_tready;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out_beat <= 0;
            out_full <= 1'b0;
            out_index <= 0;
        end else if (!out_full) begin
            if (s_axis_tvalid) begin
                out_beat <= s_axis_tdata;
                out_full <= 1'b1;
                out_index <= 0;
            end
        end else if (tx_tready) begin  // the transmitter takes out_beat byte out_index this cycle
            if (out_index == OUT_BYTES - 1) out_full <= 1'b0;
            else out_index <= out_index + 1'b1;
        end
    end

    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) tx_i (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .tx_tdata(out_beat[out_index*8 +: 8]),
        .tx_tvalid(out_full), .tx_tready(tx_tready), .tx(uart_txd));
endmodule
`default_nettype wire
