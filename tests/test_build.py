"""``fqsr build``: stages skipped when up to date, the fit / does-not-fit paths, a real place and route and
bitstream of a small network, and bad input."""
import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fqsr.apps.cli import main
from fqsr.apps.summary import build_lines
from fqsr.hw import board as board_module
from fqsr.hw.synth import place_and_route
from fqsr.models.errors import FqsrError
from test_synth import SMALL_NAME, small_network


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return small_network(tmp_path_factory.getbasetemp())


def fresh_copy(folder, tmp_path):
    out = tmp_path / folder.name
    shutil.copytree(folder, out)  # copy2 keeps the mtimes: the stages stay up to date
    return out


def build(folder, *args):
    return CliRunner().invoke(main, ["build", SMALL_NAME, "--out-dir", str(folder), "--tile", "4x4",
                                     "--verify-tiles", "1", "--json", *args])


def test_small_network_fits_the_85f_and_gets_a_bitstream(network, tmp_path):
    folder = fresh_copy(network, tmp_path)
    result = build(folder)
    assert result.exit_code == 0, result.output
    for stage in ("export", "compile", "rtl", "synth"):
        assert f"{stage:8} skipped (up to date)" in result.stderr
    for stage in ("storage", "verify", "fit", "pnr", "report"):
        assert f"{stage:8} done in" in result.stderr
    summary = json.loads(result.stdout)
    assert "fits yes" in "\n".join(build_lines(summary))
    # The folder holds a 4-feature export, not the zoo network the build would load again: the second frame size
    # is judged by the network as exported (its copy beside the ONNX), whole and equal
    sizes = json.loads((folder / "sim" / "verify.json").read_text())["frame_sizes"]
    assert sizes["checked"] is True and sizes["equal"] is True, sizes
    assert len(sizes["sizes"]) == 2 and sizes["sizes"][1] != sizes["sizes"][0]
    pnr = json.loads((folder / "synth" / "pnr.json").read_text())
    bit = folder / "synth" / f"{folder.name}.bit"
    assert summary["bitstream"] == pnr["bitstream"] == str(bit.resolve())
    assert bit.stat().st_size > 100_000  # a whole (compressed) ECP5 bitstream, not an empty file
    nextpnr = json.loads((folder / "synth" / "nextpnr-report.json").read_text())
    # Fmax and utilization are nextpnr's own numbers, parsed, not re-typed
    assert pnr["fmax_mhz"] == round(max(v["achieved"] for v in nextpnr["fmax"].values()), 2) > 0
    # the PLL's clock: the board's 100 MHz, or a step below the Fmax a failed attempt reached
    assert pnr["requested_clock_mhz"] == 100.0 and pnr["clock_source"] == "pll"
    assert pnr["attempts"][0]["clock_mhz"] == 100.0 and pnr["attempts"][-1]["clock_mhz"] == pnr["clock_mhz"]
    assert pnr["timing_met"] == (pnr["fmax_mhz"] >= pnr["clock_mhz"])
    assert all(not a["timing_met"] for a in pnr["attempts"][:-1])
    assert pnr["utilization"]["TRELLIS_COMB"]["available"] == 83640
    assert 0 < pnr["utilization"]["TRELLIS_COMB"]["used"] < 83640
    assert pnr["utilization"]["TRELLIS_IO"]["used"] == 12  # clock, 2 UART lines, button, 8 LEDs
    assert pnr["utilization"]["EHXPLLL"]["used"] == 1
    assert (folder / "report.md").is_file()
    # everything is up to date now: a second build skips to the fit check
    again = build(folder)
    assert again.exit_code == 0 and "pnr      skipped (up to date)" in again.stderr, again.output


def test_too_small_a_device_stops_before_place_and_route(network, tmp_path, monkeypatch):
    folder = fresh_copy(network, tmp_path)
    tiny = dataclasses.replace(board_module.BOARDS["ulx3s-25f"], name="ulx3s-tiny",
                               capacity={"LUT": 200, "FF": 100_000, "BRAM": 100, "DSP": 100})
    monkeypatch.setitem(board_module.BOARDS, "ulx3s-tiny", tiny)
    result = build(folder, "--board", "ulx3s-tiny")
    assert result.exit_code == 2, result.output
    assert "does not fit ulx3s-tiny" in result.stderr and "LUT over capacity" in result.stderr
    assert "<- over" in result.stderr and "lower --target-fps" in result.stderr
    assert "Place and route was not run" in result.stderr and "smaller --tile" in result.stderr
    assert "verify   ..." not in result.stderr  # no simulation of a design that cannot fit
    assert not (folder / "synth" / "pnr.json").exists() and not list((folder / "synth").glob("*.bit"))
    built = json.loads((folder / "build.json").read_text())
    assert built["fits"] is False and built["stages"]["pnr"]["status"] == "not run"


def test_roms_beyond_all_device_storage_stop_before_synthesis(network, tmp_path, monkeypatch):
    """The storage check needs only rtl.json: a device that could not hold the ROM bits even with every
    LUT as ROM stops the build before verify and Yosys, with the bits it counted."""
    folder = fresh_copy(network, tmp_path)
    (folder / "synth" / "resources.json").unlink()  # nothing downstream may be needed or made
    rom_bits = json.loads((folder / "rtl" / "rtl.json").read_text())["rom_bits_total"]
    tiny = dataclasses.replace(board_module.BOARDS["ulx3s-25f"], name="ulx3s-tiny",
                               capacity={"LUT": 2, "FF": 100_000, "BRAM": 0, "DSP": 100})
    assert tiny.storage_bits() == 32 < rom_bits
    monkeypatch.setitem(board_module.BOARDS, "ulx3s-tiny", tiny)
    result = build(folder, "--board", "ulx3s-tiny")
    assert result.exit_code == 2, result.output
    assert f"ROMs hold {rom_bits / 1e6:.2f} Mbit" in result.stderr and "Synthesis and place and route were not run" \
        in result.stderr
    assert "verify   ..." not in result.stderr and not (folder / "synth" / "resources.json").exists()
    built = json.loads((folder / "build.json").read_text())
    assert built["fits"] is False and built["stages"]["storage"]["status"] == "failed"
    assert built["over"]["ROM bits"] == {"used": rom_bits, "available": 32, "percent": round(100 * rom_bits / 32, 1)}
    assert (folder / "report.md").is_file()


def test_line_buffers_count_in_the_storage_check():
    """ROMs that fit but leave no room for a wide frame's line buffers stop the same way, naming the buffers."""
    from fqsr.hw.synth import DoesNotFit, check_storage

    board = board_module.get_board("ulx3s-25f")
    capacity = board.storage_bits()
    row = check_storage(capacity // 2, board, "net", buffer_bits=capacity // 4)
    assert row["buffer_bits"] == capacity // 4 and row["percent"] == round(100 * (capacity // 2 + capacity // 4)
                                                                           / capacity, 1)
    with pytest.raises(DoesNotFit) as err:
        check_storage(capacity // 2, board, "net", buffer_bits=capacity, buffers={"sw_0": capacity})
    assert "line buffers and FIFOs" in str(err.value) and "sw_0" in str(err.value) and "narrower frame" in str(err.value)
    assert err.value.table["ROM + buffer bits"]["used"] == capacity // 2 + capacity


def test_xilinx_board_gets_yosys_counts_reports_and_a_vivado_run(network, tmp_path, monkeypatch):
    """pynq-z2: Yosys synth_xilinx counts, fit, verify, reports, and the Vivado script for the same RTL; without
    vivado the build says so (exit 2); with a vivado on PATH the pnr stage runs it and reads its JSON back."""
    folder = fresh_copy(network, tmp_path)
    # a machine without Vivado: drop any PATH entry that holds one
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                                if not (Path(d) / "vivado").exists()))
    result = build(folder, "--board", "pynq-z2")
    assert result.exit_code == 2, result.output
    assert "Vivado is needed to place and route" in result.stderr and "vivado is not on PATH" in result.stderr
    resources = json.loads((folder / "synth" / "resources.json").read_text())
    assert resources["target"] == "xc7" and resources["total"]["LUT"] > 0
    script = (folder / "synth" / "vivado" / "fqsr_impl.tcl").read_text()
    assert "synth_design -top fqsr_top -part xc7z020clg400-1 -mode out_of_context" in script
    assert "create_clock -name ap_clk -period 10.000 [get_ports ap_clk]" in script
    rtl = json.loads((folder / "rtl" / "rtl.json").read_text())
    assert all(f"read_verilog {{../../rtl/{name}}}" in script for name in rtl["sources"])
    assert all(f"file copy -force {{../../rtl/{name}}} ." in script for name in rtl["roms"])
    built = json.loads((folder / "build.json").read_text())
    assert built["stages"]["pnr"] == {"status": "not run", "reason": "vivado is not on PATH"}
    assert (folder / "report.md").is_file()

    fake = tmp_path / "bin" / "vivado"  # writes what fqsr_impl.tcl writes: 10 ns period, 1.5 ns slack
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"$@\" > args.txt\necho '{\"part\": \"xc7z020clg400-1\", \"period_ns\": 10.000, "
                    "\"wns_ns\": 1.500, \"lut\": 1234, \"ff\": 567, \"bram_cells\": 2, \"dsp\": 9}' > vivado.json\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent) + ":" + os.environ["PATH"])
    result = build(folder, "--board", "pynq-z2")
    assert result.exit_code == 2, result.output
    for stage in ("export", "compile", "rtl", "synth", "verify"):
        assert f"{stage:8} skipped (up to date)" in result.stderr
    assert "pnr      done in" in result.stderr and "Fmax 117.65 MHz" in result.stderr
    assert "needs the Zynq processing system and a DMA" in result.stderr
    args = (folder / "synth" / "vivado" / "args.txt").read_text()
    assert "-mode batch" in args and "-source fqsr_impl.tcl" in args
    report = json.loads((folder / "synth" / "vivado" / "vivado.json").read_text())
    assert report["fmax_mhz"] == 117.65 and report["timing_met"] is True and report["lut"] == 1234
    again = build(folder, "--board", "pynq-z2")  # an up-to-date Vivado result is not made again
    assert again.exit_code == 2 and "pnr      skipped (up to date)" in again.stderr and "Fmax 117.65" in again.stderr


def test_storage_bound_of_the_boards():
    """EBR + 16 bits per LUT4 on ECP5; BRAM + UltraRAM + 64 bits per LUT6 on UltraScale+."""
    assert board_module.get_board("ulx3s-85f").storage_bits() == 208 * 18432 + 83640 * 16
    assert board_module.get_board("kv260").storage_bits() == 288 * 18432 + 64 * 294912 + 117120 * 64
    # edsr_w4a4's 1,367,424 4-bit weights alone exceed everything an 85F could store
    assert 1_367_424 * 4 > board_module.get_board("ulx3s-85f").storage_bits()


def test_bad_input(network, tmp_path):
    result = build(tmp_path / "x", "--board", "ulx3s-12f")
    assert result.exit_code == 2 and "unknown board 'ulx3s-12f'" in result.stderr
    result = build(tmp_path / "x", "--verify-tiles", "0")
    assert result.exit_code == 2 and "--verify-tiles must be at least 1" in result.stderr
    with pytest.raises(FqsrError, match="fqsr rtl MODEL"):
        place_and_route(tmp_path, "ulx3s-85f")
    with pytest.raises(FqsrError, match="Vivado is needed for a Xilinx bitstream"):
        place_and_route(network, "pynq-z2")
