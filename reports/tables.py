"""Markdown for the per-build report: resources, throughput, PSNR, pipeline."""
from __future__ import annotations

NOT_RUN = "not run"
# report resource name -> (FINN estimates.json key, Yosys resources.json key); FINN does not estimate FFs
RESOURCES = {"LUT": ("lut", "LUT"), "FF": (None, "FF"), "BRAM": ("bram18", "BRAM"), "DSP": ("dsp", "DSP")}


def number(value, digits: int = 0) -> str:
    if value is None:
        return NOT_RUN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and digits == 0 and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def mhz(value) -> str:
    return NOT_RUN if value is None else f"{value:.2f} MHz"


def significant(value) -> str:
    """Frame rates span 1e-3..1e6: four significant digits."""
    if value is None:
        return NOT_RUN
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _resource_cells(entry: dict, res: str, synth_ran: bool) -> list[str]:
    finn = "—" if RESOURCES[res][0] is None else number(entry["finn"])
    yosys = number(entry["yosys"]) if synth_ran else NOT_RUN
    if not synth_ran:
        err = NOT_RUN
    elif entry["error_pct"] is None:
        err = "—"
    else:
        err = f"{entry['error_pct']:+.1f}%"
    return [finn, yosys, err]


def resource_lines(resources: dict) -> list[str]:
    synth_ran = resources["yosys"] is not None
    finn_part = (resources["finn"] or {}).get("fpgapart", NOT_RUN)
    yosys = resources["yosys"] or {}
    lines = ["## Resources", "",
             f"FINN estimate for `{finn_part}`; Yosys: "
             + (f"{yosys.get('tool')} for {yosys.get('target')} (`{yosys.get('device')}`)" if synth_ran else NOT_RUN)
             + ". Error = (FINN - Yosys) / Yosys. FINN does not estimate flip-flops (—). "
               "BRAM in 18-Kbit blocks on both sides. Yosys keeps each node a module, so nothing is optimized "
               "across node boundaries.", ""]
    header = ["node", "op"] + [f"{res} {side}" for res in RESOURCES for side in ("FINN", "Yosys", "err")]
    rows = []
    for name, row in resources["nodes"].items():
        cells = [f"`{name}`", row["op_type"] or "—"]
        for res in RESOURCES:
            cells += _resource_cells(row[res], res, synth_ran)
        rows.append(cells)
    total = ["**total**", ""]
    for res in RESOURCES:
        total += _resource_cells(resources["total"][res], res, synth_ran)
    rows.append(total)
    lines += table(header, rows)
    uram = resources["total"]["URAM"]["finn"]
    if uram:
        lines += ["", f"FINN also places {number(uram)} UltraRAM blocks (deep FIFOs) on `{finn_part}`."]
    return lines + [""]


FPS_COLUMNS = ("fps_estimated_cycles_at_estimate_clock", "fps_estimated_cycles_at_fmax", "fps_measured_cycles_at_fmax",
               "fps_measured_cycles_at_clock")


def throughput_lines(tp: dict) -> list[str]:
    tile = "x".join(map(str, tp["tile"])) if tp["tile"] else NOT_RUN
    lines = ["## Throughput", "",
             f"- compiled LR tile: {tile}, upscaling x{tp['scale'] or '?'}, halo {number(tp['halo'])} LR pixels",
             f"- cycles per tile: FINN estimate {number(tp['estimated_cycles_per_frame'])}, "
             f"measured in RTL simulation {number(tp['measured_cycles_per_frame'])}"
             + ("" if tp["verify_equal"] is None else f" (bit-exact: {number(tp['verify_equal'])})"),
             f"- clock: FINN estimate clock {mhz(tp['estimate_clock_mhz'])}, nextpnr Fmax {mhz(tp['fmax_mhz'])}, "
             f"the bitstream's clock {mhz(tp.get('clock_mhz'))}", ""]
    header = ["output frame", "LR input", "tiles", "fps (est. cycles @ est. clock)", "fps (est. cycles @ Fmax)",
              "fps (measured cycles @ Fmax)", "fps (measured cycles @ the bitstream's clock)",
              "output Mpixel/s (measured @ clock)"]
    rows = []
    for name, row in tp["frames"].items():
        lr = "x".join(map(str, row["lr"])) if row["lr"] else tile
        cells = [name, lr, number(row["tiles"])]
        cells += [significant(row[k]) for k in (*FPS_COLUMNS, "output_mpix_per_s")]
        rows.append(cells)
    lines += table(header, rows)
    lines += ["", "For scale: " + "; ".join(f"{r['design']}: {r['output_mpix_per_s']:g} Mpixel/s"
                                          for r in tp.get("references_mpix_per_s", [])) + "."]
    notes = {row["note"] for row in tp["frames"].values() if row["note"]}
    lines += [f"\n_{note}_" for note in sorted(notes)]
    return lines + [""]


def psnr_lines(psnr: dict) -> list[str]:
    lines = ["## PSNR", "", f"Source: {psnr['source']}" + (f" ({psnr['note']})" if psnr.get("note") else ""), ""]
    if not psnr["rows"]:
        return lines
    keys = sorted({k for row in psnr["rows"] for k in row if k != "data"})
    lines += table(["data"] + keys, [[str(row.get("data"))] + [number(row.get(k), 4) for k in keys]
                                     for row in psnr["rows"]])
    return lines + [""]


def pipeline_lines(pipeline: dict, plots: dict) -> list[str]:
    lines = ["## Dataflow pipeline", ""]
    if not pipeline["nodes"]:
        return lines + [f"Compile {NOT_RUN}.", ""]
    if "pipeline" in plots:
        lines += [f"![pipeline]({plots['pipeline']})", ""]
    lines += [f"Bottleneck: `{pipeline['bottleneck']}`; measured cycles per tile: "
              f"{number(pipeline['measured_cycles_per_frame'])}.", ""]
    rows = [[f"`{n['name']}`", n["op_type"], number(n["estimated_cycles"])
             + (" **(bottleneck)**" if n["name"] == pipeline["bottleneck"] else "")] for n in pipeline["nodes"]]
    return lines + table(["node", "op", "estimated cycles per tile"], rows) + [""]


def _bits_lines(title: str, summary: str, storage: dict, column: str, largest: int) -> list[str]:
    """A storage section: its sentence, then the largest nodes with their bits and share of the total."""
    total = storage["total_bits"]
    rows = [[f"`{n['name']}`", number(n["bits"]), f"{100.0 * n['bits'] / max(1, total):.1f}%"]
            for n in storage["nodes"][:largest]]
    return [f"## {title}", "", summary, ""] + table(["node", column, "share"], rows) + [""]


def buffer_lines(buffers: dict | None, tile, largest: int = 8) -> list[str]:
    if not buffers:
        return []
    geometry = f" at an LR width of {tile[1]} pixels" if tile else ""
    return _bits_lines("On-chip buffers",
                       f"Line buffers, FIFOs and pixel-shuffle rows hold {number(buffers['total_bits'])} bits "
                       f"({buffers['total_bits'] / 1e6:.2f} Mbit){geometry} (`rtl/rtl.json`); they grow with the "
                       f"width. Largest:", buffers, "buffer bits", largest)


def rom_lines(roms: dict | None, largest: int = 5) -> list[str]:
    if roms is None:
        return []
    return _bits_lines("On-chip ROMs",
                       f"The RTL stores {number(roms['total_bits'])} bits ({roms['total_bits'] / 1e6:.2f} Mbit) of "
                       f"weights and thresholds (`rtl/rtl.json`); every node's ROMs are on chip. Largest:",
                       roms, "ROM bits", largest)


def report_markdown(report: dict) -> str:
    lines = [f"# fqsr build report: {report['model']}", "",
             "Every number below is read from this build's artifacts; absent stages are marked "
             f"\"{NOT_RUN}\".", ""]
    lines += table(["stage artifact", "state", "bit-exact"],
                   [[name, state, number(report["equal"].get(name)) if name in report["equal"] else ""]
                    for name, state in report["stages"].items()])
    lines.append("")
    scope = report.get("verify_scope")
    if scope:  # a rolled design's verify says what it proved (a smaller tile when the build's own was too long)
        lines += [f"Verify proved: {scope['what']}."]
        if scope.get("reduced"):
            lines += [f"It differs from the build's RTL in: {', '.join(scope['differs'])}."]
        lines.append("")
    if report.get("pnr"):
        pnr = report["pnr"]
        lines += ["## Place and route", "",
                  f"Board {pnr['board']} (`{pnr['device']}`, {pnr['package']}): Fmax {mhz(pnr['fmax_mhz'])} "
                  f"for a {mhz(pnr['clock_mhz'])} board clock; bitstream {pnr['bitstream'] or NOT_RUN}.", ""]
        util = {bel: u for bel, u in (pnr.get("utilization") or {}).items() if u.get("used")}  # bels in use
        lines += table(["bel", "used", "available"],
                       [[bel, number(u.get("used")), number(u.get("available"))] for bel, u in util.items()]) + [""]
    lines += rom_lines(report.get("roms"))
    lines += buffer_lines(report.get("buffers"), report.get("throughput", {}).get("tile"))
    lines += resource_lines(report["resources"])
    if "resources" in report.get("plots", {}):
        lines += [f"![resources]({report['plots']['resources']})", ""]
    lines += throughput_lines(report["throughput"])
    lines += psnr_lines(report["psnr"])
    lines += pipeline_lines(report["pipeline"], report.get("plots", {}))
    return "\n".join(lines) + "\n"
