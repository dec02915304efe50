"""Training and evaluation speed, measured against the model's own compute floor
(``tools/benchmark_speed.py`` is its command line).

A synthetic dataset of Human3.6M's size (1,559,752 training poses in 600
sequences over 4 cameras, 543,344 test poses in 236 sequences; ``--scale F``
keeps a fraction F of both) is built in memory as the readers would return
it (:class:`lib.data.split.PoseSplit`, float64 pixels and metres), then
turned into device tensors by the project's own :class:`TensorSplit`.
Measured on ``--device``:

1. **floor**: steps per second of ``lib.train.step.train_step`` -- the training
   step itself: generator forward (both lifts of the rotation cycle, for the
   current, neighbour and bone-partner frames as the config needs), backward,
   Adam step, and the discriminator steps -- on batches gathered in advance and
   already on the device.  Nothing else runs: no indexing, no sampling, no
   logging, no finiteness check (``check_finite=False``).
2. **pipeline**: the same steps run by ``lib.train.step.train_epoch`` (the
   code ``tools/main.py`` runs), fed by the real data path: the epoch
   permutation, ``TensorSplit.batch`` index gathers, the neighbour /
   bone-partner sampler, with TensorBoard logging every ``PRINT_INTERVAL``
   steps.  Floor and pipeline run in rounds that alternate which goes first
   (ABBA), so that a drift of the machine's speed hits both alike.
3. **evaluation**: ``lib.eval.evaluate.evaluate`` (lift + every metric,
   P-MPJPE included) over the whole synthetic test split, in poses per second,
   in float32 (``EVAL.PRECISION``'s default: the headline figure) and with the
   opt-in bf16 residual blocks (``EVAL.PRECISION bf16``, lib/models/precision.py).
4. **peak memory**: host RSS of this process (``ru_maxrss``: dataset build
   included) and, on CUDA, ``torch.cuda.max_memory_allocated``.

Floor and pipeline are timed over whole periods of the step schedule
(subnet / mainnet alternation, a discriminator step every NUM_CRITICS-th
step), so that both do the same work.  Also printed: the data path alone
(batches per second) and the metrics' share of the evaluation time.

The last line printed is one JSON object: floor_steps_per_s,
pipeline_steps_per_s, ratio, eval_poses_per_s, peak_rss_mb (and peak_cuda_mb
on CUDA), plus eval_seconds, eval_poses, eval_precision (of the headline
figures), eval_by_precision, metrics_seconds, data_batches_per_s,
device, scale, batch_size, cfg and loadavg_end.  The network is the config's
(default cfg/pre_tmc_klbone.yaml: 1024 channels, 4 lifter blocks, scaler, TMC
and the alternating scheme, batch 1024), trained from scratch on random
weights; ``--opts TRAIN.AMP true`` / ``TRAIN.COMPILE true`` measure those.
On a CPU shared with other work, ``--threads 1`` gives steadier figures (see
docs/PERFORMANCE.md).
"""

import json
import logging
import math
import os
import resource
import tempfile
import time

import torch

from lib.config.defaults import get_default
from lib.config.load import apply_opts, update_config
from lib.data import skeleton as sk
from lib.data.batches import TensorSplit
from lib.data.synthetic import synthetic_split
from lib.eval.evaluate import compute_metrics, evaluate
from lib.eval.lifting import lift_in_batches
from lib.train import step as T
from lib.train import schedule as TS
from lib.train.state import TrainState
from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT

H36M_TRAIN_POSES, H36M_TRAIN_SEQS = 1559752, 600     # S1 S5 S6 S7 S8, 4 cameras
H36M_TEST_POSES, H36M_TEST_SEQS = 543344, 236        # S9 S11, 4 cameras


def build_config(cfg_file, batch_size=0, opts=()):
    """The config's network and losses, trained from scratch with no warm start."""
    cfg = get_default()
    update_config(cfg, cfg_file if os.path.isabs(cfg_file) else os.path.join(REPO_ROOT, cfg_file))
    cfg.TRAIN.PRETRAIN_LIFTER = False
    cfg.TRAIN.WARM_START_EPOCHS = 0
    cfg.COMPAT.EPOCH_END_FORWARD = False     # the pipeline's short "epochs" would each add one forward
    apply_opts(cfg, (['BATCH_SIZE', str(batch_size)] if batch_size else []) + list(opts))
    return cfg


def floor_step(state, batch, cfg, scheme_name):
    """The compute floor: the training step itself (``train_step``) on a ready batch, its
    phase counted over the whole run, without the finiteness check."""
    return T.train_step(state, batch, cfg, scheme_name, state.step, check_finite=False)


def schedule_period(cfg, scheme_name):
    """Steps after which the schedule repeats: subnet / mainnet alternation and the
    discriminator steps (every NUM_CRITICS-th joint or mainnet step).  Floor and pipeline
    are timed over whole periods, so that each does the same work."""
    t = cfg.TRAIN
    L = t.NUM_CRITICS if t.USE_DIS else 1
    if t.USE_TEMP:
        L = L * t.NUM_CRITICS_TEMP // math.gcd(L, t.NUM_CRITICS_TEMP)
    if scheme_name != 'alternating':
        return L
    M = t.MAINNET_CRITICS
    return (t.SUBNET_CRITICS + M) * (L // math.gcd(M, L))


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def build_data(cfg, device, scale):
    """The synthetic train / test splits at ``scale`` times Human3.6M's size, as device tensors;
    also times the metrics alone on a stand-in prediction.  Returns (train, test, test split,
    metrics seconds)."""
    t0 = time.perf_counter()
    n_train, n_test = round(H36M_TRAIN_POSES * scale), round(H36M_TEST_POSES * scale)
    train_split = synthetic_split(n_train, round(H36M_TRAIN_SEQS * min(1.0, scale * 4)), 1, 'train')
    train = TensorSplit.from_split(train_split, cfg, device, train=True)
    del train_split                                  # tools/main.py keeps only the tensors too
    test_split = synthetic_split(n_test, round(H36M_TEST_SEQS * min(1.0, scale * 4)), 2, 'test')
    test = TensorSplit.from_split(test_split, cfg, device, train=False)
    print('data: %d training poses, %d test poses (scale %g), built in %.1f s; %s'
          % (len(train), len(test), scale, time.perf_counter() - t0, memory()))
    gt = test_split.pose_3d
    t = time.perf_counter()
    compute_metrics((gt - gt[:, sk.ROOT:sk.ROOT + 1]) * 1.4, gt, test_split.action_group)
    return train, test, test_split, time.perf_counter() - t


def time_data_path(train, cfg, scheme_name, device):
    """Batches per second of the data path alone (index gathers + neighbour / partner
    sampling), and a few ready batches for the floor."""
    need = TS.batch_needs(cfg, scheme_name)
    g = torch.Generator(device=device)
    g.manual_seed(0)
    perm = TS.epoch_permutation(len(train), 0, 0, device=device)
    B = cfg.BATCH_SIZE
    n_b = min(200, len(perm) // B) or 1
    sync(device)
    t = time.perf_counter()
    for k in range(n_b):
        train.batch(perm[k * B:(k + 1) * B], cfg, g, need.neighbour, need.partner)
    sync(device)
    bps = n_b / (time.perf_counter() - t)
    ready = [train.batch(perm[k * B:(k + 1) * B], cfg, g, need.neighbour, need.partner)
             for k in range(min(4, len(train) // B))]
    return bps, ready


class Training:
    """The floor (``floor_step`` on ready batches) and the pipeline (``train_epoch`` on the
    real data path, with TensorBoard logging) on one TrainState, for timing side by side."""

    def __init__(self, cfg, device, train, ready):
        self.cfg, self.device, self.train, self.ready = cfg, device, train, ready
        self.scheme = TS.epoch_scheme(cfg, 0)
        self.state = TrainState(cfg, device)
        self.full = len(train) // cfg.BATCH_SIZE      # full batches per epoch
        self.tmp = tempfile.TemporaryDirectory(prefix='bench_speed_')
        from tensorboardX import SummaryWriter
        self.log = logging.getLogger('benchmark_speed')
        self.log.propagate = False
        self.log.setLevel(logging.DEBUG)
        self.log.addHandler(logging.FileHandler(os.path.join(self.tmp.name, 'train.log')))
        self.state.writer = SummaryWriter(os.path.join(self.tmp.name, 'tb'))

    def floor(self, n):
        for k in range(n):
            floor_step(self.state, self.ready[k % len(self.ready)], self.cfg, self.scheme)

    def pipeline(self, epoch, n):
        """n steps of full batches through train_epoch (several epochs if one is shorter), so
        that the pipeline does the floor's work: no short last batch of an epoch."""
        while n > 0:
            k = min(n, self.full)
            self.cfg.TRAIN.MAX_STEPS_PER_EPOCH = k
            self.state.step_in_epoch = 0
            T.train_epoch(self.state, self.train, self.cfg, epoch, logger=self.log)
            n -= k
            epoch += 1

    def close(self):
        self.state.writer.close()
        self.tmp.cleanup()


def time_training(tr, steps, rounds):
    """Warm up, then ``rounds`` rounds of floor and pipeline, alternating which goes first
    (ABBA), so that a steady drift of the machine's speed cancels; steps per second of each."""
    cycle = schedule_period(tr.cfg, tr.scheme)
    t = time.perf_counter()
    tr.floor(cycle)                                   # warm-up: allocator, autotuning, torch.compile
    tr.pipeline(0, cycle)
    sync(tr.device)
    print('warm-up (%d + %d steps) %.1f s' % (cycle, cycle, time.perf_counter() - t))
    times = {'floor': [], 'pipeline': []}
    for r in range(rounds):
        order = (('floor', tr.floor), ('pipeline', lambda n, r=r: tr.pipeline(1 + r, n)))
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            sync(tr.device)
            t = time.perf_counter()
            fn(steps)
            sync(tr.device)
            times[name].append(time.perf_counter() - t)
        print('round %d: floor %.4g steps/s, pipeline %.4g steps/s (%d steps each)'
              % (r + 1, steps / times['floor'][-1], steps / times['pipeline'][-1], steps))
    print('after training: %s' % memory())
    return tuple(steps * len(v) / sum(v) for v in (times['floor'], times['pipeline']))


def time_evaluation(model, test, test_split, cfg, device, precisions, eval_poses=0):
    """Poses per second of ``evaluate`` (lift + every metric) over the test split, per precision."""
    if eval_poses:
        keep = slice(0, min(eval_poses, len(test_split)))
        for name in ('pose_2d_px', 'pose_3d', 'subject', 'action', 'camera', 'frame'):
            setattr(test_split, name, getattr(test_split, name)[keep])
        test.pose_2d = test.pose_2d[keep]
    evals = {}
    for prec in precisions:
        cfg.EVAL.PRECISION = prec
        lift_in_batches(model, test.pose_2d[:8192], precision=prec)         # warm-up
        sync(device)
        t = time.perf_counter()
        res = evaluate(model, test, test_split, cfg, write=False)
        sync(device)
        sec = time.perf_counter() - t
        evals[prec] = {'seconds': round(sec, 2), 'poses_per_s': round(res['num_poses'] / sec, 1),
                       'MPJPE': round(res['MPJPE'], 3), 'P-MPJPE': round(res['P-MPJPE'], 3),
                       'num_poses': res['num_poses']}
        print('after evaluation (%s): %s' % (prec, memory()))
    return evals


def eval_precisions(cfg, asked):
    """The config's EVAL.PRECISION first (the headline), then the other one for 'both'."""
    if asked == 'both':
        return [cfg.EVAL.PRECISION] + [p for p in ('fp32', 'bf16') if p != cfg.EVAL.PRECISION]
    return [asked]


def benchmark(cfg, device, scale, steps, rounds, precisions, eval_poses=0, cfg_name=''):
    """Everything the command measures; returns the JSON summary."""
    train, test, test_split, metrics_s = build_data(cfg, device, scale)
    if len(train) < cfg.BATCH_SIZE:
        raise UserError('--scale %g gives %d training poses, fewer than one batch of %d'
                        % (scale, len(train), cfg.BATCH_SIZE), '--scale', 'raise --scale')
    data_bps, ready = time_data_path(train, cfg, TS.epoch_scheme(cfg, 0), device)
    tr = Training(cfg, device, train, ready)
    cycle = schedule_period(cfg, tr.scheme)
    steps = -(-(steps or (200 if device.type == 'cuda' else 1)) // cycle) * cycle   # whole periods
    floor, pipe = time_training(tr, steps, rounds)
    tr.close()
    evals = time_evaluation(tr.state.model, test, test_split, cfg, device, precisions, eval_poses)
    head = evals[precisions[0]]
    out = {'floor_steps_per_s': round(floor, 4), 'pipeline_steps_per_s': round(pipe, 4),
           'ratio': round(pipe / floor, 4), 'eval_poses_per_s': head['poses_per_s'],
           'eval_seconds': head['seconds'], 'eval_poses': head['num_poses'], 'eval_precision': precisions[0],
           'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}
    if device.type == 'cuda':
        out['peak_cuda_mb'] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    out.update({'device': device_name(device), 'scale': scale, 'batch_size': cfg.BATCH_SIZE, 'cfg': cfg_name,
                'data_batches_per_s': round(data_bps, 1), 'metrics_seconds': round(metrics_s, 2),
                'eval_by_precision': evals, 'loadavg_end': round(os.getloadavg()[0], 2)})
    return out


def report(out):
    """The closing lines: the figures in words, then the JSON line."""
    B, floor, pipe = out['batch_size'], out['floor_steps_per_s'], out['pipeline_steps_per_s']
    print('data path alone: %.0f batches/s (index gathers + neighbour / partner sampling)'
          % out['data_batches_per_s'])
    print('floor    %.4g steps/s  (%.0f poses/s)' % (floor, floor * B))
    print('pipeline %.4g steps/s  (%.0f poses/s)' % (pipe, pipe * B))
    print('ratio pipeline / floor: %.3f' % (pipe / floor))
    evals = out['eval_by_precision']
    for prec, e in evals.items():
        print('evaluation %s: %d poses in %.2f s = %.0f poses/s (of which the metrics alone: %.2f s)'
              % (prec, e['num_poses'], e['seconds'], e['poses_per_s'], out['metrics_seconds']))
    if len(evals) == 2:
        print('bf16 - fp32 on this synthetic data: MPJPE %+.3f, P-MPJPE %+.3f (mm; a barely trained '
              'network: see docs/PERFORMANCE.md for trained models)'
              % (evals['bf16']['MPJPE'] - evals['fp32']['MPJPE'],
                 evals['bf16']['P-MPJPE'] - evals['fp32']['P-MPJPE']))
    print('peak host RSS %.0f MB%s' % (out['peak_rss_mb'], ', peak CUDA %.0f MB' % out['peak_cuda_mb']
                                        if 'peak_cuda_mb' in out else ''))
    print('load average at end: %.2f %.2f %.2f' % os.getloadavg())
    print(json.dumps(out))


def busy_cores(seconds=0.5):
    """Cores kept busy by other processes right now (this one sleeps meanwhile), from
    /proc/stat; None where that cannot be read.  Unlike the load average, it does not
    remember a run that has just ended."""
    def sample():
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)     # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (1.0 - (i1 - i0) / max(t1 - t0, 1)) * (os.cpu_count() or 1)


def memory():
    """'RSS now X MB, peak Y MB' for this process (Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open('/proc/self/statm') as f:
            now = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20
    except (OSError, ValueError):
        return 'peak RSS %.0f MB' % peak
    return 'RSS now %.0f MB, peak %.0f MB' % (now, peak)


def device_name(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    try:
        with open('/proc/cpuinfo') as f:
            model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), 'CPU')
    except OSError:
        model = 'CPU'
    return '%s, %d cores' % (model, os.cpu_count() or 0)


def print_setup(cfg, device, cfg_name):
    """The device, threads, config and how busy the machine is, before anything is timed."""
    print('device %s (%s), %d threads, torch %s' % (device, device_name(device), torch.get_num_threads(),
                                                     torch.__version__))
    print('config %s: scheme %s, batch %d, %d channels, %d lifter blocks, AMP %s, COMPILE %s'
          % (cfg_name, TS.epoch_scheme(cfg, 0), cfg.BATCH_SIZE, cfg.NETWORK.NUM_CHANNELS,
             cfg.NETWORK.LIFTER_RES_BLOCKS, cfg.TRAIN.AMP, cfg.TRAIN.COMPILE))
    print('load average at start: %.2f %.2f %.2f' % os.getloadavg())
    busy = busy_cores()
    if device.type == 'cpu' and torch.get_num_threads() > 1 and busy is not None and busy > 0.5:
        print('note: other processes are using %.1f of this CPU\'s cores; with %d threads each PyTorch '
              'operation waits for its slowest thread, which can cost 10x or more: --threads 1 gives '
              'steadier figures' % (busy, torch.get_num_threads()))
