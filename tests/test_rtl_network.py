"""Whole networks in RTL: dataflow.onnx -> stitched top -> simulated under random stalls == FINN's execution.

The default simulator is the compiled harness (fqsr.sim.harness); one test proves it drives
exactly what the cocotb bench drives (beats and cycle stamps), one runs the cocotb bench on Icarus."""
import json
import re
import shutil

import pytest
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.apps.cli import main
from fqsr.apps.summary import verify_lines
from fqsr.flows.artifacts import RTL_DIRNAME, record
from fqsr.flows.compile import DATAFLOW_NAME, compile_model
from fqsr.flows.export import ONNX_NAME, export, load_qonnx
from fqsr.hw.stitch import TOP_NAME, generate_rtl, rom_files, rtl_sources
from fqsr.models.errors import FqsrError
from fqsr.sim.runner import verilator_fst_supported
from fqsr.sim.verify import simulate, verify

MODELS = {"tiny_w4a4": dict(features=4, blocks=1), "espcn_w4a4_x3": dict(features=4)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = {}
    for name, changes in MODELS.items():
        folder = tmp_path_factory.mktemp(name)
        model = calibrated(small(name, **changes))
        export(model, tile=(4, 4), random_tiles=1, out_dir=folder)
        compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
        out[name] = (folder, generate_rtl(folder / DATAFLOW_NAME, folder))
    return out


def test_stitched_top_connects_every_node(built):
    folder, summary = built["tiny_w4a4"]
    graph = load_qonnx(folder / DATAFLOW_NAME)
    rtl = folder / "rtl"
    top = (rtl / "top.v").read_text()
    assert f"module {TOP_NAME} (" in top
    for node in graph.graph.node:
        assert f"    {node.name} {node.name}_i (" in top
        assert (rtl / f"{node.name}.v").is_file()
    # a fork has two outputs, an add two inputs
    assert re.search(r"DuplicateStreams_hls_0 DuplicateStreams_hls_0_i \([^;]*\.out1_tdata", top)
    assert re.search(r"ElementwiseAdd_hls_0 ElementwiseAdd_hls_0_i \([^;]*\.in1_tdata", top)
    sources = rtl_sources(rtl)
    assert all(src.is_file() for src in sources) and sources[-1].name == "top.v"
    text = "".join(p.read_text() for p in sources)
    # relocatable: ROM files are named by bare file name, present in the folder; no absolute path anywhere
    roms = re.findall(r'"([^"]+\.mem)"', text)
    assert roms and all("/" not in m and (rtl / m).is_file() for m in roms)
    # threshold ROMs are named by prefix: <prefix>_p<lane>_s<stage>.mem, one per lane and search stage
    prefixes = re.findall(r'\.THRESHOLDS_PREFIX\("([^"/]+)"\)', text)
    staged = [p.name for p in rom_files(rtl) if any(re.fullmatch(re.escape(x) + r"_p\d{3}_s\d\.mem", p.name)
                                                     for x in prefixes)]
    assert prefixes and staged
    assert sorted(roms + staged) == sorted(summary["roms"]) == sorted(p.name for p in rom_files(rtl))
    assert str(folder.resolve()) not in text and '"/' not in text
    assert summary["nodes"] == len(graph.graph.node) and not list(folder.glob(".rtl.*"))


def test_moved_rtl_folder_elaborates_cleanly_in_yosys(built, tmp_path):
    from test_rtl_yosys import yosys_check

    folder, _ = built["tiny_w4a4"]
    moved = tmp_path / "vendor_project" / "fqsr"
    shutil.copytree(folder / "rtl", moved)  # anywhere else: nothing points back into build/
    log = yosys_check([p.name for p in rtl_sources(moved)], TOP_NAME, moved)
    assert "Found and reported 0 problems." in log
    # the ROM contents were read (a missing .mem file is an error, not an empty ROM)
    next(moved.glob("MVAU_*_weights.mem")).unlink()
    with pytest.raises(AssertionError, match="Can not open file"):
        yosys_check([p.name for p in rtl_sources(moved)], TOP_NAME, moved)


@pytest.mark.parametrize("name", list(MODELS))
def test_network_equals_finn_under_stalls(built, name):
    folder, _ = built[name]
    report = verify(folder, tiles=2, stall_prob=0.3, seed=1)
    assert report["sim"] == "verilator" and report["equal"] and report["mismatches"] == 0, report
    assert report["elements"] > 0 and report["extra_beats"] == 0
    # steady state within 5% of FINN's estimate of the slowest node (the dataflow ideal)
    assert 0.95 <= report["cycles_per_frame"] / report["estimated_cycles_per_frame"] <= 1.05, report
    assert json.loads((folder / "sim" / "verify.json").read_text())["equal"]


def test_harness_drives_exactly_what_the_cocotb_bench_drives(built, tmp_path):
    """Same seeds, same random gaps and stalls: every output beat and the cycle it left the top are equal,
    phase boundaries, first input cycle and the total cycle count included."""
    import random

    folder, _ = built["tiny_w4a4"]
    sources = rtl_sources(folder / "rtl")
    rng = random.Random(3)
    beats = [rng.randrange(256) for _ in range(2 * 48)]  # two 4x4x3 tiles of 8-bit pixels, one lane
    spec = {"phases": [{"beats": beats, "expect": 2 * 192, "p_gap": 0.4, "p_stall": 0.5, "seed": 7},
                       {"beats": beats[:48], "expect": 192, "p_gap": 0.0, "p_stall": 0.2, "seed": 2}],
            "max_cycles": 200_000}
    got = {sim: simulate(sources, spec, tmp_path / sim, sim, seed=0) for sim in ("verilator", "cocotb")}
    harness, bench = got["verilator"], got["cocotb"]
    assert not harness["deadlock"] and harness["extra_beats"] == bench["extra_beats"] == []
    for mine, theirs, phase in zip(harness["phases"], bench["phases"], spec["phases"], strict=True):
        assert len(mine["beats"]) == len(mine["cycles"]) == phase["expect"]
        for key in ("beats", "cycles", "first_in", "sent"):
            assert mine[key] == theirs[key], key
    assert harness["cycles"] == bench["cycles"]
    # the stalls shape the stamps: another seed, other cycles (so equal stamps are no accident)
    other = {**spec, "phases": [{**spec["phases"][0], "seed": 8}]}
    reseeded = simulate(sources, other, tmp_path / "other", "verilator", seed=0)["phases"][0]
    assert reseeded["beats"] == harness["phases"][0]["beats"]
    assert reseeded["cycles"] != harness["phases"][0]["cycles"]


@pytest.mark.icarus
def test_network_on_icarus_with_waves(built):
    folder, _ = built["espcn_w4a4_x3"]
    report = verify(folder, tiles=1, sim="icarus", stall_prob=0.3, waves=True)
    assert report["equal"] and report["mismatches"] == 0, report
    wave = folder / "sim" / "waves-icarus.fst"
    assert report["waves"] == str(wave) and wave.stat().st_size > 1000
    assert wave.read_bytes()[:1] == b"\x00"  # an FST file starts with its header block (type 0)


def test_waves_through_the_harness(built):
    """An FST where Verilator's FST writer can be compiled (liblz4-dev), else a VCD; never nothing."""
    folder, _ = built["espcn_w4a4_x3"]
    report = verify(folder, tiles=1, sim="verilator", stall_prob=0.0, waves=True)
    assert report["equal"], report
    fst = verilator_fst_supported()
    wave = folder / "sim" / f"waves-verilator.{'fst' if fst else 'vcd'}"
    assert report["waves"] == str(wave) and wave.stat().st_size > 1000
    head = wave.read_bytes()[:64]
    assert head[:1] == b"\x00" if fst else head.lstrip().startswith(b"$")  # FST header block / VCD keywords
    if not fst:
        assert b"s_axis_tdata" in wave.read_bytes()
    assert json.loads((folder / "sim" / "verify.json").read_text())["waves"] == str(wave)


def test_wrong_weights_are_found_named_and_the_cli_exits_2(built):
    folder, _ = built["tiny_w4a4"]
    rom = folder / "rtl" / "MVAU_hls_2_weights.mem"  # inside the residual block
    good = rom.read_text()
    lines = good.splitlines()
    inverted = ["".join(f"{15 - int(c, 16):x}" for c in line) for line in lines[:6]]
    rom.write_text("\n".join(inverted + lines[6:]) + "\n")
    # recorded as the RTL of this graph, as a generator bug would leave it (a hand edit is rebuilt instead)
    record(folder, RTL_DIRNAME, inputs=[DATAFLOW_NAME])
    try:
        result = CliRunner().invoke(main, ["verify", "tiny_w4a4", "--out-dir", str(folder), "--tiles", "2",
                                           "--stall-prob", "0.2", "--json"])
    finally:
        rom.write_text(good)
        record(folder, RTL_DIRNAME, inputs=[DATAFLOW_NAME])
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert not report["equal"] and report["mismatches"] > 0
    assert "equal NO" in "\n".join(verify_lines(report))
    assert report["first_mismatch"]["got"] != report["first_mismatch"]["expected"]
    assert report["first_differing_node"]["node"] == "MVAU_hls_2", report  # named by the per-stream taps


def test_unsupported_node_is_named_and_leaves_no_rtl(built, tmp_path):
    folder, _ = built["espcn_w4a4_x3"]
    graph = load_qonnx(folder / DATAFLOW_NAME)
    node = graph.graph.node[2]
    node.op_type = "ChannelwiseOp_hls"
    graph.save(str(tmp_path / DATAFLOW_NAME))
    with pytest.raises(FqsrError, match=rf"{node.name} \(op type ChannelwiseOp_hls\)"):
        generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    assert not (tmp_path / "rtl").exists() and not list(tmp_path.glob(".rtl.*"))


def test_a_failure_half_way_keeps_the_previous_rtl(built, tmp_path, monkeypatch):
    import fqsr.hw.generate as generate

    folder, _ = built["espcn_w4a4_x3"]
    (tmp_path / DATAFLOW_NAME).write_bytes((folder / DATAFLOW_NAME).read_bytes())
    generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    before = (tmp_path / "rtl" / "top.v").read_text()
    real, calls = generate.emit_node, []

    def flaky(model, node, out_dir, instance=None):
        calls.append(node.name)
        if len(calls) == 5:
            raise FqsrError(f"{node.name}: injected failure")
        return real(model, node, out_dir, instance)

    monkeypatch.setattr(generate, "emit_node", flaky)
    with pytest.raises(FqsrError, match="injected"):
        generate_rtl(tmp_path / DATAFLOW_NAME, tmp_path)
    assert (tmp_path / "rtl" / "top.v").read_text() == before
    assert not list(tmp_path.glob(".rtl.*"))


def test_cli_rtl(built, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["rtl", "tiny_w4a4", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "run `fqsr compile tiny_w4a4` first" in result.stderr
    folder, _ = built["espcn_w4a4_x3"]
    result = runner.invoke(main, ["rtl", "espcn_w4a4_x3", "--out-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"top {TOP_NAME}" in result.stdout and "rom_bits_total" in result.stdout
    result = runner.invoke(main, ["rtl", "espcn_w4a4_x3", "--out-dir", str(folder), "--json"])
    assert json.loads(result.stdout)["top"] == TOP_NAME


def test_a_long_run_is_announced_with_how_to_shorten_it(built, monkeypatch, capsys):
    import fqsr.sim.verify as verify_module

    folder, _ = built["tiny_w4a4"]
    # thresholds below zero: this short run counts as long, so the probe timing and the notice are exercised
    monkeypatch.setattr(verify_module, "PROBE_CYCLES", 0)
    monkeypatch.setattr(verify_module, "ANNOUNCE_S", -1.0)
    report = verify(folder, tiles=1, stall_prob=0.0)
    assert report["equal"] and report["expected_sim_s"] is not None  # seconds: ~0.1 here
    assert report["expected_sim_cycles"] > report["estimated_cycles_per_frame"]
    err = capsys.readouterr().err
    assert "fqsr verify: about" in err and "--tiles 1" in err and "--sim verilator" not in err
