"""Tests of the LSP path (lib/data/lsp.py, tools/eval_lsp.py), the demo
(lib/data/demo_io.py, scripts/inference.py) and the drawing (lib/vis/plot.py).

Everything runs on the CPU with a tiny randomly initialised model.  Only the
last test needs ``../shared/data/lsp_sample``; the others make their own
joints.mat files and images.
"""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from lib.data import skeleton as sk
from lib.data.demo_io import output_stems, read_input
from lib.data.lsp import (LSP_NAMES, NECK_FILL_T, detect_layout, fill_missing, load_lsp, lsp14_to_ours17,
                          missing_joints, normalise_lsp)
from lib.utils.errors import UserError
from lib.vis.plot import contact_sheet, figure_2d_3d, save_gif, save_png

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LSP_SAMPLE = os.path.join(REPO, '..', 'shared', 'data', 'lsp_sample')

# A standing person, LSP order, pixels in a 160 x 200 image (x right, y down).
STANDING = np.array([
    [65, 180], [66, 140], [68, 100],      # R ankle, R knee, R hip
    [92, 100], [94, 140], [95, 180],      # L hip, L knee, L ankle
    [45, 105], [52, 80], [62, 55],        # R wrist, R elbow, R shoulder
    [98, 55], [108, 80], [115, 105],      # L shoulder, L elbow, L wrist
    [80, 45], [80, 15]], np.float64)      # neck, head top
W, H = 160, 200


def run(args, cwd=REPO):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, timeout=120)


def not_blank(path, min_std=10.0):
    with Image.open(path) as im:
        a = np.asarray(im.convert('L'), np.float64)
    return a.std() > min_std


@pytest.fixture(scope='module')
def tiny_model(tiny_checkpoint):
    """A tiny PoseModel (with scaler) checkpoint and a YAML that matches it."""
    return tiny_checkpoint


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


def _write_lsp(root, poses, flags, layout, sizes=None):
    """Write joints.mat in ``layout`` and matching images; poses (N, 14, 2), flags (N, 14)."""
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    j = np.concatenate([poses, flags[..., None]], -1)            # (N, 14, 3)
    arr = np.transpose(j, (2, 1, 0)) if layout == 'lsp' else np.transpose(j, (1, 2, 0))
    scipy.io.savemat(os.path.join(root, 'joints.mat'), {'joints': arr})
    pattern = 'im%04d.jpg' if layout == 'lsp' else 'im%05d.jpg'
    for n in range(len(poses)):
        w, h = (sizes or {}).get(n, (W, H))
        img = Image.new('RGB', (w, h), (30 + 20 * n, 90, 160))
        img.save(os.path.join(root, 'images', pattern % (n + 1)))


@pytest.mark.parametrize('n', [3, 14])
def test_joints_mat_both_layouts(tmp_path, n):
    """(3, 14, N) and (14, 3, N) give the same poses, also when N is 3 or 14."""
    rng = np.random.RandomState(n)
    poses = STANDING[None] + rng.uniform(-3, 3, (n, 14, 2))
    orig_flags = np.zeros((n, 14))
    orig_flags[:, 0] = 1                  # original release: 1 = occluded, still a real point
    ext_flags = np.ones((n, 14))          # extended: 1 = annotated
    _write_lsp(str(tmp_path / 'lsp'), poses, orig_flags, 'lsp')
    _write_lsp(str(tmp_path / 'lspet'), poses, ext_flags, 'lspet')
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
    _write_lsp(str(tmp_path), poses, flags, 'lspet')
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


# --- demo input ---------------------------------------------------------------------

def _v3d_pose(shift=0.0):
    return sk.ours_to_v3d(lsp14_to_ours17(STANDING)) + shift


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps({'joints_2d': _Evil(marker)}, protocol=2))
    assert not marker.exists()
    with pytest.raises(UserError, match='refus'):
        read_input(str(evil))
    assert not marker.exists()


def test_demo_readers(tmp_path):
    pose = _v3d_pose()
    np.save(tmp_path / 'a.npy', pose)
    np.savez(tmp_path / 'b.npz', keypoints=np.stack([pose] * 3))
    np.savez(tmp_path / 'c.npz', whatever=pose)
    (tmp_path / 'd.json').write_text(json.dumps({'keypoints': pose.tolist()}))
    (tmp_path / 'e.json').write_text(json.dumps([pose.tolist()] * 2))
    for name, seq, T in (('a.npy', False, 1), ('b.npz', True, 3), ('c.npz', False, 1),
                         ('d.json', False, 1), ('e.json', True, 2)):
        inp = read_input(str(tmp_path / name))
        assert inp.sequence == seq and inp.px_ours.shape == (T, 17, 2)
        np.testing.assert_allclose(inp.px_ours[0], sk.v3d_to_ours(pose))      # reordered to ours
    # a joint count that fits no order names the orders; (T, 17, 3) is now a confidence column
    bad = {'f.npy': (np.ones((16, 2)), 'joints per pose'), 'g.npy': (np.ones((2, 17, 4)), 'shape')}
    for name, (arr, msg) in bad.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(UserError, match=msg):
            read_input(str(tmp_path / name))
    nan = pose.copy()
    nan[4, 0] = np.nan
    np.save(tmp_path / 'h.npy', nan)
    with pytest.raises(UserError, match='NaN'):
        read_input(str(tmp_path / 'h.npy'))
    (tmp_path / 'i.csv').write_text('1,2\n')
    with pytest.raises(UserError, match='unknown input type'):
        read_input(str(tmp_path / 'i.csv'))
    (tmp_path / 'j.json').write_text('{"keypoints": [1, 2')
    with pytest.raises(UserError, match='malformed JSON'):
        read_input(str(tmp_path / 'j.json'))
    assert output_stems(['x/a.npy', 'x/a.json', 'x/b.pkl']) == ['a_npy', 'a_json', 'b']


def test_inference_end_to_end_with_bad_files(tmp_path, tiny_model):
    """Good files of every format are lifted and drawn; each bad file gets one error line;
    the malicious pickle does not run; exit status 2."""
    cfg, ckpt = tiny_model
    indir, outdir = tmp_path / 'in', tmp_path / 'out'
    indir.mkdir()
    pose = _v3d_pose()
    np.save(indir / 'single.npy', pose)
    seq = np.stack([pose + [3 * t, np.sin(t)] for t in range(5)])
    np.savez(indir / 'seq.npz', keypoints=seq)
    (indir / 'pose.json').write_text(json.dumps({'keypoints': pose.tolist()}))
    px = lsp14_to_ours17(STANDING)
    x, _ = normalise_lsp(px[None])
    with open(indir / 'orig.pkl', 'wb') as f:
        pickle.dump({'joints_2d': x[0], 'original_joints_2d': px.astype(np.float32)}, f, protocol=2)
    np.save(indir / 'badshape.npy', np.ones((16, 2)))
    nan = pose.copy()
    nan[3, 1] = np.inf
    (indir / 'nan.json').write_text(json.dumps([nan.tolist()]).replace('Infinity', 'NaN'))
    (indir / 'notes.csv').write_text('x,y\n')
    marker = tmp_path / 'pwned'
    (indir / 'evil.pkl').write_bytes(pickle.dumps({'joints_2d': _Evil(marker)}, protocol=2))
    (indir / 'README.md').write_text('docs are skipped\n')

    r = run(['scripts/inference.py', '--indir', str(indir), '--outdir', str(outdir), '--cfg', cfg,
             '--pretrain', ckpt, '--gpu', '-1', '--gif-frames', '5'])
    assert r.returncode == 2, r.stderr
    assert not marker.exists()
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith('error: ')]
    assert len(errors) == 4, r.stderr
    for name in ('badshape.npy', 'nan.json', 'notes.csv', 'evil.pkl'):
        assert sum(name in ln for ln in errors) == 1, (name, r.stderr)
    assert 'Traceback' not in r.stderr
    assert 'lifted 4, skipped 1' in r.stdout and 'failed 4' in r.stdout, r.stdout
    for stem in ('single', 'seq', 'pose', 'orig'):
        for suffix in ('_3d.npy', '_3d.json', '.png'):
            assert (outdir / (stem + suffix)).is_file(), stem + suffix
        assert not_blank(outdir / (stem + '.png'))
    assert (outdir / 'seq.gif').is_file() and not (outdir / 'single.gif').exists()
    with Image.open(outdir / 'seq.gif') as g:
        assert g.n_frames == 5
    assert np.load(outdir / 'single_3d.npy').shape == (17, 3)
    assert np.load(outdir / 'seq_3d.npy').shape == (5, 17, 3)
    rec = json.loads((outdir / 'seq_3d.json').read_text())
    assert rec['joint_names'][0] == 'Hip' and len(rec['joints_3d']) == 5 and len(rec['scale']) == 5
    # v3d order and root-centred: the hip (v3d 0) is at the origin
    assert np.allclose(np.load(outdir / 'single_3d.npy')[0], 0, atol=1e-6)
    assert not [p for p in os.listdir(outdir) if p.startswith('.')]     # no temporary files left


def test_inference_empty_folder_is_one_line_error(tmp_path, tiny_model):
    cfg, ckpt = tiny_model
    (tmp_path / 'empty').mkdir()
    r = run(['scripts/inference.py', '--indir', str(tmp_path / 'empty'), '--outdir', str(tmp_path / 'o'),
             '--cfg', cfg, '--pretrain', ckpt])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: no input files'), r.stderr


# --- drawing ------------------------------------------------------------------------

def test_figures_gif_and_contact_sheet(tmp_path):
    pts = lsp14_to_ours17(STANDING)
    pose = np.concatenate([(pts - pts[sk.ROOT]) / 60.0, np.zeros((17, 1))], 1)
    img = np.full((H, W, 3), 120, np.uint8)
    missing = np.arange(17) == 0
    fig = figure_2d_3d(pts, pose, image=img, title='test', missing=missing)
    png = save_png(fig, str(tmp_path / 'a.png'))
    assert not_blank(png)
    with Image.open(png) as im:
        assert im.width > im.height                         # 2D panel beside the 3D views
    gif = save_gif(np.stack([pts] * 4), np.stack([pose] * 4), str(tmp_path / 'a.gif'), max_frames=3)
    with Image.open(gif) as g:
        assert g.n_frames == 3
    sheet = contact_sheet([png, png, str(tmp_path / 'missing.png')], str(tmp_path / 'sheet.png'), cols=2,
                          thumb=64)
    with Image.open(sheet) as s:
        assert s.width > 2 * 64
    assert contact_sheet([], str(tmp_path / 'none.png')) is None


# --- eval_lsp -----------------------------------------------------------------------

def test_eval_lsp_from_tools_dir_with_generated_mat(tmp_path, tiny_model):
    """Run from inside tools/ with relative paths: one lifted, one skipped, one failed -> exit 2."""
    cfg, ckpt = tiny_model
    root = tmp_path / 'lsp'
    poses = np.stack([STANDING] * 3)
    flags = np.ones((3, 14))
    flags[1, 2] = 0                               # R hip missing -> skipped
    _write_lsp(str(root), poses, flags, 'lspet')
    os.remove(root / 'images' / 'im00003.jpg')    # failed
    tools = os.path.join(REPO, 'tools')
    rel = lambda p: os.path.relpath(str(p), tools)  # noqa: E731
    r = run(['eval_lsp.py', '--cfg', rel(cfg), '--pretrain', rel(ckpt), '--lsp-root', rel(root),
             '--out', rel(tmp_path / 'out'), '--gpu', '-1'], cwd=tools)
    assert r.returncode == 2, r.stderr
    assert 'lifted 1, skipped 1, failed 1' in r.stdout, r.stdout
    assert 'Traceback' not in r.stderr
    out = tmp_path / 'out'
    assert not_blank(out / 'im00001.png')
    rec = json.loads((out / 'im00001.json').read_text())
    ours, v3d = np.array(rec['joints_3d_ours']), np.array(rec['joints_3d_v3d'])
    np.testing.assert_allclose(v3d, sk.ours_to_v3d(ours))
    assert rec['filled_joints_ours'] == [] and rec['lsp_annotation']['names'] == LSP_NAMES
    page = (out / 'index.html').read_text()
    assert 'im00001.png' in page and 'R hip' in page and 'im00003.jpg' in page
    assert (out / 'contact_sheet.png').is_file()


def test_eval_lsp_unwritable_out_is_one_line_error(tmp_path, tiny_model):
    cfg, ckpt = tiny_model
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    r = run(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--out', str(blocker / 'sub')])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'not writable' in lines[0], r.stderr


def test_eval_lsp_on_real_sample(tmp_path, tiny_model):
    if not os.path.isfile(os.path.join(LSP_SAMPLE, 'joints.mat')):
        pytest.skip('real LSP sample not available: %s is absent (needs <repo>/../shared)' % LSP_SAMPLE)
    cfg, ckpt = tiny_model
    out = tmp_path / 'lsp'
    r = run(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--lsp-root', LSP_SAMPLE,
             '--out', str(out), '--limit', '8', '--gpu', '-1'])
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith('lifted')][0]
    lifted, skipped, failed = [int(w.strip(',')) for w in line.split()[1:6:2]]
    assert lifted + skipped == 8 and failed == 0 and lifted >= 4, line
    pngs = sorted(p for p in os.listdir(out) if p.startswith('im') and p.endswith('.png'))
    assert len(pngs) == lifted and all(not_blank(out / p) for p in pngs)
    # image 1 has its right ankle unannotated at (0, -26): filled and flagged, never lifted as is
    rec = json.loads((out / 'im00001.json').read_text())
    assert rec['filled_joints_ours'] == [0]
    assert np.array(rec['joints_2d_px_ours'])[0].min() > 0
    assert (out / 'index.html').is_file() and (out / 'contact_sheet.png').is_file()
