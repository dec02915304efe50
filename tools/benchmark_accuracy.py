"""Accuracy benchmark on real motion capture: the authors' adv and best recipes, and controls.

    python tools/benchmark_accuracy.py                         # the shared BVH set, 3 seeds
    python tools/benchmark_accuracy.py --variants adv best adv_continued best_warm supervised
    python tools/benchmark_accuracy.py --src DIR --test-subjects martial --seeds 3 --out output/bench
    python tools/benchmark_accuracy.py --list                  # the variants, splits and what they are
    python tools/benchmark_accuracy.py --splits study --seeds 2 --variants adv adv_continued recommended
    python tools/benchmark_accuracy.py --only-seeds 0 2 &      # two processes share two cores,
    python tools/benchmark_accuracy.py --only-seeds 1          # then --seeds 3 writes the table

1. ``tools/prepare_data.py bvh`` converts the BVH collection (one pseudo-subject per
   sub-folder) into ``data_3d_bench.npz`` / ``data_2d_bench_gt.npz`` in ``--out/data``.
2. Every (seed, variant) is trained by ``tools/main.py`` with its ``cfg/bench_*.yaml`` and
   overrides (``lib/bench/accuracy.py`` VARIANTS); its *final* model is evaluated.
3. The table gives the mean and min-max over seeds and the paired difference to adv;
   ``benchmark.json`` and ``table.txt`` in ``--out`` keep everything.

``--splits NAME ...`` (named splits or sets of them, ``lib/bench/splits.py``) does the same for
each split in ``--out/<split>`` and then pools the paired ratios over every (split, seed) pair
into ``--out/splits_table.txt`` and ``splits.json``.
"""
import _init_paths  # noqa: F401
import argparse
import os
import sys

from lib.bench.accuracy import DEFAULT_VARIANTS, VARIANTS, prepare_bench_data, run_all, variants_text, write_tables
from lib.bench.splits import SPLITS, resolve_splits, split_source, splits_text, write_pooled
from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.outputs import check_output_dir
from lib.utils.runtime import REPO_ROOT, cli_path, one_line_warnings, resolve_threads


def parse_args(argv):
    p = ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--src', default=None,
                   help='BVH collection, one sub-folder per pseudo-subject (default ../shared/data/mocap_bvh)')
    p.add_argument('--test-subjects', nargs='+', default=None,
                   help='sub-folders held out for testing (default: martial; salsa trains)')
    p.add_argument('--splits', nargs='+', default=None, metavar='NAME',
                   help='named splits or split sets (see --list), each in --out/<split>, and the ratios '
                        'pooled over all of them; instead of --src / --test-subjects')
    p.add_argument('--out', default=os.path.join(REPO_ROOT, 'output', 'benchmark_accuracy'))
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--only-seeds', type=int, nargs='+', default=None, metavar='SEED',
                   help='train just these seed ids (e.g. 0 2 in one process, 1 in another); '
                        'a later run with --seeds N reads every finished run and writes the table')
    p.add_argument('--variants', nargs='+', default=DEFAULT_VARIANTS, choices=sorted(VARIANTS))
    p.add_argument('--no-train', action='store_true',
                   help='train nothing: write the tables from the finished runs and list the missing ones')
    p.add_argument('--list', action='store_true', help='print the variants and exit')
    p.add_argument('--fps', type=int, default=None, help='frame rate of the conversion (default 50; '
                   'with --splits each split\'s own)')
    p.add_argument('--gpu', default='-1')
    p.add_argument('--threads', type=int, default=1,
                   help='CPU threads per training run (default 1: PyTorch threads collapse on shared cores)')
    p.add_argument('--curves', type=int, nargs='?', const=2, default=0, metavar='K',
                   help='record the test metrics every K epochs of every run (default K 2; recorded '
                        'only, never used to pick a model) and draw curves.png')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[], help='extra KEY VALUE for every run')
    return p.parse_args(argv)


def check_arguments(a):
    """Every option checked before any data is converted or run trained (one line each)."""
    if a.fps is not None and not 1 <= a.fps <= 1000:
        raise UserError('--fps must be 1 to 1000, got %d' % a.fps, '--fps', 'use e.g. --fps 50')
    if not 0 <= a.curves <= 10000:
        raise UserError('--curves must be 1 to 10000 epochs (0: off), got %d' % a.curves, '--curves',
                        'use e.g. --curves 2')
    resolve_threads(a.threads)
    one_line_warnings()            # (the unused keys the configs set: quiet)
    from lib.config.load import load_run_config     # (after the cheap checks: reads YAML)
    for v in a.variants:           # the options on each variant's config: pairs, known keys, types, ranges
        load_run_config(os.path.join(REPO_ROOT, 'cfg', VARIANTS[v]['cfg']), VARIANTS[v]['opts'] + list(a.opts))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a.list:
        print(variants_text())
        print(splits_text())
        return 0
    if a.splits and (a.src or a.test_subjects):
        raise UserError('--splits names its own sources and test sub-folders', '--splits',
                        'drop --src / --test-subjects, or drop --splits')
    splits = resolve_splits(a.splits) if a.splits else None
    if a.seeds < 1:
        raise UserError('--seeds must be at least 1, got %d' % a.seeds, '--seeds', 'use e.g. --seeds 3')
    if a.only_seeds and min(a.only_seeds) < 0:
        raise UserError('--only-seeds takes seed ids 0, 1, ..., got %s' % a.only_seeds, '--only-seeds',
                        'use e.g. --only-seeds 0 2')
    check_arguments(a)
    out = check_output_dir(cli_path(a.out), '--out', 'benchmark folder (--out)')
    opts = list(a.opts) + (['EVAL.CURVE_EVERY', str(a.curves)] if a.curves else [])
    command = ' '.join(['python', 'tools/benchmark_accuracy.py'] + list(argv))
    seeds = a.only_seeds or range(a.seeds)
    if splits is None:                 # one collection, tabled in --out itself
        src = a.src or os.path.join(REPO_ROOT, '..', 'shared', 'data', 'mocap_bvh')
        if a.src and not a.test_subjects:
            subs = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))) if os.path.isdir(src) else []
            raise UserError('--src needs --test-subjects (the sub-folders held out for testing)', src,
                            'add e.g. --test-subjects %s%s, or use a named split: --splits %s' % (
                                ' '.join(subs[-1:]) or 'NAME', ' (it has: %s)' % ' '.join(subs) if subs else '',
                                ' | '.join(SPLITS)))
        jobs = [(None, out, lambda: src, a.test_subjects or ['martial'], a.fps or 50)]
    else:                              # each named split in --out/<split>, then pooled
        jobs = [(name, os.path.join(out, name), lambda name=name: split_source(name, os.path.join(out, name)),
                 SPLITS[name].test, a.fps or SPLITS[name].fps) for name in splits]
    per_split = {}
    for name, folder, source, test, fps in jobs:
        per_seed = None
        if not a.no_train:
            data = prepare_bench_data(source(), folder, test, fps)
            per_seed = run_all(folder, data, seeds, a.variants, a.gpu, a.threads, opts)
        elif os.path.isdir(folder):    # read the finished runs only: nothing to convert
            per_seed = run_all(folder, os.path.join(folder, 'data'), seeds, a.variants, train=False)
        if not per_seed:
            print('== split %s: no finished run' % name if name else 'no finished run in %s: nothing to table' % out)
            continue
        if name:
            print('== split %s: %s' % (name, SPLITS[name].about))
        print(write_tables(folder, per_seed, command))
        per_split[name] = per_seed
    if splits is None:
        if per_split:
            print('written %s' % os.path.join(out, 'benchmark.json'))
        return 0
    if not per_split:                  # --no-train and nothing finished yet: nothing to pool or write
        print('no finished run in %s: nothing to table' % out)
        return 0
    print(write_pooled(out, per_split, a.variants, command))
    print('written %s' % os.path.join(out, 'splits.json'))
    return 0


if __name__ == '__main__':
    run_main(main)
