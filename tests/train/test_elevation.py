"""The learned elevation of the rotations (lib/train/elevation.py): the estimate from a lift, the
rotation that puts the view at the drawn elevation, and the running statistics."""
import math

import numpy as np
import pytest
import torch

from helpers import tiny_cfg
from lib.data import skeleton as sk
from lib.models import geometry as geo
from lib.train import elevation as E


def standing():
    """The standing skeleton, upright in the image (y down): elevation 0."""
    return torch.tensor(sk.v3d_to_ours(sk.STANDING_POSE_V3D), dtype=torch.float64)[None]


@pytest.mark.parametrize('e', [-0.6, -0.2, 0.0, 0.25, 0.9])
def test_elevation_of_a_pose_seen_from_a_known_elevation(e):
    """Turn the skeleton about its own up axis (any yaw leaves the elevation), then tilt it by
    Rx(e) as a camera looking down by e sees it, and shift it in front of the camera."""
    Y = standing() @ geo.rot_y(torch.tensor([1.1], dtype=torch.float64)).transpose(1, 2)
    Y = Y @ geo.rot_x(torch.tensor([e], dtype=torch.float64)).transpose(1, 2) + torch.tensor([0.3, -0.2, 8.0])
    assert E.lift_elevation(Y).item() == pytest.approx(e, abs=1e-12)
    # positive: the camera looks down on the upright body, whose head is then nearer than its hips
    assert (Y[0, sk.HEAD, 2] < Y[0, sk.ROOT, 2]) == (e > 0)


@pytest.mark.parametrize('tilted', [True, False])
def test_the_rotation_puts_the_view_at_the_drawn_elevation(tilted):
    """phi = target - elevation after the azimuth rotation: without roll (psi 0) the rotated lift's
    elevation is the drawn one, mean + std * z, for any azimuth and any starting elevation."""
    cfg = tiny_cfg('TRAIN.ELEV_SAMPLING', 'learned', 'TRAIN.USE_NEW_ROT', str(tilted).lower())
    prior = E.ElevationPrior(cfg)
    prior.mean, prior.var = 0.2, 0.3 ** 2
    g = torch.Generator().manual_seed(0)
    n = 64
    start = torch.rand(n, generator=g, dtype=torch.float64) - 0.5
    Y = standing().repeat(n, 1, 1) @ geo.rot_x(start).transpose(1, 2)
    z = torch.randn(n, generator=g, dtype=torch.float64) * 3
    theta = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 3
    rot = torch.stack([theta, z, torch.zeros(n, dtype=torch.float64)], 1)
    angles = prior.rotations(rot)(Y)
    assert torch.equal(angles[:, 0], rot[:, 0]) and torch.equal(angles[:, 2], rot[:, 2])
    R = geo.forward_rotation(angles, tilted, not cfg.COMPAT.TILTED_AXIS_UNNORMALISED)
    got = E.lift_elevation(geo.apply_rot(R, Y - Y[:, sk.ROOT:sk.ROOT + 1]))
    want = (0.2 + 0.3 * z).clamp(-cfg.TRAIN.ELEV_CLIP, cfg.TRAIN.ELEV_CLIP)
    assert torch.allclose(got, want, atol=1e-9)
    assert (want.abs() == cfg.TRAIN.ELEV_CLIP).any()                # some draws were clipped


def test_running_statistics_and_their_state():
    cfg = tiny_cfg('TRAIN.ELEV_SAMPLING', 'learned', 'TRAIN.ELEV_MOMENTUM', '0.25')
    prior = E.ElevationPrior(cfg)
    assert prior.mean == 0 and prior.std == pytest.approx(cfg.TRAIN.BOUND_ELEV / math.sqrt(3))

    def batch(elevs):
        e = torch.tensor(elevs, dtype=torch.float64)
        return standing().repeat(len(elevs), 1, 1) @ geo.rot_x(e).transpose(1, 2)
    prior.observe(batch([0.1, 0.3]))
    assert prior.count == 0 and prior.mean == 0           # observed, not yet committed (the step may be skipped)
    prior.commit()
    assert (prior.count, prior.mean, prior.var) == (1, pytest.approx(0.2), pytest.approx(0.01))
    prior.commit()                                        # nothing pending: no change
    assert prior.count == 1
    nan = batch([0.5, 0.7, 0.6])
    nan[2] = float('nan')                                 # a non-finite lift is left out
    prior.observe(nan)
    prior.commit()
    assert prior.mean == pytest.approx(0.75 * 0.2 + 0.25 * 0.6)
    assert prior.var == pytest.approx(0.75 * 0.01 + 0.25 * 0.01)
    again = E.ElevationPrior(cfg)
    again.load_state_dict(prior.state_dict())
    assert again.state_dict() == prior.state_dict() == {'mean': prior.mean, 'var': prior.var, 'count': 2}
