"""Models: the rotation cycle's geometry, the authors' checkpoint layout loaded strictly, the
scaler, the projection clamp per dataset, and the opt-in bf16 inference copy (BatchNorm
folding) of lib/models/precision.py."""
import numpy as np
import pytest
import torch

from helpers import cfg_for, tiny_cfg, tiny_split
from lib.config.defaults import get_default
from lib.data.formats import pose_model_args
from lib.models import geometry as geo
from lib.models.pose_model import PoseModel
from lib.models.scaler import Scaler, scaler_features


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


# --- networks --------------------------------------------------------------------

def _bn(prefix, C=1024):
    return {prefix + '.weight': [C], prefix + '.bias': [C], prefix + '.running_mean': [C],
            prefix + '.running_var': [C], prefix + '.num_batches_tracked': []}


def authors_layout(L_=4, scaler=True):
    """The pose_model_state_dict keys and shapes of the authors' checkpoints, written from the
    table in docs/ORIGINAL.md, "Configs and checkpoints"."""
    k = {'lifter_before.pre.0.weight': [1024, 34], 'lifter_before.pre.0.bias': [1024]}
    k.update(_bn('lifter_before.pre.1'))
    for i in range(L_):
        p = 'lifter_before.blocks.%d.' % i
        k.update({p + 'main.0.weight': [1024, 1024], p + 'main.0.bias': [1024],
                  p + 'main.4.weight': [1024, 1024], p + 'main.4.bias': [1024],
                  p + 'sc.weight': [1024, 1058], p + 'sc.bias': [1024]})
        k.update(_bn(p + 'main.1')); k.update(_bn(p + 'main.5'))
    k.update({'lifter_after.main.0.weight': [1024, 1024], 'lifter_after.main.0.bias': [1024],
              'lifter_after.main.4.weight': [1024, 1024], 'lifter_after.main.4.bias': [1024],
              'lifter_after.sc.weight': [1024, 1058], 'lifter_after.sc.bias': [1024],
              'lifter_after.out.weight': [17, 1024], 'lifter_after.out.bias': [17]})
    k.update(_bn('lifter_after.main.1')); k.update(_bn('lifter_after.main.5'))
    if scaler:
        k.update({'scaler.pre.weight': [1024, 37], 'scaler.pre.bias': [1024],
                  'scaler.blocks.0.main.0.weight': [1024, 1024], 'scaler.blocks.0.main.0.bias': [1024],
                  'scaler.blocks.0.main.4.weight': [1024, 1024], 'scaler.blocks.0.main.4.bias': [1024],
                  'scaler.blocks.0.sc.weight': [1024, 1061], 'scaler.blocks.0.sc.bias': [1024],
                  'scaler.out.weight': [1, 1024], 'scaler.out.bias': [1]})
        k.update(_bn('scaler.blocks.0.main.1')); k.update(_bn('scaler.blocks.0.main.5'))
    return k


def _np_depth(sd, x, n_blocks):
    """The authors' lifter written out in numpy from their state-dict keys, eval mode: ``pre`` =
    Linear-BN-ReLU, each ResBlock ``main(h) + sc([h, raw])`` (features first, then the raw
    34-d input, as their ``torch.cat([x, joint_sc])``), then ``out``.  (B, 17, 2) -> (B, 17)."""
    w = {k: v.double().numpy() for k, v in sd.items()}
    lin = lambda p, h: h @ w[p + '.weight'].T + w[p + '.bias']
    bn = lambda p, h: (h - w[p + '.running_mean']) / np.sqrt(w[p + '.running_var'] + 1e-5) * w[p + '.weight'] \
        + w[p + '.bias']
    relu = lambda h: np.maximum(h, 0)
    main = lambda p, h: relu(bn(p + 'main.5', lin(p + 'main.4', relu(bn(p + 'main.1', lin(p + 'main.0', h))))))
    raw = x.reshape(len(x), -1)
    h = relu(bn('lifter_before.pre.1', lin('lifter_before.pre.0', raw)))
    for p in ['lifter_before.blocks.%d.' % i for i in range(n_blocks)] + ['lifter_after.']:
        h = main(p, h) + lin(p + 'sc', np.concatenate([h, raw], 1))
    return lin('lifter_after.out', h)


@pytest.mark.parametrize('L_,scaler', [(4, True), (2, False)])
def test_authors_state_dict_loads_strictly(tmp_path, L_, scaler):
    """A checkpoint in the authors' layout loads with every value copied, and the loaded
    lifter computes what their network computes from those weights (the numpy forward above;
    tests/test_parity.py also runs their model itself when ../shared is there)."""
    from lib.eval.load_model import load_pose_model
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.zeros(s, dtype=torch.long) if 'num_batches' in k else torch.randn(s, generator=g) * 0.05)
          for k, s in authors_layout(L_, scaler).items()}
    sd = {k: (v.abs() + 0.5 if 'running_var' in k else v) for k, v in sd.items()}
    path = tmp_path / 'authors.pth.tar'
    torch.save({'epoch': 10, 'pose_model_state_dict': sd, 'p1_mpjpe': 1.0}, path)
    cfg = get_default()                                    # says 4 blocks, no scaler
    notes = []
    m = load_pose_model(cfg, str(path), 'cpu', notes.append)
    assert set(m.state_dict()) == set(sd)
    for k, v in m.state_dict().items():                    # the values, not only the shapes
        assert torch.equal(v, sd[k]), k
    assert cfg.NETWORK.LIFTER_RES_BLOCKS == L_ and cfg.TRAIN.USE_SCALER == scaler
    assert len(notes) == (L_ != 4) + scaler
    x = torch.randn(3, 17, 2, generator=g) * 0.05
    with torch.no_grad():
        Y, s, _, _ = m.lift(x)
        depth = m.depth(x).double().numpy()
    assert Y.shape == (3, 17, 3) and (s is not None) == scaler
    ref = _np_depth(sd, x.double().numpy(), L_)
    assert np.abs(ref).max() > 0.1                         # a forward with signal in it
    np.testing.assert_allclose(depth, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_scaler_features_and_symmetry():
    x = torch.zeros(1, 17, 2)
    x[0, :, 0] = torch.linspace(-0.1, 0.2, 17)     # w = 0.3
    x[0, :, 1] = torch.linspace(0.05, -0.05, 17)   # h = 0.1
    f, hws = scaler_features(x)
    assert f.shape == (1, 37)
    assert torch.allclose(f[0, 34:], torch.tensor([0.1, 0.3, 0.2]), atol=1e-6)
    s = Scaler(37, 16, 1)
    s.eval()
    scale, mid = s(x)
    assert torch.allclose(scale, 2 * mid - hws, atol=1e-6)


def test_projection_clamp_per_dataset():
    from lib.models.pose_model import PoseModel
    x = torch.zeros(4, 17, 2)
    x[:, 6] = torch.tensor([2.0, -2.0])                  # a wrist far outside any clamp
    rot = torch.zeros(4, 3)
    for name, bound in (('h36m', 0.2), ('quickstart', 0.2), ('mpi', 0.35), ('surreal', 0.25)):
        cfg = cfg_for(name, **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1})
        torch.manual_seed(0)
        out = PoseModel(cfg, **pose_model_args(cfg)).eval()(x, rot)
        assert abs(out.proj_2d.abs().max().item() - (bound + 1e-5)) < 1e-6, name
        assert out.recn_2d.abs().max().item() <= bound + 1e-7, name


# --- opt-in bf16 evaluation (EVAL.PRECISION) --------------------------------------

def _model_with_bn_stats(seed=0, *opts):
    """A PoseModel (scaler on, 2 lifter blocks) with non-trivial BN statistics and affine
    parameters, as a trained network has them."""
    from lib.models.pose_model import get_pose_model
    torch.manual_seed(seed)
    cfg = tiny_cfg('NETWORK.NUM_CHANNELS', '64', 'NETWORK.LIFTER_RES_BLOCKS', '2',
                   'TRAIN.USE_SCALER', 'true', *opts)
    m = get_pose_model(cfg, **pose_model_args(cfg))
    for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm1d)):
        if bn.running_mean is not None:
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.2, 3.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_(0, 0.2)
    return m.eval()


def test_bn_folding_is_exact_in_float64():
    from lib.models.precision import _fold_bn
    m = _model_with_bn_stats()
    lin, bn = m.lifter_before.blocks[0].main[0], m.lifter_before.blocks[0].main[1]
    x = torch.randn(32, lin.in_features, dtype=torch.float64)
    ref = torch.nn.functional.batch_norm(
        x @ lin.weight.double().t() + lin.bias.double(), bn.running_mean.double(),
        bn.running_var.double(), bn.weight.double(), bn.bias.double(), False, 0.0, bn.eps)
    w, b = _fold_bn(lin, bn)
    assert torch.allclose(x @ w.t() + b, ref, rtol=0, atol=1e-12)


def test_bf16_copy_rewrites_the_network_exactly_and_leaves_the_model_alone():
    """The rewrite (folded BN, fused blocks, float32 ends) in float32 reproduces the model's lift
    to float32 rounding; in bf16 it stays within bf16 rounding of it; the model is unchanged."""
    from lib.eval.lifting import lift_in_batches
    from lib.models.precision import bf16_inference_copy
    m = _model_with_bn_stats()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = tiny_split(512).pose_2d
    ref, s_ref = lift_in_batches(m, x, as_tensor=True)
    same, s_same = lift_in_batches(bf16_inference_copy(m, dtype=torch.float32), x, as_tensor=True)
    assert torch.allclose(same, ref, rtol=1e-4, atol=1e-5) and torch.allclose(s_same, s_ref, rtol=1e-5)
    fast, s_fast = lift_in_batches(m, x, as_tensor=True, precision='bf16')
    rel = (fast - ref).norm(dim=-1).mean() / ref.norm(dim=-1).mean()
    assert 1e-5 < rel < 1e-2, rel                     # bf16 rounding: present, and small
    assert (s_fast / s_ref - 1).abs().max() < 2e-2
    assert fast.dtype == torch.float32
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert torch.equal(lift_in_batches(m, x, as_tensor=True)[0], ref)
    copy_ = bf16_inference_copy(m).train()
    with pytest.raises(RuntimeError, match='cannot be trained'):
        copy_.lift(x[:4])


def test_bf16_copy_without_scaler_and_untracked_bn_rules():
    from lib.config.load import validate
    from lib.eval.lifting import lift_in_batches
    from lib.models.precision import bf16_inference_copy
    from lib.utils.errors import UserError
    m = _model_with_bn_stats(1, 'TRAIN.USE_SCALER', 'false', 'NETWORK.LIFTER_RES_BLOCKS', '0')
    x = tiny_split(64).pose_2d
    ref, s = lift_in_batches(m, x, as_tensor=True)
    assert s is None
    assert torch.allclose(lift_in_batches(bf16_inference_copy(m, dtype=torch.float32), x, as_tensor=True)[0],
                          ref, rtol=1e-4, atol=1e-5)
    for opts, msg in ((['EVAL.PRECISION', 'fp16'], "EVAL.PRECISION must be one of fp32/bf16, got 'fp16'"),
                      (['EVAL.PRECISION', 'bf16', 'NETWORK.BN_TRACK', 'false'], 'BN_TRACK')):
        with pytest.raises(UserError, match=msg):
            validate(tiny_cfg(*opts))
    with pytest.raises(ValueError, match='BN_TRACK'):
        bf16_inference_copy(_model_with_bn_stats(2, 'NETWORK.BN_TRACK', 'false'))
