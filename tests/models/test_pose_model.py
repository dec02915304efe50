"""The pose model (lib/models/pose_model.py, scaler.py): the authors' checkpoint layout loaded
strictly, the scaler's features, the projection clamp per dataset."""
import numpy as np
import pytest
import torch

from helpers import cfg_for
from lib.config.defaults import get_default
from lib.models.scaler import Scaler, scaler_features


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
    tests/parity/test_parity.py also runs their model itself when ../shared is there)."""
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
    from lib.data.formats import pose_model_args
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
