`default_nettype none
// Video timing generator: active area first, then front porch, sync and back porch, on each axis.
// The defaults are CEA-861 1280x720 at 60 Hz (74.25 MHz pixel clock, positive syncs).
// x, y: the position (valid as a pixel address while de is high); frame_start: one cycle at (0, 0).
module video_timing #(
    parameter integer H_ACTIVE = 1280,
    parameter integer H_FRONT = 110,
    parameter integer H_SYNC = 40,
    parameter integer H_BACK = 220,
    parameter integer V_ACTIVE = 720,
    parameter integer V_FRONT = 5,
    parameter integer V_SYNC = 5,
    parameter integer V_BACK = 20,
    parameter [0:0] H_POSITIVE = 1'b1,
    parameter [0:0] V_POSITIVE = 1'b1
) (
    input  wire        ap_clk,
    input  wire        ap_rst_n,
    output wire [15:0] x,
    output wire [15:0] y,
    output wire        de,
    output wire        hsync,
    output wire        vsync,
    output wire        frame_start
);
    localparam integer H_TOTAL = H_ACTIVE + H_FRONT + H_SYNC + H_BACK;
    localparam integer V_TOTAL = V_ACTIVE + V_FRONT + V_SYNC + V_BACK;
    initial if (H_ACTIVE < 1 || V_ACTIVE < 1 || H_SYNC < 1 || V_SYNC < 1 || H_TOTAL > 65535 || V_TOTAL > 65535)
        $fatal(1, "video_timing: active and sync lengths must be positive and totals below 65536 (%0d x %0d)",
               H_TOTAL, V_TOTAL);

    wire [63:0] count;
    wire [1:0] last;
    counter_chain #(.N(2), .LIMITS({32'd0 + V_TOTAL, 32'd0 + H_TOTAL})) position (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .step(1'b1), .last_values(64'd0), .count(count), .last(last)
    );
    assign x = count[15:0];
    assign y = count[32 +: 16];
    assign de = x < H_ACTIVE && y < V_ACTIVE;
    wire h_in_sync = x >= H_ACTIVE + H_FRONT && x < H_ACTIVE + H_FRONT + H_SYNC;
    wire v_in_sync = y >= V_ACTIVE + V_FRONT && y < V_ACTIVE + V_FRONT + V_SYNC;
    assign hsync = h_in_sync ^ !H_POSITIVE;
    assign vsync = v_in_sync ^ !V_POSITIVE;
    assign frame_start = x == 0 && y == 0;
endmodule
`default_nettype wire
