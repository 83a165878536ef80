"""ROMs in mvau / thresholding are read synchronously, so Yosys maps the large ones to block RAM.

An asynchronously read ROM whose address is computed (the MVAU's nf*SF + sf) can only become
logic: ``synth_ecp5`` built the weights of the 288x32 MVAU below as ~5k LUT4 and no DP16KD.
Each case emits a node wrapper with real ROM files (``fqsr.hw.generate.emit_node``), runs
``synth_ecp5`` from the wrapper's folder and reads the cells from ``stat -json``: the ROM's
bits must fit in the DP16KD cells Yosys placed (each holds 18 Kbit). The thresholding reads
one ROM per binary-search stage (address {fold, prefix}); its largest stage must map too, and
its logic stays small (8 comparators for an 8-bit activation, not 255).
"""
import json
import math
import shutil
import subprocess

import pytest
from test_rtl_mvau import mvau_model
from test_rtl_thresholding import threshold_model
from test_rtl_yosys import yosys_exe

from fqsr.hw.generate import emit_node, node_instance
from fqsr.hw.rolled import ram_regions

DP16KD_BITS = 18 * 1024


def synth_ecp5_cells(model, cwd, instance=None) -> dict:
    """Cell counts (type -> number) of the model's first node synthesized by ``synth_ecp5`` (``instance``: the
    node's generator instance, default its own)."""
    node = model.graph.node[0]
    wrapper, _, files = emit_node(model, node, cwd, instance)
    sources = [f for f in files if f.suffix == ".v"]
    for f in sources:
        shutil.copy(f, cwd / f.name)
    reads = "; ".join(f"read_verilog -sv {f.name}" for f in [*sources, cwd / f"{wrapper}.v"])
    script = f"{reads}; synth_ecp5 -top {wrapper}; tee -q -o stat.json stat -json"
    run = subprocess.run([yosys_exe(), "-q", "-p", script], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"synth_ecp5 on {wrapper}:\n{(run.stdout + run.stderr)[-3000:]}"
    return json.loads((cwd / "stat.json").read_text())["design"]["num_cells_by_type"]


def rom_bits(path) -> int:
    """Bits of a ``$readmemh`` ROM file: words x hex digits x 4 (the cases below use widths of whole digits)."""
    words = [line for line in path.read_text().splitlines() if line.strip()]
    return len(words) * 4 * len(words[0].strip())


@pytest.mark.parametrize("case", ["mvau_weights", "thresholding"])
def test_large_rom_maps_to_block_ram(case, tmp_path):
    if case == "mvau_weights":
        # a 3x3 conv with 32 input / 32 output channels: 288x32 INT4 weights, SIMD 8, PE 4 (288 words of 128 bits)
        model = mvau_model(288, 32, 8, 4, "UINT4", "INT4", None, seed=1)
        rom = "weights"
    else:
        # 64 channels of 255 thresholds (an 8-bit activation): the binary search's last stage
        # reads 64 x 128 words of 8 bits, the largest of its 8 stage ROMs
        model = threshold_model(64, 1, "INT6", "UINT8", seed=2, pixels=(1, 1))
        rom = "thresholds_p000_s7"
    cells = synth_ecp5_cells(model, tmp_path)
    bits = rom_bits(tmp_path / f"{model.graph.node[0].name}_{rom}.mem")
    brams = cells.get("DP16KD", 0)
    assert brams >= math.ceil(bits / DP16KD_BITS), f"{case}: {bits} ROM bits but {brams} DP16KD; cells {cells}"
    if case == "thresholding":
        # 8 comparators, not 255; the LUTs are mostly the stage ROMs under half a block (64 x 16 x 8 bits
        # and smaller), which rom.v leaves to logic: about 1k LUT4
        assert cells.get("LUT4", 0) < 1500, f"binary-search thresholding took {cells.get('LUT4')} LUT4; cells {cells}"


def test_double_buffered_weight_ram_maps_to_block_ram(tmp_path):
    """The rolled build's MVAU (WEIGHT_RAM): both banks of the 288x32 weights (2 x 36,864 bits) in DP16KD."""
    model = mvau_model(288, 32, 8, 4, "UINT4", "INT4", None, seed=1)
    instance = node_instance(model, model.graph.node[0])
    (region,) = ram_regions(instance, 0)
    cells = synth_ecp5_cells(model, tmp_path, instance)
    bits = 2 * region.entries * region.bits
    brams = cells.get("DP16KD", 0)
    assert bits == 2 * 288 * 32 * 4 and brams >= math.ceil(bits / DP16KD_BITS), f"{bits} bits, cells {cells}"
