`default_nettype none
// Stream FIFO: DEPTH beats of WIDTH bits, first word fall-through.
// in0_tready depends only on the fill level (no combinational path from out0_tready),
// so a FIFO also cuts the ready chain between two nodes.
module stream_fifo #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 4
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] in0_tdata,
    input  wire             in0_tvalid,
    output wire             in0_tready,
    output wire [WIDTH-1:0] out0_tdata,
    output wire             out0_tvalid,
    input  wire             out0_tready
);
    localparam integer AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    initial if (DEPTH < 1 || WIDTH < 1) $fatal(1, "stream_fifo: DEPTH (%0d) and WIDTH (%0d) must be positive", DEPTH, WIDTH);

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wr_ptr, rd_ptr;
    reg [AW:0]   count;

    wire push = in0_tvalid && in0_tready;
    wire pop  = out0_tvalid && out0_tready;

    assign in0_tready  = count != DEPTH;
    assign out0_tvalid = count != 0;
    assign out0_tdata  = mem[rd_ptr];

    always @(posedge ap_clk) begin
        if (push) mem[wr_ptr] <= in0_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
            count  <= 0;
        end else begin
            if (push) wr_ptr <= wr_ptr == DEPTH - 1 ? 0 : wr_ptr + 1'b1;
            if (pop)  rd_ptr <= rd_ptr == DEPTH - 1 ? 0 : rd_ptr + 1'b1;
            count <= count + push - pop;
        end
    end
endmodule
`default_nettype wire
