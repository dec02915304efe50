"""A split held as tensors on the training device, and batches drawn by index.

``TensorSplit.from_split`` normalises the 2D once (one factor per split,
:func:`lib.data.normalise.normalise_split`), draws the fixed per-frame rotations (training split),
and moves everything to the device.  ``TensorSplit.batch(idx)`` gathers a batch
and its neighbour frames with index tensors only, so a training step never
touches per-sample Python code.
"""
from dataclasses import dataclass
from typing import Optional

import torch

from lib.data import sampling
from lib.data.formats import get_spec
from lib.data.normalise import normalise_split
from lib.data.skeleton import HEAD, ROOT


@dataclass
class Batch:
    x: torch.Tensor                 # (B, 17, 2) normalised 2D, ours order
    rot: Optional[torch.Tensor]     # (B, 3) theta, phi, psi
    x_nb: Optional[torch.Tensor]    # TMC / temporal-D neighbour (diff1)
    x_far: Optional[torch.Tensor]   # bone-loss partner (diff2)
    gt_3d: Optional[torch.Tensor]   # (B, 17, 3) metres, camera frame
    idx: torch.Tensor


class TensorSplit:
    def __init__(self, pose_2d, pose_3d, seq_start, index_in_seq, seqlen, rot, factor_2d, block_end=None):
        self.pose_2d, self.pose_3d = pose_2d, pose_3d
        self.seq_start, self.index_in_seq, self.seqlen = seq_start, index_in_seq, seqlen
        # one past the last row of each frame's block of rows (default: the sequence's rows)
        self.block_end = seq_start + seqlen if block_end is None else block_end
        self.rot = rot
        self.factor_2d = factor_2d

    def __len__(self):
        return self.pose_2d.shape[0]

    @classmethod
    def from_split(cls, split, cfg, device, train=True):
        spec = get_spec(cfg.DATA.DATASET_NAME)
        x, k = normalise_split(split.pose_2d_px, spec, cfg.DATA.USE_SAME_NORM_2D)
        t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt).to(device)
        rot = None
        if train:
            rot = t(sampling.fixed_rotations(len(split), cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV,
                                             normal_elev=learned_elevation(cfg)))
        # the training split's 3D is read only by the supervised reference: not kept otherwise
        gt = t(split.pose_3d) if (not train or cfg.TRAIN.SUPERVISED) else None
        return cls(t(x), gt, t(split.seq_start, torch.long), t(split.index_in_seq, torch.long),
                   t(split.seqlen, torch.long), rot, k, t(split.block_end, torch.long))

    def redraw_rotations(self, cfg, seed):
        self.rot = torch.as_tensor(sampling.fixed_rotations(
            len(self), cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV, seed,
            learned_elevation(cfg))).to(self.pose_2d.device)

    def batch(self, idx, cfg, generator=None, need_nb=False, need_far=False, need_gt=False):
        d = cfg.DATA
        rot = None
        if self.rot is not None:
            if d.ONLINE_ROT:
                rot = sampling.online_rotations(len(idx), cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV,
                                                generator, idx.device, cfg.COMPAT.ONLINE_ROT_NONNEGATIVE,
                                                learned_elevation(cfg))
            else:
                rot = self.rot[idx]
        x_nb = x_far = None
        if need_nb:
            spec = get_spec(d.DATASET_NAME)
            j = sampling.tmc_neighbour(idx, self.index_in_seq, self.seqlen, self.seq_start, d, generator,
                                       self.block_end, spec.tmc_interval_always,
                                       spec.name == 'mpi' and cfg.COMPAT.MPI_TMC_FLAT_INDEX)
            x_nb = self.pose_2d[j]
        if need_far:
            j = sampling.bone_partner(idx, self.index_in_seq, self.seqlen, self.seq_start,
                                      d.MIN_DIFF_DIST, generator, self.block_end)
            x_far = self.pose_2d[j]
        return Batch(self.pose_2d[idx], rot, x_nb, x_far, self.pose_3d[idx] if need_gt else None, idx)


def learned_elevation(cfg):
    """``TRAIN.ELEV_SAMPLING: learned``: the rotations' elevation column holds standard normal
    draws, mapped by the training step to the learned distribution (lib/train/elevation.py)."""
    return cfg.TRAIN.ELEV_SAMPLING == 'learned'


def supervised_target(gt_3d):
    """Root-centred GT divided by its head-root length: the size the eval factor expects."""
    g = gt_3d - gt_3d[:, ROOT:ROOT + 1]
    L = torch.norm(g[:, HEAD], dim=-1).clamp(min=1e-8)
    return g / L[:, None, None]
