"""Quantizer recipes: which Brevitas quantizer every kind of tensor gets.

Two scale families:

* ``po2`` (default): power-of-two scales, learned in the log2 domain (FQSR's
  learnable ranges, rounded to a power of two). Float32 arithmetic on such
  tensors is exact and the hardware requantizes with shifts only.
* ``float``: learned non-power-of-two scales (better accuracy at very low bit
  widths, but float rounding at ties can differ between frameworks).

Pixels at the input and output use a constant scale of 2**-8 so that an 8-bit
image ``k`` (0..255) enters the network as exactly ``k / 256``.
"""
from __future__ import annotations

from brevitas.core.function_wrapper import RoundSte
from brevitas.inject.enum import ScalingImplType
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerChannelFloat,
    Int32Bias,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

from .errors import FqsrError


# One 8-bit pixel level in the networks' units: pixel k enters and leaves as k * PIXEL_STEP.
PIXEL_STEP = 2.0 ** -8


class PixelQuant(Uint8ActPerTensorFixedPoint):
    """Unsigned 8-bit, constant scale 2**-8: uint8 pixel k <-> k / 256 exactly."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 1.0
    max_val = 1.0


class AnchorWeightQuant(Int8WeightPerTensorFixedPoint):
    """Signed 2-bit weights at the constant scale 1 (range 2 over 2**(2-1) levels): 0 and 1 exactly."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 2.0
    bit_width = 2


class FixedScaleActQuant(Int8ActPerTensorFixedPoint):
    """Signed activations at a constant power-of-two scale, set per instance through
    ``scaling_const`` (= scale * 2**(bits-1)): an add operand whose partner's scale is fixed."""

    scaling_impl_type = ScalingImplType.CONST


# Brevitas' fixed-point weight quantizer rounds log2 of the per-channel max
# *up* to a power of two, so the largest weight may use only half of the
# levels; at 4 bits that costs a third of the resolution. Weights round log2
# to the nearest power instead and clip the few beyond it. Activations keep
# rounding up: clipping the residual stream costs more than the lost level
# (PTQ of tiny on Set5: w4a4 22.7 -> 24.5 dB with nearest weights, while
# nearest activation scales drop the 8-bit residual stream by 1.9 dB).
class Po2WeightPerChannel(Int8WeightPerChannelFixedPoint):
    restrict_value_float_to_int_impl = RoundSte


# scale family -> (weight, signed activation, unsigned activation)
RECIPES = {
    "po2": (Po2WeightPerChannel, Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint),
    "float": (Int8WeightPerChannelFloat, Int8ActPerTensorFloat, Uint8ActPerTensorFloat),
}

# Accumulator-width bias: with the input and weight scales known, an int32
# bias is exact in the integer domain and folds into thresholds downstream.
BIAS_QUANT = Int32Bias


def recipe(scaling: str):
    """Return (weight_quant, signed_act_quant, unsigned_act_quant) for a scale family."""
    try:
        return RECIPES[scaling]
    except KeyError:
        raise FqsrError(
            f"unknown scale family '{scaling}'; choose one of {', '.join(sorted(RECIPES))}"
        ) from None
