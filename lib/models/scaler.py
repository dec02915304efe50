"""The scale estimation module ("scaler"; docs/ORIGINAL.md, "Networks").

Input, from the normalised unscaled 2D pose x (B, 17, 2):
h = max y - min y, w = max x - min x (all 17 joints), hws = (h + w) / 2, and
the 37 features ``[flatten(x) (34), h, w, hws]`` (h before w).  Other input
sizes: 1 -> [hws], 34 -> [x], 35 -> [x, hws].

Network: ``pre`` = a single Linear(37, C) (no BN / ReLU), one ResBlock fed the
raw 37-d input, ``out`` = Linear(C, 1), no activation.

Output: with ``LEARN_SYMMETRY`` the network predicts ``scale_mid`` and
``scale = 2 * scale_mid - hws`` (so scale_mid is the midpoint between the
scale and the pose's own size); otherwise it predicts ``scale`` and
``scale_mid = (scale + hws) / 2``.  The lifter then sees ``scale * x``.
"""
import torch
import torch.nn as nn

from lib.models.blocks import ResBlock, residual_trunk


def scaler_features(x, input_size=37):
    """(B, 17, 2) -> (features (B, input_size), hws (B, 1))."""
    xs, ys = x[..., 0], x[..., 1]
    h = (ys.max(dim=1).values - ys.min(dim=1).values)[:, None]
    w = (xs.max(dim=1).values - xs.min(dim=1).values)[:, None]
    hws = (h + w) / 2
    flat = x.reshape(x.shape[0], -1)
    if input_size == 37:
        f = torch.cat([flat, h, w, hws], dim=1)
    elif input_size == 35:
        f = torch.cat([flat, hws], dim=1)
    elif input_size == 34:
        f = flat
    elif input_size == 1:
        f = hws
    else:
        raise ValueError('unsupported scaler input size %d' % input_size)
    return f, hws


class Scaler(nn.Module):
    def __init__(self, input_size=37, C=1024, num_res_blocks=1, dropout=0.25, bn_track=True,
                 learn_symmetry=True):
        super().__init__()
        self.input_size = input_size
        self.learn_symmetry = learn_symmetry
        # registered in the original's order (blocks, pre, out): the same parameter order, so
        # optimiser states (indexed by position) are interchangeable with the original's
        self.blocks = nn.ModuleList()
        self.pre = nn.Linear(input_size, C)
        self.blocks.extend(ResBlock(C, input_size, dropout, True, bn_track) for _ in range(num_res_blocks))
        self.out = nn.Linear(C, 1)

    def forward(self, x):
        """x (B, 17, 2) -> (scale (B, 1), scale_mid (B, 1))."""
        f, hws = scaler_features(x, self.input_size)
        y = self.out(residual_trunk(self.pre, self.blocks, f))
        if self.learn_symmetry:
            return 2 * y - hws, y
        return y, (y + hws) / 2


def get_scaler(cfg):
    n = cfg.NETWORK
    return Scaler(n.SCALER_INPUT_SIZE, n.NUM_CHANNELS, n.SCALER_RES_BLOCKS, n.DROPOUT, n.BN_TRACK,
                  cfg.TRAIN.LEARN_SYMMETRY)
