"""PoseModel: scaler (optional) + lifter, and the rotation cycle.

``PoseModel.lift(x)`` is the inference path (eval mode): scale the 2D input
by the scaler's output (when present), lift, back-project; it returns a
:class:`Lift`.  ``forward(x, rot)`` is the training path and always returns a
:class:`PoseOutput`: the lift, then the rotation cycle (rotate, project,
re-lift, rotate back, re-project; docs/ORIGINAL.md, "The rotation cycle").
Without ``rot`` the cycle fields are None: the supervised reference trains
through ``forward`` too, which DistributedDataParallel needs.
``use_scaler=False`` bypasses the scaler (s = 1): the adv warm-start phase of a
model that has one.

The two numbers that depend on the dataset, the projection clamp of the rotation cycle and
the index of the root joint, come from the caller (``lib.data.formats.pose_model_args``):
this package knows networks, not datasets.

Module names (``lifter_before``, ``lifter_after``, ``scaler``) and every
parameter name match the authors' ``pose_model_state_dict``.
"""
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
import torch.nn as nn

from lib.models import geometry as geo
from lib.models.lifter import get_lifter_after, get_lifter_before
from lib.models.scaler import get_scaler
from lib.utils.errors import UserError


class Lift(NamedTuple):
    """What :meth:`PoseModel.lift` returns (unpacks as a 4-tuple)."""
    est_3d: torch.Tensor                    # Y: the lift, camera frame (B, 17, 3)
    scale: Optional[torch.Tensor]           # (B, 1), or None without a scaler
    scale_mid: Optional[torch.Tensor]       # (B, 1), or None without a scaler
    lifter_in: torch.Tensor                 # the 2D the lifter saw (scale * x, or x)


@dataclass
class PoseOutput:
    """What :meth:`PoseModel.forward` returns; the cycle fields are None without ``rot``."""
    est_3d: torch.Tensor                    # Y: first lift, camera frame (B, 17, 3)
    lifter_in: torch.Tensor                 # the 2D the lifter saw (scale * x, or x)
    scale: Optional[torch.Tensor] = None    # (B, 1) or None
    scale_mid: Optional[torch.Tensor] = None  # (B, 1) or None
    tran_3d: Optional[torch.Tensor] = None  # T = R (Y - Y_root) + (0, 0, c)
    proj_2d: Optional[torch.Tensor] = None  # clamp(T_xy / T_z) + 1e-5: the fake sample for D
    recn_3d: Optional[torch.Tensor] = None  # lift of proj_2d, in the rotated frame
    recovered_3d: Optional[torch.Tensor] = None  # inverse rotation of recn_3d, back in the camera frame
    recn_2d: Optional[torch.Tensor] = None  # projection of recovered_3d
    R: Optional[torch.Tensor] = None        # forward rotation (B, 3, 3)


class PoseModel(nn.Module):
    def __init__(self, cfg, proj_clamp, root):
        """``proj_clamp``: the rotation cycle's projection clamp (h36m 0.2, mpi 0.35, surreal
        0.25); ``root``: the index of the root joint.  Both: ``lib.data.formats.pose_model_args``."""
        super().__init__()
        self.lifter_before = get_lifter_before(cfg)
        self.lifter_after = get_lifter_after(cfg)
        self.scaler = get_scaler(cfg) if cfg.TRAIN.USE_SCALER else None
        self.c = float(cfg.TRAIN.CAMERA_SKELETON_DISTANCE)
        self.scale_on_3d = bool(cfg.TRAIN.SCALE_ON_3D)
        self.tilted = bool(cfg.TRAIN.USE_NEW_ROT)
        self.exact_inverse = bool(cfg.COMPAT.INVERSE_ROT_TILTED_AXIS)
        self.normalise_axis = not bool(cfg.COMPAT.TILTED_AXIS_UNNORMALISED)
        self.proj_clamp = float(proj_clamp)
        self.root = int(root)

    def depth(self, x):
        feats, raw = self.lifter_before(x)
        return self.lifter_after(feats, raw)

    def lift(self, x, use_scaler=True):
        """x (B, 17, 2) normalised -> :class:`Lift` (Y (B, 17, 3), scale, scale_mid, lifter input)."""
        scale = scale_mid = None
        x_in = x
        scaler = self.scaler if use_scaler else None
        if scaler is not None:
            scale, scale_mid = scaler(x)
            if not self.scale_on_3d:
                x_in = x * scale[:, :, None]
        Y = geo.back_project(x_in, self.depth(x_in), self.c)
        if scaler is not None and self.scale_on_3d:
            Y = Y * scale[:, :, None]
        return Lift(Y, scale, scale_mid, x_in)

    def forward(self, x, rot=None, use_scaler=True):
        """``rot``: (B, 3) angles (theta, phi, psi), or a function of the lift (its detached Y) that
        returns them (``TRAIN.ELEV_SAMPLING: learned``, lib/train/elevation.py)."""
        Y, scale, scale_mid, x_in = self.lift(x, use_scaler)
        if rot is None:
            return PoseOutput(Y, x_in, scale, scale_mid)
        if callable(rot):
            rot = rot(Y.detach())
        R = geo.forward_rotation(rot, self.tilted, self.normalise_axis)
        r = self.root
        root = Y[:, r:r + 1]
        shift = Y.new_tensor([0.0, 0.0, self.c])
        # a separate copy of the root for centring, as the original: the same autograd graph,
        # so the gradients are summed in the same order (bit-for-bit parity, tests/parity/test_parity.py)
        T = geo.apply_rot(R, Y - Y[:, r:r + 1].clone()) + shift
        proj_2d = geo.project(T, self.proj_clamp, eps=1e-5)
        z_rec = torch.clamp(self.depth(proj_2d) + self.c, min=1.0)
        recn_3d = torch.cat([proj_2d.detach() * z_rec[..., None], z_rec[..., None]], dim=-1)
        R_inv = geo.inverse_rotation(rot, R, self.exact_inverse)
        recovered = geo.apply_rot(R_inv, recn_3d - shift) + root
        recn_2d = geo.project(recovered, self.proj_clamp)
        return PoseOutput(Y, x_in, scale, scale_mid, T, proj_2d, recn_3d, recovered, recn_2d, R)


def get_pose_model(cfg, proj_clamp, root):
    """The PoseModel of ``cfg``; ``proj_clamp`` and ``root`` as :class:`PoseModel` takes them
    (``get_pose_model(cfg, **lib.data.formats.pose_model_args(cfg))``)."""
    if cfg.TRAIN.GENERIC_BASELINE:
        raise UserError('TRAIN.GENERIC_BASELINE is not supported', 'config',
                        'set TRAIN.GENERIC_BASELINE: false')
    return PoseModel(cfg, proj_clamp, root)
