`default_nettype none
// Fork: every input beat goes to all N_OUTPUTS outputs, each with its own tready.
// An output that has taken the current beat waits (sent flag) until all others have too;
// the input is consumed in the cycle the last outstanding output takes it.
module duplicate_streams #(
    parameter integer WIDTH     = 8,
    parameter integer N_OUTPUTS = 2
) (
    input  wire                       ap_clk,
    input  wire                       ap_rst_n,
    input  wire [WIDTH-1:0]           in0_tdata,
    input  wire                       in0_tvalid,
    output wire                       in0_tready,
    output wire [N_OUTPUTS*WIDTH-1:0] out_tdata,
    output wire [N_OUTPUTS-1:0]       out_tvalid,
    input  wire [N_OUTPUTS-1:0]       out_tready
);
    reg [N_OUTPUTS-1:0] sent;

    assign out_tdata  = {N_OUTPUTS{in0_tdata}};
    assign out_tvalid = {N_OUTPUTS{in0_tvalid}} & ~sent;
    assign in0_tready = &(out_tready | sent);

    always @(posedge ap_clk) begin
        if (!ap_rst_n)
            sent <= 0;
        else if (in0_tvalid && in0_tready)
            sent <= 0;
        else
            sent <= sent | (out_tvalid & out_tready);
    end
endmodule
`default_nettype wire
