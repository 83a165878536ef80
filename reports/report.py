"""The per-build report: ``build/<model>/report.md``, ``report.json`` and PNG plots.

Every number is read from a stage's JSON artifact in the model folder (or, for
PSNR without a hardware-in-the-loop run, from ``models/checkpoints/psnr.json``, which
``make eval-zoo`` writes from the model stage); a stage whose artifact is absent
is reported as "not run", never filled in.

Resource error: ``(FINN estimate - Yosys count) / Yosys count * 100``, i.e. how
far FINN's estimate is off the synthesized count, in percent of the latter.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from fqsr.models.files import SHIPPED_DIR, SHIPPED_PSNR_NAME
from fqsr.models.errors import FqsrError

from .tables import NOT_RUN, RESOURCES, report_markdown

# report name -> (the JSON it reads, the artifact whose provenance vouches for it)
ARTIFACTS = {
    "export": ("export.json", "export.json"), "compile": ("compile.json", "compile.json"),
    "estimates": ("estimates.json", "estimates.json"), "folding": ("folding.json", "folding.json"),
    "rtl": ("rtl/rtl.json", "rtl"), "verify": ("sim/verify.json", "sim/verify.json"),
    "resources": ("synth/resources.json", "synth/resources.json"), "pnr": ("synth/pnr.json", "synth/pnr.json"),
    "hil": ("hil.json", "hil.json"),
}
# output frames (height, width) in HR pixels
OUTPUT_FRAMES = {"720p": (720, 1280), "1080p": (1080, 1920)}
# Published streaming SR accelerators, for scale (output pixels per second):
REFERENCES = (("FINN's ESPCN on a KV260 (128x128 -> 256x256 at 45.3 images/s, 214 MHz)", 2.97),
              ("FSRCNN RTL design on a ZCU102 (720p at 60 fps; 41.9k LUT, 1,513 DSP)", 1280 * 720 * 60 / 1e6))
PSNR_JSON = SHIPPED_DIR / SHIPPED_PSNR_NAME


def read_artifacts(model_dir: Path, stale: dict | None = None) -> dict:
    """{name: parsed JSON or None} for every artifact of :data:`ARTIFACTS`; unreadable JSON is an error.

    A result whose provenance chain is broken (edited, or made from other inputs than those now in
    the folder) counts as not run; ``stale`` receives why, by name."""
    from fqsr.flows.artifacts import why_stale

    found = {}
    for name, (rel, vouched_by) in ARTIFACTS.items():
        path = Path(model_dir) / rel
        if not path.is_file():
            found[name] = None
            continue
        reason = why_stale(model_dir, vouched_by)
        if reason:
            found[name] = None
            if stale is not None:
                stale[name] = reason
            continue
        try:
            found[name] = json.loads(path.read_text())
        except ValueError:
            raise FqsrError(f"{path} is not valid JSON; rerun the stage that writes it") from None
    return found


def error_pct(estimate, actual):
    """``(estimate - actual) / actual`` in percent; None where either is missing or the actual count is 0."""
    if estimate is None or actual is None:
        return None
    if actual == 0:
        return 0.0 if estimate == 0 else None
    return round((estimate - actual) / actual * 100.0, 2)


def _side(values: dict | None, key: str | None):
    if values is None or key is None:
        return None
    value = values.get(key)
    return None if value is None else float(value)


def resource_table(estimates: dict | None, resources: dict | None) -> dict:
    """Per node and total: FINN estimate, Yosys count and the estimate's error, for LUT/FF/BRAM/DSP."""
    finn_nodes = (estimates or {}).get("layers", {})
    yosys_nodes = (resources or {}).get("nodes", {})
    names = list(finn_nodes) + [n for n in yosys_nodes if n not in finn_nodes]
    nodes = {}
    for name in names:
        finn, yosys = finn_nodes.get(name), yosys_nodes.get(name)
        row = {"op_type": (finn or {}).get("op_type")}
        for res, (finn_key, yosys_key) in RESOURCES.items():
            est = _side(finn, finn_key)
            got = _side(yosys, yosys_key) if resources is not None else None
            row[res] = {"finn": est, "yosys": got, "error_pct": error_pct(est, got)}
        if finn is not None:
            row["URAM"] = {"finn": float(finn.get("uram", 0)), "yosys": None, "error_pct": None}
        nodes[name] = row
    total = {}
    finn_totals = (estimates or {}).get("totals")
    yosys_totals = (resources or {}).get("total")
    for res, (finn_key, yosys_key) in RESOURCES.items():
        est, got = _side(finn_totals, finn_key), _side(yosys_totals, yosys_key)
        total[res] = {"finn": est, "yosys": got, "error_pct": error_pct(est, got)}
    total["URAM"] = {"finn": _side(finn_totals, "uram"), "yosys": None, "error_pct": None}
    return {
        "finn": None if estimates is None else {"fpgapart": estimates.get("fpgapart")},
        "yosys": None if resources is None else {k: resources.get(k) for k in ("target", "device", "tool")},
        "nodes": nodes, "total": total,
    }


def _scale(artifacts: dict) -> int | None:
    export = artifacts["export"] or {}
    return (export.get("config") or export.get("user_model") or {}).get("scale")


def _tile(artifacts: dict) -> tuple[int, int] | None:
    for name in ("compile", "export"):
        tile = (artifacts[name] or {}).get("tile")
        if tile:
            return int(tile[0]), int(tile[1])
    return None


def _fps(clock_mhz, cycles, tiles=1):
    if clock_mhz is None or not cycles or not tiles:
        return None
    return float(f"{clock_mhz * 1e6 / (cycles * tiles):.6g}")


def throughput(artifacts: dict, model_dir: Path) -> dict:
    """Cycles per tile (FINN's estimate, the RTL simulation's measurement) and fps for the tile, 720p and 1080p.

    A whole frame costs ``tiles_per_image`` tiles of the compiled size, cut with
    a halo equal to the network's receptive field (:mod:`fqsr.flows.tiling`).
    """
    estimates, verify, pnr = artifacts["estimates"], artifacts["verify"], artifacts["pnr"]
    tile, scale = _tile(artifacts), _scale(artifacts)
    out = {
        "tile": list(tile) if tile else None, "scale": scale,
        "estimated_cycles_per_frame": (estimates or {}).get("cycles_per_frame"),
        "estimate_clock_mhz": (estimates or {}).get("clock_mhz"),
        "measured_cycles_per_frame": (verify or {}).get("cycles_per_frame"),
        "verify_equal": (verify or {}).get("equal"),
        "fmax_mhz": (pnr or {}).get("fmax_mhz"),
        "clock_mhz": (pnr or {}).get("clock_mhz"),  # the bitstream's design clock (the PLL's)
        "references_mpix_per_s": [{"design": d, "output_mpix_per_s": round(v, 2)} for d, v in REFERENCES],
        "halo": None, "frames": {},
    }
    dataflow = Path(model_dir) / "dataflow.onnx"
    halo_note = None
    if dataflow.is_file():
        from fqsr.flows.tiling import receptive_halo

        try:
            out["halo"] = receptive_halo(dataflow)
        except FqsrError as exc:  # a graph the tiler cannot cut: the tile numbers still stand
            halo_note = str(exc)
    else:
        halo_note = "no dataflow.onnx"
    frames = {"tile": (None, None)}
    if tile and scale:
        frames.update({name: (math.ceil(h / scale), math.ceil(w / scale)) for name, (h, w) in OUTPUT_FRAMES.items()})
    for name, lr in frames.items():
        row = {"lr": None if lr[0] is None else list(lr), "tiles": 1 if name == "tile" else None, "note": None}
        if name != "tile":
            if out["halo"] is None:
                row["note"] = halo_note
            else:
                from fqsr.flows.tiling import tiles_per_image

                try:
                    row["tiles"] = tiles_per_image(lr[0], lr[1], tile[0], tile[1], out["halo"])
                except FqsrError as exc:
                    row["note"] = str(exc)
        row["fps_estimated_cycles_at_estimate_clock"] = _fps(out["estimate_clock_mhz"],
                                                             out["estimated_cycles_per_frame"], row["tiles"])
        row["fps_estimated_cycles_at_fmax"] = _fps(out["fmax_mhz"], out["estimated_cycles_per_frame"], row["tiles"])
        row["fps_measured_cycles_at_fmax"] = _fps(out["fmax_mhz"], out["measured_cycles_per_frame"], row["tiles"])
        row["fps_measured_cycles_at_clock"] = _fps(out["clock_mhz"], out["measured_cycles_per_frame"], row["tiles"])
        pixels = math.prod(OUTPUT_FRAMES[name]) if name in OUTPUT_FRAMES else \
            (math.prod(tile) * scale * scale if tile and scale else None)  # a tile's whole output, halo included
        fps = row["fps_measured_cycles_at_clock"]
        row["output_mpix_per_s"] = None if fps is None or pixels is None else float(f"{fps * pixels / 1e6:.4g}")
        out["frames"][name] = row
    return out


def psnr_table(artifacts: dict) -> dict:
    """Hardware-in-the-loop PSNR when ``hil.json`` exists, else the model stage's numbers for this exact model.

    The model stage's numbers (``models/checkpoints/psnr.json``) apply only when the
    export was of the shipped checkpoint of the registry config, unchanged.
    """
    hil, export = artifacts["hil"], artifacts["export"]
    if hil is not None:
        keys = [k for k in hil if k.startswith(("psnr_y", "ssim_y"))]
        row = {"data": hil.get("data"), **{k: hil[k] for k in keys}}
        note = (f"{hil.get('images')} images in {hil.get('tiles')} tiles on {hil.get('device')}; "
                f"hardware output equal to the quantized model: {hil.get('equal')}")
        return {"source": "hil.json", "rows": [row], "note": note}
    if export is None:
        return {"source": NOT_RUN, "rows": [], "note": "export not run"}
    if export.get("untrained"):
        return {"source": NOT_RUN, "rows": [], "note": "untrained weights (no checkpoint was exported)"}
    from fqsr.models.registry import ModelConfig, get_config

    name = export.get("model")
    config = export.get("config")
    if config is not None and ModelConfig.from_dict(config) != get_config(name):
        return {"source": NOT_RUN, "rows": [], "note": "per-layer bit overrides: no model-stage evaluation"}
    rows = []
    if PSNR_JSON.is_file():
        rows = [{"data": r.get("set") or r.get("data"),
                 **{k: v for k, v in r.items() if k.startswith(("psnr_", "ssim_"))}}
                for r in json.loads(PSNR_JSON.read_text()) if r.get("model") == name]
    if not rows:
        return {"source": NOT_RUN, "rows": [], "note": f"no model-stage evaluation of {name} in models/checkpoints/psnr.json"}
    return {"source": "models/checkpoints/psnr.json", "rows": rows}


def pipeline(artifacts: dict) -> dict:
    """Each dataflow node's estimated cycles per tile in graph order; the bottleneck; the measured total."""
    estimates = artifacts["estimates"]
    if estimates is None:
        return {"nodes": [], "bottleneck": None, "measured_cycles_per_frame": None}
    nodes = [{"name": name, "op_type": layer["op_type"], "estimated_cycles": layer["cycles"]}
             for name, layer in estimates["layers"].items()]
    return {"nodes": nodes, "bottleneck": estimates.get("bottleneck"),
            "measured_cycles_per_frame": (artifacts["verify"] or {}).get("cycles_per_frame")}


def _node_bits(rtl: dict | None, key: str) -> dict | None:
    """``rtl.json``'s ``<key>`` per node and ``<key>_total``, largest node first."""
    if rtl is None or key not in rtl:
        return None
    nodes = sorted(rtl[key].items(), key=lambda kv: -kv[1])
    return {"total_bits": rtl[f"{key}_total"], "nodes": [{"name": n, "bits": b} for n, b in nodes]}


def rom_storage(rtl: dict | None) -> dict | None:
    """The ROM bits the generated RTL stores (weights and thresholds), in total and per node, largest first."""
    return _node_bits(rtl, "rom_bits")


def buffer_storage(rtl: dict | None) -> dict | None:
    """The data buffers the generated RTL holds (line buffers, FIFOs, pixel shuffle rows), largest first."""
    return _node_bits(rtl, "buffer_bits")


def build_report(model_dir: Path) -> dict:
    """The report as a dict (what ``report.json`` holds), without writing anything."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FqsrError(f"{model_dir} does not exist; run `fqsr export MODEL` first")
    stale = {}
    artifacts = read_artifacts(model_dir, stale)
    if all(value is None for value in artifacts.values()):
        raise FqsrError(f"{model_dir} holds no stage artifacts that can be trusted; run `fqsr export MODEL` first"
                        + (f" ({next(iter(stale.values()))})" if stale else ""))
    export = artifacts["export"] or {}
    return {
        "model": export.get("model") or model_dir.name,
        "model_dir": str(model_dir),
        "stages": {name: ("done" if value is not None else f"stale: {stale[name]}" if name in stale else NOT_RUN)
                   for name, value in artifacts.items()},
        "equal": {name: (artifacts[name] or {}).get("equal") for name in ("export", "compile", "verify")},
        "verify_scope": (artifacts["verify"] or {}).get("scope"),
        "resources": resource_table(artifacts["estimates"], artifacts["resources"]),
        "throughput": throughput(artifacts, model_dir),
        "psnr": psnr_table(artifacts),
        "pipeline": pipeline(artifacts),
        "roms": rom_storage(artifacts["rtl"]),
        "buffers": buffer_storage(artifacts["rtl"]),
        "pnr": None if artifacts["pnr"] is None else
        {k: artifacts["pnr"].get(k) for k in ("board", "device", "package", "fmax_mhz", "clock_mhz", "clock_source",
                                              "timing_met", "attempts", "utilization", "bitstream")},
    }


def write_report(model_dir: Path) -> dict:
    """Write ``report.md``, ``report.json`` and the PNG plots into ``model_dir``; returns the report dict."""
    from fqsr.flows.artifacts import atomic_path, write_json

    from .plots import pipeline_plot, resource_plot

    model_dir = Path(model_dir)
    report = build_report(model_dir)
    plots = {}
    if report["pipeline"]["nodes"]:
        plots["pipeline"] = pipeline_plot(report["pipeline"], model_dir / "report_pipeline.png", report["model"]).name
    if report["resources"]["nodes"]:
        plots["resources"] = resource_plot(report["resources"], model_dir / "report_resources.png",
                                           report["model"]).name
    report["plots"] = plots
    with atomic_path(model_dir / "report.md") as tmp:
        tmp.write_text(report_markdown(report))
    write_json(model_dir / "report.json", report)
    return report
