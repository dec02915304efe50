"""Losses (lib/core/loss.py): bone consistency, the KL prior on the scale, the temporal motion
consistency variants and the LSGAN terms."""
import numpy as np
import pytest
import torch

from helpers import rand_rot
from lib.core import loss as L
from lib.models import geometry as geo


# --- losses ----------------------------------------------------------------------

def test_bone_loss_zero_when_same_positive_when_moved():
    X = torch.randn(2, 17, 3)
    assert L.loss_bone(X, X + 3.0).item() == pytest.approx(0, abs=1e-6)       # translation: same bones
    Y = X.clone(); Y[:, 0] += 0.2                                               # a moved ankle
    assert L.loss_bone(X, Y).item() > 0
    R = torch.tensor(rand_rot(np.random.RandomState(4)), dtype=torch.float32)
    Xr = X @ R.T
    assert L.loss_bone(X, Xr, 'lengths').item() == pytest.approx(0, abs=1e-5)  # lengths: rotation-free
    assert L.loss_bone(X, Xr, 'vectors').item() > 0                              # vectors: not


def test_kl_zero_at_prior_positive_elsewhere():
    torch.manual_seed(0)
    v = torch.randn(4096, 1, dtype=torch.float64)
    v = (v - v.mean()) / v.std() * 0.051 + 0.714
    assert L.loss_kl_scale(v, 0.714, 0.051).item() == pytest.approx(0, abs=1e-9)
    assert L.loss_kl_scale(v + 0.05, 0.714, 0.051).item() > 0.1
    assert L.loss_kl_scale(v, 0.714, 0.051, mean_only=True).item() == pytest.approx(0, abs=1e-9)
    w = v.clone().requires_grad_(True)
    L.loss_kl_scale(w * 2, 0.714, 0.051).backward()
    assert w.grad.abs().sum() > 0                        # gradients flow through the batch statistics


def test_tmc_fixed_variant_zero_for_rigid_motion():
    """A lifter consistent with the rotation makes the R*M and recovered variants vanish."""
    class Out:
        pass
    rng = np.random.RandomState(5)
    R = torch.tensor(rand_rot(rng), dtype=torch.float32)[None]
    def make(Y):
        o = Out(); o.est_3d = Y; o.R = R
        o.recn_3d = geo.apply_rot(R, Y - Y[:, 13:14]) + torch.tensor([0, 0, 10.0])
        o.recovered_3d = geo.apply_rot(R.transpose(1, 2), o.recn_3d - torch.tensor([0, 0, 10.0])) + Y[:, 13:14]
        return o
    Y = torch.randn(1, 17, 3)
    Yn = Y + torch.tensor([0.0, 0.0, 0.0]); Yn[:, 3] += 0.1               # one joint moves
    a, b = make(Y), make(Yn)
    assert L.loss_tmc(a, b, 'rotate_motion').item() == pytest.approx(0, abs=1e-5)
    assert L.loss_tmc(a, b, 'recovered').item() == pytest.approx(0, abs=1e-5)
    assert L.loss_tmc(a, b, 'as_written').item() > 1e-3                  # the original's frame mix-up
    c = make(Y.clone()); c.recn_3d = c.recn_3d + torch.randn(1, 17, 3) * 0.1
    assert L.loss_tmc(a, c, 'rotate_motion').item() > 0


def test_lsgan():
    assert L.lsgan_g(torch.ones(5)).item() == 0
    assert L.lsgan_d(torch.ones(5), torch.zeros(5)).item() == 0
    assert L.lsgan_d(torch.zeros(5), torch.ones(5)).item() == 2
