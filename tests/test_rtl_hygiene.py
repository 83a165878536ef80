"""RTL conventions (verilog-axis style): no implicit nets, parameters checked by the module itself,
and one counter-chain module for the loop nests of the streaming nodes."""
import json
import shutil

import pytest

from fqsr.hw.generate import RTL_DIR
from fqsr.sim.runner import run_cocotb

MODULES = sorted(RTL_DIR.glob("*.v"))


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_every_module_forbids_implicit_nets(path):
    text = path.read_text()
    assert text.startswith("`default_nettype none\n") and text.rstrip().endswith("`default_nettype wire")


@pytest.mark.parametrize("limits", [[3, 1, 2], [1], [4, 5], [2, 2, 2, 3, 1]], ids=str)
def test_counter_chain_walks_the_loop_nest(limits, tmp_path):
    packed = f"{32 * len(limits)}'h" + "".join(f"{v:08x}" for v in reversed(limits))
    run_cocotb([RTL_DIR / "counter_chain.v"], "counter_chain", "fqsr.sim.counter_bench",
               parameters={"N": len(limits), "LIMITS": packed}, test_dir=tmp_path,
               extra_env={"FQSR_COUNTER_LIMITS": json.dumps(limits), "FQSR_COUNTER_SEED": "3"})


def _elaborate_with_yosys(tmp_path, source: str, top: str):
    import subprocess

    from fqsr.hw.synth import tool

    (tmp_path / "t.v").write_text(source)
    for module in MODULES:  # Yosys (WebAssembly) reads files below its working directory
        shutil.copy(module, tmp_path / module.name)
    deps = " ".join(p.name for p in MODULES)
    return subprocess.run(tool("yosys") + ["-q", "-p", f"read_verilog -defer -sv {deps} t.v; hierarchy -top {top}"],
                          cwd=tmp_path, capture_output=True, text=True)


def test_a_bad_parameter_stops_elaboration_at_its_check(tmp_path):
    """sliding_window with CHANNELS not a multiple of SIMD: Yosys stops at the check's line, Icarus says why."""
    import subprocess

    wrapper = ("module t(input wire c, input wire r, input wire [7:0] d, input wire v, output wire rd, "
               "output wire [7:0] q, output wire qv, input wire qr);\n"
               "  sliding_window #(.SIMD(2), .BITS(4), .CHANNELS(3)) u(.ap_clk(c), .ap_rst_n(r), .in0_tdata(d), "
               ".in0_tvalid(v), .in0_tready(rd), .out0_tdata(q), .out0_tvalid(qv), .out0_tready(qr));\nendmodule\n")
    result = _elaborate_with_yosys(tmp_path, wrapper, "t")
    check_line = next(i + 1 for i, line in enumerate((RTL_DIR / "sliding_window.v").read_text().splitlines())
                      if "must be a multiple of SIMD" in line)
    assert result.returncode != 0 and f"sliding_window.v:{check_line}" in result.stdout + result.stderr
    good = _elaborate_with_yosys(tmp_path, wrapper.replace(".CHANNELS(3)", ".CHANNELS(4)"), "t")
    assert good.returncode == 0, good.stdout + good.stderr
    if subprocess.run(["which", "iverilog"], capture_output=True).returncode == 0:
        (tmp_path / "t.v").write_text(wrapper)
        subprocess.run(["iverilog", "-g2012", "-s", "t", "-o", str(tmp_path / "t.vvp"),
                        str(RTL_DIR / "sliding_window.v"), str(RTL_DIR / "counter_chain.v"), str(tmp_path / "t.v")],
                       check=True, capture_output=True)
        run = subprocess.run(["vvp", "-n", str(tmp_path / "t.vvp")], capture_output=True, text=True)
        assert "sliding_window: CHANNELS (3) must be a multiple of SIMD (2)" in run.stdout
