"""Evaluation metrics (docs/ORIGINAL.md, "Evaluation").

All functions take per-frame arrays (N, J, 3), root-centred, and return
per-frame errors (N,) in the input's units; callers convert to mm.

* MPJPE: the prediction (network units) times the frame's GT head-root
  length, nothing fitted, so the predicted *size* counts.
* P-MPJPE: per-frame similarity Procrustes without reflection.
* N-MPJPE: per-frame least-squares scale s = <P, G> / <P, P> (Rhodin et al.).
* oracle-scale MPJPE: the prediction rescaled so that its size (Frobenius norm
  about the root) equals the GT's; the error left once scale is perfect.
"""
import numpy as np

# Per-joint and per-frame norms with einsum: equal to np.linalg.norm up to float64 rounding,
# and faster on (N, 17, 3) arrays (docs/PERFORMANCE.md, "Evaluation speed and `EVAL.PRECISION`").


def _joint_norms(d):
    """(N, J, 3) -> (N, J): Euclidean norm per joint."""
    return np.sqrt(np.einsum('njk,njk->nj', d, d))


def _frame_norms(a):
    """(N, J, 3) -> (N,): Frobenius norm per frame."""
    return np.sqrt(np.einsum('njk,njk->n', a, a))


def mpjpe(pred, gt):
    return _joint_norms(pred - gt).mean(-1)


def n_mpjpe(pred, gt):
    s = np.einsum('njk,njk->n', pred, gt) / np.maximum(np.einsum('njk,njk->n', pred, pred), 1e-12)
    return mpjpe(pred * s[:, None, None], gt)


def oracle_scale_mpjpe(pred, gt):
    s = _frame_norms(gt) / np.maximum(_frame_norms(pred), 1e-12)
    return mpjpe(pred * s[:, None, None], gt)


def procrustes_align(pred, gt):
    """Align each predicted frame to its GT: rotation (no reflection), scale, translation."""
    mu_g, mu_p = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    G0, P0 = gt - mu_g, pred - mu_p
    nG = np.maximum(_frame_norms(G0), 1e-12)[:, None, None]
    nP = np.maximum(_frame_norms(P0), 1e-12)[:, None, None]
    G0 /= nG
    P0 /= nP
    H = np.matmul(G0.transpose(0, 2, 1), P0)
    del G0, P0
    U, S, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    R = np.matmul(V, U.transpose(0, 2, 1))
    flip = np.linalg.det(R) < 0
    V[flip, :, -1] *= -1
    S[flip, -1] *= -1
    R = np.matmul(V, U.transpose(0, 2, 1))
    a = S.sum(1)[:, None, None] * nG / nP
    t = mu_g - a * np.matmul(mu_p, R)
    out = np.matmul(pred, R)
    out *= a
    out += t
    return out


def p_mpjpe(pred, gt):
    return mpjpe(procrustes_align(pred, gt), gt)


def batch_means(err, batch=1024):
    """The original's average: the mean of per-batch means in file order."""
    n = len(err)
    if n == 0:
        return float('nan')
    return float(np.mean([err[i:i + batch].mean() for i in range(0, n, batch)]))
