`default_nettype none
// The rolled design's UART front (fqsr.hw.board's rolled board top): the first IMAGE_BYTES bytes received after
// reset are the weight image (weights.bin) for weight_loader on img_t* (tlast on its last byte); every byte after
// them belongs to the frames, packed little-endian into OUT_BYTES-byte beats on m_t* as uart_stream_bridge packs
// them. image_sent rises once the whole image has passed; a refused image (weight_loader's image_error) needs a
// reset before the image is sent again.
module uart_image_split #(
    parameter integer IMAGE_BYTES = 16,
    parameter integer OUT_BYTES   = 1
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,
    input  wire [7:0]             s_tdata,
    input  wire                   s_tvalid,
    output wire                   s_tready,
    output wire [7:0]             img_tdata,
    output wire                   img_tvalid,
    input  wire                   img_tready,
    output wire                   img_tlast,
    output reg  [OUT_BYTES*8-1:0] m_tdata,
    output reg                    m_tvalid,
    input  wire                   m_tready,
    output wire                   image_sent
);
    localparam integer CW = $clog2(IMAGE_BYTES + 1);
    localparam integer IW = OUT_BYTES > 1 ? $clog2(OUT_BYTES) : 1;
    initial if (IMAGE_BYTES < 1 || OUT_BYTES < 1) $fatal(1, "uart_image_split: IMAGE_BYTES and OUT_BYTES must be positive");

    reg [CW-1:0] count;  // image bytes passed on
    reg [IW-1:0] index;
    wire frame_ready = !m_tvalid;  // fill a beat only while none is waiting
    assign image_sent = count == IMAGE_BYTES;
    assign img_tdata = s_tdata;
    assign img_tvalid = s_tvalid && !image_sent;
    assign img_tlast = count == IMAGE_BYTES - 1;
    assign s_tready = image_sent ? frame_ready : img_tready;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            count <= 0;
            index <= 0;
            m_tvalid <= 1'b0;
            m_tdata <= 0;
        end else begin
            if (!image_sent && s_tvalid && img_tready) count <= count + 1'b1;
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (image_sent && s_tvalid && frame_ready) begin
                m_tdata[index*8 +: 8] <= s_tdata;
                if (index == OUT_BYTES - 1) begin
                    index <= 0;
                    m_tvalid <= 1'b1;
                end else
                    index <= index + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
