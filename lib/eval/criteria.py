"""Label-free criteria of a lifter's 3D structure, for choosing a model without the test set.

An unsupervised lifter has no 3D labels to validate on, and choosing its epoch on the test
set's 3D (the original's ``model_best``) reports a test-set minimum.  These criteria read only
2D poses and the lifts of the model itself, so they can be computed on the *training* 2D poses
and used to choose a checkpoint (``EVAL.SELECT_BY``); the same criteria on the test split's
2D inputs (its labels unused) are recorded beside them, to see whether a criterion follows the
test error at all.  Every criterion is lower-is-better and scale-free:

- ``bone_spread``: how much the *proportions* of the lifted skeleton change from frame to frame.
  Each frame's 16 bone lengths are divided by their sum; the criterion is the mean over bones
  of the coefficient of variation (std / mean over frames) of these shares.  A person's bones
  do not change length, so a lifter that gets the depths right gives nearly constant shares;
  a wrong depth stretches or shortens a bone's 3D length against the others.  (The training
  data may mix people of different proportions; that part of the spread is the same for every
  model, so it shifts the criterion without reordering models.)
- ``symmetry``: mean over frames and the six left/right bone pairs of |log(right / left)|.
- ``cycle_3d`` / ``cycle_2d``: the rotation cycle of the training losses evaluated without
  dropout on fixed rotations: lift, rotate, project, lift again (``cycle_3d`` = mean joint
  distance between the rotated lift and the lift of its projection), rotate back and project
  (``cycle_2d`` = mean joint distance to the lifter's 2D input), in network units.
"""
import numpy as np
import torch

from lib.data import sampling
from lib.data.skeleton import BONE_CHILDREN, PARENTS, SYMMETRIC_BONES

CRITERIA = ('bone_spread', 'symmetry', 'cycle_3d', 'cycle_2d')
SOURCES = ('train', 'test')          # the training 2D poses, the test split's 2D inputs
NAMES = tuple('%s_%s' % (s, c) for s in SOURCES for c in CRITERIA)   # recorded as crit_<name>
MAX_POSES = 8192
ROTATION_SEED = 7                    # fixed rotations: every model of a run meets the same ones


def subsample(n, k=MAX_POSES):
    """At most ``k`` evenly spaced indices of ``n`` frames (every frame when n <= k)."""
    return np.arange(n) if n <= k else np.linspace(0, n - 1, k).round().astype(np.int64)


# the skeleton measures below are tensors with gradients: the training terms of the same
# quantities (lib/train/losses.py: loss_symmetry, loss_proportions) are built on them

def bone_lengths(Y):
    """(N, 17, 3) -> (N, 16) lengths of the bones, child minus parent."""
    return torch.norm((Y - Y[:, PARENTS])[:, BONE_CHILDREN], dim=-1)


def log_bone_shares(Y, eps=1e-8):
    """(N, 17, 3) -> (N, 16): the log of each bone's share of its pose's total bone length."""
    lengths = bone_lengths(Y)
    return torch.log(lengths + eps) - torch.log(lengths.sum(1, keepdim=True) + eps)


def limb_log_ratios(Y, eps=1e-8):
    """(N, 17, 3) -> (N, 6): |log ||right bone|| - log ||left bone||| for the six symmetric pairs
    (shin, thigh, pelvis half, forearm, upper arm, shoulder - thorax; ``SYMMETRIC_BONES``)."""
    r, l = zip(*SYMMETRIC_BONES)
    right = torch.norm(Y[:, list(r)] - Y[:, PARENTS[list(r)]], dim=-1)
    left = torch.norm(Y[:, list(l)] - Y[:, PARENTS[list(l)]], dim=-1)
    return (torch.log(right + eps) - torch.log(left + eps)).abs()


def bone_spread(Y, eps=1e-12):
    share = bone_lengths(Y)
    share = share / (share.sum(1, keepdim=True) + eps)
    return float((share.std(0) / (share.mean(0) + eps)).mean())


def symmetry(Y):
    return float(limb_log_ratios(Y).mean())


class CriteriaSet:
    """The poses and fixed rotations one source's criteria are computed on."""

    def __init__(self, pose_2d, bound_azim, bound_elev):
        idx = torch.as_tensor(subsample(pose_2d.shape[0]), device=pose_2d.device)
        self.x = pose_2d[idx]
        self.rot = torch.as_tensor(sampling.fixed_rotations(len(idx), bound_azim, bound_elev, ROTATION_SEED),
                                   device=pose_2d.device)

    def compute(self, model, use_scaler=True, batch=4096):
        """The four criteria of ``model`` (the pose model, put in eval mode for the call)."""
        lifts, c3, c2 = [], 0.0, 0.0
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for i in range(0, self.x.shape[0], batch):
                    out = model(self.x[i:i + batch], self.rot[i:i + batch], use_scaler=use_scaler)
                    lifts.append(out.est_3d.float())
                    c3 += float(torch.norm(out.tran_3d - out.recn_3d, dim=-1).mean(1).sum())
                    c2 += float(torch.norm(out.recn_2d[..., :2] - out.lifter_in[..., :2], dim=-1).mean(1).sum())
        finally:
            model.train(was_training)
        Y = torch.cat(lifts)
        n = Y.shape[0]
        return {'bone_spread': bone_spread(Y), 'symmetry': symmetry(Y), 'cycle_3d': c3 / n, 'cycle_2d': c2 / n}


def compute_all(model, sets, use_scaler=True):
    """{'crit_<source>_<criterion>': value} for each source in ``sets`` ({source: CriteriaSet})."""
    out = {}
    for source, s in sets.items():
        out.update({'crit_%s_%s' % (source, k): v for k, v in s.compute(model, use_scaler).items()})
    return out
