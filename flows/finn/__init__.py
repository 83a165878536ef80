"""fqsr's FINN layer: our own transformations and custom hardware ops, one concern per module.

Importing this package registers the custom ops with QONNX/FINN, so FINN's
execution, folding and estimate passes find them like FINN's own ops.
"""
from __future__ import annotations


def register_custom_ops() -> None:
    """Register PixelShuffle (generic HW op) and PixelShuffle_rtl (its specialized variant)."""
    from finn.custom_op.fpgadataflow.rtl import custom_op as rtl_variants
    from qonnx.custom_op.registry import add_op_to_domain

    from .pixel_shuffle import DOMAIN, PixelShuffle, PixelShuffle_rtl

    add_op_to_domain(DOMAIN, PixelShuffle)
    add_op_to_domain(DOMAIN + ".rtl", PixelShuffle_rtl)
    # FINN's SpecializeLayers looks variants up in this dict.
    rtl_variants["PixelShuffle_rtl"] = PixelShuffle_rtl


register_custom_ops()
