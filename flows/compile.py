"""Stage 2 -> 3: ``model.qonnx.onnx`` -> ``dataflow.onnx`` (FINN hardware nodes, folded), proven equal.

QONNX -> integer graph (our exact-rounding lowering, :mod:`.finn.integer_graph`)
-> FINN hardware layers (FINN's Infer* passes + our PixelShuffle) ->
SpecializeLayers + bit-width minimization -> folding (SetFolding for a frame
rate, or a folding JSON) -> stitching (FINN's InsertDWC and InsertFIFO, skip
FIFOs sized by :class:`.finn.stitching.SizeResidualFifos`) -> FINN estimates.
FINN's Python execution of the result must equal the reference integers
element for element on random tiles and a real-image tile, otherwise no
``dataflow.onnx`` is left behind.

Float requantizers are the one exception: learned non-power-of-two scales
(``_fs`` models, float-scaled user models), batch norm and float biases off
the accumulator grid are computed by the reference in float32 (conv sums in
an order we cannot see), so an element at a rounding tie may land on the other
side. The lowering lists them (``float_requantizers``); mismatches are then
counted as ``float_tie_mismatches`` and allowed up to :data:`FLOAT_TIE_BUDGET`
of the elements (at least :data:`FLOAT_TIE_FLOOR`; ``float_tie_budget``);
more than that is a bug and fails like any other mismatch.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from pathlib import Path

import numpy as np

from fqsr.models.errors import FqsrError

from .artifacts import (COMPILE_NAME, DATAFLOW_NAME, ESTIMATES_NAME, FOLDING_NAME, atomic_path, forget, record,
                        require_current, write_json)
from .equality import compare, grid_integers, merge
from .export import equality_tiles, load_qonnx, run_qonnx

DEFAULT_FPGAPART = "xczu7ev-ffvc1156-2-e"  # ZCU104: FINN's usual estimate target
DEFAULT_CLOCK_MHZ = 200.0
FLOAT_TIE_BUDGET = 1e-3  # fraction of elements an _fs model may differ by at float32 rounding ties...
FLOAT_TIE_FLOOR = 4  # ...but at least this many (small test tiles)
STAGES = ("lower_convert", "fold", "stitch", "estimate", "check")
# FINN warnings that are expected in this flow: we fold PixelShuffle ourselves (FoldPixelShuffle);
# InferDataTypes announces the narrower types MinimizeAccumulatorWidth chose; our RTL nodes hold
# their stream under back-pressure, so no depth-2 FIFO is needed at the graph's ends.
EXPECTED_FINN_WARNINGS = ("SetFolding doesn't know how to handle op_type PixelShuffle", "inputDataType changing for",
                          "Input FIFO for", "Output FIFO for")
# SetFolding's progress notes; it also logs them when a node reverts SIMD and then meets the target by PE.
FOLDING_NOTES = ("(cyc/frame)", "did not reach the target throughput", "SIMD parallelization for at least one",
                 "running second pass")


class _Timer:
    """Times each stage and advances an optional progress bar (tqdm) over :data:`STAGES`."""

    def __init__(self, progress=None):
        self.timing = {}
        self.progress = progress

    def __call__(self, stage, fn, *args):
        if self.progress is not None:
            self.progress.set_description(stage)
        start = time.monotonic()
        result = fn(*args)
        self.timing[f"{stage}_s"] = round(time.monotonic() - start, 3)
        if self.progress is not None:
            self.progress.update(1)
        return result


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        message = " ".join(record.getMessage().split())
        if not message.startswith(EXPECTED_FINN_WARNINGS) and message not in self.messages:
            self.messages.append(message)


@contextlib.contextmanager
def finn_warnings():
    """Keep FINN's logger off stderr; yield the list of unexpected warnings (for the report)."""
    logger = logging.getLogger("finn_logger")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def lower_and_convert(wrapper, fpgapart: str):
    """QONNX ModelWrapper -> (integer graph, specialized hardware graph)."""
    from .finn.hardware import convert_to_hardware, specialize
    from .finn.integer_graph import QonnxToIntegerDataflow

    integer = wrapper.transform(QonnxToIntegerDataflow())
    hardware = convert_to_hardware(copy.deepcopy(integer))
    return integer, specialize(hardware, fpgapart)


def fold(model, folding=None, target_fps=None, clock_mhz=DEFAULT_CLOCK_MHZ, choose_folding=None):
    """``choose_folding``: a function model -> (folded model, report) that chooses the folding itself
    (the board-aware search, :func:`fqsr.hw.folding_search.search_folding`); its report goes into compile.json."""
    from .finn.folding import apply_folding_file, check_folding, fold_for_fps, match_window_simd, products_by_synthesis

    given = [name for name, v in (("--folding FILE", folding), ("--target-fps", target_fps), ("--fps", choose_folding))
             if v is not None]
    if len(given) > 1:
        raise FqsrError(f"give one of {' or '.join(given)}, not both")
    if choose_folding is not None:
        model, report = choose_folding(model)
        check_folding(model)
        return model, report
    if folding is not None:  # the file is applied as written
        model = apply_folding_file(model, folding)
    elif target_fps is not None:
        model = products_by_synthesis(match_window_simd(fold_for_fps(model, target_fps, clock_mhz)))
    else:
        model = products_by_synthesis(match_window_simd(model))
    check_folding(model)
    return model, None


def stitch(model, fpgapart: str):
    from .finn.stitching import stitchable

    return stitchable(model, fpgapart)


def python_view(model):
    """A copy of the dataflow graph whose HW nodes execute in Python (FINN's generic op classes)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from .finn.hardware import PythonExecutionView

    return ModelWrapper(copy.deepcopy(model.model)).transform(PythonExecutionView())


def run_dataflow(view, pixels: np.ndarray, full=False):
    """Execute on NCHW integer pixels; the host applies the layout permutations around the dataflow."""
    from .export import execute
    from .finn.hardware import HOST_LAYOUT_KEY

    layout = json.loads(view.get_metadata_prop(HOST_LAYOUT_KEY) or "{}")
    pixels = pixels.transpose(layout.get("input_perm", [0, 1, 2, 3]))
    context = execute(view, {view.graph.input[0].name: pixels}, full)
    out = context[view.graph.output[0].name].transpose(layout.get("output_perm", [0, 1, 2, 3]))
    return context if full else out


def reference_integers(reference, qonnx_model, x, out_scale: float):
    """The integer output of the Brevitas model (if given) or else of the QONNX graph (at ``out_scale``)."""
    if reference is not None:
        from fqsr.models.infer import integer_output

        expected, _ = integer_output(reference, x)
        return np.asarray(expected)
    return grid_integers(run_qonnx(qonnx_model, x.numpy()), out_scale, "QONNX output")


def output_scale(model) -> float:
    """The scale of the dataflow graph's output integers (recorded by the lowering)."""
    from .finn.integer_graph import OUTPUT_SCALE_KEY

    return float(model.get_metadata_prop(OUTPUT_SCALE_KEY))


def first_differing_layer(qonnx_model, view, x) -> dict | None:
    """Run both graphs layer by layer; the first quantizer output whose integers differ."""
    from .export import execute
    from .finn.integer_graph import LAYER_MAP_KEY, NCHW_TO_NHWC

    src = execute(qonnx_model, {qonnx_model.graph.input[0].name: x.numpy()}, full=True)
    got = run_dataflow(view, np.round(x.numpy() * 256), full=True)
    for name, qonnx_name, scale in json.loads(view.get_metadata_prop(LAYER_MAP_KEY) or "[]"):
        if name not in got or qonnx_name not in src:
            continue
        expected = grid_integers(src[qonnx_name], scale, qonnx_name).transpose(NCHW_TO_NHWC)
        report = compare(expected, np.asarray(got[name]).astype(np.int64), "qonnx->finn", layer=qonnx_name)
        if not report["equal"]:
            producer = view.find_producer(name)
            report["node"] = producer.name if producer is not None else name
            report["op_type"] = producer.op_type if producer is not None else ""
            return report
    return None


def check_dataflow(model, qonnx_model, tiles, reference=None) -> dict:
    view = python_view(model)
    reports = []
    for name, x in tiles:
        expected = reference_integers(reference, qonnx_model, x, output_scale(model))
        got = np.asarray(run_dataflow(view, np.round(x.numpy() * 256).astype(np.float32))).astype(np.int64)
        reports.append(compare(expected, got, stage=f"{'brevitas' if reference is not None else 'qonnx'}->finn[{name}]"))
    verdict = merge(reports)
    if not verdict["equal"]:
        failed = next(x for (name, x), r in zip(tiles, reports) if not r["equal"])
        verdict["first_layer"] = first_differing_layer(qonnx_model, view, failed)
    return verdict


def scales_are_powers_of_two(model) -> bool:
    from .finn.integer_graph import LAYER_MAP_KEY, is_power_of_two

    scales = [s for _, _, s in json.loads(model.get_metadata_prop(LAYER_MAP_KEY) or "[]")]
    return all(is_power_of_two(s) for s in scales)


def float_requantizers(model) -> list[str]:
    """The requantizers whose float32 reference arithmetic may round a tie differently (batch norm, float
    biases off the accumulator grid, scales that are not powers of two), as the lowering recorded them."""
    from .finn.integer_graph import INEXACT_KEY

    return json.loads(model.get_metadata_prop(INEXACT_KEY) or "[]")


def stitching_summary(model) -> dict:
    """Node counts and the skip FIFOs' depths (what the RTL stage will instantiate)."""
    from qonnx.custom_op.registry import getCustomOp

    nodes = list(model.graph.node)
    fifos = {n.name: int(getCustomOp(n).get_nodeattr("depth")) for n in nodes if n.op_type.startswith("StreamingFIFO")}
    return {"nodes": len(nodes), "dwc": sum(n.op_type.startswith("StreamingDataWidthConverter") for n in nodes),
            "fifo": len(fifos), "fifo_depths": fifos}


def compile_model(onnx_path, out_dir=None, folding=None, target_fps=None, clock_mhz=DEFAULT_CLOCK_MHZ,
                  fpgapart=DEFAULT_FPGAPART, random_tiles=2, reference=None, progress=None, choose_folding=None,
                  search_settings=None) -> dict:
    """Compile an exported model; returns the JSON report (also written as ``compile.json``).

    ``reference``: the Brevitas model the export came from; without it the
    proof compares against QONNX execution of the export (itself proven equal
    to Brevitas by the export stage). ``progress``: a tqdm bar advanced once
    per entry of :data:`STAGES`. ``choose_folding``: see :func:`fold`; ``search_settings``: what it was made
    with, recorded in ``dataflow.onnx``'s provenance (so that another board or frame rate compiles again).
    """
    with finn_warnings() as warnings:
        return _compile(onnx_path, out_dir, folding, target_fps, clock_mhz, fpgapart, random_tiles, reference,
                        progress, warnings, choose_folding, search_settings)


def _compile(onnx_path, out_dir, folding, target_fps, clock_mhz, fpgapart, random_tiles, reference, progress,
             warnings, choose_folding=None, search_settings=None) -> dict:
    from . import finn  # noqa: F401 (registers fqsr's custom ops)
    from .finn.estimates import estimates
    from .finn.folding import folding_config
    from .finn.hardware import hardware_op_types

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FqsrError(f"{onnx_path} does not exist; run `fqsr export MODEL` first")
    out_dir = Path(out_dir or onnx_path.parent)
    require_current(onnx_path.parent, onnx_path.name, "fqsr export MODEL")
    outputs = (DATAFLOW_NAME, COMPILE_NAME, FOLDING_NAME, ESTIMATES_NAME)
    forget(out_dir, *outputs)
    for name in outputs:  # a failed compile must not leave an old graph or report looking current
        if not (folding and Path(folding).resolve() == (out_dir / name).resolve()):  # an edited folding.json fed back
            (out_dir / name).unlink(missing_ok=True)
    timer = _Timer(progress)
    qonnx_model = load_qonnx(onnx_path)
    _, channels, h, w = qonnx_model.get_tensor_shape(qonnx_model.graph.input[0].name)
    dataflow_path = out_dir / DATAFLOW_NAME
    _, model = timer("lower_convert", lower_and_convert, qonnx_model, fpgapart)
    model, search = timer("fold", fold, model, folding, target_fps, clock_mhz, choose_folding)
    model = timer("stitch", stitch, model, fpgapart)
    report_estimates = timer("estimate", estimates, model, fpgapart, clock_mhz)
    tiles = equality_tiles(channels, (h, w), random_tiles)
    verdict = timer("check", check_dataflow, model, qonnx_model, tiles, reference)
    po2 = scales_are_powers_of_two(model)
    inexact = float_requantizers(model)
    tie_budget = max(FLOAT_TIE_FLOOR, int(FLOAT_TIE_BUDGET * verdict["elements"])) if inexact else 0
    report = {
        "onnx": str(onnx_path), "dataflow": str(dataflow_path), "tile": [h, w],
        "reference": "brevitas" if reference is not None else "qonnx",
        **verdict,
        "power_of_two_scales": po2,
        "float_requantizers": inexact,
        "float_tie_budget": tie_budget,
        "hardware_ops": hardware_op_types(model),
        **stitching_summary(model),
        "fps": report_estimates["fps"], "cycles_per_frame": report_estimates["cycles_per_frame"],
        "target_fps": target_fps,
        "target_met": None if target_fps is None else report_estimates["fps"] >= target_fps,
        "clock_mhz": clock_mhz, "totals": report_estimates["totals"],
        "finn_warnings": [w for w in warnings if report_estimates["fps"] < (target_fps or 0)
                          or not any(note in w for note in FOLDING_NOTES)],
        "timing": timer.timing,
    }
    if search is not None:
        report["folding_search"] = search
    if verdict["mismatches"] > tie_budget:
        write_json(out_dir / COMPILE_NAME, {**report, "dataflow": None})
        layer = verdict.get("first_layer") or {}
        allowed = f" (more than the {tie_budget} float32 rounding ties allowed for float requantizers)" \
            if inexact else ""
        raise FqsrError(
            f"FINN execution differs from the reference in {verdict['mismatches']} of {verdict['elements']} "
            f"elements{allowed}; first differing layer {layer.get('layer', '?')} (node {layer.get('node', '?')}, "
            f"{layer.get('op_type', '?')}); no {DATAFLOW_NAME} written"
        )
    if inexact:  # float32 rounding ties in the reference may differ; count them
        report["float_tie_mismatches"] = verdict["mismatches"]
    with atomic_path(dataflow_path) as tmp:
        model.save(str(tmp))
    source = onnx_path.name if onnx_path.parent.resolve() == out_dir.resolve() else str(onnx_path.resolve())
    settings = {"folding": str(folding) if folding else None, "target_fps": target_fps, "clock_mhz": clock_mhz,
                "fpgapart": fpgapart}
    if search_settings is not None:
        settings["search"] = search_settings
    record(out_dir, DATAFLOW_NAME, inputs=[source], settings=settings)
    for name, content in ((FOLDING_NAME, folding_config(model)), (ESTIMATES_NAME, report_estimates),
                          (COMPILE_NAME, report)):
        write_json(out_dir / name, content)
        record(out_dir, name, inputs=[DATAFLOW_NAME])
    return report
