"""What each ``fqsr`` command prints by default: a few lines with the key facts of its report.

``--json`` prints the report itself. The facts are labelled with the report's
own keys (``equal``, ``mismatches``, ``cycles_per_frame``, ...), so every
number on screen can be found in the JSON under the same name.
"""
from __future__ import annotations

from fqsr.models.files import short_path as short


def yes_no(value) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def number(value, digits: int = 4) -> str:
    """Integers with thousands separators, floats to ``digits`` significant digits, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def tile(value) -> str:
    return "x".join(map(str, value)) if value else "n/a"


def equality(report: dict, what: str) -> str:
    """``Brevitas == QONNX: equal yes, mismatches 0 of 384 elements``."""
    return (f"{what}: equal {yes_no(report.get('equal'))}, mismatches {number(report.get('mismatches'))} "
            f"of {number(report.get('elements'))} elements")


def export_lines(report: dict) -> list[str]:
    timing = report.get("timing", {})
    lines = [f"{report['model']}: {equality(report, 'Brevitas == QONNX')}",
             f"  onnx {short(report['onnx'])} (tile {tile(report.get('tile'))}; export {number(timing.get('export_s'), 3)} s, "
             f"check {number(timing.get('check_s'), 3)} s)"]
    if report.get("untrained"):
        lines.append("  untrained yes: no checkpoint, activation ranges calibrated on the embedded images")
    if report.get("requantized"):
        lines.append(f"  requantized: {report['requantized']['note']}")
    return lines


def compile_lines(report: dict) -> list[str]:
    totals = report.get("totals") or {}
    target = ("" if report.get("target_fps") is None else
              f", target_fps {number(report['target_fps'])} met {yes_no(report.get('target_met'))}")
    reference = "Brevitas" if report.get("reference") == "brevitas" else "QONNX"
    return [f"{reference} == FINN dataflow: equal {yes_no(report.get('equal'))}, mismatches "
            f"{number(report.get('mismatches'))} of {number(report.get('elements'))} elements",
            f"  dataflow {short(report['dataflow'])} (tile {tile(report.get('tile'))}, "
            f"{len(report.get('hardware_ops') or [])} hardware op types)",
            f"  cycles_per_frame {number(report.get('cycles_per_frame'))}, fps {number(report.get('fps'))} at "
            f"clock_mhz {number(report.get('clock_mhz'))}{target}",
            "  totals (FINN estimate) " + ", ".join(f"{key} {number(value)}" for key, value in totals.items())]


def rtl_lines(report: dict) -> list[str]:
    return [f"rtl_dir {short(report['rtl_dir'])}: top {report['top']} of {report['nodes']} nodes, "
            f"{len(report['sources'])} sources (filelist.f)",
            f"  in_width {report['in_width']}, out_width {report['out_width']} bits; "
            f"rom_bits_total {number(report['rom_bits_total'])} in {len(report['roms'])} ROM files"]


def rolled_rtl_lines(report: dict) -> list[str]:
    layout = report["sdram_layout"]
    return [f"rolled_dir {short(report['rolled_dir'])}: top {report['rolled_top']}, {report['blocks']} blocks in one "
            f"engine, {len(report['top_sources'])} sources",
            f"  weights.bin {number(report['words_per_block'])} words per block; SDRAM words: weights "
            f"{number(layout['weight_words'])} at 0, frames of {number(layout['frame_words'])} at "
            f"{layout['in_addr']}, {layout['buf0_addr']}, {layout['buf1_addr']}"]


def rolled_verify_lines(report: dict) -> list[str]:
    lines = [f"{equality(report, 'rolled RTL + SDRAM model == FINN')} in {report['tiles']} tiles of "
             f"{tile(report.get('tile'))}, stall_prob {number(report.get('p_gap'))}, refresh every "
             f"{number(report.get('t_refi_ns'))} ns",
             f"  cycles_per_frame {number(report.get('cycles_per_frame'))}, block order {report.get('block_order')}, "
             f"sdram_rule {report.get('sdram_rule') or 'none broken'}"]
    scope = report.get("scope")
    if scope:
        lines.append(f"  proven: {scope['what']}")
        if scope.get("reduced"):
            lines.append(f"  differs from the build's RTL: {', '.join(scope['differs'])}")
    if report.get("deadlock"):
        lines.append("  deadlock yes")
    return lines + _first_mismatch(report)


def _first_mismatch(report: dict) -> list[str]:
    lines = []
    if report.get("first_mismatch"):
        lines.append(f"  first_mismatch {report['first_mismatch']}")
    if report.get("first_differing_node"):
        node = report["first_differing_node"]
        lines.append(f"  first_differing_node {node.get('node')} ({node.get('op_type')})")
    return lines


def verify_lines(report: dict) -> list[str]:
    what = f"RTL ({report['sim']}) == FINN"
    lines = [f"{equality(report, what)} in {report['tiles']} tiles of "
             f"{tile(report.get('tile'))}, stall_prob {number(report.get('stall_prob'))}",
             f"  cycles_per_frame {number(report.get('cycles_per_frame'))} (estimated_cycles_per_frame "
             f"{number(report.get('estimated_cycles_per_frame'))}), sim_cycles_per_s "
             f"{number(report.get('sim_cycles_per_s'))}, wall_s {number(report.get('wall_s'))}"]
    if report.get("deadlock") or report.get("wall_limited"):
        lines.append(f"  deadlock {yes_no(report.get('deadlock'))}, wall_limited {yes_no(report.get('wall_limited'))}")
    lines += _first_mismatch(report)
    sizes = report.get("frame_sizes")
    if sizes and not sizes.get("checked"):
        lines.append(f"  second frame size not checked: {sizes['why']}")
    elif sizes:  # whole frames at runtime sizes, against the quantized model
        first = sizes.get("first_mismatch")
        lines.append(f"  frames {', '.join(f'{r}x{c}' for r, c in sizes['sizes'])} (runtime geometry) == model: "
                     f"{yes_no(sizes['equal'])}, {sizes['mismatches']} of {sizes['elements']} differ"
                     + (f", first in {first['frame'][0]}x{first['frame'][1]} at NCHW {first['first_index_nchw']}"
                        if first else ""))
    if report.get("waves"):
        lines.append(f"  waves {short(report['waves'])}")
    lines.append(f"  {short(report['model_dir'])}/sim/verify.json")
    return lines


def _db(value) -> str:
    return "n/a" if value is None else f"{value:.3f} dB"


def hil_lines(report: dict) -> list[str]:
    lines = [f"{report['model']} on {report['data']} through {report['device']}: "
             f"{equality(report, 'hardware == model')}",
             f"  psnr_y_hw {_db(report.get('psnr_y_hw'))}, psnr_y_quant_model {_db(report.get('psnr_y_quant_model'))}, "
             f"psnr_y_float {_db(report.get('psnr_y_float'))}, psnr_y_bicubic {_db(report.get('psnr_y_bicubic'))}",
             (f"  images {report['images']}, each streamed whole (runtime frame geometry, no halo), sim_cycles "
              f"{number(report.get('cycles'))}, wall_s {number(report.get('wall_s'))}"
              if report.get("frames") == "whole" else
              f"  images {report['images']}, tiles {report['tiles']} of {tile(report.get('tile'))} with halo "
              f"{report['halo']}, cycles_per_tile {number(report.get('cycles_per_tile'))}, wall_s "
              f"{number(report.get('wall_s'))}"
              + (f" (tiles: {report['tiles_because']})" if report.get("tiles_because") else ""))]
    if report.get("first_mismatch"):
        lines.append(f"  first_mismatch {report['first_mismatch']}")
    lines.append(f"  {short(report['model_dir'])}/hil.json")
    return lines


def build_lines(summary: dict) -> list[str]:
    lines = [f"{summary['model']} for {summary['board']}: fits {yes_no(summary.get('fits'))}, wall_s "
             f"{number(summary.get('wall_s'))}, model_dir {short(summary['model_dir'])}"]
    if summary.get("roll"):
        lines.append(f"  rolled: the {summary['roll']} as one block engine, its weights in SDRAM "
                     f"({short(summary.get('weights'))}: sent over the UART before the first frame)")
    if summary.get("resources"):
        lines.append("  resources (Yosys) " + ", ".join(f"{k} {number(v)}" for k, v in summary["resources"].items()))
    if summary.get("fmax_mhz") is not None:
        lines.append(f"  fmax_mhz {number(summary['fmax_mhz'])} at clock_mhz {number(summary.get('clock_mhz'))}, "
                     f"timing_met {yes_no(summary.get('timing_met'))}; bitstream {short(summary.get('bitstream'))}")
    if summary.get("vivado_script"):
        lines.append(f"  vivado_script {summary['vivado_script']}")
    stages = summary.get("stages") or {}
    lines.append("  stages " + ", ".join(f"{name} {row.get('status')}" for name, row in stages.items()))
    return lines


def report_lines(report: dict) -> list[str]:
    folder = short(report["model_dir"])
    plots = ", ".join(f"{folder}/{name}" for name in (report.get("plots") or {}).values())
    return [f"{folder}/report.md: stages " + ", ".join(f"{k} {v}" for k, v in report["stages"].items()),
            "  equal " + ", ".join(f"{k} {yes_no(v)}" for k, v in report["equal"].items())
            + (f"; plots {plots}" if plots else "")]


def sweep_lines(result: dict, out) -> list[str]:
    cached = f", {result['cached']} configs from the cache" if result.get("cached") else ""
    return [f"sweep: points {result['points']}, errors {result['errors']}, seconds {number(result['seconds'])}{cached}",
            f"  {short(out)}/sweep.csv, sweep.md; plots " + ", ".join(plot["png"] for plot in (result.get("plots") or {}).values())]


def eval_lines(report: dict) -> list[str]:
    lines = [f"{report['model']} on {report['data']} (x{report['scale']}, {report['images']} images)"]
    for label in ("quant", "model", "float", "bicubic"):
        if f"psnr_y_{label}" in report:
            ssim = report.get(f"ssim_y_{label}")
            lines.append(f"  {label:8} psnr_y_{label} {_db(report[f'psnr_y_{label}'])}"
                         + (f"  ssim_y_{label} {ssim:.4f}" if ssim is not None else ""))
    if report.get("requantized"):
        lines.append(f"  requantized: {report['requantized']['note']}")
    return lines


def train_lines(result: dict) -> list[str]:
    lines = [f"trained on {result['data']} ({result['device']})"]
    lines += [f"  {key} {result[key]}" for key in ("float_checkpoint", "checkpoint") if key in result]
    lines += [f"  shipped {path}" for path in result.get("shipped", [])]
    return lines


def quantize_lines(report: dict, bits: str | None = None) -> list[str]:
    lines = [f"{report['model']}: {report['method']} quantization of {report['float_checkpoint']} in "
             f"{report['calibration_seconds']} s ({report['calibration_patches']} calibration patches of "
             f"{report['data']}); output MSE to the float twin {report['output_mse_gray']:.2f} (gray levels squared)",
             f"  checkpoint {report['checkpoint']}"]
    if "mixed_precision" in report:
        mp = report["mixed_precision"]
        primary = mp["budget"]["primary"]
        lines += [f"  bits: {mp['bits']}",
                  f"  cost {mp['cost'][primary]:,} {mp['budget']['unit']} within budget {mp['budget']['spec']}; "
                  f"at the model's own widths {mp['cost_own_widths'][primary]:,}; predicted PSNR change "
                  f"{-mp['predicted_drop_db']:+.2f} dB (sensitivity on {mp['sensitivity']['images']} images of "
                  f"{mp['sensitivity']['data']})"]
    if "qat" in report:
        lines.append(f"  after {report['qat']['iterations']} QAT iterations: {report['qat']['checkpoint']}")
    lines.append(f"  next: fqsr eval {report['model']} --checkpoint {report.get('qat', report)['checkpoint']}"
                 + (f" --bits '{bits}'" if bits else ""))
    return lines


def demo_lines(report: dict) -> list[str]:
    """Five lines: the scores, the chain of equalities, the hardware estimate, the artifacts, the picture."""
    scores, exported, compiled, picture = report["eval"], report["export"], report["compile"], report["picture"]
    quant = scores.get("psnr_y_quant", scores.get("psnr_y_model"))
    data = str(scores["data"]).rstrip("/").rsplit("/", 1)[-1]
    equal = exported["equal"] and compiled["equal"]
    totals = compiled.get("totals") or {}
    return [
        f"{report['model']} on {data} (x{scores['scale']}, {scores['images']} images): PSNR-Y quantized {_db(quant)}, "
        f"float twin {_db(scores.get('psnr_y_float'))}, bicubic {_db(scores.get('psnr_y_bicubic'))}",
        f"Brevitas == QONNX == FINN dataflow: equal {yes_no(equal)} ({number(exported['mismatches'])} of "
        f"{number(exported['elements'])} and {number(compiled['mismatches'])} of {number(compiled['elements'])} "
        f"elements differ, {tile(exported['tile'])} tiles)",
        f"FINN estimate: {number(compiled.get('cycles_per_frame'))} cycles per tile, {number(compiled.get('fps'))} "
        f"tiles/s at {number(compiled.get('clock_mhz'))} MHz, " + ", ".join(f"{k} {number(v)}" for k, v in totals.items()),
        f"artifacts: {short(report['model_dir'])}/ (model.qonnx.onnx, dataflow.onnx, estimates.json); "
        f"next: fqsr rtl {report['model']}, fqsr verify {report['model']}",
        f"picture: {short(picture['path'])} (bicubic, quantized, float twin, ground truth of {picture['image']})",
    ]
