"""Evaluation metrics (docs/ORIGINAL.md, "Evaluation").

All functions take per-frame arrays (N, J, 3), root-centred, and return
per-frame errors (N,) in the input's units; callers convert to mm.

* MPJPE: the prediction (network units) times the frame's GT head-root
  length, nothing fitted, so the predicted *size* counts.
* P-MPJPE: per-frame similarity Procrustes without reflection (the headline).
* P-MPJPE with reflection allowed (``P-MPJPE_reflect``): the Procrustes fit may
  also mirror the prediction (``reflection='best'``), the protocol of ElePose
  and LInKs.  It forgives a depth-flipped pose, so it is reported beside the
  reflection-free number, never instead of it.
* depth-flip rate: the share of frames whose best rigid fit (orthogonal, scale
  and translation free) is a reflection, i.e. the prediction is closer to the
  mirror image of the truth than to the truth: the depth ambiguity, counted.
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


def _procrustes(pred, gt, proper=True, reflect=True):
    """The per-frame similarity fits of ``pred`` onto ``gt``, from one SVD each.

    Returns ``(aligned, aligned_reflect, is_reflection)``: the prediction aligned by rotation
    (no reflection), scale and translation (None unless ``proper``); aligned by the best
    orthogonal map, reflection allowed (None unless ``reflect``); and (N,) bool, whether that best
    orthogonal map is a reflection."""
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
    Ut = U.transpose(0, 2, 1)

    def fit(V, S):
        R = np.matmul(V, Ut)
        a = S.sum(1)[:, None, None] * nG / nP
        t = mu_g - a * np.matmul(mu_p, R)
        out = np.matmul(pred, R)
        out *= a
        out += t
        return out
    flip = np.linalg.det(np.matmul(V, Ut)) < 0
    aligned_reflect = fit(V, S) if reflect else None
    aligned = None
    if proper:
        V[flip, :, -1] *= -1
        S[flip, -1] *= -1
        aligned = fit(V, S)
    return aligned, aligned_reflect, flip


def procrustes_align(pred, gt, reflection=False):
    """Align each predicted frame to its GT: rotation, scale, translation; a reflection only
    with ``reflection=True``."""
    aligned, aligned_reflect, _ = _procrustes(pred, gt, proper=not reflection, reflect=reflection)
    return aligned_reflect if reflection else aligned


def procrustes_errors(pred, gt):
    """(N,) each: P-MPJPE, P-MPJPE with reflection allowed, and 1.0 where the best rigid fit is a
    reflection (0.0 elsewhere; its mean is the depth-flip rate), from one SVD per frame."""
    aligned, aligned_reflect, flip = _procrustes(pred, gt)
    return mpjpe(aligned, gt), mpjpe(aligned_reflect, gt), flip.astype(np.float64)


def p_mpjpe(pred, gt):
    return mpjpe(procrustes_align(pred, gt), gt)


def p_mpjpe_reflect(pred, gt):
    return mpjpe(procrustes_align(pred, gt, reflection=True), gt)


def depth_flip(pred, gt):
    """(N,) 1.0 where the best rigid fit of the prediction onto the GT is a reflection."""
    return _procrustes(pred, gt, proper=False, reflect=False)[2].astype(np.float64)


def batch_means(err, batch=1024):
    """The original's average: the mean of per-batch means in file order."""
    n = len(err)
    if n == 0:
        return float('nan')
    return float(np.mean([err[i:i + batch].mean() for i in range(0, n, batch)]))
