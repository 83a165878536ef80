"""Training: float twin then QAT, resumable, checkpoints that load back."""
import torch

from fqsr.models.checkpoint import load_model, read_checkpoint
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


def test_training_reduces_loss(tmp_path):
    """A few dozen float iterations beat the untrained twin on held-out patches."""
    import numpy as np

    from fqsr.models.data import PatchSampler, list_images
    from fqsr.models.infer import as_tensor
    from fqsr.models.registry import build_model

    cfg = get_config("tiny_float").replace(features=8, blocks=1)
    sampler = PatchSampler([img for _, img in list_images("embedded:eval")], 2)
    lr, hr = (torch.from_numpy(a) for a in sampler.sample(8, 16, np.random.default_rng(1)))
    torch.manual_seed(0)
    before = (as_tensor(build_model(cfg).eval()(lr)) - hr).abs().mean()
    result = train(cfg, settings(float_iters=40, batch=4, save_every=40), tmp_path)
    model, _ = load_model(cfg, result["float_checkpoint"])
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
