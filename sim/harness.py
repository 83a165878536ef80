"""The compiled simulation harness: the stitched top verilated together with a C++ driver, no Python per clock.

:func:`simulate` takes the same spec as the cocotb bench :mod:`fqsr.sim.network_bench`
(phases of beats, expected beat count, ``p_gap``, ``p_stall``, ``seed``, optional
``taps``; ``max_cycles``, ``max_wall_s``) and returns the same result dict, so callers
switch between the two freely. ``harness/harness.cpp`` reproduces the bench exactly:

- gaps and stalls: CPython's ``random.Random(seed).random()`` (MT19937 seeded by
  ``init_by_array`` over the seed's 32-bit words), the source seeded ``seed*1000+1`` and
  drawing one number per cycle only while it has beats left, the sink ``seed*1000+2``
  drawing one every cycle; so beats *and* cycle stamps equal the bench's;
- cycles: counted from the first driven falling edge after reset (one idle rising edge
  after the release), one unobserved idle cycle after each phase, then a drain of
  ``DRAIN_CYCLES`` with the sink ready that records any extra beat (not counted).

A phase may carry ``"frame": [rows, cols]`` for a top with runtime frame geometry (``frame_rows`` /
``frame_cols`` ports, :func:`fqsr.hw.stitch.runtime_geometry`): the geometry is set before reset for the
first phase, and for a later one once the previous phase has received all of its beats (the top is
empty), followed by ``GEOMETRY_SETTLE_CYCLES`` idle cycles (counted) when it changed.

Every 2^20 cycles it writes ``progress.txt`` in its working directory (cycle, phase, beats received
and sent, wall seconds), so a long run can be watched.

Beyond the bench, it counts the handshakes of every internal stream (the ``t_<tensor>``
wires ``top.v`` marks ``/*verilator public_flat_rd*/``) and stops when no stream moved for
``idle_cycles``: a deadlock, reported with the node(s) holding it (``deadlock_at``).

The build (``verilator --cc --exe`` + make of the generated model and the driver) is
cached under ``build/sim/harness-*`` by a hash of the sources' contents, the driver and
the flags; Verilator's runtime objects are compiled once per flag set and copied in.

Binary formats (little-endian), written by :func:`write_stimulus`, read by :func:`read_result`::

    stimulus: "FQSRSTI2" u32 in_words u32 out_words u64 max_cycles u64 idle_cycles u32 drain u32 settle
              f64 max_wall_s u32 n_taps {u32 len, name}* u32 n_phases
              {u32 frame_rows u32 frame_cols u64 beats u64 expect f64 p_gap f64 p_stall u32 record_taps
               u32 n {u32 source seed word}* u32 n {u32 sink seed word}* u32[beats*in_words]}*
    result:   "FQSRRES1" u32 out_words u8 deadlock u8 wall_limited u8 idle_stop u8 0 u64 cycles
              f64 wall_s f64 cpu_s u32 n_phases {u64 sent i64 first_in u64 n u32[n*out_words] u64[n]
              u32 n_taps {u32 words u64 n u32[n*words]}*}* u64 n_extra u32[n_extra*out_words]
              u32 n_streams {u64 handshakes i64 last_cycle u8 valid|ready<<1}*

A beat of ``w`` bits travels as ``words(w)`` 32-bit words (1 up to 32 bits, 2 up to 64,
then ``ceil(w/32)``: the size of Verilator's CData..QData / VlWide port), least significant first.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np

from fqsr.models.errors import FqsrError

DRIVER = Path(__file__).resolve().parent / "harness" / "harness.cpp"
DRAIN_CYCLES = 64  # as fqsr.sim.network_bench
GEOMETRY_SETTLE_CYCLES = 4  # as fqsr.sim.network_bench: the nodes register their geometry
EXE = "Vharness"
FLAGS_VERSION = 1  # bump when the build flags below change: cached builds are then rebuilt
VERILATE_FLAGS = ["--no-timing", "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]
OPT_FAST = "-O2"  # the model's per-cycle code; verilated.mk's -Os runs it markedly slower
# the runtime objects a harness links (verilated_threads also without --threads: Verilator 5 always uses it)
RUNTIME_OBJS = ("verilated", "verilated_dpi", "verilated_threads")
TRACE_OBJS = {"fst": ("verilated_fst_c",), "vcd": ("verilated_vcd_c",)}
TRACE_FLAGS = {"fst": ["--trace-fst"], "vcd": ["--trace"]}


def words(width: int) -> int:
    """32-bit words of a ``width``-bit beat in the files: sizeof Verilator's port type, rounded up to a word."""
    return 1 if width <= 32 else 2 if width <= 64 else (width + 31) // 32


def seed_key(seed: int) -> list[int]:
    """The 32-bit words ``random.Random(seed)`` feeds ``init_by_array``: CPython's abs(seed), least
    significant first."""
    n = abs(int(seed))
    key = []
    while n:
        key.append(n & 0xFFFFFFFF)
        n >>= 32
    return key or [0]


def _beats_to_words(beats, width: int) -> bytes:
    n = words(width)
    if width <= 64:
        arr = np.asarray(beats, dtype=np.uint64).astype("<u8")
        return (arr.view("<u4")[::2] if n == 1 else arr.view("<u4")).astype("<u4").tobytes()
    return b"".join(int(b).to_bytes(4 * n, "little") for b in beats)


def _words_to_beats(raw: bytes, n_words: int) -> list[int]:
    if not raw:
        return []
    if n_words <= 2:
        arr = np.frombuffer(raw, dtype="<u4").astype(np.uint64).reshape(-1, n_words)
        value = arr[:, 0] | (arr[:, 1] << np.uint64(32)) if n_words == 2 else arr[:, 0]
        return value.tolist()
    size = 4 * n_words
    return [int.from_bytes(raw[i:i + size], "little") for i in range(0, len(raw), size)]


def design_streams(top_v) -> dict:
    """The streams of a stitched ``top.v``: ``{"in_width", "out_width", "taps": {name: width},
    "nodes": [instance order = graph order], "producer": {stream: node}, "consumer": {stream: node}}``
    (``s_axis``/``m_axis`` included)."""
    text = Path(top_v).read_text()
    ports = {name: int(msb) + 1 for msb, name in
             re.findall(r"(?:input|output)\s+wire\s+\[(\d+):0\]\s+([sm]_axis)_tdata", text)}
    taps = {name: int(msb) + 1 for msb, name in
            re.findall(r"wire\s+\[(\d+):0\]\s+(\w+)_tdata\s*/\*verilator public_flat_rd\*/", text)}
    producer, consumer, nodes = {}, {}, []
    for node, body in re.findall(r"^\s+(\w+)\s+\w+_i\s*\((.*?)\);", text, flags=re.S | re.M):
        nodes.append(node)
        for port, stream in re.findall(r"\.(in|out)\d+_tdata\((\w+)_tdata\)", body):
            (consumer if port == "in" else producer)[stream] = node
    if "s_axis" not in ports or "m_axis" not in ports:
        raise FqsrError(f"{top_v} has no s_axis/m_axis stream ports; regenerate it with `fqsr rtl MODEL`")
    geometry = bool(re.search(r"input\s+wire\s+\[15:0\]\s+frame_rows\b", text))
    return {"in_width": ports["s_axis"], "out_width": ports["m_axis"], "taps": taps, "nodes": nodes,
            "producer": producer, "consumer": consumer, "frame_geometry": geometry}


def check_frames(spec: dict, geometry: bool, where) -> dict:
    """Phases with a ``frame`` need a top with the geometry ports; on a top with them, a phase without one
    streams the compiled frame (``rtl.json`` beside ``top.v``). Returns the spec with every phase's frame."""
    if not geometry:
        if any(phase.get("frame") for phase in spec["phases"]):
            raise FqsrError(f"{where} has no frame_rows/frame_cols ports, so it streams only its compiled frame "
                            "size; regenerate it with `fqsr rtl MODEL`")
        return spec
    if all(phase.get("frame") for phase in spec["phases"]):
        return spec
    summary = Path(where).parent / "rtl.json"
    compiled = (json.loads(summary.read_text()).get("frame") or {}).get("compiled") if summary.is_file() else None
    if not compiled:
        raise FqsrError(f"{where} takes the frame size at run time and {summary} does not give the compiled one; "
                        "give every phase a frame or regenerate the RTL with `fqsr rtl MODEL`")
    return {**spec, "phases": [{**phase, "frame": phase.get("frame") or list(compiled)} for phase in spec["phases"]]}


def write_stimulus(path, spec: dict, in_width: int, out_width: int, taps, idle_cycles: int) -> None:
    """The spec of :mod:`fqsr.sim.network_bench` as a harness stimulus file; ``taps``: streams to count."""
    w_in = words(in_width)
    max_wall_s = spec.get("max_wall_s")
    with open(path, "wb") as f:
        f.write(b"FQSRSTI2")
        f.write(struct.pack("<IIQQIId", w_in, words(out_width), int(spec["max_cycles"]), int(idle_cycles),
                            DRAIN_CYCLES, GEOMETRY_SETTLE_CYCLES, float(max_wall_s) if max_wall_s else 0.0))
        f.write(struct.pack("<I", len(taps)))
        for name in taps:
            f.write(struct.pack("<I", len(name)) + name.encode())
        f.write(struct.pack("<I", len(spec["phases"])))
        for phase in spec["phases"]:
            seed = int(phase.get("seed", 0))
            record = bool(phase.get("taps"))
            rows, cols = phase.get("frame") or (0, 0)
            f.write(struct.pack("<IIQQddI", int(rows), int(cols), len(phase["beats"]), int(phase["expect"]), float(phase["p_gap"]),
                                float(phase["p_stall"]), int(record)))
            for key in (seed_key(seed * 1000 + 1), seed_key(seed * 1000 + 2)):
                f.write(struct.pack(f"<I{len(key)}I", len(key), *key))
            f.write(_beats_to_words(phase["beats"], in_width))


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def get(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def raw(self, size: int) -> bytes:
        out = self.data[self.pos:self.pos + size]
        self.pos += size
        return out


def read_result(path, taps) -> dict:
    """The harness's result file as :mod:`fqsr.sim.network_bench`'s result dict, plus ``streams``:
    ``{name: {"handshakes", "last_cycle", "valid", "ready"}}`` where the run stopped (``s_axis``, ``m_axis``, taps)."""
    cur = _Cursor(Path(path).read_bytes())
    if cur.raw(8) != b"FQSRRES1":
        raise FqsrError(f"{path} is not a harness result")
    out_words, deadlock, wall_limited, idle_stop, _, cycles, wall_s, cpu_s, n_phases = cur.get("IBBBBQddI")
    phases = []
    for _ in range(n_phases):
        sent, first_in, n = cur.get("QqQ")
        beats = _words_to_beats(cur.raw(4 * n * out_words), out_words)
        stamps = np.frombuffer(cur.raw(8 * n), dtype="<u8").tolist()
        tapped = {}
        for name in list(taps)[:cur.get("I")]:
            tap_words, count = cur.get("IQ")
            tapped[name] = _words_to_beats(cur.raw(4 * count * tap_words), tap_words)
        phases.append({"beats": beats, "cycles": stamps, "first_in": None if first_in < 0 else first_in,
                       "sent": sent, "taps": tapped})
    extra = _words_to_beats(cur.raw(4 * cur.get("Q") * out_words), out_words)
    streams = {}
    for name in ["s_axis", "m_axis", *taps][:cur.get("I")]:
        count, last, state = cur.get("QqB")
        streams[name] = {"handshakes": count, "last_cycle": None if last < 0 else last,
                         "valid": bool(state & 1), "ready": bool(state & 2)}
    return {"phases": phases, "extra_beats": extra, "deadlock": bool(deadlock), "wall_limited": bool(wall_limited),
            "idle_stop": bool(idle_stop), "cycles": cycles, "wall_s": wall_s, "cpu_s": cpu_s, "streams": streams}


def stalled(streams: dict, design: dict) -> dict:
    """Where a deadlocked stream stands: the streams holding valid without ready and the node(s) that hold
    them, i.e. take no offered input although no internal output of theirs is blocked; without such a
    node (starvation), the producers of the streams that moved last earliest. Nodes in graph order."""
    producer, consumer = design["producer"], design["consumer"]
    holding = [s for s, st in streams.items() if st["valid"] and not st["ready"] and s != "m_axis"]
    blocked = {producer.get(s) for s in holding}
    nodes = [consumer[s] for s in holding if s in consumer and consumer[s] not in blocked]
    kind = "holding"
    if not nodes:  # nothing offered and refused: whoever stopped producing first
        kind = "stopped"
        moved = {s: st["last_cycle"] if st["last_cycle"] is not None else -1 for s, st in streams.items()
                 if s in producer}
        first = min(moved.values(), default=None)
        nodes = [producer[s] for s, c in moved.items() if c == first]
    rank = {n: i for i, n in enumerate(design["nodes"])}
    nodes = sorted(set(nodes), key=lambda n: (rank.get(n, len(rank)), n))
    return {"kind": kind, "nodes": nodes,
            "holding": [{"stream": s, "producer": producer.get(s, "source"), "consumer": consumer.get(s),
                         "handshakes": streams[s]["handshakes"]} for s in holding],
            "handshakes": {s: st["handshakes"] for s, st in streams.items()}}


def default_threads() -> int:
    """Verilator threads: ``$FQSR_SIM_THREADS``, else 1. Two threads measured ~200x slower on the small model
    on 2 shared cores (Verilator's workers spin-wait for each other; benchmarks/sim_speed.md)."""
    return max(1, int(os.environ.get("FQSR_SIM_THREADS") or 1))


def _trace_kind(waves: bool) -> str | None:
    from fqsr.sim.runner import verilator_fst_supported

    return None if not waves else "fst" if verilator_fst_supported() else "vcd"


def build(sources, *, threads: int = 1, waves: bool = False, timings: dict | None = None,
          frame_geometry: bool = False, lut_products: bool = False) -> Path:
    """Verilate ``sources`` (top ``fqsr_top``) with the driver and compile them (cached); the executable.

    ``timings`` receives ``build_s`` (0 when cached) and ``build_cached``. ``lut_products``: mvau.v's
    ``LUT_MULT`` products in their LUT form (default `*`, :func:`fqsr.sim.runner.sim_defines`)."""
    from fqsr.hw.stitch import TOP_NAME
    from fqsr.sim.runner import build_hash, keep_runtime, reuse_runtime, sim_build_root, sim_defines, simulator_env

    trace = _trace_kind(waves)
    sources = [Path(s).resolve() for s in sources]
    verilog_defines = sim_defines(lut_products)
    params = {"threads": threads, "trace": trace, "flags": [VERILATE_FLAGS, OPT_FAST, FLAGS_VERSION],
              "frame_geometry": frame_geometry, "defines": verilog_defines}
    defines = [f"-D{name}={value}" for name, value in verilog_defines.items()]
    defines += ["-CFLAGS", "-DFQSR_FRAME_GEOMETRY"] if frame_geometry else []
    key = build_hash("harness", [*sources, DRIVER], TOP_NAME, params)
    build_dir = sim_build_root() / f"harness-{TOP_NAME}-{key}"
    exe, stamp = build_dir / "obj" / EXE, build_dir / ".built"
    started = time.monotonic()
    if not stamp.exists() or not exe.exists():
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        objs = RUNTIME_OBJS + (TRACE_OBJS[trace] if trace else ())
        variant = f"harness-t{threads}-{trace or 'notrace'}"
        # what ``verilator --cc --exe --build`` does, split so the cached runtime objects go in between
        verilate = ["verilator", "--cc", "--exe", "--top-module", TOP_NAME, "--Mdir", "obj", "-o", EXE,
                    *VERILATE_FLAGS, *defines, "--threads", str(threads), *TRACE_FLAGS.get(trace, []),
                    *map(str, sources), str(DRIVER)]
        jobs = str(max(1, os.cpu_count() or 1))
        make = ["make", "-C", "obj", "-f", f"V{TOP_NAME}.mk", "-j", jobs, f"OPT_FAST={OPT_FAST}", EXE]
        log = build_dir / "build.log"
        with simulator_env("verilator"), open(log, "w") as out:
            for step, cmd in enumerate((verilate, make)):
                if step == 1:
                    reuse_runtime(build_dir / "obj", objs, variant)
                done = subprocess.run(cmd, cwd=build_dir, stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    tail = log.read_text(errors="replace").splitlines()[-30:]
                    raise FqsrError(f"the Verilator harness build of {TOP_NAME} failed (log {log}):\n"
                                    + "\n".join(line[:300] for line in tail))
        keep_runtime(build_dir / "obj", objs, variant)
        stamp.write_text("ok\n")
        if timings is not None:
            timings.update(build_s=round(time.monotonic() - started, 2), build_cached=False)
    elif timings is not None:
        timings.update(build_s=0.0, build_cached=True)
    return exe


def simulate(sources, spec: dict, work, *, idle_cycles: int | None = None, threads: int | None = None,
             waves: bool = False, timings: dict | None = None, lut_products: bool = False) -> dict:
    """Run ``spec`` (the cocotb bench's phases) through the compiled harness in ``work`` (ROM files of the
    sources' folder are copied there, ``$readmemh`` reads them from the working directory).

    ``idle_cycles``: stop as deadlocked after that many cycles without a handshake on any stream
    (default: only ``max_cycles``). With ``waves`` the run writes ``work/dump.fst`` (``dump.vcd``
    without liblz4-dev). The result is the bench's dict plus ``streams``, ``idle_stop`` and,
    when deadlocked, ``deadlock_at`` (:func:`stalled`), and ``cpu_s`` (the clock loop's CPU time).
    ``timings`` receives ``build_s``, ``build_cached``, ``threads``; ``lut_products`` as :func:`build`."""
    from fqsr.hw.stitch import rom_files
    from fqsr.sim.runner import waveform_path

    sources = [Path(s) for s in sources]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    design = design_streams(sources[-1])
    threads = default_threads() if threads is None else int(threads)
    timings = {} if timings is None else timings
    spec = check_frames(spec, design["frame_geometry"], sources[-1])
    exe = build(sources, threads=threads, waves=waves, timings=timings, frame_geometry=design["frame_geometry"],
                lut_products=lut_products)
    timings["threads"] = threads
    for rom in rom_files(sources[-1].parent):
        shutil.copy(rom, work / rom.name)
    taps = list(design["taps"])
    recorded = {name for phase in spec["phases"] for name in phase.get("taps", [])}
    unknown = sorted(recorded - set(taps))
    if unknown:
        raise FqsrError(f"no stream {unknown[0]} in {sources[-1]}")
    stimulus, result = work / "stimulus.bin", work / "result.bin"
    result.unlink(missing_ok=True)
    limit = int(spec["max_cycles"]) + 1 if idle_cycles is None else int(idle_cycles)
    write_stimulus(stimulus, spec, design["in_width"], design["out_width"], taps, limit)
    cmd = [str(exe), str(stimulus), str(result)]
    if waves:
        wave = waveform_path("verilator", "", work)
        wave.unlink(missing_ok=True)
        cmd.append(str(wave))
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if done.returncode != 0 or not result.is_file():
        raise FqsrError(f"the harness run in {work} failed (exit {done.returncode}): "
                        + (done.stderr.strip() or done.stdout.strip())[-2000:])
    out = read_result(result, taps)
    # phases without "taps" in the spec record none; a recording phase keeps only the taps it named
    for phase, got in zip(spec["phases"], out["phases"]):
        got["taps"] = {name: got["taps"][name] for name in phase.get("taps", [])}
    if out["deadlock"]:
        out["deadlock_at"] = stalled(out["streams"], design)
    return out
