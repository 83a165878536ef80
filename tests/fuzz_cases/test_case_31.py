"""Fuzz case case_31: rejected at rtl: MVAU_hls_0: bipolar / XNOR MVAU has no RTL; use integer datatypes (its 1x2 weights are all -1, which FINN's MinimizeWeightBitWidth typed BIPOLAR; fixed by flows/finn/hardware.IntegerWeightTypes)

Found by `fqsr fuzz` (seed 31); the network (as drawn: written before the fuzzer shrank rejections): x3 c1 3x4 | k1c2w2+bn relu7 k1c2w3 quant6 | hr up+relu k3c13w6-b relu7 tail k1 +anchor | fold#740 stall0.1
"""
import json
from pathlib import Path

import pytest

from fqsr.apps.fuzz import run_network

SPEC = json.loads((Path(__file__).parent / "case_31.json").read_text())["spec"]


@pytest.mark.icarus
def test_case_31_runs_equal_through_the_chain(tmp_path):
    record = run_network(SPEC, tmp_path / "net", sim="icarus")  # tiny: no Verilator build
    assert record["result"] == "equal", record
