"""FINN's estimate reports (per-layer LUT, BRAM, URAM, DSP, cycles), totals and fps at a clock."""
from __future__ import annotations


def estimates(model, fpgapart: str, clock_mhz: float) -> dict:
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    resources = model.analysis(lambda m: res_estimation(m, fpgapart))
    cycles = model.analysis(exp_cycles_per_layer)
    layers = {}
    for node in model.graph.node:
        if node.name not in cycles:
            continue
        res = resources.get(node.name, {})
        layers[node.name] = {
            "op_type": node.op_type, "cycles": int(cycles[node.name]),
            "lut": float(res.get("LUT", 0)), "bram18": float(res.get("BRAM_18K", 0)),
            "uram": float(res.get("URAM", 0)), "dsp": float(res.get("DSP", 0)),
        }
    totals = {key: sum(layer[key] for layer in layers.values()) for key in ("lut", "bram18", "uram", "dsp")}
    slowest = max(layers, key=lambda name: layers[name]["cycles"])
    cycles_per_frame = layers[slowest]["cycles"]
    return {
        "fpgapart": fpgapart, "clock_mhz": clock_mhz, "layers": layers, "totals": totals,
        "cycles_per_frame": cycles_per_frame, "bottleneck": slowest,
        "fps": round(clock_mhz * 1e6 / cycles_per_frame, 3),
    }
