"""The compiled harness on a hand-written top with 100-bit streams (Verilator VlWide ports and taps):
beats and cycle stamps equal the cocotb bench's, taps record internal beats, a deadlock names its node."""
import random
import re

import pytest

from fqsr.models.errors import FqsrError
from fqsr.sim import harness
from fqsr.sim.verify import simulate

W = 100  # wider than a QData: Verilator makes every stream of this top a VlWide<4>
MASK = (1 << W) - 1

# three register-slice stages in the shape of a stitched top: <node> <node>_i (.inN_*/.outN_* ...),
# internal streams t_<name> marked public_flat_rd as hw/stitch.py marks them
STAGE = """module {name} (input wire ap_clk, input wire ap_rst_n,
    input wire [{msb}:0] in0_tdata, input wire in0_tvalid, output wire in0_tready,
    output reg [{msb}:0] out0_tdata, output reg out0_tvalid, input wire out0_tready);
    reg [7:0] taken;
    assign in0_tready = (!out0_tvalid || out0_tready) && {accept};
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin out0_tvalid <= 1'b0; taken <= 8'd0; end
        else begin
            if (out0_tready) out0_tvalid <= 1'b0;
            if (in0_tready && in0_tvalid) begin
                out0_tvalid <= 1'b1;
                out0_tdata <= {expr};
                taken <= taken + 8'd1;
            end
        end
    end
endmodule
"""
TOP = """module fqsr_top (input wire ap_clk, input wire ap_rst_n,
    input  wire [{msb}:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    output wire [{msb}:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready);
    wire [{msb}:0] t_a_tdata /*verilator public_flat_rd*/;
    wire t_a_tvalid /*verilator public_flat_rd*/;
    wire t_a_tready /*verilator public_flat_rd*/;
    wire [{msb}:0] t_b_tdata /*verilator public_flat_rd*/;
    wire t_b_tvalid /*verilator public_flat_rd*/;
    wire t_b_tready /*verilator public_flat_rd*/;
{instances}endmodule
"""


def _design(folder, stuck_after=None):
    """add_one (+1) -> swap (halves exchanged) -> keep; ``stuck_after``: swap accepts only that many beats."""
    folder.mkdir(parents=True, exist_ok=True)
    msb = W - 1
    stages = [("add_one", "in0_tdata + 1'b1", "1'b1", "s_axis", "t_a"),
              ("swap", f"{{in0_tdata[{W // 2 - 1}:0], in0_tdata[{msb}:{W // 2}]}}",
               "1'b1" if stuck_after is None else f"(taken < 8'd{stuck_after})", "t_a", "t_b"),
              ("keep", "in0_tdata", "1'b1", "t_b", "m_axis")]
    sources, instances = [], ""
    for name, expr, accept, src, dst in stages:
        (folder / f"{name}.v").write_text(STAGE.format(name=name, msb=msb, expr=expr, accept=accept))
        sources.append(folder / f"{name}.v")
        conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)"]
        conns += [f".in0_{s}({src}_{s})" for s in ("tdata", "tvalid", "tready")]
        conns += [f".out0_{s}({dst}_{s})" for s in ("tdata", "tvalid", "tready")]
        instances += f"    {name} {name}_i (\n        " + ",\n        ".join(conns) + "\n    );\n"
    (folder / "top.v").write_text(TOP.format(msb=msb, instances=instances))
    return [*sources, folder / "top.v"]


def _swap(v):
    return ((v & ((1 << W // 2) - 1)) << W // 2) | (v >> W // 2)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return _design(tmp_path_factory.mktemp("wide"))


def test_wide_streams_equal_the_cocotb_bench_and_the_taps_record(wide, tmp_path):
    rng = random.Random(11)
    beats = [rng.getrandbits(W) for _ in range(300)] + [MASK]  # MASK + 1 wraps: the carry crosses every word
    spec = {"phases": [{"beats": beats, "expect": len(beats), "p_gap": 0.3, "p_stall": 0.4, "seed": 5,
                        "taps": ["t_a", "t_b"]},
                       {"beats": beats[:20], "expect": 20, "p_gap": 0.0, "p_stall": 0.0, "seed": 5}],
            "max_cycles": 10_000}
    assert harness.design_streams(wide[-1])["taps"] == {"t_a": W, "t_b": W}
    got = simulate(wide, spec, tmp_path / "harness", "verilator", seed=0)
    bench = simulate(wide, spec, tmp_path / "cocotb", "cocotb", seed=0)
    want = [_swap((b + 1) & MASK) for b in beats]
    first, second = got["phases"]
    assert first["beats"] == want and second["beats"] == want[:20] and got["extra_beats"] == []
    assert first["taps"] == bench["phases"][0]["taps"] == {"t_a": [(b + 1) & MASK for b in beats], "t_b": want}
    assert second["taps"] == {}  # recorded only where the spec asks
    for mine, theirs in zip(got["phases"], bench["phases"], strict=True):
        assert (mine["beats"], mine["cycles"], mine["first_in"]) == (theirs["beats"], theirs["cycles"],
                                                                     theirs["first_in"])
    assert got["cycles"] == bench["cycles"] and not got["deadlock"]
    # every stream's handshakes were counted: two phases' beats (and the drain's none) on each
    assert {s: v["handshakes"] for s, v in got["streams"].items()} == dict.fromkeys(
        ("s_axis", "m_axis", "t_a", "t_b"), len(beats) + 20)


def test_a_deadlock_names_the_node_that_holds_the_stream(tmp_path):
    sources = _design(tmp_path / "stuck", stuck_after=5)
    spec = {"phases": [{"beats": list(range(40)), "expect": 40, "p_gap": 0.2, "p_stall": 0.2, "seed": 1}],
            "max_cycles": 10**9}
    result = simulate(sources, spec, tmp_path / "run", "verilator", seed=0, idle_cycles=500)
    # the no-handshake watchdog stopped it, not the (huge) max_cycles
    assert result["deadlock"] and result["idle_stop"] and result["cycles"] < 1000
    assert len(result["phases"][0]["beats"]) == 5
    at = result["deadlock_at"]
    assert at["kind"] == "holding" and at["nodes"] == ["swap"]
    assert {h["stream"]: h["consumer"] for h in at["holding"]}["t_a"] == "swap"
    assert at["handshakes"]["t_b"] == 5 and at["handshakes"]["t_a"] == 5


def test_stimulus_words_and_seed_keys():
    assert [harness.words(w) for w in (1, 8, 32, 33, 64, 65, 100, 128, 129)] == [1, 1, 1, 2, 2, 3, 4, 4, 5]
    # CPython seeds MT19937 from abs(seed)'s 32-bit words, least significant first
    assert harness.seed_key(0) == [0] and harness.seed_key(7001) == [7001]
    assert harness.seed_key(-(5 << 32 | 3)) == [3, 5]
    raw = harness._beats_to_words([1 << 99 | 5, 7], W)
    assert harness._words_to_beats(raw, 4) == [1 << 99 | 5, 7]
    assert harness._words_to_beats(harness._beats_to_words([2**64 - 1, 3], 64), 2) == [2**64 - 1, 3]


def test_bad_sim_and_unknown_tap_are_clear_errors(wide, tmp_path):
    spec = {"phases": [{"beats": [1], "expect": 1, "p_gap": 0.0, "p_stall": 0.0, "taps": ["t_nope"]}],
            "max_cycles": 100}
    with pytest.raises(FqsrError, match=re.escape("no stream t_nope in")):
        simulate(wide, spec, tmp_path, "verilator", seed=0)
    with pytest.raises(FqsrError, match="unknown simulator 'modelsim'; choose verilator"):
        simulate(wide, spec, tmp_path, "modelsim", seed=0)
