`default_nettype none
// Sum of N signed terms (IN_BITS each, term k at terms[k*IN_BITS +: IN_BITS]) as a balanced tree of
// two-input adders, clog2(N) deep, in OUT_BITS two's complement: every term is sign-extended (or cut)
// to OUT_BITS and the sum wraps there, like an accumulator of that width. Written as a sum in one
// expression, synth_ecp5 builds a chain of N - 1 carry adders with the routing between them on one
// path; the tree keeps clog2(N) of them on it (benchmarks/fmax.md). Where a level has an odd count its
// last node is carried up unpaired, so a term that arrives late (a negation) belongs at index N - 1.
module adder_tree #(
    parameter integer N        = 2,
    parameter integer IN_BITS  = 8,
    parameter integer OUT_BITS = 8
) (
    input  wire [N*IN_BITS-1:0]      terms,
    output wire signed [OUT_BITS-1:0] sum
);
    localparam integer LEVELS = N > 1 ? $clog2(N) : 0;
    initial if (N < 1 || IN_BITS < 1 || OUT_BITS < 1)
        $fatal(1, "adder_tree: N (%0d), IN_BITS (%0d) and OUT_BITS (%0d) must be positive", N, IN_BITS, OUT_BITS);

    // node k of level l at node[(l*N + k)*OUT_BITS +: OUT_BITS]; level 0 holds the terms
    wire [(LEVELS+1)*N*OUT_BITS-1:0] node;
    genvar l, k;
    generate
        for (k = 0; k < N; k = k + 1) begin : term
            wire signed [IN_BITS-1:0]  v = terms[k*IN_BITS +: IN_BITS];
            wire signed [OUT_BITS-1:0] e = v;
            assign node[k*OUT_BITS +: OUT_BITS] = e;
        end
        for (l = 1; l <= LEVELS; l = l + 1) begin : level
            localparam integer M = (N + (1 << (l - 1)) - 1) >> (l - 1);  // nodes of level l - 1
            for (k = 0; k < N; k = k + 1) begin : add
                localparam integer A = ((l - 1) * N + 2 * k) * OUT_BITS, B = A + OUT_BITS;
                if (2 * k + 1 < M) begin : pair
                    assign node[(l*N + k)*OUT_BITS +: OUT_BITS] = node[A +: OUT_BITS] + node[B +: OUT_BITS];
                end else if (2 * k < M) begin : single
                    assign node[(l*N + k)*OUT_BITS +: OUT_BITS] = node[A +: OUT_BITS];
                end else begin : none
                    assign node[(l*N + k)*OUT_BITS +: OUT_BITS] = {OUT_BITS{1'b0}};
                end
            end
        end
    endgenerate
    assign sum = node[LEVELS*N*OUT_BITS +: OUT_BITS];
endmodule
`default_nettype wire
