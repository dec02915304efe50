"""From images, videos and pose files to 3D: the offline detector, joint orders, detector file
formats, BVH export and the authors' figure (scripts/inference.py); LSP through
tools/eval_lsp.py; the demo figures and the shipped demo model; the sequences of a prediction
file (lib/vis/sequences.py).

The real-image checks use the authors' 12 demo images shipped in ``scripts/demo_input`` and
always run; only the LSP-sample checks need ``../shared``.  Everything runs on the CPU with a
tiny randomly initialised model unless it says otherwise.
"""
import glob
import json
import os
import pickle
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

import synth
from conftest import REPO
from helpers import (ENV, HAVE_DETECTOR, HAVE_OPENCV, H, STANDING, W, Evil, assert_one_error_line,
                     make_state_checkpoint, need_script, needs_bvhio, needs_detector, needs_opencv, run_repo_script,
                     run_script, run_without, v3d_pose, write_cfg, write_lsp)
from lib.inference.detector_eval import demo_agreement, limb_errors, lsp_agreement
from lib.inference import bvh_export as bx
from lib.inference import joint_orders as jo
from lib.data import skeleton as sk
from lib.prep.bvh import parse_bvh
from lib.inference.keypoints import read_input
from lib.inference.detector import PoseDetector
from lib.data.normalise import normalise_lsp
from lib.inference.lsp import LSP_NAMES, lsp14_to_ours17
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz, safe_pickle_load
from lib.vis.plot import contact_sheet, figure_2d_3d, save_gif, save_png
from lib.vis.sequences import load_sequences, select



DEMO = os.path.join(REPO, 'scripts', 'demo_input')
LSP_SAMPLE = os.path.join(REPO, '..', 'shared', 'data', 'lsp_sample')
MP_FROM_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]   # coco17 <- mediapipe33


def run_inference(args):
    return subprocess.run([sys.executable, 'scripts/inference.py'] + args, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope='module')
def tiny_model(tiny_checkpoint):
    yaml_path, ckpt = tiny_checkpoint
    return ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']


@pytest.fixture(scope='module')
def detector():
    if not HAVE_DETECTOR:
        pytest.skip('needs the 2D detector (mediapipe) and OpenCV: pip install -r requirements-media.txt')
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


@needs_bvhio
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

@needs_detector
def test_images_end_to_end_with_bad_and_empty_images(tmp_path, tiny_model):
    src, out = tmp_path / 'imgs', tmp_path / 'out'
    src.mkdir()
    for n in (0, 1, 2):
        Image.fromarray(demo_image(n)).save(src / ('p%d.jpg' % n))
    Image.new('RGB', (120, 160), (128, 128, 128)).save(src / 'nobody.png')
    (src / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    r = run_inference(['--images', str(src), '--outdir', str(out), '--bvh'] + tiny_model)
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


@needs_detector
def test_nothing_lifted_exits_2_without_output(tmp_path, tiny_model):
    src = tmp_path / 'imgs'
    src.mkdir()
    Image.new('RGB', (120, 160), (20, 120, 20)).save(src / 'grass.png')
    r = run_inference(['--images', str(src), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and 'grass.png (no person found)' in r.stdout and 'lifted 0' in r.stdout
    assert not (tmp_path / 'out').exists()
    (tmp_path / 'empty.mp4').write_bytes(b'')
    r = run_inference(['--video', str(tmp_path / 'empty.mp4'), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and r.stderr.strip().startswith('error: unreadable video') and \
        len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / 'out').exists()
    import cv2
    vw = cv2.VideoWriter(str(tmp_path / 'none.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 64))
    vw.release()                                                    # a container without frames
    r = run_inference(['--video', str(tmp_path / 'none.avi'), '--outdir', str(tmp_path / 'out')] + tiny_model)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith('error: ') and 'none.avi' in r.stderr
    assert not (tmp_path / 'out').exists()


@needs_detector
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
    r = run_inference(['--video', path, '--outdir', str(out), '--bvh', '--smooth', '1'] + tiny_model)
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



# --- without the photo-and-video packages (requirements.txt only) ----------------------------

MEDIA = ('mediapipe', 'cv2')


@pytest.mark.parametrize('flag', ['--images', '--video'])
def test_images_and_video_without_the_detector_name_the_file_to_install(tmp_path, tiny_model, flag):
    """Without mediapipe / OpenCV: one line naming requirements-media.txt, exit 2, nothing created."""
    src = DEMO
    if flag == '--video':
        src = str(tmp_path / 'clip.mp4')
        open(src, 'wb').write(b'\0' * 64)
    out = tmp_path / 'out'
    r = run_without(MEDIA, 'scripts/inference.py', flag, src, '--outdir', out, *tiny_model)
    assert r.stdout == '' and len(r.stderr.splitlines()) == 1, r.stdout + r.stderr
    assert_one_error_line(r.returncode, r.stderr, 'pip install -r requirements-media.txt', 'not installed')
    assert not out.exists()


def test_indir_lifts_without_the_media_packages(tmp_path, tiny_model):
    """Keypoint files (with the authors' image drawn under them) need neither mediapipe nor OpenCV."""
    import shutil
    src, out = tmp_path / 'in', tmp_path / 'out'
    src.mkdir()
    for ext in ('.jpg', '.pkl'):
        shutil.copy(os.path.join(DEMO, '0' + ext), src)
    np.save(src / 'walk.npy', np.stack([v3d_pose(3.0 * t) for t in range(4)]))
    r = run_without(MEDIA, 'scripts/inference.py', '--indir', src, '--outdir', out, '--bvh', *tiny_model)
    assert r.returncode == 0, r.stderr
    assert 'lifted 2, skipped 0, failed 0' in r.stdout, r.stdout
    for f in ('0_3d.json', '0.png', '0_out.jpg', '0.bvh', 'walk_3d.npy', 'walk.gif'):
        assert (out / f).is_file(), f


def test_animation_is_an_mp4_through_opencv_else_a_gif_with_one_line(tmp_path, monkeypatch):
    """The one rule of scripts/inference.py --video and tools/vis_sequences.py (no system ffmpeg)."""
    from lib.utils.media_io import write_animation
    frames = [np.full((45, 61, 3), 40 * t, np.uint8) for t in range(5)]      # odd sides: padded to even
    lines = []
    if HAVE_OPENCV:
        import cv2
        path = write_animation(frames, str(tmp_path / 'a'), 10, 'mp4', say=lines.append)
        assert path == str(tmp_path / 'a.mp4') and lines == []
        cap = cv2.VideoCapture(path)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 62
        cap.release()
    monkeypatch.setitem(sys.modules, 'cv2', None)                         # as without OpenCV
    path = write_animation(frames, str(tmp_path / 'b'), 10, 'mp4', say=lines.append)
    assert path == str(tmp_path / 'b.gif') and len(lines) == 1, lines
    assert lines[0].startswith('warning: OpenCV is not installed') and 'requirements-media.txt' in lines[0]
    with Image.open(path) as im:
        assert im.n_frames == 5 and im.size == (61, 45)
    assert path == write_animation(frames, str(tmp_path / 'b'), 10, 'gif', say=lines.append) and len(lines) == 1
    assert not (tmp_path / 'b.mp4').exists() and not [p for p in os.listdir(tmp_path) if p.startswith('.')]

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
    r = run_inference(['--indir', str(src), '--outdir', str(out), '--reference', str(ref)] + tiny_model)
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


# --- pose files and LSP through scripts/inference.py and tools/eval_lsp.py -----------

def run_python(args, cwd=REPO):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, timeout=120)


def not_blank(path, min_std=10.0):
    with Image.open(path) as im:
        a = np.asarray(im.convert('L'), np.float64)
    return a.std() > min_std


def test_inference_end_to_end_with_bad_files(tmp_path, tiny_checkpoint):
    """Good files of every format are lifted and drawn; each bad file gets one error line;
    the malicious pickle does not run; exit status 2."""
    cfg, ckpt = tiny_checkpoint
    indir, outdir = tmp_path / 'in', tmp_path / 'out'
    indir.mkdir()
    pose = v3d_pose()
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
    (indir / 'evil.pkl').write_bytes(pickle.dumps({'joints_2d': Evil(marker)}, protocol=2))
    (indir / 'README.md').write_text('docs are skipped\n')

    r = run_python(['scripts/inference.py', '--indir', str(indir), '--outdir', str(outdir), '--cfg', cfg,
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


def test_inference_empty_folder_is_one_line_error(tmp_path, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    (tmp_path / 'empty').mkdir()
    r = run_python(['scripts/inference.py', '--indir', str(tmp_path / 'empty'), '--outdir', str(tmp_path / 'o'),
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

def test_eval_lsp_from_tools_dir_with_generated_mat(tmp_path, tiny_checkpoint):
    """Run from inside tools/ with relative paths: one lifted, one skipped, one failed -> exit 2."""
    cfg, ckpt = tiny_checkpoint
    root = tmp_path / 'lsp'
    poses = np.stack([STANDING] * 3)
    flags = np.ones((3, 14))
    flags[1, 2] = 0                               # R hip missing -> skipped
    write_lsp(str(root), poses, flags, 'lspet')
    os.remove(root / 'images' / 'im00003.jpg')    # failed
    tools = os.path.join(REPO, 'tools')
    rel = lambda p: os.path.relpath(str(p), tools)  # noqa: E731
    r = run_python(['eval_lsp.py', '--cfg', rel(cfg), '--pretrain', rel(ckpt), '--lsp-root', rel(root),
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


def test_eval_lsp_unwritable_out_is_one_line_error(tmp_path, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    write_lsp(str(tmp_path / 'lsp'), np.stack([STANDING]), np.ones((1, 14)), 'lspet')   # no ../shared needed
    r = run_python(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--lsp-root', str(tmp_path / 'lsp'),
                    '--out', str(blocker / 'sub')])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'not writable' in lines[0], r.stderr


def test_eval_lsp_on_real_sample(tmp_path, tiny_checkpoint):
    if not os.path.isfile(os.path.join(LSP_SAMPLE, 'joints.mat')):
        pytest.skip('real LSP sample not available: %s is absent (needs <repo>/../shared)' % LSP_SAMPLE)
    cfg, ckpt = tiny_checkpoint
    out = tmp_path / 'lsp'
    r = run_python(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--lsp-root', LSP_SAMPLE,
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


# --- bad input to the other entry points ---------------------------------------------

@pytest.fixture
def state_checkpoint(tmp_path, data_dir):
    ck = tmp_path / 'tiny_model.pth.tar'
    make_state_checkpoint(write_cfg(tmp_path, data_dir), ck)
    return ck


def test_eval_lsp_unreadable_image(tmp_path, state_checkpoint):
    tool = need_script('tools/eval_lsp.py')
    root = tmp_path / 'lsp'
    write_lsp(str(root), np.stack([STANDING] * 3), np.ones((3, 14)), 'lspet')   # im00001.jpg ... im00003.jpg
    bad = root / 'images' / 'im00002.jpg'
    bad.write_bytes(bad.read_bytes()[:200])                        # an image cut short
    r = run_script([tool, '--cfg', tmp_path / 'tiny.yaml', '--pretrain', state_checkpoint, '--lsp-root', root,
                    '--out', tmp_path / 'lsp_out', '--limit', '3', '--sheet', '0', '--quiet', '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'im00002.jpg')
    assert 'failed 1' in r.stdout
    assert not (tmp_path / 'lsp_out' / 'im00002.png').exists()


def _inference(tool, tmp, indir, ck):
    return run_script([tool, '--indir', indir, '--outdir', tmp / 'inf_out', '--cfg', tmp / 'tiny.yaml',
                       '--pretrain', ck, '--gpu', '-1', '--quiet'])


def test_inference_empty_input_folder(tmp_path, state_checkpoint):
    tool = need_script('scripts/inference.py')
    (tmp_path / 'empty').mkdir()
    r = _inference(tool, tmp_path, tmp_path / 'empty', state_checkpoint)
    assert_one_error_line(r.returncode, r.stderr, 'empty')
    assert not glob.glob(str(tmp_path / 'inf_out' / '*'))


def test_inference_nonfinite_keypoints_fail_that_file_only(tmp_path, state_checkpoint):
    tool = need_script('scripts/inference.py')
    indir = tmp_path / 'in'
    indir.mkdir()
    pose = (synth.TEMPLATE[:, [0, 2]] * np.array([200.0, -200.0]) + np.array([500.0, 700.0])).astype(np.float32)
    np.save(str(indir / 'good.npy'), pose)
    bad = pose.copy()
    bad[4, 1] = np.nan
    np.save(str(indir / 'broken.npy'), bad)
    r = _inference(tool, tmp_path, indir, state_checkpoint)
    assert_one_error_line(r.returncode, r.stderr, 'broken.npy')
    assert (tmp_path / 'inf_out' / 'good_3d.npy').exists()
    assert not glob.glob(str(tmp_path / 'inf_out' / 'broken*'))


# --- figures: a fixed cube in metres, a camera view that shows the 2D input ----------

def demo_pixels():
    """The 2D poses (ours order, pixels) of the demo inputs: one per file (a sequence's middle)."""
    from lib.inference.keypoints import list_inputs, read_input
    paths, _ = list_inputs(os.path.join(REPO, 'scripts', 'demo_input'))
    out = []
    for p in paths:
        inp = read_input(p)
        out.append((os.path.basename(p), inp.px_ours[len(inp.px_ours) // 2]))
    assert len(out) >= 4
    return out


def camera_panel_points(fig, pose):
    """Screen coordinates of the joints as the figure's camera-view panel projects them."""
    from mpl_toolkits.mplot3d import proj3d
    from lib.vis.plot import to_metres, to_plot_frame
    ax = [a for a in fig.axes if a.name == '3d' and 'camera view' in a.get_title()][0]
    P = to_plot_frame(to_metres(pose))
    x, y, _ = proj3d.proj_transform(P[:, 0], P[:, 1], P[:, 2], ax.get_proj())
    return np.stack([x, y], -1)


def similarity_residual(a, b):
    """Relative residual of b ~ s * a + t (s > 0: no mirror, no rotation), over the spread of b."""
    a0, b0 = a - a.mean(0), b - b.mean(0)
    s = (a0 * b0).sum() / (a0 ** 2).sum()
    assert s > 0
    return float(np.abs(s * a0 - b0).max() / np.abs(b0).max())


def back_projected(px, depth, c=10.0):
    """A 3D pose built as the network builds it: normalised 2D x, depth offsets d, z = d + c."""
    from lib.data.normalise import normalise_2d
    x, _ = normalise_2d(px[None].astype(np.float64), True)
    z = c + depth
    Y = np.concatenate([x[0] * z[:, None], z[:, None]], -1)
    return Y


@pytest.mark.parametrize('depth_spread', [0.3, 3.0])
def test_camera_view_shows_the_2d_input(depth_spread):
    """On the demo inputs, lifted with shallow and with very deep (poor) depths, the camera-view
    panel projects the 3D onto the 2D input (up to scale and shift; y flipped to 'up')."""
    from lib.data import skeleton as sk
    from lib.vis.plot import figure_2d_3d
    rng = np.random.RandomState(0)
    for name, px in demo_pixels():
        d = rng.uniform(-depth_spread, depth_spread, 17)
        d[sk.ROOT] = 0.0                  # the root at the camera distance, as the cycle places it
        pose = back_projected(px, d)
        fig = figure_2d_3d(px, pose)
        shown = camera_panel_points(fig, pose)
        want = px * np.array([1.0, -1.0])            # pixels: y down; the panel: up is up
        assert similarity_residual(shown, want) < 1e-3, name


def test_3d_cube_is_metres_and_fixed():
    """The cube is +-1 m whatever the lift; a lift reaching past it says how far in the title."""
    from lib.vis.plot import CUBE_M, figure_2d_3d
    name, px = demo_pixels()[0]
    small = back_projected(px, np.zeros(17))
    huge = small * 12.0
    for pose in (small, huge):
        fig = figure_2d_3d(px, pose)
        for ax in [a for a in fig.axes if a.name == '3d']:
            assert ax.get_xlim() == (-CUBE_M, CUBE_M) and ax.get_zlim() == (-CUBE_M, CUBE_M)
            assert ('reaches' in ax.get_title()) == (pose is huge)


# --- which model: one rule ---------------------------------------------------------------

def test_model_choice_rule(tmp_path):
    from lib.utils.errors import UserError
    from lib.inference.model_choice import CANDIDATES, choose_model
    with pytest.raises(UserError, match='no trained model.*tools/main.py --cfg cfg/quickstart.yaml'):
        choose_model(root=str(tmp_path))
    lines = []
    for ckpt, cfg, what in reversed(CANDIDATES):         # each newly present file takes over
        (tmp_path / ckpt).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ckpt).write_bytes(b'x')
        got = choose_model(root=str(tmp_path), log=lines.append)
        assert got[:2] == (str(tmp_path / ckpt), str(tmp_path / cfg)) and got[2].startswith(what)
        assert lines[-1].startswith('model: %s, %s' % (ckpt, what))
    assert choose_model('/x/a.pth.tar', '/x/a.yaml', root=str(tmp_path))[:2] == ('/x/a.pth.tar', '/x/a.yaml')
    with pytest.raises(UserError, match='--pretrain needs --cfg'):
        choose_model('/x/a.pth.tar', None, root=str(tmp_path))


def test_demo_script_trains_nothing_and_names_its_model():
    text = open(os.path.join(REPO, 'scripts', 'demo.sh')).read()
    assert 'main.py' not in text and '--pretrain' not in text


# --- the shipped demo model -----------------------------------------------------------------

DEMO_MODEL = os.path.join(REPO, 'scripts', 'demo_model', 'demo.pth.tar')


def readme_demo_figures():
    """(MPJPE, P-MPJPE, poses) the README states for the shipped demo model."""
    import re
    text = open(os.path.join(REPO, 'README.md')).read()
    pattern = r'shipped demo model.{0,1500}?test split \(([\d,]+) poses\) it gives MPJPE ([\d.]+) mm, P-MPJPE ([\d.]+) mm'
    m = re.search(pattern.replace(' ', r'\s+'), text, re.S)
    assert m, 'README states no figures for the shipped demo model'
    return float(m.group(2)), float(m.group(3)), int(m.group(1).replace(',', ''))


def test_shipped_demo_model_is_small_and_gives_the_readme_figures():
    import torch
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.evaluate import evaluate
    from lib.eval.load_model import load_pose_model
    from lib.data.batches import TensorSplit
    from lib.data.dataset import load_splits
    from lib.utils.runtime import cfg_path
    assert os.path.getsize(DEMO_MODEL) < 5e6
    ck = torch.load(DEMO_MODEL, weights_only=True)
    assert set(ck) <= {'pose_model_state_dict', 'scaler_bypassed', 'epoch', 'p1_mpjpe', 'p2_mpjpe', 'config'}
    assert 'DATA_DIR' not in ck['config'] and 'OUTPUT_DIR' not in ck['config']
    cfg = update_config(get_default(), os.path.join(REPO, 'cfg', 'quickstart.yaml'))
    model = load_pose_model(cfg, DEMO_MODEL, log=lambda m: None)
    split = load_splits(cfg, cfg_path(cfg.DATA_DIR), which=('test',))['test']
    res = evaluate(model, TensorSplit.from_split(split, cfg, torch.device('cpu'), train=False), split, cfg,
                   write=False)
    mpjpe, p_mpjpe, n = readme_demo_figures()
    assert res['num_poses'] == n
    assert res['MPJPE'] == pytest.approx(mpjpe, abs=0.006) and res['P-MPJPE'] == pytest.approx(p_mpjpe, abs=0.006)
    # the recommended recipe (tools/make_demo_model.sh): its scaler, trained on the frozen lifter,
    # scales the lifted 3D, and the loader takes that from the checkpoint's config
    t = ck['config']['TRAIN']
    assert t['FREEZE_LIFTER'] and t['SCALE_ON_3D'] and t['USE_SCALER'] and model.scale_on_3d
    assert not ck['scaler_bypassed'] and 'scale_mean' in res


def test_eval_lsp_without_pretrain_uses_the_rule(tmp_path):
    """No --pretrain: eval_lsp names the model the rule chose and lifts with it."""
    write_lsp(str(tmp_path / 'lsp'), np.stack([STANDING] * 2), np.ones((2, 14)), 'lspet')
    r = run_repo_script('tools/eval_lsp.py', '--lsp-root', tmp_path / 'lsp', '--out', tmp_path / 'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('model: ') and 'lifted 2' in r.stdout


def test_camera_view_of_the_shipped_models_lifts_shows_the_2d_input():
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.lifting import lift_in_batches
    from lib.eval.load_model import load_pose_model
    from lib.data.normalise import normalise_pixels
    from lib.vis.plot import figure_2d_3d
    cfg = update_config(get_default(), os.path.join(REPO, 'cfg', 'quickstart.yaml'))
    model = load_pose_model(cfg, DEMO_MODEL, log=lambda m: None)
    assert cfg.TRAIN.SCALE_ON_3D               # the shipped model scales its lifted 3D: the eye moves with it
    for name, px in demo_pixels():
        x, _ = normalise_pixels(px[None], cfg)
        poses, scales, depths = lift_in_batches(model, x, with_root_depth=True)
        pose = poses[0].astype(np.float32)
        fig = figure_2d_3d(px, pose, camera_distance=depths[0])   # the lift's own root depth, as the demo
        assert similarity_residual(camera_panel_points(fig, pose), px * np.array([1.0, -1.0])) < 1e-3, name


# --- sequences of a prediction file (lib/vis/sequences.py, scripts) ------------------

QUICK = os.path.join(REPO, 'datasets', 'quickstart')
QUICK_YAML = """
DATA_DIR: '{data}'
OUTPUT_DIR: '{out}'
LOG_DIR: '{log}'
BATCH_SIZE: 128
DATA:
  DATASET_NAME: quickstart
NETWORK:
  NUM_CHANNELS: 32
  LIFTER_RES_BLOCKS: 1
TRAIN:
  NUM_EPOCHS: 1
  MAX_STEPS_PER_EPOCH: 4
  USE_SCALER: true
  PRETRAIN_LIFTER: false
EVAL:
  STRIDE: 40
"""


def run_checked(args, ok=True):
    r = subprocess.run([sys.executable] + [str(a) for a in args], capture_output=True, text=True, env=ENV,
                       cwd=REPO, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope='module')
def evaluated(tmp_path_factory):
    """A tiny model trained briefly on datasets/quickstart and evaluated with --eval."""
    tmp = tmp_path_factory.mktemp('quick')
    cfg = tmp / 'tiny.yaml'
    cfg.write_text(QUICK_YAML.format(data=QUICK, out=tmp / 'out', log=tmp / 'log'))
    main = os.path.join(REPO, 'tools', 'main.py')
    run_checked([main, '--cfg', cfg, '--gpu', '-1'])
    run_checked([main, '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain',
                 tmp / 'out' / 'tiny' / 'checkpoint.pth.tar'])
    return tmp / 'out' / 'tiny' / 'eval_checkpoint'          # --eval writes into its own folder


def test_both_files_give_the_same_sequences(evaluated):
    a = load_sequences(evaluated / 'predictions.npz')
    b = load_sequences(evaluated / 'quickstart_valid_pred_3d.h5')
    assert [s.name for s in a] == [s.name for s in b] and len(a) >= 2
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.gt, y.gt, atol=1e-5)
        np.testing.assert_allclose(x.pred, y.pred, atol=1e-4)
        np.testing.assert_allclose(x.pose_2d, y.pose_2d, atol=1e-3)
    # the per-frame error is the evaluation's MPJPE (results.json averages it over all frames)
    z = np.load(str(evaluated / 'predictions.npz'))
    gt = z['gt'] / 1000.0
    pred = z['pred'] * np.linalg.norm(gt[:, 10] - gt[:, 0], axis=-1)[:, None, None]
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1) * 1000
    assert np.concatenate([s.error_mm for s in a]).mean() == pytest.approx(err.mean(), rel=1e-5)


@pytest.mark.parametrize('name', ['predictions.npz', 'quickstart_valid_pred_3d.h5'])
def test_renders_a_gif_per_sequence(evaluated, tmp_path, name):
    seqs = load_sequences(evaluated / name)
    r = run_checked([os.path.join(REPO, 'tools', 'vis_sequences.py'), '--pred', evaluated / name, '--num-seqs', '2',
             '--max-frames', '3', '--out', tmp_path / 'vis'])
    gifs = sorted(os.listdir(str(tmp_path / 'vis')))
    assert len(gifs) == 2 and all(g.endswith('.gif') for g in gifs), gifs
    with Image.open(str(tmp_path / 'vis' / gifs[0])) as im:
        assert im.n_frames == 3 and im.size[0] > 500
    assert seqs[0].name in r.stdout and 'mean MPJPE %.1f mm' % seqs[0].error_mm.mean() in r.stdout



@needs_opencv
def test_vis_sequences_mp4_without_ffmpeg_on_path(evaluated, tmp_path):
    import shutil

    import cv2
    env = dict(ENV, PATH=str(tmp_path))                       # no ffmpeg (nor anything else) on PATH
    assert shutil.which('ffmpeg', path=env['PATH']) is None
    r = run_repo_script('tools/vis_sequences.py', '--pred', evaluated / 'predictions.npz', '--format', 'mp4',
                        '--max-frames', '4', '--out', tmp_path / 'vis', env=env)
    assert r.returncode == 0 and r.stderr == '', r.stderr
    files = os.listdir(str(tmp_path / 'vis'))
    assert len(files) == 1 and files[0].endswith('.mp4') and files[0] in r.stdout, files
    cap = cv2.VideoCapture(str(tmp_path / 'vis' / files[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) > 500
    cap.release()


def test_vis_sequences_mp4_without_opencv_is_a_gif_and_one_line(evaluated, tmp_path):
    r = run_without(['cv2'], 'tools/vis_sequences.py', '--pred', evaluated / 'predictions.npz', '--format', 'mp4',
                    '--max-frames', '3', '--out', tmp_path / 'vis')
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('warning: OpenCV is not installed'), r.stderr
    files = os.listdir(str(tmp_path / 'vis'))
    assert len(files) == 1 and files[0].endswith('.gif') and files[0] in r.stdout
    with Image.open(str(tmp_path / 'vis' / files[0])) as im:
        assert im.n_frames == 3

def test_select_by_substring_and_unknown_name(evaluated):
    seqs = load_sequences(evaluated / 'predictions.npz')
    assert select(seqs, [seqs[1].name])[0] is seqs[1]
    with pytest.raises(UserError, match='no sequence matches'):
        select(seqs, ['no-such-sequence'])


def test_bad_prediction_files_are_one_line_exit_2(evaluated, tmp_path):
    tool = os.path.join(REPO, 'tools', 'vis_sequences.py')
    bad = tmp_path / 'bad.h5'
    with h5py.File(str(evaluated / 'quickstart_valid_pred_3d.h5'), 'r') as f, h5py.File(str(bad), 'w') as g:
        for k in f:
            if k != 'joint_3d_pre':
                g[k] = f[k][()]
    cases = [([bad], 'joint_3d_pre'), ([tmp_path / 'nowhere.npz'], 'not found'),
             ([evaluated / 'predictions.npz', '--seq', 'no-such-sequence'], '--seq')]
    for args, needle in cases:
        r = run_checked([tool, '--pred'] + args + ['--out', tmp_path / 'vis'], ok=False)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith('error:') and needle in lines[0], r.stderr
    assert not (tmp_path / 'vis').exists() or not os.listdir(str(tmp_path / 'vis'))
