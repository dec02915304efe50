"""Pose and temporal discriminators (docs/ORIGINAL.md, "Networks").

``pre`` = Linear(in, C) [-BN] -ReLU-Dropout, ``DIS_RES_BLOCKS`` ResBlocks fed
the raw input (no BN by default), ``out`` = Linear(C, 1): a raw logit scored
with the least-squares GAN loss.  in = 34 for the pose D, 68 for the temporal
D (per joint: [neighbour 2D, current - neighbour]).  Weights ~ N(0, 0.02).
"""
import torch
import torch.nn as nn

from lib.models.blocks import ResBlock, _sn, init_weights, pre_layer, residual_trunk


class Discriminator(nn.Module):
    def __init__(self, in_size=34, C=1024, num_res_blocks=2, dropout=0.25, use_bn=False,
                 use_sn=False):
        super().__init__()
        self.pre = pre_layer(in_size, C, dropout, use_bn, True, use_sn)
        self.blocks = nn.ModuleList([ResBlock(C, in_size, dropout, use_bn, True, use_sn)
                                     for _ in range(num_res_blocks)])
        self.out = _sn(nn.Linear(C, 1), use_sn)

    def forward(self, x):
        return self.out(residual_trunk(self.pre, self.blocks, x.reshape(x.shape[0], -1)))


def temporal_input(cur, nb, cat_current=False):
    """Per joint [first, cur - nb] -> (B, 68); ``first`` is nb (or cur with CAT_CURRENT)."""
    first = cur if cat_current else nb
    return torch.cat([first, cur - nb], dim=2).reshape(cur.shape[0], -1)


def get_discriminator(cfg, is_temp=False):
    n = cfg.NETWORK
    C = n.DIS_NUM_CHANNELS or n.NUM_CHANNELS
    blocks = n.DIS_TEMP_RES_BLOCKS if is_temp else n.DIS_RES_BLOCKS
    d = Discriminator(68 if is_temp else 34, C, blocks, n.DROPOUT, n.DIS_USE_BN,
                      n.DIS_USE_SPECTRAL_NORM)
    init_weights(d)
    return d
