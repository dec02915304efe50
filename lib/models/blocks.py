"""Building blocks shared by the lifter, the scaler and the discriminators.

Every residual block here takes the *raw network input* as a second argument:
its skip path is a learned ``Linear(C + R, C)`` of ``[features, raw]``, not an
identity, as in the authors' networks.  Module names match the authors'
state-dict keys (``main.<i>``, ``sc``, ``out``).
"""
import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm


def _sn(layer, use_sn):
    return spectral_norm(layer) if use_sn else layer


def common_block(C, dropout=0.25, use_bn=True, bn_track=True, use_sn=False):
    """Linear-BN-ReLU-Dropout twice (BN optional).  Index layout = the original's."""
    if use_bn:
        return nn.Sequential(
            _sn(nn.Linear(C, C), use_sn), nn.BatchNorm1d(C, track_running_stats=bn_track),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
            _sn(nn.Linear(C, C), use_sn), nn.BatchNorm1d(C, track_running_stats=bn_track),
            nn.ReLU(inplace=True), nn.Dropout(dropout))
    return nn.Sequential(
        _sn(nn.Linear(C, C), use_sn), nn.ReLU(inplace=True), nn.Dropout(dropout),
        _sn(nn.Linear(C, C), use_sn), nn.ReLU(inplace=True), nn.Dropout(dropout))


def pre_layer(in_size, C, dropout=0.25, use_bn=True, bn_track=True, use_sn=False):
    """``pre`` of the lifter and the discriminators: Linear(in, C) [-BN] -ReLU-Dropout.

    Index layout (``pre.0`` Linear, ``pre.1`` BN when there is one) = the original's.
    """
    layers = [_sn(nn.Linear(in_size, C), use_sn)]
    if use_bn:
        layers.append(nn.BatchNorm1d(C, track_running_stats=bn_track))
    layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def residual_trunk(pre, blocks, raw):
    """``pre(raw)`` through each ResBlock of ``blocks``, every block fed ``raw`` as well."""
    h = pre(raw)
    for block in blocks:
        h = block(h, raw)
    return h


class ResBlock(nn.Module):
    """``main(x) + sc([x, raw])`` with ``raw`` the flattened network input."""

    def __init__(self, C, raw_size, dropout=0.25, use_bn=True, bn_track=True, use_sn=False):
        super().__init__()
        self.main = common_block(C, dropout, use_bn, bn_track, use_sn)
        self.sc = _sn(nn.Linear(C + raw_size, C), use_sn)

    def forward(self, x, raw):
        return self.main(x) + self.sc(torch.cat([x, raw], dim=1))


class Branch(nn.Module):
    """A ResBlock (always with tracked BN) followed by ``out = Linear(C, out)``."""

    def __init__(self, C, raw_size, out_size, dropout=0.25):
        super().__init__()
        self.main = common_block(C, dropout, use_bn=True, bn_track=True)
        self.sc = nn.Linear(C + raw_size, C)
        self.out = nn.Linear(C, out_size)

    def forward(self, x, raw):
        return self.out(self.main(x) + self.sc(torch.cat([x, raw], dim=1)))


def init_weights(module):
    """Linear ~ N(0, 0.02), bias 0; BN weight 1, bias 0 (used for the discriminators only)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            w = m.weight_orig if hasattr(m, 'weight_orig') else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
