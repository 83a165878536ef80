"""Image-quality metrics computed the way SR papers report them.

Published PSNR/SSIM tables (SRCNN, VDSR, EDSR, RCAN, ...) measure on the
luma (Y) channel of MATLAB's ``rgb2ycbcr``, with ``scale`` pixels shaved off
every border (the resampler cannot reconstruct them), on a 0..255 range.
Matching those conventions exactly is what makes our numbers comparable.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
"""ITU-R BT.601 luma weights of MATLAB ``rgb2ycbcr`` for 0..255 RGB input."""


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y channel of MATLAB ``rgb2ycbcr`` (range 16..235) as unrounded float64.

    A single-channel (HxW or HxWx1) image is taken to be Y already.
    """
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0].astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 3:
        return 16.0 + img.astype(np.float64) @ _Y_WEIGHTS
    raise ValueError(f"Expected an HxW, HxWx1 or HxWx3 image, got shape {img.shape}.")


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels on every side (the SR evaluation convention)."""
    if border <= 0:
        return img
    return img[border:-border, border:-border]


def _shaved_y_pair(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Y channels of both images with ``scale`` border pixels removed."""
    if sr.shape != hr.shape:
        raise ValueError(
            f"Super-resolved image shape {sr.shape} differs from reference shape {hr.shape}."
        )
    return shave(rgb_to_y(sr), scale), shave(rgb_to_y(hr), scale)


def psnr_y(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """PSNR in dB on the shaved Y channel, data range 255; inf for identical images."""
    sr_y, hr_y = _shaved_y_pair(sr, hr, scale)
    mse = float(np.mean((sr_y - hr_y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


SSIM_SIGMA = 1.5
SSIM_WINDOW = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1
"""The side of scikit-image's Gaussian SSIM window for MATLAB's sigma (11 pixels)."""


def min_eval_side(scale: int) -> int:
    """The smallest HR side a ``scale`` evaluation can score: SSIM's window after shaving ``scale``
    pixels per border, rounded up to a multiple of ``scale`` (16 for x2, 18 for x3, 20 for x4)."""
    need = SSIM_WINDOW + 2 * scale
    return -(-need // scale) * scale


def ssim_y(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """SSIM on the shaved Y channel with the settings equivalent to MATLAB's ``ssim``."""
    sr_y, hr_y = _shaved_y_pair(sr, hr, scale)
    return float(
        structural_similarity(
            sr_y,
            hr_y,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            data_range=DATA_RANGE,
        )
    )
