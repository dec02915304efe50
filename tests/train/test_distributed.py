"""Several gloo processes (DistributedDataParallel, lib/utils/distributed.py).

The tests run 2 gloo processes on the CPU with ``torchrun`` (``python -m
torch.distributed.run``); this file is also the worker script of those tests (``__main__``
at the bottom)."""
import glob
import json
import os
import socket
import subprocess
import sys
import types
import warnings

import pytest
import torch

from helpers import REPO, TESTS, tiny_cfg, tiny_split
from lib.config.defaults import get_default
from lib.train import step as T
from lib.train import schedule as TS

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(args, env_extra=None, timeout=240):
    # the workers (this file run as a script) import lib and the test helpers
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([REPO, TESTS]))
    env.update(env_extra or {})
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(free_port())] + args
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


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
