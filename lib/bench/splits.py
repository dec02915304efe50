"""Named train/test splits of real motion capture for the accuracy benchmark, and the summary
over several of them.

A recipe tuned on one split is a lead, not a result: a change that helps on one kind of test
motion can do nothing, or harm, on another.  ``tools/benchmark_accuracy.py --splits study``
therefore trains and judges every variant on each split of a set, writes one table per split
(``<out>/<split>/table.txt``, as a single-split run), and then pools the paired ratios over
every (split, seed) pair: the mean and the worst pair.

Each split is one ``tools/prepare_data.py bvh`` conversion: the sub-folders named in ``test``
are held out, every other sub-folder of the sources trains.  A split over several sources (the
cross-system one) converts a folder of links, one per sub-folder, named ``<source>-<folder>``.
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np

from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT

SHARED_DATA = os.path.join(REPO_ROOT, '..', 'shared', 'data')
CMU, BANDAI = 'mocap_bvh', 'mocap_bvh_bandai'
BANDAI_ACTIONS = ['punch', 'kick', 'slash', 'dance-short']
BANDAI_ALL = ['bow', 'bye', 'byebye', 'call', 'dance-short', 'dash', 'guide', 'kick', 'punch', 'respond',
              'run', 'slash', 'walk', 'walk-back', 'walk-left', 'walk-right']


@dataclass
class Split:
    sources: list                   # folders under the data root, each with one sub-folder per subject
    test: list                      # held-out sub-folders (``<source>-<folder>`` with several sources)
    fps: int
    about: str
    train: list = field(default_factory=list)   # informational: what trains (every other sub-folder)


SPLITS = {
    'salsa_martial': Split([CMU], ['martial'], 50, 'CMU-derived: salsa trains, martial arts test (the dev split)',
                           ['salsa']),
    'martial_salsa': Split([CMU], ['salsa'], 50, 'CMU-derived: martial arts train, salsa tests', ['martial']),
    'bandai_actions': Split([BANDAI], BANDAI_ACTIONS, 30,
                            'Bandai Namco (another capture system and skeleton): walking, running, dashing and '
                            'gestures train; punches, kicks, slashes and the dance test',
                            [d for d in BANDAI_ALL if d not in BANDAI_ACTIONS]),
    'cmu_to_bandai': Split([CMU, BANDAI], ['%s-%s' % (BANDAI, d) for d in BANDAI_ALL], 30,
                           'across capture systems: every CMU-derived clip trains, every Bandai clip tests',
                           ['%s-salsa' % CMU, '%s-martial' % CMU]),
    # a candidate, not a split to judge on: salsa_martial's test frames, more and more varied training
    # motion (Bandai upsampled by slerp to 50 fps, so the test frames are exactly salsa_martial's)
    'salsa_bandai_martial': Split([CMU, BANDAI], ['%s-martial' % CMU], 50,
                                  'salsa and every Bandai clip train, CMU martial arts test (compare with '
                                  'salsa_martial: the same test frames)',
                                  ['%s-salsa' % CMU] + ['%s-%s' % (BANDAI, d) for d in BANDAI_ALL]),
}
SPLIT_SETS = {
    'dev': ['salsa_martial'],
    'study': ['salsa_martial', 'martial_salsa', 'bandai_actions'],
    'all': ['salsa_martial', 'martial_salsa', 'bandai_actions', 'cmu_to_bandai'],
}


def resolve_splits(names):
    """Split and set names -> split names in order, each once; an unknown name is a UserError."""
    out = []
    for n in names:
        if n not in SPLITS and n not in SPLIT_SETS:
            raise UserError('unknown split %r' % n, '--splits',
                            'use one of the sets %s or the splits %s' % (', '.join(SPLIT_SETS), ', '.join(SPLITS)))
        out += [s for s in SPLIT_SETS.get(n, [n]) if s not in out]
    return out


def splits_text():
    lines = ['split sets: ' + '; '.join('%s = %s' % (k, ' '.join(v)) for k, v in SPLIT_SETS.items())]
    for name, s in SPLITS.items():
        lines.append('%-15s %s (%s; %d fps)' % (name, s.about, ' + '.join(s.sources), s.fps))
    return '\n'.join(lines)


def split_source(split, out, data_root=SHARED_DATA):
    """The folder to convert for ``split``: its one source folder, or (several sources) a folder of
    links ``<out>/src/<source>-<sub-folder>`` made here.  A missing source is a UserError."""
    spec = SPLITS[split]
    for s in spec.sources:
        if not os.path.isdir(os.path.join(data_root, s)):
            raise UserError('motion-capture folder of split %s not found' % split, os.path.join(data_root, s),
                            'this split needs ../shared/data/%s (see the README, "Data")' % s)
    if len(spec.sources) == 1:
        return os.path.join(data_root, spec.sources[0])
    links = os.path.join(out, 'src')
    os.makedirs(links, exist_ok=True)
    for s in spec.sources:
        root = os.path.abspath(os.path.join(data_root, s))
        for d in sorted(os.listdir(root)):
            if os.path.isdir(os.path.join(root, d)) and not d.startswith('.'):
                link = os.path.join(links, '%s-%s' % (s, d))
                if not os.path.islink(link):
                    os.symlink(os.path.join(root, d), link)
    return links


def pooled_ratios(per_split, variants, refs=('adv', 'adv_continued', 'supervised'),
                  metrics=('MPJPE', 'P-MPJPE', 'N-MPJPE', 'P-MPJPE_reflect')):
    """``per_split``: {split: {variant: {seed: record}}} -> {variant: {ref: {metric: {'mean', 'max',
    'min', 'n', 'pairs': [[split, seed, ratio], ...]}}}}: the ratio variant / ref on every
    (split, seed) that both ran, pooled over all splits."""
    out = {}
    for v in variants:
        for ref in refs:
            if ref == v:
                continue
            for m in metrics:
                pairs = []
                for split, runs in per_split.items():
                    a, b = runs.get(v, {}), runs.get(ref, {})
                    for seed in sorted(set(a) & set(b)):
                        if m in a[seed] and m in b[seed]:
                            pairs.append([split, seed, a[seed][m] / b[seed][m]])
                if pairs:
                    r = np.array([p[2] for p in pairs])
                    out.setdefault(v, {}).setdefault(ref, {})[m] = {
                        'mean': float(r.mean()), 'max': float(r.max()), 'min': float(r.min()), 'n': len(pairs),
                        'pairs': pairs}
    return out


def format_pooled(pooled, n_splits):
    """The pooled table: per variant and reference, the mean ratio (worst pair) of MPJPE,
    P-MPJPE, N-MPJPE and P-MPJPE with reflection, over every (split, seed) pair."""
    lines = ['paired ratios over all %d splits, every (split, seed) pair: mean (worst pair), n pairs' % n_splits,
             '%-24s %-14s %-15s %-15s %-15s %-15s %3s' % ('variant', '/ reference', 'MPJPE', 'P-MPJPE', 'N-MPJPE',
                                                           'P-MPJPE refl', 'n')]
    for v, by_ref in pooled.items():
        for ref, by_m in by_ref.items():
            cells = ['%.3f (%.3f)' % (by_m[m]['mean'], by_m[m]['max']) if m in by_m else '-'
                     for m in ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'P-MPJPE_reflect')]
            n = max(d['n'] for d in by_m.values())
            lines.append('%-24s %-14s %-15s %-15s %-15s %-15s %3d' % (v, ref, *cells, n))
    return '\n'.join(lines)


def write_pooled(out, per_split, variants, command=''):
    """Write ``<out>/splits.json`` and ``<out>/splits_table.txt``; return the pooled table text."""
    pooled = pooled_ratios(per_split, variants)
    text = format_pooled(pooled, len(per_split))
    with open(os.path.join(out, 'splits.json'), 'w') as f:
        json.dump({'splits': list(per_split), 'pooled': pooled, 'command': command}, f, indent=2)
    with open(os.path.join(out, 'splits_table.txt'), 'w') as f:
        f.write(text + '\n')
    return text
