`default_nettype none
// DVI/HDMI (DVI mode) transmitter: three TMDS encoders (blue carries {vsync, hsync} as its control bits)
// at the pixel clock, and a 10:1 serializer per channel and for the clock channel in the 5x clock domain,
// two bits per 5x cycle for a DDR output (bit 0 on the rising edge, sent first; e.g. ECP5 ODDRX1F).
// clk_x5 must be 5x ap_clk, from the same PLL, rising edges aligned. The symbols enter the
// serializer at phase LOAD_PHASE of the 5x clock, away from the pixel clock's edge.
// Latency from (de, hsync, vsync, rgb) to the first serialized bit: 2 pixel clocks (encoders) + the load +
// OUT_STAGES 5x cycles (the output registers).
module dvi_out #(
    parameter integer LOAD_PHASE = 2,
    parameter integer OUT_STAGES = 2
) (
    input  wire       ap_clk,
    input  wire       clk_x5,
    input  wire       ap_rst_n,
    input  wire       de,
    input  wire       hsync,
    input  wire       vsync,
    input  wire [7:0] red,
    input  wire [7:0] green,
    input  wire [7:0] blue,
    output wire [9:0] sym_red,      // the encoded symbols, at the pixel clock (for checks and other PHYs)
    output wire [9:0] sym_green,
    output wire [9:0] sym_blue,
    output wire [1:0] ddr_red,      // {falling, rising} bits for each channel's DDR output
    output wire [1:0] ddr_green,
    output wire [1:0] ddr_blue,
    output wire [1:0] ddr_clock
);
    initial if (LOAD_PHASE < 0 || LOAD_PHASE > 4) $fatal(1, "dvi_out: LOAD_PHASE (%0d) must be 0 to 4", LOAD_PHASE);
    initial if (OUT_STAGES < 1) $fatal(1, "dvi_out: OUT_STAGES (%0d) must be at least 1", OUT_STAGES);

    tmds_encoder enc_blue (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .de(de), .c({vsync, hsync}), .d(blue), .q(sym_blue));
    tmds_encoder enc_green (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .de(de), .c(2'b00), .d(green), .q(sym_green));
    tmds_encoder enc_red (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .de(de), .c(2'b00), .d(red), .q(sym_red));

    // 5x domain: a one-hot phase ring (the load enable is one flip-flop), and shift registers loaded
    // once per pixel
    reg [4:0] phase;
    reg [9:0] sh_red, sh_green, sh_blue, sh_clock;
    reg rst_x5_n;
    always @(posedge clk_x5) begin
        rst_x5_n <= ap_rst_n;
        phase <= rst_x5_n ? {phase[3:0], phase[4]} : 5'b00001;
    end
    // no reset on the shifters: one fewer signal on the fastest path; they hold symbols within 5 cycles
    always @(posedge clk_x5) begin
        if (phase[LOAD_PHASE]) begin
            sh_red <= sym_red;
            sh_green <= sym_green;
            sh_blue <= sym_blue;
            sh_clock <= 10'b0000011111;
        end else begin
            sh_red <= {2'b00, sh_red[9:2]};
            sh_green <= {2'b00, sh_green[9:2]};
            sh_blue <= {2'b00, sh_blue[9:2]};
            sh_clock <= {2'b00, sh_clock[9:2]};
        end
    end
    // OUT_STAGES more registers per channel, which the placer spreads out to the pin's DDR cell: on the board the
    // pins sit at the die's edge, and the one long route from the shifters to them limited the 5x clock
    // (324 MHz with none, 359 MHz with one; 370 MHz needed)
    wire [7:0] serial_bits = {sh_red[1:0], sh_green[1:0], sh_blue[1:0], sh_clock[1:0]};
    reg [8*OUT_STAGES+7:0] pipe_r;  // stage k (1..OUT_STAGES) in bits [8k +: 8]
    wire [8*OUT_STAGES+7:0] pipe = {pipe_r[8*OUT_STAGES+7:8], serial_bits};
    always @(posedge clk_x5) pipe_r[8*OUT_STAGES+7:8] <= pipe[8*OUT_STAGES-1:0];
    assign {ddr_red, ddr_green, ddr_blue, ddr_clock} = pipe[8*OUT_STAGES +: 8];
endmodule
`default_nettype wire
