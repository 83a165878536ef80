// benchmarks/fmax_mvau.sh: mvau (MW 36, MH 16, SIMD 9, PE 4, 4-bit) with every port registered, so that
// nextpnr's clock report covers the MVAU's own register-to-register paths.
module wrap #(parameter LM = 1) (input wire clk, input wire rst_n, input wire [39:0] i_data, input wire i_valid,
                                  output reg i_ready, output reg [63:0] o_data, output reg o_valid, input wire o_ready);
    reg [39:0] d;
    reg v, r, rr;
    wire tready, ovalid;
    wire [63:0] od;
    always @(posedge clk) begin
        d <= i_data; v <= i_valid; i_ready <= tready; r <= o_ready; o_data <= od; o_valid <= ovalid; rr <= rst_n;
    end
    mvau #(.MW(36), .MH(16), .SIMD(9), .PE(4), .IN_BITS(4), .W_BITS(4), .LUT_MULT(LM), .WEIGHTS_FILE("w.hex")) u (
        .ap_clk(clk), .ap_rst_n(rr), .in0_tdata(d), .in0_tvalid(v), .in0_tready(tready), .out0_tdata(od),
        .out0_tvalid(ovalid), .out0_tready(r), .cfg_wr_en(1'b0), .cfg_wr_bank(1'b0), .cfg_wr_addr(32'd0),
        .cfg_wr_data(144'd0), .cfg_rd_bank(1'b0));
endmodule
