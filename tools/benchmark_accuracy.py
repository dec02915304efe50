"""Accuracy benchmark on real motion capture: adv vs best vs supervised, over several seeds.

    python tools/benchmark_accuracy.py                         # the shared BVH set, 3 seeds
    python tools/benchmark_accuracy.py --src DIR --test-subjects martial --seeds 3 --out output/bench
    python tools/benchmark_accuracy.py --variants adv best scaler_only tmc dreal_scaled   # ablation

1. ``tools/prepare_data.py bvh`` converts the BVH collection (one pseudo-subject per
   sub-folder) into ``data_3d_bench.npz`` / ``data_2d_bench_gt.npz`` in ``--out/data``.
2. For every seed, every variant is trained with its config from ``cfg/`` (the same
   schedule for every collection) and its *final* model is evaluated on the test
   subjects (never the best-during-training checkpoint, which selects on the test set).
   The adv run of a seed is the warm start of every variant built on it, trained once.
3. The table prints the mean and the spread (std, min-max) over seeds per variant and
   metric, and the paired difference to adv for the same seed; ``benchmark.json`` keeps
   the per-variant means under ``adv`` / ``best`` / ``supervised`` -> ``MPJPE``,
   ``N-MPJPE``, ``P-MPJPE``, ``seconds``, plus ``per_seed``, ``spread`` and ``paired_vs_adv``.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from lib.utils.errors import UserError, run_main  # noqa: E402
from lib.utils.runtime import REPO_ROOT, cli_path  # noqa: E402

METRICS = ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale')

# variant -> (config in cfg/, --opts, warm-started from this seed's adv run?)
VARIANTS = {
    'adv': ('bench_adv.yaml', [], False),
    'best': ('bench_best.yaml', [], True),
    'supervised': ('bench_supervised.yaml', [], False),
    # best as the original computes its bone loss (bone vectors): the scale collapses, see README
    'best_bone_vectors': ('bench_best.yaml', ['COMPAT.BONE_LOSS', 'vectors'], True),
    # adv trained as long as adv + best, the control for the warm start
    'adv_continued': ('bench_best.yaml', ['TRAIN.USE_SCALER', 'false', 'TRAIN.USE_NEW_TEMP', 'false',
                                          'TRAIN.USE_CYCLE', 'false'], True),
    # ablation over the parts of best (all warm-started from the same adv run)
    'scaler_only': ('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false', 'TRAIN.SCALE_LOSS_WEIGHTS', '[0.0, 0.0]'], True),
    'scaler_kl': ('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false', 'TRAIN.SCALE_LOSS_WEIGHTS', '[0.001, 0.0]'], True),
    'scaler_klbone': ('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false'], True),
    'tmc': ('bench_best.yaml', ['TRAIN.USE_SCALER', 'false', 'TRAIN.USE_CYCLE', 'false'], True),
    'temp_d': ('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false', 'TRAIN.USE_TEMP', 'true'], True),
    'dreal_scaled': ('bench_best.yaml', ['TRAIN.DIS_REAL_SCALED', 'true'], True),
    'best_fixed': ('bench_best.yaml', ['COMPAT.ALTERNATE_OFF_BY_ONE', 'false', 'COMPAT.INVERSE_ROT_TILTED_AXIS', 'true',
                                       'COMPAT.TMC_FRAME', 'rotate_motion'], True),
}


def aggregate(per_seed, reference='adv'):
    """per_seed: {variant: {seed: {metric: value, 'seconds': s}}} -> summary dict.

    Means over seeds, spread (std with ddof 0, min, max) and the paired difference
    variant - reference for the seeds both have.
    """
    out = {}
    for v, runs in per_seed.items():
        seeds = sorted(runs)
        entry = {'seeds': seeds}
        for m in METRICS + ('seconds',):
            vals = np.array([runs[s][m] for s in seeds if m in runs[s]], float)
            if len(vals) == 0:
                continue
            entry[m] = float(vals.mean())
            entry.setdefault('spread', {})[m] = {'std': float(vals.std()), 'min': float(vals.min()),
                                                 'max': float(vals.max())}
        if reference in per_seed and v != reference:
            common = [s for s in seeds if s in per_seed[reference]]
            if common:
                entry['paired_vs_%s' % reference] = {}
                for m in METRICS:
                    d = np.array([runs[s][m] - per_seed[reference][s][m] for s in common])
                    entry['paired_vs_%s' % reference][m] = {'mean': float(d.mean()), 'min': float(d.min()),
                                                            'max': float(d.max()), 'n': len(common)}
        out[v] = entry
    return out


def format_summary(summary, reference='adv'):
    lines = ['%-14s %-19s %-19s %-19s %-13s %8s' % ('variant', 'MPJPE mean (min-max)', 'N-MPJPE', 'P-MPJPE',
                                                    'dMPJPE vs adv', 'seconds')]
    for v, e in summary.items():
        cell = lambda m: '%6.1f (%5.1f-%5.1f)' % (e[m], e['spread'][m]['min'], e['spread'][m]['max'])
        d = e.get('paired_vs_%s' % reference, {}).get('MPJPE')
        dtxt = '%+6.1f (%+.1f..%+.1f)' % (d['mean'], d['min'], d['max']) if d else '-'
        lines.append('%-14s %-19s %-19s %-19s %-13s %8.0f' % (v, cell('MPJPE'), cell('N-MPJPE'), cell('P-MPJPE'),
                                                           dtxt, e['seconds']))
    return '\n'.join(lines)


def run(cmd, log_path, threads=0):
    env = dict(os.environ)
    if threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    with open(log_path, 'w') as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    if r.returncode != 0:
        tail = open(log_path).read().strip().splitlines()[-1:] or ['?']
        raise UserError('a benchmark run failed (%s)' % tail[0], log_path, 'see the log')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--src', default=os.path.join(REPO_ROOT, '..', 'shared', 'data', 'mocap_bvh'),
                   help='BVH collection, one sub-folder per pseudo-subject')
    p.add_argument('--test-subjects', nargs='+', default=['martial'],
                   help='sub-folders held out for testing (default: martial; salsa trains)')
    p.add_argument('--out', default=os.path.join(REPO_ROOT, 'output', 'benchmark_accuracy'))
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--variants', nargs='+', default=['adv', 'best', 'supervised'], choices=sorted(VARIANTS))
    p.add_argument('--fps', type=int, default=50)
    p.add_argument('--gpu', default='-1')
    p.add_argument('--threads', type=int, default=0,
                   help='CPU threads per training run (OMP_NUM_THREADS); 0 = PyTorch default. Use 1 when '
                        'running several benchmarks side by side on few cores')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[], help='extra KEY VALUE for every run')
    a = p.parse_args(argv)
    out = cli_path(a.out)
    data = os.path.join(out, 'data')
    if a.seeds < 1:
        raise UserError('--seeds must be at least 1, got %d' % a.seeds, '--seeds', 'use e.g. --seeds 3')
    if not os.path.isfile(os.path.join(data, 'data_2d_bench_gt.npz')) and not os.path.isdir(cli_path(a.src)):
        raise UserError('BVH source folder not found', a.src,
                        'pass --src with one sub-folder of .bvh files per subject')
    os.makedirs(out, exist_ok=True)
    if not os.path.isfile(os.path.join(data, 'data_2d_bench_gt.npz')):
        print('preparing %s -> %s' % (a.src, data), flush=True)
        run([sys.executable, 'tools/prepare_data.py', 'bvh', '--src', cli_path(a.src), '--out', data, '--name', 'bench',
             '--fps', str(a.fps), '--test-subjects'] + a.test_subjects, os.path.join(out, 'prepare.log'))
    variants = list(a.variants)
    if any(VARIANTS[v][2] for v in variants) and 'adv' not in variants:
        variants.insert(0, 'adv')
    per_seed = {v: {} for v in variants}
    for seed in range(a.seeds):
        for v in variants:
            cfg, opts, warm = VARIANTS[v]
            run_dir = os.path.join(out, 'seed%d' % seed, v)
            res_path = os.path.join(run_dir, os.path.splitext(cfg)[0], 'results.json')
            if not os.path.isfile(res_path):
                cmd = [sys.executable, 'tools/main.py', '--cfg', os.path.join('cfg', cfg), '--gpu', a.gpu, '--quiet',
                       '--data_dir', data, '--model_dir', run_dir, '--log_dir', os.path.join(out, 'log')]
                if warm:
                    cmd += ['--pretrain', os.path.join(out, 'seed%d' % seed, 'adv', 'bench_adv', 'checkpoint.pth.tar')]
                cmd += ['--opts', 'RANDOM_SEED', str(2019 + seed)] + opts + list(a.opts)
                t0 = time.time()
                print('seed %d: training %s' % (seed, v), flush=True)
                os.makedirs(run_dir, exist_ok=True)
                run(cmd, os.path.join(run_dir, 'run.log'), a.threads)
                res = json.load(open(res_path))
                res['seconds'] = time.time() - t0
                with open(res_path, 'w') as f:
                    json.dump(res, f, indent=2)
            res = json.load(open(res_path))
            per_seed[v][seed] = {m: res[m] for m in METRICS}
            per_seed[v][seed]['seconds'] = res.get('seconds', float('nan'))
            if 'ema' in res:
                per_seed.setdefault(v + '_ema', {})[seed] = dict(res['ema'], seconds=res.get('seconds', float('nan')))
    summary = aggregate(per_seed)
    table = format_summary(summary)
    print(table)
    bench = {v: {m: summary[v][m] for m in ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'seconds')} for v in summary}
    bench['per_seed'] = {v: {str(s): r for s, r in runs.items()} for v, runs in per_seed.items()}
    bench['spread'] = {v: summary[v]['spread'] for v in summary}
    bench['paired_vs_adv'] = {v: summary[v]['paired_vs_adv'] for v in summary if 'paired_vs_adv' in summary[v]}
    bench['command'] = ' '.join(['python', 'tools/benchmark_accuracy.py'] + (argv if argv is not None else sys.argv[1:]))
    with open(os.path.join(out, 'benchmark.json'), 'w') as f:
        json.dump(bench, f, indent=2)
    with open(os.path.join(out, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    print('written %s' % os.path.join(out, 'benchmark.json'))
    return 0


if __name__ == '__main__':
    run_main(main)
