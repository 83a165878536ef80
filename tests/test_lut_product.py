"""mvau.v's two product forms are equal: Yosys' SAT solver proves ``lut_product(x, w) == x * w``.

Synthesis builds LUT_MULT products with ``lut_product`` (shift and add); simulation builds define
``FQSR_SIM_PRODUCTS`` and use ``*`` (fqsr.sim.runner.sim_defines). The proof reads the function and the
product width out of ``hw/rtl/mvau.v`` itself and proves the PW-bit results equal for every pair of operands
the function can be given: input and weight bits 2..8 (what the generator emits), each operand any
(bits+1)-bit two's complement value, which covers mvau's signed lanes (sign-extended) and unsigned ones
(a 0 on top) alike: 49 wrappers, one Yosys run. A SAT proof of a whole 9 x 9 multiplier took minutes, so
the narrower operand's bits above its lowest FREE_BITS are fixed to each of their values in turn (one
proof each, 367 in all; together they cover every input).
"""
import itertools
import re
import subprocess

from test_rtl_yosys import yosys_exe

from fqsr.hw.generate import RTL_DIR

BITS = range(2, 9)
FREE_BITS = 3  # the narrower operand's low bits the solver keeps free


def mvau_product_source() -> tuple[str, str]:
    """The ``PW`` localparam line and the ``lut_product`` function, verbatim from mvau.v."""
    text = (RTL_DIR / "mvau.v").read_text()
    width = re.search(r"^\s*localparam integer PW = [^;]*;", text, flags=re.M)
    function = re.search(r"^\s*function automatic signed \[PW-1:0\] lut_product\(.*?^\s*endfunction", text,
                         flags=re.M | re.S)
    assert width and function, "mvau.v no longer has the PW localparam and the lut_product function"
    return width.group(0), function.group(0)


def wrapper(in_bits: int, w_bits: int, width: str, function: str) -> tuple[str, str]:
    """A module whose output ``ok`` is 1 when mvau's two product forms agree on the lanes ``xl`` and ``wl``
    (declared as in mvau.v)."""
    name = f"product_{in_bits}_{w_bits}"
    return name, f"""
module {name} (input wire signed [{in_bits}:0] xl, input wire signed [{w_bits}:0] wl, output wire ok);
    localparam integer IN_BITS = {in_bits}, W_BITS = {w_bits};
{width}
{function}
    wire signed [PW-1:0] from_luts = lut_product(xl, wl);
    wire signed [PW-1:0] multiply = xl * wl;
    assign ok = from_luts == multiply;
endmodule
"""


def proofs(name: str, in_bits: int, w_bits: int) -> list[str]:
    """Yosys ``sat`` commands that together prove ``ok`` is 1 for every input of wrapper ``name``."""
    lane, bits = ("xl", in_bits) if in_bits < w_bits else ("wl", w_bits)  # bits + 1: the lane's width
    if bits < FREE_BITS:
        return [f"sat -prove ok 1 -verify {name}"]
    return [f"sat -prove ok 1 -set {lane}[{bits}:{FREE_BITS}] {high} -verify {name}"
            for high in range(1 << (bits + 1 - FREE_BITS))]


def prove(cases, tmp_path, function_of=lambda f: f) -> tuple[int, str, int]:
    """Run the proofs of ``cases`` ((in_bits, w_bits) pairs) in one Yosys run; (return code, log, proofs run)."""
    width, function = mvau_product_source()
    modules = [(wrapper(i, w, width, function_of(function)), (i, w)) for i, w in cases]
    (tmp_path / "products.v").write_text("".join(text for (_, text), _ in modules))
    commands = [c for (name, _), (i, w) in modules for c in proofs(name, i, w)]
    script = "read_verilog -sv products.v\nproc\nflatten\nopt\n" + "\n".join(commands) + "\n"
    (tmp_path / "prove.ys").write_text(script)
    run = subprocess.run([yosys_exe(), "-q", "-l", "prove.log", "-s", "prove.ys"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=1200)
    log = (tmp_path / "prove.log").read_text() if (tmp_path / "prove.log").exists() else ""
    return run.returncode, log + run.stdout + run.stderr, len(commands)


def test_lut_product_equals_multiply_for_every_width(tmp_path):
    cases = list(itertools.product(BITS, BITS))
    code, log, n = prove(cases, tmp_path)
    assert code == 0, "a product form differs:\n" + "\n".join(log.splitlines()[-30:])
    assert log.count("SAT proof finished - no model found: SUCCESS!") == n == 367


def test_the_proof_catches_a_wrong_product(tmp_path):
    """The same proof of a function that drops the sign bit's term fails (the proof can fail)."""
    broken = lambda f: f.replace("-(a_wide <<< W_BITS)", "{PW{1'b0}}")
    assert broken(mvau_product_source()[1]) != mvau_product_source()[1]
    code, log, _ = prove([(4, 5)], tmp_path, broken)
    assert code != 0 and "SAT proof finished - model found: FAIL!" in log
