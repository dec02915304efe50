"""The elevation of the random rotations, learned from the lifts (new; a structure candidate of
docs/STRUCTURE_STUDY.md, ``TRAIN.ELEV_SAMPLING: learned``; the idea is ElePose's, Wandt et al. CVPR 2022).

The authors draw the rotation cycle's elevation angle phi uniformly in +-``BOUND_ELEV``, *relative*
to the view the 2D pose was seen from.  Here the rotated view's *absolute* elevation is drawn from
the distribution of the cameras' elevations, estimated from the lifts themselves:

* **the estimate**: a lift's up direction is its spine, root -> thorax, in the camera frame; the
  camera's elevation seen from the body is the angle of that direction in the camera's y-z plane
  (``lib.models.geometry.elevation``: 0 for a body upright in the image, positive when the camera
  looks down).  The spine, not a ground-plane normal: one frame has no ground contact to fit a
  plane to, and root and thorax are the two joints of the torso that the lifter places best
  (a bending torso tilts it: an error the batch statistics average out).
* **the distribution**: a running mean and variance of the estimates (exponential moving
  averages, ``TRAIN.ELEV_MOMENTUM`` per generator step, over the lifts of every adv / mainnet /
  joint step); the first step's batch sets them.  Saved in the checkpoint's train state, so
  ``--resume`` continues exactly.
* **the rotation**: R = Rz(psi) Rx(phi) Raz(theta) as before, with
  phi = clip(mean + std z, +-``ELEV_CLIP``) - elevation(Raz(theta) spine): the rotated lift's
  elevation is then exactly the drawn one before the roll psi (Rx adds phi to the elevation).
  z is the standard normal draw in the rotations' second column (``lib.data.sampling``: fixed per
  frame, redrawn per epoch, or fresh per step, as ``DATA.ONLINE_ROT`` /
  ``DATA.REDRAW_ROT_EVERY_EPOCH`` say), so a frame keeps its quantile of a distribution that moves
  with training.  Because phi depends on the lift, the pose model takes the rotation as a function
  of its lift (:meth:`ElevationPrior.rotations`); the inverse rotation of the cycle uses that phi.
"""
import math

import torch

from lib.data.skeleton import OURS_NAMES, ROOT
from lib.models import geometry as geo

THORAX = OURS_NAMES.index('Thorax')


def lift_elevation(Y, root=ROOT, top=THORAX):
    """(B,) elevation of the camera seen from each lift Y (B, J, 3), camera frame (radians)."""
    return geo.elevation(Y[:, top] - Y[:, root])


class ElevationPrior:
    """Running statistics of the lifts' elevation, and the rotations drawn from them."""

    def __init__(self, cfg):
        t = cfg.TRAIN
        self.momentum, self.clip = float(t.ELEV_MOMENTUM), float(t.ELEV_CLIP)
        self.tilted, self.normalise = bool(t.USE_NEW_ROT), not bool(cfg.COMPAT.TILTED_AXIS_UNNORMALISED)
        # before the first observation: the authors' uniform draw's mean and variance
        self.mean, self.var, self.count = 0.0, float(t.BOUND_ELEV) ** 2 / 3, 0
        self.pending = None

    @property
    def std(self):
        return math.sqrt(max(self.var, 0.0))

    def rotations(self, rot):
        """The function of a (detached) lift Y that gives the batch's angles: theta and psi from
        ``rot``, phi such that the view's elevation is mean + std * rot[:, 1] (clipped)."""
        def angles(Y):
            target = (self.mean + self.std * rot[:, 1]).clamp(-self.clip, self.clip)
            up = Y[:, THORAX] - Y[:, ROOT]
            turned = (geo.azimuth_rotation(rot[:, 0], self.tilted, self.normalise) @ up[..., None])[..., 0]
            return torch.stack([rot[:, 0], target - geo.elevation(turned), rot[:, 2]], 1)
        return angles

    def observe(self, Y):
        """Note the batch statistics of a batch of lifts (B, J, 3) (their finite estimates), to be
        taken into the running ones by :meth:`commit` once the step is taken."""
        with torch.no_grad():
            e = lift_elevation(Y.detach().float())
            e = e[torch.isfinite(e)]
            self.pending = (float(e.mean()), float(e.var(unbiased=False))) if e.numel() > 1 else None

    def commit(self):
        """Take the last observed batch into the running mean and variance (once)."""
        pending, self.pending = getattr(self, 'pending', None), None
        if pending is None:
            return
        m, v = pending
        if self.count == 0:
            self.mean, self.var = m, v
        else:
            a = self.momentum
            self.mean, self.var = (1 - a) * self.mean + a * m, (1 - a) * self.var + a * v
        self.count += 1

    def state_dict(self):
        return {'mean': self.mean, 'var': self.var, 'count': self.count}

    def load_state_dict(self, d):
        self.mean, self.var, self.count = float(d['mean']), float(d['var']), int(d['count'])
