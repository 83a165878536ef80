"""Whole-network verification: the stitched RTL top against FINN's Python execution of ``dataflow.onnx``.

``verify(model_dir)`` streams tiles (random 8-bit tiles plus a tile of a real
photograph, :func:`fqsr.flows.export.equality_tiles`, pixels ``round(x*256)``)
through ``rtl/top.v`` under random input gaps and output back-pressure, and
compares every output element with FINN's execution of the same graph. Both
sides are compared in the dataflow's own layout (NHWC; the host permutations
of ``fqsr_host_layout`` are applied to the input only, as the host would).

A second, stall-free phase streams frames back to back to measure the steady
state: ``cycles_per_frame`` is the number of cycles between the first output
beats of the last two consecutive frames. ``estimated_cycles_per_frame`` is
FINN's ``get_exp_cycles`` of the slowest node.

``sim``: ``verilator`` (default) runs the compiled harness (:mod:`fqsr.sim.harness`:
the top verilated with a C++ driver, no Python per clock; a deadlock names the
node holding the stream, ``deadlock_at``), ``cocotb`` the cocotb bench
(:mod:`fqsr.sim.network_bench`) on Verilator, ``icarus`` the same bench on Icarus;
all three drive identical gaps and stalls and so return identical beats and cycles.
A run expected to take over a minute is announced on stderr first, with how to
shorten it. The report is also written to
``<model_dir>/sim/verify.json``. With ``waves`` the run's waveform is copied to
``<model_dir>/sim/waves-<sim>.fst`` (a ``.vcd`` from Verilator where liblz4-dev,
which its FST writer needs, is missing), named by the report's ``waves`` key.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from fqsr.flows.host import HostInterface, host_layout, stream_format  # noqa: F401 (the host interface)
from fqsr.models.errors import FqsrError

TIMING_FRAMES = 3


def nchw_tile(model) -> tuple[int, tuple[int, int]]:
    """(channels, (h, w)) of the host tile."""
    channels, h, w = HostInterface.from_model(model).tile_shape
    return channels, (h, w)


def layer_cycles(model, model_dir: Path) -> dict:
    """FINN's cycle estimate of one frame per node (``estimates.json`` when the compile wrote it)."""
    estimates = model_dir / "estimates.json"
    if estimates.is_file():
        return {name: int(layer["cycles"]) for name, layer in json.loads(estimates.read_text())["layers"].items()}
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer

    return {name: int(cycles) for name, cycles in model.analysis(exp_cycles_per_layer).items()}


def estimated_cycles(model, model_dir: Path) -> int:
    """FINN's estimate of the slowest node: the steady-state cycles per frame of the pipeline."""
    return max(layer_cycles(model, model_dir).values())


def _ensure_rtl(model_dir: Path, dataflow: Path) -> Path:
    """``rtl/``, regenerated unless its provenance is intact (made from this ``dataflow.onnx``, no file
    changed or truncated since) and its copies of hw/rtl are current."""
    from fqsr.flows.artifacts import RTL_DIRNAME, why_stale
    from fqsr.hw.generate import copies_current
    from fqsr.hw.stitch import generate_rtl

    rtl = model_dir / RTL_DIRNAME
    if not copies_current(rtl) or why_stale(model_dir, RTL_DIRNAME):
        generate_rtl(dataflow, model_dir)
    return rtl


def reference(model, tiles, contexts=None):
    """Per tile: (name, NHWC input integers, NHWC output integers of FINN's execution).

    ``contexts``: a dict that receives every tile's full execution context (all graph tensors)."""
    contexts = {} if contexts is None else contexts
    from fqsr.flows.compile import python_view, run_dataflow

    view = python_view(model)
    perm = host_layout(model).get("input_perm", [0, 1, 2, 3])
    out_name = model.graph.output[0].name
    frames = []
    for name, x in tiles:
        pixels = np.round(x.numpy() * 256).astype(np.float32)
        context = run_dataflow(view, pixels, full=True)
        frames.append((name, pixels.transpose(perm).astype(np.int64),
                       np.asarray(context[out_name]).astype(np.int64)))
        contexts[name] = context
    return frames


def _compare(frames, beats, out_bits, out_lanes, signed):
    """Element-wise comparison of received beats with the expected frames (missing elements count as wrong)."""
    from fqsr.sim.axis import unpack_beats

    got = unpack_beats(beats, out_bits, out_lanes, signed).reshape(-1) if beats else np.zeros(0, np.int64)
    mismatches, elements, first, offset = 0, 0, None, 0
    for name, _, want in frames:
        flat = want.reshape(-1)
        part = got[offset:offset + flat.size]
        offset += flat.size
        diff = np.flatnonzero(part != flat[:part.size])
        wrong = int(diff.size) + (flat.size - part.size)
        if wrong and first is None:
            i = int(diff[0]) if diff.size else int(part.size)
            first = {"tile": name, "index": i, "nhwc_index": [int(v) for v in np.unravel_index(i, want.shape)],
                     "got": int(part[i]) if i < part.size else None, "expected": int(flat[i])}
        mismatches += wrong
        elements += flat.size
    return mismatches, elements, first, max(0, got.size - offset)


SIMS = ("verilator", "cocotb", "icarus")
COCOTB_SIMULATOR = {"cocotb": "verilator", "icarus": "icarus"}  # --sim -> the simulator cocotb drives


def check_sim(sim: str) -> None:
    if sim not in SIMS:
        raise FqsrError(f"unknown simulator {sim!r}; choose verilator (the compiled harness), cocotb (cocotb "
                        "driving Verilator) or icarus (cocotb on Icarus)")


def simulate(sources, spec, work: Path, sim: str, seed: int, waves: bool = False, timings: dict | None = None,
             idle_cycles: int | None = None) -> dict:
    """Run ``spec`` (phases, see :mod:`fqsr.sim.network_bench`) on the stitched top in ``work``: the compiled
    harness (``sim="verilator"``, :mod:`fqsr.sim.harness`) or the cocotb bench on Verilator / Icarus; the
    bench's result dict. ``idle_cycles`` (harness only): the no-handshake deadlock watchdog."""
    from fqsr.hw.stitch import TOP_NAME, rom_files
    from fqsr.sim.harness import simulate as harness_simulate
    from fqsr.sim.runner import run_cocotb

    check_sim(sim)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    if sim == "verilator":
        return harness_simulate(sources, spec, work, idle_cycles=idle_cycles, waves=waves, timings=timings)
    from fqsr.sim.harness import check_frames, design_streams

    spec = check_frames(spec, design_streams(sources[-1])["frame_geometry"], sources[-1])
    spec = {**spec, "result": str(work / f"result-{sim}.json")}
    spec_path = work / f"spec-{sim}.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    run_cocotb(sources, TOP_NAME, "fqsr.sim.network_bench", sim=COCOTB_SIMULATOR[sim], seed=seed, waves=waves,
               extra_env={"FQSR_BENCH_SPEC": str(spec_path)}, test_dir=work,
               data_files=rom_files(Path(sources[-1]).parent), timings=timings)
    if not Path(spec["result"]).is_file():
        raise FqsrError(f"the cocotb bench on {COCOTB_SIMULATOR[sim]} wrote no result; see its log in {work}")
    return json.loads(Path(spec["result"]).read_text())


def first_differing_node(model, context, spec, sources, work, sim, seed) -> dict | None:
    """Re-run one failing tile with every internal stream tapped; the first node (graph order) whose
    output beats differ from FINN's execution of that node's output tensor."""
    from qonnx.custom_op.registry import getCustomOp

    from fqsr.hw.stitch import tap_name
    from fqsr.sim.axis import pack_beats

    src, dst = model.graph.input[0].name, model.graph.output[0].name
    tensors = [t for n in model.graph.node for t in n.output if t not in (src, dst)]
    spec["phases"][0]["taps"] = [tap_name(t) for t in tensors]
    result = simulate(sources, spec, work, sim, seed)
    got = result["phases"][0]["taps"]
    for node in model.graph.node:
        for j, tensor in enumerate(node.output):
            if tensor == dst:
                continue
            bits = model.get_tensor_datatype(tensor).bitwidth()
            lanes = getCustomOp(node).get_folded_output_shape(j)[-1]
            want = pack_beats(context[tensor], bits, lanes)
            mask = (1 << (bits * lanes)) - 1
            beats = [b & mask for b in got[tap_name(tensor)]]
            if beats != want:
                k = next((i for i, (g, w) in enumerate(zip(beats, want)) if g != w), min(len(beats), len(want)))
                return {"node": node.name, "op_type": node.op_type, "tensor": tensor, "beat": k,
                        "beats_received": len(beats), "beats_expected": len(want)}
    return {"node": model.find_producer(dst).name, "op_type": model.find_producer(dst).op_type, "tensor": dst}


# cycles/s of the cocotb benches where nothing was measured yet (benchmarks/sim_speed.md, small to full size)
COCOTB_RATE = {"cocotb": 5000.0, "icarus": 300.0}
ANNOUNCE_S = 60.0  # a run expected to take longer is announced on stderr with how to shorten it
PROBE_CYCLES = 2_000_000  # a harness run expected longer than this is first timed for 2 s


def announce_runtime(sources, spec, work: Path, sim: str, expected_cycles: float, waves: bool,
                     timings: dict) -> float | None:
    """Estimated seconds of simulation (FINN's cycle estimate over the simulator's measured cycles/s, the
    harness timed on a 2 s probe run of this build when the run is long); told on stderr when long."""
    rate = COCOTB_RATE.get(sim)
    if sim == "verilator" and expected_cycles > PROBE_CYCLES:
        probe = simulate(sources, {**spec, "phases": spec["phases"][:1], "max_wall_s": 2.0}, work, sim, 0,
                         waves, timings)
        rate = probe["cycles"] / max(probe["wall_s"], 1e-9)
    if rate is None:
        return None
    seconds = round(expected_cycles / rate, 1)
    if seconds > ANNOUNCE_S:
        faster = "" if sim == "verilator" else ", --sim verilator"
        print(f"fqsr verify: about {expected_cycles:,.0f} cycles at ~{rate:,.0f} cycles/s ({sim}): "
              f"~{seconds / 60:.1f} min of simulation; --tiles 1, --stall-prob 0{faster}, or a "
              "smaller --tile / higher --target-fps at compile shorten it", file=sys.stderr, flush=True)
    return seconds


def verify(model_dir, tiles: int = 2, sim: str = "verilator", stall_prob: float = 0.3, waves: bool = False,
           seed: int = 0, taps: bool = True, max_wall_s: float | None = None) -> dict:
    """Simulate, compare, measure; the report (also ``<model_dir>/sim/verify.json``).

    ``max_wall_s`` stops the simulation after that many seconds (a speed measurement:
    ``wall_limited`` is then true and ``equal`` false, nothing was proven)."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME, RTL_DIRNAME, VERIFY_NAME, record, require_current, write_json
    from fqsr.flows.export import equality_tiles, load_qonnx
    from fqsr.hw.stitch import rtl_sources
    from fqsr.sim.axis import pack_beats
    from fqsr.sim.runner import sim_build_root

    model_dir = Path(model_dir)
    dataflow = model_dir / DATAFLOW_NAME
    require_current(model_dir, DATAFLOW_NAME, "fqsr compile MODEL")
    if tiles < 1:
        raise FqsrError("--tiles must be at least 1")
    if not 0 <= stall_prob < 1:
        raise FqsrError("--stall-prob must be in [0, 1)")
    model = load_qonnx(dataflow)
    rtl = _ensure_rtl(model_dir, dataflow)
    channels, tile = nchw_tile(model)
    in_bits, in_lanes, out_bits, out_lanes, signed = stream_format(model)
    contexts = {}
    frames = reference(model, equality_tiles(channels, tile, tiles - 1, seed=seed), contexts)
    out_beats = frames[0][2].size // out_lanes
    timing = [frames[i % len(frames)] for i in range(TIMING_FRAMES)]
    estimate = estimated_cycles(model, model_dir)

    def beats_of(fs):
        return [b for _, x, _ in fs for b in pack_beats(x, in_bits, in_lanes)]

    phases = [{"beats": beats_of(frames), "expect": out_beats * len(frames), "p_gap": stall_prob,
               "p_stall": stall_prob, "seed": seed},
              {"beats": beats_of(timing), "expect": out_beats * len(timing), "p_gap": 0.0, "p_stall": 0.0,
               "seed": seed}]
    # the deadlock bound: every frame through every node one after the other (the pipeline fully
    # serialised, a deep network's first-frame latency included), twice over, slowed by the stalls
    slowdown = 1.0 / (1.0 - stall_prob) ** 2
    serialised = sum(layer_cycles(model, model_dir).values()) + (len(frames) + TIMING_FRAMES) * estimate
    max_cycles = int(2 * slowdown * serialised + 20 * sum(len(p["beats"]) + p["expect"] for p in phases) * slowdown
                     + 20000)
    # no handshake on any stream for this long is a deadlock: no node idles a whole frame of the slowest one
    idle_cycles = int(2 * slowdown * estimate + 10000)
    sources = rtl_sources(rtl)
    check_sim(sim)
    key = hashlib.sha256(json.dumps([str(dataflow.resolve()), tiles, sim, stall_prob, seed]).encode()).hexdigest()[:12]
    work = sim_build_root() / "network" / key
    work.mkdir(parents=True, exist_ok=True)
    spec = {"phases": phases, "max_cycles": max_cycles, "max_wall_s": max_wall_s}
    expected = sum(layer_cycles(model, model_dir).values()) + estimate * (len(frames) / (1 - stall_prob)
                                                                          + TIMING_FRAMES)
    start, probe, timings = time.monotonic(), {}, {}
    runtime = announce_runtime(sources, spec, work, sim, expected, waves, probe)
    result = simulate(sources, spec, work, sim, seed, waves, timings, idle_cycles=idle_cycles)
    wall = time.monotonic() - start
    if probe.get("build_cached") is False:  # the probe run built the harness
        timings.update(build_s=probe["build_s"], build_cached=False)

    stalled = result["phases"][0]
    mismatches, elements, first, extra = _compare(frames, stalled["beats"], out_bits, out_lanes, signed)
    t_mismatches, t_elements, t_first, _ = (0, 0, None, 0)
    cycles_per_frame, frame_starts = None, []
    if len(result["phases"]) > 1:
        steady = result["phases"][1]
        t_mismatches, t_elements, t_first, _ = _compare(timing, steady["beats"], out_bits, out_lanes, signed)
        stamps = steady["cycles"]
        frame_starts = [stamps[k * out_beats] for k in range(TIMING_FRAMES) if k * out_beats < len(stamps)]
        if len(frame_starts) >= 2:
            cycles_per_frame = frame_starts[-1] - frame_starts[-2]
    extra += len(result["extra_beats"])
    limited = bool(result.get("wall_limited"))
    equal = (mismatches == 0 and t_mismatches == 0 and extra == 0 and not result["deadlock"] and not limited)
    report = {
        "model_dir": str(model_dir), "sim": sim, "equal": equal,
        "mismatches": mismatches + t_mismatches, "elements": elements + t_elements,
        "tiles": len(frames), "tile": list(tile), "stall_prob": stall_prob, "seed": seed,
        "extra_beats": extra, "deadlock": result["deadlock"], "wall_limited": limited,
        "cycles_per_frame": cycles_per_frame, "estimated_cycles_per_frame": estimate,
        "cycles_vs_estimate": round(cycles_per_frame / estimate, 4) if cycles_per_frame and estimate else None,
        "frame_first_output_cycles": frame_starts,
        "latency_cycles": (result["phases"][1]["cycles"][0] - result["phases"][1]["first_in"])
        if len(result["phases"]) > 1 and result["phases"][1]["cycles"] and result["phases"][1]["first_in"] is not None
        else None,
        "sim_cycles": result["cycles"],
        "sim_cycles_per_s": round(result["cycles"] / max(result["wall_s"], 1e-9), 1),
        # the harness also times its clock loop in CPU seconds: the speed a busy machine hides
        "sim_cycles_per_cpu_s": round(result["cycles"] / max(result["cpu_s"], 1e-9), 1) if "cpu_s" in result else None,
        "sim_build_s": timings.get("build_s"),
        "sim_build_cached": timings.get("build_cached"),
        "expected_sim_cycles": int(expected), "expected_sim_s": runtime,
        "wall_s": round(wall, 2),
    }
    if first or t_first:
        report["first_mismatch"] = first or {**t_first, "phase": "stall-free"}
        if taps and not result["deadlock"] and not limited:
            name = report["first_mismatch"]["tile"]
            frame = next(f for f in frames if f[0] == name)
            tap_spec = {"phases": [{**phases[0], "beats": beats_of([frame]), "expect": out_beats}],
                        "max_cycles": max_cycles}
            report["first_differing_node"] = first_differing_node(
                model, contexts[name], tap_spec, sources, work, sim, seed)
    if result.get("deadlock_at"):  # the harness names the node(s) holding the stream
        report["deadlock_at"] = {k: v for k, v in result["deadlock_at"].items() if k != "handshakes"}
    if result["deadlock"] or limited:
        report["received_beats"] = [len(p["beats"]) for p in result["phases"]]
        report["expected_beats"] = [p["expect"] for p in phases]
    out = model_dir / "sim"
    out.mkdir(parents=True, exist_ok=True)
    if waves:
        from fqsr.hw.stitch import TOP_NAME
        from fqsr.sim.runner import waveform_path

        wave = waveform_path(COCOTB_SIMULATOR.get(sim, "verilator"), TOP_NAME, work)
        if not wave.is_file() or wave.stat().st_size == 0:
            raise FqsrError(f"{sim} wrote no waveform ({wave}); check the simulator's log in {work}")
        target = out / f"waves-{sim}{wave.suffix}"
        shutil.copy(wave, target)
        report["waves"] = str(target)
    write_json(model_dir / VERIFY_NAME, report)
    record(model_dir, VERIFY_NAME, inputs=[DATAFLOW_NAME, RTL_DIRNAME],
           settings={"tiles": tiles, "sim": sim, "stall_prob": stall_prob, "seed": seed})
    return report
