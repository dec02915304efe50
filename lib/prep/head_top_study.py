"""The head-top rule measured where a real head point exists (``tools/measure_head_top.py``).

On the CMU-derived clips (``../shared/data/mocap_bvh``: ``salsa/``, ``martial/``) the CMU preset's
head point is the mean of ``leftEye`` and ``rightEye``.  The rule (:func:`lib.prep.skeletons.head_top`)
is applied using only joints that a skeleton without a head-top joint has (the mapped Thorax =
``neck`` and Neck/Nose = ``head``; Bandai Namco: ``Neck``, ``Head``) and compared with that point:
the 3D distance per frame, in mm (mean, median, 95th percentile).  The rule's constant is fitted
on all clips (so that figure is in-sample) and, to give held-out figures, on one folder and
measured on the other.  As a plausibility check across skeletons, where no truth exists, the
head-root length (Hip -> Head) is given relative to the leg (mean of thigh + shin over both
legs) for the CMU clips (real head point and rule), the Bandai Namco clips (rule) and the four
real Human3.6M frames of ``h36m_fixture`` (its own Head joint).
"""
import glob
import os

import numpy as np

from lib.data.skeleton import V3D_NAMES
from lib.prep.bvh import h36m17_positions, load_bvh
from lib.prep.skeletons import CMU_TO_H36M17, HEAD_TOP_K, fit_head_top_k, head_top
from lib.utils.errors import UserError

J = {n: j for j, n in enumerate(V3D_NAMES)}
STUDY_FPS = 30                  # every clip resampled to one rate, so that each second weighs the same


def _clips(folder):
    paths = sorted(glob.glob(os.path.join(folder, '*.bvh')))
    if not paths:
        raise UserError('no .bvh files', folder, 'pass the folder of the CMU-derived clips (mocap_bvh)')
    return paths


def cmu_joints(path):
    """(F, 17, 3) of a CMU clip with the real head point (eyes' mean) as Head, in mm."""
    X, _ = h36m17_positions(load_bvh(path), fps=STUDY_FPS, mapping=CMU_TO_H36M17)
    return X * 10.0                                   # centimetres -> mm


def errors_mm(X, k):
    """Per-frame distance (mm) between the rule's head top and the real Head of X (F, 17, 3)."""
    top = head_top(X[:, J['Neck/Nose']], X[:, J['Thorax']], k)
    return np.linalg.norm(top - X[:, J['Head']], axis=-1)


def fit_k(X):
    return fit_head_top_k(X[:, J['Neck/Nose']], X[:, J['Thorax']], X[:, J['Head']])


def stats(e):
    return 'mean %.1f, median %.1f, p95 %.1f mm (%d frames)' % (e.mean(), np.median(e), np.percentile(e, 95), len(e))


def head_root_over_leg(X):
    """Median over frames of |Head - Hip| / mean leg length (thigh + shin of both legs)."""
    def bone(a, b):
        return np.linalg.norm(X[:, J[a]] - X[:, J[b]], axis=-1)
    leg = (bone('RHip', 'RKnee') + bone('RKnee', 'RAnkle') + bone('LHip', 'LKnee') + bone('LKnee', 'LAnkle')) / 2
    return float(np.median(bone('Head', 'Hip') / leg))


def measure_head_top(cmu_dir, bandai_dir=None, h36m_fixture=None, say=print):
    """Print the study described in the module docstring; returns its numbers as a dict."""
    folders = sorted(d for d in os.listdir(cmu_dir) if os.path.isdir(os.path.join(cmu_dir, d))) \
        if os.path.isdir(cmu_dir) else []
    if len(folders) < 2:
        raise UserError('expected two or more sub-folders of CMU-derived clips', cmu_dir,
                        'pass --cmu ../shared/data/mocap_bvh (salsa/, martial/)')
    data = {f: np.concatenate([cmu_joints(p) for p in _clips(os.path.join(cmu_dir, f))]) for f in folders}
    every = np.concatenate(list(data.values()))
    out = {'k_all': fit_k(every)}
    say('CMU-derived clips (%s), %d frames at %d fps; the rule from Thorax (neck) and Neck/Nose (head) '
        'against the real head point (eyes\' mean)' % (', '.join(folders), len(every), STUDY_FPS))
    say('  k fitted on all clips: %.4f; in-sample error %s' % (out['k_all'], stats(errors_mm(every, out['k_all']))))
    e = errors_mm(every, HEAD_TOP_K)
    out['shipped'] = (float(e.mean()), float(np.median(e)), float(np.percentile(e, 95)))
    say('  shipped HEAD_TOP_K = %.2f (in-sample): %s' % (HEAD_TOP_K, stats(e)))
    for f in folders:
        rest = np.concatenate([data[g] for g in folders if g != f])
        k = fit_k(rest)
        e = errors_mm(data[f], k)
        out['held_out_' + f] = (k, float(e.mean()), float(np.median(e)), float(np.percentile(e, 95)))
        say('  held out: k fitted without %s = %.4f; error on %s %s' % (f, k, f, stats(e)))
    rule = every.copy()
    rule[:, J['Head']] = head_top(every[:, J['Neck/Nose']], every[:, J['Thorax']])
    out['ratio_cmu_real'], out['ratio_cmu_rule'] = head_root_over_leg(every), head_root_over_leg(rule)
    say('head-root / leg length (median): CMU real head point %.3f, CMU rule %.3f'
        % (out['ratio_cmu_real'], out['ratio_cmu_rule']))
    if bandai_dir and os.path.isdir(bandai_dir):
        paths = sorted(glob.glob(os.path.join(bandai_dir, '*', '*.bvh')))
        X = np.concatenate([h36m17_positions(load_bvh(p), fps=STUDY_FPS)[0] for p in paths])
        out['ratio_bandai_rule'] = head_root_over_leg(X)
        say('  Bandai Namco clips (%d, rule): %.3f' % (len(paths), out['ratio_bandai_rule']))
    if h36m_fixture and os.path.isfile(h36m_fixture):
        S = np.load(h36m_fixture)['S'][..., :3]
        out['ratio_h36m'] = head_root_over_leg(S)
        say('  Human3.6M fixture (4 real frames, its Head joint): %.3f' % out['ratio_h36m'])
    return out
