"""Accuracy benchmark on real motion capture: variants x seeds, final models, paired differences.

A *variant* is a config in ``cfg/`` plus ``--opts`` overrides, optionally warm-started from
another variant's final checkpoint of the same seed.  Each run is ``tools/main.py`` in a
subprocess (the same code path a user runs), and its *final* model is evaluated on the test
subjects: the best-during-training checkpoint selects on the test set and is not used.

The summary per variant holds the mean over seeds, the spread (std with ddof 0, min, max) and
the paired difference to ``adv`` on the seeds both have.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT

METRICS = ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale')

# bench_adv.yaml / bench_best.yaml train this many epochs (kept equal: equal compute)
BENCH_EPOCHS = 16


def _variant(cfg, opts=(), warm_from=None, about=''):
    return {'cfg': cfg, 'opts': list(opts), 'warm_from': warm_from, 'about': about}


VARIANTS = {
    # the authors' recipes, scaled for 2 CPU cores (see the headers of the bench configs)
    'adv': _variant('bench_adv.yaml', about="authors' h36m_gt_adv, from scratch"),
    'best': _variant('bench_best.yaml', about="authors' h36m_gt_scale, from scratch"),
    'supervised': _variant('bench_supervised.yaml', about='same lifter, L2 on 3D labels: a ceiling'),
    # best with one fix of the COMPAT table turned on
    'best_bone_lengths': _variant('bench_best.yaml', ['COMPAT.BONE_LOSS', 'lengths'],
                                  about='bone loss on lengths, not vectors'),
    'best_alternation_fixed': _variant('bench_best.yaml', ['COMPAT.ALTERNATE_OFF_BY_ONE', 'false'],
                                       about='lifter trained in every mainnet step'),
    'best_tmc_fixed': _variant('bench_best.yaml', ['COMPAT.TMC_FRAME', 'rotate_motion'],
                               about='TMC compares motions in one frame'),
    'best_inverse_fixed': _variant('bench_best.yaml', ['COMPAT.INVERSE_ROT_TILTED_AXIS', 'true'],
                                   about='exact inverse rotation (a no-op with USE_NEW_ROT false)'),
    # the authors' rotation axis (about the camera's y axis), which the bench configs change
    'adv_authors_rot': _variant('bench_adv.yaml', ['TRAIN.USE_NEW_ROT', 'false'],
                                about="adv with the authors' USE_NEW_ROT false"),
    'best_authors_rot': _variant('bench_best.yaml', ['TRAIN.USE_NEW_ROT', 'false'],
                                 about="best with the authors' USE_NEW_ROT false"),
    # the earlier warm-start recipe, and adv trained as many steps as it (equal compute)
    'best_warm': _variant('bench_best.yaml', warm_from='adv', about='best warm-started from adv'),
    'adv_continued': _variant('bench_adv.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)],
                              about='adv for as many steps as adv + best_warm'),
    # ablation over the parts of best
    'scaler_only': _variant('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false',
                                                'TRAIN.SCALE_LOSS_WEIGHTS', '[0.0, 0.0]']),
    'scaler_kl': _variant('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false',
                                              'TRAIN.SCALE_LOSS_WEIGHTS', '[0.001, 0.0]']),
    'scaler_klbone': _variant('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false']),
    'tmc': _variant('bench_best.yaml', ['TRAIN.USE_SCALER', 'false', 'TRAIN.USE_CYCLE', 'false',
                                        'COMPAT.TMC_FRAME', 'magnitude_first3']),
    'temp_d': _variant('bench_best.yaml', ['TRAIN.USE_NEW_TEMP', 'false', 'TRAIN.USE_TEMP', 'true']),
}
DEFAULT_VARIANTS = ['adv', 'best', 'supervised']


def aggregate(per_seed, reference='adv'):
    """{variant: {seed: {metric: value}}} -> {variant: {metric: mean, 'spread': ..., 'paired_vs_adv': ...}}."""
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
        common = [s for s in seeds if s in per_seed.get(reference, {})] if v != reference else []
        if common:
            entry['paired_vs_%s' % reference] = {}
            for m in METRICS:
                d = np.array([runs[s][m] - per_seed[reference][s][m] for s in common])
                entry['paired_vs_%s' % reference][m] = {'mean': float(d.mean()), 'min': float(d.min()),
                                                        'max': float(d.max()), 'n': len(common)}
        out[v] = entry
    return out


def format_summary(summary, reference='adv'):
    """The printed table: mean (min-max) per metric, the paired MPJPE difference, wall time."""
    head = '%-22s %-20s %-20s %-20s %-22s %7s' % ('variant', 'MPJPE mean (min-max)', 'N-MPJPE', 'P-MPJPE',
                                                  'dMPJPE vs adv (min..max)', 'seconds')
    lines = [head]
    for v, e in summary.items():
        def cell(m):
            return '%6.1f (%5.1f-%5.1f)' % (e[m], e['spread'][m]['min'], e['spread'][m]['max'])
        d = e.get('paired_vs_%s' % reference, {}).get('MPJPE')
        dtxt = '%+6.1f (%+.1f..%+.1f)' % (d['mean'], d['min'], d['max']) if d else '-'
        lines.append('%-22s %-20s %-20s %-20s %-22s %7.0f' % (v, cell('MPJPE'), cell('N-MPJPE'),
                                                             cell('P-MPJPE'), dtxt, e['seconds']))
    return '\n'.join(lines)


def _run(cmd, log_path, threads=0):
    env = dict(os.environ)
    if threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    with open(log_path, 'w') as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    if r.returncode != 0:
        tail = open(log_path).read().strip().splitlines()[-1:] or ['?']
        raise UserError('a benchmark run failed (%s)' % tail[0], log_path, 'see the log')


def variants_text():
    """The variants, one line each: name, config, overrides, warm start and what it is."""
    return '\n'.join('%-22s %-20s %-45s %s' % (name, v['cfg'], ' '.join(v['opts']) or '-',
                                                ('warm from %s; ' % v['warm_from'] if v['warm_from'] else '')
                                                + v['about']) for name, v in VARIANTS.items())


def prepare_bench_data(src, out, test_subjects, fps=50):
    """Convert the BVH collection ``src`` into ``out/data`` (``data_{3d,2d}_bench*.npz``) with
    ``tools/prepare_data.py bvh`` unless it is there; returns the data folder.  ``out``: an
    absolute path (the conversion runs in the repository root)."""
    data = os.path.join(out, 'data')
    have_data = os.path.isfile(os.path.join(data, 'data_2d_bench_gt.npz'))
    if not have_data and not os.path.isdir(src):
        raise UserError('BVH source folder not found', src, 'pass --src with one sub-folder of .bvh files per subject')
    os.makedirs(out, exist_ok=True)
    if not have_data:
        print('preparing %s -> %s' % (src, data), flush=True)
        _run([sys.executable, 'tools/prepare_data.py', 'bvh', '--src', os.path.abspath(src), '--out', data,
              '--name', 'bench', '--fps', str(fps), '--test-subjects'] + list(test_subjects),
             os.path.join(out, 'prepare.log'))
    return data


def results_path(out, seed, variant):
    stem = os.path.splitext(VARIANTS[variant]['cfg'])[0]
    return os.path.join(out, 'seed%d' % seed, variant, stem, 'results.json')


def train_variant(out, data, seed, variant, gpu='-1', threads=0, extra_opts=()):
    """Train and evaluate one (seed, variant) unless its results.json exists; return the results."""
    spec = VARIANTS[variant]
    res_path = results_path(out, seed, variant)
    if not os.path.isfile(res_path):
        run_dir = os.path.join(out, 'seed%d' % seed, variant)
        # --force: a run without results.json (an interrupted one) is trained again from scratch
        cmd = [sys.executable, 'tools/main.py', '--cfg', os.path.join('cfg', spec['cfg']), '--gpu', gpu,
               '--quiet', '--force', '--data_dir', data, '--model_dir', run_dir, '--log_dir', os.path.join(out, 'log')]
        if spec['warm_from']:
            warm = os.path.join(os.path.dirname(results_path(out, seed, spec['warm_from'])), 'checkpoint.pth.tar')
            cmd += ['--pretrain', warm]
        cmd += ['--opts', 'RANDOM_SEED', str(2019 + seed)] + spec['opts'] + list(extra_opts)
        print('seed %d: training %s' % (seed, variant), flush=True)
        os.makedirs(run_dir, exist_ok=True)
        t0 = time.time()
        _run(cmd, os.path.join(run_dir, 'run.log'), threads)
        res = json.load(open(res_path))
        res['seconds'] = time.time() - t0
        with open(res_path, 'w') as f:
            json.dump(res, f, indent=2)
    return json.load(open(res_path))


def run_order(variants):
    """Variants in training order: a warm start's source first (added when not asked for)."""
    order = []
    for v in variants:
        src = VARIANTS[v]['warm_from']
        if src and src not in order:
            order.append(src)
        if v not in order:
            order.append(v)
    return order


def benchmark(out, data, seeds, variants, gpu='-1', threads=0, extra_opts=(), command=''):
    """Train every (seed, variant), then write benchmark.json and table.txt into ``out``.

    ``seeds``: the seed ids to train (e.g. ``range(3)``).  Finished runs are kept in
    ``out``, so several processes given disjoint seed lists can share the cores, and a last
    call over all seeds only reads their results and writes the table.
    """
    order = run_order(variants)
    per_seed = {v: {} for v in order}
    for seed in seeds:
        for v in order:
            res = train_variant(out, data, seed, v, gpu, threads, extra_opts)
            per_seed[v][seed] = {m: res[m] for m in METRICS}
            per_seed[v][seed]['seconds'] = res.get('seconds', float('nan'))
            if 'scale_mean' in res:
                per_seed[v][seed]['scale_mean'] = res['scale_mean']
    summary = aggregate(per_seed)
    table = format_summary(summary)
    bench = {v: {m: summary[v][m] for m in ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'seconds')} for v in summary}
    bench['per_seed'] = {v: {str(s): r for s, r in runs.items()} for v, runs in per_seed.items()}
    bench['spread'] = {v: summary[v]['spread'] for v in summary}
    bench['paired_vs_adv'] = {v: summary[v]['paired_vs_adv'] for v in summary if 'paired_vs_adv' in summary[v]}
    bench['variants'] = {v: VARIANTS[v] for v in order}
    bench['command'] = command
    with open(os.path.join(out, 'benchmark.json'), 'w') as f:
        json.dump(bench, f, indent=2)
    with open(os.path.join(out, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    return table
