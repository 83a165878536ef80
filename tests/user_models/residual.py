"""A Y-channel x2 residual network as a Brevitas user writes it, unchanged for fqsr.

A plain ReLU on the input, a fixed-point input quantizer at 2**-7, a
residual add whose operands leave one shared QuantIdentity, a QuantHardTanh
and an output quantizer with a learned float scale, then PixelShuffle(2).
"""
import torch
from brevitas.nn import QuantConv2d, QuantHardTanh, QuantIdentity, QuantReLU
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8ActPerTensorFloat, Int8WeightPerTensorFixedPoint
from torch import nn


class Residual(nn.Module):
    def __init__(self, features=8):
        super().__init__()
        conv = dict(kernel_size=3, padding=1, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4,
                    bias=False)
        self.relu_in = nn.ReLU()
        self.inp = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.head = QuantConv2d(1, features, **conv)
        self.skip = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv1 = QuantConv2d(features, features, **conv)
        self.act = QuantReLU(bit_width=4, return_quant_tensor=True)
        self.conv2 = QuantConv2d(features, features, **conv)
        self.mix = QuantHardTanh(bit_width=6, act_quant=Int8ActPerTensorFixedPoint, max_val=2.0, min_val=-2.0,
                                 return_quant_tensor=True)
        self.tail = QuantConv2d(features, 4, **conv)
        self.out = QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        h = self.skip(self.head(self.inp(self.relu_in(x))))
        y = self.skip(self.conv2(self.act(self.conv1(h))))
        return self.shuffle(self.out(self.tail(self.mix(h + y))))


def residual():
    """The network with data-calibrated activation ranges."""
    torch.manual_seed(1)
    net = Residual()
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.rand(2, 1, 12, 12))
    return net.eval()
