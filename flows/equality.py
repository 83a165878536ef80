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
