`default_nettype none
// The board's SDRAM with its weight image: sdram_ctrl, fed by weight_loader until the image is loaded and
// checked, then by the user port (the accelerator). The user port's cmd_ready stays low until image_ok,
// so the accelerator cannot start on a missing, short or corrupt image.
module weight_memory #(
    parameter integer CLK_MHZ       = 100,
    parameter integer CAS_LATENCY   = 2,
    parameter integer LEN_BITS      = 8,
    parameter integer POWERUP_US    = 200,
    parameter integer T_REFI_NS     = 7812,
    parameter integer RD_FIFO_DEPTH = 16
) (
    input  wire        ap_clk,
    input  wire        ap_rst_n,
    // the weight image, a byte stream (from the UART bridge)
    input  wire [7:0]  img_tdata,
    input  wire        img_tvalid,
    output wire        img_tready,
    input  wire        img_tlast,
    output wire        image_ok,
    output wire        image_error,
    output wire [2:0]  error_code,
    output wire [31:0] payload_bytes,
    // user port: as sdram_ctrl's host port, open once image_ok
    input  wire        u_cmd_valid,
    output wire        u_cmd_ready,
    input  wire        u_cmd_write,
    input  wire [23:0] u_cmd_addr,
    input  wire [LEN_BITS-1:0] u_cmd_len,
    input  wire [15:0] u_wr_tdata,
    input  wire        u_wr_tvalid,
    output wire        u_wr_tready,
    output wire [15:0] u_rd_tdata,
    output wire        u_rd_tvalid,
    input  wire        u_rd_tready,
    // chip
    output wire        sdram_cke,
    output wire        sdram_cs_n,
    output wire        sdram_ras_n,
    output wire        sdram_cas_n,
    output wire        sdram_we_n,
    output wire [1:0]  sdram_ba,
    output wire [12:0] sdram_a,
    output wire [1:0]  sdram_dqm,
    output wire [15:0] sdram_dq_o,
    output wire        sdram_dq_oe,
    input  wire [15:0] sdram_dq_i
);
    wire l_cmd_valid, l_cmd_write, l_wr_tvalid;
    wire [23:0] l_cmd_addr;
    wire [LEN_BITS-1:0] l_cmd_len;
    wire [15:0] l_wr_tdata;
    wire cmd_ready, wr_tready, rd_tvalid, init_done;

    weight_loader #(.ADDR_BITS(24), .LEN_BITS(LEN_BITS)) loader (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_tdata(img_tdata), .in0_tvalid(img_tvalid), .in0_tready(img_tready), .in0_tlast(img_tlast),
        .cmd_valid(l_cmd_valid), .cmd_ready(cmd_ready && !image_ok), .cmd_write(l_cmd_write),
        .cmd_addr(l_cmd_addr), .cmd_len(l_cmd_len),
        .wr_tdata(l_wr_tdata), .wr_tvalid(l_wr_tvalid), .wr_tready(wr_tready && !image_ok),
        .image_ok(image_ok), .image_error(image_error), .error_code(error_code), .payload_bytes(payload_bytes));

    sdram_ctrl #(.CLK_MHZ(CLK_MHZ), .CAS_LATENCY(CAS_LATENCY), .LEN_BITS(LEN_BITS), .POWERUP_US(POWERUP_US),
                 .T_REFI_NS(T_REFI_NS), .RD_FIFO_DEPTH(RD_FIFO_DEPTH)) ctrl (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .cmd_valid(image_ok ? u_cmd_valid : l_cmd_valid), .cmd_ready(cmd_ready),
        .cmd_write(image_ok ? u_cmd_write : l_cmd_write), .cmd_addr(image_ok ? u_cmd_addr : l_cmd_addr),
        .cmd_len(image_ok ? u_cmd_len : l_cmd_len),
        .wr_tdata(image_ok ? u_wr_tdata : l_wr_tdata), .wr_tvalid(image_ok ? u_wr_tvalid : l_wr_tvalid),
        .wr_tready(wr_tready),
        .rd_tdata(u_rd_tdata), .rd_tvalid(rd_tvalid), .rd_tready(u_rd_tready && image_ok),
        .init_done(init_done),
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_cs_n), .sdram_ras_n(sdram_ras_n), .sdram_cas_n(sdram_cas_n),
        .sdram_we_n(sdram_we_n), .sdram_ba(sdram_ba), .sdram_a(sdram_a), .sdram_dqm(sdram_dqm),
        .sdram_dq_o(sdram_dq_o), .sdram_dq_oe(sdram_dq_oe), .sdram_dq_i(sdram_dq_i));

    assign u_cmd_ready = cmd_ready && image_ok;
    assign u_wr_tready = wr_tready && image_ok;
    assign u_rd_tvalid = rd_tvalid && image_ok;
endmodule
`default_nettype wire
