"""Sensitivity-driven mixed precision under a budget (fqsr quantize --bits auto --budget ...)."""
import json

import pytest
import torch
from click.testing import CliRunner

from conftest import small
from fqsr.apps.cli import main
from fqsr.apps import mixed_precision
from fqsr.apps.mixed_precision import (allocate, bitops_cost, check_budget, cost_function, hardware_nodes, lut_cost,
                                       greedy_ascent, measured_sensitivity, parse_budget, parse_widths, predicted_drop,
                                       quantize_auto, resolve_own)
from fqsr.models.checkpoint import bits_spec, load_model, read_checkpoint, save_checkpoint
from fqsr.models.errors import FqsrError
from fqsr.models.quantize import QuantizeSettings, layer_groups, width_dependence
from fqsr.models.registry import build_model, get_config

FAST = QuantizeSettings(calib=4, patch=16, samples=1024)


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


WIDTHS = (2, 4, 8)
# "sensitive" loses much at 2 bits and is cheap per bit; "robust" loses little and is dear.
DROPS = {"sensitive": {2: 3.0, 4: 0.4, 8: 0.0}, "robust": {2: 0.3, 4: 0.05, 8: 0.0}, "middle": {2: 1.0, 4: 0.2, 8: 0.0}}
PRICE = {"sensitive": 10, "robust": 100, "middle": 30}  # per bit


def additive(assignment):
    return {"LUT": sum(PRICE[g] * b for g, b in assignment.items()),
            "BRAM": sum(b for g, b in assignment.items() if g == "middle")}


def test_greedy_widens_the_sensitive_cheap_group_first_and_meets_the_budget():
    groups = list(DROPS)
    low = additive({g: 2 for g in groups})["LUT"]  # 280
    assignment, steps = greedy_ascent(groups, WIDTHS, DROPS, additive, {"LUT": low + 60}, "LUT")
    # sensitive 2->4 (+20 LUT, 2.6 dB) first, then 4->8 (+40): middle 2->4 (+60) no longer fits
    assert assignment == {"sensitive": 8, "robust": 2, "middle": 2}
    assert additive(assignment)["LUT"] <= low + 60
    assert [(s["group"], s["to"]) for s in steps] == [("sensitive", 4), ("sensitive", 8)]
    roomy, steps = greedy_ascent(groups, WIDTHS, DROPS, additive, {"LUT": low + 120}, "LUT")
    # with room for both: middle 2->4 (0.8 dB for 60) beats sensitive 4->8 (0.4 dB for 40), then that one
    assert roomy == {"sensitive": 8, "robust": 2, "middle": 4}
    assert [(s["group"], s["to"]) for s in steps] == [("sensitive", 4), ("middle", 4), ("sensitive", 8)]
    assert additive(roomy)["LUT"] <= low + 120


def test_greedy_respects_every_limit_not_only_the_one_it_spends():
    groups = list(DROPS)
    low = additive({g: 2 for g in groups})["LUT"]
    limited, _ = greedy_ascent(groups, WIDTHS, DROPS, additive, {"LUT": low + 120, "BRAM": 3}, "LUT")
    assert limited["middle"] == 2 and additive(limited)["BRAM"] <= 3  # middle's widening needs 4 BRAM
    assert limited["sensitive"] == 8


def test_allocation_is_the_least_predicted_loss_within_every_limit(monkeypatch):
    """Exhaustive for a small space; the greedy (forced) never ends worse than the model's own widths when
    those fit, even where widening from the narrowest runs into a second limit first."""
    groups, widths = ["a", "b"], (2, 4, 8)
    drops = {"a": {2: 1.0, 4: 0.0, 8: -0.1}, "b": {2: 2.0, 4: 0.0, 8: -0.5}}

    def cost(assignment):  # a at 8 is cheap in LUT but takes block RAM, which b at 4 needs too
        return {"LUT": 10 * assignment["a"] * (assignment["a"] < 8) + 20 * assignment["b"],
                "BRAM": 2 * (assignment["a"] == 8) + 2 * (assignment["b"] >= 4)}

    limits, own = {"LUT": 120, "BRAM": 3}, {"a": 4, "b": 4}
    best, how = allocate(groups, widths, drops, cost, limits, "LUT", own)
    feasible = [{"a": x, "b": y} for x in widths for y in widths if all(
        cost({"a": x, "b": y})[k] <= v for k, v in limits.items())]
    assert how["method"] == "exhaustive"
    assert predicted_drop(drops, best) == min(predicted_drop(drops, f) for f in feasible) == 0.0
    assert best == own
    monkeypatch.setattr(mixed_precision, "EXHAUSTIVE_MAX", 0)
    narrowest, _ = greedy_ascent(groups, widths, drops, cost, limits, "LUT")
    assert narrowest == {"a": 8, "b": 2}  # a 2->8 frees LUT first, then b can never take its block RAM
    greedy, how = allocate(groups, widths, drops, cost, limits, "LUT", own)
    assert how["method"] == "greedy" and predicted_drop(drops, greedy) <= predicted_drop(drops, own)


def test_bad_budgets_are_one_sentence():
    for spec, fragment in [("flops=3", "unknown budget 'flops=3'"), ("lut", "unknown budget 'lut'"),
                           ("lut=many", "needs a whole number"), ("lut=-5", "must be a positive number"),
                           ("board=kv260", "not an ECP5 board"), ("board=nope", "unknown board 'nope'"),
                           ("bram=4", "has no lut=N"), ("lut=5,bitops=7", "mixes bit-ops"),
                           ("board=ulx3s-85f,lut=3", "give board=NAME alone")]:
        with pytest.raises(FqsrError, match=fragment):
            parse_budget(spec)
    board = parse_budget("board=ulx3s-85f")
    assert board.primary == "LUT" and 0 < board.limits["LUT"] < 83640 and set(board.limits) == {"LUT", "BRAM", "DSP"}
    own = parse_budget("bitops=own")  # the model's own cost, filled in once the model is known
    assert resolve_own(own, {"bitops": 364608}).limits == {"bitops": 364608} and own.primary == "bitops"
    assert resolve_own(parse_budget("lut=own,bram=7"), {"LUT": 8093, "BRAM": 5}).limits == {"LUT": 8093, "BRAM": 7}
    assert parse_widths("2-8") == (2, 3, 4, 5, 6, 7, 8) and parse_widths("8,2,4") == (2, 4, 8)
    for spec in ("1-8", "4", "a,b"):
        with pytest.raises(FqsrError, match="--widths"):
            parse_widths(spec)
    groups = list(DROPS)
    low, high = additive({g: 2 for g in groups}), additive({g: 8 for g in groups})
    with pytest.raises(FqsrError, match="below the cheapest choice"):
        check_budget(parse_budget(f"lut={low['LUT'] - 1}"), additive, groups, WIDTHS, low)
    with pytest.raises(FqsrError, match="needs no choice"):
        check_budget(parse_budget(f"lut={high['LUT']}"), additive, groups, WIDTHS, low)


@pytest.fixture(scope="module")
def espcn():
    cfg = get_config("espcn_w4a4")
    groups = layer_groups(cfg)
    layers, own = width_dependence(cfg, groups)
    return cfg, groups, layers, own


def test_node_widths_follow_the_groups_through_the_network(espcn):
    cfg, groups, layers, own = espcn
    assert own == {"conv1": 4, "act1": 4, "conv2": 4, "act2": 4, "conv3": 4}
    nodes = {name: params for name, _, params in hardware_nodes(layers, own, {"act1": 3, "conv2": 6, "act2": 2})}
    assert nodes["conv1"]["W_BITS"] == 4 and nodes["conv1"]["OUT_BITS"] == 3 and nodes["conv1"]["STEPS"] == 7
    assert nodes["conv2"]["IN_BITS"] == 3 and nodes["conv2"]["W_BITS"] == 6 and nodes["conv2"]["STEPS"] == 3
    assert nodes["conv2"]["MW"] == 576 and nodes["conv2"]["MH"] == 32
    assert nodes["conv3"]["IN_BITS"] == 2 and nodes["conv3"]["STEPS"] == 255  # its detail quantizer is fixed
    # 576 products of 3-bit unsigned x 6-bit signed reach -576 * 7 * 32 = -129,024 >= -2**17: 18 bits
    assert nodes["conv2"]["ACC_BITS"] == 18
    # bit-ops of one LR pixel: conv1 (8-bit pixels), conv2, conv3, the anchor (8-bit pixels, 2-bit weights)
    assert bitops_cost(layers, own, {}) == 25 * 64 * 4 * 8 + 576 * 32 * 4 * 4 + 288 * 4 * 4 * 4 + 4 * 2 * 8
    narrow, own_cost = lut_cost(layers, own, {g: 2 for g in groups}), lut_cost(layers, own, {})
    assert narrow["LUT"] < own_cost["LUT"] and narrow["DSP"] == own_cost["DSP"] == 4  # one MULT18X18D per MVAU
    cost = cost_function(parse_budget("bitops=1"), layers, own)
    assert cost({"conv2": 8})["bitops"] - cost({})["bitops"] == 576 * 32 * 4 * 4


def test_cli_bad_budgets_exit_non_zero_with_one_sentence(tmp_path):
    out = tmp_path / "never.pt"
    for args, fragment in [(["--bits", "auto"], "--bits auto needs --budget"),
                           (["--budget", "lut=5000"], "--budget applies to --bits auto"),
                           (["--bits", "auto", "--budget", "lut=10"], "is below the cheapest choice"),
                           (["--bits", "auto", "--budget", "bitops=99999999"], "needs no choice"),
                           (["--bits", "auto", "--budget", "watts=3"], "unknown budget 'watts=3'")]:
        code, _, err = run("quantize", "espcn_w4a4", *args, "--out", str(out))
        lines = [line for line in err.splitlines() if line.startswith("fqsr: error:")]
        assert code == 2 and len(lines) == 1 and fragment in lines[0], err
        assert "Traceback" not in err and not out.exists()


def test_cli_auto_writes_a_checkpoint_whose_bits_are_the_printed_string(tmp_build, tmp_path, espcn):
    cfg, groups, layers, own = espcn
    narrow, full = lut_cost(layers, own, {g: 2 for g in groups})["LUT"], lut_cost(layers, own, {})["LUT"]
    limit = (narrow + full) // 2
    out = tmp_path / "espcn-auto.pt"
    args = ["quantize", "espcn_w4a4", "--bits", "auto", "--budget", f"lut={limit}", "--widths", "2,4",
            "--calib", "4", "--patch", "16", "--sens-crop", "32", "--json"]
    code, text, err = run(*args, "--out", str(out))
    assert code == 0, err
    report = json.loads(text)
    payload = read_checkpoint(out)
    saved = tuple(tuple(item) for item in payload["config"]["bits"])
    assert bits_spec(saved) == report["bits"] == payload["meta"]["mixed_precision"]["bits"]
    mp = report["mixed_precision"]
    assert narrow <= mp["cost"]["LUT"] <= limit and mp["budget"]["limits"] == {"LUT": limit}
    assert set(mp["assignment"]) == set(groups) and set(mp["assignment"].values()) == {2, 4}  # a real mix
    assert set(mp["sensitivity"]["groups"]) == set(groups) and mp["sensitivity"]["images"] == 4
    # the printed string rebuilds the very network: loading with it re-quantizes nothing
    _, meta = load_model(cfg.replace(bits=cfg.bits + saved), out)
    assert "requantized" not in meta


def test_tiny_residual_net_gets_widths_within_budget(tmp_path):
    """The residual stream is one group; an add's output follows it; the chosen widths are the checkpoint's."""
    cfg = small("tiny_w4a4", features=8, blocks=1)
    torch.manual_seed(0)
    twin = build_model(get_config(cfg.twin_name).replace(features=8, blocks=1)).eval()
    twin_path = save_checkpoint(tmp_path / "twin.pt", twin)
    assert {"stream", "body_conv1", "body_act", "body_conv2", "up_conv", "up_act", "tail"} <= set(layer_groups(cfg))
    groups = {label: patterns for label, patterns in layer_groups(cfg).items() if label in ("stream", "tail")}
    layers, own = width_dependence(cfg, groups)
    # an add's output is one bit wider than the stream: the quantizer after it reads stream + 1 bits
    adds = [layer for layer in layers if layer["kind"] == "quant" and layer["depends"]["in_bits"]]
    assert adds and all(layer["depends"]["in_bits"] == {"stream": 1.0} for layer in adds)
    narrow, full = lut_cost(layers, own, {g: 2 for g in groups})["LUT"], lut_cost(layers, own, {})["LUT"]
    limit = (narrow + full) // 2
    one_variant = QuantizeSettings(calib=4, patch=16, samples=1024, stream=False)  # DAQ itself: test_quantize.py
    report, chosen = quantize_auto(cfg, twin_path, tmp_path / "tiny.pt", one_variant, f"lut={limit}", (2, 4),
                                   "embedded:eval", 32, cache_dir=tmp_path, progress=False, groups=groups)
    mp = report["mixed_precision"]
    assert narrow <= mp["cost"]["LUT"] <= limit and set(mp["assignment"].values()) <= {2, 4}
    # at the cost of its own widths (lut=own): the limit is that cost, and the choice keeps within it
    at_own, _ = quantize_auto(cfg, twin_path, tmp_path / "tiny-own.pt", one_variant, "lut=own", (2, 8),
                              "embedded:eval", 32, cache_dir=tmp_path, progress=False, groups=groups)
    assert at_own["mixed_precision"]["budget"]["limits"] == {"LUT": full}
    assert at_own["mixed_precision"]["cost"]["LUT"] <= full
    assert tuple(tuple(item) for item in read_checkpoint(tmp_path / "tiny.pt")["config"]["bits"]) == chosen.bits
    assert not mp["sensitivity"]["cached"]
    # the same settings again: read from the cache, not measured (a changed setting would measure again)
    again = measured_sensitivity(cfg, twin_path, groups, (2, 4), own, one_variant, "embedded:eval", 32, tmp_path)
    assert again["cached"] and again["cache"] == mp["sensitivity"]["cache"]
    assert again["groups"]["stream"]["drop_db"] == mp["sensitivity"]["groups"]["stream"]["drop_db"]
