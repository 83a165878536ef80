`default_nettype none
// Video output: a pixel stream (24-bit RGB, AXI-stream, red in bits 23:16) shown through the TMDS
// transmitter with a fixed video timing. The stream is read one pixel per active pixel clock, starting
// at the first frame that follows a vertical sync (the raster starts at the top left on reset; that
// first, partial-history frame is shown black), so the stream's first pixel lands at the top left of a frame and
// every frame takes exactly H_ACTIVE * V_ACTIVE pixels. A pixel missing when the raster needs it
// (the source too slow) is shown black and raises the sticky `underrun`; the raster never waits.
module video_out #(
    parameter integer H_ACTIVE = 1280,
    parameter integer H_FRONT = 110,
    parameter integer H_SYNC = 40,
    parameter integer H_BACK = 220,
    parameter integer V_ACTIVE = 720,
    parameter integer V_FRONT = 5,
    parameter integer V_SYNC = 5,
    parameter integer V_BACK = 20
) (
    input  wire        ap_clk,
    input  wire        clk_x5,
    input  wire        ap_rst_n,
    input  wire [23:0] pixel_tdata,
    input  wire        pixel_tvalid,
    output wire        pixel_tready,
    output reg         underrun,
    output reg  [31:0] frames,       // frames shown since the stream started
    output wire [1:0]  ddr_red,
    output wire [1:0]  ddr_green,
    output wire [1:0]  ddr_blue,
    output wire [1:0]  ddr_clock
);
    wire [15:0] x, y;
    wire de, hsync, vsync, frame_start;
    video_timing #(
        .H_ACTIVE(H_ACTIVE), .H_FRONT(H_FRONT), .H_SYNC(H_SYNC), .H_BACK(H_BACK),
        .V_ACTIVE(V_ACTIVE), .V_FRONT(V_FRONT), .V_SYNC(V_SYNC), .V_BACK(V_BACK)
    ) timing (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .x(x), .y(y), .de(de), .hsync(hsync), .vsync(vsync), .frame_start(frame_start)
    );

    // one register stage after the raster counters; the stream is read in that stage
    reg de_r, hsync_r, vsync_r, running, synced;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            de_r <= 1'b0;
            hsync_r <= 1'b0;
            vsync_r <= 1'b0;
            running <= 1'b0;
            synced <= 1'b0;
            underrun <= 1'b0;
            frames <= 32'd0;
        end else begin
            de_r <= de;
            hsync_r <= hsync;
            vsync_r <= vsync;
            if (vsync) synced <= 1'b1;
            if (frame_start && synced) begin
                running <= 1'b1;
                if (running) frames <= frames + 32'd1;
            end
            if (pixel_tready && !pixel_tvalid) underrun <= 1'b1;
        end
    end
    wire show = de_r && running;
    assign pixel_tready = show;
    wire [23:0] rgb = show && pixel_tvalid ? pixel_tdata : 24'd0;

    wire [9:0] sym_red, sym_green, sym_blue;
    dvi_out phy (
        .ap_clk(ap_clk), .clk_x5(clk_x5), .ap_rst_n(ap_rst_n), .de(de_r), .hsync(hsync_r), .vsync(vsync_r),
        .red(rgb[23:16]), .green(rgb[15:8]), .blue(rgb[7:0]),
        .sym_red(sym_red), .sym_green(sym_green), .sym_blue(sym_blue),
        .ddr_red(ddr_red), .ddr_green(ddr_green), .ddr_blue(ddr_blue), .ddr_clock(ddr_clock)
    );
endmodule
`default_nettype wire
