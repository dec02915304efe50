"""LSP (lib/inference/lsp.py): 14 -> 17 joints, both ``joints.mat`` layouts, missing joints
filled and not lifted, the loader's skips and flags."""
import os

import numpy as np
import pytest

from helpers import H, STANDING, W, write_lsp
from lib.data import skeleton as sk
from lib.data.normalise import normalise_lsp
from lib.inference.lsp import NECK_FILL_T, detect_layout, fill_missing, load_lsp, lsp14_to_ours17, missing_joints
from lib.utils.errors import UserError


# --- 14 -> 17, layouts, missing joints --------------------------------------------

def test_lsp14_to_ours17_mapping():
    j = np.arange(28, dtype=np.float64).reshape(14, 2) * np.array([1.0, 10.0])
    o = lsp14_to_ours17(j)
    assert o.shape == (17, 2)
    np.testing.assert_array_equal(o[:12], j[:12])
    thorax, pelvis = (j[8] + j[9]) / 2, (j[2] + j[3]) / 2
    np.testing.assert_allclose(o[12], thorax)
    np.testing.assert_allclose(o[13], pelvis)
    np.testing.assert_allclose(o[14], (thorax + pelvis) / 2)
    np.testing.assert_array_equal(o[15], j[12])          # LSP neck
    np.testing.assert_array_equal(o[16], j[13])          # LSP head top
    assert sk.ROOT == 13 and sk.HEAD == 16
    # batched input keeps its leading axes
    assert lsp14_to_ours17(np.stack([j, j + 1])).shape == (2, 17, 2)


@pytest.mark.parametrize('n', [3, 14])
def test_joints_mat_both_layouts(tmp_path, n):
    """(3, 14, N) and (14, 3, N) give the same poses, also when N is 3 or 14."""
    rng = np.random.RandomState(n)
    poses = STANDING[None] + rng.uniform(-3, 3, (n, 14, 2))
    orig_flags = np.zeros((n, 14))
    orig_flags[:, 0] = 1                  # original release: 1 = occluded, still a real point
    ext_flags = np.ones((n, 14))          # extended: 1 = annotated
    write_lsp(str(tmp_path / 'lsp'), poses, orig_flags, 'lsp')
    write_lsp(str(tmp_path / 'lspet'), poses, ext_flags, 'lspet')
    a = load_lsp(str(tmp_path / 'lsp'))
    b = load_lsp(str(tmp_path / 'lspet'))
    assert (a.layout, b.layout) == ('lsp', 'lspet')
    assert [im.name for im in a.images][:2] == ['im0001.jpg', 'im0002.jpg']
    assert [im.name for im in b.images][:2] == ['im00001.jpg', 'im00002.jpg']
    assert a.count('ok') == b.count('ok') == n
    for ia, ib, p in zip(a.images, b.images, poses):
        np.testing.assert_allclose(ia.px_ours, lsp14_to_ours17(p))
        np.testing.assert_allclose(ib.px_ours, lsp14_to_ours17(p))
        assert not ia.missing.any() and not ib.missing.any()
        assert ia.size == (W, H)
    np.testing.assert_allclose(a.x_norm, b.x_norm)
    # the normalised input: root 1e-5 * factor, mean head-root 0.1, x and y scaled alike
    x = a.x_norm
    assert np.allclose(x[:, sk.ROOT], 1e-5 * a.factor, atol=1e-7)
    assert abs(np.linalg.norm(x[:, sk.HEAD] - x[:, sk.ROOT], axis=-1).mean() - 0.1) < 1e-5
    px = lsp14_to_ours17(poses)
    rel = (px - px[:, sk.ROOT:sk.ROOT + 1])[:, [0, 16]]
    c = np.linalg.norm(x[:, [0, 16]]) / np.linalg.norm(rel)       # one factor for x and y
    np.testing.assert_allclose(x[:, [0, 16]], c * rel, atol=1e-6)


def test_layout_detection_edge_cases():
    one = np.ones((14, 3))                       # MATLAB drops a trailing singleton axis
    j, layout = detect_layout(one)
    assert j.shape == (1, 14, 3) and layout == 'lspet'
    j, layout = detect_layout(np.ones((3, 14)))
    assert j.shape == (1, 14, 3) and layout == 'lsp'
    for bad in (np.ones((2000, 14, 3)), np.ones((5, 14, 3)), np.ones(14)):
        with pytest.raises(UserError, match='expected'):
            detect_layout(bad)


def test_anisotropic_option_stretches_x():
    px = lsp14_to_ours17(STANDING)[None]
    iso, _ = normalise_lsp(px, anisotropic=False)
    ani, _ = normalise_lsp(px, anisotropic=True)
    w_iso = np.ptp(iso[0, :, 0]) / np.ptp(iso[0, :, 1])
    w_ani = np.ptp(ani[0, :, 0]) / np.ptp(ani[0, :, 1])
    assert w_ani / w_iso == pytest.approx(90.0 / 55.0, rel=1e-4)


def test_missing_joints_are_filled_not_lifted():
    j = np.concatenate([STANDING, np.ones((14, 1))], 1)
    j[6] = [0.0, -26.0, 0.0]          # R wrist: not annotated, garbage coordinates
    j[1, 2] = 0                       # R knee: not annotated (its ankle is)
    j[1, :2] = [-40.0, 0.0]
    j[12] = [0.0, -59.0, 0.0]         # neck: not annotated
    miss = missing_joints(j, 'lspet', (W, H))
    assert miss.tolist() == [k in (1, 6, 12) for k in range(14)]
    xy = fill_missing(j[:, :2], miss)
    np.testing.assert_allclose(xy[6], xy[7])                              # wrist -> its elbow
    np.testing.assert_allclose(xy[1], (STANDING[2] + STANDING[0]) / 2)    # knee -> mid hip/ankle
    thorax = (STANDING[8] + STANDING[9]) / 2
    np.testing.assert_allclose(xy[12], thorax + NECK_FILL_T * (STANDING[13] - thorax))
    assert np.all(xy >= 0) and np.all(xy[:, 0] < W) and np.all(xy[:, 1] < H)
    # an annotated joint far outside the image is missing too; one just past the border is not
    j2 = np.concatenate([STANDING, np.ones((14, 1))], 1)
    j2[11, :2] = [W + 100, 50]
    j2[13, :2] = [80, -1.2]
    assert missing_joints(j2, 'lspet', (W, H)).tolist() == [k == 11 for k in range(14)]
    # in the original layout the flag is an occlusion flag: not missing
    j3 = np.concatenate([STANDING, np.ones((14, 1))], 1)
    assert not missing_joints(j3, 'lsp', (W, H)).any()
    # a required joint missing: the image is skipped, with the joint named
    with pytest.raises(ValueError, match='L hip'):
        fill_missing(STANDING, np.arange(14) == 3)


def test_load_lsp_skips_fails_and_flags(tmp_path):
    poses = np.stack([STANDING] * 4)
    flags = np.ones((4, 14))
    poses[0, 0] = [0, -26]
    flags[0, 0] = 0                   # image 1: R ankle missing -> filled, flagged
    flags[1, 3] = 0                   # image 2: L hip missing -> skipped
    write_lsp(str(tmp_path), poses, flags, 'lspet')
    os.remove(tmp_path / 'images' / 'im00003.jpg')                      # image 3: failed
    (tmp_path / 'images' / 'im00004.jpg').write_bytes(b'not a jpeg')   # image 4: failed
    d = load_lsp(str(tmp_path))
    assert [im.status for im in d.images] == ['ok', 'skipped', 'failed', 'failed']
    assert 'L hip' in d.images[1].reason
    assert 'not found' in d.images[2].reason and 'unreadable' in d.images[3].reason
    im = d.images[0]
    assert im.missing.tolist() == [k == 0 for k in range(17)]
    np.testing.assert_allclose(im.px_ours[0], im.px_ours[1])        # ankle collapsed onto the knee
    assert np.isfinite(d.x_norm).all() and d.x_norm.shape == (1, 17, 2)
