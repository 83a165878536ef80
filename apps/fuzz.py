"""``fqsr fuzz``: random networks through the whole chain, export -> compile -> rtl -> verify.

Each seed stands for one network of :mod:`fqsr.models.fuzz_nets` (with its
random folding and stall probability). A network ends as ``equal``, as a bug
(``mismatch`` at a stage, node and element; ``deadlock``; ``slow``: a
measured frame far past FINN's estimate; ``error``: a crash that is not an
``FqsrError``), or as ``rejected`` (fqsr refused it in one clear sentence).
A bug is shrunk (:func:`shrink`) to the smallest spec that still fails the
same way, and written as a pytest case in ``tests/fuzz_cases/``
(:func:`write_case`). So is a rejection: the generator draws only what fqsr
claims, so a refusal of one of its networks is a gap to look at (seed 31's
was a bug), and the case is the smallest network refused with the same
sentence. Rejections are still counted apart from bugs (the exit status).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import time
import traceback
from pathlib import Path

from fqsr.models.errors import FqsrError

STAGES = ("build", "export", "compile", "rtl", "verify")
BUGS = ("mismatch", "deadlock", "slow", "error")
SLOW_FACTOR = 2.0  # a steady-state frame this many times FINN's estimate is a failure, not noise
CYCLE_BUDGET = 2000  # most cycles per frame a random folding may leave a node (keeps each simulation short)
CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "fuzz_cases"


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _fold_attrs(inst, op: str):
    """(attribute, dimension it must divide) of each folding knob of a node type."""
    if op == "MVAU":
        return [("PE", inst.get_nodeattr("MH")), ("SIMD", inst.get_nodeattr("MW"))]
    if op == "ConvolutionInputGenerator":
        return [("SIMD", inst.get_nodeattr("IFMChannels"))]
    if op == "FMPadding":
        return [("SIMD", inst.get_nodeattr("NumChannels"))]
    if op in ("Thresholding", "DuplicateStreams", "PixelShuffle"):
        return [("PE", inst.get_nodeattr("NumChannels"))]
    if op == "ElementwiseAdd":
        return [("PE", inst.get_normal_input_shape(0)[-1])]
    return []


def random_folding(model, folding_seed: int | None, cycle_budget: int = CYCLE_BUDGET) -> dict:
    """A folding.json for the hardware graph ``model``: random PE/SIMD divisors per node, a parallel
    window now and then, each node then widened (next divisor up) until it needs at most
    ``cycle_budget`` cycles per frame. ``folding_seed`` None: the least folding within the budget
    (every knob starts at 1), the shrinker's simplest folding."""
    from qonnx.custom_op.registry import getCustomOp

    from fqsr.hw.generate import base_op_type

    rng = random.Random(folding_seed)
    config = {}
    for node in model.graph.node:
        inst, op = getCustomOp(node), base_op_type(node)
        knobs = _fold_attrs(inst, op)
        if not knobs:
            continue
        attrs = {}
        for attr, dim in knobs:
            attrs[attr] = 1 if folding_seed is None else rng.choice(_divisors(dim))
            inst.set_nodeattr(attr, attrs[attr])
        while inst.get_exp_cycles() > cycle_budget:
            open_knobs = [(a, d) for a, d in knobs if attrs[a] < d]
            if not open_knobs:
                break
            attr, dim = min(open_knobs, key=lambda knob: attrs[knob[0]])
            attrs[attr] = next(d for d in _divisors(dim) if d > attrs[attr])
            inst.set_nodeattr(attr, attrs[attr])
        if op == "ConvolutionInputGenerator" and attrs["SIMD"] == inst.get_nodeattr("IFMChannels") \
                and node.op_type.endswith("_rtl") and folding_seed is not None and rng.random() < 0.3:
            attrs["parallel_window"] = 1
        config[node.name] = attrs
    return config


@contextlib.contextmanager
def _build_root(path: Path):
    """Simulator builds go under ``path`` (the batch's own folder; Verilator's runtime is built once there)."""
    old = os.environ.get("FQSR_BUILD")
    os.environ["FQSR_BUILD"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FQSR_BUILD", None)
        else:
            os.environ["FQSR_BUILD"] = old


def _stage_json(folder: Path, name: str) -> dict:
    path = folder / name
    return json.loads(path.read_text()) if path.is_file() else {}


def _equality_failure(stage: str, verdict: dict) -> dict:
    """A mismatch record from an export/compile report (first failing layer and element)."""
    first = verdict.get("first_layer") or verdict.get("first_failure") or {}
    element = (first.get("first_mismatch") or {})
    return {"result": "mismatch", "stage": stage, "node": first.get("node") or first.get("layer"),
            "op_type": first.get("op_type") or first.get("layer"), "element": element,
            "mismatches": verdict.get("mismatches"),
            "detail": f"{verdict.get('mismatches')} of {verdict.get('elements')} elements differ"}


def _drop_sim_builds(sim_root: Path):
    """Remove the per-design simulator builds under ``sim_root``, keeping Verilator's shared runtime."""
    if sim_root.is_dir():
        for path in sim_root.iterdir():
            if not path.name.startswith("verilator-runtime"):
                shutil.rmtree(path, ignore_errors=True)


def run_network(spec: dict, work: Path, sim: str = "verilator", cycle_budget: int = CYCLE_BUDGET,
                sim_root: Path | None = None) -> dict:
    """One spec through the chain in ``work``; the record of how far it got and how it ended.

    ``sim_root``: where simulator builds go (default ``work/build``); this design's are removed after."""
    from fqsr.hw.stitch import generate_rtl
    from fqsr.models.fuzz_nets import build_net, describe
    from fqsr.sim.verify import verify

    from fqsr.flows.compile import DATAFLOW_NAME, DEFAULT_FPGAPART, compile_model, lower_and_convert
    from fqsr.flows.export import ONNX_NAME, export, load_qonnx

    work = Path(work).resolve()  # the simulator runs in another working directory
    sim_root = Path(sim_root).resolve() if sim_root else work / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    record = {"seed": spec["seed"], "description": describe(spec), "stage": "build", "result": None, "times": {}}
    start = time.monotonic()
    stage = "build"

    def timed(name, fn, /, *args, **kwargs):
        nonlocal stage
        stage = record["stage"] = name
        t = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            record["times"][name] = round(record["times"].get(name, 0) + time.monotonic() - t, 2)

    try:
        with _build_root(sim_root):
            net = timed("build", build_net, spec)
            timed("export", export, net, tile=tuple(spec["tile"]), random_tiles=1, out_dir=work,
                  channels=spec["channels"], name=f"fuzz{spec['seed']}")

            def choose():  # the folding needs the node names, which only the lowering gives
                _, hw = lower_and_convert(load_qonnx(work / ONNX_NAME), DEFAULT_FPGAPART)
                return random_folding(hw, spec["folding_seed"], cycle_budget)
            folding = work / "random_folding.json"
            folding.write_text(json.dumps(timed("compile", choose), indent=1))
            timed("compile", compile_model, work / ONNX_NAME, work, folding=folding, random_tiles=1, reference=net)
            timed("rtl", generate_rtl, work / DATAFLOW_NAME, work)
            report = timed("verify", verify, work, tiles=2, sim=sim, stall_prob=spec["stall_prob"],
                           seed=spec["seed"] % 1000)
        record.update(_verdict(report))
    except FqsrError as exc:
        verdict = _stage_json(work, {"export": "export.json", "compile": "compile.json"}.get(stage, ""))
        if verdict and verdict.get("equal") is False:
            record.update(_equality_failure(stage, verdict))
        else:
            record.update(result="rejected", detail=str(exc))
    except Exception as exc:  # a crash instead of a clear sentence is a bug too
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        record.update(result="error", detail=f"{type(exc).__name__}: {exc}"[:300],
                      where=f"{Path(frame.filename).name}:{frame.lineno}")
    finally:
        _drop_sim_builds(sim_root / "sim")
    record["time_s"] = round(time.monotonic() - start, 2)
    return record


def _verdict(report: dict) -> dict:
    """The verify report as a fuzz record: equal, mismatch (node, element), deadlock or slow."""
    keep = {k: report.get(k) for k in ("cycles_per_frame", "estimated_cycles_per_frame", "cycles_vs_estimate")}
    if report.get("deadlock"):
        return {**keep, "result": "deadlock",
                "detail": f"received {report.get('received_beats')} of {report.get('expected_beats')} beats"}
    if not report["equal"]:
        node = report.get("first_differing_node") or {}
        return {**keep, "result": "mismatch", "node": node.get("node"), "op_type": node.get("op_type"),
                "element": report.get("first_mismatch"), "mismatches": report.get("mismatches"),
                "detail": f"{report.get('mismatches')} of {report.get('elements')} elements differ"
                          f"{', %d extra beats' % report['extra_beats'] if report.get('extra_beats') else ''}"}
    ratio = report.get("cycles_vs_estimate")
    if ratio is None or ratio > SLOW_FACTOR:
        return {**keep, "result": "slow", "detail": f"{report.get('cycles_per_frame')} cycles per frame, "
                                                     f"FINN estimates {report.get('estimated_cycles_per_frame')}"}
    return {**keep, "result": "equal", "detail": f"{report['elements']} elements, {ratio}x estimate"}


def signature(record: dict):
    """What "fails the same way" means to the shrinker: the stage, the kind, the node type or error type;
    for a rejection its sentence with the numbers taken out (node names such as ``MVAU_hls_3`` and
    sizes change as the network shrinks)."""
    kind = record["result"]
    if kind == "mismatch":
        return (record["stage"], kind, record.get("op_type"))
    if kind == "error":
        return (record["stage"], kind, record["detail"].split(":")[0])
    if kind == "rejected":
        return (record["stage"], kind, re.sub(r"\d+", "#", record.get("detail", "")))
    return (record["stage"], kind)


def is_bug(record: dict) -> bool:
    return record["result"] in BUGS


def is_shrunk(record: dict) -> bool:
    """A bug, or a rejection: what :func:`fuzz` shrinks and writes a case for."""
    return is_bug(record) or record["result"] == "rejected"


def shrink(spec: dict, record: dict, work: Path, run=run_network, max_steps: int = 60, log=None) -> tuple[dict, dict]:
    """Greedy shrinking: walk the simpler specs (:func:`~fqsr.models.fuzz_nets.shrink_candidates`) and
    keep each that fails (or is rejected) with the same :func:`signature`; stop after a full round without one.

    After a kept step the walk goes on from the same position in the new spec's candidates (the
    cuts tried before it did not fail, and trying them again first would cost a run each).
    Returns the smallest failing spec and its record; ``run(spec, work)`` runs one spec.
    """
    from fqsr.models.fuzz_nets import shrink_candidates

    target = signature(record)
    candidates, position, misses = shrink_candidates(spec), 0, 0
    for step in range(1, max_steps + 1):
        if not candidates or misses >= len(candidates):
            break
        position %= len(candidates)
        result = run(candidates[position], work)
        if log:
            log(f"  shrink step {step}: {result['result']} {result['description']}")
        if is_shrunk(result) and signature(result) == target:
            spec, record, misses = candidates[position], result, 0
            candidates = shrink_candidates(spec)
        else:
            position, misses = position + 1, misses + 1
    return spec, record


CASE_TEST = '''"""Fuzz case {name}: {title}

Found by `fqsr fuzz` (seed {seed}); the network ({how}): {description}
"""
import json
from pathlib import Path

{pytest_import}from fqsr.apps.fuzz import run_network

SPEC = json.loads((Path(__file__).parent / "{name}.json").read_text())["spec"]


{marker}def test_{name}_runs_equal_through_the_chain(tmp_path):
    record = run_network(SPEC, tmp_path / "net", sim="icarus")  # tiny: no Verilator build
    assert record["result"] == "equal", record
'''


def write_case(spec: dict, record: dict, out_dir: Path = CASES_DIR, xfail: str | None = None,
               how: str = "shrunk by the fuzzer") -> Path:
    """``<out_dir>/case_<seed>.json`` (the spec and the failure) and ``test_case_<seed>.py``, which runs it.

    ``xfail``: the bug's description, for a case that is committed before its fix."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"case_{spec['seed']}"
    title = (f"{record['result']} at {record['stage']}"
             + (f", node {record.get('node')} ({record.get('op_type')}), element {record.get('element')}"
                if record["result"] == "mismatch" else f": {record.get('detail')}"))
    (out_dir / f"{name}.json").write_text(json.dumps({"spec": spec, "failure": record}, indent=1) + "\n")
    marker = "@pytest.mark.icarus\n" + (f"@pytest.mark.xfail(strict=True, reason={xfail!r})\n" if xfail else "")
    path = out_dir / f"test_{name}.py"
    path.write_text(CASE_TEST.format(name=name, title=title, seed=spec["seed"], description=record["description"],
                                     marker=marker, how=how, pytest_import="import pytest\n\n"))
    return path


def fuzz(seeds, work_root: Path, sim: str = "verilator", shrink_failures: bool = True, cases_dir: Path = CASES_DIR,
         keep: bool = False, log=None) -> dict:
    """Run every seed; shrink and write a case for each bug and rejection; the summary (records, counts,
    rejection reasons)."""
    from fqsr.models.fuzz_nets import describe, random_spec, size

    work_root = Path(work_root).resolve()
    records, start = [], time.monotonic()
    for seed in seeds:
        spec = random_spec(seed)
        work = work_root / f"net{seed}"
        record = run_network(spec, work, sim, sim_root=work_root / "build")
        if log:
            log(_line(record))
        if is_shrunk(record) and shrink_failures:
            small, small_record = shrink(spec, record, work_root / f"shrink{seed}", lambda s, w: run_network(s, w, sim, sim_root=work_root / "build"),
                                         log=log)
            record["shrunk"] = {"description": describe(small), "size": size(small), "from_size": size(spec),
                                "record": small_record,
                                "case": str(write_case(small, small_record, cases_dir))}
            if log:
                log(f"  shrunk to {describe(small)} -> {record['shrunk']['case']}")
            shutil.rmtree(work_root / f"shrink{seed}", ignore_errors=True)
        if not keep and not is_shrunk(record):
            shutil.rmtree(work, ignore_errors=True)
        records.append(record)
    counts = {kind: sum(r["result"] == kind for r in records) for kind in ("equal", "rejected", *BUGS)}
    reasons = {}
    for r in records:
        if r["result"] == "rejected":
            reasons[r["detail"]] = reasons.get(r["detail"], 0) + 1
    return {"networks": len(records), "counts": counts, "rejection_reasons": reasons,
            "wall_s": round(time.monotonic() - start, 1), "records": records}


def _line(record: dict) -> str:
    where = (f" node {record.get('node')} ({record.get('op_type')}), first element {record.get('element')}"
             if record["result"] == "mismatch" else "")
    return (f"seed {record['seed']:>6}  {record['result']:9} {record['stage']:8} {record['time_s']:7.1f}s  "
            f"{record['description']}{where}  {record.get('detail', '')}")


def summary_lines(summary: dict) -> list[str]:
    """The summary table for the terminal."""
    lines = [f"{'seed':11}  {'result':9} {'stage':8} {'time':>8}  network | detail"]
    lines += [_line(r) for r in summary["records"]]
    lines.append("")
    lines.append(f"{summary['networks']} networks in {summary['wall_s']} s: "
                 + ", ".join(f"{n} {kind}" for kind, n in summary["counts"].items() if n))
    for reason, n in summary["rejection_reasons"].items():
        lines.append(f"  rejected x{n}: {reason}")
    for r in summary["records"]:
        if "shrunk" in r:
            lines.append(f"  seed {r['seed']} shrunk to {r['shrunk']['description']}: {r['shrunk']['case']}")
    return lines
