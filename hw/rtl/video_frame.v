`default_nettype none
// An image held in a frame memory and shown continuously on a DVI/HDMI raster.
// Write side (ap_clk): the accelerator's output stream, LANES 8-bit values per beat in raster order
// (channel fastest), is collected into pixels of CHANNELS values and written at consecutive addresses,
// wrapping after FRAME_W x FRAME_H pixels; s_tready is always high. `frame_written` rises (and stays) when
// the first whole image is in memory.
// Read side (pix_clk): video_timing's raster reads the memory (a dual-clock block RAM: no pixel crosses
// the clock domains through logic) with each image pixel shown as REPEAT x REPEAT raster pixels, the image
// centred in the active area and black around it; CHANNELS 1 shows gray (R = G = B), 3 shows RGB (channel 0
// red). The one control signal that crosses, `frame_written`, passes a two-flip-flop synchronizer and is
// taken only in vertical blanking, so the picture appears from the top of a frame; before it, black.
// pix_rst_n is synchronized to pix_clk here. clk_x5: 5x pix_clk, for dvi_out's serializers.
module video_frame #(
    parameter integer FRAME_W = 8,
    parameter integer FRAME_H = 8,
    parameter integer CHANNELS = 1,
    parameter integer LANES = 1,
    parameter integer REPEAT = 1,
    parameter integer BANK_WORDS = 2048,  // frame RAM banks (frame_ram): the read takes two cycles
    parameter integer H_ACTIVE = 1280,
    parameter integer H_FRONT = 110,
    parameter integer H_SYNC = 40,
    parameter integer H_BACK = 220,
    parameter integer V_ACTIVE = 720,
    parameter integer V_FRONT = 5,
    parameter integer V_SYNC = 5,
    parameter integer V_BACK = 20
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [8*LANES-1:0]   s_tdata,
    input  wire                 s_tvalid,
    output wire                 s_tready,
    output reg                  frame_written,    // sticky: a whole image is in memory (ap_clk)
    output reg  [31:0]          frames_written,   // whole images written since reset (ap_clk)
    input  wire                 pix_clk,
    input  wire                 clk_x5,
    input  wire                 pix_rst_n,
    output reg                  showing,          // the raster shows the image (pix_clk)
    output wire [1:0]           ddr_red,
    output wire [1:0]           ddr_green,
    output wire [1:0]           ddr_blue,
    output wire [1:0]           ddr_clock
);
    localparam integer PIXELS = FRAME_W * FRAME_H;
    localparam integer AW = PIXELS > 1 ? $clog2(PIXELS) : 1;
    localparam integer BEATS_PER_PIXEL = CHANNELS / LANES;
    localparam integer BW = BEATS_PER_PIXEL > 1 ? $clog2(BEATS_PER_PIXEL) : 1;
    localparam integer SHOWN_W = FRAME_W * REPEAT;
    localparam integer SHOWN_H = FRAME_H * REPEAT;
    localparam integer X0 = (H_ACTIVE - SHOWN_W) / 2;
    localparam integer Y0 = (V_ACTIVE - SHOWN_H) / 2;
    localparam integer RW = REPEAT > 1 ? $clog2(REPEAT) : 1;
    localparam integer CW = $clog2(FRAME_W + 1);
    initial if (CHANNELS != 1 && CHANNELS != 3) $fatal(1, "video_frame: CHANNELS (%0d) must be 1 (gray) or 3 (RGB)", CHANNELS);
    initial if (BANK_WORDS < 1) $fatal(1, "video_frame: BANK_WORDS (%0d) must be positive", BANK_WORDS);
    initial if (LANES < 1 || CHANNELS % LANES != 0)
        $fatal(1, "video_frame: LANES (%0d) must divide CHANNELS (%0d)", LANES, CHANNELS);
    initial if (FRAME_W < 1 || FRAME_H < 1 || REPEAT < 1 || SHOWN_W > H_ACTIVE || SHOWN_H > V_ACTIVE)
        $fatal(1, "video_frame: a %0dx%0d image repeated %0d times does not fit the %0dx%0d raster",
               FRAME_W, FRAME_H, REPEAT, H_ACTIVE, V_ACTIVE);

    // ---- write side (ap_clk) ----
    assign s_tready = 1'b1;
    reg [8*CHANNELS-1:0] pixel;
    reg [BW-1:0] part;
    reg [AW-1:0] wr_addr;
    reg wr_en;
    wire [8*CHANNELS-1:0] filled;  // the pixel with this beat shifted in from the top
    generate
        if (BEATS_PER_PIXEL > 1) begin : collect
            assign filled = {s_tdata, pixel[8*CHANNELS-1:8*LANES]};
        end else begin : whole
            assign filled = s_tdata;
        end
    endgenerate
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            part <= 0;
            wr_addr <= 0;
            wr_en <= 1'b0;
            frame_written <= 1'b0;
            frames_written <= 32'd0;
        end else begin
            if (wr_en) begin  // the pixel written this cycle
                wr_addr <= wr_addr == PIXELS - 1 ? {AW{1'b0}} : wr_addr + 1'b1;
                if (wr_addr == PIXELS - 1) begin
                    frame_written <= 1'b1;
                    frames_written <= frames_written + 32'd1;
                end
            end
            wr_en <= 1'b0;
            if (s_tvalid) begin  // channel 0 arrives first and ends in the low byte
                pixel <= filled;
                if (part == BEATS_PER_PIXEL - 1) begin
                    part <= 0;
                    wr_en <= 1'b1;
                end else
                    part <= part + 1'b1;
            end
        end
    end

    // ---- read side (pix_clk) ----
    reg [1:0] rst_sync = 2'b00;
    reg [1:0] ready_sync = 2'b00;
    always @(posedge pix_clk) begin
        rst_sync <= {rst_sync[0], pix_rst_n};
        ready_sync <= {ready_sync[0], frame_written};
    end
    wire rst_n = rst_sync[1];

    wire [15:0] x, y;
    wire de, hsync, vsync, frame_start;
    video_timing #(
        .H_ACTIVE(H_ACTIVE), .H_FRONT(H_FRONT), .H_SYNC(H_SYNC), .H_BACK(H_BACK),
        .V_ACTIVE(V_ACTIVE), .V_FRONT(V_FRONT), .V_SYNC(V_SYNC), .V_BACK(V_BACK)
    ) timing (
        .ap_clk(pix_clk), .ap_rst_n(rst_n), .x(x), .y(y), .de(de), .hsync(hsync), .vsync(vsync),
        .frame_start(frame_start)
    );

    // the image's address at the raster position: counters that hold x / REPEAT and the row's base address
    wire in_image = x >= X0 && x < X0 + SHOWN_W && y >= Y0 && y < Y0 + SHOWN_H;
    wire line_end = in_image && x == X0 + SHOWN_W - 1;
    reg [RW-1:0] rep_x, rep_y;
    reg [CW-1:0] col;
    reg [AW:0] row_base;
    reg [AW-1:0] rd_addr;
    reg [3:0] ctl1, ctl2, ctl3;  // {de, hsync, vsync, visible} one to three cycles after the raster position
    wire [8*CHANNELS-1:0] q;
    always @(posedge pix_clk) begin
        if (!rst_n) begin
            rep_x <= 0;
            rep_y <= 0;
            col <= 0;
            row_base <= 0;
            showing <= 1'b0;
            ctl1 <= 4'd0;
            ctl2 <= 4'd0;
            ctl3 <= 4'd0;
        end else begin
            if (!in_image) begin
                rep_x <= 0;
                col <= 0;
            end else if (rep_x == REPEAT - 1) begin
                rep_x <= 0;
                col <= col + 1'b1;
            end else
                rep_x <= rep_x + 1'b1;
            if (y >= V_ACTIVE) begin  // vertical blanking: back to the top; the picture switches on here
                rep_y <= 0;
                row_base <= 0;
                showing <= ready_sync[1];
            end else if (line_end) begin
                if (rep_y == REPEAT - 1) begin
                    rep_y <= 0;
                    row_base <= row_base + FRAME_W;
                end else
                    rep_y <= rep_y + 1'b1;
            end
            ctl1 <= {de, hsync, vsync, in_image && showing};
            ctl2 <= ctl1;
            ctl3 <= ctl2;
        end
        rd_addr <= row_base[AW-1:0] + col;
    end

    frame_ram #(.WIDTH(8 * CHANNELS), .DEPTH(PIXELS), .BANK_WORDS(BANK_WORDS), .AW(AW)) memory (
        .wr_clk(ap_clk), .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(pixel),
        .rd_clk(pix_clk), .rd_en(1'b1), .rd_addr(rd_addr), .q(q));

    wire [7:0] red = ctl3[0] ? q[7:0] : 8'd0;
    wire [7:0] green = ctl3[0] ? q[8 * (CHANNELS > 1 ? 1 : 0) +: 8] : 8'd0;
    wire [7:0] blue = ctl3[0] ? q[8 * (CHANNELS > 1 ? 2 : 0) +: 8] : 8'd0;
    wire [9:0] sym_red, sym_green, sym_blue;
    dvi_out phy (
        .ap_clk(pix_clk), .clk_x5(clk_x5), .ap_rst_n(rst_n), .de(ctl3[3]), .hsync(ctl3[2]), .vsync(ctl3[1]),
        .red(red), .green(green), .blue(blue), .sym_red(sym_red), .sym_green(sym_green), .sym_blue(sym_blue),
        .ddr_red(ddr_red), .ddr_green(ddr_green), .ddr_blue(ddr_blue), .ddr_clock(ddr_clock)
    );
endmodule
`default_nettype wire
