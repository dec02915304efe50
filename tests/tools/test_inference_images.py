"""scripts/inference.py from images and videos (the detector), and without the
photo-and-video packages."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import DEMO, REPO, assert_one_error_line, coco_pose, demo_image, needs_detector, run_without, v3d_pose
from lib.prep.bvh import parse_bvh


def run_inference(args):
    return subprocess.run([sys.executable, 'scripts/inference.py'] + args, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope='module')
def tiny_model(tiny_checkpoint):
    yaml_path, ckpt = tiny_checkpoint
    return ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']


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
    np.save(src / 'coco.npy', coco_pose())                      # COCO 2D, default order h36m
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
