"""The dataset's own scale prior (lib/data/scale_prior.py): the formula against a hand
computation, the authors' two scripts that computed theirs, the file prepare_data writes, and
``DATA.SCALE_MID_MEAN: auto`` in a training run."""
import json
import os

import h5py
import numpy as np
import pytest

import synth
from helpers import REPO
from helpers import ENV, run_inproc, write_cfg
from lib.config.defaults import get_default
from lib.config.load import apply_opts
from lib.data import scale_prior
from lib.data import skeleton as sk
from lib.data.dataset import PoseSplit
from lib.data.formats import H36M, MPI
from lib.data.normalise import normalise_2d
from lib.parity.original import find_authors_dir
from lib.utils.errors import UserError

needs_original = pytest.mark.skipif(find_authors_dir() is None, reason='the authors\' code (../shared/original) is absent')


def _pose(scale=1.0, depth=5.0):
    """One camera-frame pose (ours order, metres): a T shape, root at (0, 0, depth)."""
    X = np.zeros((17, 3))
    X[:, 2] = depth
    X[sk.HEAD] += [0.0, -0.6 * scale, 0.0]
    X[0] += [-0.2 * scale, 0.9 * scale, 0.0]     # a foot
    X[12] += [0.4 * scale, -0.5 * scale, 0.1]     # a hand
    return X


def test_formula_by_hand():
    """scale = mean over x, y of (extent of the 3D at depth 10, projected) / (extent of the 2D);
    scale_mid = (scale + (h + w) / 2) / 2."""
    X = _pose()[None]
    x = np.zeros((1, 17, 2))
    x[0, :, :] = X[0, :, :2] / X[0, :, 2:] * 0.5          # any 2D: here half the true projection
    f = 0.5
    Y = (X[0] - X[0, sk.ROOT]) / f + [0, 0, 10]
    p = Y[:, :2] / Y[:, 2:]
    ext_p = p.max(0) - p.min(0)
    ext_x = x[0].max(0) - x[0].min(0)
    scale = (ext_p / ext_x).mean()
    mid = (scale + ext_x.mean()) / 2
    s, m = scale_prior.scale_mids(x, X, f)
    assert s[0] == pytest.approx(scale, rel=1e-12) and m[0] == pytest.approx(mid, rel=1e-12)
    # twice the 2D, half the scale; twice the 3D size (factor halved), twice the projected extent
    s2, _ = scale_prior.scale_mids(2 * x, X, f)
    assert s2[0] == pytest.approx(scale / 2, rel=1e-12)
    s3, _ = scale_prior.scale_mids(x, X, f / 2)
    assert s3[0] == pytest.approx(2 * scale, rel=0.05)     # perspective: about, not exactly


def _split(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = np.stack([_pose(rng.uniform(0.8, 1.2), rng.uniform(3, 6)) for _ in range(n)])
    px = X[..., :2] / X[..., 2:] * 1000 + 500
    return PoseSplit(px, X, np.array(['S1'] * n), np.array(['a'] * n), np.zeros(n, int), np.arange(n))


def test_compute_uses_the_training_input_normalisation():
    split = _split()
    p = scale_prior.compute(split, H36M)
    x, _ = normalise_2d(split.pose_2d_px, True, None, H36M.centre, H36M.focal)
    hr = np.linalg.norm(split.pose_3d[:, sk.HEAD] - split.pose_3d[:, sk.ROOT], axis=-1).mean()
    s, m = scale_prior.scale_mids(x, split.pose_3d, hr)
    assert p['scale_mid_mean'] == pytest.approx(m.mean()) and p['scale_mid_std'] == pytest.approx(m.std())
    assert p['factor_3d_m'] == pytest.approx(hr) and p['frames'] == 40
    # per-frame 2D normalisation (DATA.USE_SAME_NORM_2D false) gives another prior
    q = scale_prior.compute(split, H36M, same_norm_2d=False)
    assert q['scale_mid_mean'] != pytest.approx(p['scale_mid_mean'], rel=1e-4)


@needs_original
def test_the_authors_h36m_script_gives_our_numbers(tmp_path):
    """Their validate_project.py (one 2D factor per file, 3D / 0.680019) run as it is on an h5
    file of theirs: the same per-frame scale and scale_mid as ours."""
    from lib.parity.original import their_scale_mids
    split = _split(60, seed=1)
    path = tmp_path / 'pred.h5'
    p2, p3 = split.pose_2d_px.astype(np.float32), split.pose_3d.astype(np.float32)
    with h5py.File(path, 'w') as f:
        f['joint_2d_gt'], f['joint_3d_gt'], f['joint_3d_pre'] = p2, p3, p3
    s_t, m_t = their_scale_mids(str(path))
    # their pixels are normalised as (u - 112) / 112: only the root's 1e-5 placeholder sees it
    x, _ = normalise_2d(p2.astype(np.float64), True, None, (112.0, 112.0), 112.0)
    s, m = scale_prior.scale_mids(x, p3.astype(np.float64), 0.680019)
    np.testing.assert_allclose(m, m_t, rtol=2e-6)
    np.testing.assert_allclose(s, s_t, rtol=2e-6)
    ours = scale_prior.compute(split, H36M, factor_3d=0.680019)
    assert ours['scale_mid_mean'] == pytest.approx(m_t.mean(), rel=1e-4)
    assert ours['scale_mid_std'] == pytest.approx(m_t.std(), rel=1e-3)


@needs_original
def test_the_authors_mpi_script_gives_our_numbers(tmp_path):
    """Their mpi_validate_project.py on an MPI-INF-3DHP-layout file (MPI joint order, mm,
    (u - 1024) / 1024, each frame's 2D by its own head-root length): ours with
    DATA.USE_SAME_NORM_2D false, per frame."""
    from lib.prep.layouts import archives_to_layout
    from lib.data.mpi_surreal import read_authors_h5
    from lib.parity.original import their_scale_mids
    out = archives_to_layout(os.path.join(REPO, 'datasets', 'quickstart', 'data_3d_quickstart.npz'), 'mpi',
                             str(tmp_path))
    s_t, m_t = their_scale_mids(out['train'][0], 'mpi_validate_project.py', 'mpi', 'train')
    split = read_authors_h5(out['train'][0], 'mpi', True)
    x, _ = normalise_2d(split.pose_2d_px, False, None, MPI.centre, MPI.focal)
    s, m = scale_prior.scale_mids(x, split.pose_3d, 0.7286965902)
    assert len(m) == len(m_t) == out['train'][1]
    np.testing.assert_allclose(m, m_t, rtol=2e-6)
    np.testing.assert_allclose(s, s_t, rtol=2e-6)


def test_auto_is_a_value_of_the_two_keys_only():
    cfg = get_default()
    apply_opts(cfg, ['DATA.SCALE_MID_MEAN', 'auto', 'DATA.SCALE_MID_STD', 'auto'])
    assert scale_prior.is_auto(cfg)
    for bad in (['DATA.SCALE_MID_STD', '0'], ['DATA.SCALE_MID_MEAN', '-1'], ['TRAIN.POSE_LR', 'auto']):
        with pytest.raises(UserError):
            apply_opts(get_default(), bad)


def test_resolve_reads_the_file_else_computes_and_says_which(tmp_path):
    split = _split()
    cfg = get_default()
    apply_opts(cfg, ['DATA.SCALE_MID_MEAN', 'auto', 'DATA.SCALE_MID_STD', 'auto', 'DATA.DATASET_NAME', 'x'])
    said = []
    scale_prior.resolve(cfg, str(tmp_path), split, H36M, said.append)
    want = scale_prior.compute(split, H36M)
    assert (cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD) == (want['scale_mid_mean'], want['scale_mid_std'])
    assert 'computed now from the training split' in said[0]
    scale_prior.write(scale_prior.prior_path(str(tmp_path), 'x'), dict(want, scale_mid_mean=0.5), 'test')
    cfg = get_default()
    apply_opts(cfg, ['DATA.SCALE_MID_MEAN', 'auto', 'DATA.DATASET_NAME', 'x'])
    said = []
    scale_prior.resolve(cfg, str(tmp_path), None, H36M, said.append)
    assert cfg.DATA.SCALE_MID_MEAN == 0.5 and cfg.DATA.SCALE_MID_STD == 0.051     # only the auto key
    assert 'scale_prior_x.json' in said[0]
    (tmp_path / 'scale_prior_x.json').write_text('{"scale_mid_mean": 1')
    with pytest.raises(UserError, match='unreadable scale prior'):
        scale_prior.resolve(cfg_auto('x'), str(tmp_path), None, H36M, said.append)


def cfg_auto(name):
    cfg = get_default()
    apply_opts(cfg, ['DATA.SCALE_MID_MEAN', 'auto', 'DATA.DATASET_NAME', name])
    return cfg


def test_prepare_data_prior_and_a_run_with_auto(tmp_path, capsys):
    """``prepare_data.py prior`` writes the file; a training run with auto prints the prior it
    uses and where it came from, and records the numbers in its config.yaml."""
    import subprocess
    import sys
    data = tmp_path / 'data'
    synth.write_npz(str(data))
    r = subprocess.run([sys.executable, 'tools/prepare_data.py', 'prior', '--data-dir', str(data), '--name', 'synth'],
                       cwd=REPO, capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(data / 'scale_prior_synth.json'))
    assert 0.2 < doc['scale_mid_mean'] < 2 and doc['scale_mid_std'] > 0 and doc['frames'] > 0
    cfg = write_cfg(tmp_path, data)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.USE_SCALER', 'true',
                               'DATA.SCALE_MID_MEAN', 'auto', 'DATA.SCALE_MID_STD', 'auto',
                               'TRAIN.MAX_STEPS_PER_EPOCH', '2'], capsys)
    assert rc == 0, err
    line = [l for l in (out + err).splitlines() if 'scale prior:' in l]
    assert len(line) == 1 and 'scale_prior_synth.json' in line[0] and '%.6g' % doc['scale_mid_mean'] in line[0]
    import yaml
    saved = yaml.safe_load(open(tmp_path / 'out' / 'tiny' / 'config.yaml'))
    assert saved['DATA']['SCALE_MID_MEAN'] == pytest.approx(doc['scale_mid_mean'])
