"""A FINN-friendly RGB x3 network as a Brevitas user writes it, unchanged for fqsr.

Float input quantizer (8-bit unsigned, learned float scale), float conv
biases, BatchNorm in front of a QuantReLU, float (per-tensor and per-channel)
weight scales, a learned fixed-point output quantizer and PixelShuffle(3).
"""
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantReLU
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerChannelFloat, Int8WeightPerTensorFloat
from brevitas.quant import Uint8ActPerTensorFloat
from torch import nn


class RgbBnX3(nn.Module):
    def __init__(self, features=8):
        super().__init__()
        self.inp = QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.conv1 = QuantConv2d(3, features, 3, padding=1, bias=True, weight_quant=Int8WeightPerTensorFloat,
                                 weight_bit_width=4)
        self.bn1 = nn.BatchNorm2d(features)
        self.act1 = QuantReLU(bit_width=4, return_quant_tensor=True)
        self.conv2 = QuantConv2d(features, 3 * 9, 3, padding=1, bias=True, weight_quant=Int8WeightPerChannelFloat,
                                 weight_bit_width=6)
        self.out = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.shuffle = nn.PixelShuffle(3)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(self.inp(x))))
        return self.shuffle(self.out(self.conv2(x)))


def rgb_bn_x3():
    """The network with non-trivial batch-norm statistics and data-calibrated activation ranges."""
    torch.manual_seed(0)
    net = RgbBnX3()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 2.0)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.1, 0.1)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.rand(2, 3, 12, 12))
    net.bn1.eval()
    return net.eval()
