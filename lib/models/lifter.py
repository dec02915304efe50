"""The lifting network: 2D pose (B, 17, 2) -> one depth offset per joint (B, 17).

``LifterBefore``: ``pre`` = Linear(34, C)-BN-ReLU-Dropout, then
``LIFTER_RES_BLOCKS`` ResBlocks fed the raw 34-d input.  ``lifter_after`` is a
``Branch(C, 34, 17)``: 17 depth offsets, the root's included (it is free, not
forced to 0).  The head always uses dropout 0.25 and tracked BN, whatever the
config says, as in the original (docs/ORIGINAL.md, "Networks").  The lifter keeps
PyTorch's default Linear initialisation.

The 34 input columns are joint-major with x, y interleaved, in "ours" order.
"""
import torch.nn as nn

from lib.models.blocks import Branch, ResBlock, pre_layer, residual_trunk


class LifterBefore(nn.Module):
    def __init__(self, num_joints=17, num_feats=2, C=1024, num_res_blocks=4, dropout=0.25,
                 bn_track=True):
        super().__init__()
        in_size = num_joints * num_feats
        self.pre = pre_layer(in_size, C, dropout, True, bn_track)
        self.blocks = nn.ModuleList(
            [ResBlock(C, in_size, dropout, True, bn_track) for _ in range(num_res_blocks)])

    def forward(self, x):
        raw = x.reshape(x.shape[0], -1)
        return residual_trunk(self.pre, self.blocks, raw), raw


def get_lifter_before(cfg):
    n = cfg.NETWORK
    return LifterBefore(17, 2, n.NUM_CHANNELS, n.LIFTER_RES_BLOCKS, n.DROPOUT, n.BN_TRACK)


def get_lifter_after(cfg):
    return Branch(cfg.NETWORK.NUM_CHANNELS, 34, 17, dropout=0.25)
