"""Exact integer thresholds for a requantization step: the rounding fix at its root.

A requantizer maps an integer tensor ``v`` (an accumulator, a residual sum or
another quantizer's output) through a float pipeline ``g`` (the scale, the
bias, ReLU, batch norm) and a QONNX ``Quant`` (round half to even, clip) to
an integer level ``q(v)``. ``q`` is non-decreasing in ``v`` (rounding half to
even is non-decreasing, and so is every stage before it), so it is exactly a
FINN MultiThreshold: ``q(v) = qmin + #{k : v >= T_k}`` with

    T_k = min { v integer : q(v) >= qmin + k }.

FINN's own conversion puts ``T_k`` at ``(k - 1/2) * scale``, i.e. ties always
round up; Brevitas/QONNX send a tie ``k - 1/2`` to the even neighbour, so at a
tie the step sits at ``v`` (``>=``) when the upper level is even and one
integer later (``>``) when it is odd. Searching ``T_k`` on the integers with
the exact rounding function gets both cases, and any monotone float pipeline,
right without case analysis: the thresholds are the rounding function itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from fqsr.models.errors import FqsrError


@dataclass(frozen=True)
class QuantSpec:
    """A QONNX ``Quant`` on activations: ``clip(round_half_even(x / scale))``."""

    scale: float
    bits: int
    signed: bool
    narrow: bool

    @property
    def qmin(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1

    def levels(self, x: np.ndarray) -> np.ndarray:
        """The integer level of float values ``x``, as QONNX's Quant computes it."""
        return np.clip(np.round(np.asarray(x, dtype=np.float64) / self.scale), self.qmin, self.qmax)


def requant_levels(pipeline: Callable[[np.ndarray, np.ndarray], np.ndarray], quant: QuantSpec,
                   v: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """``q(v)`` per element, ``channel`` giving each element's channel index."""
    return quant.levels(pipeline(v, channel))


def search_thresholds(pipeline, quant: QuantSpec, lo: np.ndarray, hi: np.ndarray, direction: np.ndarray):
    """Thresholds ``(C, qmax - qmin)`` on integer inputs in ``[lo, hi]`` per channel.

    ``direction`` is +1 where ``q`` rises with ``v`` and -1 where it falls (a
    negative batch-norm gain); a falling channel is searched on ``-v`` and
    the caller negates that channel's weights. A threshold beyond the input
    range is clipped to ``hi + 1`` (never reached) or ``lo`` (always reached).
    """
    channels = lo.shape[0]
    steps = quant.qmax - quant.qmin
    ch = np.broadcast_to(np.arange(channels)[:, None], (channels, steps))
    target = quant.qmin + np.arange(1, steps + 1)[None, :]
    d = direction[:, None].astype(np.int64)
    # searched variable u = direction * v, range [ulo, uhi]
    ulo = np.where(d > 0, lo[:, None], -hi[:, None]).astype(np.int64)
    uhi = np.where(d > 0, hi[:, None], -lo[:, None]).astype(np.int64)
    low = np.broadcast_to(ulo, (channels, steps)).copy()
    high = np.broadcast_to(uhi + 1, (channels, steps)).copy()  # u = uhi + 1 counts as reached
    while np.any(low < high):
        mid = (low + high) // 2
        reached = (mid > uhi) | (requant_levels(pipeline, quant, (d * mid).astype(np.float64), ch) >= target)
        high = np.where(reached & (low < high), mid, high)
        low = np.where(~reached & (low < high), mid + 1, low)
    return low.astype(np.float64)


def check_monotone(pipeline, quant: QuantSpec, lo, hi, direction, thresholds, where: str) -> None:
    """Refuse a requantizer that is not monotone (the thresholds would be wrong).

    Samples every integer of small ranges and a dense grid of large ones.
    """
    channels = lo.shape[0]
    for c in range(channels):
        span = int(hi[c] - lo[c])
        u = np.unique(np.linspace(-hi[c] if direction[c] < 0 else lo[c],
                                  -lo[c] if direction[c] < 0 else hi[c],
                                  num=min(span + 1, 4097)).round()).astype(np.int64)
        got = quant.qmin + np.searchsorted(thresholds[c], u, side="right")
        want = requant_levels(pipeline, quant, (direction[c] * u).astype(np.float64), np.full(u.shape, c))
        if not np.array_equal(got, want):
            raise FqsrError(f"{where}: the requantizer of channel {c} is not monotone in its "
                            f"integer input, so it cannot become thresholds")
