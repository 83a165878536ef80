"""Training: float twin then QAT, resumable, checkpoints that load back; the resumable campaign."""
import math

import pytest
import torch

from fqsr.models.checkpoint import load_model, read_checkpoint
from fqsr.models.errors import FqsrError
from fqsr.models.registry import get_config
from fqsr.models.train import TrainSettings, train

TINY = get_config("tiny_w4a4").replace(features=8, blocks=1)


def settings(**changes):
    base = dict(float_iters=6, qat_iters=4, batch=2, lr_patch=16, data="embedded:train", save_every=2)
    base.update(changes)
    return TrainSettings(**base)


def test_float_then_qat_then_resume(tmp_path):
    result = train(TINY, settings(), tmp_path)
    twin = read_checkpoint(result["float_checkpoint"])
    quant = read_checkpoint(result["checkpoint"])
    assert twin["meta"]["iterations"] == 6 and twin["meta"]["stage"] == "float"
    assert quant["meta"]["iterations"] == 4 and quant["meta"]["float_twin"] == "tiny_float"
    model, meta = load_model(TINY, result["checkpoint"])
    out = model(torch.rand(1, 3, 8, 8))
    assert tuple(out.shape) == (1, 3, 16, 16)

    # QAT started from the twin: the first conv's weights moved only a little from it.
    float_head = twin["state_dict"]["head.weight"]
    assert torch.allclose(quant["state_dict"]["head.weight"], float_head, atol=0.05)

    # Asking for more iterations resumes from the saved state instead of restarting.
    resumed = train(TINY, settings(qat_iters=6), tmp_path)
    assert read_checkpoint(resumed["checkpoint"])["meta"]["iterations"] == 6
    state = read_checkpoint(tmp_path / "tiny_w4a4.state.pt")
    assert state["iteration"] == 6


@pytest.mark.parametrize("bf16", [False, True])
def test_training_reduces_loss(tmp_path, bf16):
    """A few dozen float iterations (float32 or under bf16 autocast) beat the untrained twin on held-out patches."""
    import numpy as np

    from fqsr.models.data import PatchSampler, list_images
    from fqsr.models.infer import as_tensor
    from fqsr.models.registry import build_model

    cfg = get_config("tiny_float").replace(features=8, blocks=1)
    sampler = PatchSampler([img for _, img in list_images("embedded:eval")], 2)
    lr, hr = (torch.from_numpy(a) for a in sampler.sample(8, 16, np.random.default_rng(1)))
    torch.manual_seed(0)
    before = (as_tensor(build_model(cfg).eval()(lr)) - hr).abs().mean()
    result = train(cfg, settings(float_iters=40, batch=4, save_every=40, bf16=bf16), tmp_path)
    model, meta = load_model(cfg, result["float_checkpoint"])
    assert meta["settings"]["bf16"] == bf16
    after = (as_tensor(model(lr)) - hr).abs().mean()
    assert after < 0.5 * before


def test_quantizer_ranges_get_their_own_learning_rate():
    """Every learned range of a quantized net lands in the fast group; no weight or bias does."""
    from fqsr.models.registry import build_model
    from fqsr.models.train import param_groups

    model = build_model(TINY)
    weights, ranges = param_groups(model, 1e-3, 1e-2)
    named = dict(model.named_parameters())
    range_names = {n for n, p in named.items() if any(p is q for q in ranges["params"])}
    assert range_names == {n for n in named if n.endswith("scaling_impl.value")}
    act_quants = [m for m in model.modules() if m.__class__.__name__ in ("QuantReLU", "QuantIdentity")]
    assert len(range_names) == len(act_quants) - 2  # all but the constant-scale pixel quantizers
    assert ranges["lr"] == 1e-2 and ranges["weight_decay"] == 0.0 and weights["lr"] == 1e-3
    assert len(weights["params"]) + len(ranges["params"]) == len(named)
    # The float twin has no ranges: one group.
    twin = build_model(get_config("tiny_float").replace(features=8, blocks=1))
    assert len(param_groups(twin, 1e-3, 1e-2)) == 1


def test_distillation_pulls_toward_the_twin(tmp_path):
    """With distillation the QAT loss includes the twin's output: the quantized net ends closer to it."""
    from fqsr.models.infer import as_tensor

    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    twin_path = train(get_config("tiny_float").replace(features=8, blocks=1),
                      settings(float_iters=20, save_every=20), tmp_path)["float_checkpoint"]
    twin, _ = load_model(get_config("tiny_float").replace(features=8, blocks=1), twin_path)
    distances = {}
    for weight in (0.0, 1.0):
        result = train(TINY, settings(qat_iters=25, distill=weight, save_every=25), tmp_path / f"d{weight}",
                       float_checkpoint=twin_path)
        quant, meta = load_model(TINY, result["checkpoint"])
        assert meta["settings"]["distill"] == weight
        with torch.no_grad():
            distances[weight] = float((as_tensor(quant(x)) - twin(x)).abs().mean())
    assert distances[1.0] < distances[0.0]


def test_state_from_another_recipe_is_refused(tmp_path):
    """A state file whose scheduler this recipe did not write stops with one clear error."""
    import pytest

    from fqsr.models.errors import FqsrError

    train(TINY, settings(), tmp_path)
    path = tmp_path / "tiny_w4a4.state.pt"
    state = read_checkpoint(path)
    state["schedule"] = {"T_max": 4, "last_epoch": 4}  # CosineAnnealingLR's state, not LambdaLR's
    torch.save(state, path)
    with pytest.raises(FqsrError, match="different training recipe"):
        train(TINY, settings(qat_iters=6), tmp_path)


def test_second_qat_stage_starts_from_the_quantized_checkpoint(tmp_path):
    first = train(TINY, settings(), tmp_path / "first")
    second = train(TINY, settings(qat_iters=2, qat_lr=0.0), tmp_path / "second",
                   float_checkpoint=first["float_checkpoint"], init_checkpoint=first["checkpoint"])
    before = read_checkpoint(first["checkpoint"])
    after = read_checkpoint(second["checkpoint"])
    # At a zero learning rate the weights are the first stage's, not the twin's.
    for key, value in before["state_dict"].items():
        if key.endswith("weight") and "_quant" not in key:
            assert torch.equal(after["state_dict"][key], value), key
    assert after["meta"]["iterations"] == 2 and after["meta"]["previous"]["iterations"] == 4
    # Each stage records the twin it was trained from, as that twin was then.
    twin = read_checkpoint(first["float_checkpoint"])["meta"]
    assert after["meta"]["twin"] == {"iterations": twin["iterations"], "seconds": twin["seconds"]}


def test_bf16_autocast_keeps_the_output_add_in_float32():
    """Under autocast the convs run in bfloat16, but the anchor + detail add that makes the image does not."""
    from fqsr.models.registry import build_model
    from fqsr.models.train import float32_output_add

    model = build_model(get_config("edsr_float").replace(features=8, blocks=1)).eval()
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).dtype == torch.bfloat16  # what the add would be without the hooks
        with float32_output_add(model):
            assert model(x).dtype == torch.float32
        assert model(x).dtype == torch.bfloat16  # the hooks are gone again


# --- the campaign -------------------------------------------------------------------------

TINY_FLOAT = get_config("tiny_float").replace(features=8, blocks=1)


def campaign_settings(**changes):
    from fqsr.models.campaign import CampaignSettings

    base = dict(leg_minutes=60, leg_iters=6, lr=1e-3, warmup_iters=2, batch=2, lr_patch=12, bf16=False,
                eval_every=3)
    base.update(changes)
    return CampaignSettings(**base)


@pytest.fixture(scope="module")
def eval_sets(tmp_path_factory):
    """One small photograph crop as the training and evaluation set (small is quick)."""
    import imageio.v3 as iio

    from fqsr.models.data import list_images

    folder = tmp_path_factory.mktemp("eval")
    iio.imwrite(folder / "crop.png", list_images("embedded:eval")[0][1][100:164, 100:164])
    return {"crop": str(folder)}


@pytest.fixture(scope="module")
def twin_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin")
    return train(TINY_FLOAT, settings(float_iters=4, save_every=4), out)["float_checkpoint"]


def test_campaign_resumes_where_it_stopped(tmp_path, twin_checkpoint, eval_sets):
    """Stopped after 3 of a leg's 6 iterations and resumed, a campaign ends where an unbroken one does."""
    from fqsr.models.campaign import Campaign, curve_table

    def campaign_settings_here():
        return campaign_settings(data=eval_sets["crop"])

    straight = Campaign(TINY_FLOAT, tmp_path / "a" / "s.state.pt", campaign_settings_here(),
                        init_checkpoint=twin_checkpoint)
    done = straight.run(eval_sets, log=lambda _: None)
    assert done["stopped_by"] == "leg finished" and done["ran"] == 6

    path = tmp_path / "b" / "s.state.pt"
    first = Campaign(TINY_FLOAT, path, campaign_settings_here(), init_checkpoint=twin_checkpoint)
    calls = iter(range(100))
    assert first.run(eval_sets, should_stop=lambda: next(calls) >= 3, log=lambda _: None)["stopped_by"] == "stopped"
    resumed = Campaign(TINY_FLOAT, path, campaign_settings_here())
    assert resumed.iteration == 4 + 3 and resumed.leg["iterations"] == 3
    assert len(resumed.evaluate_now(eval_sets, log=lambda _: None)) == 1  # the point at the stop
    assert resumed.evaluate_now(eval_sets, log=lambda _: None) == []  # once
    assert resumed.run(eval_sets, log=lambda _: None)["ran"] == 3

    end_a = read_checkpoint(tmp_path / "a" / "s.state.pt")
    end_b = read_checkpoint(path)
    start = read_checkpoint(twin_checkpoint)["state_dict"]["head.weight"]
    a, b = end_a["state_dict"]["head.weight"], end_b["state_dict"]["head.weight"]
    assert (a - start).abs().max() > 1e-3  # it trained
    # Same batches and schedule; Adam's moments went through bfloat16 once, so not bit for bit.
    assert (a - b).abs().max() < 1e-4
    rows = [(r["iteration"], r["set"]) for r in end_b["campaign"]["curve"]]
    assert rows == [(4, "crop"), (6, "crop"), (7, "crop"), (9, "crop"), (10, "crop")]
    table = curve_table(end_b["campaign"]["curve"]).splitlines()
    assert table[0].endswith("| crop dB |")
    assert [line.split(" | ")[0] for line in table[2:]] == ["| 4", "| 6", "| 7", "| 9", "| 10"]
    csv_lines = (tmp_path / "b" / "tiny_float_curve.csv").read_text().splitlines()
    assert csv_lines[0].startswith("iteration,seconds") and len(csv_lines) == 1 + len(rows)
    # The state is an fqsr checkpoint: eval and export load it as they are.
    model, meta = load_model(TINY_FLOAT, path)
    assert meta["iterations"] == 10 and meta["stage"] == "float campaign"


def test_campaign_starts_a_new_leg_after_a_finished_one(tmp_path, twin_checkpoint, eval_sets):
    from fqsr.models.campaign import Campaign, leg_lr

    path = tmp_path / "s.state.pt"
    Campaign(TINY_FLOAT, path, campaign_settings(leg_iters=2, eval_every=100, data=eval_sets["crop"]),
             init_checkpoint=twin_checkpoint).run({}, log=lambda _: None)
    again = Campaign(TINY_FLOAT, path, campaign_settings(leg_iters=4))
    assert again.leg == {"index": 1, "budget_seconds": 3600, "budget_iters": 4, "seconds": 0.0, "iterations": 0}
    # Warm-up over 2 iterations, then cosine over the leg's 4 down to lr / 20.
    lrs = []
    for done in range(4):
        lrs.append(leg_lr(again.settings, dict(again.leg, iterations=done)))
    assert lrs[0] == pytest.approx(0.5e-3 * (0.05 + 0.95))
    assert lrs[1] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert leg_lr(again.settings, dict(again.leg, iterations=4)) == pytest.approx(0.05e-3)


def test_campaign_refuses_quantized_models_and_a_missing_start(tmp_path):
    from fqsr.models.campaign import Campaign

    with pytest.raises(FqsrError, match="continues a float twin"):
        Campaign(TINY, tmp_path / "s.state.pt", campaign_settings())
    with pytest.raises(FqsrError, match="no campaign state"):
        Campaign(TINY_FLOAT, tmp_path / "s.state.pt", campaign_settings())


def test_campaign_without_state_continues_the_curve_from_the_shipped_checkpoint(tmp_path, twin_checkpoint,
                                                                               eval_sets):
    """A leg's weights shipped and its state deleted: the next campaign starts there, a new leg on the same curve."""
    from fqsr.models.campaign import Campaign, read_curve
    from fqsr.models.checkpoint import save_checkpoint

    curve = tmp_path / "tiny_float_curve.csv"
    first = Campaign(TINY_FLOAT, tmp_path / "work" / "s.state.pt", campaign_settings(data=eval_sets["crop"]),
                     init_checkpoint=twin_checkpoint, curve_path=curve)
    first.run(eval_sets, log=lambda _: None)
    history = read_curve(curve)
    assert [(r["iteration"], r["leg"]) for r in history] == [(4, 0), (6, 0), (9, 0), (10, 0)]
    model, meta = load_model(TINY_FLOAT, first.state_path)
    shipped = save_checkpoint(tmp_path / "tiny_float.pt", model, meta)  # weights only, as the zoo ships them
    first.state_path.unlink()

    second = Campaign(TINY_FLOAT, tmp_path / "work" / "s.state.pt", campaign_settings(data=eval_sets["crop"]),
                      init_checkpoint=shipped, curve_path=curve)
    assert second.iteration == 10 and second.leg["index"] == 1 and second.curve == history
    done = second.run(eval_sets, log=lambda _: None)
    assert done["ran"] == 6 and done["iteration"] == 16
    rows = [(r["iteration"], r["leg"]) for r in read_curve(curve)]
    assert rows == [(4, 0), (6, 0), (9, 0), (10, 0), (12, 1), (15, 1), (16, 1)]  # no second start point at 10
    assert read_checkpoint(second.state_path)["campaign"]["curve"][:4] == history

    # A checkpoint the curve does not end at would splice two histories: refused, nothing written.
    second.state_path.unlink()
    before = curve.read_text()
    with pytest.raises(FqsrError, match="ends at iteration 16, but .* is at iteration 4"):
        Campaign(TINY_FLOAT, tmp_path / "work" / "s.state.pt", campaign_settings(), init_checkpoint=twin_checkpoint,
                 curve_path=curve)
    assert curve.read_text() == before and not second.state_path.exists()
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FqsrError, match="is not a learning curve"):
        read_curve(tmp_path / "other.csv")
