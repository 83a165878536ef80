"""Named model configs: ``<arch>_w<W>a<A>`` (quantized) or ``<arch>_float`` (its twin).

Suffixes: ``_x3`` / ``_x4`` for other upscaling factors (x2 is the default),
``_mp`` for multi-precision (8 bits in the stages most sensitive to
quantization: the first and last layers, the residual/skip stream and the
upsampler; W/A for the body convs and their activations),
``_fs`` for learned non-power-of-two ("float") scales instead of powers of
two. Any W and A from 2 to 8 is valid; :data:`ZOO` lists the configs the
project trains, tests and ships.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from functools import partial

from .errors import FqsrError
from .layers import check_overrides, layers_for
from .nets import EDSR, ESPCN, FSRCNN, SRResNet


@dataclass(frozen=True)
class Arch:
    net: type | partial  # called as net(cfg, layers)
    channels: int  # 3: RGB in and out; 1: the Y channel only
    features: int
    blocks: int
    summary: str
    sensitive: tuple[str, ...]  # layer patterns that `_mp` keeps at 8 bits


# The residual stream carries the image content through every block: at 4
# bits it alone costs 6.5 dB before QAT (tiny on Set5), so `_mp` keeps it at 8.
_RESNET_EDGES = ("head", "skip_quant", "body.*.quant", "body_quant", "up_quant", "up.*", "tail")

# The input anchor (nets.InputAnchored) is part of the full-size residual nets,
# where it lets W4A4 keep a 4-bit residual stream; tiny stays as shipped and
# proven on hardware (its `_mp` keeps the stream at 8 bits and meets the bar).
ARCHS = {
    "edsr": Arch(partial(EDSR, anchored=True), 3, 64, 16,
                 "EDSR-baseline: 16 residual blocks x 64 features, no BN, + input anchor at HR", _RESNET_EDGES),
    "tiny": Arch(EDSR, 3, 32, 4, "small real-time EDSR: 4 residual blocks x 32 features", _RESNET_EDGES),
    "srresnet": Arch(partial(SRResNet, anchored=True), 3, 64, 16,
                     "SRResNet: 16 BN residual blocks x 64 features, + input anchor at HR",
                     _RESNET_EDGES + ("head_act",)),
    "espcn": Arch(ESPCN, 1, 64, 0, "ESPCN on Y: 5x5/64, 3x3/32, sub-pixel 3x3 + input anchor", ("conv1", "conv3")),
    "fsrcnn": Arch(FSRCNN, 1, 56, 4, "FSRCNN-style on Y: d=56, s=12, m=4, sub-pixel tail + input anchor",
                   ("extract", "subpixel")),
}

ZOO = [
    "tiny_w4a4", "edsr_w8a8", "edsr_w4a4", "edsr_w2a2",
    "srresnet_w4a4", "espcn_w4a4", "fsrcnn_w4a4",
]

NAME_RE = re.compile(
    r"^(?P<arch>[a-z]+)_(?:w(?P<w>\d)a(?P<a>\d)|(?P<float>float))"
    r"(?:_x(?P<scale>\d))?(?P<mp>_mp)?(?P<fs>_fs)?$"
)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    arch: str
    scale: int = 2
    channels: int = 3
    features: int = 64
    blocks: int = 16
    shrink: int = 12  # FSRCNN's shrunk width
    quantized: bool = True
    weight_bits: int = 4
    act_bits: int = 4
    scaling: str = "po2"
    # Per-layer overrides, (fnmatch pattern over layer names, bits); the last match wins.
    bits: tuple[tuple[str, int], ...] = ()

    @property
    def twin_name(self) -> str:
        """The float twin's name (a float config is its own twin)."""
        suffix = f"_x{self.scale}" if self.scale != 2 else ""
        return f"{self.arch}_float{suffix}"

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        data = dict(data)
        data["bits"] = tuple(tuple(item) for item in data.get("bits", ()))
        return cls(**data)


def get_config(name: str) -> ModelConfig:
    """Parse a model name into its config; one clear error for anything unknown."""
    m = NAME_RE.match(name)
    if not m or m["arch"] not in ARCHS:
        raise FqsrError(
            f"unknown model '{name}'; names look like <arch>_w<W>a<A>[_x3|_x4][_mp][_fs] or "
            f"<arch>_float with arch in {', '.join(ARCHS)} (e.g. {', '.join(ZOO[:3])})"
        )
    arch = ARCHS[m["arch"]]
    scale = int(m["scale"] or 2)
    if scale not in (2, 3, 4):
        raise FqsrError(f"model '{name}' asks for x{scale}; fqsr builds x2, x3 and x4 models")
    quantized = not m["float"]
    w, a = (int(m["w"]), int(m["a"])) if quantized else (32, 32)
    if quantized and not (2 <= w <= 8 and 2 <= a <= 8):
        raise FqsrError(f"model '{name}' asks for w{w}a{a}; bit widths go from 2 to 8")
    if m["mp"] and not quantized:
        raise FqsrError(f"model '{name}': multi-precision (_mp) applies to quantized models only")
    return ModelConfig(
        name=name, arch=m["arch"], scale=scale, channels=arch.channels,
        features=arch.features, blocks=arch.blocks, quantized=quantized,
        weight_bits=w, act_bits=a, scaling="float" if m["fs"] else "po2",
        bits=tuple((pattern, 8) for pattern in arch.sensitive) if m["mp"] else (),
    )


def parse_bits(spec: str) -> tuple[tuple[str, int], ...]:
    """``'body.*.conv1=3,tail=8'`` -> (('body.*.conv1', 3), ('tail', 8))."""
    overrides = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        pattern, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise FqsrError(f"bit-width override '{item}' must look like LAYER_PATTERN=BITS")
        overrides.append((pattern.strip(), int(value)))
    return tuple(overrides)


def file_stem(cfg: ModelConfig) -> str:
    """The name a config's files and folders get: the model name, plus a hash of ``--bits`` overrides
    beyond the name's own (so a mixed-precision variant never overwrites the model's files)."""
    if cfg.bits == get_config(cfg.name).bits:
        return cfg.name
    return f"{cfg.name}-mp{hashlib.sha1(repr(cfg.bits).encode()).hexdigest()[:6]}"


def build_model(cfg: ModelConfig):
    """Instantiate the network for a config (untrained)."""
    layers = layers_for(cfg)
    model = ARCHS[cfg.arch].net(cfg, layers)
    check_overrides(cfg, layers.names)
    model.layer_names = tuple(layers.names)
    model.config = cfg
    return model
