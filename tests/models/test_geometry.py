"""The rotation cycle's geometry (lib/models/geometry.py): the rotations against hand-built
matrices, the fixed-inverse cycle, and the model's cycle against a numpy one."""
import numpy as np
import pytest
import torch

from lib.config.defaults import get_default
from lib.data.formats import pose_model_args
from lib.models import geometry as geo
from lib.models.pose_model import PoseModel


# --- geometry --------------------------------------------------------------------

# numpy rotations written out by hand (x right, y down, z forward; R acts on column vectors)
def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


AXIS = np.array([-0.01474, 0.96402, 0.261718])           # the authors' tilted azimuth axis, |a| = 0.99902


def _about(a, t):
    """Rodrigues with the axis as given: cos t I + (1 - cos t) a a^T + sin t [a]x."""
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.cos(t) * np.eye(3) + (1 - np.cos(t)) * np.outer(a, a) + np.sin(t) * K


def _np_forward(rot, tilted=True, normalise=False):
    """R = Rz(psi) Rx(phi) Raz(theta) for each (theta, phi, psi), Raz about the tilted axis or y."""
    a = AXIS / np.linalg.norm(AXIS) if normalise else AXIS
    return np.stack([_rz(s) @ _rx(p) @ (_about(a, t) if tilted else _ry(t)) for t, p, s in rot])


def test_rotations_match_hand_built_matrices():
    rot = np.array([[2.5, 0.3, -0.1], [-1.0, -0.2, 0.15], [np.pi / 2, 0.0, 0.0]])
    r = torch.tensor(rot)
    # untilted, theta = pi/2 about y: x -> -z
    R0 = geo.forward_rotation(r, tilted=False).numpy()
    np.testing.assert_allclose(R0[2] @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(R0, _np_forward(rot, tilted=False), atol=1e-12)
    # tilted: the axis as given (COMPAT.TILTED_AXIS_UNNORMALISED) or normalised; the two differ
    raw, unit = _np_forward(rot), _np_forward(rot, normalise=True)
    np.testing.assert_allclose(geo.forward_rotation(r, True, normalise_axis=False).numpy(), raw, atol=1e-12)
    np.testing.assert_allclose(geo.forward_rotation(r, True, normalise_axis=True).numpy(), unit, atol=1e-12)
    assert np.abs(raw - unit).max() > 1e-3
    np.testing.assert_allclose(unit[0] @ unit[0].T, np.eye(3), atol=1e-12)     # a rotation
    np.testing.assert_allclose(_about(AXIS / np.linalg.norm(AXIS), 0.7) @ AXIS, AXIS, atol=1e-12)
    # the original inverse Ry(-theta) Rx(-phi) Rz(-psi), and the exact one
    orig = np.stack([_ry(-t) @ _rx(-p) @ _rz(-s) for t, p, s in rot])
    R = geo.forward_rotation(r, tilted=True)
    np.testing.assert_allclose(geo.inverse_rotation(r, R, exact=False).numpy(), orig, atol=1e-12)
    np.testing.assert_allclose(geo.inverse_rotation(r, R, exact=True).numpy(), np.linalg.inv(raw), atol=1e-10)


def test_rotation_cycle_fixed_inverse_returns_input():
    rot = torch.tensor([[2.5, 0.3, -0.1], [-1.0, -0.2, 0.15]], dtype=torch.float64)
    Y = torch.randn(2, 17, 3, dtype=torch.float64)
    R = geo.forward_rotation(rot, tilted=True)
    RY = geo.apply_rot(R, Y)
    np.testing.assert_allclose(RY.numpy(), Y.numpy() @ _np_forward(rot.numpy()).transpose(0, 2, 1), atol=1e-12)
    back = geo.apply_rot(geo.inverse_rotation(rot, R, exact=True), RY)
    assert torch.allclose(back, Y, atol=1e-10)
    # the original inverse (about camera y) undoes only the untilted forward rotation
    orig = geo.apply_rot(geo.inverse_rotation(rot, R, exact=False), RY)
    assert (orig - Y).abs().max() > 1e-2
    R0 = geo.forward_rotation(rot, tilted=False)
    back0 = geo.apply_rot(geo.inverse_rotation(rot, R0, exact=False), geo.apply_rot(R0, Y))
    assert torch.allclose(back0, Y, atol=1e-10)


@pytest.mark.parametrize('exact,unnormalised', [(True, True), (False, True), (True, False)])
def test_model_cycle_matches_a_numpy_cycle(exact, unnormalised):
    """The training cycle, recomputed in numpy from the first lift and the second lift's
    depths: T = (Y - Y_root) R^T + (0, 0, c), p = clamp(T_xy / T_z, 0.2) + 1e-5, recovered =
    (recn - (0, 0, c)) R'^T + Y_root with R' = R^-1 (COMPAT.INVERSE_ROT_TILTED_AXIS) or the
    original Ry(-theta) Rx(-phi) Rz(-psi); the tilted axis as given (COMPAT.TILTED_AXIS_UNNORMALISED)
    or normalised."""
    cfg = get_default(); cfg.NETWORK.NUM_CHANNELS = 16; cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.COMPAT.INVERSE_ROT_TILTED_AXIS = exact
    cfg.COMPAT.TILTED_AXIS_UNNORMALISED = unnormalised
    torch.manual_seed(0)
    m = PoseModel(cfg, **pose_model_args(cfg)).eval()
    x = torch.randn(4, 17, 2, dtype=torch.float64) * 0.03
    rot = np.array([[1.0, 0.2, 0.1], [-2.0, 0.1, -0.2], [0.5, -0.3, 0.0], [3.0, 0.0, 0.3]])
    m.double()
    with torch.no_grad():
        out = m(x, torch.tensor(rot))
        Y = out.est_3d.numpy()
        np.testing.assert_allclose(Y, geo.back_project(x, m.depth(x)).numpy(), atol=1e-12)
        z = np.maximum(m.depth(out.proj_2d).numpy() + 10.0, 1.0)
    R = _np_forward(rot, normalise=not unnormalised)
    inv = np.linalg.inv(R) if exact else np.stack([_ry(-t) @ _rx(-p) @ _rz(-s) for t, p, s in rot])
    c = np.array([0, 0, 10.0])
    T = np.einsum('bij,bkj->bki', R, Y - Y[:, 13:14]) + c
    p = np.clip(T[..., :2] / T[..., 2:], -0.2, 0.2) + 1e-5
    recn = np.concatenate([p * z[..., None], z[..., None]], -1)
    recovered = np.einsum('bij,bkj->bki', inv, recn - c) + Y[:, 13:14]
    for name, want in (('tran_3d', T), ('proj_2d', p), ('recn_3d', recn), ('recovered_3d', recovered),
                       ('recn_2d', np.clip(recovered[..., :2] / recovered[..., 2:], -0.2, 0.2))):
        np.testing.assert_allclose(getattr(out, name).numpy(), want, atol=1e-9, err_msg=name)
    assert np.abs(p).max() > 0.05                         # a cycle with something in it
