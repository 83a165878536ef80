"""Folding: FINN's SetFolding for a frame rate, or a folding JSON (FINN's ApplyConfig format) fed back."""
from __future__ import annotations

import json
from pathlib import Path

from fqsr.models.errors import FqsrError

from .pixel_shuffle import FoldPixelShuffle
from .stitching import DERIVED_OPS

# The parallelism attributes FINN's folding configs carry, plus our PixelShuffle's PE.
FOLDING_ATTRS = ("PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode")


def target_cycles(target_fps: float, clock_mhz: float) -> int:
    if target_fps <= 0 or clock_mhz <= 0:
        raise FqsrError("--target-fps and --clock-mhz must be positive")
    return max(1, int(clock_mhz * 1e6 // target_fps))


def fold_for_fps(model, target_fps: float, clock_mhz: float):
    """SetFolding (FINN) on its ops, FoldPixelShuffle (ours) on the pixel shuffles."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    cycles = target_cycles(target_fps, clock_mhz)
    # Pixel shuffles first: SetFolding's second (relaxation) pass re-targets everything to the
    # slowest node it sees, which would otherwise be a still-unfolded pixel shuffle.
    model = model.transform(FoldPixelShuffle(cycles))
    return model.transform(SetFolding(cycles, two_pass_relaxation=True))


def products_by_synthesis(model):
    """Every MVAU's ``resType`` = "auto": the RTL writes its products as ``*`` and synthesis decides (Yosys'
    synth_ecp5 puts each on a MULT18X18D). FINN's HLS MVAU defaults to "lut", which fqsr's RTL reads as
    "build the products from LUTs"; only the board-aware folding search (``--fps``) or a folding file chooses
    "lut" or "dsp". FINN's own estimates treat "auto" as "lut", so they do not change."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            getCustomOp(node).set_nodeattr("resType", "auto")
    return model


def match_window_simd(model):
    """Narrow each sliding window (and the padding feeding it) to its MVAU's SIMD.

    FINN gives an RTL sliding window SIMD = channels by default, which is cheap in FINN's own
    RTL but costs fqsr's hardware a stream as wide as a pixel: a line buffer of C*bits-wide
    words (shallow, wasteful in block RAM) and a width converter down to the MVAU's SIMD. With
    the window's SIMD equal to the MVAU's, no converter is needed, and neither node becomes the
    bottleneck: the window emits K*K*C/SIMD beats per pixel, the MVAU needs that many times its
    PE fold. A parallel window, or an MVAU SIMD that does not divide the channels, is left as is.
    """
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if not node.op_type.startswith("ConvolutionInputGenerator"):
            continue
        window = getCustomOp(node)
        consumers = model.find_consumers(node.output[0]) or []
        if len(consumers) != 1 or not consumers[0].op_type.startswith("MVAU") \
                or window.get_nodeattr("parallel_window"):
            continue
        simd, channels = getCustomOp(consumers[0]).get_nodeattr("SIMD"), window.get_nodeattr("IFMChannels")
        if channels % simd or window.get_nodeattr("SIMD") <= simd:
            continue
        window.set_nodeattr("SIMD", simd)
        padding = model.find_producer(node.input[0])
        if padding is not None and padding.op_type.startswith("FMPadding") \
                and len(model.find_consumers(padding.output[0]) or []) == 1:
            getCustomOp(padding).set_nodeattr("SIMD", simd)
    return model


def apply_folding_file(model, path: Path):
    """Apply an edited folding.json; a node name that is not in the graph is an error, not a no-op.

    Width converters and FIFOs are derived from the folding (:mod:`.stitching`) and
    regenerated after it, so entries for them are skipped rather than refused.
    """
    from finn.transformation.general import ApplyConfig

    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FqsrError(f"folding file {path} is not readable JSON ({exc.__class__.__name__})") from None
    names = {n.name for n in model.graph.node}
    config = {name: attrs for name, attrs in config.items() if not name.startswith(DERIVED_OPS)}
    unknown = sorted(set(config) - names - {"Defaults"})
    if unknown:
        raise FqsrError(f"folding file {path} names nodes that are not in the graph: {', '.join(unknown)}")
    return model.transform(ApplyConfig(config))


def check_folding(model) -> None:
    """Every folded node must satisfy its divisibility rules (FINN's verify_node / shape checks)."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if not node.domain.startswith("finn.custom_op.fpgadataflow"):
            continue
        inst = getCustomOp(node)
        try:
            inst.get_folded_input_shape()
            inst.get_folded_output_shape()
        except Exception as exc:  # FINN raises assertion/internal errors for bad PE/SIMD
            raise FqsrError(f"node {node.name} ({node.op_type}): invalid folding ({exc})") from None
        for attr, dims in (("PE", _pe_bound(inst)), ("SIMD", _simd_bound(inst))):
            if dims and attr in inst.get_nodeattr_types():
                value = inst.get_nodeattr(attr)
                if value < 1 or dims % value:
                    raise FqsrError(f"node {node.name} ({node.op_type}): {attr}={value} must divide {dims}")


def _pe_bound(inst):
    for attr in ("MH", "NumChannels"):
        if attr in inst.get_nodeattr_types():
            return inst.get_nodeattr(attr)
    return None


def _simd_bound(inst):
    for attr in ("MW", "IFMChannels"):
        if attr in inst.get_nodeattr_types():
            return inst.get_nodeattr(attr)
    return None


def folding_config(model) -> dict:
    """The folding as FINN's ApplyConfig JSON: node name -> attributes (editable, fed back with --folding).

    Compute nodes only: width converters and FIFOs follow from it (see :mod:`.stitching`).
    """
    from finn.util.config import extract_model_config

    config = extract_model_config(model, None, FOLDING_ATTRS)
    config.pop("Defaults", None)
    return {name: attrs for name, attrs in config.items() if not name.startswith(DERIVED_OPS)}
