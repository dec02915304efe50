"""Joint orders of 2D input (lib/inference/joint_orders.py): every order maps to the same 17
joints, a wrong order is warned about and named."""
import os

import numpy as np
import pytest

from helpers import REPO, demo_2d_v3d, demo_image
from lib.inference import joint_orders as jo
from lib.inference.keypoints import read_input
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz


MP_FROM_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]   # coco17 <- mediapipe33


# --- joint orders ----------------------------------------------------------------------

def test_orders_map_to_the_same_17_joints(detector):
    """MediaPipe landmarks of a real image given as mediapipe33, coco17 (its subset) and openpose25
    (built from it) give the same 17 joints; h36m input passes unchanged."""
    d = detector.detect(demo_image(2))
    mp = d.landmarks[None]
    coco = mp[:, MP_FROM_COCO]
    op = np.zeros((1, 25, 2))
    for k, name in enumerate(jo.LANDMARK_NAMES):
        op[:, jo.LANDMARKS['openpose25'][k]] = mp[:, jo.LANDMARKS['mediapipe33'][k]]
    ref, miss = jo.to_v3d17(mp, 'mediapipe33')
    assert not miss.any()
    for kps, order in ((coco, 'coco17'), (op, 'openpose25')):
        np.testing.assert_allclose(jo.to_v3d17(kps, order)[0], ref)
    # the documented rule: pelvis = mid-hips, thorax = mid-shoulders, spine between, nose, head above the ears
    L = dict(zip(jo.LANDMARK_NAMES, mp[0, list(jo.LANDMARKS['mediapipe33'])]))
    np.testing.assert_allclose(ref[0, 0], (L['lhip'] + L['rhip']) / 2)
    np.testing.assert_allclose(ref[0, 8], (L['lsho'] + L['rsho']) / 2)
    np.testing.assert_allclose(ref[0, 7], (ref[0, 0] + ref[0, 8]) / 2)
    np.testing.assert_allclose(ref[0, 9], L['nose'])
    ears = (L['lear'] + L['rear']) / 2
    np.testing.assert_allclose(ref[0, 10], ears + jo.HEAD_FROM_EARS * (ears - ref[0, 8]))
    np.testing.assert_allclose(ref[0, [1, 4, 11, 14]], np.stack([L['rhip'], L['lhip'], L['lsho'], L['rsho']]))
    h36m = demo_2d_v3d(0)[None]
    np.testing.assert_allclose(jo.to_v3d17(h36m, 'h36m')[0], h36m)


def test_joint_count_must_fit_the_order():
    with pytest.raises(UserError, match='25 joints per pose, but --joint-order coco17 has 17.*openpose25'):
        jo.to_v3d17(np.ones((1, 25, 2)), 'coco17')


def test_bone_share_reference_is_the_bundled_data():
    d = load_npz(os.path.join(REPO, 'datasets', 'quickstart', 'data_2d_quickstart_gt.npz'))['positions_2d']
    frames = np.concatenate([np.asarray(c)[::10] for s in d for a in d[s] for c in d[s][a]])
    L = np.linalg.norm(frames[:, jo.BONES[:, 0]] - frames[:, jo.BONES[:, 1]], axis=-1)
    np.testing.assert_allclose(np.median(L / L.sum(1, keepdims=True), 0), jo.BONE_SHARE, atol=6e-5)


def test_wrong_order_is_warned_and_named(detector, tmp_path):
    """COCO keypoints of real images given as h36m: a warning naming coco17; right orders: none."""
    coco = np.stack([detector.detect(demo_image(n)).landmarks[MP_FROM_COCO] for n in (0, 1, 2, 4, 5, 6)])
    np.save(tmp_path / 'coco.npy', coco)
    w = read_input(str(tmp_path / 'coco.npy')).warning
    assert w is not None and '--joint-order coco17' in w
    assert read_input(str(tmp_path / 'coco.npy'), 'coco17').warning is None
    np.save(tmp_path / 'h36m.npy', np.stack([demo_2d_v3d(n) for n in range(12)]))
    assert read_input(str(tmp_path / 'h36m.npy')).warning is None
    w = read_input(str(tmp_path / 'h36m.npy'), 'coco17').warning          # and the other way round
    assert w is not None and '--joint-order h36m' in w
    for n in range(12):                   # single real poses are not flagged either
        assert jo.order_warning(demo_2d_v3d(n)[None], 'h36m') is None


# --- filling missing limb joints -------------------------------------------------------------

# LSP index -> v3d index, for the 12 limb joints
LSP_TO_V3D = {0: 3, 1: 2, 2: 1, 3: 4, 4: 5, 5: 6, 6: 16, 7: 15, 8: 14, 9: 11, 10: 12, 11: 13}


def test_lsp_and_detector_keypoints_fill_limbs_by_one_rule():
    from lib.inference import joint_orders, lsp
    rng = np.random.default_rng(0)
    lsp14 = rng.uniform(0, 200, (14, 2))
    v3d = rng.uniform(0, 200, (17, 2))
    for i, j in LSP_TO_V3D.items():
        v3d[j] = lsp14[i]
    assert [tuple(LSP_TO_V3D[k] for k in chain) for chain in lsp.LIMBS] == \
        [(1, 2, 3), (4, 5, 6), (14, 15, 16), (11, 12, 13)]
    fillable = [k for chain in lsp.LIMBS for k in chain[1:]]      # knees/elbows, ankles/wrists
    for pattern in range(2 ** len(fillable)):
        miss14 = np.zeros(14, bool)
        for b, k in enumerate(fillable):
            miss14[k] = bool(pattern >> b & 1)
        miss17 = np.zeros(17, bool)
        for i, j in LSP_TO_V3D.items():
            miss17[j] = miss14[i]
        a = lsp.fill_missing(lsp14, miss14)
        b, _, reasons = joint_orders.fill_missing(v3d[None], miss17[None])
        assert reasons == [None]
        for i, j in LSP_TO_V3D.items():
            assert np.array_equal(a[i], b[0, j]), (pattern, i)
        c = lsp14.copy()
        joint_orders.fill_limbs(c, miss14, lsp.LIMBS)
        np.testing.assert_array_equal(c[:12], a[:12])
    # the rule itself, on one chain: hip 2, knee 1, ankle 0
    miss = np.zeros(14, bool)
    miss[[1]] = True
    np.testing.assert_array_equal(lsp.fill_missing(lsp14, miss)[1], (lsp14[2] + lsp14[0]) / 2)
    miss[[0]] = True
    filled = lsp.fill_missing(lsp14, miss)
    np.testing.assert_array_equal(filled[1], lsp14[2])
    np.testing.assert_array_equal(filled[0], lsp14[2])
