"""PCK / AUC (lib/eval/pck.py) against a plain reference and the authors' ``calc_auc``."""
import importlib.util
import os
import sys
import types

import numpy as np
import pytest

from helpers import REPO, reference_pck_auc, rigid_align_reference


ORIGINAL_UTILS = os.path.normpath(os.path.join(REPO, '..', 'shared', 'original', 'lib', 'utils', 'utils.py'))


def test_pck_auc_against_a_plain_reference():
    from lib.eval.pck import pck_metrics
    rng = np.random.RandomState(3)
    gt = rng.normal(0, 0.25, (300, 17, 3))
    pred = gt @ np.linalg.qr(rng.normal(size=(3, 3)))[0].T * 1.1 + rng.normal(0, 0.04, gt.shape)
    res = pck_metrics(pred, gt, np.repeat(['a', 'b', 'c'], 100))
    auc, p5 = reference_pck_auc(pred, gt)
    auc2, p52 = reference_pck_auc(rigid_align_reference(pred, gt), gt)
    assert res['auc'] == pytest.approx(auc, abs=1e-12) and res['pckh5'] == pytest.approx(p5, abs=1e-12)
    assert res['auc_p2'] == pytest.approx(auc2, abs=1e-9) and res['pckh5_p2'] == pytest.approx(p52, abs=1e-9)
    assert 0 < auc < auc2 < 1                                # alignment removes the rotation
    assert res['per_group']['b']['auc'] == pytest.approx(reference_pck_auc(pred[100:200], gt[100:200])[0])


def load_authors_utils(monkeypatch):
    """The authors' lib/utils/utils.py; scikit-learn (for its trapezoidal ``auc`` only) is
    replaced by the trapezoid rule when it is not installed."""
    if not os.path.isfile(ORIGINAL_UTILS):
        pytest.skip('the authors\' code is not at ../shared/original')
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        metrics = types.ModuleType('sklearn.metrics')
        metrics.auc = lambda x, y: float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
        monkeypatch.setitem(sys.modules, 'sklearn', types.ModuleType('sklearn'))
        monkeypatch.setitem(sys.modules, 'sklearn.metrics', metrics)
    spec = importlib.util.spec_from_file_location('authors_utils', ORIGINAL_UTILS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pck_auc_match_the_authors_calc_auc(monkeypatch):
    from lib.eval.pck import pck_metrics
    utils = load_authors_utils(monkeypatch)
    rng = np.random.RandomState(5)
    gt = rng.normal(0, 0.25, (200, 17, 3))
    pred = gt * 0.9 + rng.normal(0, 0.05, gt.shape)
    res = pck_metrics(pred, gt)
    a, p = utils.calc_auc(pred.copy(), gt.copy())
    a2, p2 = utils.calc_auc_aligned(pred.copy(), gt.copy())
    assert (res['auc'], res['pckh5']) == pytest.approx((a, p), abs=1e-12)
    assert (res['auc_p2'], res['pckh5_p2']) == pytest.approx((a2, p2), abs=1e-9)
