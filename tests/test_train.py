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
