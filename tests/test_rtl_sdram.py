"""sdram_ctrl against a chip model that checks every timing rule: random traffic under random stalls, rows
that miss, refreshes that collide with bursts and waiting commands, and controllers built with a timing the
chip does not meet, which the model must name."""
import json

import pytest

from fqsr.hw.generate import RTL_DIR
from fqsr.sim.runner import run_cocotb

SOURCES = [RTL_DIR / "sdram_ctrl.v", RTL_DIR / "stream_fifo.v"]
FAST_POWERUP = {"POWERUP_US": 20}  # the rule is checked all the same: the chip model waits as long


def run_sdram(tmp_path, parameters: dict, run: dict, chip: dict | None = None):
    parameters = {**FAST_POWERUP, **parameters}
    chip = {"clk_mhz": parameters.get("CLK_MHZ", 100), "powerup_us": parameters["POWERUP_US"], **(chip or {})}
    run = {"commands": 120, "max_words": 40, "rows": [0, 1, 4095, 8191], "p_gap": 0.3, "p_stall": 0.3, "seed": 1,
           **run}
    summary = tmp_path / "summary.json"
    run_cocotb(SOURCES, "sdram_ctrl", "fqsr.sim.sdram_bench", parameters=parameters, test_dir=tmp_path,
               extra_env={"FQSR_SDRAM_RUN": json.dumps(run), "FQSR_SDRAM_CHIP": json.dumps(chip),
                          "FQSR_SDRAM_SUMMARY": str(summary)})
    return json.loads(summary.read_text())


@pytest.mark.parametrize("parameters, seed", [
    ({"CLK_MHZ": 100, "CAS_LATENCY": 2}, 1),
    ({"CLK_MHZ": 133, "CAS_LATENCY": 3, "LEN_BITS": 4}, 2),
    ({"CLK_MHZ": 50, "CAS_LATENCY": 2, "RD_FIFO_DEPTH": 5}, 3),
], ids=["100MHz-CL2", "133MHz-CL3-len16", "50MHz-CL2-fifo5"])
def test_random_traffic_under_stalls_equals_the_reference(parameters, seed, tmp_path):
    max_words = 2 ** parameters.get("LEN_BITS", 8)
    summary = run_sdram(tmp_path, parameters, {"seed": seed, "max_words": min(max_words, 40)})
    assert summary["words_read"] > 400
    assert summary["commands"]["ACTIVE"] > 50  # rows miss: banks are precharged and reopened
    assert summary["commands"]["REFRESH"] >= 9  # the 8 of the init sequence and the periodic ones


def test_row_misses_in_one_bank_at_full_rate(tmp_path):
    """Every command in bank 0 of another row (a short run inside one row): each one precharges and opens."""
    summary = run_sdram(tmp_path, {}, {"rows": list(range(0, 8192, 512)), "max_words": 4, "commands": 200,
                                       "p_gap": 0.0, "p_stall": 0.0, "seed": 4})
    assert summary["commands"]["PRECHARGE"] > 150 and summary["commands"]["ACTIVE"] > 150


def test_refresh_collides_with_bursts_and_waiting_commands(tmp_path):
    """A refresh every ~1.3 us (the chip model and the controller agree on it): refreshes fall inside bursts,
    with write data or read back-pressure stalling them, and between bursts, holding a command back."""
    summary = run_sdram(tmp_path, {"T_REFI_NS": 1500}, {"commands": 150, "seed": 5, "p_gap": 0.4, "p_stall": 0.5, "p_cmd_gap": 0.9,
                                                          "min_mid_burst_refreshes": 10, "min_refresh_wait_cycles": 1},
                        chip={"t_refi_ns": 1500})
    assert summary["commands"]["REFRESH"] > 30


@pytest.mark.parametrize("parameters, chip, rule", [
    ({"T_RCD_NS": 5}, {}, "SDRAM rule tRCD broken"),
    ({"T_RP_NS": 5}, {}, "SDRAM rule tRP broken"),
    ({"T_REFI_NS": 3000}, {"t_refi_ns": 1500}, "SDRAM rule refresh interval broken"),
], ids=["tRCD", "tRP", "refresh-interval"])
def test_the_model_names_the_rule_a_too_fast_controller_breaks(parameters, chip, rule, tmp_path):
    with pytest.raises(AssertionError, match=rule):
        run_sdram(tmp_path, parameters, {"commands": 60, "seed": 6}, chip=chip)


def test_sequential_bursts_sustain_the_bandwidth_the_rolled_plan_assumes(tmp_path):
    """256-word bursts, written then read back, no stalls: words per cycle including refresh, row changes
    and the idle cycle between commands (benchmarks/rolled_edsr.md assumes 160 MB/s of 200 at 100 MHz)."""
    summary = run_sdram(tmp_path, {}, {"sequential": True, "commands": 40, "max_words": 256, "p_gap": 0.0,
                                       "p_stall": 0.0})
    words = summary["words_written"] + summary["words_read"]
    assert summary["words_read"] == summary["words_written"] == 20 * 256
    words_per_cycle = words / summary["traffic_cycles"]
    assert words_per_cycle > 0.9, f"{words_per_cycle:.3f} words per cycle"
    (tmp_path / "bandwidth.txt").write_text(f"{words_per_cycle:.4f}\n")
