"""From images and videos to 3D: the offline detector, joint orders, detector file
formats, BVH export and the authors' figure (issue 14; 16 item 8; 13 item 6).

The real-image checks use the authors' 12 demo images shipped in
``scripts/demo_input`` and always run; only the LSP check needs ``../shared``.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from lib.core.detector_eval import demo_agreement, limb_errors, lsp_agreement
from lib.data import bvh_export as bx
from lib.data import joint_orders as jo
from lib.data import skeleton as sk
from lib.data.bvh import parse_bvh
from lib.data.demo_io import read_input
from lib.data.detector import PoseDetector
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz, safe_pickle_load

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, 'scripts', 'demo_input')
LSP_SAMPLE = os.path.join(REPO, '..', 'shared', 'data', 'lsp_sample')
MP_FROM_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]   # coco17 <- mediapipe33


def run(args):
    return subprocess.run([sys.executable, 'scripts/inference.py'] + args, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope='module')
def tiny_model(tiny_checkpoint):
    yaml_path, ckpt = tiny_checkpoint
    return ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']


@pytest.fixture(scope='module')
def detector():
    with PoseDetector() as det:
        yield det


def demo_image(n):
    with Image.open(os.path.join(DEMO, '%d.jpg' % n)) as im:
        return np.asarray(im.convert('RGB'))


def demo_2d_v3d(n):
    return sk.ours_to_v3d(np.asarray(safe_pickle_load(os.path.join(DEMO, '%d.pkl' % n))['original_joints_2d'],
                                     np.float64))


# --- the detector on real images ---------------------------------------------------

def test_detector_agrees_with_the_authors_2d(detector):
    acc = demo_agreement(detector, DEMO)
    print(acc.line('authors\' demo images'))
    assert acc.images == 12
    assert acc.detected >= 10, acc.missed
    assert acc.fraction >= 0.85


def test_largest_person_is_chosen(detector):
    """Two real people side by side, one twice the size of the other: the larger one is kept."""
    small, big = Image.fromarray(demo_image(0)), Image.fromarray(demo_image(1))
    big = big.resize((big.width * 2, big.height * 2))
    canvas = Image.new('RGB', (small.width + big.width + 40, big.height), (90, 90, 90))
    canvas.paste(small, (0, big.height - small.height))
    canvas.paste(big, (small.width + 40, 0))
    d = detector.detect(np.asarray(canvas))
    assert d is not None and d.people >= 2       # (the images also hold spectators)
    assert d.landmarks[:, 0].min() > small.width          # all of it on the big person


@pytest.mark.skipif(not os.path.isdir(LSP_SAMPLE), reason='needs ../shared/data/lsp_sample')
def test_lsp_subset_detection_and_agreement(detector):
    acc = lsp_agreement(detector, LSP_SAMPLE, limit=50)
    print(acc.line('LSP sample, first 50'))
    assert acc.images == 50 and acc.detected >= 40      # 400 images: 358 found (89.5 %)
    assert acc.fraction > 0.45                           # 400 images: 58.5 %


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


# --- detector file formats (issue 16 item 8) --------------------------------------------

def _coco_pose():
    """A COCO-17 pose made from the authors' 2D of image 0 (face points around the nose)."""
    v = demo_2d_v3d(0)
    face = np.array([[0, 0], [-3, -1], [3, -1], [-6, 0], [6, 0]], np.float64) + v[9]
    return np.concatenate([face, v[[11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]]])


def test_confidence_column_marks_missing_joints(tmp_path):
    pose = demo_2d_v3d(0)
    seq = np.concatenate([np.stack([pose] * 3), np.ones((3, 17, 1))], -1)
    seq[1, 13, 2] = 0.0                     # a wrist not detected: filled, listed
    seq[2, 4, 2] = 0.0                      # a hip not detected: the frame is skipped
    seq[2, 4, :2] = np.nan
    np.save(tmp_path / 'c.npy', seq)
    inp = read_input(str(tmp_path / 'c.npy'))
    assert list(inp.skipped) == [2] and 'LHip' in inp.skipped[2]
    assert inp.missing[1, sk.OURS_NAMES.index('LWrist')] and not inp.missing[0].any()
    np.testing.assert_allclose(inp.px_ours[1, sk.OURS_NAMES.index('LWrist')],
                               pose[12])                          # onto the elbow (its parent)


def test_openpose_and_mmpose_json(tmp_path):
    coco = _coco_pose()
    op = np.zeros((25, 3))
    for k in range(len(jo.LANDMARK_NAMES)):
        op[jo.LANDMARKS['openpose25'][k], :2] = coco[jo.LANDMARKS['coco17'][k]]
        op[jo.LANDMARKS['openpose25'][k], 2] = 0.9
    small = op.copy()
    small[:, :2] = small[:, :2] * 0.3
    (tmp_path / 'op.json').write_text(json.dumps({'version': 1.3, 'people': [
        {'pose_keypoints_2d': small.ravel().tolist()}, {'pose_keypoints_2d': op.ravel().tolist()}]}))
    inp = read_input(str(tmp_path / 'op.json'), 'openpose25')
    ref, _ = jo.to_v3d17(coco[None], 'coco17')
    np.testing.assert_allclose(sk.ours_to_v3d(inp.px_ours), ref)          # the larger person
    with pytest.raises(UserError, match='25 joints per pose.*openpose25'):
        read_input(str(tmp_path / 'op.json'))                              # the default order is h36m
    inst = {'keypoints': coco.tolist(), 'keypoint_scores': [0.9] * 17}
    (tmp_path / 'mm.json').write_text(json.dumps([[inst], [], [inst]]))
    inp = read_input(str(tmp_path / 'mm.json'), 'coco17')
    assert inp.sequence and list(inp.skipped) == [1]
    (tmp_path / 'mm1.json').write_text(json.dumps({'instance_info': [{'frame_id': 1, 'instances': [inst]}]}))
    assert read_input(str(tmp_path / 'mm1.json'), 'coco17').px_ours.shape == (1, 17, 2)
    (tmp_path / 'bad.json').write_text(json.dumps({'people': [{'face_keypoints_2d': []}]}))
    with pytest.raises(UserError, match='pose_keypoints_2d'):
        read_input(str(tmp_path / 'bad.json'), 'openpose25')
    (tmp_path / 'bad2.json').write_text(json.dumps([{'bbox': [0, 0, 1, 1]}]))
    with pytest.raises(UserError, match='MMPose instance without "keypoints".*keypoint_scores'):
        read_input(str(tmp_path / 'bad2.json'), 'coco17')


# --- BVH -------------------------------------------------------------------------------------

def _mocap_poses():
    d = load_npz(os.path.join(REPO, 'datasets', 'quickstart', 'data_3d_quickstart.npz'))['positions_3d']
    s = sorted(d)[0]
    P = np.asarray(d[s][sorted(d[s])[0]])[:120:3].astype(np.float64)
    P = P @ np.diag([1.0, -1.0, -1.0])                  # any proper rotation will do
    return P / np.linalg.norm(P[:, 10] - P[:, 0], axis=-1).mean()


@pytest.mark.parametrize('frames', [40, 1])
def test_bvh_round_trip_own_reader_and_bvhio(tmp_path, frames):
    import bvhio

    P = _mocap_poses()[:frames]
    P[:, :, 0] += np.random.RandomState(0).normal(0, 0.02, P[:, :, 0].shape)   # lifted poses are not rigid
    text = bx.bvh_text(P, fps=25)
    path = tmp_path / 'x.bvh'
    path.write_text(text)
    want = bx.to_bvh_axes(bx.normalised_positions(P))           # millimetres
    got = bx.read_back(parse_bvh(text, str(path)))
    assert got.shape == (frames, 17, 3) and np.abs(got - want).max() < 1.0
    lengths = np.linalg.norm(got[:, 1:] - got[:, bx.V3D_PARENTS[1:]], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-3                 # one fixed skeleton
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    for f in range(frames):
        root.loadPose(f)
        other = np.array([list(joints[n].PositionWorld) for n in bx.BVH_NAMES])
        assert np.abs(other - want[f]).max() < 1.0


# --- the command line ----------------------------------------------------------------------------

def test_images_end_to_end_with_bad_and_empty_images(tmp_path, tiny_model):
    src, out = tmp_path / 'imgs', tmp_path / 'out'
    src.mkdir()
    for n in (0, 1, 2):
        Image.fromarray(demo_image(n)).save(src / ('p%d.jpg' % n))
    Image.new('RGB', (120, 160), (128, 128, 128)).save(src / 'nobody.png')
    (src / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    r = run(['--images', str(src), '--outdir', str(out), '--bvh'] + tiny_model)
    assert r.returncode == 2, r.stderr                        # the broken image failed
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith('error:')]
    assert len(errors) == 1 and 'broken.jpg' in errors[0] and 'Traceback' not in r.stderr
    assert 'nobody.png (no person found)' in r.stdout and 'lifted 3' in r.stdout, r.stdout
    for n in (0, 1, 2):
        rec = json.loads((out / ('p%d_3d.json' % n)).read_text())
        assert np.array(rec['joints_2d']).shape == (17, 2) and np.array(rec['joints_3d']).shape == (17, 3)
        assert np.load(out / ('p%d_3d.npy' % n)).shape == (17, 3)
        for suffix in ('.png', '_out.jpg', '.bvh'):
            assert (out / ('p%d%s' % (n, suffix))).is_file()
        assert parse_bvh((out / ('p%d.bvh' % n)).read_text()).num_frames == 1
    assert not list(out.glob('nobody*')) and not list(out.glob('broken*'))
    assert not [p for p in os.listdir(out) if p.startswith('.')]


def test_nothing_lifted_exits_2_without_output(tmp_path, tiny_model):
    src = tmp_path / 'imgs'
    src.mkdir()
    Image.new('RGB', (120, 160), (20, 120, 20)).save(src / 'grass.png')
    r = run(['--images', str(src), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and 'grass.png (no person found)' in r.stdout and 'lifted 0' in r.stdout
    assert not (tmp_path / 'out').exists()
    (tmp_path / 'empty.mp4').write_bytes(b'')
    r = run(['--video', str(tmp_path / 'empty.mp4'), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and r.stderr.strip().startswith('error: unreadable video') and \
        len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / 'out').exists()
    import cv2
    vw = cv2.VideoWriter(str(tmp_path / 'none.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 64))
    vw.release()                                                    # a container without frames
    r = run(['--video', str(tmp_path / 'none.avi'), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith('error: ') and 'none.avi' in r.stderr
    assert not (tmp_path / 'out').exists()


def test_video_from_real_images(tmp_path, tiny_model):
    """A short video from a real image moving across a frame, with one empty frame: every other frame
    lifted, the empty one listed and null; MP4, BVH, smoothing."""
    import cv2

    person = demo_image(5)
    h, w = person.shape[:2]
    path = str(tmp_path / 'clip.avi')
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (w + 40, h))
    for t in range(8):
        frame = np.full((h, w + 40, 3), 110, np.uint8)
        if t != 4:
            frame[:, 5 * t:5 * t + w] = person
        vw.write(np.ascontiguousarray(frame[:, :, ::-1]))
    vw.release()
    out = tmp_path / 'out'
    r = run(['--video', path, '--outdir', str(out), '--bvh', '--smooth', '1'] + tiny_model)
    assert r.returncode == 0, r.stderr
    assert 'clip.avi: 1 of 8 frames skipped (no person found)' in r.stdout, r.stdout
    rec = json.loads((out / 'clip_3d.json').read_text())
    assert rec['frames'] == 8 and rec['joints_3d'][4] is None and rec['joints_2d'][4] is None
    assert rec['skipped_frames'] == {'4': 'no person found'}
    pose = np.load(out / 'clip_3d.npy')
    assert pose.shape == (8, 17, 3) and np.isnan(pose[4]).all() and np.isfinite(np.delete(pose, 4, 0)).all()
    cap = cv2.VideoCapture(str(out / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()
    assert parse_bvh((out / 'clip.bvh').read_text()).num_frames == 7
    x = np.array([rec['joints_2d'][t][0][0] for t in (0, 1, 2)])          # the hip moves right
    assert np.all(np.diff(x) > 0)


def test_authors_demo_folder_draws_their_figure(tmp_path, tiny_model):
    """--indir with the authors' N.pkl + N.jpg pairs (two of the shipped ones): each gives N_out.jpg
    (their figure, 1000 x 1000 like theirs) and N.png; with --reference a contact sheet pairs them
    with the reference figures."""
    import shutil

    src, ref, out = tmp_path / 'in', tmp_path / 'ref', tmp_path / 'out'
    src.mkdir()
    ref.mkdir()
    for n in (0, 7):
        for ext in ('.jpg', '.pkl'):
            shutil.copy(os.path.join(DEMO, '%d%s' % (n, ext)), src)
    Image.new('RGB', (100, 100), 'white').save(ref / '0_out.jpg')
    np.save(src / 'coco.npy', _coco_pose())                      # COCO 2D, default order h36m
    r = run(['--indir', str(src), '--outdir', str(out), '--reference', str(ref)] + tiny_model)
    assert r.returncode == 0, r.stderr
    assert 'lifted 3, skipped 0' in r.stdout, r.stdout          # the pictures are not inputs
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith('warning: ')]
    assert len(warn) == 1 and 'coco.npy' in warn[0] and '--joint-order coco17' in warn[0], r.stderr
    for n in (0, 7):
        assert (out / ('%d_out.jpg' % n)).is_file() and (out / ('%d.png' % n)).is_file()
    with Image.open(out / '0_out.jpg') as im:
        assert im.size == (1000, 1000)
        a = np.asarray(im.convert('RGB')).astype(int)
    blue = (a[..., 2] > 150) & (a[..., 0] < 80) & (a[..., 1] < 80)
    green = (a[..., 1] > 90) & (a[..., 0] < 80) & (a[..., 2] < 80)
    assert blue.sum() > 200 and green.sum() > 200                # left blue, right green bones
    assert (out / 'contact_sheet.png').is_file()


def test_limb_errors_uses_torso_lengths():
    ref = demo_2d_v3d(0)
    torso = np.linalg.norm((ref[11] + ref[14]) / 2 - (ref[1] + ref[4]) / 2)
    moved = ref.copy()
    moved[13] += [0.3 * torso, 0]
    err = limb_errors(moved, ref)
    assert np.isclose(err.max(), 0.3) and (err > 0).sum() == 1
