"""Performance and scale: fast metrics, AMP and torch.compile smoke tests, several processes.

The multi-process tests run 2 gloo processes on the CPU with ``torchrun``
(``python -m torch.distributed.run``); this file is also the worker script of
the gradient-equivalence test (``__main__`` at the bottom).
"""
import glob
import json
import os
import socket
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from conftest import REPO
from lib.core import metrics as M
from lib.core import train as T
from lib.core.config import apply_opts, get_default
from lib.core.evaluate import compute_metrics
from lib.data.batches import TensorSplit

TINY = ['BATCH_SIZE', '16', 'NETWORK.NUM_CHANNELS', '16', 'NETWORK.LIFTER_RES_BLOCKS', '1',
        'NETWORK.DIS_RES_BLOCKS', '1', 'NETWORK.DIS_TEMP_RES_BLOCKS', '1']


@pytest.fixture(autouse=True)
def one_thread():
    """One thread (bitwise-repeatable sums, and no thread contention on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_cfg(*opts):
    cfg = get_default()
    apply_opts(cfg, TINY + list(opts))
    return cfg


def tiny_split(n=64, seqs=4, seed=0):
    """A TensorSplit of ``n`` random but plausible normalised 2D poses in ``seqs`` sequences."""
    rng = np.random.RandomState(seed)
    x = torch.as_tensor(rng.normal(0, 0.05, (n, 17, 2)), dtype=torch.float32)
    x[:, 13] = 1e-5                                   # the root, as normalise_2d leaves it
    L = n // seqs
    i = torch.arange(n)
    rot = torch.as_tensor(rng.uniform(-0.5, 0.5, (n, 3)), dtype=torch.float32)
    return TensorSplit(x, torch.zeros(n, 17, 3), i // L * L, i % L, torch.full((n,), L), rot, 1.0)


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


def test_action_group_runs():
    from lib.data.dataset import PoseSplit
    acts = np.array(['Directions 1', 'Directions 1', 'Walking_2', 'Directions', 'Sitting Down 2', 'Directions 1'])
    s = PoseSplit(np.zeros((6, 17, 2)), np.zeros((6, 17, 3)), np.array(['S9'] * 6), acts, np.zeros(6, int),
                  np.arange(6))
    assert s.action_group.tolist() == ['Directions', 'Directions', 'Walking', 'Directions', 'Sitting Down',
                                       'Directions']


# --- the speed benchmark's floor is the training step ---------------------------

def test_benchmark_floor_step_is_train_epochs_step():
    """tools/benchmark_speed.py's floor runs the very step train_epoch runs (same weights
    after a period of the alternating schedule with scaler, TMC and discriminator steps)."""
    from tools.benchmark_speed import floor_step, schedule_period
    from lib.core.state import TrainState, seed_everything
    # the floor times steps: without the end-of-epoch forward, as the benchmark runs it
    cfg = tiny_cfg('TRAIN.USE_SCALER', 'true', 'TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                   'COMPAT.EPOCH_END_FORWARD', 'false')
    sch = T.scheme(cfg, 0)
    n = schedule_period(cfg, sch)
    assert n == 6                                     # 2-step alternation x D every 3rd mainnet step
    cfg.TRAIN.MAX_STEPS_PER_EPOCH = n
    data = tiny_split(128)
    seed_everything(0)
    a = TrainState(cfg, torch.device('cpu'))
    T.train_epoch(a, data, cfg, 0)
    seed_everything(0)
    b = TrainState(cfg, torch.device('cpu'))
    g = torch.Generator()
    g.manual_seed(int(cfg.RANDOM_SEED))
    perm = T.epoch_permutation(len(data), cfg.RANDOM_SEED, 0)
    nb, far = T.needs(cfg, sch)
    for k in range(n):
        floor_step(b, data.batch(perm[k * 16:(k + 1) * 16], cfg, g, nb, far), cfg, sch)
    assert (a.step, a.gan_step) == (b.step, b.gan_step) == (6, 3)
    for m1, m2 in ((a.model, b.model), (a.D, b.D)):
        for (k, v), w in zip(m1.state_dict().items(), m2.state_dict().values()):
            assert torch.equal(v, w), k


# --- mixed precision and torch.compile ------------------------------------------

def test_benchmark_speed_end_to_end_prints_the_json_line():
    """tools/benchmark_speed.py with a small network: every figure of the issue in the last
    line, both evaluation precisions timed, and a one-line error for a too-small --scale."""
    def run(*args):
        return subprocess.run([sys.executable, 'tools/benchmark_speed.py', '--device', 'cpu',
                               '--threads', '1'] + list(args), cwd=REPO, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    r = run('--scale', '0.002', '--rounds', '1', '--eval-poses', '512', '--opts',
            'NETWORK.NUM_CHANNELS', '32', 'NETWORK.LIFTER_RES_BLOCKS', '1', 'BATCH_SIZE', '512')
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for k in ('floor_steps_per_s', 'pipeline_steps_per_s', 'ratio', 'eval_poses_per_s', 'peak_rss_mb'):
        assert out[k] > 0, k
    assert out['eval_poses'] == 512 and out['eval_precision'] == 'fp32'
    assert set(out['eval_by_precision']) == {'fp32', 'bf16'}
    assert 'evaluation bf16: 512 poses' in r.stdout
    r = run('--scale', '0.0001')
    assert r.returncode == 2 and 'fewer than one batch' in r.stderr and '{' not in r.stdout


def _train_steps(cfg, n_steps=2):
    from lib.core.state import TrainState, seed_everything
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
    from lib.core import state as S
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
    eager = S.get_pose_model(cfg)
    eager.load_state_dict(sd)
    eager.eval(), state.model.eval()
    x, rot = tiny_split(64).pose_2d[:8], torch.zeros(8, 3)
    with torch.no_grad():
        a, b = state.model(x, rot), eager(x, rot)
    assert torch.allclose(a.recn_3d, b.recn_3d, atol=1e-5) and torch.allclose(a.est_3d, b.est_3d, atol=1e-5)
    torch._dynamo.reset()


def test_compile_without_compiler_falls_back_with_a_warning(monkeypatch):
    from lib.core import state as S
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
    from lib.core.state import TrainState, seed_everything
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
    from lib.core.state import TrainState, seed_everything
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
    from lib.core.config import update_config
    from lib.data.dataset import load_splits
    c = get_default()
    update_config(c, str(cfg))
    n_test = len(load_splits(c, str(data), which=('test',))['test'])
    assert res['num_poses'] == n_test and len(res['history']) == 2
    ck = torch.load(str(out / 'checkpoint.pth.tar'), weights_only=False)
    assert ck['train_state']['step'] == 2 * T.steps_per_epoch(_n_train(c, data), c, 2)
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
    from lib.core.state import TrainState, seed_everything
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


def _alternating_run():
    """3 epochs of 4 steps: the adv warm start (scaler bypassed), then the alternating scheme
    (subnet / mainnet steps freezing the lifter or the scaler, KL + bone over the bone-partner
    forward, TMC over the neighbour forward).  Under torchrun rank 1's share holds a NaN pose,
    so that the ranks must agree to skip a step.  Returns weights, counters and phases."""
    from lib.core.state import TrainState, seed_everything
    from lib.utils import distributed as dist
    seed_everything(0)
    cfg = tiny_cfg(*ALT_OPTS)
    rank, world = dist.rank_world()
    state = TrainState(cfg, torch.device('cpu'), rank, world)
    dist.wrap(state)
    data = tiny_split(32 * world, 2)
    if rank == 1:
        perm = T.epoch_permutation(len(data), cfg.RANDOM_SEED, 1, rank, world)
        data.pose_2d[perm[5]] = float('nan')          # a frame of rank 1's share of epoch 1
    phases = []
    for epoch in range(cfg.TRAIN.NUM_EPOCHS):
        state.step_in_epoch = 0
        assert T.train_epoch(state, data, cfg, epoch) == 'done'
        phases.append(T.scheme(cfg, epoch))
    return {'weights': {k: v.detach().clone() for k, v in state.model.named_parameters()},
            'D': {k: v.detach().clone() for k, v in state.D.named_parameters()},
            'buffers': [b.detach().clone() for b in state.model.buffers()],
            'skipped': state.skipped, 'step': state.step, 'phases': phases}


def test_ddp_alternating_scheme_frozen_modules_and_a_skipped_step(tmp_path):
    """Two gloo ranks through everything DistributedDataParallel finds awkward here: several
    forwards before one backward, the scaler bypassed (warm start) or frozen and the lifter
    frozen from step to step (find_unused_parameters), generator GAN terms through the plain
    discriminator, and a step both ranks skip because one rank's loss is NaN.  The ranks end
    with identical, finite parameters that moved; the step counts match one process's."""
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
    # BatchNorm statistics: each rank's last forward updated its own (rank 0's are broadcast
    # at every DDP forward and before evaluation); rank 1's NaN batch left no trace
    assert all(torch.isfinite(b).all() for r in (r0, r1) for b in r['buffers'])
    one = _alternating_run()                          # one process: the same schedule, moved weights
    assert one['step'] == 12 and one['skipped'] == 0
    moved = [k for k, v in r0['weights'].items() if k.endswith('weight') and
             not torch.equal(v, one['weights'][k])]
    assert any(k.startswith('scaler.') for k in moved) and any(k.startswith('lifter_') for k in moved)


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


# --- opt-in bf16 evaluation (EVAL.PRECISION) --------------------------------------

def _model_with_bn_stats(seed=0, *opts):
    """A PoseModel (scaler on, 2 lifter blocks) with non-trivial BN statistics and affine
    parameters, as a trained network has them."""
    from lib.models.pose_model import get_pose_model
    torch.manual_seed(seed)
    cfg = tiny_cfg('NETWORK.NUM_CHANNELS', '64', 'NETWORK.LIFTER_RES_BLOCKS', '2',
                   'TRAIN.USE_SCALER', 'true', *opts)
    m = get_pose_model(cfg)
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
    from lib.core.lifting import lift_in_batches
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
    from lib.core.config import validate
    from lib.core.lifting import lift_in_batches
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
