"""Evaluation (lib/eval/evaluate.py, prediction_file.py): the best-model rule, and the
prediction files ``tools/main.py --eval`` writes for MPI-INF-3DHP, SURREAL and H36M-style data."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

import layout_fixtures as lf
from helpers import (ENV, HAVE_BVH, MAIN, MPI2H36M, NPZ, REPO, V3D_TO_OURS, cfg_for, reference_pck_auc,
                     rigid_align_reference, run_inproc, write_cfg)


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
