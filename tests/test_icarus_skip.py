"""Without Icarus Verilog only the tests marked ``icarus`` skip, each saying how to install it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import conftest

ICARUS_TEST = "tests/test_rtl_fm_padding.py::test_fm_padding_icarus"


class Item:
    def __init__(self, marked):
        self.marked = marked

    def get_closest_marker(self, name):
        return object() if self.marked and name == "icarus" else None


def test_only_marked_tests_skip_without_iverilog(monkeypatch):
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None if name == "iverilog" else f"/usr/bin/{name}")
    assert conftest.icarus_skip_reason() == "Icarus Verilog not installed: apt-get install iverilog"
    conftest.pytest_runtest_setup(Item(marked=False))  # a Verilator test runs on
    with pytest.raises(pytest.skip.Exception, match="apt-get install iverilog"):
        conftest.pytest_runtest_setup(Item(marked=True))
    monkeypatch.setattr(conftest.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert conftest.icarus_skip_reason() is None
    conftest.pytest_runtest_setup(Item(marked=True))


def test_an_icarus_test_reports_its_skip_with_iverilog_off_path(tmp_path):
    """A real pytest run whose PATH holds no iverilog: the Icarus test is skipped with the hint, not failed."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ICARUS_TEST],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "Icarus Verilog not installed: apt-get install iverilog" in done.stdout
