"""Per-build reports: every number parsed from the stage artifacts, errors in percent, "not run" marking, plots."""
import json
import math
import shutil

import pytest
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.flows.artifacts import record
from fqsr.apps.cli import main
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export
from fqsr.flows.tiling import receptive_halo, tiles_per_image
from fqsr.hw.stitch import generate_rtl
from fqsr.hw.synth import yosys_resources
from fqsr.models.errors import FqsrError
from fqsr.reports.report import NOT_RUN, PSNR_JSON, error_pct, write_report
from fqsr.sim.verify import verify

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TILE = (12, 12)  # larger than twice the receptive field (4), so 720p/1080p tiling has a core
# nextpnr's numbers cost minutes of place and route; a pnr.json as fqsr.hw.synth.place_and_route writes it
PNR = {"board": "ulx3s-85f", "device": "LFE5U-85F", "package": "CABGA381", "fmax_mhz": 87.42, "clock_mhz": 25.0,
       "timing_met": True, "utilization": {"TRELLIS_COMB": {"used": 2412, "available": 83640},
                                           "DP16KD": {"used": 9, "available": 208}},
       "bitstream": None}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A small network through export -> compile -> rtl -> verify (RTL simulation) -> Yosys for ECP5."""
    folder = tmp_path_factory.mktemp("small") / "espcn_w4a4"
    model = calibrated(small("espcn_w4a4", features=4))
    export(model, tile=TILE, random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    verify(folder, tiles=2, sim="verilator", stall_prob=0.0)
    yosys_resources(folder, "ecp5")
    (folder / "synth" / "pnr.json").write_text(json.dumps(PNR))
    record(folder, "synth/pnr.json", inputs=["synth/board.json", "rtl"])  # as place_and_route records it
    return folder


def read(folder, rel):
    return json.loads((folder / rel).read_text())


def test_error_in_percent():
    assert error_pct(110, 100) == 10.0 and error_pct(90.0, 100.0) == -10.0
    assert error_pct(1, 3) == -66.67  # (1 - 3) / 3, rounded to 0.01 %
    assert error_pct(0, 0) == 0.0
    assert error_pct(5, 0) is None and error_pct(None, 4) is None and error_pct(4, None) is None


def test_rom_bits_come_from_rtl_json(build):
    report = write_report(build)
    rtl = read(build, "rtl/rtl.json")
    assert report["roms"]["total_bits"] == rtl["rom_bits_total"] == sum(rtl["rom_bits"].values()) > 0
    assert [n["bits"] for n in report["roms"]["nodes"]] == sorted(rtl["rom_bits"].values(), reverse=True)
    largest = report["roms"]["nodes"][0]
    assert f"| `{largest['name']}` | {largest['bits']:,} |" in (build / "report.md").read_text()


def test_buffer_bits_are_the_line_buffers_and_fifos(build):
    """rtl.json's buffer bits per node are what each module declares: a sliding window's ring of 2*K_H rows of
    the width, a FIFO's depth x width; the report lists them."""
    from fqsr.flows.export import load_qonnx
    from qonnx.custom_op.registry import getCustomOp

    report = write_report(build)
    rtl = read(build, "rtl/rtl.json")
    dataflow = load_qonnx(build / DATAFLOW_NAME)
    expected = {}
    for node in dataflow.graph.node:
        if node.op_type.startswith("ConvolutionInputGenerator"):
            inst = getCustomOp(node)
            k_h = inst.get_nodeattr("ConvKernelDim")[0]
            expected[node.name] = 2 * k_h * inst.get_nodeattr("IFMDim")[1] * inst.get_nodeattr("IFMChannels") * \
                inst.get_input_datatype().bitwidth()
    assert expected and all(rtl["buffer_bits"][name] == bits for name, bits in expected.items())
    assert report["buffers"]["total_bits"] == rtl["buffer_bits_total"] == sum(rtl["buffer_bits"].values())
    assert "## On-chip buffers" in (build / "report.md").read_text()


def test_resources_are_finn_beside_yosys(build):
    report = write_report(build)
    estimates, resources = read(build, "estimates.json"), read(build, "synth/resources.json")
    assert report["resources"]["yosys"]["target"] == "ecp5"
    assert set(report["resources"]["nodes"]) == set(estimates["layers"]) | set(resources["nodes"])
    checked = 0
    for name, layer in estimates["layers"].items():
        row = report["resources"]["nodes"][name]
        synth = resources["nodes"].get(name)
        assert row["LUT"]["finn"] == layer["lut"] and row["BRAM"]["finn"] == layer["bram18"]
        assert row["DSP"]["finn"] == layer["dsp"] and row["FF"]["finn"] is None  # FINN has no FF estimate
        if synth is not None:
            assert row["LUT"]["yosys"] == synth["LUT"] and row["FF"]["yosys"] == synth["FF"]
            if synth["LUT"]:
                assert row["LUT"]["error_pct"] == round((layer["lut"] - synth["LUT"]) / synth["LUT"] * 100, 2)
                checked += 1
    assert checked >= 3  # the MVAUs and sliding windows at least
    total = report["resources"]["total"]
    assert total["LUT"]["finn"] == estimates["totals"]["lut"] and total["LUT"]["yosys"] == resources["total"]["LUT"]
    assert total["LUT"]["error_pct"] == round((estimates["totals"]["lut"] - resources["total"]["LUT"])
                                              / resources["total"]["LUT"] * 100, 2)
    assert total["FF"]["yosys"] == resources["total"]["FF"] > 0


def test_throughput_from_measured_cycles_and_fmax(build):
    report = write_report(build)
    tp = report["throughput"]
    measured = read(build, "sim/verify.json")["cycles_per_frame"]
    estimated = read(build, "estimates.json")["cycles_per_frame"]
    assert tp["measured_cycles_per_frame"] == measured and tp["estimated_cycles_per_frame"] == estimated
    assert tp["fmax_mhz"] == PNR["fmax_mhz"] and tp["tile"] == list(TILE) and tp["scale"] == 2
    halo = receptive_halo(build / DATAFLOW_NAME)
    assert tp["halo"] == halo and 2 * halo < TILE[0]
    tile = tp["frames"]["tile"]
    assert tile["fps_measured_cycles_at_fmax"] == pytest.approx(87.42e6 / measured, rel=1e-5)
    assert tile["fps_estimated_cycles_at_estimate_clock"] == pytest.approx(200e6 / estimated, rel=1e-5)
    for name, (h, w) in {"720p": (720, 1280), "1080p": (1080, 1920)}.items():
        frame = tp["frames"][name]
        tiles = tiles_per_image(math.ceil(h / 2), math.ceil(w / 2), *TILE, halo)
        assert frame["lr"] == [h // 2, w // 2] and frame["tiles"] == tiles
        assert frame["fps_measured_cycles_at_fmax"] == pytest.approx(87.42e6 / measured / tiles, rel=1e-5)
        # what the bitstream delivers: measured cycles at the clock it runs at, in output pixels per second
        at_clock = PNR["clock_mhz"] * 1e6 / measured / tiles
        assert frame["fps_measured_cycles_at_clock"] == pytest.approx(at_clock, rel=1e-5)
        assert frame["output_mpix_per_s"] == pytest.approx(at_clock * h * w / 1e6, rel=1e-3)
    md = (build / "report.md").read_text()
    assert "FINN's ESPCN on a KV260" in md and "2.97 Mpixel/s" in md
    assert f"{PNR['fmax_mhz']:.2f} MHz" in md and f"{tp['frames']['720p']['tiles']:,}" in md


def test_pipeline_plot_and_bottleneck(build):
    report = write_report(build)
    estimates = read(build, "estimates.json")
    pipeline = report["pipeline"]
    assert [n["name"] for n in pipeline["nodes"]] == list(estimates["layers"])
    assert pipeline["bottleneck"] == estimates["bottleneck"]
    assert max(pipeline["nodes"], key=lambda n: n["estimated_cycles"])["name"] == pipeline["bottleneck"]
    for name in ("report_pipeline.png", "report_resources.png"):
        png = build / name
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    md = (build / "report.md").read_text()
    assert f"`{pipeline['bottleneck']}` | " in md and "**(bottleneck)**" in md
    assert json.loads((build / "report.json").read_text())["plots"] == report["plots"]


def test_stages_not_run_are_marked(build, tmp_path):
    partial = tmp_path / "espcn_w4a4"
    partial.mkdir()
    for name in ("export.json", "compile.json", "estimates.json", "folding.json", DATAFLOW_NAME, ONNX_NAME,
                 "provenance.json"):
        shutil.copy(build / name, partial / name)
    report = write_report(partial)
    assert report["stages"]["verify"] == report["stages"]["resources"] == report["stages"]["pnr"] == NOT_RUN
    assert report["resources"]["yosys"] is None
    assert all(row["LUT"]["yosys"] is None and row["LUT"]["error_pct"] is None
               for row in report["resources"]["nodes"].values())
    tp = report["throughput"]
    assert tp["measured_cycles_per_frame"] is None and tp["fmax_mhz"] is None
    assert all(f["fps_measured_cycles_at_fmax"] is None and f["fps_estimated_cycles_at_estimate_clock"] > 0
               for f in tp["frames"].values())
    assert report["psnr"]["source"] == NOT_RUN and "untrained" in report["psnr"]["note"]
    md = (partial / "report.md").read_text()
    assert "| verify | not run |" in md and "nextpnr Fmax not run" in md
    lut_row = next(line for line in md.splitlines() if line.startswith("| **total**"))
    assert lut_row.count(NOT_RUN) == 8  # Yosys count and error of LUT, FF, BRAM, DSP
    assert (partial / "report_pipeline.png").is_file()


def test_psnr_from_hil_json_and_from_the_model_stage(build, tmp_path):
    folder = tmp_path / "espcn_w8a8"
    folder.mkdir()
    exported = read(build, "export.json")
    from fqsr.models.registry import get_config

    (folder / "export.json").write_text(json.dumps({**exported, "model": "espcn_w8a8", "untrained": False,
                                                    "config": get_config("espcn_w8a8").to_dict()}))
    record(folder, "export.json")  # as the stages record what they write
    report = write_report(folder)
    shipped = [r for r in json.loads(PSNR_JSON.read_text())
               if r["model"] == "espcn_w8a8"]
    assert report["psnr"]["source"] == "models/checkpoints/psnr.json" and len(report["psnr"]["rows"]) == len(shipped) > 0
    assert [r["psnr_y_quant"] for r in report["psnr"]["rows"]] == [r["psnr_y_quant"] for r in shipped]
    hil = {"psnr_y_hw": 35.2011, "psnr_y_quant_model": 35.2011, "psnr_y_float": 35.24, "psnr_y_bicubic": 33.63,
           "data": "Set5", "tiles": 120, "images": 5, "device": "rtlsim", "equal": True, "psnr_equal": True}
    (folder / "hil.json").write_text(json.dumps(hil))
    record(folder, "hil.json")
    report = write_report(folder)
    assert report["psnr"]["source"] == "hil.json"
    assert report["psnr"]["rows"] == [{"data": "Set5", **{k: v for k, v in hil.items() if k.startswith("psnr_y")}}]
    md = (folder / "report.md").read_text()
    assert "35.2011" in md and "5 images in 120 tiles on rtlsim" in md


def test_cli_report(build, tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["report", "espcn_w4a4", "--out-dir", str(build)])
    assert done.exit_code == 0, done.output
    assert "verify done" in done.stdout and (build / "report.md").is_file()
    missing = runner.invoke(main, ["report", "espcn_w4a4", "--out-dir", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "run `fqsr export MODEL` first" in missing.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "estimates.json").write_text("{")
    with pytest.raises(FqsrError, match="no stage artifacts that can be trusted.*no provenance record"):
        write_report(tmp_path / "broken")
    record(tmp_path / "broken", "estimates.json")  # recorded, yet not JSON
    with pytest.raises(FqsrError, match="not valid JSON"):
        write_report(tmp_path / "broken")
    assert not (tmp_path / "broken" / "report.md").exists()
