"""Per-step cost of the structure candidates (docs/STRUCTURE_STUDY.md) against adv, on one CPU thread.

    python -m lib.bench.candidates --data_dir output/benchmark_accuracy/data [--steps 30 --rounds 3]

Each variant (adv, sym, prop, flow, elev: cfg/bench_<name>.yaml) gets its own TrainState on the same
training split (the benchmark's data from ``--data_dir``, or a synthetic split of 40,000 poses),
and the variants' steps are timed in turns, round after round (the order reversed every other
round), so that a drift of a shared machine's speed falls on all alike.  The flow's fit is timed
once, apart (a cost per run, not per step).  Prints steps per second of each and its ratio to adv.
"""
import argparse
import time

import torch

from lib.bench.speed import build_config
from lib.data.batches import TensorSplit
from lib.data.dataset import load_splits
from lib.data.formats import pose_model_args
from lib.data.synthetic import synthetic_split
from lib.train import flow_prior
from lib.train import schedule as TS
from lib.train import step as T
from lib.train.state import TrainState

VARIANTS = ('adv', 'sym', 'prop', 'flow', 'elev')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data_dir', default='', help='a prepared benchmark data folder (data_*_bench*.npz)')
    p.add_argument('--steps', type=int, default=30, help='steps per variant and round')
    p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device('cpu')
    cfgs = {v: build_config('cfg/bench_%s.yaml' % v, opts=['DATA_DIR', a.data_dir] if a.data_dir else [])
            for v in VARIANTS}
    split = load_splits(cfgs['adv'], a.data_dir)['train'] if a.data_dir else synthetic_split(40000, 100, 1, 'train')
    runs = {}
    for v, cfg in cfgs.items():
        data = TensorSplit.from_split(split, cfg, device, train=True)
        state = TrainState(cfg, device)
        if cfg.TRAIN.FLOW_WEIGHT:
            state.flow, nll, seconds = flow_prior.fit(cfg, data.pose_2d, pose_model_args(cfg)['root'])
            print('flow fit: %d poses, %.1f s, train NLL %.3f' % (len(data), seconds, nll))
        runs[v] = (cfg, data, state, TS.epoch_permutation(len(data), 0, 0), TS.epoch_scheme(cfg, 0))
    n_batches = len(split) // cfgs['adv'].BATCH_SIZE
    times = {v: 0.0 for v in VARIANTS}
    k = {v: 0 for v in VARIANTS}

    def steps(v, n):
        cfg, data, state, perm, scheme = runs[v]
        B = cfg.BATCH_SIZE
        t = time.perf_counter()
        for _ in range(n):
            j = k[v] % n_batches
            batch = data.batch(perm[j * B:(j + 1) * B], cfg, state.sampling_rng)
            T.train_step(state, batch, cfg, scheme, k[v])
            k[v] += 1
        return time.perf_counter() - t

    for v in VARIANTS:
        steps(v, 3)                                    # warm-up
    for r in range(a.rounds):
        for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
            times[v] += steps(v, a.steps)
    n = a.steps * a.rounds
    for v in VARIANTS:
        print('%-5s %.3f steps/s  %.3fx adv\'s time per step' % (v, n / times[v], times[v] / times['adv']))


if __name__ == '__main__':
    main()
