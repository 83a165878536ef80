"""Running a model on whole images, the way evaluation and hardware-in-the-loop do."""
from __future__ import annotations

import numpy as np
import torch

from .data import from_model, to_model


def as_tensor(output) -> torch.Tensor:
    """The float view of a model output (a Brevitas QuantTensor or a plain tensor)."""
    return output.value if hasattr(output, "value") else output


@torch.no_grad()
def super_resolve(model, lr: np.ndarray) -> np.ndarray:
    """uint8 HxWxC LR image -> uint8 (sH)x(sW)xC SR image through ``model`` (eval mode)."""
    device = next(model.parameters()).device
    return from_model(as_tensor(model(to_model(lr).to(device))))


@torch.no_grad()
def integer_output(model, x: torch.Tensor) -> np.ndarray:
    """The quantized model's integer output (Brevitas ``QuantTensor.int()``) for a float input."""
    out = model(x)
    return out.int().cpu().numpy().astype(np.int64), float(out.scale)
