`default_nettype none
// DVI 1.0 TMDS encoder for one channel (8b/10b with transition minimization and DC balance).
// Two pipeline stages: stage 1 picks XOR or XNOR chaining (the fewer transitions) into q_m[8:0];
// stage 2 inverts q_m[7:0] where that pulls the running disparity back towards zero, or sends one of
// the four control tokens (c1, c0) while de is low (which also resets the disparity).
// q is transmitted LSB first. Latency: 2 cycles from (de, c, d) to q.
module tmds_encoder (
    input  wire       ap_clk,
    input  wire       ap_rst_n,
    input  wire       de,
    input  wire [1:0] c,     // {c1, c0}: hsync/vsync on the blue channel, 0 on the others
    input  wire [7:0] d,
    output reg  [9:0] q
);
    function automatic [3:0] ones8(input [7:0] v);
        integer i;
        begin
            ones8 = 4'd0;
            for (i = 0; i < 8; i = i + 1) ones8 = ones8 + {3'd0, v[i]};
        end
    endfunction

    // stage 1: transition minimization
    wire [3:0] n1_d = ones8(d);
    wire use_xnor = n1_d > 4'd4 || (n1_d == 4'd4 && !d[0]);
    reg [8:0] qm_next;
    integer k;
    always @* begin
        qm_next[0] = d[0];
        for (k = 1; k < 8; k = k + 1) qm_next[k] = use_xnor ? ~(qm_next[k-1] ^ d[k]) : (qm_next[k-1] ^ d[k]);
        qm_next[8] = !use_xnor;
    end

    reg [8:0] qm;
    reg       de1;
    reg [1:0] c1r;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            qm <= 9'd0;
            de1 <= 1'b0;
            c1r <= 2'd0;
        end else begin
            qm <= qm_next;
            de1 <= de;
            c1r <= c;
        end
    end

    // stage 2: DC balance; cnt is the running disparity (ones minus zeros sent), even, within +-16
    reg signed [4:0] cnt;
    wire [3:0] n1_q = ones8(qm[7:0]);
    wire signed [4:0] diff = $signed({1'b0, n1_q, 1'b0}) - 5'sd8;  // N1 - N0 of qm[7:0]
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            q <= 10'd0;
            cnt <= 5'sd0;
        end else if (!de1) begin
            cnt <= 5'sd0;
            case (c1r)
                2'b00: q <= 10'b1101010100;
                2'b01: q <= 10'b0010101011;
                2'b10: q <= 10'b0101010100;
                default: q <= 10'b1010101011;
            endcase
        end else if (cnt == 0 || diff == 0) begin
            q <= {~qm[8], qm[8], qm[8] ? qm[7:0] : ~qm[7:0]};
            cnt <= qm[8] ? cnt + diff : cnt - diff;
        end else if ((cnt > 0 && diff > 0) || (cnt < 0 && diff < 0)) begin
            q <= {1'b1, qm[8], ~qm[7:0]};
            cnt <= cnt + (qm[8] ? 5'sd2 : 5'sd0) - diff;
        end else begin
            q <= {1'b0, qm[8], qm[7:0]};
            cnt <= cnt - (qm[8] ? 5'sd0 : 5'sd2) + diff;
        end
    end
endmodule
`default_nettype wire
