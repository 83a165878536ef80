"""Board-aware folding: the fastest PE/SIMD per node whose predicted ECP5 cost fits a board's budget.

``search_folding(model, board, clock_mhz, fps)`` takes FINN's specialized, unfolded dataflow graph
(before width converters and FIFOs) and folds it in place:

1. start from the most folded design (PE = SIMD = 1 everywhere); if :mod:`fqsr.hw.cost` says even that
   exceeds the budget, stop with one sentence (:class:`DoesNotFitBudget`);
2. repeatedly take the slowest node (FINN's ``get_exp_cycles``) and try each next valid step of its
   parallelism: the next divisor of MW for an MVAU's SIMD (one that the sliding window in front of it can
   follow: a divisor or a multiple of its channels) or of MH for its PE, the next divisor of the channels
   for the PE of thresholds, pixel shuffles and adds; for each, an MVAU's products on MULT18X18D or on
   LUTs (FINN's ``resType`` "dsp" / "lut", the RTL's ``LUT_MULT``). The step taken is the one that fits
   the budget with the least pressure (the largest used fraction of any resource); a sliding window and
   its padding follow their MVAU's SIMD (a parallel window where a serial one would be the slowest);
3. stop when the frame rate reaches ``fps`` (a number), when no step of the slowest node fits (``"max"``:
   the resource that blocked it is the binding one), or when the slowest node is fully parallel;
4. stitch a copy (FINN's width converters and FIFOs) and predict the whole design; while that is over
   the budget, undo the last step.

The budget is the board's capacity times :data:`HEADROOM` (routing needs free LUTs) minus
:data:`BOARD_TOP_RESERVE` (the UART bridge around the accelerator) and the bridge's receive buffer (one whole
input tile or frame: 128 EBR for a 640x360 frame of 8-bit pixels), times ``scale`` per kind (the build lowers it
when synthesis finds the real design larger than predicted).
"""
from __future__ import annotations

import copy
import math

from fqsr.models.errors import FqsrError

from . import cost

HEADROOM = {"LUT": 0.80, "FF": 0.85, "BRAM": 0.90, "DSP": 1.0}  # of the board's capacity, for place and route
BOARD_TOP_RESERVE = {"LUT": 600, "FF": 500, "BRAM": 0, "DSP": 0}  # UART bridge, reset, LEDs (measured ~300 LUT)
FOLD_NODE_ATTRS = ("PE", "SIMD", "resType", "parallel_window")
MAX_STEPS = 10_000


class DoesNotFitBudget(FqsrError):
    """Even the most folded design is predicted over the board's budget."""


def budget(board, scale: dict | None = None, reserve: dict | None = None) -> dict:
    scale, reserve = scale or {}, reserve or BOARD_TOP_RESERVE
    return {kind: max(0, int(board.capacity[kind] * HEADROOM[kind] * scale.get(kind, 1.0))
                      - reserve[kind]) for kind in cost.KINDS}


def board_top_reserve(model) -> dict:
    """:data:`BOARD_TOP_RESERVE` plus the EBR of the UART bridge's receive buffer for ``model``'s input tile
    (measured: 128 DP16KD for a 640x360 frame, more than the accelerator's 141 left room for)."""
    from fqsr.flows.host import stream_format

    from .board import receive_buffer_depth

    in_bits, in_lanes, _, _, _ = stream_format(model)
    elements = math.prod(model.get_tensor_shape(model.graph.input[0].name))
    tile_bytes = elements // in_lanes * ((in_bits * in_lanes + 7) // 8)
    _, ebr = cost._sync_ram(8, receive_buffer_depth(tile_bytes))
    return {**BOARD_TOP_RESERVE, "BRAM": BOARD_TOP_RESERVE["BRAM"] + ebr}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _op(node) -> str:
    from .generate import base_op_type

    return base_op_type(node)


class _Graph:
    """The graph being folded, with a cost cache keyed by each node's folding attributes."""

    def __init__(self, model):
        from qonnx.custom_op.registry import getCustomOp

        self.model, self.get = model, getCustomOp
        self.cache: dict = {}

    def attrs(self, node) -> tuple:
        inst = self.get(node)
        types = inst.get_nodeattr_types()
        return tuple((a, inst.get_nodeattr(a)) for a in FOLD_NODE_ATTRS if a in types)

    def node_cost(self, node) -> dict:
        from .generate import node_instance

        key = (node.name, self.attrs(node))
        if key not in self.cache:
            instance = node_instance(self.model, node)
            self.cache[key] = cost.node_cost(instance)
        return self.cache[key]

    def costs(self) -> dict:
        out = {node.name: self.node_cost(node) for node in self.model.graph.node}
        out.update(self.converters())
        return out

    def converters(self) -> dict:
        """The width converters stitching will insert: one per stream whose two ends differ in width."""
        out = {}
        for node in self.model.graph.node:
            for consumer in self.model.find_consumers(node.output[0]) or []:
                ins = [t for t in consumer.input if self.model.get_initializer(t) is None]
                if node.output[0] not in ins:
                    continue
                width_out = self.get(node).get_outstream_width(0)
                width_in = self.get(consumer).get_instream_width(ins.index(node.output[0]))
                if width_out != width_in:
                    bits = self.get(node).get_output_datatype(0).bitwidth()
                    out[f"dwc:{node.name}->{consumer.name}"] = cost.instance_cost(
                        "stream_width_converter", {"BITS": bits, "IN_ELEMS": width_out // bits,
                                                   "OUT_ELEMS": width_in // bits})
        return out

    def cycles(self) -> dict:
        return {node.name: int(self.get(node).get_exp_cycles()) for node in self.model.graph.node}

    def set(self, node, **attrs):
        inst = self.get(node)
        for name, value in attrs.items():
            inst.set_nodeattr(name, value)


def _window_chain(graph: _Graph, mvau):
    """(sliding window, padding or None) feeding ``mvau``, else (None, None)."""
    window = graph.model.find_producer(mvau.input[0])
    if window is None or _op(window) != "ConvolutionInputGenerator":
        return None, None
    padding = graph.model.find_producer(window.input[0])
    if padding is not None and (_op(padding) != "FMPadding" or len(graph.model.find_consumers(padding.output[0])) != 1):
        padding = None
    return window, padding


def _simd_choices(graph: _Graph, mvau) -> list[int]:
    """The MVAU's valid SIMDs: divisors of MW that its window can follow (divide or are multiples of C)."""
    mw = graph.get(mvau).get_nodeattr("MW")
    window, _ = _window_chain(graph, mvau)
    if window is None:
        return _divisors(mw)
    c = graph.get(window).get_nodeattr("IFMChannels")
    return [d for d in _divisors(mw) if c % d == 0 or d % c == 0]


def _follow(graph: _Graph, mvau) -> None:
    """The window (and padding) in front of ``mvau`` take its SIMD, or all channels (serial or parallel
    window, whichever keeps up with the MVAU) when its SIMD is wider than a pixel."""
    window, padding = _window_chain(graph, mvau)
    if window is None:
        return
    simd, w = graph.get(mvau).get_nodeattr("SIMD"), graph.get(window)
    c = w.get_nodeattr("IFMChannels")
    lanes = min(simd, c)
    graph.set(window, SIMD=lanes, parallel_window=0)
    if "parallel_window" in w.get_nodeattr_types() and simd > c \
            and w.get_exp_cycles() > graph.get(mvau).get_exp_cycles():
        graph.set(window, parallel_window=1)
    if padding is not None:
        graph.set(padding, SIMD=lanes)


def _driver(graph: _Graph, node):
    """The node whose step speeds ``node`` up: a sliding window or padding follows the MVAU it feeds."""
    op = _op(node)
    if op in ("ConvolutionInputGenerator", "FMPadding"):
        consumers = graph.model.find_consumers(node.output[0]) or []
        if len(consumers) == 1:
            if op == "FMPadding":
                return _driver(graph, consumers[0])
            if _op(consumers[0]) == "MVAU":
                return consumers[0]
    return node


def _moves(graph: _Graph, node, simd_only: bool = False) -> list[dict]:
    """The next steps of ``node``'s parallelism: [{attr: value}], each with both multiplier styles for an MVAU."""
    inst, op = graph.get(node), _op(node)
    if op == "MVAU":
        simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
        higher_simd = [d for d in _simd_choices(graph, node) if d > simd]
        higher_pe = [] if simd_only else [d for d in _divisors(inst.get_nodeattr("MH")) if d > pe]
        steps = ([{"SIMD": higher_simd[0]}] if higher_simd else []) + ([{"PE": higher_pe[0]}] if higher_pe else [])
        return [{**s, "resType": style} for s in steps for style in ("lut", "dsp")]
    if "PE" in inst.get_nodeattr_types():  # thresholds, adds, forks, pixel shuffles: PE divides the channels
        higher = [d for d in _divisors(int(inst.get_normal_input_shape()[-1])) if d > inst.get_nodeattr("PE")]
        return [{"PE": higher[0]}] if higher else []
    return []


def _pressure(used: dict, limit: dict) -> float:
    return max(used[k] / limit[k] if limit[k] else (float("inf") if used[k] else 0.0) for k in cost.KINDS)


def _over(used: dict, limit: dict) -> list[str]:
    return [k for k in cost.KINDS if used[k] > limit[k]]


def _fold_attrs_of(graph: _Graph) -> dict:
    return {node.name: dict(graph.attrs(node)) for node in graph.model.graph.node}


def _restore(graph: _Graph, state: dict) -> None:
    for node in graph.model.graph.node:
        graph.set(node, **state[node.name])


def _start(graph: _Graph) -> None:
    """The most folded design: PE = SIMD = 1, products on MULT18X18D (Yosys' default, as a default build)."""
    for node in graph.model.graph.node:
        types = graph.get(node).get_nodeattr_types()
        graph.set(node, **{a: 1 for a in ("PE", "SIMD") if a in types})
        if "parallel_window" in types:
            graph.set(node, parallel_window=0)
        if _op(node) == "MVAU":
            graph.set(node, resType="dsp")
    for node in graph.model.graph.node:
        if _op(node) == "MVAU":
            _follow(graph, node)


def _over_budget(what: str, total: dict, limit: dict, board, advice: str = "") -> DoesNotFitBudget:
    """One sentence: ``what`` is predicted to need more of some kinds than ``board`` leaves for the accelerator."""
    over = _over(total, limit)
    return DoesNotFitBudget(f"{what} is predicted to need {', '.join(f'{total[k]:,} {k}' for k in over)}, over the "
                            f"{', '.join(f'{limit[k]:,}' for k in over)} that {board.name} leaves for the "
                            f"accelerator{advice}")


def search_folding(model, board, clock_mhz: float, fps="max", scale: dict | None = None, fpgapart: str | None = None,
                   stitch=None):
    """Fold ``model`` (in place) for ``board``; returns (model, report). ``fps``: "max" or a frame rate.
    ``stitch``: a function model -> stitched copy (FINN's width converters and FIFOs) for the final check."""
    target = None if fps == "max" else float(fps)
    if target is not None and target <= 0:
        raise FqsrError("--fps must be 'max' or a positive number of frames per second")
    graph = _Graph(model)
    _start(graph)  # the most folded input stream: the most bytes per tile in the receive buffer
    reserve = board_top_reserve(model)
    limit = budget(board, scale, reserve)
    used = cost.total(graph.costs())
    if _over(used, limit):
        buffer_ebr = reserve["BRAM"] - BOARD_TOP_RESERVE["BRAM"]
        why = (f" (the UART bridge's receive buffer, one whole input tile or frame, takes {buffer_ebr} of its "
               f"block RAM)" if buffer_ebr and "BRAM" in _over(used, limit) else "")
        raise _over_budget("even the most folded design", used, limit, board,
                           f"{why}; use a bigger board, fewer bits or a smaller model or tile")
    target_cycles = None if target is None else max(1, int(clock_mhz * 1e6 // target))
    history, binding, stop = [], None, None
    for _ in range(MAX_STEPS):
        cycles = graph.cycles()
        slowest = max(model.graph.node, key=lambda n: cycles[n.name])
        if target_cycles is not None and cycles[slowest.name] <= target_cycles:
            stop = "target reached"
            break
        driver = _driver(graph, slowest)
        moves = _moves(graph, driver, simd_only=driver is not slowest)
        if not moves:
            stop = f"{slowest.name} is fully parallel"
            break
        before = _fold_attrs_of(graph)
        best, blocked = None, []
        for move in moves:
            graph.set(driver, **move)
            if _op(driver) == "MVAU":
                _follow(graph, driver)
            trial = cost.total(graph.costs())
            faster = graph.cycles()[slowest.name] < cycles[slowest.name]
            if faster and not _over(trial, limit):
                key = (_pressure(trial, limit), graph.cycles()[slowest.name])
                if best is None or key < best[0]:
                    best = (key, _fold_attrs_of(graph), trial)
            elif faster:
                blocked.append(_over(trial, limit))
            _restore(graph, before)
        if best is None:
            kinds = sorted({k for over in blocked for k in over}, key=cost.KINDS.index)
            binding = kinds or None
            stop = f"no step of {slowest.name} fits the budget ({', '.join(kinds)})"
            break
        history.append(before)
        _restore(graph, best[1])
        used = best[2]
    # the stitched design (width converters, FIFOs) must fit too: undo steps until it does
    stitched_total, undone = None, 0
    if stitch is not None:
        while True:
            stitched = stitch(copy.deepcopy(model))
            stitched_total = cost.total(cost.graph_cost(stitched))
            if not _over(stitched_total, limit) or not history:
                break
            _restore(graph, history.pop())
            undone += 1
        if _over(stitched_total, limit):
            raise _over_budget("the most folded design with its width converters and FIFOs", stitched_total, limit,
                               board)
    cycles = graph.cycles()
    slowest = max(model.graph.node, key=lambda n: cycles[n.name])
    predicted = stitched_total or cost.total(graph.costs())
    report = {
        "board": board.name, "fps_requested": fps, "clock_mhz": clock_mhz, "budget": limit,
        "headroom": HEADROOM, "reserve": reserve, "scale": scale or {},
        "predicted": predicted, "predicted_percent": {k: round(100.0 * predicted[k] / board.capacity[k], 1)
                                                      for k in cost.KINDS},
        "cycles_per_frame": cycles[slowest.name], "slowest_node": slowest.name,
        "fps": round(clock_mhz * 1e6 / cycles[slowest.name], 3),
        "steps": len(history), "undone_for_stitching": undone, "stopped": stop,
        "binding": binding if undone == 0 else _over_after(stitched_total, limit),
        "lut_multipliers": sorted(n.name for n in model.graph.node
                                  if _op(n) == "MVAU" and graph.get(n).get_nodeattr("resType") == "lut"),
    }
    return model, report


def _over_after(total: dict, limit: dict) -> list[str]:
    """The kind closest to its limit (the stitched design's binding resource after undoing steps)."""
    return [max(cost.KINDS, key=lambda k: total[k] / limit[k] if limit[k] else 0.0)]


def binding_sentence(report: dict) -> str:
    """One line: what the search chose and what stops it going faster."""
    why = report["stopped"] or "step limit"
    binding = f"; binding resource: {', '.join(report['binding'])}" if report.get("binding") else ""
    pct = ", ".join(f"{k} {v}%" for k, v in report["predicted_percent"].items())
    return (f"folding for {report['board']}: {report['cycles_per_frame']:,} cycles per frame "
            f"({report['fps']:,} fps at {report['clock_mhz']:g} MHz), predicted {pct}; stopped: {why}{binding}")
