"""tools/main.py end to end: training and evaluation, a new user's first runs (warm start,
evaluation folders, logs), a quiet console."""
import json
import math
import os

import numpy as np
import pytest
import torch

import synth
from helpers import (ENV, NPZ, REPO, assert_one_error_line, main_process, rigid_align_reference, run_inproc,
                     run_repo_script, write_cfg)
from lib.data.camera import CAMERA_IDS


def test_nan_and_inf_training_frames_are_dropped_and_counted(tmp_path, capsys):
    d = tmp_path / 'nan'
    synth.write_npz(str(d), nan_frames=4)                  # S1 (train): 4 frames with NaN
    from lib.utils.safe_io import load_npz
    a = load_npz(str(d / 'data_2d_synth_gt.npz'))
    a['positions_2d']['S9']['Posing'][2][10, 3, 0] = np.inf  # S9 (test): 1 frame with inf
    np.savez_compressed(str(d / 'data_2d_synth_gt.npz'), **a)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, d), '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.MAX_STEPS_PER_EPOCH', '2', 'EVAL.STRIDE', '8'], capsys)
    assert rc == 0, err
    assert 'dropped 4 of' in out and 'dropped 1 of' in out and 'NaN or inf' in out
    assert '4 non-finite dropped' in out and '1 non-finite dropped' in out
    res = json.load(open(tmp_path / 'out' / 'tiny' / 'results.json'))
    assert np.isfinite(res['MPJPE'])


# --- training and evaluation end to end (tools/main.py in a subprocess) -----------

def check_results_against_predictions(out_dir):
    res = json.load(open(os.path.join(out_dir, 'results.json')))
    p = np.load(os.path.join(out_dir, 'predictions.npz'))
    pred, gt = p['pred'].astype(np.float64), p['gt'].astype(np.float64)
    assert pred.shape == gt.shape and pred.shape[1:] == (17, 3) and len(p['subject']) == len(pred)
    assert np.allclose(gt[:, 0], 0) and np.allclose(pred[:, 0], 0, atol=1e-5)    # v3d root 0
    Lf = np.linalg.norm(gt[:, 10], axis=-1) / 1000                               # v3d head 10, metres
    err = np.sqrt((((pred * Lf[:, None, None]) * 1000 - gt) ** 2).sum(-1)).mean(-1)
    assert res['MPJPE'] == pytest.approx(err.mean(), rel=1e-4)
    aligned = rigid_align_reference(pred * Lf[:, None, None] * 1000, gt)        # numpy, frame by frame
    assert res['P-MPJPE'] == pytest.approx(np.linalg.norm(aligned - gt, axis=-1).mean(), rel=1e-4)
    assert res['num_poses'] == len(pred)
    return res


@pytest.mark.parametrize('fmt', ['npz', 'h5'])
def test_train_and_eval_end_to_end(tiny_data, fmt):
    cfg, tmp = tiny_data
    r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--opts', 'DATA.FORMAT', fmt])
    assert r.returncode == 0, r.stderr
    assert 'all frames' in r.stdout
    out = tmp / 'out' / 'tiny'
    for f in ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'predictions.npz'):
        assert (out / f).exists(), f
    res = check_results_against_predictions(str(out))
    r2 = main_process(['--cfg', str(cfg), '--gpu', '-1', '--eval', '--pretrain', str(out / 'checkpoint.pth.tar'),
                   '--opts', 'DATA.FORMAT', fmt])
    assert r2.returncode == 0, r2.stderr
    ev = out / 'eval_checkpoint'                      # the evaluation's own folder
    res2 = check_results_against_predictions(str(ev))
    assert res2['MPJPE'] == pytest.approx(res['MPJPE'], rel=1e-5) and res2['precision'] == 'fp32'
    assert 'history' in json.load(open(out / 'results.json'))      # the training's results survive
    if fmt == 'npz':                                  # opt-in bf16 evaluation: labelled, close
        r3 = main_process(['--cfg', str(cfg), '--gpu', '-1', '--eval', '--pretrain',
                       str(out / 'checkpoint.pth.tar'), '--force', '--opts', 'DATA.FORMAT', fmt,
                       'EVAL.PRECISION', 'bf16'])        # --force: replaces the fp32 evaluation
        assert r3.returncode == 0, r3.stderr
        assert 'EVAL.PRECISION bf16' in r3.stdout
        res3 = check_results_against_predictions(str(ev))
        assert res3['precision'] == 'bf16' and res3['MPJPE'] != res2['MPJPE']
        assert res3['MPJPE'] == pytest.approx(res2['MPJPE'], rel=1e-2)


def synth_test_poses():
    """Poses in the test split of ``synth.write_npz`` (1976): subjects S9 and S11, two clips
    each (120 and 127 frames), every frame seen by the 4 cameras."""
    world = synth.make_world()
    return len(CAMERA_IDS) * sum(len(X) for s in ('S9', 'S11') for X in world[s].values())


def test_runs_from_tools_folder_with_relative_paths(tiny_data):
    cfg, tmp = tiny_data
    r = main_process(['--cfg', os.path.relpath(str(cfg), os.path.join(REPO, 'tools')), '--gpu', '-1',
                  '--opts', 'DATA.FORMAT', 'npz', 'EVAL.STRIDE', '4'], cwd=os.path.join(REPO, 'tools'))
    assert r.returncode == 0, r.stderr
    res = json.load(open(tmp / 'out' / 'tiny' / 'results.json'))
    assert res['eval_stride'] == 4 and res['num_poses'] == math.ceil(synth_test_poses() / 4)


@pytest.mark.parametrize('cfg_name,warm', [('h36m_gt_scale.yaml', False), ('pre_tmc_klbone.yaml', False),
                                           ('ablation_klbone.yaml', False), ('ablation_tmc.yaml', False),
                                           ('h36m_gt_scale.yaml', True)])
def test_scale_configs_short_run(tiny_data, cfg_name, warm):
    """The method's configs train from scratch with no checkpoint present (as the authors'
    files say), and also warm-started from an adv checkpoint given with --pretrain."""
    cfg, tmp = tiny_data
    extra = []
    if warm:
        r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--model_dir', str(tmp / 'adv'),
                      '--opts', 'DATA.FORMAT', 'h5'])
        assert r.returncode == 0, r.stderr
        extra = ['--pretrain', str(tmp / 'adv' / 'tiny' / 'checkpoint.pth.tar')]
    r = main_process(['--cfg', os.path.join(REPO, 'cfg', cfg_name), '--gpu', '-1', *extra,
                  '--data_dir', str(tmp / 'data'), '--model_dir', str(tmp / 'best'), '--log_dir', str(tmp / 'log'),
                  '--opts', 'DATA.DATASET_NAME', 'synth', 'DATA.FORMAT', 'h5', 'TRAIN.NUM_EPOCHS', '1',
                  'BATCH_SIZE', '64', 'NETWORK.NUM_CHANNELS', '32', 'NETWORK.LIFTER_RES_BLOCKS', '2'])
    assert r.returncode == 0, r.stderr
    if warm:
        assert 'LIFTER_RES_BLOCKS = 1' in r.stdout          # read off the warm-start checkpoint
    else:
        assert 'pretrain' not in r.stdout.lower()
    stem = cfg_name[:-5]
    res = check_results_against_predictions(str(tmp / 'best' / stem))
    ck = torch.load(tmp / 'best' / stem / 'checkpoint.pth.tar', weights_only=True)
    has_scaler = any(k.startswith('scaler.') for k in ck['pose_model_state_dict'])
    assert has_scaler == (cfg_name != 'ablation_tmc.yaml')
    assert ('scale_mean' in res) == has_scaler


# --- a new user's first runs: warm start, evaluation folders, logs ------------------

def epoch_line(stdout, epoch):
    """(MPJPE, P-MPJPE) of 'epoch N/M [...]' in a training printout."""
    for line in stdout.splitlines():
        if line.startswith('epoch %d/' % epoch):
            w = line.split()
            return float(w[w.index('MPJPE') + 1]), float(w[w.index('P-MPJPE') + 1])
    raise AssertionError('no epoch %d line in %s' % (epoch, stdout[-2000:]))


def all_frames(stdout):
    line = [l for l in stdout.splitlines() if l.startswith('all frames')][-1]
    return float(line.split()[2]), float(line.split()[3])


@pytest.fixture(scope='module')
def warm_run(tmp_path_factory):
    """A 2-epoch run of a tiny config with a scaler and one adv warm-start epoch (scaler
    bypassed), keeping the epoch-1 checkpoint aside; returns (cfg, tmp, stdout, ck1, ck2)."""
    import synth
    tmp = tmp_path_factory.mktemp('warm')
    synth.write_npz(str(tmp / 'data'))
    cfg = tmp / 'tiny.yaml'
    cfg.write_text(synth.TINY_YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log').replace(
        'NUM_EPOCHS: 1', 'NUM_EPOCHS: 1\n  USE_SCALER: true\n  WARM_START_EPOCHS: 1') + 'EVAL:\n  STRIDE: 3\n')
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz')
    assert r.returncode == 0, r.stderr
    out = tmp / 'out' / 'tiny'
    ck1 = tmp / 'epoch1.pth.tar'
    os.replace(out / 'checkpoint.pth.tar', ck1)
    r2 = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--resume', ck1,
             '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.NUM_EPOCHS', '2')
    assert r2.returncode == 0, r2.stderr
    return cfg, tmp, r.stdout + r2.stdout, ck1, out / 'checkpoint.pth.tar'


def test_warm_start_checkpoint_evaluates_as_training_printed(warm_run):
    """Both checkpoints evaluate to what training printed for them; the evaluations go into
    their own folders and leave the training's outputs as they were."""
    import torch
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    assert torch.load(ck1, weights_only=True)['scaler_bypassed'] is True
    assert torch.load(ck2, weights_only=True)['scaler_bypassed'] is False
    before = {f: (out / f).read_bytes() for f in ('results.json', 'predictions.npz', 'model_best.pth.tar')}
    for epoch, ck in ((1, ck1), (2, ck2)):
        r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck,
                '--opts', 'DATA.FORMAT', 'npz')
        assert r.returncode == 0, r.stderr
        assert all_frames(r.stdout) == pytest.approx(epoch_line(stdout, epoch), abs=0.011)
        assert ('adv warm start' in r.stdout) == (epoch == 1)
    assert {f: (out / f).read_bytes() for f in before} == before and 'history' in json.loads(before['results.json'])
    ev = out / 'eval_checkpoint'
    assert (ev / 'results.json').exists() and (ev / 'predictions.npz').exists() and str(ev) in r.stdout
    assert json.load(open(ev / 'results.json'))['MPJPE'] == pytest.approx(epoch_line(stdout, 2)[0], abs=0.006)
    # an explicit --opts wins over the checkpoint, with a note
    # (--force: these replace the evaluations above, in the same eval_<checkpoint> folders)
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck1, '--force',
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'true')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER true' in r.stdout
    assert all_frames(r.stdout) != pytest.approx(epoch_line(stdout, 1), abs=0.011)
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck2, '--force',
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'false')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER false' in r.stdout


def test_inference_of_a_warm_start_checkpoint_bypasses_its_scaler(warm_run):
    """scripts/inference.py and tools/eval_lsp.py load through lib.eval.load_model: the warm-start
    checkpoint lifts as training's evaluation did (s = 1), the later one with its scaler."""
    import torch
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.lifting import lift_in_batches
    from lib.eval.load_model import load_pose_model
    cfg, tmp, stdout, ck1, ck2 = warm_run
    x = np.random.RandomState(0).normal(0, 0.05, (5, 17, 2)).astype(np.float32)
    m1 = load_pose_model(update_config(get_default(), str(cfg)), str(ck1), log=lambda m: None)
    assert m1.scaler is None and lift_in_batches(m1, x)[1] is None
    full = torch.load(ck1, weights_only=True)['pose_model_state_dict']
    c = update_config(get_default(), str(cfg))
    c.TRAIN.USE_SCALER = True
    from lib.data.formats import pose_model_args
    from lib.models.pose_model import get_pose_model
    ref = get_pose_model(c, **pose_model_args(c))
    ref.load_state_dict(full)
    want, _ = lift_in_batches(ref, torch.as_tensor(x), use_scaler=False)
    assert np.allclose(lift_in_batches(m1, x)[0], want, atol=1e-5)
    m2 = load_pose_model(update_config(get_default(), str(cfg)), str(ck2), log=lambda m: None)
    assert m2.scaler is not None and lift_in_batches(m2, x)[1] is not None
    # the real script, on a pose file
    d = tmp / 'in'
    d.mkdir()
    np.save(d / 'p.npy', np.random.RandomState(1).uniform(100, 900, (17, 2)).astype(np.float32))
    r = run_repo_script('scripts/inference.py', '--indir', d, '--outdir', tmp / 'o', '--cfg', cfg, '--pretrain', ck1,
            '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'adv warm start' in r.stderr
    assert json.load(open(tmp / 'o' / 'p_3d.json'))['scale'] is None


def test_failed_run_leaves_nothing_and_a_second_run_needs_force(warm_run):
    """A run refused on its input (missing data, a bad key) leaves no log or folder behind; a run
    over a finished one is refused without --force (the earlier results unchanged) and, with it,
    warns that it replaces them."""
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    before = {f: (out / f).read_bytes() for f in os.listdir(out) if os.path.isfile(out / f)}
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--threads', '3', '--force',
                        '--opts', 'DATA.DATASET_NAME', 'none')
    assert r.returncode == 2
    # missing data: one line naming where each layout comes from
    assert len(r.stderr.strip().splitlines()) == 1
    assert 'sites.google.com/view/ambiguity-aware-hpe' in r.stderr and 'prepare_data_h36m.py' in r.stderr
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCS', '1')
    assert r.returncode == 2 and r.stdout == ''
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz',
                        'TRAIN.NUM_EPOCHS', '0')               # a run over the finished one
    assert r.returncode == 2 and 'holds a finished run' in r.stderr and '--force' in r.stderr and r.stdout == ''
    assert {f: (out / f).read_bytes() for f in os.listdir(out) if os.path.isfile(out / f)} == before
    env = {k: v for k, v in ENV.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--force', '--opts', 'DATA.FORMAT', 'npz',
                        'TRAIN.NUM_EPOCHS', '0', env=env)
    assert r.returncode == 0 and 'holds an earlier run' in r.stdout
    assert 'threads: 1 (default' in r.stdout
    logs = [f for f in os.listdir(out) if f.endswith('.log') and f not in before]
    assert len(logs) == 1 and 'threads: 1 (default' in (out / logs[0]).read_text()   # the held lines reach it


# --- a quiet console, and the main job without the photo-and-video packages ---------------

def test_shipped_config_says_nothing_of_its_unused_keys_unless_verbose(tmp_path):
    """The authors' YAMLs set DATA.USE_RANDOM_DIFF and TRAIN.LOSS_TYPE, which their code never reads:
    no console line for them by default; with --verbose, one each; a key the user adds still warns."""
    args = ['tools/main.py', '--cfg', os.path.join('cfg', 'h36m_gt_adv.yaml'), '--gpu', '-1',
            '--model_dir', tmp_path / 'out', '--opts', 'DATA_DIR', tmp_path / 'none']
    r = run_repo_script(*args)
    assert_one_error_line(r.returncode, r.stderr, 'data folder not found')
    assert 'unused' not in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_repo_script(*(args[:1] + ['--verbose'] + args[1:]))
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if 'accepted but unused' in ln]
    assert len(said) == 2 and 'DATA.USE_RANDOM_DIFF' in said[0] and 'TRAIN.LOSS_TYPE' in said[1], said
    r = run_repo_script(*(args + ['TRAIN.WD', '0.1']))
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if 'accepted but unused' in ln]
    assert said == ['warning: config key TRAIN.WD is accepted but unused (as in the original)'], said
