"""``fqsr demo``: the main job on a default model, told in five lines and one picture.

Load (or briefly train) the model, score it against its float twin and
bicubic, export it and compile it with the equality proof at each step, and
draw one image side by side (bicubic, quantized model, float twin, ground
truth) with a zoomed detail.
"""
from __future__ import annotations

from pathlib import Path

from .pipeline import BuildConfig, run_steps

PICTURE_NAME = "demo.png"


def _picture(cfg, data: str, per_image: list[dict], nets: dict, folder: Path) -> dict:
    """``demo.png`` of the image bicubic does worst on (the most detail to recover)."""
    from fqsr.models.bicubic import upscale
    from fqsr.models.data import eval_pairs
    from fqsr.models.infer import super_resolve
    from fqsr.models.metrics import psnr_y
    from fqsr.reports.plots import detail_window, side_by_side

    name = min(per_image, key=lambda row: row["bicubic"]["psnr_y"])["image"]
    lr, hr = next((lr, hr) for image, lr, hr in eval_pairs(data, cfg.scale, channels=cfg.channels) if image == name)
    images = {"bicubic": upscale(lr, cfg.scale), **{label: super_resolve(net, lr) for label, net in nets.items()}}
    panels = [(f"{label}\nPSNR-Y {psnr_y(image, hr, cfg.scale):.2f} dB", image) for label, image in images.items()]
    panels.append(("ground truth (HR)", hr))
    side = max(16, min(hr.shape[:2]) // 6)
    y, x = detail_window(hr, images["bicubic"], side)
    path = side_by_side(panels, folder / PICTURE_NAME,
                        f"{cfg.name} x{cfg.scale} on {name} ({Path(str(data)).name})", (y, x, side))
    return {"path": str(path), "image": name, "detail": {"y": y, "x": x, "side": side}}


def run_demo(model: str, data: str | None = None, echo=print) -> dict:
    """Train if no checkpoint is shipped, evaluate, export, compile, draw; returns the report."""
    from tqdm import tqdm

    from fqsr.models.checkpoint import load_model, shipped_checkpoint
    from fqsr.models.data import shared_data_dir
    from fqsr.models.evaluate import evaluate
    from fqsr.models.errors import FqsrError
    from fqsr.models.registry import get_config
    from fqsr.models.train import TrainSettings
    from fqsr.models.train import train as run_train

    from fqsr.flows.artifacts import model_dir

    cfg = get_config(model)
    checkpoint = float_checkpoint = None
    if not shipped_checkpoint(model).is_file():
        echo(f"no shipped checkpoint for {model}: a short training run on the embedded images")
        trained = run_train(cfg, TrainSettings(float_iters=300, qat_iters=100, data="embedded:train"),
                            Path("build/train"))
        checkpoint, float_checkpoint = trained.get("checkpoint"), trained["float_checkpoint"]
    if data is None:
        shared = shared_data_dir()
        data = str(shared / "Set5") if shared and (shared / "Set5").is_dir() else "embedded"
    # One transient line says which step runs (evaluation has its own bar below it).
    steps = tqdm(total=4, desc=f"demo {model}: evaluate", bar_format="{desc} [step {n_fmt}/{total_fmt}]", leave=False)
    scores = evaluate(model, data, checkpoint, float_checkpoint)
    per_image = scores.pop("per_image")
    steps.set_description(f"demo {model}: export to QONNX and check")
    steps.update()
    net, meta = load_model(cfg, checkpoint)
    nets = {f"{model} (quantized)" if cfg.quantized else model: net}
    if cfg.quantized:
        try:
            nets["float twin"] = load_model(cfg.twin_name, float_checkpoint, require_trained=True)[0]
        except FqsrError:
            pass  # no twin to show: the picture has one panel fewer
    build = BuildConfig(model_dir(cfg), model=cfg, net=net, meta=meta)
    exported = run_steps(build, ["export"])["export"]
    exported.pop("config")
    steps.set_description(f"demo {model}: compile with FINN and check")
    steps.update()
    compiled = run_steps(build, ["compile"])["compile"]
    steps.set_description(f"demo {model}: draw {PICTURE_NAME}")
    steps.update()
    picture = _picture(cfg, data, per_image, nets, build.folder)
    steps.close()
    keys = ("dataflow", "reference", "equal", "elements", "mismatches", "hardware_ops", "cycles_per_frame", "fps",
            "clock_mhz", "totals", "timing")
    return {"model": model, "model_dir": str(build.folder), "eval": scores, "export": exported,
            "compile": {k: compiled[k] for k in keys if k in compiled}, "picture": picture}
