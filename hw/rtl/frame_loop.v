`default_nettype none
// A frame held in memory and streamed again and again: the BEATS beats of one input frame (as the UART
// bridge delivers them) are written into a block RAM in arrival order; once the first whole frame is in
// (`loaded`), the stream m_* repeats the stored frame, beat 0 to BEATS-1, for as long as it is read, so the
// accelerator behind it runs frame after frame at its own rate. Every further BEATS beats received replace
// the stored frame (a pass that reads while they arrive mixes the old and the new frame).
// s_tready is always high (the writer never waits). The read side is a 2-beat FIFO in front of the RAM's
// one-cycle read, so m_* can move a beat every cycle; m_tvalid does not depend on m_tready.
module frame_loop #(
    parameter integer WIDTH = 8,
    parameter integer BEATS = 16
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] s_tdata,
    input  wire             s_tvalid,
    output wire             s_tready,
    output wire [WIDTH-1:0] m_tdata,
    output wire             m_tvalid,
    input  wire             m_tready,
    output reg              loaded,          // sticky: a whole frame has been received
    output reg              frame_received   // one cycle after the last beat of each frame received
);
    localparam integer AW = BEATS > 1 ? $clog2(BEATS) : 1;
    initial if (BEATS < 1 || WIDTH < 1) $fatal(1, "frame_loop: BEATS (%0d) and WIDTH (%0d) must be positive", BEATS, WIDTH);

    assign s_tready = 1'b1;
    reg [AW-1:0] wr_addr, rd_addr;
    wire [WIDTH-1:0] q;
    reg pending;                 // a read was issued last cycle: its word is on q now
    reg [1:0] count;             // words in the FIFO (slot0 is the head)
    reg [WIDTH-1:0] slot0, slot1;
    wire pop = m_tvalid && m_tready;
    wire issue = loaded && ({1'b0, count} + pending < 3'd2 + pop);  // never more than two words owed

    frame_ram #(.WIDTH(WIDTH), .DEPTH(BEATS), .AW(AW)) memory (
        .wr_clk(ap_clk), .wr_en(s_tvalid), .wr_addr(wr_addr), .wr_data(s_tdata),
        .rd_clk(ap_clk), .rd_en(issue), .rd_addr(rd_addr), .q(q));

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wr_addr <= 0;
            rd_addr <= 0;
            loaded <= 1'b0;
            frame_received <= 1'b0;
            pending <= 1'b0;
            count <= 2'd0;
        end else begin
            frame_received <= s_tvalid && wr_addr == BEATS - 1;
            if (s_tvalid) begin
                wr_addr <= wr_addr == BEATS - 1 ? {AW{1'b0}} : wr_addr + 1'b1;
                if (wr_addr == BEATS - 1) loaded <= 1'b1;
            end
            pending <= issue;
            if (issue) rd_addr <= rd_addr == BEATS - 1 ? {AW{1'b0}} : rd_addr + 1'b1;
            case ({pending, pop})
                2'b10: begin
                    if (count == 2'd0) slot0 <= q;
                    else slot1 <= q;
                    count <= count + 2'd1;
                end
                2'b01: begin
                    slot0 <= slot1;
                    count <= count - 2'd1;
                end
                2'b11: begin
                    if (count == 2'd1) slot0 <= q;
                    else begin
                        slot0 <= slot1;
                        slot1 <= q;
                    end
                end
                default: ;
            endcase
        end
    end
    assign m_tvalid = count != 2'd0;
    assign m_tdata = slot0;
endmodule
`default_nettype wire
