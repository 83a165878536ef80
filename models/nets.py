"""The super-resolution networks, each readable top to bottom.

Every network takes pixels as ``k / 256`` (k the 8-bit value), quantizes them
at the input, and ends in the 8-bit pixel quantizer, so the quantized model's
output is an integer image. Layer names passed to the factory are the module
paths, so per-layer bit widths can address them (``body.3.conv2``).

Residual adds follow one rule (see :class:`ResBlock`): both operands of an add
leave the same quantizer instance, which gives them the same scale and sign —
what an integer adder in hardware needs. The input anchor's add
(:class:`InputAnchored`) has equal scales by construction instead: the 8-bit
input pixel plus a signed detail at the pixel's own constant scale.
"""
from __future__ import annotations

from torch import nn

from .quantizers import PIXEL_STEP


class ResBlock(nn.Module):
    """x + conv(act(conv(x))), EDSR style (SRResNet adds batch norm)."""

    def __init__(self, layers, name, features, batch_norm=False):
        super().__init__()
        # One quantizer for both add operands: equal scale and sign on both sides.
        self.quant = layers.quant(f"{name}.quant")
        self.conv1 = layers.conv(f"{name}.conv1", features, features, 3, bias=not batch_norm)
        self.bn1 = layers.batch_norm(f"{name}.bn1", features) if batch_norm else nn.Identity()
        self.act = layers.relu(f"{name}.act")
        self.conv2 = layers.conv(f"{name}.conv2", features, features, 3, bias=not batch_norm)
        self.bn2 = layers.batch_norm(f"{name}.bn2", features) if batch_norm else nn.Identity()

    def forward(self, x):
        x = self.quant(x)
        body = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return x + self.quant(body)


def upsampler(layers, name, features, scale, activation):
    """conv -> quantize -> pixel shuffle, once for x2/x3, twice (x2 each) for x4."""
    factors = [2, 2] if scale == 4 else [scale]
    stages = []
    for r in factors:
        stages.append(layers.conv(f"{name}.{len(stages)}", features, features * r * r, 3))
        make_act = layers.relu if activation else layers.quant
        stages.append(make_act(f"{name}.{len(stages)}"))
        stages.append(nn.PixelShuffle(r))
    return nn.Sequential(*stages)


class InputAnchored(nn.Module):
    """The input anchor (as in ABPN, Du et al. 2021): the input pixel under each output pixel.

    A fixed 1x1 conv (weights of one) repeats the input pixel into the ``r*r``
    sub-pixel channels it covers; after the pixel shuffle that is
    nearest-neighbour upsampling. The network's own output becomes the detail
    on top of it, so the image itself no longer passes through low-bit
    tensors: the 4-bit output weights of plain ESPCN cost it almost 10 dB and
    a 4-bit residual stream that carries the image costs tiny 6.5 dB before
    QAT (benchmarks/psnr.md).

    The add is exact at the pixel grid: the anchor operand is the input pixel
    itself (unsigned 8-bit at 2**-8), and ``detail_quant`` puts the detail on
    the same constant 2**-8 scale, signed 8 bits (+-127/256) by default. Equal
    scales are what the integer adder needs (Brevitas refuses the add
    otherwise); the signs may differ. A shared learned quantizer would land on
    2**-7 to hold the image and drop the input's least significant bit, which
    cost espcn_w4a4 0.22 dB.
    """

    def add_input_anchor(self, layers, channels, scale):
        self.anchor = layers.anchor("anchor", channels, scale * scale)
        self.detail_quant = layers.quant_at("detail_quant", PIXEL_STEP)
        self.shuffle = nn.PixelShuffle(scale)


class HRTail(InputAnchored):
    """The output of the residual nets, whose tail conv runs at HR after the upsampler.

    With ``anchored`` the tail conv writes the detail over the input anchor,
    added at HR after the anchor's own pixel shuffle (:class:`InputAnchored`).
    """

    def build_output(self, layers, channels, scale, anchored):
        self.anchored = anchored
        if anchored:
            self.add_input_anchor(layers, channels, scale)
        self.out = layers.pixels("out")

    def output(self, x, image):
        """The tail's ``image`` as pixels; with the anchor, the tail's output is detail over the input ``x``."""
        if self.anchored:
            image = self.shuffle(self.anchor(x)) + self.detail_quant(image)
        return self.out(image)


class EDSR(HRTail):
    """EDSR-baseline: head conv, residual blocks, body conv + global skip, upsampler, tail conv."""

    def __init__(self, cfg, layers, anchored=False):
        super().__init__()
        f, c = cfg.features, cfg.channels
        self.inp = layers.pixels("inp")
        self.head = layers.conv("head", c, f, 3)
        # Shared by both operands of the global skip add.
        self.skip_quant = layers.quant("skip_quant")
        self.body = nn.Sequential(*[ResBlock(layers, f"body.{i}", f) for i in range(cfg.blocks)])
        self.body_quant = layers.quant("body_quant")
        self.body_end = layers.conv("body_end", f, f, 3)
        self.up_quant = layers.quant("up_quant")
        self.up = upsampler(layers, "up", f, cfg.scale, activation=False)
        self.tail = layers.conv("tail", f, c, 3)
        self.build_output(layers, c, cfg.scale, anchored)

    def forward(self, x):
        x = self.inp(x)
        head = self.skip_quant(self.head(x))
        body = self.body_end(self.body_quant(self.body(head)))
        features = self.up_quant(head + self.skip_quant(body))
        return self.output(x, self.tail(self.up(features)))


class SRResNet(HRTail):
    """SRResNet as quantized in FQSR: 9x9 head, BN residual blocks, global skip, 9x9 tail.

    PReLU becomes a quantized ReLU (a monotone activation maps to thresholds).
    """

    def __init__(self, cfg, layers, anchored=False):
        super().__init__()
        f, c = cfg.features, cfg.channels
        self.inp = layers.pixels("inp")
        self.head = layers.conv("head", c, f, 9)
        self.head_act = layers.relu("head_act")
        self.skip_quant = layers.quant("skip_quant")
        self.body = nn.Sequential(
            *[ResBlock(layers, f"body.{i}", f, batch_norm=True) for i in range(cfg.blocks)]
        )
        self.body_quant = layers.quant("body_quant")
        self.body_end = layers.conv("body_end", f, f, 3, bias=False)
        self.body_bn = layers.batch_norm("body_bn", f)
        self.up_quant = layers.quant("up_quant")
        self.up = upsampler(layers, "up", f, cfg.scale, activation=True)
        self.tail = layers.conv("tail", f, c, 9)
        self.build_output(layers, c, cfg.scale, anchored)

    def forward(self, x):
        x = self.inp(x)
        head = self.skip_quant(self.head_act(self.head(x)))
        body = self.body_bn(self.body_end(self.body_quant(self.body(head))))
        features = self.up_quant(head + self.skip_quant(body))
        return self.output(x, self.tail(self.up(features)))


class AnchoredSubpixel(InputAnchored):
    """A network whose last conv writes sub-pixels at LR, on top of the input anchor.

    The anchor and the detail are added at LR, before the one pixel shuffle
    (quantizing the sum commutes with the shuffle).
    """

    def add_anchored_output(self, layers, channels, scale):
        self.add_input_anchor(layers, channels, scale)
        self.out = layers.pixels("out")

    def anchored_output(self, x, detail):
        """The quantized input ``x`` plus the last conv's ``detail``, as pixels, shuffled to HR."""
        return self.shuffle(self.out(self.anchor(x) + self.detail_quant(detail)))


class ESPCN(AnchoredSubpixel):
    """ESPCN: three convs at LR resolution, the last one sub-pixel (pixel shuffle), plus the anchor."""

    def __init__(self, cfg, layers):
        super().__init__()
        f, c, r = cfg.features, cfg.channels, cfg.scale
        self.inp = layers.pixels("inp")
        self.conv1 = layers.conv("conv1", c, f, 5)
        self.act1 = layers.relu("act1")
        self.conv2 = layers.conv("conv2", f, f // 2, 3)
        self.act2 = layers.relu("act2")
        self.conv3 = layers.conv("conv3", f // 2, c * r * r, 3)
        self.add_anchored_output(layers, c, r)

    def forward(self, x):
        x = self.inp(x)
        return self.anchored_output(x, self.conv3(self.act2(self.conv2(self.act1(self.conv1(x))))))


class FSRCNN(AnchoredSubpixel):
    """FSRCNN-style: extract, shrink, map, expand; a sub-pixel conv replaces the 9x9 deconv.

    The deconvolution's stride-r zero insertion wastes r**2 of the MACs in
    hardware; a conv to c*r*r channels plus pixel shuffle computes the same
    family of functions at LR resolution. The input anchor is ESPCN's
    (:class:`AnchoredSubpixel`).
    """

    def __init__(self, cfg, layers):
        super().__init__()
        d, s, c, r = cfg.features, cfg.shrink, cfg.channels, cfg.scale
        self.inp = layers.pixels("inp")
        self.extract = layers.conv("extract", c, d, 5)
        self.extract_act = layers.relu("extract_act")
        self.shrink = layers.conv("shrink", d, s, 1)
        self.shrink_act = layers.relu("shrink_act")
        mapping = []
        for _ in range(cfg.blocks):
            mapping.append(layers.conv(f"mapping.{len(mapping)}", s, s, 3))
            mapping.append(layers.relu(f"mapping.{len(mapping)}"))
        self.mapping = nn.Sequential(*mapping)
        self.expand = layers.conv("expand", s, d, 1)
        self.expand_act = layers.relu("expand_act")
        self.subpixel = layers.conv("subpixel", d, c * r * r, 3)
        self.add_anchored_output(layers, c, r)

    def forward(self, x):
        x = self.inp(x)
        h = self.shrink_act(self.shrink(self.extract_act(self.extract(x))))
        return self.anchored_output(x, self.subpixel(self.expand_act(self.expand(self.mapping(h)))))
