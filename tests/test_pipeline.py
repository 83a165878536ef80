"""One pipeline (fqsr.apps.pipeline): every command takes its settings with BuildConfig's defaults, and the
steps estimate at the board's clock and FINN part unless told otherwise."""
import json

import pytest

from fqsr.apps import cli
from fqsr.apps.cli import main
from fqsr.apps.pipeline import DEFAULTS, STEPS, BuildConfig, run_steps
from fqsr.flows.artifacts import DATAFLOW_NAME, settings_of
from fqsr.flows.export import geometry
from fqsr.hw.board import BOARDS, DEFAULT_BOARD
from fqsr.models.errors import FqsrError
from test_cli import run

# (command, option name) -> the BuildConfig field it sets
SHARED = {("export", "tile"): "tile", ("build", "tile"): "tile", ("sweep", "tile"): "tile",
          ("build", "board"): "board", ("compile", "board"): "board",
          ("build", "clock_mhz"): "clock_mhz", ("compile", "clock_mhz"): "clock_mhz", ("sweep", "clock_mhz"): "clock_mhz",
          ("build", "target_fps"): "target_fps", ("compile", "target_fps"): "target_fps",
          ("export", "random_tiles"): "random_tiles", ("compile", "random_tiles"): "random_tiles",
          ("verify", "tiles"): "verify_tiles", ("build", "verify_tiles"): "verify_tiles",
          ("verify", "sim"): "sim", ("build", "sim"): "sim", ("hil", "sim"): "sim",
          ("verify", "stall_prob"): "stall_prob", ("verify", "seed"): "seed",
          ("verify", "verify_budget"): "verify_budget_min", ("build", "verify_budget"): "verify_budget_min"}


def test_every_command_takes_a_setting_with_the_pipelines_default():
    for (command, option), field in SHARED.items():
        (param,) = [p for p in main.commands[command].params if p.name == option]
        want = DEFAULTS[field]
        if isinstance(want, tuple):  # a tile is typed as HxW
            if param.default is None:  # --tile or --frame: the command resolves an absent pair to the default tile
                assert geometry(None, None, cli.DEFAULT_TILE) == want, (command, option)
                assert f"[default: {'x'.join(map(str, want))}]" in param.help, (command, option, param.help)
                continue
            want = "x".join(map(str, want))
        assert param.default == want, (command, option, param.default, want)


def test_the_steps_are_the_builds_and_unknown_ones_are_refused(tmp_path):
    assert [s.name for s in STEPS] == ["export", "compile", "rtl", "storage", "synth", "fit", "verify", "pnr",
                                       "report"]
    with pytest.raises(FqsrError, match="unknown step 'bitstream'; the steps are export, compile"):
        run_steps(BuildConfig(tmp_path), ["export", "bitstream"])


def test_compile_estimates_at_the_boards_clock_and_part(tmp_build):
    code, _, err = run("export", "espcn_w4a4", "--tile", "4x4", "--random-tiles", "0")
    assert code == 0, err
    folder = tmp_build / "espcn_w4a4"
    for board, args in ((BOARDS[DEFAULT_BOARD], []), (BOARDS["pynq-z2"], ["--board", "pynq-z2"])):
        code, out, err = run("compile", "espcn_w4a4", "--random-tiles", "0", "--json", *args)
        assert code == 0, err
        assert json.loads(out)["clock_mhz"] == board.clock_mhz
        assert settings_of(folder, DATAFLOW_NAME) == {"folding": None, "target_fps": None,
                                                      "clock_mhz": board.clock_mhz, "fpgapart": board.finn_part}
    assert BOARDS["pynq-z2"].finn_part == "xc7z020clg400-1" != BOARDS[DEFAULT_BOARD].finn_part
    code, out, err = run("compile", "espcn_w4a4", "--random-tiles", "0", "--clock-mhz", "60", "--json")
    assert code == 0 and json.loads(out)["clock_mhz"] == 60.0, err
