"""Layer factories: one network definition builds both the quantized model and its float twin.

Every network in :mod:`fqsr.models.nets` asks a factory for its layers by
name (the module path it will have, e.g. ``body.0.conv1``). The quantized
factory looks the name up in the config's per-layer bit widths, so mixed
precision is a config, never a fork of the network code.
"""
from __future__ import annotations

import fnmatch

import brevitas.nn as qnn
import torch
from torch import nn

from .errors import FqsrError
from .quantizers import BIAS_QUANT, AnchorWeightQuant, FixedScaleActQuant, PixelQuant, recipe


def freeze_anchor(conv, channels, repeats):
    """Set a 1x1 conv to repeat input channel c as outputs c*repeats .. c*repeats+repeats-1, frozen.

    That is the channel order :class:`torch.nn.PixelShuffle` reads, so after the
    shuffle each input pixel fills its ``r x r`` block: nearest-neighbour upsampling.
    """
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels).repeat_interleave(repeats, dim=0)[:, :, None, None])
    conv.weight.requires_grad_(False)
    return conv


class FloatLayers:
    """The float twin: the same topology with plain torch layers."""

    quantized = False

    def __init__(self, cfg):
        self.cfg = cfg
        self.names: list[str] = []

    def _named(self, name):
        self.names.append(name)

    def conv(self, name, c_in, c_out, kernel, bias=True):
        self._named(name)
        return nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias)

    def anchor(self, name, channels, repeats):
        """The input image repeated per pixel-shuffle group (fixed weights of one), see :func:`freeze_anchor`."""
        self._named(name)
        return freeze_anchor(nn.Conv2d(channels, channels * repeats, 1, bias=False), channels, repeats)

    def relu(self, name):
        self._named(name)
        return nn.ReLU()

    def quant(self, name):
        """A requantization point (residual branches, conv inputs): identity in float."""
        self._named(name)
        return nn.Identity()

    def pixels(self, name):
        """The 8-bit pixel quantizer at the input and output: identity in float."""
        self._named(name)
        return nn.Identity()

    def quant_at(self, name, scale, default_bits=8):
        """A signed requantization point at the constant ``scale``: identity in float."""
        self._named(name)
        return nn.Identity()

    def batch_norm(self, name, channels):
        return nn.BatchNorm2d(channels)


class QuantLayers(FloatLayers):
    """Brevitas layers; every tensor between input and output is quantized."""

    quantized = True

    def __init__(self, cfg):
        super().__init__(cfg)
        self.weight_quant, self.signed_quant, self.unsigned_quant = recipe(cfg.scaling)

    def bits(self, name, default):
        """Bit width of layer ``name``: the last matching per-layer override, else ``default``."""
        width = default
        for pattern, value in self.cfg.bits:
            if fnmatch.fnmatchcase(name, pattern):
                width = value
        if not 2 <= width <= 8:
            raise FqsrError(f"layer {name} asks for {width} bits; fqsr supports 2 to 8")
        return width

    def conv(self, name, c_in, c_out, kernel, bias=True):
        self._named(name)
        return qnn.QuantConv2d(
            c_in, c_out, kernel, padding=kernel // 2, bias=bias,
            weight_quant=self.weight_quant,
            weight_bit_width=self.bits(name, self.cfg.weight_bits),
            bias_quant=BIAS_QUANT if bias else None,
            return_quant_tensor=True,
        )

    def anchor(self, name, channels, repeats):
        # 2-bit weights at a constant scale of one: the weights 0 and 1 are exact integers.
        self._named(name)
        conv = qnn.QuantConv2d(channels, channels * repeats, 1, bias=False, weight_quant=AnchorWeightQuant,
                               return_quant_tensor=True)
        return freeze_anchor(conv, channels, repeats)

    def relu(self, name):
        self._named(name)
        return qnn.QuantReLU(
            act_quant=self.unsigned_quant,
            bit_width=self.bits(name, self.cfg.act_bits),
            return_quant_tensor=True,
        )

    def quant(self, name):
        """Signed requantization at A bits unless a per-layer override says otherwise."""
        self._named(name)
        return qnn.QuantIdentity(
            act_quant=self.signed_quant,
            bit_width=self.bits(name, self.cfg.act_bits),
            return_quant_tensor=True,
        )

    def pixels(self, name):
        self._named(name)
        return qnn.QuantIdentity(act_quant=PixelQuant, return_quant_tensor=True)

    def quant_at(self, name, scale, default_bits=8):
        """Signed requantization at the constant ``scale`` whatever the bit width, which sets only the range."""
        self._named(name)
        bits = self.bits(name, default_bits)
        limit = scale * 2.0 ** (bits - 1)
        return qnn.QuantIdentity(act_quant=FixedScaleActQuant, bit_width=bits, scaling_const=limit,
                                 min_val=-limit, max_val=limit, return_quant_tensor=True)


def layers_for(cfg):
    """The factory for a config; checks afterwards that every override matched a layer."""
    return QuantLayers(cfg) if cfg.quantized else FloatLayers(cfg)


def check_overrides(cfg, names):
    """Fail on per-layer bit-width patterns that match no layer (a typo would be silent)."""
    for pattern, _ in cfg.bits:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise FqsrError(
                f"bit-width override '{pattern}' matches no layer of {cfg.name}; "
                f"layers are e.g. {', '.join(names[:6])}"
            )
