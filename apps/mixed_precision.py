"""Sensitivity-driven mixed precision under a hardware budget: ``fqsr quantize MODEL --bits auto --budget lut=N``.

1. **Sensitivity.** Each layer group (:func:`fqsr.models.quantize.layer_groups`: one weight or activation
   role in every block) is set alone to each candidate width (2 to 8 bits) while the rest keeps MODEL's
   widths; every variant is quantized from the float twin by DAQ without training, and its Y PSNR on a
   few calibration images (central crops of the embedded photographs by default, none of them in Set5) is
   compared with MODEL's own. The drops are cached under ``build/quantize/`` (``*-sensitivity-*.json``).
2. **Cost.** Each choice is priced by the hardware it needs, one of two measures:

   - ``lut``: the ECP5 LUT4 the cost model (:mod:`fqsr.hw.cost`, calibrated against Yosys) predicts for the
     MVAU (matrix-vector unit) and thresholding nodes, at the folding ``fqsr compile`` uses without folding
     flags (PE = SIMD = 1, products written as ``*``). Every conv is one MVAU; a quantizer that reads a
     conv's output is that MVAU's thresholds, any other one a thresholding node. The accumulator width is
     the worst case of the widths (FINN narrows it to what the actual weights can reach). Sliding windows,
     FIFOs, the pixel shuffle and the adds are not counted. ``board=NAME`` is the LUT budget the folding
     search allows on that ECP5 board (:func:`fqsr.hw.folding_search.budget`).
   - ``bitops``: MACs per LR input pixel times weight bits times input bits, summed over the convs.

   The widths each node sees follow the groups' widths as the network itself propagates them
   (:func:`fqsr.models.quantize.width_dependence`: a conv's input width is its producer's output width,
   an add's is one more than its operands').
3. **Allocation.** The predicted loss of an assignment is the sum of the groups' measured drops (each
   measured with the other groups at MODEL's widths). When there are at most :data:`EXHAUSTIVE_MAX`
   assignments (espcn: 7^5) every one is priced and the least predicted loss within the budget wins, ties
   to the cheaper. Beyond that (EDSR's nine groups: 7^9) a greedy search by loss per cost: from a start,
   widen the group with the largest predicted gain per unit of added cost that stays within the budget
   (a free or cost-saving widening first), until none fits; the starts are every group at the narrowest
   width, MODEL's own widths when they fit, and the result of narrowing from the widest by least loss per
   unit of excess; the best of the three is kept.

The result is a ``--bits`` string (printed, and in the checkpoint's ``meta["mixed_precision"]``) and a DAQ
checkpoint at those widths, which export, compile, rtl and verify take with ``--bits '<string>'``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm import tqdm

from fqsr.flows.artifacts import build_root, write_json
from fqsr.hw.board import get_board
from fqsr.hw.cost import instance_cost, total
from fqsr.hw.folding_search import budget as board_budget
from fqsr.models.checkpoint import bits_spec
from fqsr.models.data import eval_pairs
from fqsr.models.errors import FqsrError
from fqsr.models.quantize import (group_bits, layer_groups, load_float_twin, quantize_to_checkpoint,
                                  sensitivity_table, width_dependence)
from fqsr.models.registry import file_stem

DEFAULT_WIDTHS = tuple(range(2, 9))
ECP5_KEYS = {"lut": "LUT", "bram": "BRAM", "dsp": "DSP"}  # budget key -> fqsr.hw.cost kind
UNITS = {"LUT": "LUT4", "BRAM": "DP16KD", "DSP": "MULT18X18D", "bitops": "bit-ops per LR pixel"}


@dataclass(frozen=True)
class Budget:
    limits: dict  # cost kind ("LUT", "BRAM", "DSP" or "bitops") -> the most it may reach
    primary: str  # the kind the allocation spends (LUT or bitops); the others are limits only
    spec: str  # as the user wrote it


OWN = "own"  # a limit written as KIND=own: what the model costs at its own widths


def parse_budget(spec: str) -> Budget:
    """``lut=N[,bram=N][,dsp=N]``, ``bitops=N`` or ``board=NAME`` (the LUT, block RAM and multiplier budget
    the folding search allows on an ECP5 board); one sentence if not. ``N`` may be ``own``: the cost of the
    model at its own widths (``bitops=own``: mixed precision at the bit-ops of uniform W4A4), filled in by
    :func:`resolve_own`."""
    limits, board = {}, None
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value or key not in (*ECP5_KEYS, "bitops", "board"):
            raise FqsrError(f"unknown budget '{item}'; give lut=N (with bram=N, dsp=N if wanted), bitops=N or "
                            f"board=NAME (e.g. board=ulx3s-85f)")
        if key == "board":
            board = value
            continue
        kind = ECP5_KEYS.get(key, key)
        if value.lower() == "own":  # the model's own widths' cost: resolved by resolve_own, model in hand
            limits[kind] = OWN
            continue
        try:
            limit = int(value.replace("_", ""))
        except ValueError:
            raise FqsrError(f"budget '{item}' needs a whole number or 'own' after '{key}='") from None
        if limit <= 0 and kind in ("LUT", "bitops"):
            raise FqsrError(f"budget '{item}' must be a positive number of {UNITS[kind]}")
        limits[kind] = limit
    if board is not None:
        if limits:
            raise FqsrError(f"budget '{spec}': give board=NAME alone, or lut=N, bram=N, dsp=N, not both")
        chosen = get_board(board)
        if chosen.target != "ecp5":
            raise FqsrError(f"board {chosen.name} is not an ECP5 board; the LUT cost model is ECP5's "
                            f"(give lut=N or an ECP5 board such as ulx3s-85f)")
        limits = {kind: value for kind, value in board_budget(chosen).items() if kind in ECP5_KEYS.values()}
    if not limits:
        raise FqsrError(f"unknown budget '{spec}'; give lut=N, bitops=N or board=NAME (e.g. board=ulx3s-85f)")
    if "bitops" in limits and len(limits) > 1:
        raise FqsrError(f"budget '{spec}' mixes bit-ops with ECP5 resources; give one or the other")
    if "bitops" not in limits and "LUT" not in limits:
        raise FqsrError(f"budget '{spec}' has no lut=N; block RAM and multipliers are limits beside a LUT budget")
    return Budget(limits, "bitops" if "bitops" in limits else "LUT", spec)


def parse_widths(spec: str | None) -> tuple[int, ...]:
    """``2-8`` or ``2,3,4,6,8`` -> the candidate widths, each from 2 to 8."""
    if not spec:
        return DEFAULT_WIDTHS
    try:
        if "-" in spec:
            lo, hi = (int(part) for part in spec.split("-"))
            widths = tuple(range(lo, hi + 1))
        else:
            widths = tuple(sorted({int(part) for part in spec.split(",") if part.strip()}))
    except ValueError:
        raise FqsrError(f"--widths '{spec}' must look like 2-8 or 2,3,4,6,8") from None
    if len(widths) < 2 or not all(2 <= w <= 8 for w in widths):
        raise FqsrError(f"--widths '{spec}' must name at least two widths from 2 to 8")
    return widths


# ---- the widths every node sees, and what they cost -------------------------------------------------------------

def node_widths(layer: dict, own: dict, assignment: dict) -> dict:
    """``layer``'s widths (in, weight, out) when the groups have ``assignment``'s widths (see
    :func:`fqsr.models.quantize.width_dependence`)."""
    widths = {}
    for key, slopes in layer["depends"].items():
        value = layer[key] + sum(slope * (assignment.get(group, own[group]) - own[group])
                                 for group, slope in slopes.items())
        widths[key] = int(round(value))
    return widths


def accumulator_bits(mw: int, in_bits: int, in_signed: bool, w_bits: int) -> int:
    """Two's complement width of a sum of ``mw`` products of such inputs and signed weights (worst case)."""
    x_lo, x_hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, (1 << in_bits) - 1)
    w_lo, w_hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    products = (x_lo * w_lo, x_lo * w_hi, x_hi * w_lo, x_hi * w_hi)
    lo, hi = mw * min(products), mw * max(products)
    return max(2, int(max(abs(lo), hi + 1)).bit_length() + 1)


def _steps(layer: dict, out_bits: int) -> int:
    """Thresholds of a quantizer at ``out_bits`` (as many fewer than 2^b - 1 as at the traced width)."""
    return (1 << out_bits) - 1 - (((1 << layer["out_bits"]) - 1) - layer["steps"])


def hardware_nodes(layers: list[dict], own: dict, assignment: dict) -> list[tuple[str, str, dict]]:
    """(layer, RTL module, parameters) of every MVAU and thresholding node at the default folding."""
    nodes = []
    for layer in layers:
        w = node_widths(layer, own, assignment)
        if layer["kind"] == "conv":
            acc = accumulator_bits(layer["mw"], w["in_bits"], layer["in_signed"], w["w_bits"])
            params = {"MW": layer["mw"], "MH": layer["mh"], "SIMD": 1, "PE": 1, "IN_BITS": w["in_bits"],
                      "W_BITS": w["w_bits"], "ACC_BITS": acc, "OUT_BITS": acc}
            if layer["quant"] is not None:
                params.update(HAS_THRESHOLDS=1, STEPS=_steps(layer, w["out_bits"]), OUT_BITS=w["out_bits"])
            nodes.append((layer["layer"], "mvau", params))
        else:
            nodes.append((layer["layer"], "thresholding", {
                "PE": 1, "CHANNELS": layer["channels"], "STEPS": _steps(layer, w["out_bits"]),
                "IN_BITS": w["in_bits"], "OUT_BITS": w["out_bits"]}))
    return nodes


def lut_cost(layers: list[dict], own: dict, assignment: dict) -> dict:
    """Predicted ECP5 counts (LUT, FF, BRAM, DSP) of the MVAU and thresholding nodes, summed."""
    return total([instance_cost(module, params) for _, module, params in hardware_nodes(layers, own, assignment)])


def bitops_cost(layers: list[dict], own: dict, assignment: dict) -> int:
    """MACs per LR input pixel x weight bits x input bits, over every conv."""
    ops = 0.0
    for layer in layers:
        if layer["kind"] == "conv":
            w = node_widths(layer, own, assignment)
            ops += layer["positions"] * layer["mw"] * layer["mh"] * w["w_bits"] * w["in_bits"]
    return int(round(ops))


def cost_function(budget: Budget, layers: list[dict], own: dict):
    """assignment -> {kind: cost} for the kinds ``budget`` limits."""
    if budget.primary == "bitops":
        return lambda assignment: {"bitops": bitops_cost(layers, own, assignment)}
    return lambda assignment: {kind: value for kind, value in lut_cost(layers, own, assignment).items()
                               if kind in budget.limits}


def resolve_own(budget: Budget, own_cost: dict) -> Budget:
    """``budget`` with every ``KIND=own`` limit replaced by ``own_cost[KIND]``, the model's cost at its own widths."""
    limits = {kind: own_cost[kind] if limit == OWN else limit for kind, limit in budget.limits.items()}
    return replace(budget, limits=limits)


def _fits(cost: dict, limits: dict) -> bool:
    return all(cost[kind] <= limit for kind, limit in limits.items())


def _amounts(cost: dict) -> str:
    return ", ".join(f"{value:,} {UNITS[kind]}" for kind, value in cost.items())


# ---- allocation ---------------------------------------------------------------------------------------------------

def check_budget(budget: Budget, cost, groups, widths, own_cost: dict) -> tuple[dict, dict]:
    """The costs of every group at the narrowest and at the widest width; a budget the first does not fit,
    or one the second fits, is one sentence."""
    low = cost({group: min(widths) for group in groups})
    high = cost({group: max(widths) for group in groups})
    context = (f"the model at its own widths costs {_amounts(own_cost)}, every group at {min(widths)} bits "
               f"{_amounts(low)}, at {max(widths)} bits {_amounts(high)}")
    if not _fits(low, budget.limits):
        raise FqsrError(f"budget {budget.spec} is below the cheapest choice, every group at {min(widths)} bits "
                        f"({context})")
    if _fits(high, budget.limits):
        raise FqsrError(f"budget {budget.spec} needs no choice: every group at {max(widths)} bits fits it "
                        f"({context}); give a smaller budget, or --bits with the widths you want")
    return low, high


EXHAUSTIVE_MAX = 50_000  # assignments: up to this many, every one is priced (espcn: 7**5 = 16,807, ~3 s)


def greedy_ascent(groups, widths, drops: dict, cost, limits: dict, primary: str,
                  start: dict | None = None) -> tuple[dict, list[dict]]:
    """Greedy widening from ``start`` (default: every group at the narrowest of ``widths``): repeatedly the
    widening (one group to any wider width) with the largest predicted gain (``drops[group][width]``, dB
    lost) per unit of added ``cost(assignment)[primary]`` among those whose cost stays within every one of
    ``limits``; a widening that costs nothing or saves comes first. Stops when no widening fits and gains.
    Returns (assignment, the steps taken)."""
    assignment = dict(start) if start else {group: min(widths) for group in groups}
    current = cost(assignment)[primary]
    steps = []
    while True:
        best = None
        for group in groups:
            for width in widths:
                if width <= assignment[group]:
                    continue
                gain = drops[group][assignment[group]] - drops[group][width]
                if gain <= 0:
                    continue
                trial = cost({**assignment, group: width})
                if not _fits(trial, limits):
                    continue
                added = trial[primary] - current
                key = (math.inf if added <= 0 else gain / added, gain)
                if best is None or key > best[0]:
                    best = (key, group, width, trial, gain)
        if best is None:
            return assignment, steps
        _, group, width, trial, gain = best
        current = trial[primary]
        steps.append({"group": group, "from": assignment[group], "to": width, "gain_db": round(gain, 4), **trial})
        assignment[group] = width


def greedy_descent(groups, widths, drops: dict, cost, limits: dict) -> dict | None:
    """Greedy narrowing from every group at the widest width until the cost fits ``limits``: each step the
    narrowing with the least predicted loss per unit of excess removed (excess: the sum over limits of the
    fraction by which the cost is over). None when no narrowing reduces the excess."""
    def excess(c):
        return sum(max(0, c[kind] - limit) / max(limit, 1) for kind, limit in limits.items())

    assignment = {group: max(widths) for group in groups}
    over = excess(cost(assignment))
    while over > 0:
        best = None
        for group in groups:
            for width in widths:
                if width >= assignment[group]:
                    continue
                trial = {**assignment, group: width}
                removed = over - excess(cost(trial))
                if removed <= 0:
                    continue
                loss = drops[group][width] - drops[group][assignment[group]]
                key = loss / removed
                if best is None or key < best[0]:
                    best = (key, trial, over - removed)
        if best is None:
            return None
        _, assignment, over = best
    return assignment


def allocate(groups, widths, drops: dict, cost, limits: dict, primary: str,
             own: dict | None = None) -> tuple[dict, dict]:
    """The assignment of ``widths`` to ``groups`` with the least predicted loss (the sum of ``drops``) whose
    ``cost`` fits ``limits``, ties to the lower ``primary`` cost. Exact (every assignment priced) up to
    :data:`EXHAUSTIVE_MAX` assignments; beyond, the best of :func:`greedy_ascent` from every group at the
    narrowest width, from ``own`` (the model's widths, when they fit) and from :func:`greedy_descent`'s
    result. Returns (assignment, how: {"method", and the greedy's steps})."""
    def score(assignment):
        return (predicted_drop(drops, assignment), cost(assignment)[primary])

    if len(widths) ** len(groups) <= EXHAUSTIVE_MAX:
        best = None
        for combo in itertools.product(widths, repeat=len(groups)):
            assignment = dict(zip(groups, combo))
            priced = cost(assignment)
            if not _fits(priced, limits):
                continue
            key = (predicted_drop(drops, assignment), priced[primary])
            if best is None or key < best[0]:
                best = (key, assignment)
        return best[1], {"method": "exhaustive", "assignments": len(widths) ** len(groups)}
    starts = {"narrowest": None}
    if own is not None and set(own.values()) <= set(widths) and _fits(cost(own), limits):
        starts["own widths"] = own
    descended = greedy_descent(groups, widths, drops, cost, limits)
    if descended is not None:
        starts["descent from the widest"] = descended
    results = {name: greedy_ascent(groups, widths, drops, cost, limits, primary, start)
               for name, start in starts.items()}
    name = min(results, key=lambda n: score(results[n][0]))
    return results[name][0], {"method": "greedy", "start": name, "steps": results[name][1]}


def predicted_drop(drops: dict, assignment: dict) -> float:
    return float(sum(drops[group][width] for group, width in assignment.items()))


# ---- the command ----------------------------------------------------------------------------------------------------

def _file_sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def measured_sensitivity(cfg, twin_path, groups, widths, own, settings, sens_data: str, sens_crop: int | None,
                         cache_dir: Path, progress: bool = True) -> dict:
    """:func:`fqsr.models.quantize.sensitivity_table` for these settings, from the cache when it was measured
    with exactly them (the same config, twin file contents, quantization settings, groups, widths, images)."""
    key = {"config": cfg.to_dict(), "twin_sha256": _file_sha(twin_path), "settings": asdict(settings),
           "groups": {k: list(v) for k, v in groups.items()}, "widths": list(widths), "data": sens_data,
           "crop": sens_crop}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    path = Path(cache_dir) / f"{file_stem(cfg)}-sensitivity-{digest}.json"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or damaged: measure
        cached = {}
    if isinstance(cached, dict) and cached.get("key") == json.loads(json.dumps(key, default=str)):
        table = cached["table"]
        for row in table["groups"].values():  # JSON keys are strings
            row["drop_db"] = {int(w): v for w, v in row["drop_db"].items()}
            row["psnr_y"] = {int(w): v for w, v in row["psnr_y"].items()}
        return {**table, "cache": str(path), "cached": True}
    pairs = eval_pairs(sens_data, cfg.scale, channels=cfg.channels, crop=sens_crop)
    twin = load_float_twin(cfg, twin_path)
    with tqdm(desc=f"sensitivity {cfg.name}", unit="variant", leave=False, disable=not progress) as bar:
        def advance(done, total, label):
            bar.total = total
            bar.set_postfix_str(label)
            bar.update(1)

        table = sensitivity_table(cfg, twin, groups, widths, own, pairs, settings, advance)
    table.update({"data": sens_data, "crop": sens_crop, "images": len(pairs)})
    write_json(path, {"key": key, "table": table})
    return {**table, "cache": str(path), "cached": False}


def quantize_auto(cfg, twin_path, out, settings, budget_spec: str, widths=DEFAULT_WIDTHS,
                  sens_data: str = "embedded:eval", sens_crop: int | None = 128, cache_dir: Path | None = None,
                  progress: bool = True, groups: dict | None = None) -> tuple[dict, object]:
    """Choose ``cfg``'s per-group widths under ``budget_spec`` and write the DAQ checkpoint at them; ``groups``
    (label -> ``--bits`` patterns) defaults to :func:`fqsr.models.quantize.layer_groups`, the layers of no
    group keep ``cfg``'s widths. Returns (report, the chosen config)."""
    budget = parse_budget(budget_spec)
    groups = groups or layer_groups(cfg)
    layers, own = width_dependence(cfg, groups)
    cost = cost_function(budget, layers, own)
    own_cost = cost({})
    budget = resolve_own(budget, own_cost)
    low, high = check_budget(budget, cost, list(groups), widths, own_cost)
    table = measured_sensitivity(cfg, twin_path, groups, widths, own, settings, sens_data, sens_crop,
                                 cache_dir or build_root() / "quantize", progress)
    drops = {label: row["drop_db"] for label, row in table["groups"].items()}
    assignment, how = allocate(list(groups), widths, drops, cost, budget.limits, budget.primary, own)
    chosen_bits = group_bits(groups, assignment)
    spec = bits_spec(chosen_bits)
    chosen = cfg.replace(bits=cfg.bits + chosen_bits)
    record = {
        "bits": spec, "assignment": assignment,
        "budget": {"spec": budget.spec, "limits": budget.limits, "primary": budget.primary,
                   "unit": UNITS[budget.primary]},
        "cost": cost(assignment), "cost_own_widths": own_cost, "cost_narrowest": low, "cost_widest": high,
        "predicted_drop_db": round(predicted_drop(drops, assignment), 4),
        "cost_measure": ("ECP5 counts of the MVAU and thresholding nodes at the default folding (fqsr.hw.cost)"
                         if budget.primary == "LUT" else "MACs per LR pixel x weight bits x input bits"),
        "allocation": how, "sensitivity": {k: v for k, v in table.items() if k != "groups"} | {
            "groups": {label: {"own_bits": row["own_bits"], "drop_db": row["drop_db"]}
                       for label, row in table["groups"].items()}},
        "ecp5": lut_cost(layers, own, assignment), "ecp5_own_widths": lut_cost(layers, own, {}),
        "bitops": bitops_cost(layers, own, assignment), "bitops_own_widths": bitops_cost(layers, own, {}),
    }
    report = quantize_to_checkpoint(chosen, twin_path, out, settings, extra={"mixed_precision": record})
    report.update(bits=spec, mixed_precision=record)
    return report, chosen
