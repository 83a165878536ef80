`default_nettype none
// Byte FIFO between the UART receiver and the accelerator: DEPTH bytes (a power of two),
// synchronous read into an output register so synthesis maps the memory to block RAM
// (ECP5 DP16KD, Xilinx RAMB18). A UART cannot wait, so a byte arriving while the buffer
// is full is dropped and sets the sticky overflow flag (cleared by reset).
module uart_rx_buffer #(
    parameter integer DEPTH = 4096
) (
    input  wire       ap_clk,
    input  wire       ap_rst_n,
    input  wire [7:0] in_data,
    input  wire       in_valid,
    output reg  [7:0] out_tdata,
    output reg        out_tvalid,
    input  wire       out_tready,
    output reg        overflow
);
    localparam integer AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    initial if (DEPTH < 1) $fatal(1, "uart_rx_buffer: DEPTH (%0d) must be positive", DEPTH);

    reg [7:0] mem [0:DEPTH-1];
    reg [AW:0] wr_ptr, rd_ptr;  // one extra bit tells full from empty

    wire empty = wr_ptr == rd_ptr;
    wire full  = (wr_ptr - rd_ptr) == DEPTH;
    wire load  = !empty && (!out_tvalid || out_tready);

    always @(posedge ap_clk) begin
        if (in_valid && !full) mem[wr_ptr[AW-1:0]] <= in_data;
        if (load) out_tdata <= mem[rd_ptr[AW-1:0]];
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
            out_tvalid <= 1'b0;
            overflow <= 1'b0;
        end else begin
            if (in_valid && !full) wr_ptr <= wr_ptr + 1'b1;
            if (in_valid && full) overflow <= 1'b1;
            if (load) rd_ptr <= rd_ptr + 1'b1;
            if (load) out_tvalid <= 1'b1;
            else if (out_tready) out_tvalid <= 1'b0;
        end
    end
endmodule
`default_nettype wire
