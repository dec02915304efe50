"""Evaluation metrics (ORIGINAL_CODE.md section 5, METHOD.md section 4).

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


def mpjpe(pred, gt):
    return np.linalg.norm(pred - gt, axis=-1).mean(-1)


def n_mpjpe(pred, gt):
    s = (pred * gt).sum((1, 2)) / np.maximum((pred * pred).sum((1, 2)), 1e-12)
    return mpjpe(pred * s[:, None, None], gt)


def oracle_scale_mpjpe(pred, gt):
    s = np.linalg.norm(gt, axis=(1, 2)) / np.maximum(np.linalg.norm(pred, axis=(1, 2)), 1e-12)
    return mpjpe(pred * s[:, None, None], gt)


def procrustes_align(pred, gt):
    """Align each predicted frame to its GT: rotation (no reflection), scale, translation."""
    mu_g, mu_p = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    G0, P0 = gt - mu_g, pred - mu_p
    nG = np.maximum(np.linalg.norm(G0, axis=(1, 2), keepdims=True), 1e-12)
    nP = np.maximum(np.linalg.norm(P0, axis=(1, 2), keepdims=True), 1e-12)
    G0, P0 = G0 / nG, P0 / nP
    H = np.matmul(G0.transpose(0, 2, 1), P0)
    U, S, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    R = np.matmul(V, U.transpose(0, 2, 1))
    flip = np.linalg.det(R) < 0
    V[flip, :, -1] *= -1
    S[flip, -1] *= -1
    R = np.matmul(V, U.transpose(0, 2, 1))
    a = S.sum(1)[:, None, None] * nG / nP
    t = mu_g - a * np.matmul(mu_p, R)
    return a * np.matmul(pred, R) + t


def p_mpjpe(pred, gt):
    return mpjpe(procrustes_align(pred, gt), gt)


def batch_means(err, batch=1024):
    """The original's average: the mean of per-batch means in file order."""
    n = len(err)
    if n == 0:
        return float('nan')
    return float(np.mean([err[i:i + batch].mean() for i in range(0, n, batch)]))
