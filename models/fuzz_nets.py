"""Random small quantized SR networks from a grammar over what fqsr builds (the fuzzer's inputs).

A network is a *spec*: a small JSON-able dict, drawn from a seed by
:func:`random_spec` and built by :func:`build_net` from fqsr's own layers
(:mod:`.layers`, :mod:`.nets`). The grammar::

    net     := stem item* output
    stem    := conv(image channels -> f)
    item    := conv                         k 1/3/5, 1-16 out channels, bias or BatchNorm, ReLU or signed act
             | block                        nets.ResBlock (EDSR's; SRResNet's with BatchNorm)
             | res(item*, last conv -> f)   x + q(body) with one shared quantizer q; nests and chains
    output  := subpixel                     conv -> image channels * r*r, [input anchor at LR], pixels, shuffle
             | hr                           nets.upsampler, conv* at HR, tail conv, [input anchor at HR], pixels

with weight and activation bits 2-8 per layer, image channels 1 or 3, r in
{2, 3, 4} and odd, non-square LR tiles. A spec also carries what the chain
around the network draws from the same seed: ``folding_seed`` (``None``: the least
folding that keeps the simulation short) and ``stall_prob``. :func:`shrink_candidates` lists the simpler
specs the fuzzer's shrinker tries. This module knows nothing of FINN or RTL.
"""
from __future__ import annotations

import copy
import random

import torch
from torch import nn

from .calibrate import calibrate
from .layers import QuantLayers
from .nets import AnchoredSubpixel, HRTail, ResBlock, upsampler
from .registry import ModelConfig

KERNELS = (1, 3, 5)
TILE_SIDES = (3, 5, 7, 4)  # mostly odd: a line buffer's and a window's edge cases
STALL_PROBS = (0.0, 0.1, 0.3, 0.5, 0.7)
MAX_FEATURES = 16
MAX_DEPTH = 2  # residual nesting
MIN_DISTINCT_OUTPUTS = 3  # a net whose output takes fewer values proves little
RESCALES = (1 / 8, 1 / 8, 1 / 8, 4096.0)  # the last conv's weights x8 -> x1 -> /8 -> /64 -> x64 until it varies


def _bits(rng):
    return rng.randint(2, 8)


def _conv(rng, out=None, act=True):
    bn = rng.random() < 0.2
    item = {"kind": "conv", "out": out or rng.randint(1, MAX_FEATURES), "k": rng.choice(KERNELS), "w": _bits(rng),
            "bias": not bn and rng.random() < 0.7, "bn": bn}
    if act:
        item.update(act=rng.choice(("relu", "quant")), a=_bits(rng))
    return item


def _last_conv(rng):
    """A residual's last conv: no activation (the shared quantizer follows), the residual's width."""
    item = _conv(rng, act=False)
    del item["out"]
    return item


def _items(rng, depth, count):
    items = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5 or depth >= MAX_DEPTH:
            items.append(_conv(rng))
        elif roll < 0.7:
            items.append({"kind": "block", "bn": rng.random() < 0.4, "w1": _bits(rng), "w2": _bits(rng),
                          "a_act": _bits(rng), "a_quant": _bits(rng), "post": _bits(rng)})
        else:
            items.append({"kind": "res", "a": _bits(rng), "post": _bits(rng),
                          "body": _items(rng, depth + 1, rng.randint(0, 2)), "last": _last_conv(rng)})
    return items


def random_spec(seed: int) -> dict:
    """The network (and its folding seed and stall probability) that ``seed`` stands for."""
    rng = random.Random(seed)
    spec = {"seed": seed, "channels": rng.choice((1, 3)), "scale": rng.choice((2, 3, 4)),
            "tile": [rng.choice(TILE_SIDES), rng.choice(TILE_SIDES)],
            "stem": _conv(rng), "body": _items(rng, 0, rng.randint(0, 3)), "anchor": rng.random() < 0.5}
    if rng.random() < 0.5:
        spec["output"] = {"kind": "subpixel", "k": rng.choice(KERNELS), "w": _bits(rng), "bias": rng.random() < 0.7}
    else:
        spec["output"] = {"kind": "hr", "up_act": rng.random() < 0.5, "up_w": _bits(rng), "up_a": _bits(rng),
                          "hr": _items(rng, MAX_DEPTH, rng.randint(0, 1)),
                          "tail": {"k": rng.choice(KERNELS), "w": _bits(rng), "bias": rng.random() < 0.7}}
    spec["detail_bits"] = rng.randint(4, 8) if spec["anchor"] else None
    spec["folding_seed"] = rng.randrange(1 << 30) if rng.random() < 0.8 else None
    spec["stall_prob"] = rng.choice(STALL_PROBS)
    return spec


# building ---------------------------------------------------------------------------------------

class ConvUnit(nn.Module):
    """conv [-> BatchNorm] [-> ReLU or signed requantization]: one ``conv`` item."""

    def __init__(self, layers, name, c_in, item):
        super().__init__()
        self.conv = layers.conv(f"{name}.conv", c_in, item["out"], item["k"], bias=item["bias"])
        self.bn = layers.batch_norm(f"{name}.bn", item["out"]) if item["bn"] else nn.Identity()
        act = item.get("act")
        self.act = (layers.relu if act == "relu" else layers.quant)(f"{name}.act") if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Residual(nn.Module):
    """x + q(body(x)), with x itself leaving q: one shared quantizer, as :class:`.nets.ResBlock`'s rule."""

    def __init__(self, layers, name, features, item):
        super().__init__()
        self.quant = layers.quant(f"{name}.quant")
        self.body, channels = chain(layers, f"{name}.body", features, item["body"] + [{**item["last"], "out": features}])

    def forward(self, x):
        x = self.quant(x)
        return x + self.quant(self.body(x))


def _starts_with_quantizer(item):
    return item["kind"] in ("block", "res")


def chain(layers, name, channels, items):
    """The items as one nn.Sequential and its output channels.

    An add's sum is requantized (the item's ``post`` bits) before a conv reads it; a following
    block or res requantizes it itself, as EDSR's chained blocks do.
    """
    modules = []
    for i, item in enumerate(items):
        path = f"{name}.{i}"
        if item["kind"] == "conv":
            modules.append(ConvUnit(layers, path, channels, item))
            channels = item["out"]
        else:
            modules.append(ResBlock(layers, path, channels, batch_norm=item["bn"]) if item["kind"] == "block"
                           else Residual(layers, path, channels, item))
            if i + 1 == len(items) or not _starts_with_quantizer(items[i + 1]):
                modules.append(layers.quant(f"{path}.post"))
    return nn.Sequential(*modules), channels


def _bit_overrides(spec) -> tuple:
    """(layer name, bits) for every layer of the spec, by the names :func:`chain` gives them."""
    out = []

    def walk(name, items):
        for i, item in enumerate(items):
            path = f"{name}.{i}"
            if item["kind"] == "conv":
                out.append((f"{path}.conv", item["w"]))
                if item.get("act"):
                    out.append((f"{path}.act", item["a"]))
            elif item["kind"] == "block":
                out.extend([(f"{path}.conv1", item["w1"]), (f"{path}.conv2", item["w2"]),
                            (f"{path}.act", item["a_act"]), (f"{path}.quant", item["a_quant"])])
            else:
                out.append((f"{path}.quant", item["a"]))
                walk(f"{path}.body", item["body"] + [item["last"]])
            if item["kind"] != "conv":
                out.append((f"{path}.post", item["post"]))

    walk("stem", [spec["stem"]])
    walk("body", spec["body"])
    o = spec["output"]
    if o["kind"] == "subpixel":
        out.append(("subpixel", o["w"]))
    else:
        stages = (0, 3) if spec["scale"] == 4 else (0,)
        out += [(f"up.{s}", o["up_w"]) for s in stages] + [(f"up.{s + 1}", o["up_a"]) for s in stages]
        walk("hr", o["hr"])
        out.append(("tail", o["tail"]["w"]))
    if spec["anchor"]:
        out.append(("detail_quant", spec["detail_bits"]))
    return tuple(out)


class FuzzNet(HRTail, AnchoredSubpixel):
    """One spec as a network: pixels in, stem, body items, a sub-pixel or HR output, pixels out."""

    def __init__(self, spec):
        super().__init__()
        c, r, o = spec["channels"], spec["scale"], spec["output"]
        cfg = ModelConfig(name=f"fuzz{spec['seed']}", arch="fuzz", scale=r, channels=c, bits=_bit_overrides(spec))
        layers = QuantLayers(cfg)
        self.kind = o["kind"]
        self.inp = layers.pixels("inp")
        self.stem, f = chain(layers, "stem", c, [spec["stem"]])
        self.body, f = chain(layers, "body", f, spec["body"])
        if self.kind == "subpixel":
            self.subpixel = layers.conv("subpixel", f, c * r * r, o["k"], bias=o["bias"])
            if spec["anchor"]:
                self.add_anchored_output(layers, c, r)
            else:
                self.out, self.shuffle = layers.pixels("out"), nn.PixelShuffle(r)
        else:
            self.up = upsampler(layers, "up", f, r, activation=o["up_act"])
            self.hr, f = chain(layers, "hr", f, o["hr"])
            self.tail = layers.conv("tail", f, c, o["tail"]["k"], bias=o["tail"]["bias"])
            self.build_output(layers, c, r, spec["anchor"])
        self.anchored = spec["anchor"]
        self.layer_names = tuple(layers.names)

    def forward(self, x):
        x = self.inp(x)
        features = self.body(self.stem(x))
        if self.kind == "subpixel":
            detail = self.subpixel(features)
            return self.anchored_output(x, detail) if self.anchored else self.shuffle(self.out(detail))
        return self.output(x, self.tail(self.hr(self.up(features))))


@torch.no_grad()
def _randomize_batch_norms(model, generator):
    """Untrained BatchNorm is the identity; give it statistics and an affine part so it does something."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=generator))
            m.weight.copy_(0.5 + torch.rand(n, generator=generator))
            m.bias.copy_(0.2 * torch.randn(n, generator=generator))


def calibration_batches(spec, count=3, seed=0):
    g = torch.Generator().manual_seed(spec["seed"] * 7919 + seed)
    h, w = spec["tile"]
    return [torch.randint(0, 256, (2, spec["channels"], h, w), generator=g).float() / 256 for _ in range(count)]


def distinct_outputs(model, spec) -> int:
    """How many different integers the output takes on the calibration data."""
    with torch.no_grad():
        return len(torch.unique(torch.cat([model(x).int().flatten() for x in calibration_batches(spec, seed=1)])))


def build_net(spec, calibrated: bool = True):
    """The spec's network in eval mode; calibrated on random tiles so no quantizer is at its default.

    Like the tests' calibrated zoo models, the last conv's weights are scaled up (an untrained
    output would sit near zero) and, without the anchor, its output moved to mid-gray. An output
    that still takes fewer than :data:`MIN_DISTINCT_OUTPUTS` values (saturated, or flat) gets its
    last conv rescaled, down then up, since a near-constant output would prove little downstream.
    """
    torch.manual_seed(spec["seed"])
    model = FuzzNet(spec)
    _randomize_batch_norms(model, torch.Generator().manual_seed(spec["seed"]))
    last = model.subpixel if model.kind == "subpixel" else model.tail
    with torch.no_grad():
        last.weight.mul_(8.0)
        if last.bias is not None and not spec["anchor"]:
            last.bias.fill_(0.5)
    if calibrated:
        calibrate(model, calibration_batches(spec))
        for factor in RESCALES:
            if distinct_outputs(model, spec) >= MIN_DISTINCT_OUTPUTS:
                break
            with torch.no_grad():
                last.weight.mul_(factor)
            calibrate(model, calibration_batches(spec))
    model.eval()
    return model


# describing and shrinking ----------------------------------------------------------------------

def _describe_items(items):
    parts = []
    for item in items:
        if item["kind"] == "conv":
            norm = "+bn" if item["bn"] else "" if item["bias"] else "-b"
            act = f" {item['act']}{item['a']}" if item.get("act") else ""
            parts.append(f"k{item['k']}c{item.get('out', '=')}w{item['w']}{norm}{act}")
        elif item["kind"] == "block":
            parts.append(f"block{'+bn' if item['bn'] else ''}")
        else:
            inner = _describe_items(item["body"] + [item["last"]])
            parts.append(f"res[{inner}]")
    return " ".join(parts)


def describe(spec) -> str:
    """One line: x-scale, channels, tile, the layers, output, anchor, folding, stalls."""
    o = spec["output"]
    out = (f"subpixel k{o['k']}w{o['w']}" if o["kind"] == "subpixel"
           else f"hr up{'+relu' if o['up_act'] else ''} {_describe_items(o['hr'])} tail k{o['tail']['k']}".replace("  ", " "))
    folding = "min-fold" if spec["folding_seed"] is None else f"fold#{spec['folding_seed'] % 1000}"
    return (f"x{spec['scale']} c{spec['channels']} {spec['tile'][0]}x{spec['tile'][1]} | "
            f"{_describe_items([spec['stem']] + spec['body'])} | {out}{' +anchor' if spec['anchor'] else ''} | "
            f"{folding} stall{spec['stall_prob']}")


def features(spec) -> set[str]:
    """The grammar features a spec uses (what the generator's coverage test counts)."""
    found = {f"x{spec['scale']}", f"image_channels_{spec['channels']}", f"output_{spec['output']['kind']}",
             "anchor" if spec["anchor"] else "no_anchor", "random_folding" if spec["folding_seed"] is not None else "least_folding",
             f"stall_{spec['stall_prob']}"}
    if any(side % 2 for side in spec["tile"]):
        found.add("odd_tile")
    if spec["tile"][0] != spec["tile"][1]:
        found.add("non_square_tile")

    def walk(items, depth, after_add):
        for item in items:
            if after_add and item["kind"] != "conv":
                found.add("chained_residual")
            if item["kind"] == "conv":
                found.update({f"kernel_{item['k']}", f"weight_bits_{item['w']}",
                              "bias" if item["bias"] else "no_bias"})
                if "out" in item:
                    found.add(f"channels_{item['out']}")
                if item["bn"]:
                    found.add("batch_norm")
                if item.get("act"):
                    found.update({f"act_{item['act']}", f"act_bits_{item['a']}"})
            elif item["kind"] == "block":
                found.add("block_bn" if item["bn"] else "block")
            else:
                found.add("residual_nested" if depth else "residual")
                walk(item["body"] + [item["last"]], depth + 1, False)
            after_add = item["kind"] != "conv"

    walk([spec["stem"]] + spec["body"], 0, False)
    if spec["output"]["kind"] == "hr":
        walk(spec["output"]["hr"], MAX_DEPTH, False)
    return found


def _item_lists(spec):
    """Every list of items in the spec (the body, residual bodies, the HR items), for in-place edits."""
    lists = [spec["body"]]
    if spec["output"]["kind"] == "hr":
        lists.append(spec["output"]["hr"])
    i = 0
    while i < len(lists):
        lists += [item["body"] for item in lists[i] if item["kind"] == "res"]
        i += 1
    return lists


def _convs(spec):
    convs = [spec["stem"]]
    for items in _item_lists(spec):
        convs += [item for item in items if item["kind"] == "conv"]
        convs += [item["last"] for item in items if item["kind"] == "res"]
    return convs


def shrink_candidates(spec):
    """Simpler specs, biggest cuts first: each differs from ``spec`` by one step of the grammar.

    Dropping or unwrapping items, the plain output instead of HR or the anchor, fewer image
    channels, x2, smaller tiles, fewer channels and kernels, no BatchNorm; the folding and
    stalls are the runner's, so they are simplified here too (the least folding, no stalls).
    """
    def variant(edit):
        new = copy.deepcopy(spec)
        edit(new)
        return new

    out = []
    for li, items in enumerate(_item_lists(spec)):
        for i, item in enumerate(items):
            out.append(variant(lambda s, li=li, i=i: _item_lists(s)[li].pop(i)))
            if item["kind"] == "res" and item["body"]:  # unwrapping an empty one is dropping it
                out.append(variant(lambda s, li=li, i=i: _item_lists(s)[li].__setitem__(
                    slice(i, i + 1), _item_lists(s)[li][i]["body"])))
    if spec["output"]["kind"] == "hr":
        out.append(variant(lambda s: s.update(output={"kind": "subpixel", **s["output"]["tail"]})))
    if spec["anchor"]:
        out.append(variant(lambda s: s.update(anchor=False, detail_bits=None)))
    if spec["channels"] == 3:
        out.append(variant(lambda s: s.update(channels=1)))
    if spec["scale"] != 2:
        out.append(variant(lambda s: s.update(scale=2)))
    h, w = spec["tile"]
    if h > 2:
        out.append(variant(lambda s: s.update(tile=[h - 1, w])))
    if w > 2:
        out.append(variant(lambda s: s.update(tile=[h, w - 1])))
    if spec["folding_seed"] is not None:
        out.append(variant(lambda s: s.update(folding_seed=None)))
    if spec["stall_prob"]:
        out.append(variant(lambda s: s.update(stall_prob=0.0)))
    for ci, conv in enumerate(_convs(spec)):
        if conv.get("out", 1) > 1:  # a residual's last conv has no width of its own
            out.append(variant(lambda s, ci=ci, n=max(1, conv["out"] // 2): _convs(s)[ci].update(out=n)))
        if conv["k"] > 1:
            out.append(variant(lambda s, ci=ci: _convs(s)[ci].update(k=1)))
        if conv["bn"]:
            out.append(variant(lambda s, ci=ci: _convs(s)[ci].update(bn=False)))
    for li, items in enumerate(_item_lists(spec)):
        for i, item in enumerate(items):
            if item["kind"] == "block" and item["bn"]:
                out.append(variant(lambda s, li=li, i=i: _item_lists(s)[li][i].update(bn=False)))
    return out


def size(spec) -> int:
    """A spec's size for the shrinker's report: convs plus residual adds plus tile pixels."""
    adds = sum(item["kind"] != "conv" for items in _item_lists(spec) for item in items) + spec["anchor"]
    return len(_convs(spec)) + adds
