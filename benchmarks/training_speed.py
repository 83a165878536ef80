"""Iterations/s of float-twin training on the CPU: data sampling and full steps, timed apart.

Usage (from the repository root; benchmarks/training.md records the figures):

    .venv/bin/python benchmarks/training_speed.py [--model edsr_float] [--threads 1] [--iters 20]
        [--channels-last] [--bf16] [--legacy] [--batch 16] [--patch 24]

Times ``--iters`` training steps after ``--warmup`` untimed ones (process CPU time and wall time), on the default
training images (SunHays80 if present, else the embedded photographs), starting
from the shipped weights. Prints one line per measurement.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fqsr.models.checkpoint import load_model
from fqsr.models.data import PatchSampler, list_images
from fqsr.models.train import TrainSettings, batch_tensors, default_train_source, forward_loss


def gradient(model, lr, hr, bf16: bool) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    forward_loss(model, lr, hr, bf16).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def compare_bf16(model, sampler, args, rng, batches: int = 4) -> None:
    """How far bf16 autocast moves a gradient, next to how far the choice of batch moves it."""
    model.train().to(memory_format=torch.channels_last)
    cosine = torch.nn.functional.cosine_similarity
    float32 = []
    for n in range(batches):
        lr, hr = batch_tensors(*sampler.sample(args.batch, args.patch, rng), "cpu", torch.channels_last)
        exact, bf16 = gradient(model, lr, hr, False), gradient(model, lr, hr, True)
        print(f"batch {n}: cos(bf16, float32) = {float(cosine(exact, bf16, dim=0)):.3f}, "
              f"|bf16 - float32| / |float32| = {float((bf16 - exact).norm() / exact.norm()):.3f}")
        float32.append(exact)
    pairs = [float(cosine(a, b, dim=0)) for i, a in enumerate(float32) for b in float32[i + 1:]]
    print(f"float32 gradients of different batches: cos {min(pairs):.3f} .. {max(pairs):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="edsr_float")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=TrainSettings.batch)
    parser.add_argument("--patch", type=int, default=TrainSettings.lr_patch)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="CPU autocast to bfloat16")
    parser.add_argument("--compare-bf16", action="store_true",
                        help="instead of timing: cosine of bf16 and float32 gradients on the same batches, "
                             "against the cosine of float32 gradients of different batches")
    parser.add_argument("--legacy", action="store_true",
                        help="the step as models.train.fit took it before: the sampler's arrays as they come, "
                             "contiguous weights, float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, _ = load_model(args.model)
    cfg = model.config
    source = default_train_source()
    start = time.monotonic()
    sampler = PatchSampler([img for _, img in list_images(source)], cfg.scale, channels=cfg.channels)
    print(f"data: {source}, sampler ready in {time.monotonic() - start:.1f} s")
    rng = np.random.default_rng(0)

    start = time.process_time()
    for _ in range(200):
        sampler.sample(args.batch, args.patch, rng)
    sample_ms = (time.process_time() - start) / 200 * 1000
    print(f"sampling: {sample_ms:.2f} CPU ms per batch of {args.batch} LR {args.patch}x{args.patch} patches")

    if args.compare_bf16:
        compare_bf16(model, sampler, args, rng)
        return
    memory_format = torch.channels_last if args.channels_last and not args.legacy else torch.contiguous_format
    model.train().to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step():  # the step of models.train.fit and models.campaign
        if args.legacy:
            lr_batch, hr_batch = sampler.sample(args.batch, args.patch, rng)
            loss = torch.nn.L1Loss()(model(torch.from_numpy(lr_batch)), torch.from_numpy(hr_batch))
        else:
            lr, hr = batch_tensors(*sampler.sample(args.batch, args.patch, rng), "cpu", memory_format)
            loss = forward_loss(model, lr, hr, args.bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    start, cpu_start = time.monotonic(), time.process_time()
    for _ in range(args.iters):
        step()
    seconds, cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    # On a shared machine the process's CPU time is the fair measure; on an idle one the two agree.
    print(f"{args.model} batch {args.batch} patch {args.patch} threads {args.threads} "
          f"{'legacy step' if args.legacy else f'channels_last={args.channels_last} bf16={args.bf16}'}: "
          f"{args.iters / cpu_seconds:.3f} it per CPU second, {args.iters / seconds:.3f} it/s wall "
          f"({args.iters} iterations)")


if __name__ == "__main__":
    main()
