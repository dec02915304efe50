"""Training and evaluation speed, measured against the model's own compute floor.

    python tools/benchmark_speed.py --device cpu --scale 0.01          # a quick look on a CPU
    python tools/benchmark_speed.py --device cuda --scale 1.0          # Human3.6M's full size

A synthetic dataset of Human3.6M's size (1,559,752 training poses in 600
sequences over 4 cameras, 543,344 test poses in 236 sequences; ``--scale F``
keeps a fraction F of both) is built in memory as the readers would return
it (:class:`lib.data.dataset.PoseSplit`, float64 pixels and metres), then
turned into device tensors by the project's own :class:`TensorSplit`.
Measured on ``--device``:

1. **floor**: steps per second of the full training step -- generator
   forward (both lifts of the rotation cycle, for the current, neighbour and
   bone-partner frames as the config needs), backward, Adam step, and the
   discriminator steps -- on batches gathered in advance and already on the
   device.  Nothing else runs: no indexing, no sampling, no logging, no
   finiteness check.
2. **pipeline**: the same steps run by ``lib.core.train.train_epoch`` (the
   code ``tools/main.py`` runs), fed by the real data path: the epoch
   permutation, ``TensorSplit.batch`` index gathers, the neighbour /
   bone-partner sampler, with TensorBoard logging every ``PRINT_INTERVAL``
   steps.  Floor and pipeline run in rounds that alternate which goes first
   (ABBA), so that a drift of the machine's speed hits both alike.
3. **evaluation**: ``lib.core.evaluate.evaluate`` (lift + every metric,
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
import argparse
import json
import logging
import math
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lib.core import train as T  # noqa: E402
from lib.core.config import apply_opts, get_default, update_config  # noqa: E402
from lib.core.evaluate import compute_metrics, evaluate, predict  # noqa: E402
from lib.core.state import TrainState, seed_everything  # noqa: E402
from lib.data import skeleton as sk  # noqa: E402
from lib.data.batches import TensorSplit  # noqa: E402
from lib.data.dataset import PoseSplit  # noqa: E402
from lib.data.skeleton import STANDING_POSE_V3D as _TEMPLATE  # noqa: E402


H36M_TRAIN_POSES, H36M_TRAIN_SEQS = 1559752, 600     # S1 S5 S6 S7 S8, 4 cameras
H36M_TEST_POSES, H36M_TEST_SEQS = 543344, 236        # S9 S11, 4 cameras
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def synthetic_split(n, n_seq, seed, name):
    """A PoseSplit of ``n`` poses in ``n_seq`` contiguous sequences over 4 cameras.

    Each sequence: a skeleton of random size turning about the vertical and
    swinging its limbs, 4.5-6 m in front of the camera, projected with a
    pinhole camera (f = 1145 px).  Built in chunks of sequences, so the
    temporaries stay small next to the float64 arrays a reader returns.
    """
    rng = np.random.RandomState(seed)
    n_seq = max(4, min(n_seq, n // 8))
    cut = np.sort(rng.choice(np.arange(1, n), n_seq - 1, replace=False))
    lens = np.diff(np.concatenate([[0], cut, [n]]))
    p3 = np.empty((n, 17, 3))
    p2 = np.empty((n, 17, 2))
    tmpl = sk.v3d_to_ours(_TEMPLATE)
    swing = np.zeros((17, 3))
    for j in (sk.V3D_TO_OURS.tolist().index(k) for k in (2, 3, 12, 13)):
        swing[j, 2] = 0.25
    for j in (sk.V3D_TO_OURS.tolist().index(k) for k in (5, 6, 15, 16)):
        swing[j, 2] = -0.25
    start = 0
    for s, L in enumerate(lens):
        t = np.arange(L) / 50.0
        ph = np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6.3))[:, None, None]
        X = tmpl[None] * rng.uniform(0.85, 1.1) + ph * swing[None]
        yaw = rng.uniform(-3, 3) + 0.6 * t
        c, sn = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        x, z = X[..., 0] * c + X[..., 2] * sn, -X[..., 0] * sn + X[..., 2] * c
        X = np.stack([x, X[..., 1], z], -1)
        X[..., 0] += 0.5 * np.sin(0.3 * t + s)[:, None]
        X[..., 1] += 0.2
        X[..., 2] += rng.uniform(4.5, 6.0) + 0.3 * np.cos(0.2 * t)[:, None]
        p3[start:start + L] = X
        p2[start:start + L] = X[..., :2] / X[..., 2:3] * 1145.0 + np.array([512.0, 515.0])
        start += L
    seq = np.repeat(np.arange(n_seq), lens)
    split = PoseSplit(p2, p3, np.array(['S%d' % (1 + s // 120) for s in range(n_seq)])[seq],
                      np.array(['Action%d %d' % (s // 8 % 15, s // 4 % 2 + 1) for s in range(n_seq)])[seq],
                      (seq % 4).astype(np.int64), np.concatenate([np.arange(L) for L in lens]),
                      source='synthetic %s' % name)
    return split.finish()


def build_config(args):
    cfg = get_default()
    update_config(cfg, os.path.join(REPO, args.cfg) if not os.path.isabs(args.cfg) else args.cfg)
    cfg.TRAIN.PRETRAIN_LIFTER = False
    cfg.TRAIN.WARM_START_EPOCHS = 0
    cfg.COMPAT.EPOCH_END_FORWARD = False     # the pipeline's short "epochs" would each add one forward
    opts = ['BATCH_SIZE', str(args.batch_size)] if args.batch_size else []
    apply_opts(cfg, opts + list(args.opts))
    return cfg


def floor_step(state, batch, cfg, scheme_name):
    """One training step as ``train_epoch`` runs it, minus the finiteness check and logging."""
    phase, lifter_on, scaler_on = T.phase_of_step(cfg, scheme_name, state.step)
    T.set_trainable(state.model, lifter_on, scaler_on)
    with state.autocast():
        terms = T.generator_losses(state.fwd_model, state.D, state.Dt, batch, cfg, phase, scheme_name)
        loss = sum(w * v for w, v in terms.values())
    state.opt_g.zero_grad(set_to_none=not cfg.COMPAT.FROZEN_KEEP_MOMENTUM)
    loss.backward()
    state.opt_g.step()
    if state.ema is not None:
        state.ema.update(state.model)
    if phase in ('joint', 'mainnet', 'adv'):
        with state.autocast():
            T.discriminator_step(state.fwd_model, state.D, state.Dt, state.opt_d, state.opt_dt, batch,
                                 cfg, state.gan_step, phase != 'adv')
        state.gan_step += 1
    state.step += 1


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=('cpu', 'cuda'))
    p.add_argument('--scale', type=float, default=1.0, help='fraction of Human3.6M\'s size (default 1.0)')
    p.add_argument('--cfg', default='cfg/pre_tmc_klbone.yaml', help='config giving the network and losses')
    p.add_argument('--batch-size', type=int, default=0, help='override BATCH_SIZE (default: the config\'s)')
    p.add_argument('--steps', type=int, default=0,
                   help='steps per round for floor and pipeline each, rounded up to whole periods of the '
                        'schedule (default: one period on CPU, 200 on CUDA)')
    p.add_argument('--rounds', type=int, default=4,
                   help='floor / pipeline rounds, in alternating order (default 4; use an even number)')
    p.add_argument('--eval-poses', type=int, default=0,
                   help='evaluate only the first N test poses (default: the whole test split)')
    p.add_argument('--eval-precision', choices=('fp32', 'bf16', 'both'), default='both',
                   help='evaluation precision(s) to time: the headline figure is EVAL.PRECISION\'s '
                        '(default fp32), "both" (default) also times the other')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (default: torch\'s choice)')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[],
                   help='KEY VALUE config overrides, e.g. TRAIN.AMP true TRAIN.COMPILE true')
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            p.error('--device cuda but CUDA is not available')
        device = torch.device('cuda', torch.cuda.current_device())
    cfg = build_config(args)
    torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK
    seed_everything(cfg.RANDOM_SEED)
    sch = T.scheme(cfg, 0)
    cycle = schedule_period(cfg, sch)
    steps = args.steps or (200 if device.type == 'cuda' else 1)
    steps = -(-steps // cycle) * cycle                  # whole periods of the step schedule
    B = cfg.BATCH_SIZE
    print('device %s (%s), %d threads, torch %s' % (device, _device_name(device), torch.get_num_threads(),
                                                     torch.__version__))
    print('config %s: scheme %s, batch %d, %d channels, %d lifter blocks, AMP %s, COMPILE %s'
          % (args.cfg, sch, B, cfg.NETWORK.NUM_CHANNELS, cfg.NETWORK.LIFTER_RES_BLOCKS, cfg.TRAIN.AMP,
             cfg.TRAIN.COMPILE))
    load = os.getloadavg()
    print('load average at start: %.2f %.2f %.2f' % load)
    busy = busy_cores()
    if device.type == 'cpu' and torch.get_num_threads() > 1 and busy is not None and busy > 0.5:
        print('note: other processes are using %.1f of this CPU\'s cores; with %d threads each PyTorch '
              'operation waits for its slowest thread, which can cost 10x or more: --threads 1 gives '
              'steadier figures' % (busy, torch.get_num_threads()))

    # --- data ------------------------------------------------------------
    t0 = time.perf_counter()
    n_train, n_test = round(H36M_TRAIN_POSES * args.scale), round(H36M_TEST_POSES * args.scale)
    train_split = synthetic_split(n_train, round(H36M_TRAIN_SEQS * min(1.0, args.scale * 4)), 1, 'train')
    train = TensorSplit.from_split(train_split, cfg, device, train=True)
    del train_split                                  # tools/main.py keeps only the tensors too
    test_split = synthetic_split(n_test, round(H36M_TEST_SEQS * min(1.0, args.scale * 4)), 2, 'test')
    test = TensorSplit.from_split(test_split, cfg, device, train=False)
    print('data: %d training poses, %d test poses (scale %g), built in %.1f s; %s'
          % (len(train), len(test), args.scale, time.perf_counter() - t0, memory()))
    gt = test_split.pose_3d                          # the metrics alone, on a stand-in prediction
    t = time.perf_counter()
    compute_metrics((gt - gt[:, sk.ROOT:sk.ROOT + 1]) * 1.4, gt, test_split.action_group)
    metrics_s = time.perf_counter() - t
    del gt

    # --- the data path alone -----------------------------------------------
    need_nb, need_far = T.needs(cfg, sch)
    g = torch.Generator(device=device)
    g.manual_seed(0)
    perm = T.epoch_permutation(len(train), 0, 0, device=device)
    n_b = min(200, len(perm) // B) or 1
    sync(device)
    t = time.perf_counter()
    for k in range(n_b):
        train.batch(perm[k * B:(k + 1) * B], cfg, g, need_nb, need_far)
    sync(device)
    data_bps = n_b / (time.perf_counter() - t)

    # --- training: floor and pipeline, alternating -----------------------
    if len(train) < B:
        print('error: --scale %g gives %d training poses, fewer than one batch of %d: raise --scale'
              % (args.scale, len(train), B), file=sys.stderr)
        return 2
    state = TrainState(cfg, device)
    full = len(train) // B                            # full batches per epoch
    ready = [train.batch(perm[k * B:(k + 1) * B], cfg, g, need_nb, need_far) for k in range(min(4, full))]
    tmp = tempfile.TemporaryDirectory(prefix='bench_speed_')
    from tensorboardX import SummaryWriter
    log = logging.getLogger('benchmark_speed')
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(logging.FileHandler(os.path.join(tmp.name, 'train.log')))
    state.writer = SummaryWriter(os.path.join(tmp.name, 'tb'))

    def pipeline(epoch, n):
        """n steps of full batches through train_epoch (several epochs if one is shorter), so
        that the pipeline does the floor's work: no short last batch of an epoch."""
        while n > 0:
            k = min(n, full)
            cfg.TRAIN.MAX_STEPS_PER_EPOCH = k
            state.step_in_epoch = 0
            T.train_epoch(state, train, cfg, epoch, logger=log)
            n -= k
            epoch += 1

    t = time.perf_counter()
    for k in range(cycle):                           # warm-up: allocator, autotuning, torch.compile
        floor_step(state, ready[k % len(ready)], cfg, sch)
    pipeline(0, cycle)
    sync(device)
    print('warm-up (%d + %d steps) %.1f s' % (cycle, cycle, time.perf_counter() - t))

    def run_floor():
        for k in range(steps):
            floor_step(state, ready[k % len(ready)], cfg, sch)

    # rounds alternate the order (floor first, then pipeline first: ABBA), so that a steady
    # drift of the machine's speed during the run cancels over an even number of rounds
    floor_t, pipe_t = [], []
    for r in range(args.rounds):
        order = (('floor', run_floor), ('pipeline', lambda: pipeline(1 + r, steps)))
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            (floor_t if name == 'floor' else pipe_t).append(time.perf_counter() - t)
        print('round %d: floor %.4g steps/s, pipeline %.4g steps/s (%d steps each)'
              % (r + 1, steps / floor_t[-1], steps / pipe_t[-1], steps))
    state.writer.close()
    print('after training: %s' % memory())
    floor = steps * len(floor_t) / sum(floor_t)
    pipe = steps * len(pipe_t) / sum(pipe_t)

    # --- evaluation --------------------------------------------------------
    if args.eval_poses:
        keep = slice(0, min(args.eval_poses, len(test_split)))
        for name in ('pose_2d_px', 'pose_3d', 'subject', 'action', 'camera', 'frame'):
            setattr(test_split, name, getattr(test_split, name)[keep])
        test.pose_2d = test.pose_2d[keep]
    # the config's EVAL.PRECISION (default fp32) is the headline; --eval-precision both also
    # times the other one, on the same model and test split
    precisions = [cfg.EVAL.PRECISION]
    if args.eval_precision == 'both':
        precisions += [p_ for p_ in ('fp32', 'bf16') if p_ != cfg.EVAL.PRECISION]
    elif args.eval_precision != cfg.EVAL.PRECISION:
        precisions = [args.eval_precision]
    evals = {}
    for prec in precisions:
        cfg.EVAL.PRECISION = prec
        predict(state.model, test.pose_2d[:8192], precision=prec)         # warm-up
        sync(device)
        t = time.perf_counter()
        res = evaluate(state.model, test, test_split, cfg, write=False)
        sync(device)
        sec = time.perf_counter() - t
        evals[prec] = {'seconds': round(sec, 2), 'poses_per_s': round(res['num_poses'] / sec, 1),
                       'MPJPE': round(res['MPJPE'], 3), 'P-MPJPE': round(res['P-MPJPE'], 3)}
        print('after evaluation (%s): %s' % (prec, memory()))
    head = evals[precisions[0]]
    eval_s, eval_pps = head['seconds'], head['poses_per_s']

    out = {'floor_steps_per_s': round(floor, 4), 'pipeline_steps_per_s': round(pipe, 4),
           'ratio': round(pipe / floor, 4), 'eval_poses_per_s': eval_pps,
           'eval_seconds': eval_s, 'eval_poses': res['num_poses'], 'eval_precision': precisions[0],
           'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}
    if device.type == 'cuda':
        out['peak_cuda_mb'] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    out.update({'device': _device_name(device), 'scale': args.scale, 'batch_size': B, 'cfg': args.cfg,
                'data_batches_per_s': round(data_bps, 1), 'metrics_seconds': round(metrics_s, 2),
                'eval_by_precision': evals, 'loadavg_end': round(os.getloadavg()[0], 2)})
    print('data path alone: %.0f batches/s (index gathers + neighbour / partner sampling)' % data_bps)
    print('floor    %.4g steps/s  (%.0f poses/s)' % (floor, floor * B))
    print('pipeline %.4g steps/s  (%.0f poses/s)' % (pipe, pipe * B))
    print('ratio pipeline / floor: %.3f' % (pipe / floor))
    for prec, e in evals.items():
        print('evaluation %s: %d poses in %.2f s = %.0f poses/s (of which the metrics alone: %.2f s)'
              % (prec, res['num_poses'], e['seconds'], e['poses_per_s'], metrics_s))
    if len(evals) == 2:
        print('bf16 - fp32 on this synthetic data: MPJPE %+.3f, P-MPJPE %+.3f (mm; a barely trained '
              'network: see docs/PERFORMANCE.md for trained models)'
              % (evals['bf16']['MPJPE'] - evals['fp32']['MPJPE'],
                 evals['bf16']['P-MPJPE'] - evals['fp32']['P-MPJPE']))
    print('peak host RSS %.0f MB%s' % (out['peak_rss_mb'], ', peak CUDA %.0f MB' % out['peak_cuda_mb']
                                        if 'peak_cuda_mb' in out else ''))
    print('load average at end: %.2f %.2f %.2f' % os.getloadavg())
    tmp.cleanup()
    print(json.dumps(out))
    return 0


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


def _device_name(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    try:
        with open('/proc/cpuinfo') as f:
            model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), 'CPU')
    except OSError:
        model = 'CPU'
    return '%s, %d cores' % (model, os.cpu_count() or 0)


if __name__ == '__main__':
    sys.exit(main())
