"""The learned 2D pose prior (lib/train/flow_prior.py): a tiny fit tells real poses from noise,
its NLL passes gradients to the poses, not to itself, and the fit leaves the global RNG alone."""
import numpy as np
import pytest
import torch

from lib.config.defaults import get_default
from lib.data import skeleton as sk
from lib.train import flow_prior as F

pytest.importorskip('zuko', reason='needs zuko: pip install -r requirements-flow.txt')
pytestmark = pytest.mark.usefixtures('one_thread')


def standing_views(n, seed):
    """``n`` perspective views of the standing skeleton (random yaw, small pitch, limbs jittered),
    root-relative and scaled to a head-root length of about 0.1, as the pipeline normalises."""
    rng = np.random.RandomState(seed)
    X = np.repeat(sk.v3d_to_ours(sk.STANDING_POSE_V3D)[None], n, 0)
    X = X + rng.normal(0, 0.02, X.shape)
    yaw, pitch = rng.uniform(-np.pi, np.pi, n), rng.uniform(-0.3, 0.3, n)
    out = np.empty((n, 17, 2))
    for i in range(n):
        cy, sy, cp, sp = np.cos(yaw[i]), np.sin(yaw[i]), np.cos(pitch[i]), np.sin(pitch[i])
        R = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        T = (X[i] - X[i, sk.ROOT]) @ R.T + [0, 0, 5.0]
        p = T[:, :2] / T[:, 2:]
        out[i] = p - p[sk.ROOT]
    out *= 0.1 / np.linalg.norm(out[:, sk.HEAD], axis=-1).mean()
    return torch.tensor(out, dtype=torch.float32)


def tiny_cfg():
    cfg = get_default()
    t = cfg.TRAIN
    t.FLOW_WEIGHT, t.FLOW_PCA_DIMS, t.FLOW_TRANSFORMS, t.FLOW_HIDDEN, t.FLOW_FIT_STEPS = 1.0, 8, 2, 64, 200
    return cfg


def test_a_tiny_fit_tells_real_poses_from_noise_and_passes_gradients_to_the_poses():
    train, held_out = standing_views(3000, 0), standing_views(500, 1)
    before = torch.get_rng_state()
    prior, train_nll, seconds = F.fit(tiny_cfg(), train, sk.ROOT)
    assert torch.equal(torch.get_rng_state(), before)            # the fit's randomness is its own
    assert seconds > 0 and train_nll < F.gaussian_nll(8)         # better than a Gaussian on the PCA coordinates
    noise = held_out[torch.randperm(500)]                         # real joints, shuffled across poses...
    noise = noise[:, torch.randperm(17)]                          # ...and joints: a body of no one
    noise[:, sk.ROOT] = 0
    real_nll, noise_nll = prior.nll(held_out).mean().item(), prior.nll(noise).mean().item()
    assert real_nll < train_nll + 1 and noise_nll > real_nll + 20, (train_nll, real_nll, noise_nll)
    far = prior.nll(held_out * 100).mean().item()                  # far from every training pose: bounded
    assert noise_nll < far < 1e4, far
    x = held_out[:8].clone().requires_grad_(True)
    prior.nll(x).mean().backward()
    assert x.grad[:, sk.ROOT].abs().max() == 0 and x.grad.abs().sum() > 0     # the root is left out
    assert not any(p.requires_grad for p in prior.parameters())
    again, nll2, _ = F.fit(tiny_cfg(), train, sk.ROOT)                           # seeded: the same flow
    assert nll2 == train_nll and torch.equal(again.nll(held_out), prior.nll(held_out))
