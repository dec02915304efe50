"""Splits (lib/data/dataset.py): both file formats give the same splits, one 2D factor per
split, the fixed rotations, the action groups."""
import numpy as np
import pytest
import torch

from lib.config.defaults import get_default
from lib.data import skeleton as sk
from lib.data.batches import TensorSplit
from lib.data.dataset import load_splits


def test_action_group_runs():
    from lib.data.dataset import PoseSplit
    acts = np.array(['Directions 1', 'Directions 1', 'Walking_2', 'Directions', 'Sitting Down 2', 'Directions 1'])
    s = PoseSplit(np.zeros((6, 17, 2)), np.zeros((6, 17, 3)), np.array(['S9'] * 6), acts, np.zeros(6, int),
                  np.arange(6))
    assert s.action_group.tolist() == ['Directions', 'Directions', 'Walking', 'Directions', 'Sitting Down',
                                       'Directions']


# --- splits: both file formats, one 2D factor per split, the fixed rotations ----------------

def _synth_splits(tiny_data, fmt):
    from lib.config.load import update_config
    cfg_path, tmp = tiny_data
    cfg = update_config(get_default(), str(cfg_path))
    cfg.DATA.FORMAT = fmt
    return cfg, load_splits(cfg, str(tmp / 'data'))


def test_h5_and_npz_readers_give_the_same_splits(tiny_data):
    """synth.py writes one motion in both layouts (VideoPose3D npz archives, the authors' h5
    files): the two readers give the same frames, labels and sequence bookkeeping (the files
    list the actions in another order; the h5 3D was stored in float32)."""
    splits = {fmt: _synth_splits(tiny_data, fmt)[1] for fmt in ('npz', 'h5')}
    for name in ('train', 'test'):
        a, b = splits['npz'][name], splits['h5'][name]
        assert len(a) == len(b) == 1976
        oa, ob = (np.lexsort((s.frame, s.camera, s.action, s.subject)) for s in (a, b))
        for key in ('subject', 'action', 'camera', 'frame', 'index_in_seq', 'seqlen'):
            assert np.array_equal(getattr(a, key)[oa], getattr(b, key)[ob]), (name, key)
        assert np.array_equal((a.block_end - a.seq_start)[oa], (b.block_end - b.seq_start)[ob])
        np.testing.assert_array_equal(a.pose_2d_px[oa], b.pose_2d_px[ob])
        np.testing.assert_allclose(a.pose_3d[oa], b.pose_3d[ob], rtol=0, atol=1e-6)
        assert sorted(set(a.subject)) == (['S1', 'S5'] if name == 'train' else ['S11', 'S9'])


def test_each_split_is_normalised_with_its_own_2d_factor(tiny_data):
    """One factor k per split: each split's 2D has a mean head-root distance of 0.1, and the
    test split's numbers are its own pixels normalised by hand, (p - (514.0435, 506.7003)) / 500,
    root subtracted and set to 1e-5, times its own k (the subjects differ in size, so the
    training split's k would not do)."""
    cfg, splits = _synth_splits(tiny_data, 'npz')
    train = TensorSplit.from_split(splits['train'], cfg, torch.device('cpu'), train=True)
    test = TensorSplit.from_split(splits['test'], cfg, torch.device('cpu'), train=False)
    for s in (train, test):
        d = np.linalg.norm((s.pose_2d[:, sk.HEAD] - s.pose_2d[:, sk.ROOT]).numpy(), axis=-1)
        assert d.mean() == pytest.approx(0.1, rel=1e-5)
    x = (splits['test'].pose_2d_px - np.array([514.0435, 506.7003])) / 500.0
    x = x - x[:, 13:14]
    x[:, 13] = 1e-5
    k = 0.1 / np.linalg.norm(x[:, 16] - x[:, 13], axis=-1).mean()
    np.testing.assert_allclose(test.pose_2d.numpy(), x * k, rtol=1e-5, atol=1e-8)
    assert test.factor_2d == pytest.approx(k, rel=1e-9) and abs(train.factor_2d / k - 1) > 0.02


def test_fixed_rotations_seed_2019_theta_plus_pi_copies_and_bounds(tiny_data):
    """One (theta, phi, psi) per training frame, drawn once as the original does: NumPy's seed
    2019, theta = (2u - 1) BOUND_AZIM for all N frames, then phi (BOUND_ELEV), then psi
    (BOUND_ELEV / 2); the N rows and their theta + pi copies shuffled together, the first N kept."""
    from lib.data.sampling import fixed_rotations
    n, az, el = 400, 2.44346, 0.5
    r = np.random.RandomState(2019)
    theta, phi, psi = ((2 * r.rand(n) - 1) * b for b in (az, el, el / 2))
    rows = np.stack([theta, phi, psi], 1)
    both = np.concatenate([rows, rows + [np.pi, 0, 0]])
    r.shuffle(both)
    got = fixed_rotations(n, az, el)
    np.testing.assert_array_equal(got, both[:n].astype(np.float32))
    assert not np.array_equal(got, fixed_rotations(n, az, el, seed=2018))
    # each row is a drawn row or its copy turned by pi, about half of them copies, within bounds
    j = np.abs(got[:, None, 1:] - rows[None, :, 1:]).sum(-1).argmin(1)          # the drawn row of each
    assert np.abs(got[:, 1:] - rows[j, 1:]).max() < 1e-6
    turned = np.abs(got[:, 0] - rows[j, 0] - np.pi) < 1e-5
    assert (turned | (np.abs(got[:, 0] - rows[j, 0]) < 1e-6)).all()
    assert 0.35 < turned.mean() < 0.65
    assert (np.abs(got[:, 1]) <= el).all() and (np.abs(got[:, 2]) <= el / 2).all()
    assert (np.abs(got[~turned, 0]) <= az).all() and (np.abs(got[turned, 0] - np.pi) <= az + 1e-6).all()
    # the training split takes them, in frame order; the test split has none
    cfg, splits = _synth_splits(tiny_data, 'npz')
    train = TensorSplit.from_split(splits['train'], cfg, torch.device('cpu'), train=True)
    t = cfg.TRAIN
    assert torch.equal(train.rot, torch.as_tensor(fixed_rotations(len(train), t.BOUND_AZIM, t.BOUND_ELEV)))
    assert TensorSplit.from_split(splits['test'], cfg, torch.device('cpu'), train=False).rot is None
