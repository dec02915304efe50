"""Training runs (lib/train/run.py) in subprocesses: determinism, interrupted training and
resume, non-finite losses, the scheduler's order.

Interrupted training: SIGKILL mid-epoch then ``--resume``; SIGTERM and SIGINT (exit 143 /
130, checkpoint saved, message says how to resume); resumed runs must reach exactly the
numbers of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from helpers import ENV, MAIN, NPZ, assert_one_error_line, make_state_checkpoint, run_inproc, tiny_cfg_obj, write_cfg
from lib.train import step as T

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.parametrize('first', [True, False])
def test_scheduler_steps_before_or_after_each_epoch(first, data_dir, tmp_path, capsys, monkeypatch):
    """COMPAT.SCHEDULER_STEP_FIRST: the original steps StepLR before each epoch, so epoch 0
    already trains at POSE_LR * gamma; after each epoch, epoch 0 trains at POSE_LR."""
    lrs, real = [], T.train_epoch

    def recording(state, *a, **k):
        lrs.append(state.opt_g.param_groups[0]['lr'])
        return real(state, *a, **k)
    monkeypatch.setattr(T, 'train_epoch', recording)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.NUM_EPOCHS', '3', 'TRAIN.MAX_STEPS_PER_EPOCH', '1', 'EVAL.STRIDE', '16',
                               'TRAIN.POSE_LR', '0.001', 'TRAIN.SCHEDULER_GAMMA', '0.5',
                               'COMPAT.SCHEDULER_STEP_FIRST', str(first).lower()], capsys)
    assert rc == 0, err
    want = [0.0005, 0.00025, 0.000125] if first else [0.001, 0.0005, 0.00025]
    assert lrs == pytest.approx(want, rel=1e-9)


# --- training runs in subprocesses: kill, signals, resume, determinism ----------------

RUN_OPTS = NPZ + ['TRAIN.NUM_EPOCHS', '4', 'BATCH_SIZE', '32', 'TRAIN.CHECKPOINT_EVERY', '4']


# the alternating scheme with a scaler, TMC, EMA, per-epoch rotations and a warm start:
# every piece of state that resuming must restore (MAINNET_CRITICS 2: frozen parameters
# keep Adam momentum, COMPAT.FROZEN_KEEP_MOMENTUM)
FULL_OPTS = RUN_OPTS + ['TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_SCALER', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                        'TRAIN.EMA_DECAY', '0.9', 'DATA.REDRAW_ROT_EVERY_EPOCH', 'true',
                        'TRAIN.WARM_START_EPOCHS', '1', 'TRAIN.MAINNET_CRITICS', '2']


METRICS = ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale', 'MPJPE_batchmean', 'P-MPJPE_batchmean',
           'best_P-MPJPE_during_training', 'best_MPJPE_during_training', 'skipped_steps', 'num_poses')


def train_cmd(cfg, opts, *flags):
    return [sys.executable, MAIN, '--cfg', str(cfg), '--gpu', '-1', '--quiet'] + list(flags) + \
        ['--opts'] + [str(o) for o in opts]


def train_run(tmp, data, name, opts, *flags):
    cfg = write_cfg(tmp, data, name)
    r = subprocess.run(train_cmd(cfg, opts, *flags), capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return cfg, load_results(tmp, name)


def load_results(tmp, name):
    return json.load(open(tmp / 'out' / name / 'results.json'))


def comparable(res):
    """Every number of results.json except wall-clock seconds."""
    out = {k: res[k] for k in METRICS}
    out['per_action'] = res['per_action']
    out['history'] = [{k: v for k, v in h.items() if k != 'seconds'} for h in res['history']]
    out['ema'] = res.get('ema')
    return out


def start_and_wait_mid_epoch(cfg, opts, ckpt, min_epoch, timeout=240):
    """Start training; return (process, train_state) once a mid-epoch checkpoint of
    ``epoch >= min_epoch`` is on disk."""
    proc = subprocess.Popen(train_cmd(cfg, opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    last, t0 = None, time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail('training ended before it could be interrupted:\n' + out[-1500:] + err[-1500:])
        try:
            st = os.stat(ckpt)
        except FileNotFoundError:
            time.sleep(0.005)
            continue
        if (st.st_ino, st.st_mtime_ns) != last:
            last = (st.st_ino, st.st_mtime_ns)
            ts = torch.load(ckpt, weights_only=True)['train_state']
            if ts['epoch'] >= min_epoch and ts['step_in_epoch'] > 0:
                return proc, ts
        time.sleep(0.005)
    proc.kill()
    pytest.fail('no mid-epoch checkpoint within %ds' % timeout)


@pytest.fixture(scope='module')
def baseline(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp('baseline')
    _, res = train_run(tmp, data_dir, 'base', RUN_OPTS)
    return res


def test_two_cpu_runs_with_the_same_seed_are_identical(baseline, data_dir, tmp_path):
    _, res = train_run(tmp_path, data_dir, 'again', RUN_OPTS)
    assert comparable(res) == comparable(baseline)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(baseline, data_dir, tmp_path):
    cfg = write_cfg(tmp_path, data_dir, 'killed')
    out = tmp_path / 'out' / 'killed'
    ckpt = out / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, RUN_OPTS, ckpt, min_epoch=1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    st = torch.load(ckpt, weights_only=True)['train_state']      # intact, and not the end of the run
    assert st['epoch'] < 4 and st['step'] >= ts['step']
    (out / '.checkpoint.pth.tar.k1ll3d.tmp').write_bytes(b'half a checkpoint')  # as a kill mid-save leaves
    r = subprocess.run(train_cmd(cfg, RUN_OPTS, '--resume'), capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert not list(out.glob('.*.tmp'))
    assert comparable(load_results(tmp_path, 'killed')) == comparable(baseline)


def test_sigterm_saves_exits_143_and_resume_matches(data_dir, tmp_path):
    _, ref = train_run(tmp_path, data_dir, 'ref', FULL_OPTS)
    cfg = write_cfg(tmp_path, data_dir, 'termed')
    ckpt = tmp_path / 'out' / 'termed' / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, FULL_OPTS, ckpt, min_epoch=2)   # after the warm start
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert 'SIGTERM' in out and '--resume' in out and 'Traceback' not in err
    st = torch.load(ckpt, weights_only=True)['train_state']
    assert st['step'] > ts['step'] and st['epoch'] < 4 and st['optimizer_stage'] == 'method'
    r = subprocess.run(train_cmd(cfg, FULL_OPTS, '--resume'), capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert comparable(load_results(tmp_path, 'termed')) == comparable(ref)


def test_sigint_saves_and_exits_130(data_dir, tmp_path):
    opts = RUN_OPTS[:RUN_OPTS.index('TRAIN.NUM_EPOCHS') + 1] + ['2'] + RUN_OPTS[RUN_OPTS.index('BATCH_SIZE'):]
    cfg = write_cfg(tmp_path, data_dir, 'inted')
    ckpt = tmp_path / 'out' / 'inted' / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, opts, ckpt, min_epoch=0)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert 'SIGINT' in out and '--resume' in out and 'Traceback' not in err
    st = torch.load(ckpt, weights_only=True)['train_state']
    assert st['step'] > ts['step']


def test_sigterm_during_evaluation_stops_at_the_epoch_boundary(data_dir, tmp_path, capsys, monkeypatch):
    """A signal between epochs (here: during the epoch-end evaluation) saves a checkpoint at the
    boundary; resuming must not step the learning-rate schedule twice."""
    import lib.train.run as M
    opts = NPZ + ['TRAIN.NUM_EPOCHS', '3', 'TRAIN.MAX_STEPS_PER_EPOCH', '4', 'EVAL.STRIDE', '8',
                  'TRAIN.SCHEDULER_GAMMA', '0.5']
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir, 'whole'), '--gpu', '-1', '--opts'] + opts,
                              capsys)
    assert rc == 0, err
    real_eval, calls = M.run_eval, []

    def eval_then_sigterm(state, *a, **k):
        calls.append(state.epoch)
        res = real_eval(state, *a, **k)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return res
    monkeypatch.setattr(M, 'run_eval', eval_then_sigterm)
    cfg = write_cfg(tmp_path, data_dir, 'cut')
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert rc == 143 and 'SIGTERM' in out and '--resume' in out, out + err
    ck = torch.load(tmp_path / 'out' / 'cut' / 'checkpoint.pth.tar', weights_only=True)
    assert ck['train_state']['epoch'] == 1 and ck['train_state']['step_in_epoch'] == 0
    monkeypatch.setattr(M, 'run_eval', real_eval)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts, capsys)
    assert rc == 0, out + err
    assert comparable(load_results(tmp_path, 'cut')) == comparable(load_results(tmp_path, 'whole'))


def test_resume_of_a_finished_run_does_nothing(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    opts = NPZ + ['TRAIN.MAX_STEPS_PER_EPOCH', '2', 'EVAL.STRIDE', '8']
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert rc == 0, err
    before = (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').read_bytes()
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts, capsys)
    assert rc == 0 and 'nothing to resume' in out, out + err
    assert (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').read_bytes() == before
    # resuming with other settings works, with a warning that says what differs
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts +
                              ['TRAIN.NUM_EPOCHS', '2', 'BATCH_SIZE', '16'], capsys)
    assert rc == 0, out + err
    assert "differ from the checkpoint's" in out and 'BATCH_SIZE 64 -> 16' in out
    assert 'NUM_EPOCHS' not in out.split("differ from the checkpoint's")[1].split('\n')[0]
    assert len(load_results(tmp_path, 'tiny')['history']) == 2


def test_resume_with_a_sampling_rng_of_another_device(data_dir, tmp_path, recwarn):
    """A checkpoint's sampling RNG state is restored exactly (the same draws follow); one of
    another device type (a CUDA Philox state on a CPU run) is reseeded from RANDOM_SEED and the
    step, with a warning; the rest of the state (step, torch and numpy RNGs) is restored either way."""
    from lib.train.state import TrainState
    cfg_path = write_cfg(tmp_path, data_dir)
    st = make_state_checkpoint(cfg_path, tmp_path / 'ck.pth.tar')
    st.step = 7
    torch.rand(5, generator=st.sampling_rng)                                # a generator part-way through
    ck = st.checkpoint()
    want_gen = torch.rand(3, generator=st.sampling_rng)
    want_torch, want_np = torch.rand(3), np.random.rand(3)
    st2 = TrainState(tiny_cfg_obj(cfg_path), torch.device('cpu'))
    st2.restore(ck, 'ck.pth.tar')
    assert st2.step == 7 and torch.equal(torch.rand(3, generator=st2.sampling_rng), want_gen)
    assert torch.equal(torch.rand(3), want_torch) and np.array_equal(np.random.rand(3), want_np)
    assert not any('another device type' in str(w.message) for w in recwarn.list)
    ck['rng']['gen'] = torch.zeros(16, dtype=torch.uint8)        # a CUDA (Philox) generator state
    st3 = TrainState(tiny_cfg_obj(cfg_path), torch.device('cpu'))
    st3.restore(ck, 'ck.pth.tar')
    assert any('another device type' in str(w.message) for w in recwarn.list)
    reseeded = torch.Generator().manual_seed(int(st3.cfg.RANDOM_SEED) * 100003 + 7)
    assert st3.step == 7 and torch.equal(torch.rand(3, generator=st3.sampling_rng), torch.rand(3, generator=reseeded))
    assert torch.equal(torch.rand(3), want_torch) and np.array_equal(np.random.rand(3), want_np)


# --- non-finite losses ------------------------------------------------------------------

def test_nonfinite_loss_stops_names_term_and_step_and_saves(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    # 1e39 is finite in float64 (the config accepts it) and inf in float32: l3d * 1e39 = inf
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.LOSS_WEIGHTS', '[1.0e+39, 1, 1, 1]'], capsys)
    line = assert_one_error_line(rc, err, "loss term 'l3d'", 'at step 0', 'last good state is saved',
                                 'checkpoint.pth.tar', 'TRAIN.NONFINITE')
    assert 'l3d' in line
    from lib.models.checkpoint import load_checkpoint
    ck = load_checkpoint(str(tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar'))
    assert ck['train_state']['step'] == 0
    assert all(torch.isfinite(v).all() for v in ck['pose_model_state_dict'].values() if v.is_floating_point())
    assert not (tmp_path / 'out' / 'tiny' / 'results.json').exists()


@pytest.mark.parametrize('lr,kept', [('1.0e+5', 'the last good state is saved'),
                                     ('1.0e+6', 'no checkpoint was written'),
                                     ('1.0e+30', 'no checkpoint was written')])
def test_nonfinite_loss_mid_training_keeps_the_last_finite_checkpoint(data_dir, tmp_path, capsys, lr, kept):
    """An absurd learning rate: step 0's loss is finite and its update throws the weights far;
    step 1's loss is not finite.  With 1e5 the weights after step 0 are finite: the checkpoint
    written when training stops (none is written on the way: CHECKPOINT_EVERY 0) holds them, the
    parameters of a run stopped after one step.  With 1e30 step 0 already made them infinite:
    the checkpoint due after step 0 (CHECKPOINT_EVERY 1) is not written, and the message says so.
    With 1e6 the parameters after step 0 are finite, but the discriminator step's forward (in
    training mode) has pushed the lifter's BatchNorm statistics to inf: that state is not worth
    saving either."""
    from lib.models.checkpoint import load_checkpoint
    cfg = write_cfg(tmp_path, data_dir)
    opts = NPZ + ['TRAIN.POSE_LR', lr, 'TRAIN.CHECKPOINT_EVERY', '1' if lr == '1.0e+30' else '0']
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert_one_error_line(rc, err, 'non-finite at step 1', 'checkpoint', kept)
    ck_path = tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar'
    if kept == 'no checkpoint was written':
        assert not ck_path.exists()
        return
    ck = load_checkpoint(str(ck_path))
    assert ck['train_state']['step'] == 1 and ck['train_state']['step_in_epoch'] == 1
    # the failed step's forward passes moved the BatchNorm statistics: they are put back
    for key in ('pose_model_state_dict', 'discriminator_state_dict'):
        assert all(torch.isfinite(v).all() for v in ck[key].values() if v.is_floating_point()), key
    one = write_cfg(tmp_path, data_dir, 'one')
    rc, out, err = run_inproc(['--cfg', one, '--gpu', '-1', '--opts'] + opts + ['TRAIN.MAX_STEPS_PER_EPOCH', '1'],
                              capsys)
    assert rc == 0, err
    ref = load_checkpoint(str(tmp_path / 'out' / 'one' / 'checkpoint.pth.tar'))
    assert ref['train_state']['step'] == 1
    for key in ('pose_model_state_dict', 'discriminator_state_dict'):
        params = [k for k in ref[key] if not k.rsplit('.', 1)[1].startswith(('running_', 'num_batches'))]
        assert len(params) > 10
        for k in params:
            assert torch.isfinite(ck[key][k]).all() and torch.equal(ck[key][k], ref[key][k]), (key, k)


def test_nonfinite_loss_skip_continues(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.LOSS_WEIGHTS', '[1.0e+39, 1, 1, 1]', 'TRAIN.NONFINITE', 'skip',
                               'TRAIN.MAX_STEPS_PER_EPOCH', '3', 'TRAIN.NUM_EPOCHS', '2', 'EVAL.STRIDE', '8'],
                              capsys)
    assert rc == 0, err
    assert "skipped step 0: loss term 'l3d' is not finite" in out
    res = load_results(tmp_path, 'tiny')
    assert res['skipped_steps'] == 6
    assert (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').exists()


def test_resume_with_ema_turned_on_starts_the_average_at_the_resumed_weights(data_dir, tmp_path):
    """A run trained without an EMA, resumed with TRAIN.EMA_DECAY > 0 (the benchmark's
    adv_continued_ema): the average starts from the checkpoint's weights, not from the fresh
    model's random ones; a checkpoint that has an EMA restores that EMA."""
    from lib.train.state import TrainState
    cfg_path = write_cfg(tmp_path, data_dir)
    st = make_state_checkpoint(cfg_path, tmp_path / 'ck.pth.tar')
    with torch.no_grad():
        for p in st.model.parameters():
            p.add_(0.5)
    ck = st.checkpoint()
    assert 'ema_state_dict' not in ck
    st2 = TrainState(tiny_cfg_obj(cfg_path, **{'TRAIN.EMA_DECAY': 0.99}), torch.device('cpu'))
    st2.restore(ck, 'ck.pth.tar')
    for k, v in st.model.state_dict().items():
        assert torch.equal(st2.ema.state_dict()[k], v), k
    ck2 = st2.checkpoint()
    first = next(k for k, v in ck2['ema_state_dict'].items() if v.dtype.is_floating_point)
    ck2['ema_state_dict'][first] = ck2['ema_state_dict'][first] + 1.0
    st3 = TrainState(tiny_cfg_obj(cfg_path, **{'TRAIN.EMA_DECAY': 0.99}), torch.device('cpu'))
    st3.restore(ck2, 'ck2.pth.tar')
    assert torch.equal(st3.ema.state_dict()[first], ck2['ema_state_dict'][first])
    assert not torch.equal(st3.ema.state_dict()[first], st3.model.state_dict()[first])
