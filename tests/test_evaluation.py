"""MPI-INF-3DHP and SURREAL: the authors' file layouts, their evaluation, the prediction file.

Fixtures (``layout_fixtures.py``) are written in the authors' h5 layouts from the
shared BVH motion capture when ``../shared`` is there, and from a synthetic
walking skeleton otherwise (both are tested when both are available).  The
numbers the readers and the metrics must give are computed here again, from
the authors' definitions (their ``mpi2h36m`` list, their normalisation
constants, their PCK thresholds), not through the project's code.
"""
import importlib.util
import json
import os
import subprocess
import sys
import types

import h5py
import numpy as np
import pytest
import torch

import layout_fixtures as lf
from lib.core.config import get_default
from lib.data.dataset import load_splits
from test_cli import assert_no_outputs, assert_one_error_line, run_inproc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, 'tools', 'main.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
ORIGINAL_UTILS = os.path.normpath(os.path.join(REPO, '..', 'shared', 'original', 'lib', 'utils', 'utils.py'))
HAVE_BVH = os.path.isdir(lf.BVH_DIR)
SOURCES = ['synthetic', pytest.param('bvh', marks=pytest.mark.skipif(
    not HAVE_BVH, reason='../shared/data/mocap_bvh not found (the synthetic fixture still runs)'))]

# end to end: the real motion capture when it is there, else the synthetic fallback
E2E_SOURCE = 'bvh' if HAVE_BVH else 'synthetic'

# the authors' facts, restated
MPI2H36M = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, 14, 15, 16, 0]
V3D_TO_OURS = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 0, 7, 9, 10]


def cfg_for(name, **over):
    cfg = get_default()
    cfg.DATA.DATASET_NAME = name
    for k, v in over.items():
        sec, key = k.split('.')
        cfg[sec][key] = v
    return cfg


def write_run(tmp, dataset, source='synthetic', yaml_extra=''):
    data = lf.write_dataset(str(tmp / 'data'), dataset, source)
    cfg = tmp / ('%s.yaml' % dataset)
    cfg.write_text(lf.YAML.format(data=data, out=tmp / 'out', log=tmp / 'log', dataset=dataset) + yaml_extra)
    return cfg


def run_main(args):
    r = subprocess.run([sys.executable, MAIN, '--gpu', '-1'] + [str(a) for a in args],
                       capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


# --- readers --------------------------------------------------------------------------

@pytest.mark.parametrize('source', SOURCES)
def test_mpi_reader_order_units_and_sequences(tmp_path, source):
    lf.write_dataset(str(tmp_path), 'mpi', source)
    test = load_splits(cfg_for('mpi'), str(tmp_path), which=('test',))['test']
    with h5py.File(str(tmp_path / 'mpi_valid_pred3.h5'), 'r') as f:
        p2 = np.array(f['joint_2d_gt'])[:, MPI2H36M, :2]
        p3 = np.array(f['joint_3d_gt'])[:, MPI2H36M, :3] / 1000.0
        names = [n.decode() for n in f['imagename'][:]]
    np.testing.assert_allclose(test.pose_2d_px, p2)
    np.testing.assert_allclose(test.pose_3d, p3)
    assert 2048 * 0.1 < np.ptp(p2[..., 1]) < 2048          # a person in a 2048x2048 frame, in pixels
    assert 1.2 < np.ptp(test.pose_3d[0, :, 1]) < 2.1          # ... about 1.6 m tall: mm were read as mm
    seq = np.array(['/'.join(n.split('/')[:-1]) for n in names])
    assert list(test.extra['seqname']) == list(seq)
    lens = {s: int((seq == s).sum()) for s in set(seq)}
    assert [int(x) for x in test.seqlen] == [lens[s] for s in seq]
    assert test.index_in_seq[0] == 0 and test.index_in_seq[lens[seq[0]]] == 0


@pytest.mark.parametrize('source', SOURCES)
def test_surreal_reader_reads_original_joint_2d_gt_unreordered(tmp_path, source):
    lf.write_dataset(str(tmp_path), 'surreal', source)
    with h5py.File(str(tmp_path / 'surreal_valid_pred3.h5'), 'a') as f:   # make the two 2D keys differ
        f['joint_2d_gt'][...] = 0
        p2 = np.array(f['original_joint_2d_gt'])[..., :2]
        p3 = np.array(f['joint_3d_gt'])
    test = load_splits(cfg_for('surreal'), str(tmp_path), which=('test',))['test']
    np.testing.assert_allclose(test.pose_2d_px, p2)
    np.testing.assert_allclose(test.pose_3d, p3)
    assert np.all((p2[..., 0] >= 0) & (p2[..., 0] <= 320) & (p2[..., 1] >= 0) & (p2[..., 1] <= 240))


@pytest.mark.parametrize('dataset,centre,focal', [('mpi', (1024.0, 1024.0), 1024.0),
                                                  ('surreal', (160.0, 160.0), 160.0)])
def test_2d_normalisation_uses_the_dataset_constants(tmp_path, dataset, centre, focal):
    from lib.data.batches import TensorSplit
    lf.write_dataset(str(tmp_path), dataset)
    split = load_splits(cfg_for(dataset), str(tmp_path), which=('test',))['test']
    data = TensorSplit.from_split(split, cfg_for(dataset), torch.device('cpu'), train=False)
    x = (split.pose_2d_px - np.array(centre)) / focal                # the original's loader, step by step
    x = x - x[:, 13:14]
    x[:, 13] = 1e-5
    x = x * (0.1 / np.linalg.norm(x[:, -1] - x[:, 13], axis=1).mean())
    np.testing.assert_allclose(data.pose_2d.numpy(), x, rtol=1e-5, atol=1e-9)


def test_projection_clamp_per_dataset():
    from lib.models.pose_model import PoseModel
    x = torch.zeros(4, 17, 2)
    x[:, 6] = torch.tensor([2.0, -2.0])                  # a wrist far outside any clamp
    rot = torch.zeros(4, 3)
    for name, bound in (('h36m', 0.2), ('quickstart', 0.2), ('mpi', 0.35), ('surreal', 0.25)):
        cfg = cfg_for(name, **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1})
        torch.manual_seed(0)
        out = PoseModel(cfg).eval()(x, rot)
        assert abs(out.proj_2d.abs().max().item() - (bound + 1e-5)) < 1e-6, name
        assert out.recn_2d.abs().max().item() <= bound + 1e-7, name


def test_tmc_neighbour_mpi_flat_index_and_surreal_interval():
    from lib.data.sampling import tmc_neighbour
    seqlen = torch.tensor([6] * 6 + [4] * 4)
    index_in_seq = torch.tensor(list(range(6)) + list(range(4)))
    seq_start = torch.tensor([0] * 6 + [6] * 4)
    idx = torch.arange(10)
    d = cfg_for('mpi').DATA
    # the original MPI loader: forward when flat index + 1 < seqlen, else flat index - 1
    flat = [(i + 1 if i + 1 < int(seqlen[i]) else i - 1) % 10 for i in range(10)]
    assert tmc_neighbour(idx, index_in_seq, seqlen, seq_start, d, None, interval_always=True, flat_index=True).tolist() == flat
    assert flat[6] == 5                                   # the second sequence's first frame: previous sequence
    within = [int(seq_start[i] + (index_in_seq[i] + 1 if index_in_seq[i] + 1 < seqlen[i] else index_in_seq[i] - 1))
              for i in range(10)]
    assert tmc_neighbour(idx, index_in_seq, seqlen, seq_start, d, None, interval_always=True, flat_index=False).tolist() == within
    # Human3.6M: 5 rows, clamped into the sequence's block of rows
    h = tmc_neighbour(idx, index_in_seq, seqlen, seq_start, cfg_for('h36m').DATA, None, seq_start + seqlen)
    assert h.tolist() == [5, 0, 0, 0, 0, 0, 6, 6, 6, 6]


# --- PCK / AUC ------------------------------------------------------------------------

def reference_pck_auc(pred_m, gt_m):
    """The authors' definition, written out plainly: distances in mm over 300, thresholds
    k * 0.05 for k = 0..10, fraction strictly below, trapezoids over thresholds * 2."""
    d = np.sqrt(((pred_m - gt_m) ** 2).sum(-1)) * 1000.0 / 300.0
    ts = [k * 0.05 for k in range(11)]
    pcks = [float((d < t).sum()) / d.size for t in ts]
    area = sum((2 * ts[k + 1] - 2 * ts[k]) * (pcks[k] + pcks[k + 1]) / 2 for k in range(10))
    return area, pcks[10]


def rigid_align_reference(p, g):
    """Per-frame similarity alignment, reflections excluded (Umeyama)."""
    out = np.empty_like(p)
    for i in range(len(p)):
        mp, mg = p[i].mean(0), g[i].mean(0)
        P, G = p[i] - mp, g[i] - mg
        U, S, Vt = np.linalg.svd(P.T @ G)
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        R = U @ D @ Vt
        s = np.trace(np.diag(S) @ D) / (P ** 2).sum()
        out[i] = s * P @ R + mg
    return out


def test_pck_auc_against_a_plain_reference():
    from lib.core.pck import pck_metrics
    rng = np.random.RandomState(3)
    gt = rng.normal(0, 0.25, (300, 17, 3))
    pred = gt @ np.linalg.qr(rng.normal(size=(3, 3)))[0].T * 1.1 + rng.normal(0, 0.04, gt.shape)
    res = pck_metrics(pred, gt, np.repeat(['a', 'b', 'c'], 100))
    auc, p5 = reference_pck_auc(pred, gt)
    auc2, p52 = reference_pck_auc(rigid_align_reference(pred, gt), gt)
    assert res['auc'] == pytest.approx(auc, abs=1e-12) and res['pckh5'] == pytest.approx(p5, abs=1e-12)
    assert res['auc_p2'] == pytest.approx(auc2, abs=1e-9) and res['pckh5_p2'] == pytest.approx(p52, abs=1e-9)
    assert 0 < auc < auc2 < 1                                # alignment removes the rotation
    assert res['per_group']['b']['auc'] == pytest.approx(reference_pck_auc(pred[100:200], gt[100:200])[0])


def load_authors_utils(monkeypatch):
    """The authors' lib/utils/utils.py; scikit-learn (for its trapezoidal ``auc`` only) is
    replaced by the trapezoid rule when it is not installed."""
    if not os.path.isfile(ORIGINAL_UTILS):
        pytest.skip('the authors\' code is not at ../shared/original')
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        metrics = types.ModuleType('sklearn.metrics')
        metrics.auc = lambda x, y: float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
        monkeypatch.setitem(sys.modules, 'sklearn', types.ModuleType('sklearn'))
        monkeypatch.setitem(sys.modules, 'sklearn.metrics', metrics)
    spec = importlib.util.spec_from_file_location('authors_utils', ORIGINAL_UTILS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pck_auc_match_the_authors_calc_auc(monkeypatch):
    from lib.core.pck import pck_metrics
    utils = load_authors_utils(monkeypatch)
    rng = np.random.RandomState(5)
    gt = rng.normal(0, 0.25, (200, 17, 3))
    pred = gt * 0.9 + rng.normal(0, 0.05, gt.shape)
    res = pck_metrics(pred, gt)
    a, p = utils.calc_auc(pred.copy(), gt.copy())
    a2, p2 = utils.calc_auc_aligned(pred.copy(), gt.copy())
    assert (res['auc'], res['pckh5']) == pytest.approx((a, p), abs=1e-12)
    assert (res['auc_p2'], res['pckh5_p2']) == pytest.approx((a2, p2), abs=1e-9)


def test_model_best_on_auc_after_alignment_for_mpi():
    from lib.core.state import TrainState
    cfg = cfg_for('mpi', **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1})
    st = TrainState(cfg, torch.device('cpu'))
    r = lambda p2, a2: {'MPJPE': 100.0, 'P-MPJPE': p2, 'auc': 0.3, 'pckh5': 0.5, 'auc_p2': a2, 'pckh5_p2': 0.6}
    assert st.update_best(r(50.0, 0.40), 0)
    assert not st.update_best(r(40.0, 0.39), 1)          # better P-MPJPE, worse AUC: not the best for MPI
    assert st.update_best(r(60.0, 0.41), 2)
    assert st.best['P-MPJPE'] == 40.0 and st.best['auc_p2'] == 0.41 and st.best['epoch_auc_p2'] == 2
    assert st.checkpoint()['auc_p2'] == 0.41
    h = TrainState(cfg_for('h36m', **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1}),
                   torch.device('cpu'))
    assert h.update_best({'MPJPE': 1.0, 'P-MPJPE': 50.0}, 0) and not h.update_best({'MPJPE': 1.0, 'P-MPJPE': 51.0}, 1)


# --- tools/main.py end to end ----------------------------------------------------------

def test_mpi_train_one_epoch_eval_and_prediction_file(tmp_path, source=E2E_SOURCE):
    cfg = write_run(tmp_path, 'mpi', source)
    run_main(['--cfg', cfg])
    out = tmp_path / 'out' / 'mpi'
    r = run_main(['--cfg', cfg, '--eval', '--pretrain', out / 'model_best.pth.tar'])
    assert 'TS1/imageSequence' in r.stderr + r.stdout and 'PCK' in r.stderr + r.stdout
    out = out / 'eval_model_best'                     # --eval writes into its own folder
    res = json.loads((out / 'results.json').read_text())
    for k in ('auc', 'pckh5', 'auc_p2', 'pckh5_p2', 'per_sequence', 'MPJPE', 'P-MPJPE'):
        assert k in res
    assert set(res['per_sequence']) == {'TS1/imageSequence', 'TS2/imageSequence'}
    # independent: from predictions.npz (network units, mm), scaled by each frame's head-root length
    z = np.load(str(out / 'predictions.npz'))
    gt = z['gt'].astype(np.float64) / 1000.0
    pred = z['pred'].astype(np.float64) * np.linalg.norm(gt[:, 10] - gt[:, 0], axis=-1)[:, None, None]
    auc, p5 = reference_pck_auc(pred, gt)
    assert res['auc'] == pytest.approx(auc, abs=1e-5) and res['pckh5'] == pytest.approx(p5, abs=1e-5)
    auc2, p52 = reference_pck_auc(rigid_align_reference(pred, gt), gt)
    assert res['auc_p2'] == pytest.approx(auc2, abs=1e-5) and res['pckh5_p2'] == pytest.approx(p52, abs=1e-5)
    check_mpi_prediction_file(out / 'mpi_valid_pred_3d.h5', tmp_path / 'data' / 'mpi_valid_pred3.h5', res)


def check_mpi_prediction_file(path, source, res):
    """The keys, joint order and units the authors' main.py --eval wrote."""
    with h5py.File(str(path), 'r') as f, h5py.File(str(source), 'r') as s:
        assert list(f['imagename'][:]) == list(s['imagename'][:])
        np.testing.assert_array_equal(f['joint_2d_gt'][()], s['joint_2d_gt'][()][:, MPI2H36M])
        np.testing.assert_array_equal(f['joint_2d_pre'][()], s['joint_2d_pre'][()][:, MPI2H36M])
        g = s['joint_3d_gt'][()][:, MPI2H36M] / 1000.0
        np.testing.assert_allclose(f['joint_3d_gt'][()], g - g[:, 13:14], atol=1e-6)
        pre = f['joint_3d_pre'][()]
        assert pre.shape == g.shape and np.abs(pre[:, 13]).max() < 1e-6
        for k in ('auc', 'pckh5', 'auc_p2', 'pckh5_p2'):
            assert float(f[k][()]) == pytest.approx(res[k])
        assert f['scale_pre'].shape == f['scale_mid_pre'].shape == (len(g), 1)
        auc, _ = reference_pck_auc(pre.astype(np.float64), f['joint_3d_gt'][()].astype(np.float64))
        assert auc == pytest.approx(res['auc'], abs=1e-4)


def test_surreal_train_one_epoch_eval_and_prediction_file(tmp_path, source=E2E_SOURCE):
    cfg = write_run(tmp_path, 'surreal', source)
    run_main(['--cfg', cfg])
    out = tmp_path / 'out' / 'surreal'
    run_main(['--cfg', cfg, '--eval', '--pretrain', out / 'checkpoint.pth.tar'])
    out = out / 'eval_checkpoint'                     # --eval writes into its own folder
    res = json.loads((out / 'results.json').read_text())
    assert set(res['per_sequence']) == {'run1/05_01_c0001', 'run1/06_02_c0003'} and 'auc' not in res
    with h5py.File(str(out / 'surreal_valid_pred_3d.h5'), 'r') as f, \
            h5py.File(str(tmp_path / 'data' / 'surreal_valid_pred3.h5'), 'r') as s:
        for k in ('imagename', 'seqname', 'seqlen', 'original_joint_2d_gt', 'joint_2d_gt'):
            np.testing.assert_array_equal(f[k][()], s[k][()])          # SURREAL: no reordering
        g = s['joint_3d_gt'][()]
        np.testing.assert_allclose(f['joint_3d_gt'][()], g - g[:, 13:14], atol=1e-6)
        err = np.linalg.norm(f['joint_3d_pre'][()] - f['joint_3d_gt'][()], axis=-1).mean() * 1000
        assert err == pytest.approx(res['MPJPE'], rel=1e-4)


def test_h36m_style_eval_writes_the_prediction_file_with_synthesised_names(tiny_data):
    cfg, tmp = tiny_data
    run_main(['--cfg', cfg, '--opts', 'DATA.FORMAT', 'npz'])
    out = tmp / 'out' / 'tiny'
    run_main(['--cfg', cfg, '--eval', '--pretrain', out / 'checkpoint.pth.tar', '--opts', 'DATA.FORMAT', 'npz'])
    out = out / 'eval_checkpoint'                     # --eval writes into its own folder
    z = np.load(str(out / 'predictions.npz'))
    with h5py.File(str(out / 'synth_valid_pred_3d.h5'), 'r') as f:
        names = [n.decode() for n in f['imagename'][:]]
        assert names[0] == '%s/%s/%d/%d' % (z['subject'][0], z['action'][0], z['camera'][0], z['frame'][0])
        np.testing.assert_allclose(f['joint_2d_gt'][()], z['pose_2d_px'][:, V3D_TO_OURS], atol=1e-3)
        np.testing.assert_allclose(f['joint_3d_gt'][()] * 1000, z['gt'][:, V3D_TO_OURS], atol=1e-2)
        assert 'auc' not in f and f['seqlen'][0] == (f['seqname'][()] == f['seqname'][0]).sum()
    assert not os.path.exists(os.path.join(str(tmp), 'data', 'synth_valid_pred_3d.h5'))


# --- bad input --------------------------------------------------------------------------

def _edit_h5(name, edit):
    def build(tmp):
        data = lf.write_dataset(str(tmp / 'data'), name)
        with h5py.File(os.path.join(data, '%s_valid_pred3.h5' % name), 'a') as f:
            edit(f)
        return name
    return build


def _replace(key, fn):
    def edit(f):
        a = fn(np.array(f[key]))
        del f[key]
        f[key] = a
    return edit


def _set_nan(f):
    a = np.array(f['joint_3d_gt'])
    a[3, 5] = np.nan
    f['joint_3d_gt'][...] = a


BAD = {
    'mpi_16_joints': (_edit_h5('mpi', _replace('joint_2d_gt', lambda a: a[:, :16])),
                      [], ['joint_2d_gt has shape', '17']),
    'mpi_missing_3d': (_edit_h5('mpi', lambda f: f.__delitem__('joint_3d_gt')), [], ["'joint_3d_gt'"]),
    'mpi_nan_not_dropped': (_edit_h5('mpi', _set_nan), ['DATA.DROP_NONFINITE', 'false'],
                            ['NaN or inf', 'DATA.DROP_NONFINITE']),
    'surreal_missing_2d': (_edit_h5('surreal', lambda f: f.__delitem__('original_joint_2d_gt')), [],
                           ["'original_joint_2d_gt'"]),
    'surreal_detected_2d': (_edit_h5('surreal', lambda f: None), ['USE_GT', 'false'], ['USE_GT']),
    'mpi_as_npz': (_edit_h5('mpi', lambda f: None), ['DATA.FORMAT', 'npz'], ['DATA.FORMAT']),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_mpi_surreal_input_is_one_line_exit_2(case, tmp_path, capsys):
    build, opts, needles = BAD[case]
    name = build(tmp_path)
    cfg = tmp_path / 'c.yaml'
    cfg.write_text(lf.YAML.format(data=tmp_path / 'data', out=tmp_path / 'out', log=tmp_path / 'log', dataset=name))
    rc, _, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert_one_error_line(rc, err, *needles)
    assert_no_outputs(tmp_path / 'out')


def test_nan_frames_are_dropped_with_their_rows(tmp_path):
    _edit_h5('mpi', _set_nan)(tmp_path)
    test = load_splits(cfg_for('mpi'), str(tmp_path / 'data'), which=('test',))['test']
    assert test.num_dropped == 1 and 3 not in test.extra['row'] and len(test.extra['imagename']) == len(test)


def test_prepare_data_layout_converts_an_archive(tmp_path):
    """tools/prepare_data.py layout: the archive's clips, rigidly placed before a 2048x2048
    pinhole (f = 1500 px); 2D = that camera's projection of the 3D."""
    import synth
    world, _ = synth.write_npz(str(tmp_path / 'npz'))
    tool = os.path.join(REPO, 'tools', 'prepare_data.py')
    r = subprocess.run([sys.executable, tool, 'layout', '--src', tmp_path / 'npz' / 'data_3d_synth.npz',
                        '--dataset', 'mpi', '--out', tmp_path / 'h5'], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    test = load_splits(cfg_for('mpi'), str(tmp_path / 'h5'), which=('test',))['test']
    assert sorted(set(test.extra['seqname'])) == ['S11/Posing', 'S11/Walking 1', 'S9/Posing', 'S9/Walking 1']
    X = world['S9']['Posing'][:, V3D_TO_OURS]
    Y = test.pose_3d[test.extra['seqname'] == 'S9/Posing']
    bones = lambda P: np.linalg.norm(P[:, 1:] - P[:, :1], axis=-1)
    np.testing.assert_allclose(bones(Y), bones(X), atol=1e-5)          # a rigid placement
    uv = test.pose_2d_px
    np.testing.assert_allclose(uv, test.pose_3d[..., :2] / test.pose_3d[..., 2:] * 1500 + 1024, atol=1e-2)
