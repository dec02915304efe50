"""Metrics (lib/eval/metrics.py): MPJPE and its variants (P-, N-, oracle-scale, batch means),
and the fast metrics against a plain reference.  The numbers are computed here again from
the definitions, not through the project's code."""
import numpy as np
import pytest

from helpers import rand_rot
from lib.data import skeleton as sk
from lib.eval import metrics as M
from lib.eval.evaluate import compute_metrics


# --- metrics --------------------------------------------------------------------

def test_p_mpjpe_of_similarity_copy_is_zero():
    rng = np.random.RandomState(0)
    gt = rng.normal(size=(5, 17, 3))
    pred = np.stack([2.5 * g @ rand_rot(rng).T + rng.normal(size=3) for g in gt])
    assert np.allclose(M.p_mpjpe(pred, gt), 0, atol=1e-9)
    assert M.p_mpjpe(gt[:, :, ::-1] * np.array([1, 1, 1]), gt).min() >= 0


def test_p_mpjpe_refuses_reflection():
    rng = np.random.RandomState(1)
    gt = rng.normal(size=(3, 17, 3))
    mirrored = gt * np.array([-1, 1, 1])
    assert (M.p_mpjpe(mirrored, gt) > 1e-3).all()


def test_reflection_allowed_forgives_a_depth_flip_and_counts_it():
    """A depth-mirrored lift (z -> -z about the root) rotated, scaled and moved: the
    reflection-free P-MPJPE sees the error, the reflection-allowed one is zero, and every frame
    counts as a depth flip; an unmirrored copy is no flip and zero in both."""
    rng = np.random.RandomState(2)
    gt = rng.normal(size=(6, 17, 3))
    mirrored = np.stack([1.7 * (g * np.array([1, 1, -1])) @ rand_rot(rng).T + rng.normal(size=3) for g in gt])
    plain = np.stack([0.6 * g @ rand_rot(rng).T for g in gt])
    assert (M.p_mpjpe(mirrored, gt) > 1e-2).all()
    assert np.allclose(M.p_mpjpe_reflect(mirrored, gt), 0, atol=1e-9)
    assert (M.depth_flip(mirrored, gt) == 1).all() and (M.depth_flip(plain, gt) == 0).all()
    assert np.allclose(M.p_mpjpe_reflect(plain, gt), 0, atol=1e-9)
    pa, pa_r, flip = M.procrustes_errors(mirrored, gt)
    np.testing.assert_allclose(pa, M.p_mpjpe(mirrored, gt), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pa_r, M.p_mpjpe_reflect(mirrored, gt), rtol=0, atol=1e-12)


def test_reflection_allowed_is_never_worse_and_flip_means_the_mirror_fits_better():
    """On noisy predictions the fit with reflection allowed can only be as good or better, and
    a frame counts as flipped exactly when its mirror image fits better than itself (in the
    squared error the fit minimises; MPJPE, a mean of norms, may rank a few frames otherwise)."""
    rng = np.random.RandomState(3)
    gt = rng.normal(size=(400, 17, 3))
    pred = gt * np.where(rng.rand(400, 1, 1) < 0.3, np.array([1, 1, -1]), 1) + rng.normal(scale=0.8, size=gt.shape)
    pa, pa_r, flip = M.procrustes_errors(pred, gt)
    assert (pa_r <= pa + 1e-12).all()
    def sq(p):
        return ((M.procrustes_align(p, gt) - gt) ** 2).sum((1, 2))
    mirror_better = sq(pred * np.array([1, 1, -1])) < sq(pred)
    assert 0.1 < flip.mean() < 0.5
    np.testing.assert_array_equal(flip.astype(bool), mirror_better)
    res, err = compute_metrics(pred, gt, np.array(['a'] * 400))
    assert res['depth_flip_rate'] == pytest.approx(flip.mean())
    assert res['P-MPJPE_reflect'] <= res['P-MPJPE']


def test_mpjpe_head_root_factor_by_hand():
    from lib.eval.evaluate import compute_metrics
    gt = np.zeros((1, 17, 3)); gt[0, sk.HEAD] = [0, -0.5, 0]; gt[0, 0] = [0.3, 0, 0]
    pred = np.zeros((1, 17, 3)); pred[0, sk.HEAD] = [0, -1.2, 0]; pred[0, 0] = [0.6, 0, 0]
    res, err = compute_metrics(pred, gt + 5.0, np.array(['a']))
    # prediction x Lf (0.5): head at -0.6 (0.1 m off), joint 0 at 0.3 (exact); 15 joints exact
    assert res['MPJPE'] == pytest.approx(100.0 / 17, rel=1e-6)
    assert res['N-MPJPE'] < res['MPJPE']
    assert res['P-MPJPE'] == pytest.approx(M.p_mpjpe(pred * 0.5, gt)[0] * 1000, rel=1e-6)


def test_n_mpjpe_and_oracle_of_scaled_copy():
    rng = np.random.RandomState(2)
    gt = rng.normal(size=(4, 17, 3))
    assert np.allclose(M.n_mpjpe(gt * 3.0, gt), 0, atol=1e-12)
    assert np.allclose(M.oracle_scale_mpjpe(gt * 0.2, gt), 0, atol=1e-12)


def test_batch_means_is_mean_of_batch_means():
    err = np.array([1.0] * 4 + [3.0])
    assert M.batch_means(err, 4) == pytest.approx(2.0)
    assert err.mean() == pytest.approx(1.4)


# --- evaluation speed: the fast metrics give the reference numbers -------------

def _ref_procrustes(pred, gt):
    """The straightforward implementation the fast one replaced (np.linalg.norm, plain matmul)."""
    mu_g, mu_p = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    G0, P0 = gt - mu_g, pred - mu_p
    nG = np.maximum(np.linalg.norm(G0, axis=(1, 2), keepdims=True), 1e-12)
    nP = np.maximum(np.linalg.norm(P0, axis=(1, 2), keepdims=True), 1e-12)
    G0, P0 = G0 / nG, P0 / nP
    U, S, Vt = np.linalg.svd(np.matmul(G0.transpose(0, 2, 1), P0))
    V = Vt.transpose(0, 2, 1)
    flip = np.linalg.det(np.matmul(V, U.transpose(0, 2, 1))) < 0
    V[flip, :, -1] *= -1
    S[flip, -1] *= -1
    R = np.matmul(V, U.transpose(0, 2, 1))
    a = S.sum(1)[:, None, None] * nG / nP
    return a * np.matmul(pred, R) + (mu_g - a * np.matmul(mu_p, R))


def test_fast_metrics_equal_reference_within_1e6_mm():
    rng = np.random.RandomState(1)
    gt = rng.normal(0, 0.3, (5000, 17, 3))
    gt -= gt[:, 13:14]
    pred = 0.8 * gt + rng.normal(0, 0.05, gt.shape)
    pred[:7] = -pred[:7]                              # reflections: the no-flip branch is used
    mm = 1000.0
    ref = {'MPJPE': np.linalg.norm(pred - gt, axis=-1).mean(-1),
           'P-MPJPE': np.linalg.norm(_ref_procrustes(pred, gt) - gt, axis=-1).mean(-1)}
    s = (pred * gt).sum((1, 2)) / (pred * pred).sum((1, 2))
    ref['N-MPJPE'] = np.linalg.norm(pred * s[:, None, None] - gt, axis=-1).mean(-1)
    s = np.linalg.norm(gt, axis=(1, 2)) / np.linalg.norm(pred, axis=(1, 2))
    ref['oracle'] = np.linalg.norm(pred * s[:, None, None] - gt, axis=-1).mean(-1)
    got = {'MPJPE': M.mpjpe(pred, gt), 'P-MPJPE': M.p_mpjpe(pred, gt), 'N-MPJPE': M.n_mpjpe(pred, gt),
           'oracle': M.oracle_scale_mpjpe(pred, gt)}
    for k in ref:
        assert np.abs(got[k] - ref[k]).max() * mm < 1e-6, k
    assert ref['P-MPJPE'].mean() > 1e-3               # not a trivial comparison

    # the per-action table (bincount) against a per-action loop; chunking changes nothing
    groups = np.array(['Walk', 'Sit', 'Eat'])[rng.randint(0, 3, len(gt))]
    res, err = compute_metrics(pred / 0.5, gt, groups, chunk=777)
    res1, err1 = compute_metrics(pred / 0.5, gt, groups, chunk=len(gt))
    assert res == res1 and all(np.array_equal(err[k], err1[k]) for k in err)
    for a in ('Walk', 'Sit', 'Eat'):
        m = groups == a
        for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE'):
            assert abs(res['per_action'][a][k] - err[k][m].mean()) < 1e-6
        assert res['per_action'][a]['num_poses'] == m.sum()
