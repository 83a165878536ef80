"""MATLAB-compatible bicubic ``imresize`` in numpy.

Super-resolution papers build their low-resolution inputs and their "bicubic"
baseline with MATLAB's ``imresize(img, scale, 'bicubic')``.  Other resamplers
(PIL, OpenCV, torch) differ in kernel, antialiasing and boundary handling and
shift the published PSNRs by tenths of a dB, so results are only comparable
with the literature when the data is produced exactly the MATLAB way.  This
module re-implements that algorithm:

* Keys cubic kernel with a = -0.5 and support width 4;
* when shrinking, the kernel is stretched by ``1/scale`` (MATLAB's
  antialiasing), which widens its support to ``4/scale`` input pixels;
* pixels outside the image are taken by mirror reflection that repeats the
  edge pixel ("symmetric" padding);
* rows are resized first, then columns (MATLAB's order for equal scales);
* for uint8 input the result of each pass is rounded and saturated to uint8,
  because MATLAB's ``imresizemex`` keeps the input class between passes.
"""

from __future__ import annotations

import math

import numpy as np

KERNEL_WIDTH = 4.0
"""Support of the Keys cubic kernel in input pixels when not shrinking."""

_SIZE_TOLERANCE = 1e-9
"""Slack when rounding ``in * scale`` up, so that e.g. ``288 * (1/3)`` gives 96
even when floating point lands a hair above the integer."""


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5, as in MATLAB's imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_length(in_length: int, scale: float) -> int:
    """Output size along one axis: ``ceil(in * scale)``, as MATLAB computes it."""
    return max(1, math.ceil(in_length * scale - _SIZE_TOLERANCE))


def _mirror_indices(indices: np.ndarray, in_length: int) -> np.ndarray:
    """Fold out-of-range sample positions back into ``0..in_length-1``.

    Symmetric reflection repeats the edge pixel: ``-1 -> 0``, ``n -> n-1``.
    """
    period = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    return period[np.mod(indices, 2 * in_length)]


def contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-pixel taps for one axis: ``(weights, indices)``, both ``out x taps``.

    Output pixel ``i`` is ``sum_k weights[i, k] * input[indices[i, k]]``.
    Computed once per axis and shared by every row/column and channel.
    """
    if scale < 1:
        kernel_width = KERNEL_WIDTH / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)
    else:
        kernel_width = KERNEL_WIDTH
        kernel = cubic

    # Output pixel centres mapped to input coordinates (1-based, as MATLAB).
    centre = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(centre[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)

    used = np.any(weights != 0, axis=0)
    indices = _mirror_indices(indices[:, used].astype(np.int64) - 1, in_length)
    return weights[:, used], indices


def _resize_axis(img: np.ndarray, axis: int, scale: float, round_to_uint8: bool) -> np.ndarray:
    """Resample ``img`` along one axis, looping over kernel taps only."""
    src = np.moveaxis(img, axis, 0)
    out_length = output_length(src.shape[0], scale)
    weights, indices = contributions(src.shape[0], out_length, scale)
    weight_shape = (out_length,) + (1,) * (src.ndim - 1)
    out = np.zeros((out_length,) + src.shape[1:], dtype=np.float64)
    for tap in range(weights.shape[1]):
        out += weights[:, tap].reshape(weight_shape) * src[indices[:, tap]]
    if round_to_uint8:
        out = round_to_uint8_range(out)
    return np.moveaxis(out, 0, axis)


def round_to_uint8_range(values: np.ndarray) -> np.ndarray:
    """MATLAB's float -> uint8 conversion: round half away from zero, saturate."""
    return np.clip(np.floor(values + 0.5), 0, 255)


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """Resize an HxW or HxWxC image by ``scale`` like MATLAB ``imresize(..., 'bicubic')``.

    Output size is ``ceil(in * scale)`` per axis.  uint8 input gives uint8
    output (rounded and clipped after each pass, as MATLAB does); any other
    input is treated as float64 and returned as float64 without clipping.
    """
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an HxW or HxWxC array, got shape {img.shape}.")
    if scale <= 0:
        raise ValueError(f"imresize needs a positive scale, got {scale}.")
    is_uint8 = img.dtype == np.uint8
    out = img.astype(np.float64)
    for axis in (0, 1):
        out = _resize_axis(out, axis, scale, round_to_uint8=is_uint8)
    return out.astype(np.uint8) if is_uint8 else out


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Low-resolution image the SR literature's way: MATLAB bicubic by ``1/scale``."""
    return imresize(hr, 1.0 / scale)


def upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The "bicubic" baseline of SR tables: MATLAB bicubic upscaling by ``scale``."""
    return imresize(lr, float(scale))
