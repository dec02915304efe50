"""Evaluation: MPJPE and its variants (P-, N-, oracle-scale, batch means), the fast metrics
against a plain reference, PCK / AUC against a plain reference and the authors' ``calc_auc``,
the best-model rule for MPI, and the prediction files ``tools/main.py --eval`` writes.

The numbers are computed here again from the definitions, not through the project's code.
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
from conftest import REPO
from helpers import (ENV, HAVE_BVH, MAIN, MPI2H36M, NPZ, V3D_TO_OURS, cfg_for, rand_rot, rigid_align_reference,
                     run_inproc, write_cfg)
from lib.eval import metrics as M
from lib.eval.evaluate import compute_metrics
from lib.data import skeleton as sk


# --- metrics --------------------------------------------------------------------

def test_p_mpjpe_of_similarity_copy_is_zero():
    rng = np.random.RandomState(0)
    gt = rng.normal(size=(5, 17, 3))
    pred = np.stack([2.5 * g @ rand_rot(rng).T + rng.normal(size=3) for g in gt])
    assert np.allclose(M.p_mpjpe(pred, gt), 0, atol=1e-9)
    assert M.p_mpjpe(gt[:, :, ::-1] * np.array([1, 1, 1]), gt).min() >= 0


def test_p_mpjpe_refuses_reflection():
    rng = np.random.RandomState(1)
    gt = rng.normal(size=(3, 17, 3))
    mirrored = gt * np.array([-1, 1, 1])
    assert (M.p_mpjpe(mirrored, gt) > 1e-3).all()


def test_mpjpe_head_root_factor_by_hand():
    from lib.eval.evaluate import compute_metrics
    gt = np.zeros((1, 17, 3)); gt[0, sk.HEAD] = [0, -0.5, 0]; gt[0, 0] = [0.3, 0, 0]
    pred = np.zeros((1, 17, 3)); pred[0, sk.HEAD] = [0, -1.2, 0]; pred[0, 0] = [0.6, 0, 0]
    res, err = compute_metrics(pred, gt + 5.0, np.array(['a']))
    # prediction x Lf (0.5): head at -0.6 (0.1 m off), joint 0 at 0.3 (exact); 15 joints exact
    assert res['MPJPE'] == pytest.approx(100.0 / 17, rel=1e-6)
    assert res['N-MPJPE'] < res['MPJPE']
    assert res['P-MPJPE'] == pytest.approx(M.p_mpjpe(pred * 0.5, gt)[0] * 1000, rel=1e-6)


def test_n_mpjpe_and_oracle_of_scaled_copy():
    rng = np.random.RandomState(2)
    gt = rng.normal(size=(4, 17, 3))
    assert np.allclose(M.n_mpjpe(gt * 3.0, gt), 0, atol=1e-12)
    assert np.allclose(M.oracle_scale_mpjpe(gt * 0.2, gt), 0, atol=1e-12)


def test_batch_means_is_mean_of_batch_means():
    err = np.array([1.0] * 4 + [3.0])
    assert M.batch_means(err, 4) == pytest.approx(2.0)
    assert err.mean() == pytest.approx(1.4)


ORIGINAL_UTILS = os.path.normpath(os.path.join(REPO, '..', 'shared', 'original', 'lib', 'utils', 'utils.py'))
# end to end: the real motion capture when it is there, else the synthetic fallback
E2E_SOURCE = 'bvh' if HAVE_BVH else 'synthetic'


def write_run(tmp, dataset, source='synthetic', yaml_extra=''):
    data = lf.write_dataset(str(tmp / 'data'), dataset, source)
    cfg = tmp / ('%s.yaml' % dataset)
    cfg.write_text(lf.YAML.format(data=data, out=tmp / 'out', log=tmp / 'log', dataset=dataset) + yaml_extra)
    return cfg


def main_process_ok(args):
    r = subprocess.run([sys.executable, MAIN, '--gpu', '-1'] + [str(a) for a in args],
                       capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


# --- PCK / AUC ------------------------------------------------------------------------

def reference_pck_auc(pred_m, gt_m):
    """The authors' definition, written out plainly: distances in mm over 300, thresholds
    k * 0.05 for k = 0..10, fraction strictly below, trapezoids over thresholds * 2."""
    d = np.sqrt(((pred_m - gt_m) ** 2).sum(-1)) * 1000.0 / 300.0
    ts = [k * 0.05 for k in range(11)]
    pcks = [float((d < t).sum()) / d.size for t in ts]
    area = sum((2 * ts[k + 1] - 2 * ts[k]) * (pcks[k] + pcks[k + 1]) / 2 for k in range(10))
    return area, pcks[10]


def test_pck_auc_against_a_plain_reference():
    from lib.eval.pck import pck_metrics
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
    from lib.eval.pck import pck_metrics
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
    from lib.train.state import TrainState
    cfg = cfg_for('mpi', **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1})
    st = TrainState(cfg, torch.device('cpu'))
    r = lambda p2, a2: {'MPJPE': 100.0, 'P-MPJPE': p2, 'auc': 0.3, 'pckh5': 0.5, 'auc_p2': a2, 'pckh5_p2': 0.6}
    assert st.update_best(r(50.0, 0.40), 0)
    assert not st.update_best(r(40.0, 0.39), 1)          # better P-MPJPE, worse AUC: not the best for MPI
    assert st.update_best(r(60.0, 0.41), 2)
    assert st.best['P-MPJPE'] == 40.0 and st.best['auc_p2'] == 0.41 and st.best['epoch_auc_p2'] == 2
    assert st.checkpoint()['auc_p2'] == 0.41
    assert st.describe_best() == ('model_best.pth.tar: epoch 3 (AUC after alignment 0.4100); '
                                  'lowest of any epoch: P-MPJPE 40.00, MPJPE 100.00')
    h = TrainState(cfg_for('h36m', **{'NETWORK.NUM_CHANNELS': 16, 'NETWORK.LIFTER_RES_BLOCKS': 1}),
                   torch.device('cpu'))
    assert h.update_best({'MPJPE': 1.0, 'P-MPJPE': 50.0}, 0) and not h.update_best({'MPJPE': 1.0, 'P-MPJPE': 51.0}, 1)


def test_model_best_is_the_best_epoch(data_dir, tmp_path, capsys):
    """model_best.pth.tar holds the epoch with the lowest P-MPJPE (COMPAT.BEST_BY_BATCHMEAN
    false: the per-frame mean the history lists): its train state says that epoch, and
    evaluating it gives that epoch's P-MPJPE.  (With these settings the first epoch is the
    best and the last the worst, so 'the last checkpoint' would not pass.)"""
    import torch
    cfg = write_cfg(tmp_path, data_dir)
    opts = NPZ + ['TRAIN.NUM_EPOCHS', '4', 'TRAIN.MAX_STEPS_PER_EPOCH', '3', 'EVAL.STRIDE', '8',
                  'COMPAT.BEST_BY_BATCHMEAN', 'false']
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert rc == 0, err
    run = tmp_path / 'out' / 'tiny'
    history = [h['P-MPJPE'] for h in json.loads((run / 'results.json').read_text())['history']]
    best = int(np.argmin(history))
    assert len(history) == 4 and history[-1] > history[best] * 1.05
    mpjpe = json.loads((run / 'results.json').read_text())['history'][best]['MPJPE']
    assert 'model_best.pth.tar: epoch %d (P-MPJPE %.2f, MPJPE %.2f)' % (best + 1, history[best], mpjpe) in err + out
    ck = torch.load(run / 'model_best.pth.tar', weights_only=True)
    assert ck['train_state']['epoch'] == best + 1 and ck['p2_mpjpe'] == pytest.approx(history[best])
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', run / 'model_best.pth.tar',
                               '--opts'] + opts, capsys)
    assert rc == 0, err
    res = json.loads((run / 'eval_model_best' / 'results.json').read_text())
    assert res['P-MPJPE'] == pytest.approx(history[best], rel=1e-5)


# --- tools/main.py end to end ----------------------------------------------------------

def test_mpi_train_one_epoch_eval_and_prediction_file(tmp_path, source=E2E_SOURCE):
    cfg = write_run(tmp_path, 'mpi', source)
    main_process_ok(['--cfg', cfg])
    out = tmp_path / 'out' / 'mpi'
    r = main_process_ok(['--cfg', cfg, '--eval', '--pretrain', out / 'model_best.pth.tar'])
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
    main_process_ok(['--cfg', cfg])
    out = tmp_path / 'out' / 'surreal'
    main_process_ok(['--cfg', cfg, '--eval', '--pretrain', out / 'checkpoint.pth.tar'])
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
    main_process_ok(['--cfg', cfg, '--opts', 'DATA.FORMAT', 'npz'])
    out = tmp / 'out' / 'tiny'
    main_process_ok(['--cfg', cfg, '--eval', '--pretrain', out / 'checkpoint.pth.tar', '--opts', 'DATA.FORMAT', 'npz'])
    out = out / 'eval_checkpoint'                     # --eval writes into its own folder
    z = np.load(str(out / 'predictions.npz'))
    with h5py.File(str(out / 'synth_valid_pred_3d.h5'), 'r') as f:
        names = [n.decode() for n in f['imagename'][:]]
        assert names[0] == '%s/%s/%d/%d' % (z['subject'][0], z['action'][0], z['camera'][0], z['frame'][0])
        np.testing.assert_allclose(f['joint_2d_gt'][()], z['pose_2d_px'][:, V3D_TO_OURS], atol=1e-3)
        np.testing.assert_allclose(f['joint_3d_gt'][()] * 1000, z['gt'][:, V3D_TO_OURS], atol=1e-2)
        assert 'auc' not in f and f['seqlen'][0] == (f['seqname'][()] == f['seqname'][0]).sum()
    assert not os.path.exists(os.path.join(str(tmp), 'data', 'synth_valid_pred_3d.h5'))


# --- evaluation speed: the fast metrics give the reference numbers -------------

def _ref_procrustes(pred, gt):
    """The straightforward implementation the fast one replaced (np.linalg.norm, plain matmul)."""
    mu_g, mu_p = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    G0, P0 = gt - mu_g, pred - mu_p
    nG = np.maximum(np.linalg.norm(G0, axis=(1, 2), keepdims=True), 1e-12)
    nP = np.maximum(np.linalg.norm(P0, axis=(1, 2), keepdims=True), 1e-12)
    G0, P0 = G0 / nG, P0 / nP
    U, S, Vt = np.linalg.svd(np.matmul(G0.transpose(0, 2, 1), P0))
    V = Vt.transpose(0, 2, 1)
    flip = np.linalg.det(np.matmul(V, U.transpose(0, 2, 1))) < 0
    V[flip, :, -1] *= -1
    S[flip, -1] *= -1
    R = np.matmul(V, U.transpose(0, 2, 1))
    a = S.sum(1)[:, None, None] * nG / nP
    return a * np.matmul(pred, R) + (mu_g - a * np.matmul(mu_p, R))


def test_fast_metrics_equal_reference_within_1e6_mm():
    rng = np.random.RandomState(1)
    gt = rng.normal(0, 0.3, (5000, 17, 3))
    gt -= gt[:, 13:14]
    pred = 0.8 * gt + rng.normal(0, 0.05, gt.shape)
    pred[:7] = -pred[:7]                              # reflections: the no-flip branch is used
    mm = 1000.0
    ref = {'MPJPE': np.linalg.norm(pred - gt, axis=-1).mean(-1),
           'P-MPJPE': np.linalg.norm(_ref_procrustes(pred, gt) - gt, axis=-1).mean(-1)}
    s = (pred * gt).sum((1, 2)) / (pred * pred).sum((1, 2))
    ref['N-MPJPE'] = np.linalg.norm(pred * s[:, None, None] - gt, axis=-1).mean(-1)
    s = np.linalg.norm(gt, axis=(1, 2)) / np.linalg.norm(pred, axis=(1, 2))
    ref['oracle'] = np.linalg.norm(pred * s[:, None, None] - gt, axis=-1).mean(-1)
    got = {'MPJPE': M.mpjpe(pred, gt), 'P-MPJPE': M.p_mpjpe(pred, gt), 'N-MPJPE': M.n_mpjpe(pred, gt),
           'oracle': M.oracle_scale_mpjpe(pred, gt)}
    for k in ref:
        assert np.abs(got[k] - ref[k]).max() * mm < 1e-6, k
    assert ref['P-MPJPE'].mean() > 1e-3               # not a trivial comparison

    # the per-action table (bincount) against a per-action loop; chunking changes nothing
    groups = np.array(['Walk', 'Sit', 'Eat'])[rng.randint(0, 3, len(gt))]
    res, err = compute_metrics(pred / 0.5, gt, groups, chunk=777)
    res1, err1 = compute_metrics(pred / 0.5, gt, groups, chunk=len(gt))
    assert res == res1 and all(np.array_equal(err[k], err1[k]) for k in err)
    for a in ('Walk', 'Sit', 'Eat'):
        m = groups == a
        for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE'):
            assert abs(res['per_action'][a][k] - err[k][m].mean()) < 1e-6
        assert res['per_action'][a]['num_poses'] == m.sum()
