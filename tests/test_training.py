"""Training: the alternating scheme's phases, mixed precision and torch.compile smoke tests,
several gloo processes (DistributedDataParallel), atomic checkpoints, interrupted training
and resume, non-finite losses, determinism, the EMA.

The multi-process tests run 2 gloo processes on the CPU with ``torchrun``
(``python -m torch.distributed.run``); this file is also the worker script of those tests
(``__main__`` at the bottom).  Interrupted training: SIGKILL mid-epoch then ``--resume``;
SIGTERM and SIGINT (exit 143 / 130, checkpoint saved, message says how to resume); resumed runs
must reach exactly the numbers of an uninterrupted run.
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
import warnings

import numpy as np
import pytest
import torch

from conftest import REPO
from helpers import (ENV, MAIN, NPZ, assert_one_error_line, make_state_checkpoint, run_inproc, tiny_cfg, tiny_cfg_obj,
                     tiny_split, write_cfg)
from lib.train import step as T
from lib.train import schedule as TS
from lib.config.defaults import get_default
from lib.train.ema import EMA
from lib.data.formats import pose_model_args
from lib.models.pose_model import PoseModel


# --- the alternating scheme --------------------------------------------------------

def _grads_after(cfg, phase_step):
    from lib.data.batches import Batch
    from lib.models.discriminator import get_discriminator
    torch.manual_seed(0)
    m = PoseModel(cfg, **pose_model_args(cfg))
    D, Dt = get_discriminator(cfg), get_discriminator(cfg, True)
    sch = TS.epoch_scheme(cfg, 0)
    phase, lon, son = TS.step_phase(cfg, sch, phase_step)
    TS.set_trainable(m, lon, son)
    b = Batch(torch.randn(8, 17, 2) * 0.03, torch.rand(8, 3), torch.randn(8, 17, 2) * 0.03,
              torch.randn(8, 17, 2) * 0.03, None, torch.arange(8))
    terms = T.generator_losses(m, D, Dt, b, cfg, phase, sch)
    sum(w * v for w, v in terms.values()).backward()
    got = lambda mod: any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())
    return phase, got(m.lifter_before) or got(m.lifter_after), got(m.scaler), set(terms)


@pytest.mark.parametrize('off_by_one', [True, False])
def test_alternating_phases_train_the_right_modules(off_by_one):
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 16; cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.TRAIN.USE_SCALER = True; cfg.TRAIN.USE_CYCLE = True; cfg.TRAIN.USE_NEW_TEMP = True
    cfg.COMPAT.ALTERNATE_OFF_BY_ONE = off_by_one
    phase, lifter, scaler, terms = _grads_after(cfg, 0)
    assert phase == 'subnet' and not lifter and scaler and terms == {'kl', 'bone'}
    phase, lifter, scaler, terms = _grads_after(cfg, 1)
    assert phase == 'mainnet' and {'l3d', 'l2d', 'gan', 'tmc'} == terms
    if off_by_one:      # the original: rem > S is never true with S = M = 1, the lifter stays frozen
        assert not lifter and scaler
    else:
        assert lifter and not scaler


def test_joint_scheme_trains_everything():
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 16; cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.TRAIN.USE_SCALER = True; cfg.TRAIN.USE_NEW_TEMP = True
    phase, lifter, scaler, terms = _grads_after(cfg, 0)
    assert phase == 'joint' and lifter and scaler
    assert terms == {'l3d', 'l2d', 'gan', 'tmc', 'kl', 'bone'}


@pytest.mark.parametrize('off_by_one', [True, False])
def test_alternating_schedule_of_one_subnet_and_four_mainnet_steps(off_by_one):
    """SUBNET_CRITICS 1, MAINNET_CRITICS 4 (the authors' alternating configs): a period of 5
    steps, a subnet step (the scaler trained) then 4 mainnet steps.  The original's test
    ``rem > S`` leaves the lifter frozen, and the scaler trained on the mainnet losses, at
    rem == S = 1 (COMPAT.ALTERNATE_OFF_BY_ONE); ``rem >= S`` trains the lifter there."""
    cfg = tiny_cfg('TRAIN.SUBNET_CRITICS', '1', 'TRAIN.MAINNET_CRITICS', '4', 'TRAIN.USE_SCALER', 'true',
                   'TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                   'COMPAT.ALTERNATE_OFF_BY_ONE', str(off_by_one).lower())
    second = ('mainnet', False, True) if off_by_one else ('mainnet', True, False)
    period = [('subnet', False, True), second] + [('mainnet', True, False)] * 3
    assert [TS.step_phase(cfg, 'alternating', k) for k in range(10)] == period * 2
    assert TS.step_phase(cfg, 'joint', 3) == ('joint', True, True)
    for k in (1, 6):                                 # the real gradients at rem == S
        phase, lifter, scaler, terms = _grads_after(cfg, k)
        assert phase == 'mainnet' and (lifter, scaler) == second[1:] and 'kl' not in terms
    assert _grads_after(cfg, 2)[1:3] == (True, False)


def _eval_state(*opts):
    """A tiny TrainState whose networks run in eval mode (no dropout, BatchNorm on its running
    statistics): every forward of a batch gives the same numbers."""
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    st = TrainState(tiny_cfg('TRAIN.USE_SCALER', 'true', *opts), torch.device('cpu'))
    for m in (st.model, st.D, st.Dt):
        m.eval()
    return st


def _random_batch(n=8, seed=0):
    from lib.data.batches import Batch
    g = torch.Generator().manual_seed(seed)
    pose = lambda: torch.randn(n, 17, 2, generator=g) * 0.05
    return Batch(pose(), torch.rand(n, 3, generator=g) - 0.5, pose(), pose(), None, torch.arange(n))


@pytest.mark.parametrize('keep', [True, False])
def test_frozen_parameters_and_adam_momentum(keep):
    """COMPAT.FROZEN_KEEP_MOMENTUM: the original (old PyTorch) zeroed the gradients of frozen
    parameters and Adam still stepped them on its momentum.  Steps: subnet (lifter frozen),
    mainnet (the lifter's first gradient g), subnet again: with the switch the lifter moves by
    Adam's second step with a zero gradient, lr m^ / (sqrt(v^) + eps), m^ = b1 (1 - b1) g /
    (1 - b1^2), v^ = b2 (1 - b2) g^2 / (1 - b2^2); without it, not at all."""
    st = _eval_state('TRAIN.USE_CYCLE', 'true', 'COMPAT.ALTERNATE_OFF_BY_ONE', 'false',
                     'COMPAT.FROZEN_KEEP_MOMENTUM', str(keep).lower())
    lifter = [p for n, p in st.model.named_parameters() if n.startswith('lifter_')]
    b = _random_batch()
    T.train_step(st, b, st.cfg, 'alternating', 0)
    T.train_step(st, b, st.cfg, 'alternating', 1)
    g = [p.grad.detach().clone() for p in lifter]
    before = [p.detach().clone() for p in lifter]
    T.train_step(st, b, st.cfg, 'alternating', 2)
    group = st.opt_g.param_groups[0]
    lr, (b1, b2), eps = group['lr'], group['betas'], group['eps']
    assert group['weight_decay'] == 0 and not group['amsgrad']
    assert sum(float(x.abs().sum()) for x in g) > 0
    for p, p0, gi in zip(lifter, before, g):
        gi = gi.double()
        m_hat = b1 * (1 - b1) * gi / (1 - b1 ** 2)
        v_hat = b2 * (1 - b2) * gi ** 2 / (1 - b2 ** 2)
        step = lr * m_hat / (v_hat.sqrt() + eps) if keep else torch.zeros_like(gi)
        assert float(m_hat.abs().max()) == 0 or lr * 0.3 < float((lr * m_hat / (v_hat.sqrt() + eps)).abs().max())
        # float32 weights: the difference of two is good to about 1e-7
        torch.testing.assert_close((p0.double() - p.detach().double()), step, rtol=1e-3, atol=2e-7)


@pytest.mark.parametrize('unscaled', [True, False])
def test_l2d_target_is_the_unscaled_or_the_scaled_input(unscaled):
    """COMPAT.L2D_TARGET_UNSCALED: the 2D cycle loss compares the reprojection with the input x
    (the original) or with s * x, the 2D the lifter saw."""
    st = _eval_state('COMPAT.L2D_TARGET_UNSCALED', str(unscaled).lower())
    b = _random_batch()
    with torch.no_grad():
        terms = T.generator_losses(st.model, st.D, st.Dt, b, st.cfg, 'joint', 'joint')
        recn_2d = st.model(b.x, b.rot).recn_2d.numpy()
        scale, _ = st.model.scaler(b.x)
    x, sx = b.x.numpy(), (b.x * scale[:, :, None]).numpy()
    err = lambda target: np.linalg.norm(recn_2d - target, axis=-1).mean()
    assert terms['l2d'][1].item() == pytest.approx(err(x if unscaled else sx), rel=1e-5)
    assert abs(err(x) - err(sx)) > 1e-3 * err(x)


@pytest.mark.parametrize('mode,phase,both', [('by_scheme', 'subnet', True), ('by_scheme', 'joint', False),
                                             ('always', 'joint', True), ('never', 'subnet', False)])
def test_kl_term_takes_the_bone_partners_scales_too(mode, phase, both):
    """COMPAT.KL_ON_DIFF2: the KL prior's batch is the B scale_mid values of the batch, or
    those and the B of the bone partners (the original: in its alternating scheme only)."""
    scheme_name = 'alternating' if phase == 'subnet' else 'joint'
    st = _eval_state('TRAIN.USE_CYCLE', str(phase == 'subnet').lower(), 'COMPAT.KL_ON_DIFF2', mode)
    b = _random_batch()
    with torch.no_grad():
        terms = T.generator_losses(st.model, st.D, st.Dt, b, st.cfg, phase, scheme_name)
        mids = [st.model.scaler(b.x)[1], st.model.scaler(b.x_far)[1]]
    v = torch.cat(mids if both else mids[:1]).double().numpy().ravel()
    assert len(v) == (16 if both else 8)
    mu, sd = v.mean(), v.std(ddof=1)
    pm, ps = st.cfg.DATA.SCALE_MID_MEAN, st.cfg.DATA.SCALE_MID_STD
    want = np.log(ps / sd) + (sd ** 2 + (mu - pm) ** 2) / (2 * ps ** 2) - 0.5
    assert terms['kl'][1].item() == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize('scaled', [False, True])
def test_discriminator_real_samples_scaled_or_not(scaled):
    """TRAIN.DIS_REAL_SCALED: the discriminator's real samples are the input x (the original)
    or s * x; its loss mean((D(real) - 1)^2) + mean(D(fake)^2), fake the cycle's projection."""
    st = _eval_state('TRAIN.DIS_REAL_SCALED', str(scaled).lower(), 'TRAIN.NUM_CRITICS', '1')
    b = _random_batch()
    with torch.no_grad():
        fake = st.model(b.x, b.rot).proj_2d
        sx = b.x * st.model.scaler(b.x)[0][:, :, None]
        d = lambda real: float(((st.D(real) - 1) ** 2).mean() + (st.D(fake) ** 2).mean())
        want, other = (d(sx), d(b.x)) if scaled else (d(b.x), d(sx))
    logs = T.discriminator_step(st.model, st.D, st.Dt, st.opt_d, st.opt_dt, b, st.cfg, 0, True)
    assert logs['d'].item() == pytest.approx(want, rel=1e-5) and abs(want - other) > 1e-6


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


@pytest.fixture(autouse=True)
def one_thread():
    """One thread (bitwise-repeatable sums, and no thread contention on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(args, env_extra=None, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    env.update(env_extra or {})
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(free_port())] + args
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def _train_steps(cfg, n_steps=2):
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    cfg.TRAIN.MAX_STEPS_PER_EPOCH = n_steps
    state = TrainState(cfg, torch.device('cpu'))
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    data = tiny_split(64)
    assert T.train_epoch(state, data, cfg, 0) == 'done'
    return state, before


def test_amp_bf16_autocast_cpu_smoke():
    """TRAIN.AMP: the forward passes run under bf16 autocast (CPU here, CUDA alike); the
    weights stay float32, the losses finite, and every weight of the lifter moves."""
    cfg = tiny_cfg('TRAIN.AMP', 'true', 'TRAIN.USE_NEW_TEMP', 'true', 'TRAIN.NUM_CRITICS', '1')
    state, before = _train_steps(cfg)
    with state.autocast():
        out = state.model.lifter_before.pre[0](torch.randn(4, 34))
    assert out.dtype == torch.bfloat16
    sd = state.model.state_dict()
    assert all(v.dtype == torch.float32 for k, v in sd.items() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in sd.values())
    moved = [k for k in sd if k.endswith('weight') and not torch.equal(sd[k], before[k])]
    assert any('lifter_after' in k for k in moved) and any('lifter_before' in k for k in moved)
    with state.autocast():                            # the loss of a batch is finite in bf16
        b = tiny_split(64).batch(torch.arange(16), cfg, None, True, False)
        terms = T.generator_losses(state.fwd_model, state.D, state.Dt, b, cfg, 'joint', 'joint')
    assert all(torch.isfinite(v) for _, v in terms.values())
    cfg.TRAIN.AMP = False
    with state.autocast():
        assert state.model.lifter_before.pre[0](torch.randn(4, 34)).dtype == torch.float32


def test_compile_in_place_cpu_smoke(monkeypatch):
    """TRAIN.COMPILE: the models' forwards are compiled in place (dynamo + AOT autograd; the
    ``aot_eager`` backend here keeps the test fast -- inductor's C++ build takes minutes on
    2 cores; ``UVHPE_SLOW_TESTS=1`` runs it too), through the alternating scheme with the
    scaler, TMC and the discriminator: state-dict keys unchanged, training finite, and the
    compiled model computes what the eager one does."""
    from lib.models import compile as S
    backend = 'inductor' if os.environ.get('UVHPE_SLOW_TESTS') else 'aot_eager'
    monkeypatch.setattr(S, 'COMPILE_BACKEND', backend)
    torch._dynamo.reset()
    cfg = tiny_cfg('TRAIN.COMPILE', 'true', 'TRAIN.USE_SCALER', 'true', 'TRAIN.USE_CYCLE', 'true',
                   'TRAIN.USE_NEW_TEMP', 'true', 'TRAIN.NUM_CRITICS', '1')
    state, before = _train_steps(cfg, n_steps=3)
    assert state.compiled
    sd = state.model.state_dict()
    assert list(sd) == list(before)                   # no '_orig_mod.' prefixes
    assert all(torch.isfinite(v).all() for v in sd.values())
    assert any(not torch.equal(sd[k], before[k]) for k in sd)
    from lib.models.pose_model import get_pose_model
    eager = get_pose_model(cfg, **pose_model_args(cfg))
    eager.load_state_dict(sd)
    eager.eval(), state.model.eval()
    x, rot = tiny_split(64).pose_2d[:8], torch.zeros(8, 3)
    with torch.no_grad():
        a, b = state.model(x, rot), eager(x, rot)
    assert torch.allclose(a.recn_3d, b.recn_3d, atol=1e-5) and torch.allclose(a.est_3d, b.est_3d, atol=1e-5)
    torch._dynamo.reset()


def test_compile_without_compiler_falls_back_with_a_warning(monkeypatch):
    from lib.models import compile as S
    monkeypatch.delenv('CXX', raising=False)
    monkeypatch.setattr(S.shutil, 'which', lambda name: None)
    assert 'C++ compiler' in S.compile_unavailable(torch.device('cpu'))
    cfg = tiny_cfg('TRAIN.COMPILE', 'true')
    with pytest.warns(UserWarning, match='TRAIN.COMPILE: torch.compile cannot run here .*training without it'):
        state, _ = _train_steps(cfg, n_steps=1)
    assert state.compiled is False
    assert not hasattr(state.model, '_compiled_call_impl') or state.model._compiled_call_impl is None


# --- several processes ----------------------------------------------------------

EQUIV_OPTS = ['BATCH_SIZE', '32', 'TRAIN.USE_NEW_TEMP', 'true', 'TRAIN.NUM_CRITICS', '1',
              'TRAIN.MAX_STEPS_PER_EPOCH', '1', 'TRAIN.POSE_LR', '0.01', 'TRAIN.DIS_LR', '0.01']


def one_step(cfg, world_batch):
    """One training step through ``train_epoch`` on a 2 * 16-pose split, BatchNorm and dropout
    in eval mode (see the test).  Returns {name: tensor} of weights and gradients."""
    from lib.train.state import TrainState, seed_everything
    from lib.utils import distributed as dist
    seed_everything(0)
    cfg.BATCH_SIZE = world_batch
    state = TrainState(cfg, torch.device('cpu'), *dist.rank_world())
    dist.wrap(state)
    for m in (state.model, state.D, state.Dt):
        m.eval()
        m.train = types.MethodType(lambda self, mode=True: self, m)   # train_epoch's .train(): no-op
    assert T.train_epoch(state, tiny_split(32, 2), cfg, 0) == 'done'
    out = {}
    for tag, m in (('G', state.model), ('D', state.D)):
        for n, p in m.named_parameters():
            out['%s.%s' % (tag, n)] = p.detach().clone()
            if p.grad is not None:
                out['%s.grad.%s' % (tag, n)] = p.grad.detach().clone()
    return out


def test_two_gloo_ranks_take_the_whole_batch_step(tmp_path):
    """One step with the batch split over 2 gloo processes gives the weights (and averaged
    gradients) of one step on the whole batch in one process.

    The comparison needs a step whose whole-batch gradient *is* the mean of the two
    half-batch gradients.  Two things in training mode break that, by design and as under
    PyTorch's DistributedDataParallel (without SyncBatchNorm): BatchNorm normalises with
    each rank's own batch statistics, and dropout draws each rank's own masks.  So the
    models run with BatchNorm on its running statistics and dropout off (eval mode, kept
    through ``train_epoch``), and the losses are the joint scheme's cycle, GAN and TMC
    terms, all means of per-pose terms (the scaler's KL term uses the batch's std, so the
    scaler is left out).  The step is otherwise the real one: ``train_epoch``, the epoch
    permutation's disjoint per-rank shares, the TMC neighbour sampler, the
    DistributedDataParallel wrappers of the generator and the discriminator, Adam.  The gradients are compared
    too, since Adam's first step is nearly blind to a gradient's scale.
    """
    ref = one_step(tiny_cfg(*EQUIV_OPTS), 32)
    out = tmp_path / 'ranks'
    torchrun([os.path.abspath(__file__), '--equivalence-worker', str(out)])
    r0, r1 = torch.load(str(out) + '.0.pt'), torch.load(str(out) + '.1.pt')
    assert set(r0) == set(ref) and any('.grad.' in k for k in ref)
    for k in ref:
        assert torch.equal(r0[k], r1[k]), k           # the ranks agree exactly
        tol = 1e-5 * max(1.0, float(ref[k].abs().max()))
        assert torch.allclose(r0[k], ref[k], atol=tol, rtol=1e-4), (k, float((r0[k] - ref[k]).abs().max()))
    init = one_step_init()
    moved = [k for k in ref if '.grad.' not in k and not torch.equal(ref[k], init[k])]
    assert len(moved) > 0.9 * len([k for k in ref if '.grad.' not in k])


def one_step_init():
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    cfg = tiny_cfg(*EQUIV_OPTS)
    s = TrainState(cfg, torch.device('cpu'))
    return {('%s.%s' % (t, n)): p.detach() for t, m in (('G', s.model), ('D', s.D)) for n, p in m.named_parameters()}


def test_torchrun_main_writes_one_set_of_outputs(tmp_path):
    """torchrun --nproc_per_node 2 tools/main.py (gloo on CPU): one log, one checkpoint, one
    results.json, one TensorBoard run; the gathered evaluation covers the whole test split
    and equals a one-process evaluation of the saved checkpoint."""
    import synth
    data = tmp_path / 'data'
    synth.write_npz(str(data))
    cfg = tmp_path / 'tiny.yaml'
    cfg.write_text(synth.TINY_YAML.format(data=data, out=tmp_path / 'out', log=tmp_path / 'log'))
    torchrun(['tools/main.py', '--cfg', str(cfg), '--gpu', '-1', '--quiet',
              '--opts', 'TRAIN.NUM_EPOCHS', '2'])
    out = tmp_path / 'out' / 'tiny'
    names = sorted(os.listdir(out))
    assert len(glob.glob(str(out / '*.log'))) == 1, names
    for f in ('results.json', 'checkpoint.pth.tar', 'predictions.npz', 'config.yaml'):
        assert os.path.isfile(out / f), names
    assert len(names) == 6, names                     # + model_best.pth.tar, nothing else
    assert len(os.listdir(tmp_path / 'log')) == 1
    res = json.loads((out / 'results.json').read_text())
    from lib.config.load import update_config
    from lib.data.dataset import load_splits
    c = get_default()
    update_config(c, str(cfg))
    n_test = len(load_splits(c, str(data), which=('test',))['test'])
    assert res['num_poses'] == n_test and len(res['history']) == 2
    ck = torch.load(str(out / 'checkpoint.pth.tar'), weights_only=False)
    assert ck['train_state']['step'] == 2 * TS.steps_per_epoch(_n_train(c, data), c, 2)
    # the gathered evaluation is that of the saved model, in one process
    r = subprocess.run([sys.executable, 'tools/main.py', '--cfg', str(cfg), '--gpu', '-1', '--quiet', '--eval',
                        '--pretrain', str(out / 'checkpoint.pth.tar'), '--model_dir', str(tmp_path / 'ev')],
                       cwd=REPO, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-2000:]
    one = json.loads((tmp_path / 'ev' / 'tiny' / 'eval_checkpoint' / 'results.json').read_text())
    for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE'):
        assert abs(one[k] - res[k]) < 1e-3, (k, one[k], res[k])


def test_skipped_step_leaves_no_trace_in_batchnorm_statistics():
    """TRAIN.NONFINITE skip: a batch with a NaN pose is skipped, and the BatchNorm running
    statistics its forward passes touched are put back (weights and buffers unchanged)."""
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    cfg = tiny_cfg('TRAIN.NONFINITE', 'skip', 'TRAIN.MAX_STEPS_PER_EPOCH', '1', 'BATCH_SIZE', '64')
    state = TrainState(cfg, torch.device('cpu'))
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    data = tiny_split(64)
    data.pose_2d[7] = float('nan')
    assert T.train_epoch(state, data, cfg, 0) == 'done' and state.skipped == 1
    for k, v in state.model.state_dict().items():
        assert torch.equal(v, before[k]), k


ALT_OPTS = ['BATCH_SIZE', '8', 'TRAIN.USE_SCALER', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
            'TRAIN.USE_CYCLE', 'true', 'TRAIN.WARM_START_EPOCHS', '1', 'TRAIN.NUM_EPOCHS', '3',
            'TRAIN.NUM_CRITICS', '1', 'TRAIN.NONFINITE', 'skip']


def _alternating_run(emulate_world=None):
    """3 epochs of 4 steps: the adv warm start (scaler bypassed), then the alternating scheme
    (subnet / mainnet steps freezing the lifter or the scaler, KL + bone over the bone-partner
    forward, TMC over the neighbour forward).  Under torchrun each rank takes 8 poses a step and
    rank 1's share holds a NaN pose, so that the ranks must agree to skip a step;
    ``emulate_world=2`` in one process takes the same global batches (16 poses, the same NaN
    pose).  Returns the initial weights, the weights after each epoch, counters and phases."""
    from lib.train.state import TrainState, seed_everything
    from lib.utils import distributed as dist
    seed_everything(0)
    cfg = tiny_cfg(*ALT_OPTS)
    rank, world = dist.rank_world()
    shares = emulate_world or world
    cfg.BATCH_SIZE = 8 * shares // world
    state = TrainState(cfg, torch.device('cpu'), rank, world)
    weights = lambda m: {k: v.detach().clone() for k, v in m.named_parameters()}
    init = {'G': weights(state.model), 'D': weights(state.D)}
    dist.wrap(state)
    data = tiny_split(32 * shares, 2)
    if rank == 1 or emulate_world:
        perm = TS.epoch_permutation(len(data), cfg.RANDOM_SEED, 1, 1, shares)
        data.pose_2d[perm[5]] = float('nan')          # a frame of rank 1's share of epoch 1
    phases, per_epoch = [], []
    for epoch in range(cfg.TRAIN.NUM_EPOCHS):
        state.step_in_epoch = 0
        assert T.train_epoch(state, data, cfg, epoch) == 'done'
        phases.append(TS.epoch_scheme(cfg, epoch))
        per_epoch.append(weights(state.model))
    return {'weights': per_epoch[-1], 'per_epoch': per_epoch, 'init': init, 'D': weights(state.D),
            'buffers': [b.detach().clone() for b in state.model.buffers()],
            'skipped': state.skipped, 'step': state.step, 'phases': phases}


def _moved(run, epoch, prefix):
    """Names of the ``prefix`` weights that differ from their initial values after ``epoch``."""
    return [k for k, v in run['per_epoch'][epoch].items()
            if k.startswith(prefix) and k.endswith('weight') and not torch.equal(v, run['init']['G'][k])]


def test_ddp_alternating_scheme_frozen_modules_and_a_skipped_step(tmp_path):
    """Two gloo ranks through everything DistributedDataParallel finds awkward here: several
    forwards before one backward, the scaler bypassed (warm start) or frozen and the lifter
    frozen from step to step (find_unused_parameters), generator GAN terms through the plain
    discriminator, and a step both ranks skip because one rank's loss is NaN.  The ranks end
    with identical, finite parameters that moved from their initial values as one process's
    run of the same global batches moves them: the lifter and the discriminator from the first
    epoch, the scaler (bypassed by the warm start) only from the second.  (Their values differ:
    dropout masks, per-rank BatchNorm statistics, bone partners and the batch KL term are each
    rank's own; test_two_gloo_ranks_take_the_whole_batch_step checks the values.)"""
    out = tmp_path / 'alt'
    torchrun([os.path.abspath(__file__), '--alternating-worker', str(out)])
    r0, r1 = torch.load(str(out) + '.0.pt'), torch.load(str(out) + '.1.pt')
    assert r0['phases'] == ['adv', 'alternating', 'alternating']
    # the NaN pose also comes up as other frames' TMC neighbour or bone partner
    assert r0['skipped'] == r1['skipped'] >= 1 and r0['step'] == r1['step'] == 12
    for part in ('weights', 'D'):                    # parameters: identical on the ranks
        for k, v in r0[part].items():
            assert torch.equal(v, r1[part][k]), k
            assert torch.isfinite(v).all(), k
    for part in ('G', 'D'):                          # ... and they started from the same weights
        assert all(torch.equal(v, r1['init'][part][k]) for k, v in r0['init'][part].items())
    # BatchNorm statistics: each rank's last forward updated its own (rank 0's are broadcast
    # at every DDP forward and before evaluation); rank 1's NaN batch left no trace
    assert all(torch.isfinite(b).all() for r in (r0, r1) for b in r['buffers'])
    one = _alternating_run(emulate_world=2)          # one process, the same global batches
    assert one['phases'] == r0['phases'] and one['step'] == 12 and one['skipped'] >= 1
    for run in (r0, one):
        n_lifter = len([k for k in run['init']['G'] if k.startswith('lifter_') and k.endswith('weight')])
        n_scaler = len([k for k in run['init']['G'] if k.startswith('scaler.') and k.endswith('weight')])
        assert len(_moved(run, 0, 'lifter_')) == n_lifter and _moved(run, 0, 'scaler.') == []
        assert len(_moved(run, 2, 'lifter_')) == n_lifter and len(_moved(run, 2, 'scaler.')) == n_scaler
        assert all(not torch.equal(v, run['init']['D'][k]) for k, v in run['D'].items() if k.endswith('weight'))


def _n_train(c, data):
    from lib.data.dataset import load_splits
    return len(load_splits(c, str(data), which=('train',))['train'])


def _equivalence_worker(out):
    from lib.utils import distributed as dist
    torch.set_num_threads(1)
    rank, world = dist.init(cpu=True)
    assert world == 2
    res = one_step(tiny_cfg(*EQUIV_OPTS), 16)
    torch.save(res, '%s.%d.pt' % (out, rank))
    dist.finish()


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    warnings.filterwarnings('ignore')
    if sys.argv[1] == '--equivalence-worker':
        _equivalence_worker(sys.argv[2])
    elif sys.argv[1] == '--alternating-worker':
        from lib.utils import distributed as dist
        torch.set_num_threads(1)
        rank, _ = dist.init(cpu=True)
        torch.save(_alternating_run(), '%s.%d.pt' % (sys.argv[2], rank))
        dist.finish()


# --- atomic checkpoints ---------------------------------------------------------------

def _two_states():
    a = {'pose_model_state_dict': {'w': torch.zeros(1000)}, 'epoch': 1}
    b = {'pose_model_state_dict': {'w': torch.ones(1000)}, 'epoch': 2}
    return a, b


def _assert_intact(path, folder):
    from lib.models.checkpoint import load_checkpoint
    ck = load_checkpoint(str(path))
    assert ck['epoch'] == 1 and float(ck['pose_model_state_dict']['w'].sum()) == 0
    assert os.listdir(str(folder)) == [os.path.basename(str(path))]     # no temporary files left


@pytest.mark.parametrize('crash_in', ['write', 'fsync', 'replace'])
def test_crash_during_save_leaves_the_old_checkpoint(crash_in, tmp_path, monkeypatch):
    from lib.utils import safe_io
    from lib.models.checkpoint import save_checkpoint
    path = tmp_path / 'run' / 'checkpoint.pth.tar'
    a, b = _two_states()
    save_checkpoint(a, str(path))
    if crash_in == 'write':                 # killed half-way through writing the bytes
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(bytes(data)[:len(data) // 2])
                raise KeyboardInterrupt('killed')

            def __getattr__(self, k):
                return getattr(self.f, k)
        monkeypatch.setattr(safe_io.os, 'fdopen', lambda fd, mode: HalfFile(real_fdopen(fd, mode)))
        exc = KeyboardInterrupt
    elif crash_in == 'fsync':
        def boom(fd):
            raise OSError(5, 'Input/output error')
        monkeypatch.setattr(safe_io.os, 'fsync', boom)
        exc = OSError
    else:                                   # disk full / killed just before the rename
        def boom(src, dst):
            raise OSError(28, 'No space left on device')
        monkeypatch.setattr(safe_io.os, 'replace', boom)
        exc = OSError
    with pytest.raises(exc):
        save_checkpoint(b, str(path))
    monkeypatch.undo()
    _assert_intact(path, path.parent)


def test_atomic_write_makes_normal_permissions(tmp_path):
    from lib.utils.safe_io import atomic_write
    mask = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / 'f.json'), 'w') as f:
            f.write('{}')
    finally:
        os.umask(mask)
    assert (os.stat(tmp_path / 'f.json').st_mode & 0o777) == 0o644


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


def test_ema_update_rule():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(m, 0.9)
    w0 = m[0].weight.detach().clone()
    with torch.no_grad():
        m[0].weight.add_(1.0)
    m.train()(torch.randn(4, 2))                      # BN buffers move too
    ema.update(m)
    assert torch.allclose(ema.module[0].weight, 0.9 * w0 + 0.1 * (w0 + 1.0))
    assert ema.module[1].num_batches_tracked.item() == m[1].num_batches_tracked.item()
    assert not any(p.requires_grad for p in ema.module.parameters())
