"""The fuzzer: the network generator's grammar and determinism, a fixed batch through the chain, the shrinker."""
import json

import pytest
import torch

from fqsr.apps import fuzz
from fqsr.models import fuzz_nets
from fqsr.models.fuzz_nets import build_net, describe, distinct_outputs, features, random_spec, size

GRAMMAR = ({"kernel_1", "kernel_3", "kernel_5", "image_channels_1", "image_channels_3", "x2", "x3", "x4",
            "bias", "no_bias", "batch_norm", "block", "block_bn", "residual", "residual_nested", "chained_residual",
            "anchor", "no_anchor", "output_subpixel", "output_hr", "act_relu", "act_quant", "odd_tile",
            "non_square_tile", "random_folding", "least_folding"}
           | {f"weight_bits_{b}" for b in range(2, 9)} | {f"act_bits_{b}" for b in range(2, 9)}
           | {f"channels_{c}" for c in range(1, 17)} | {f"stall_{p}" for p in fuzz_nets.STALL_PROBS})


def test_generator_is_deterministic_and_covers_the_grammar():
    specs = [random_spec(seed) for seed in range(300)]
    assert [random_spec(seed) for seed in range(300)] == specs  # a seed is a network
    assert json.loads(json.dumps(specs)) == specs  # specs are plain JSON
    seen = set().union(*(features(s) for s in specs))
    assert GRAMMAR <= seen, sorted(GRAMMAR - seen)
    assert len({describe(s) for s in specs}) == 300


@pytest.mark.parametrize("seed", [2, 715, 1359, 117])  # nested residuals; BN at HR; RGB anchor; saturated at x8
def test_random_net_is_calibrated_reproducible_and_not_constant(seed):
    spec = random_spec(seed)
    a, b = build_net(spec), build_net(spec)
    x = fuzz_nets.calibration_batches(spec, count=1, seed=5)[0]
    with torch.no_grad():
        out_a, out_b = a(x), b(x)
    assert torch.equal(out_a.int(), out_b.int())
    assert out_a.int().shape[-2:] == (spec["tile"][0] * spec["scale"], spec["tile"][1] * spec["scale"])
    assert distinct_outputs(a, spec) >= fuzz_nets.MIN_DISTINCT_OUTPUTS
    # calibration moved every activation quantizer off its default range
    uncalibrated = build_net(spec, calibrated=False)
    assert not torch.equal(uncalibrated(x).int(), out_a.int())


def test_shrink_candidates_are_valid_smaller_specs():
    spec = random_spec(2)  # a residual nested in a residual, plus a block
    candidates = fuzz_nets.shrink_candidates(spec)
    assert candidates and all(c != spec for c in candidates)
    assert min(size(c) for c in candidates) < size(spec)
    for c in candidates[:6]:  # dropping and unwrapping items keeps every channel count consistent
        build_net(c, calibrated=False)(fuzz_nets.calibration_batches(c, count=1)[0])


# a residual plus a conv on either side: what a fault in the residual adder has to be shrunk from
BROKEN_ADD_SPEC = {
    "seed": 7, "channels": 1, "scale": 2, "tile": [3, 3],
    "stem": {"kind": "conv", "out": 3, "k": 3, "w": 4, "bias": True, "bn": False, "act": "relu", "a": 4},
    "body": [{"kind": "conv", "out": 2, "k": 1, "w": 4, "bias": True, "bn": False, "act": "relu", "a": 4},
             {"kind": "res", "a": 5, "post": 5, "body": [], "last": {"kind": "conv", "k": 3, "w": 4, "bias": True,
                                                                    "bn": False}},
             {"kind": "conv", "out": 2, "k": 3, "w": 4, "bias": True, "bn": False, "act": "quant", "a": 4}],
    "anchor": False, "detail_bits": None, "output": {"kind": "subpixel", "k": 3, "w": 4, "bias": True},
    "folding_seed": 5, "stall_prob": 0.3,
}


@pytest.mark.icarus
def test_fixed_seed_batch_passes_the_whole_chain(tmp_path):
    # two tiny networks: a sub-pixel output; a block, BatchNorm, an HR output and the anchor under stalls
    summary = fuzz.fuzz([1059, 715], tmp_path / "work", sim="icarus", cases_dir=tmp_path / "cases")
    assert summary["counts"]["equal"] == 2, fuzz.summary_lines(summary)
    for record in summary["records"]:
        assert record["stage"] == "verify" and 0.5 <= record["cycles_vs_estimate"] <= fuzz.SLOW_FACTOR
    assert not (tmp_path / "cases").exists()


@pytest.mark.icarus
def test_shrinker_reduces_a_broken_adder_to_a_few_layers_and_names_it(tmp_path, monkeypatch):
    from fqsr.hw import generate

    original = generate.GENERATORS["ElementwiseAdd"]

    def broken_add(model, node, inst):  # reads the second operand as unsigned: wrong only when it is negative
        instance = original(model, node, inst)
        instance.params["B_SIGNED"] = 0
        return instance

    monkeypatch.setitem(generate.GENERATORS, "ElementwiseAdd", broken_add)

    def run(spec, work):
        return fuzz.run_network(spec, work, sim="icarus", sim_root=tmp_path / "sim")

    record = run(BROKEN_ADD_SPEC, tmp_path / "net")
    assert record["result"] == "mismatch" and record["stage"] == "verify", record
    assert record["op_type"].startswith("ElementwiseAdd")
    small, small_record = fuzz.shrink(BROKEN_ADD_SPEC, record, tmp_path / "shrink", run=run, max_steps=5)
    assert small_record["op_type"].startswith("ElementwiseAdd") and small_record["node"]
    assert [i["kind"] for i in small["body"]] == ["res"]  # the convs around the adder are gone
    assert size(small) < size(BROKEN_ADD_SPEC)
    case = fuzz.write_case(small, small_record, tmp_path / "cases")
    text = case.read_text()
    assert "ElementwiseAdd" in text and "def test_case_7_" in text
    assert json.loads((tmp_path / "cases" / "case_7.json").read_text())["spec"] == small


def test_cli_refuses_an_empty_batch_in_one_sentence():
    from click.testing import CliRunner

    from fqsr.apps.cli import main

    result = CliRunner().invoke(main, ["fuzz", "--count", "0"])
    assert result.exit_code == 2 and result.output.strip() == "fqsr: error: --count must be at least 1"


def test_a_rejected_network_is_shrunk_to_the_construct_refused(tmp_path, monkeypatch):
    # as if fqsr had no RTL for the residual adder it claims: every network with an add is refused at rtl
    from fqsr.hw import generate
    from fqsr.models.errors import FqsrError
    from fqsr.sim import verify

    def refused_add(model, node, inst):
        raise FqsrError(f"{node.name}: no RTL for this add")

    monkeypatch.setitem(generate.GENERATORS, "ElementwiseAdd", refused_add)
    # the networks without an add pass rtl; their simulation is not what this test is about
    monkeypatch.setattr(verify, "verify", lambda *a, **k: {"equal": True, "elements": 1, "cycles_vs_estimate": 1.0})

    def run(spec, work):
        return fuzz.run_network(spec, work, sim="icarus", sim_root=tmp_path / "sim")

    record = run(BROKEN_ADD_SPEC, tmp_path / "net")
    assert record["result"] == "rejected" and record["stage"] == "rtl", record
    assert not fuzz.is_bug(record) and fuzz.is_shrunk(record)
    small, small_record = fuzz.shrink(BROKEN_ADD_SPEC, record, tmp_path / "shrink", run=run, max_steps=4)
    assert [i["kind"] for i in small["body"]] == ["res"]  # the convs around the add are gone, the add stays
    assert small_record["result"] == "rejected" and "no RTL for this add" in small_record["detail"]
    assert fuzz.signature(small_record) == fuzz.signature(record)


def test_fuzz_shrinks_a_rejection_and_writes_its_case(tmp_path, monkeypatch):
    # the batch loop on a stand-in chain that refuses any network with more than one body item
    def fake_run(spec, work, sim="verilator", sim_root=None):
        rejected = len(spec["body"]) > 1
        return {"seed": spec["seed"], "description": describe(spec), "stage": "compile" if rejected else "verify",
                "result": "rejected" if rejected else "equal", "time_s": 0.0,
                "detail": f"Thresholding_{len(spec['body'])}: refused" if rejected else "1 elements, 1.0x estimate"}

    monkeypatch.setattr(fuzz, "run_network", fake_run)
    seed = next(s for s in range(100) if len(random_spec(s)["body"]) == 3)
    summary = fuzz.fuzz([seed], tmp_path / "work", cases_dir=tmp_path / "cases")
    assert summary["counts"]["rejected"] == 1 and summary["rejection_reasons"]
    (record,) = summary["records"]
    shrunk = record["shrunk"]
    case = json.loads((tmp_path / "cases" / f"case_{seed}.json").read_text())
    assert len(case["spec"]["body"]) == 2 and case["failure"]["result"] == "rejected"
    assert shrunk["size"] < shrunk["from_size"]
    assert "rejected at compile: Thresholding_2: refused" in (tmp_path / "cases" / f"test_case_{seed}.py").read_text()
