"""Integer equality between two stages of the chain, element for element.

Bit-exact means every element equal; there is no tolerance anywhere here.
"""
from __future__ import annotations

import numpy as np

from fqsr.models.errors import FqsrError


def to_integers(values, scale, what: str) -> np.ndarray:
    """Divide a dequantized tensor by its scale; refuse if the quotient is not integral.

    A non-integral quotient means the tensor is not on the quantization grid
    at all, which is a bug in the stage that produced it, not a rounding issue.
    """
    q = np.asarray(values, dtype=np.float64) / float(scale)
    ints = np.round(q)
    off_grid = int(np.count_nonzero(q != ints))
    if off_grid:
        raise FqsrError(f"{what}: {off_grid} values are not integer multiples of the scale {scale}")
    return ints.astype(np.int64)


def grid_integers(values, scale, what: str) -> np.ndarray:
    """:func:`to_integers` for any scale, one per tensor or one per channel (NCHW axis 1).

    A learned (non-power-of-two) scale leaves float32 noise: ``k * scale`` in float32
    divided by ``scale`` is within float32 precision of ``k``, not exactly ``k``;
    anything farther than 1e-3 from an integer is off the grid.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if scale.size > 1:
        scale = scale.reshape(1, -1, *([1] * (np.ndim(values) - 2)))
    log2 = np.log2(scale)
    if scale.size == 1 and log2 == np.round(log2):
        return to_integers(values, float(scale), what)
    q = np.asarray(values, dtype=np.float64) / scale
    ints = np.round(q)
    if np.any(np.abs(q - ints) > 1e-3):
        raise FqsrError(f"{what}: values are not integer multiples of the scale {scale.reshape(-1)[0]:g}")
    return ints.astype(np.int64)


def compare(reference, candidate, stage: str, layer: str = "output") -> dict:
    """Compare two integer tensors; report count and first differing index."""
    reference = np.asarray(reference)
    candidate = np.asarray(candidate)
    if reference.shape != candidate.shape:
        raise FqsrError(
            f"{stage}: {layer} has shape {candidate.shape}, expected {reference.shape}"
        )
    diff = reference != candidate
    mismatches = int(np.count_nonzero(diff))
    report = {
        "stage": stage,
        "layer": layer,
        "equal": mismatches == 0,
        "elements": int(reference.size),
        "mismatches": mismatches,
    }
    if mismatches:
        first = tuple(int(i) for i in np.argwhere(diff)[0])
        report["first_mismatch"] = {
            "index": first,
            "expected": int(reference[first]),
            "got": int(candidate[first]),
        }
    return report


def merge(reports: list[dict]) -> dict:
    """Sum several comparisons (e.g. one per tile) into one verdict, keeping the first failure."""
    merged = {
        "equal": all(r["equal"] for r in reports),
        "elements": sum(r["elements"] for r in reports),
        "mismatches": sum(r["mismatches"] for r in reports),
    }
    failures = [r for r in reports if not r["equal"]]
    if failures:
        merged["first_failure"] = failures[0]
    return merged
