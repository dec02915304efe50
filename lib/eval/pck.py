"""3D PCK and its AUC, as the authors evaluate MPI-INF-3DHP.

A joint is correct when its distance to the ground truth, divided by a head
size of 300 mm, is below a threshold; the thresholds are 0, 0.05, ..., 0.5
(0 to 150 mm).  ``pckh5`` is the fraction of correct joints at 0.5, i.e. the
usual 3DPCK at 150 mm; ``auc`` is the trapezoidal area under the PCK curve
with the thresholds mapped to [0, 1].  All 17 joints count, root included
(the authors' 14-joint subset is commented out in their code).  ``auc_p2`` /
``pckh5_p2``: the same after a per-frame rigid (similarity) alignment of the
prediction to the ground truth.  Values are fractions in [0, 1], not percent.
"""
import numpy as np

from lib.eval.metrics import procrustes_align

HEAD_SIZE_MM = 300.0
THRESHOLDS = np.arange(0.0, 0.51, 0.05)     # the authors' thresholds, same floating-point values


def joint_distances(pred_m, gt_m, head_size_mm=HEAD_SIZE_MM):
    """(N, J, 3) metres -> (N, J) distances in units of the head size."""
    d = pred_m - gt_m
    return np.sqrt(np.einsum('njk,njk->nj', d, d)) * (1000.0 / head_size_mm)


def pck_curve(dists, thresholds=THRESHOLDS):
    """Fraction of joints with distance strictly below each threshold, (T,)."""
    flat = np.sort(np.asarray(dists, np.float64).ravel())
    if flat.size == 0:
        return np.full(len(thresholds), np.nan)
    return np.searchsorted(flat, thresholds, side='left') / float(flat.size)


def auc_from_curve(pcks, thresholds=THRESHOLDS):
    """Trapezoidal area under ``pcks`` with the thresholds mapped linearly onto [0, 1]."""
    x = (thresholds - thresholds.min()) / (thresholds.max() - thresholds.min())
    p = np.asarray(pcks, np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (p[1:] + p[:-1]) / 2))


def distances(pred_m, gt_m, chunk=65536):
    """Per-joint distances (N, 17) in head-size units, raw and after rigid alignment."""
    raw, al = [], []
    for i in range(0, len(gt_m), chunk):
        p, g = np.asarray(pred_m[i:i + chunk], np.float64), np.asarray(gt_m[i:i + chunk], np.float64)
        raw.append(joint_distances(p, g))
        al.append(joint_distances(procrustes_align(p.copy(), g), g))
    if not raw:
        return np.zeros((0, 17)), np.zeros((0, 17))
    return np.concatenate(raw), np.concatenate(al)


def summary(raw, al):
    """``auc``, ``pckh5``, ``auc_p2``, ``pckh5_p2`` from the distances of :func:`distances`."""
    c_raw, c_al = pck_curve(raw), pck_curve(al)
    return {'auc': auc_from_curve(c_raw), 'pckh5': float(c_raw[-1]),
            'auc_p2': auc_from_curve(c_al), 'pckh5_p2': float(c_al[-1])}


def pck_metrics(pred_m, gt_m, groups=None):
    """The four numbers the authors report for MPI-INF-3DHP, both PCK curves, and, with
    ``groups`` (N,) labels, the four numbers per group (``per_group``)."""
    raw, al = distances(pred_m, gt_m)
    res = summary(raw, al)
    res['pck_thresholds_mm'] = [round(float(t) * HEAD_SIZE_MM, 6) for t in THRESHOLDS]
    res['pck_curve'] = [float(v) for v in pck_curve(raw)]
    res['pck_curve_p2'] = [float(v) for v in pck_curve(al)]
    if groups is not None:
        groups = np.asarray(groups)
        res['per_group'] = {str(g): summary(raw[groups == g], al[groups == g]) for g in np.unique(groups)}
    return res
