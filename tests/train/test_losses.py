"""Losses (lib/train/losses.py): bone consistency, the KL prior on the scale, the temporal motion
consistency variants and the LSGAN terms."""
import numpy as np
import pytest
import torch

from helpers import rand_rot
from lib.models import geometry as geo
from lib.train import losses as L


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


def test_tmc_magnitude_first3_variant_by_hand():
    """COMPAT.TMC_FRAME 'magnitude_first3' (what the original's FIX_TRAJ flag computes): the
    per-joint motion magnitudes |Y_j - Yn_j| against |Yrec_j - Yrec_n_j|, of which the original's
    loss_3d keeps joints 0-2 only: mean over the batch of sqrt(sum_{j<3} (|m_j| - |r_j|)^2)."""
    class Out:
        pass
    a, b = Out(), Out()
    for o in (a, b):
        o.est_3d, o.recn_3d = torch.zeros(2, 17, 3), torch.zeros(2, 17, 3)
    b.est_3d[0, 0] = torch.tensor([3.0, 4.0, 0.0])          # |m_0| = 5
    b.est_3d[0, 1] = torch.tensor([0.0, 0.0, 2.0])          # |m_1| = 2
    b.est_3d[0, 7] = torch.tensor([9.0, 9.0, 9.0])          # joint 7: not among the first three
    b.recn_3d[0, 0] = torch.tensor([0.0, 2.0, 0.0])         # |r_0| = 2
    b.recn_3d[0, 2] = torch.tensor([1.0, 0.0, 0.0])         # |r_2| = 1
    # frame 0: (5 - 2, 2 - 0, 0 - 1) -> sqrt(14); frame 1: no motion -> 0
    assert L.loss_tmc(a, b, 'magnitude_first3').item() == pytest.approx(14 ** 0.5 / 2, rel=1e-6)


def test_tmc_mode_follows_the_original_fix_traj_flags():
    """The original's alternating YAMLs set FIX.FIX_TRAJ: its TMC is then the magnitude variant
    (or the recovered-frame one with FIX_TRAJ_BY_ROT); COMPAT.TMC_FRAME, when set, wins."""
    from lib.train import schedule as TS
    from lib.config.defaults import get_default
    cfg = get_default()
    cfg.FIX.FIX_TRAJ, cfg.FIX.FIX_TRAJ_BY_ROT = True, False
    assert TS.tmc_mode(cfg, 'alternating') == 'magnitude_first3' and TS.tmc_mode(cfg, 'joint') == 'as_written'
    cfg.FIX.FIX_TRAJ_BY_ROT = True
    assert TS.tmc_mode(cfg, 'alternating') == 'recovered'
    cfg.COMPAT.TMC_FRAME = 'rotate_motion'
    assert TS.tmc_mode(cfg, 'alternating') == 'rotate_motion'
    cfg.FIX.FIX_TRAJ = False
    cfg.COMPAT.TMC_FRAME = 'as_written'
    assert TS.tmc_mode(cfg, 'alternating') == 'as_written'


def test_log_lengths_bone_loss_is_scale_free_and_matches_a_hand_value():
    """COMPAT.BONE_LOSS log_lengths: mean |log ||bone_x|| - log ||bone_y|||; a common scale of
    both frames leaves it unchanged, while vectors and lengths shrink with the pose."""
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(4, 17, 3, generator=g), torch.randn(4, 17, 3, generator=g)
    from lib.data.skeleton import BONE_CHILDREN, PARENTS
    bx = (X - X[:, PARENTS])[:, BONE_CHILDREN].norm(dim=-1)
    by = (Y - Y[:, PARENTS])[:, BONE_CHILDREN].norm(dim=-1)
    want = (bx.log() - by.log()).abs().mean()
    got = L.loss_bone(X, Y, 'log_lengths')
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(L.loss_bone(0.3 * X, 0.3 * Y, 'log_lengths'), got, atol=1e-5)
    for mode in ('vectors', 'lengths'):
        assert L.loss_bone(0.3 * X, 0.3 * Y, mode) < 0.31 * L.loss_bone(X, Y, mode)


# --- the structure candidates (docs/STRUCTURE_STUDY.md) ------------------------------------------

def test_symmetry_loss_by_hand_and_scale_free():
    """A standing skeleton is left/right symmetric: 0.  Stretch its right shin to twice its
    length and its left forearm to three times: the mean over 2 poses x 6 pairs of
    |log right - log left| is (log 2 + log 3) / 12 for the stretched pose, 0 for the other."""
    from lib.data import skeleton as sk
    X = torch.tensor(sk.v3d_to_ours(sk.STANDING_POSE_V3D), dtype=torch.float64)[None].repeat(2, 1, 1)
    assert L.loss_symmetry(X).item() == pytest.approx(0, abs=1e-12)
    names = sk.OURS_NAMES
    ankle, knee = names.index('RAnkle'), names.index('RKnee')
    wrist, elbow = names.index('LWrist'), names.index('LElbow')
    Y = X.clone()
    Y[1, ankle] = Y[1, knee] + 2 * (X[1, ankle] - X[1, knee])
    Y[1, wrist] = Y[1, elbow] + 3 * (X[1, wrist] - X[1, elbow])
    want = (np.log(2) + np.log(3)) / 12
    assert L.loss_symmetry(Y).item() == pytest.approx(want, rel=1e-6)       # (the 1e-8 inside the logs)
    R = torch.tensor(rand_rot(np.random.RandomState(1)))
    assert L.loss_symmetry(3.7 * Y @ R.T + 1.0).item() == pytest.approx(want, rel=1e-6)   # scale, rotation, shift
    Y.requires_grad_(True)
    L.loss_symmetry(Y).backward()
    assert Y.grad[0].abs().max() == 0 and Y.grad[1, ankle].abs().max() > 0


def test_proportion_loss_by_hand_scale_free_and_zero_for_one_skeleton():
    """Poses of one skeleton, each rotated, scaled and shifted: 0.  Stretch one pose's right
    shin to twice its length: every log share of that pose moves (its total grows), and the
    loss is the mean distance of the shares from their batch mean, computed here by hand; the
    gradient reaches the stretched pose."""
    from lib.data import skeleton as sk
    from lib.data.skeleton import BONE_CHILDREN, PARENTS
    rng = np.random.RandomState(3)
    X0 = torch.tensor(sk.v3d_to_ours(sk.STANDING_POSE_V3D), dtype=torch.float64)
    X = torch.stack([rng.uniform(0.5, 2) * X0 @ torch.tensor(rand_rot(rng)).T + 0.1 * k for k in range(4)])
    assert L.loss_proportions(X).item() == pytest.approx(0, abs=1e-7)
    ankle, knee = sk.OURS_NAMES.index('RAnkle'), sk.OURS_NAMES.index('RKnee')
    Y = X.clone()
    Y[2, ankle] = Y[2, knee] + 2 * (X[2, ankle] - X[2, knee])
    bones = (Y - Y[:, PARENTS])[:, BONE_CHILDREN].norm(dim=-1)
    share = (bones / bones.sum(1, keepdim=True)).log()
    want = (share - share.mean(0)).abs().mean().item()
    assert want > 0.01
    assert L.loss_proportions(Y).item() == pytest.approx(want, rel=1e-6)
    assert L.loss_proportions(5 * Y - 2).item() == pytest.approx(want, rel=1e-6)
    Y.requires_grad_(True)
    L.loss_proportions(Y).backward()
    assert Y.grad[2, ankle].abs().max() > 0

