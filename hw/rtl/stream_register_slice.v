`default_nettype none
// Stream register slice (skid buffer): out0_tdata/out0_tvalid come from registers and in0_tready is a register
// (not skid_valid), so neither the data path nor the ready path passes combinationally through it. Two entries
// (the output register and the skid register) keep full throughput: one beat per cycle while out0_tready is high.
// It cuts a long ready chain between two modules, e.g. the rolled engine and its SDRAM DMA.
module stream_register_slice #(
    parameter integer WIDTH = 8
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] in0_tdata,
    input  wire             in0_tvalid,
    output wire             in0_tready,
    output reg  [WIDTH-1:0] out0_tdata,
    output reg              out0_tvalid,
    input  wire             out0_tready
);
    initial if (WIDTH < 1) $fatal(1, "stream_register_slice: WIDTH (%0d) must be positive", WIDTH);

    reg [WIDTH-1:0] skid_tdata;
    reg             skid_tvalid;

    wire push = in0_tvalid && in0_tready;
    wire load = out0_tready || !out0_tvalid;  // the output register is free this cycle

    assign in0_tready = !skid_tvalid;

    always @(posedge ap_clk) begin
        if (load) out0_tdata <= skid_tvalid ? skid_tdata : in0_tdata;
        if (push && !load) skid_tdata <= in0_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            out0_tvalid <= 1'b0;
            skid_tvalid <= 1'b0;
        end else if (load) begin
            out0_tvalid <= skid_tvalid || push;
            skid_tvalid <= 1'b0;
        end else if (push) begin
            skid_tvalid <= 1'b1;
        end
    end
endmodule
`default_nettype wire
