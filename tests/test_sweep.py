"""Sweeps: a tiny grid end to end (CSV columns, PSNR from the model stage, BitOps, fits), Pareto fronts, the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from fqsr.apps.cli import main
from fqsr.apps.summary import sweep_lines
from fqsr.apps.sweep import COLUMNS, ConfigSpec, fits, grid_from_dict, grid_to_dict, load_network, run_sweep
from fqsr.models.errors import FqsrError
from fqsr.reports.pareto import pareto_front

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = {"name": "tiny_w4a4", "features": 4, "blocks": 1}


def test_pareto_front_on_a_hand_made_example():
    lut = [100, 200, 150, 300, 120, 150, 90]
    psnr = [30.0, 33.0, 31.0, 32.0, float("nan"), 30.5, 29.0]
    # min LUT, max PSNR: 300 is beaten by 200 (33 dB), 150@30.5 by 150@31, NaN never counts
    assert pareto_front(lut, psnr, maximize_x=False, maximize_y=True).tolist() == [6, 0, 2, 1]
    fps = [10.0, 40.0, 20.0, 40.0, 5.0]
    psnr = [33.0, 31.0, 32.0, 30.0, 33.0]
    # max both: 40 fps @ 30 dB loses to 40 fps @ 31 dB, 5 fps @ 33 dB to 10 fps @ 33 dB
    assert pareto_front(fps, psnr, maximize_x=True, maximize_y=True).tolist() == [0, 2, 1]
    assert pareto_front([], [], False, True).tolist() == []


def test_fits_board_flags():
    small = {"lut": 50_000.0, "bram18": 10.0, "uram": 0.0, "dsp": 0.0}
    keys = {"LUT": "lut", "BRAM": "bram18", "DSP": "dsp"}
    assert fits(small, "pynq-z2", keys) and fits(small, "zcu104", keys)
    assert not fits({**small, "lut": 60_000.0}, "pynq-z2", keys)  # 53,200 LUTs
    assert not fits({**small, "dsp": 221.0}, "pynq-z2", keys)
    # one URAM counts as 16 BRAM18: 270 + 16 > 280 on the PYNQ-Z2, well inside the ZCU104's 624
    deep = {**small, "bram18": 270.0, "uram": 1.0}
    assert not fits(deep, "pynq-z2", keys) and fits(deep, "zcu104", keys)
    assert fits({**deep, "uram": 0.0}, "pynq-z2", keys)


@pytest.mark.parametrize("grid, message", [
    ({"models": []}, "non-empty 'models'"),
    ({"models": ["tiny_w4a4"], "board": ["zcu104"]}, "unknown sweep grid keys: board"),
    ({"models": ["tiny_w4a4"], "boards": ["de10"]}, "unknown board 'de10'"),
    ({"models": ["tiny_w4a4"], "target_fps": [0]}, "must be positive"),
    ({"models": ["tiny_float"]}, "float model"),
    ({"models": [{"name": "tiny_w4a4", "bits": "nope=3"}]}, "matches no layer"),
    ({"models": [{"name": "tiny_w4a4", "width": 3}]}, "only features/blocks/bits"),
    ({"models": [{"name": "espcn_w4a4", "blocks": 2}]}, "no repeated blocks"),
])
def test_bad_grids_are_one_clear_error(grid, message):
    with pytest.raises(FqsrError, match=message):
        grid_from_dict(grid)


def torch_macs(spec: ConfigSpec, tile) -> int:
    """MACs of every conv of the torch model on one tile, counted with forward hooks (independent of FINN)."""
    net = load_network(spec)
    total = []

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        total.append(module.in_channels // module.groups * k * output.shape[1] * output.shape[2] * output.shape[3])

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.rand(1, spec.config().channels, *tile))
    for h in handles:
        h.remove()
    return sum(total)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    import imageio.v3 as iio

    from fqsr.models.data import list_images

    root = tmp_path_factory.mktemp("sweep")
    data = root / "images"
    data.mkdir()
    _, photo = list_images("embedded:eval")[0]
    iio.imwrite(data / "crop.png", photo[100:160, 100:172])  # one small HR image: a fast model-stage PSNR
    grid = grid_from_dict({
        "tile": "6x6", "clock_mhz": 200, "target_fps": [None, 200_000], "boards": ["zcu104", "pynq-z2"],
        "models": [{**SMALL, "bits": [None, "body.*.conv1=2"]}, "espcn_w8a8"],
    })
    result = run_sweep(grid, root / "out", root / "work", jobs=1, data=str(data), progress=False)
    return grid, result, root, data


def test_tiny_grid_csv_rows_and_columns(swept):
    grid, result, root, _ = swept
    assert result["errors"] == 0 and result["points"] == grid.points() == 12
    table = pd.read_csv(root / "out" / "sweep.csv")
    assert list(table.columns) == COLUMNS and len(table) == 12
    assert set(table["point"]) == {"tiny_w4a4-f4-b1", next(s.point for s in grid.configs if s.bits), "espcn_w8a8"}
    for row in result["rows"]:
        assert row["cycles_per_frame"] > 0 and row["fps"] == pytest.approx(200e6 / row["cycles_per_frame"], rel=1e-6)
        assert row["lut"] > 0 and row["fits_board"] is True and row["yosys_lut"] is None
    by = {(r["point"], r["target_fps"], r["board"]): r for r in result["rows"]}
    # folding for 200k tiles/s is faster and bigger than FINN's default folding
    slow, fast = by["tiny_w4a4-f4-b1", None, "zcu104"], by["tiny_w4a4-f4-b1", 200_000, "zcu104"]
    assert fast["fps"] > slow["fps"] and fast["lut"] > slow["lut"]
    assert slow["target_met"] is None and fast["target_met"] == (fast["fps"] >= 200_000)
    assert {r["fpgapart"] for r in result["rows"] if r["board"] == "pynq-z2"} == {"xc7z020clg400-1"}
    summary = (root / "out" / "sweep.md").read_text()
    assert "12 points (3 model configs x 2 target frame rates x 2 boards)" in summary
    assert all(f"`{p}`" in summary for p in set(table["point"]))


def test_psnr_comes_from_the_model_stage_and_untrained_points_are_marked(swept):
    from fqsr.models.evaluate import evaluate

    _, result, _, data = swept
    trained = [r for r in result["rows"] if r["trained"]]
    assert {r["point"] for r in trained} == {"espcn_w8a8"} and len(trained) == 4
    expected = round(evaluate("espcn_w8a8", str(data), with_twin=False)["psnr_y_quant"], 4)
    assert all(r["psnr_y"] == expected and r["psnr_data"] == "images" for r in trained)
    assert all(r["psnr_y"] == "untrained" for r in result["rows"] if not r["trained"])


def test_bitops_are_the_graphs_macs_times_bits(swept):
    grid, result, _, _ = swept
    by = {r["point"]: r for r in result["rows"]}
    for spec in grid.configs:
        assert by[spec.point]["macs"] == torch_macs(spec, grid.tile), spec.point
    base, mixed = by["tiny_w4a4-f4-b1"], next(by[s.point] for s in grid.configs if s.bits)
    assert base["macs"] == mixed["macs"] and mixed["bitops"] < base["bitops"]  # conv1 at 2 bits
    assert 2 * 2 * base["macs"] <= base["bitops"] <= 8 * 8 * base["macs"]


def test_pareto_plots_are_written(swept):
    _, result, root, _ = swept
    plots = result["plots"]
    assert set(plots) == {"psnr_vs_lut", "psnr_vs_fps", "psnr_vs_bitops", "fps_vs_lut"}
    for plot in plots.values():
        png = root / "out" / plot["png"]
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    assert plots["psnr_vs_lut"]["points"] == 2 and plots["fps_vs_lut"]["points"] == 6  # zcu104 rows
    rows = [r for r in result["rows"] if r["board"] == "zcu104"]
    front = plots["fps_vs_lut"]["front"]
    lut, fps = np.array([r["lut"] for r in rows]), np.array([r["fps"] for r in rows])
    for i in range(len(rows)):  # every point off the front is dominated by one on it
        if i not in front:
            assert any(lut[j] <= lut[i] and fps[j] >= fps[i] for j in front)


def test_cli_sweep_in_two_processes_matches_one(swept, tmp_path):
    _, result, _, _ = swept
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["sweep", "--model", "tiny_w4a4", "--model", "tiny_w2a2", "--features", "4", "--blocks", "1",
            "--tile", "6x6", "--board", "zcu104", "--jobs", "2", "--out", str(out), "--work", str(tmp_path / "w"), "--json"]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["points"] == 2
    assert "sweep: points 2, errors 0" in "\n".join(sweep_lines(json.loads(done.stdout), out))
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["point"]) == ["tiny_w4a4-f4-b1", "tiny_w2a2-f4-b1"]
    ours = table.set_index("point").loc["tiny_w4a4-f4-b1"]
    theirs = next(r for r in result["rows"] if r["point"] == "tiny_w4a4-f4-b1" and r["target_fps"] is None
                  and r["board"] == "zcu104")
    for key in ("macs", "bitops", "lut", "bram18", "cycles_per_frame"):
        assert ours[key] == theirs[key], key  # seeded weights: the same estimate in a worker process
    bad = runner.invoke(main, ["sweep", "--model", "tiny_w4a4", "--jobs", "3", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--jobs must be 1 or 2" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_a_rerun_takes_unchanged_configs_from_the_cache(swept, tmp_path):
    grid, result, root, data = swept
    again = run_sweep(grid, tmp_path / "out", root / "work", jobs=1, data=str(data), progress=False)
    assert (again["cached"], again["computed"]) == (3, 0) and again["rows"] == result["rows"]
    # a half-written cache entry is computed again, never trusted; a changed grid computes only what changed
    victim = sorted((root / "work" / "cache").glob("*.json"))[0]
    victim.write_text('{"rows": [')
    changed = grid_from_dict({**grid_to_dict(grid), "target_fps": [None]})
    third = run_sweep(changed, tmp_path / "out3", root / "work", jobs=1, data=str(data), progress=False)
    assert (third["cached"], third["computed"]) == (0, 3) and third["errors"] == 0
    fourth = run_sweep(grid, tmp_path / "out4", root / "work", jobs=1, data=str(data), progress=False)
    assert (fourth["cached"], fourth["computed"]) == (2, 1) and fourth["rows"] == result["rows"]


def test_points_run_on_a_given_dask_scheduler(swept, tmp_path):
    from distributed import LocalCluster

    _, result, _, _ = swept
    grid = grid_from_dict({"tile": "6x6", "clock_mhz": 200, "target_fps": [None, 200_000],
                           "boards": ["zcu104", "pynq-z2"], "models": [SMALL]})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = run_sweep(grid, tmp_path / "out", tmp_path / "work", data="embedded", progress=False,
                           scheduler=cluster.scheduler_address)
    assert remote["computed"] == 1 and remote["errors"] == 0 and remote["scheduler"] == cluster.scheduler_address
    want = [{k: v for k, v in r.items() if k not in ("psnr_y", "psnr_data", "trained")}
            for r in result["rows"] if r["point"] == "tiny_w4a4-f4-b1"]
    assert [{k: v for k, v in r.items() if k not in ("psnr_y", "psnr_data", "trained")} for r in remote["rows"]] == want
    with pytest.raises(FqsrError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_sweep(grid, tmp_path / "x", tmp_path / "w2", data="embedded", progress=False,
                  scheduler="tcp://127.0.0.1:9")


def test_synth_mode_adds_yosys_counts_of_the_compiled_rtl(tmp_path):
    grid = grid_from_dict({"tile": "12x12", "boards": ["ulx3s-85f"], "models": [{"name": "espcn_w4a4", "features": 4}]})
    result = run_sweep(grid, tmp_path / "out", tmp_path / "work", jobs=1, synth=True, progress=False)
    (row,) = result["rows"]
    assert row["error"] is None, row["error"]
    assert row["clock_mhz"] == 100.0  # no clock in the grid: the board's (the ULX3S PLL's)
    folder = tmp_path / "work" / "espcn_w4a4-f4" / "xczu7ev-ffvc1156-2-e-100MHz-fpsdefault"
    compiled = json.loads((folder / "compile.json").read_text())
    resources = json.loads((folder / "synth" / "resources.json").read_text())
    assert compiled["equal"] and compiled["mismatches"] == 0  # synth mode runs the proof
    assert row["lut"] == compiled["totals"]["lut"] and resources["target"] == "ecp5"
    assert row["yosys_lut"] == resources["total"]["LUT"] > 0 and row["yosys_ff"] == resources["total"]["FF"] > 0
    assert row["fits_board_yosys"] is True
    assert "| Yosys LUT |" in (tmp_path / "out" / "sweep.md").read_text()
