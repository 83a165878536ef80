"""The rolled body engine (``rolled/``, :mod:`fqsr.hw.rolled`) against FINN's execution of the same body subgraph.

``verify_rolled(model_dir)`` draws random frames in the body's input data type (the output of block 0's
input quantizer; with ``photo``, also the body input of a real photograph's tile), executes the body's
nodes of ``dataflow.onnx`` on them in Python (FINN's execution, node by node, from the body's input
tensor to every block's requantizer output), and runs the engine
on the same frames under the cocotb bench :mod:`fqsr.sim.rolled_bench` (which plays the frame DMA and
memory and streams the weight payload of ``rolled/weights.bin``), with random gaps on every source and
random back-pressure on every sink. Every element of every iteration's output frame is compared with
FINN's output of that block: the report names the first differing iteration (frame, block, the node
that computed it), its mismatch count and first differing NHWC index.

``verify_rolled_system`` runs the same check on the engine behind its SDRAM DMA, controller and weight loader with
the chip model :mod:`fqsr.sim.sdram_model` as the memory (:mod:`fqsr.sim.rolled_system_bench`), and
``verify_rolled_top`` the whole network around it against FINN's execution of the whole graph.

Cycles: with ``p_gap = p_stall = 0`` the report's ``cycles_per_frame`` (from one frame's first command to
the next frame's) is compared with :func:`cycle_model`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fqsr.models.errors import FqsrError


def load_summary(model_dir) -> dict:
    from fqsr.flows.artifacts import require_current
    from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME

    model_dir = Path(model_dir)
    require_current(model_dir, ROLLED_DIRNAME, "fqsr.hw.rolled.generate_rolled_rtl on the model's dataflow.onnx")
    return json.loads((model_dir / ROLLED_DIRNAME / SUMMARY_NAME).read_text())


def body_reference(model, summary: dict, frames: list) -> list:
    """Per frame: FINN's output of every block (NHWC integers), executing the body's nodes in graph order."""
    from qonnx.core.onnx_exec import execute_node

    from fqsr.flows.compile import python_view

    view = python_view(model)
    body = {name for names in summary["block_nodes"] for name in names}
    nodes = [n for n in view.graph.node if n.name in body]
    opset = view.model.opset_import[0].version
    inits = {t.name: view.get_initializer(t.name) for t in view.graph.initializer}
    shape = summary["stream"]["shape"]
    results = []
    for x in frames:
        context = dict(inits)
        context[summary["input"]] = np.asarray(x, dtype=np.float32).reshape(shape)
        for node in nodes:
            for out in node.output:
                context.setdefault(out, np.zeros(view.get_tensor_shape(out), dtype=np.float32))
            execute_node(node, context, view.graph, opset)
        results.append([np.asarray(context[t]).astype(np.int64) for t in summary["block_outputs"]])
    return results


def random_frames(summary: dict, n: int, seed: int) -> list:
    """``n`` frames of uniformly random integers of the body's input data type."""
    from qonnx.core.datatype import DataType

    dt = DataType[summary["stream"]["datatype"]]
    rng = np.random.default_rng(seed)
    return [rng.integers(int(dt.min()), int(dt.max()) + 1, size=summary["stream"]["shape"]) for _ in range(n)]


def photo_frames(model, summary: dict) -> list:
    """The body's input for the photograph tile of :func:`fqsr.flows.export.equality_tiles`: FINN executes the
    whole graph on it, the head and block 0's input quantizer included."""
    from fqsr.flows.compile import python_view, run_dataflow
    from fqsr.flows.export import equality_tiles
    from fqsr.sim.verify import nchw_tile

    channels, tile = nchw_tile(model)
    view = python_view(model)
    frames = []
    for _, x in equality_tiles(channels, tile, 0):
        context = run_dataflow(view, np.round(x.numpy() * 256).astype(np.float32), full=True)
        frames.append(np.asarray(context[summary["input"]]).astype(np.int64))
    return frames


def cycle_model(summary: dict, model, weight_gap: float = 0.0) -> dict:
    """Cycles per iteration and per frame of the engine: a model from FINN's cycle estimates of the block's nodes.

    compute: the slowest node (an MVAU) takes P cycles per pixel. The first conv starts once its window has
    K = 3 padded input rows (3 (W + 2) pixels of the input stream, B beats each); the second conv computes its
    output row r once the first has finished its row r + 1 (the window reaches one row below), so it ends two
    rows after the first: (H + 2) W P + 3 (W + 2) B cycles per iteration.
    loading: the block's payload words, one per cycle when the weight stream has no gaps (1 / (1 - weight_gap)
    cycles each on average when it idles with probability ``weight_gap``). Per frame: blocks x max(compute,
    loading), as double buffering hides the one behind the other."""
    from qonnx.custom_op.registry import getCustomOp

    body = set(summary["block_nodes"][0])
    cycles = {n.name: int(getCustomOp(n).get_exp_cycles()) for n in model.graph.node if n.name in body}
    slowest = max(cycles, key=cycles.get)
    _, h, w, _ = summary["stream"]["shape"]
    per_pixel = cycles[slowest] / (h * w)
    beats_per_pixel = summary["stream"]["beats"] / (h * w)
    compute = math.ceil((h + 2) * w * per_pixel + 3 * (w + 2) * beats_per_pixel)
    loading = math.ceil(summary["words_per_block"] / (1.0 - weight_gap))
    blocks = summary["blocks"]
    return {"slowest_node": slowest, "slowest_node_cycles": cycles[slowest], "compute_cycles_per_iteration": compute,
            "load_cycles_per_block": loading, "cycles_per_frame": blocks * max(compute, loading),
            "bound": "compute" if compute >= loading else "weight loading"}


def simulate_rolled(model_dir, frames_beats: list, *, p_gap: float, p_stall: float, seed: int,
                    max_cycles: int, payload: list | None = None, weight_gap: float | None = None,
                    timings: dict | None = None) -> dict:
    """Run the bench on ``rolled/``; returns its result dict. ``payload``: 16-bit words streamed instead of
    ``rolled/weights.bin``'s (a test's corrupted weights); ``weight_gap``: the weight stream's own gap
    probability (default ``p_gap``)."""
    import tempfile

    from fqsr.hw.rolled import ENGINE_TOP, ROLLED_DIRNAME, WEIGHTS_NAME
    from fqsr.hw.weight_image import payload_words, read_weight_image
    from fqsr.sim.runner import run_cocotb

    rolled = Path(model_dir) / ROLLED_DIRNAME
    summary = json.loads((rolled / "rolled.json").read_text())
    payload = payload_words(read_weight_image(rolled / WEIGHTS_NAME)) if payload is None else list(payload)
    sources = [rolled / s for s in summary["sources"]]
    with tempfile.TemporaryDirectory(prefix="rolled-") as work:
        spec_path, result = Path(work) / "spec.json", Path(work) / "result.json"
        spec_path.write_text(json.dumps({
            "frames": frames_beats, "payload": payload, "blocks": summary["blocks"],
            "beats": summary["stream"]["beats"], "p_gap": p_gap, "p_stall": p_stall, "seed": seed,
            "max_cycles": max_cycles, "result": str(result),
            "p_weight_gap": p_gap if weight_gap is None else weight_gap}))
        run_cocotb(sources, ENGINE_TOP, "fqsr.sim.rolled_bench", seed=seed, test_dir=work,
                   extra_env={"FQSR_BENCH_SPEC": str(spec_path)},
                   timings=timings)
        return json.loads(result.read_text())


def verify_rolled(model_dir, frames: int = 2, p_gap: float = 0.3, p_stall: float = 0.3, seed: int = 1,
                  max_cycles: int = 2_000_000, payload: list | None = None, weight_gap: float | None = None,
                  photo: bool = False) -> dict:
    """Random frames through the engine under stalls, every element compared with FINN; the report (see module).
    ``photo``: one more frame, the body input of a real photograph's tile (:func:`photo_frames`).
    ``payload``, ``weight_gap``: see :func:`simulate_rolled`."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME
    from fqsr.flows.export import load_qonnx
    from fqsr.flows.host import pack_beats, unpack_beats

    model_dir = Path(model_dir)
    summary = load_summary(model_dir)
    model = load_qonnx(model_dir / DATAFLOW_NAME)
    fmt = summary["stream"]
    inputs = random_frames(summary, frames, seed) + (photo_frames(model, summary) if photo else [])
    frames = len(inputs)
    want = body_reference(model, summary, inputs)
    beats = [pack_beats(x, fmt["bits"], fmt["lanes"]) for x in inputs]
    timings = {}
    result = simulate_rolled(model_dir, beats, p_gap=p_gap, p_stall=p_stall, seed=seed, max_cycles=max_cycles,
                             payload=payload, weight_gap=weight_gap, timings=timings)
    report = {"frames": frames, "blocks": summary["blocks"], "p_gap": p_gap, "p_stall": p_stall, "seed": seed,
              "deadlock": result["deadlock"], "extra_beats": len(result["extra_beats"]), "elements": 0,
              "mismatches": 0, "first_mismatch": None, "cycles": result["cycles"], **timings}
    its = result["iterations"]
    for k, it in enumerate(its):
        f, b = divmod(k, summary["blocks"])
        expected = want[f][b]
        got = unpack_beats(it["beats"], fmt["bits"], fmt["lanes"], fmt["signed"]).reshape(-1) \
            if it["beats"] else np.zeros(0, np.int64)
        flat = expected.reshape(-1)
        diff = np.flatnonzero(got[:flat.size] != flat[:got.size])
        wrong = int(diff.size) + max(0, flat.size - got.size)
        report["elements"] += flat.size
        report["mismatches"] += wrong
        if it["block"] != b:
            raise FqsrError(f"iteration {k} ran block {it['block']}, expected block {b}: the engine's block order "
                            f"is wrong")
        if wrong and report["first_mismatch"] is None:
            i = int(diff[0]) if diff.size else int(got.size)
            report["first_mismatch"] = {
                "frame": f, "block": b, "node": summary["block_nodes"][b][-1], "mismatches": wrong,
                "index": i, "nhwc_index": [int(v) for v in np.unravel_index(i, expected.shape)],
                "got": int(got[i]) if i < got.size else None, "expected": int(flat[i])}
    missing = frames * summary["blocks"] - len(its)
    report["missing_iterations"] = missing
    report["equal"] = (not result["deadlock"] and missing == 0 and report["mismatches"] == 0
                       and not result["extra_beats"])
    starts = [it["cmd_cycle"] for it in its if it["block"] == 0]
    report["iteration_cycles"] = [it["end_cycle"] - it["cmd_cycle"] for it in its if "end_cycle" in it]
    if len(starts) > 1:
        report["cycles_per_frame"] = starts[-1] - starts[-2]
    report["weight_gap"] = p_gap if weight_gap is None else weight_gap
    report["model"] = cycle_model(summary, model, report["weight_gap"])
    return report


def _result_fields(result: dict) -> dict:
    """The report fields of a :mod:`fqsr.sim.rolled_system_bench` result, before the comparison."""
    its = result["iterations"]
    return {"deadlock": result["deadlock"], "sdram_rule": result["sdram_rule"],
            "extra_beats": len(result["extra_beats"]), "elements": 0, "mismatches": 0, "first_mismatch": None,
            "cycles": result["cycles"], "commands": result["commands"], "image_ok_cycle": result["image_ok_cycle"],
            "refreshes_in_iterations": result["refreshes_in_iterations"],
            "block_order": [it["block"] for it in its],
            "started_before_image_ok": bool(its) and (result["image_ok_cycle"] is None
                                                      or its[0]["cycle"] < result["image_ok_cycle"])}


def _compare_outputs(report: dict, result: dict, frames: list, bits: int, lanes: int, signed: bool, node: str):
    """Compare the bench's output beats with ``frames`` ((name, NHWC integers) each) element for element; fills
    ``report``'s counts, first mismatch (frame name, ``node``: the one that computes the output, count, first
    index), ``equal`` and ``cycles_per_frame`` (between the last two frames' first iterations)."""
    from fqsr.flows.host import unpack_beats

    offset = 0
    for name, expected in frames:
        flat = expected.reshape(-1)
        part = result["beats"][offset:offset + flat.size // lanes]
        offset += flat.size // lanes
        got = unpack_beats(part, bits, lanes, signed).reshape(-1) if part else np.zeros(0, np.int64)
        diff = np.flatnonzero(got[:flat.size] != flat[:got.size])
        wrong = int(diff.size) + max(0, flat.size - got.size)
        report["elements"] += flat.size
        report["mismatches"] += wrong
        if wrong and report["first_mismatch"] is None:
            i = int(diff[0]) if diff.size else int(got.size)
            report["first_mismatch"] = {
                "frame": name, "node": node, "mismatches": wrong, "index": i,
                "nhwc_index": [int(v) for v in np.unravel_index(i, expected.shape)],
                "got": int(got[i]) if i < got.size else None, "expected": int(flat[i])}
    its = result["iterations"]
    report["equal"] = (not result["deadlock"] and result["sdram_rule"] is None and report["mismatches"] == 0
                       and not result["extra_beats"] and not report["started_before_image_ok"]
                       and report["block_order"] == list(range(report["blocks"])) * len(frames))
    starts = [it["cycle"] for it in its if it["block"] == 0]
    if len(starts) > 1:
        report["cycles_per_frame"] = starts[-1] - starts[-2]


def simulate_rolled_system(model_dir, frames_beats: list, *, p_gap: float, p_stall: float, seed: int,
                           max_cycles: int, image: bytes | None = None, t_refi_ns: int = 7812,
                           powerup_us: int = 200, clk_mhz: int = 100, timings: dict | None = None,
                           whole: bool = False, out_beats: int | None = None) -> dict:
    """Run :mod:`fqsr.sim.rolled_system_bench` on ``rolled/``'s ``rolled_system`` (engine, DMA, SDRAM controller,
    weight loader; the chip model as its SDRAM); returns the bench's result dict. ``image``: the weight image's
    bytes (default ``rolled/weights.bin``); ``t_refi_ns`` and ``powerup_us`` are given to both the controller and
    the chip model (a short refresh interval makes refreshes collide with the DMA's bursts). ``whole``: run
    ``rolled_top`` (the whole network around the system; frames are input tiles, ``out_beats`` output beats each)."""
    import tempfile

    from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME, WEIGHTS_NAME
    from fqsr.sim.runner import run_cocotb

    rolled = Path(model_dir) / ROLLED_DIRNAME
    summary = json.loads((rolled / SUMMARY_NAME).read_text())
    image = (rolled / WEIGHTS_NAME).read_bytes() if image is None else bytes(image)
    sources = [rolled / s for s in summary["top_sources" if whole else "system_sources"]]
    chip = {"clk_mhz": clk_mhz, "powerup_us": powerup_us, "t_refi_ns": t_refi_ns}
    with tempfile.TemporaryDirectory(prefix="rolled-system-") as work:
        spec_path, result = Path(work) / "spec.json", Path(work) / "result.json"
        spec_path.write_text(json.dumps({
            "frames": frames_beats, "image": list(image), "beats": out_beats or summary["stream"]["beats"],
            "p_gap": p_gap, "p_stall": p_stall, "seed": seed, "max_cycles": max_cycles, "chip": chip,
            "result": str(result), "ports": ["s_axis", "m_axis"] if whole else ["in0", "out0"]}))
        run_cocotb(sources, summary["rolled_top" if whole else "system_top"], "fqsr.sim.rolled_system_bench",
                   seed=seed, test_dir=work, data_files=[rolled / r for r in summary["roms"]] if whole else (),
                   parameters={"CLK_MHZ": clk_mhz, "POWERUP_US": powerup_us, "T_REFI_NS": t_refi_ns},
                   extra_env={"FQSR_BENCH_SPEC": str(spec_path)}, timings=timings)
        return json.loads(result.read_text())


def verify_rolled_system(model_dir, frames: int = 2, p_gap: float = 0.3, p_stall: float = 0.3, seed: int = 1,
                         max_cycles: int = 400_000, photo: bool = False, image: bytes | None = None,
                         t_refi_ns: int = 1500, powerup_us: int = 20) -> dict:
    """Random frames (and with ``photo`` a photograph's) through engine + DMA + SDRAM controller + chip model under
    stalls on the outer streams; every element of every output frame compared with FINN's output of the last
    block. The report names the first differing frame (the node, its mismatch count, first NHWC index), the
    first broken SDRAM rule, whether an iteration started before ``image_ok``, and the cycles per frame (from one
    frame's first iteration to the next's) next to :func:`cycle_model`."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME
    from fqsr.flows.export import load_qonnx
    from fqsr.flows.host import pack_beats

    model_dir = Path(model_dir)
    summary = load_summary(model_dir)
    model = load_qonnx(model_dir / DATAFLOW_NAME)
    fmt, blocks = summary["stream"], summary["blocks"]
    inputs = random_frames(summary, frames, seed) + (photo_frames(model, summary) if photo else [])
    want = [per_block[-1] for per_block in body_reference(model, summary, inputs)]
    timings = {}
    result = simulate_rolled_system(model_dir, [pack_beats(x, fmt["bits"], fmt["lanes"]) for x in inputs],
                                    p_gap=p_gap, p_stall=p_stall, seed=seed, max_cycles=max_cycles, image=image,
                                    t_refi_ns=t_refi_ns, powerup_us=powerup_us, timings=timings)
    its = result["iterations"]
    report = {"frames": len(inputs), "blocks": blocks, "p_gap": p_gap, "p_stall": p_stall, "seed": seed,
              "t_refi_ns": t_refi_ns, **_result_fields(result), **timings}
    _compare_outputs(report, result, [(f"frame {f}", x) for f, x in enumerate(want)], fmt["bits"], fmt["lanes"],
                     fmt["signed"], summary["block_nodes"][-1][-1])
    report["iteration_cycles"] = [b["cycle"] - a["cycle"] for a, b in zip(its, its[1:]) if b["block"] != 0]
    report["model"] = cycle_model(summary, model)
    return report


def verify_rolled_top(model_dir, tiles: int = 2, p_gap: float = 0.3, p_stall: float = 0.3, seed: int = 1,
                      max_cycles: int = 600_000, t_refi_ns: int = 1500, powerup_us: int = 20) -> dict:
    """The whole network with the rolled body (``rolled_top``: head, engine + DMA + SDRAM controller + chip model,
    tail) against FINN's execution of the whole ``dataflow.onnx``: ``tiles`` input tiles (a photograph's and
    random ones, :func:`fqsr.flows.export.equality_tiles`) under stalls on the network's input and output, the
    weight image loaded first. The report as :func:`verify_rolled_system`'s, the first mismatch naming the tile."""
    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME
    from fqsr.flows.export import equality_tiles, load_qonnx
    from fqsr.flows.host import pack_beats, stream_format
    from fqsr.sim.verify import nchw_tile, reference

    model_dir = Path(model_dir)
    summary = load_summary(model_dir)
    model = load_qonnx(model_dir / DATAFLOW_NAME)
    channels, tile = nchw_tile(model)
    in_bits, in_lanes, out_bits, out_lanes, signed = stream_format(model)
    frames = reference(model, equality_tiles(channels, tile, tiles - 1, seed=seed))
    out_beats = frames[0][2].size // out_lanes
    timings = {}
    result = simulate_rolled_system(model_dir, [pack_beats(x, in_bits, in_lanes) for _, x, _ in frames],
                                    p_gap=p_gap, p_stall=p_stall, seed=seed, max_cycles=max_cycles,
                                    t_refi_ns=t_refi_ns, powerup_us=powerup_us, timings=timings, whole=True,
                                    out_beats=out_beats)
    report = {"tiles": len(frames), "tile": list(tile), "blocks": summary["blocks"], "p_gap": p_gap,
              "p_stall": p_stall, "seed": seed, "t_refi_ns": t_refi_ns, **_result_fields(result), **timings}
    _compare_outputs(report, result, [(name, want) for name, _, want in frames], out_bits, out_lanes, signed,
                     model.graph.node[-1].name)
    return report


def verify_rolled_board(model_dir, tiles: int = 1, clks_per_bit: int = 4, gap_prob: float = 0.2, seed: int = 1,
                        max_cycles: int = 2_000_000, t_refi_ns: int = 7812, powerup_us: int = 20) -> dict:
    """The rolled design's start-up on the board, simulated at the UART bit level (``rolled_board_core``: reset,
    UART bridge, the image/frame split, ``rolled_top``; the chip model as the SDRAM): ``weights.bin`` goes over
    the UART first, then ``tiles`` input tiles (a photograph's and random ones); every element of every answer
    compared with FINN's execution of the whole ``dataflow.onnx``. The report says when the image's last byte was
    sent, when ``image_ok`` rose, when the first iteration started (never before ``image_ok``), and the first
    mismatch (tile, node, count, first index)."""
    import tempfile

    from fqsr.flows import finn  # noqa: F401 (registers fqsr's custom ops)
    from fqsr.flows.artifacts import DATAFLOW_NAME
    from fqsr.flows.export import equality_tiles, load_qonnx
    from fqsr.flows.host import pack_beats, stream_format, unpack_beats
    from fqsr.hw.board import (DEFAULT_BOARD, ROLLED_CORE, get_board, rolled_bridge_sources, rolled_board_text,
                               rolled_interface)
    from fqsr.hw.rolled import ROLLED_DIRNAME, SUMMARY_NAME, WEIGHTS_NAME
    from fqsr.sim.runner import run_cocotb
    from fqsr.sim.verify import nchw_tile, reference

    model_dir = Path(model_dir)
    summary = load_summary(model_dir)
    rolled = model_dir / ROLLED_DIRNAME
    model = load_qonnx(model_dir / DATAFLOW_NAME)
    channels, tile = nchw_tile(model)
    in_bits, in_lanes, out_bits, out_lanes, signed = stream_format(model)
    frames = reference(model, equality_tiles(channels, tile, tiles - 1, seed=seed))
    io = rolled_interface(model_dir)
    out_bytes = io["out_bytes"]
    tile_bytes = [[b for beat in pack_beats(x, in_bits, in_lanes) for b in int(beat).to_bytes(io["in_bytes"], "little")]
                  for _, x, _ in frames]
    expect = frames[0][2].size // out_lanes * out_bytes
    image = (rolled / WEIGHTS_NAME).read_bytes()
    with tempfile.TemporaryDirectory(prefix="rolled-board-") as work:
        work = Path(work)
        depth = 1 << max(4, (io["in_beats_per_tile"] * io["in_bytes"] - 1).bit_length())
        core = work / f"{ROLLED_CORE}.v"
        core.write_text(rolled_board_text(get_board(DEFAULT_BOARD), io["in_bytes"], out_bytes, len(image), depth,
                                          clks_per_bit, reset_cycles=16, core_only=True))
        sources = [rolled / s for s in summary["top_sources"]] + rolled_bridge_sources() + [core]
        result_path, spec_path = work / "result.json", work / "spec.json"
        spec_path.write_text(json.dumps({
            "image": list(image), "tiles": tile_bytes, "expect_per_tile": expect, "clks_per_bit": clks_per_bit,
            "gap_prob": gap_prob, "seed": seed, "max_cycles": max_cycles, "result": str(result_path),
            "chip": {"clk_mhz": 100, "powerup_us": powerup_us, "t_refi_ns": t_refi_ns}}))
        timings = {}
        run_cocotb(sources, ROLLED_CORE, "fqsr.sim.rolled_board_bench", seed=seed, test_dir=work,
                   data_files=[rolled / r for r in summary["roms"]], timings=timings,
                   parameters={"CLK_MHZ": 100, "POWERUP_US": powerup_us, "T_REFI_NS": t_refi_ns},
                   extra_env={"FQSR_BENCH_SPEC": str(spec_path)})
        result = json.loads(result_path.read_text())
    received = result["received"]
    report = {"tiles": len(frames), "tile": list(tile), "image_bytes": len(image), "clks_per_bit": clks_per_bit,
              "seed": seed, "elements": 0, "mismatches": 0, "first_mismatch": None,
              **{k: result[k] for k in ("image_sent_cycle", "image_ok_cycle", "first_iteration_cycle", "image_error",
                                        "sdram_rule", "deadlock", "cycles", "commands", "framing_errors")},
              "extra_bytes": max(0, len(received) - expect * len(frames)), **timings}
    for t, (name, _, want) in enumerate(frames):
        part = received[t * expect:(t + 1) * expect]
        beats = [int.from_bytes(bytes(part[i:i + out_bytes]), "little") for i in range(0, len(part), out_bytes)]
        got = unpack_beats(beats, out_bits, out_lanes, signed).reshape(-1) if beats else np.zeros(0, np.int64)
        flat = want.reshape(-1)
        diff = np.flatnonzero(got[:flat.size] != flat[:got.size])
        wrong = int(diff.size) + max(0, flat.size - got.size)
        report["elements"] += flat.size
        report["mismatches"] += wrong
        if wrong and report["first_mismatch"] is None:
            i = int(diff[0]) if diff.size else int(got.size)
            report["first_mismatch"] = {"tile": name, "node": model.graph.node[-1].name, "mismatches": wrong,
                                        "index": i, "nhwc_index": [int(v) for v in np.unravel_index(i, want.shape)]}
    ok, first = report["image_ok_cycle"], report["first_iteration_cycle"]
    report["started_before_image_ok"] = first is not None and (ok is None or first < ok)
    report["equal"] = (report["mismatches"] == 0 and not report["deadlock"] and report["sdram_rule"] is None
                       and not report["extra_bytes"] and not report["framing_errors"] and not report["image_error"]
                       and ok is not None and not report["started_before_image_ok"])
    return report
