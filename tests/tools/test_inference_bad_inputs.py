"""The bad-input catalogue of scripts/inference.py (the contract is in bad_input_catalogue.py), and
the partial-results policy: a folder of inputs gives the good ones written, each bad one listed
with its reason, exit 2."""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import DEMO, v3d_pose
from .bad_input_catalogue import check_case, disk_full, run_entry


def keypoints_dir(tmp, name='kp', scale=1.0, files=('a',)):
    d = tmp / name
    d.mkdir(exist_ok=True)
    for f in files:
        np.save(str(d / (f + '.npy')), (v3d_pose() * scale).astype(np.float64))
    return d


def png_claiming(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's header) and whose
    data is one tiny row."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    raw = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
           chunk(b'IDAT', zlib.compress(b'\x00' * 4)) + chunk(b'IEND', b''))
    path.write_bytes(raw)
    return path


def nan_checkpoint(tmp, tiny_checkpoint):
    _, ckpt = tiny_checkpoint
    ck = torch.load(ckpt, weights_only=True)
    sd = dict(ck['pose_model_state_dict'])
    k = next(k for k, v in sd.items() if v.is_floating_point())
    sd[k] = torch.full_like(sd[k], float('nan'))
    dst = tmp / 'nan.pth.tar'
    torch.save({'pose_model_state_dict': sd}, str(dst))
    return dst


def _inference(build, *needles, quiet=True):
    return ('scripts/inference.py', build, needles, quiet)



def inf_images_as_out(tmp, ctx):            # the photo would become the result figure
    d = tmp / 'photos'
    d.mkdir()
    shutil.copy(os.path.join(DEMO, '1.jpg'), str(d / 'photo.png'))
    return ['--images', d, '--outdir', d] + ctx['model']


def inf_indir_as_out(tmp, ctx):             # a.json with a.png beside it
    d = tmp / 'kp'
    d.mkdir()
    (d / 'a.json').write_text(json.dumps({'keypoints': v3d_pose().tolist()}))
    Image.new('RGB', (64, 64)).save(str(d / 'a.png'))
    return ['--indir', d, '--outdir', d] + ctx['model']


def inf_video_beside_out(tmp, ctx):         # <stem>.mp4 would replace the input video
    (tmp / 'clip.mp4').write_bytes(b'not really a video')
    return ['--video', tmp / 'clip.mp4', '--outdir', tmp] + ctx['model']


def inf_out_not_empty(tmp, ctx):
    (tmp / 'o').mkdir()
    (tmp / 'o' / 'a_3d.json').write_text('{}')
    return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o'] + ctx['model']


def inf_out_is_file(tmp, ctx):
    (tmp / 'o.txt').write_text('x')
    return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o.txt'] + ctx['model']


def inf_out_under_file(tmp, ctx):
    (tmp / 'o.txt').write_text('x')
    return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o.txt' / 'sub'] + ctx['model']


def inf_args(*args, kp=True):
    def build(tmp, ctx):
        src = ['--indir', keypoints_dir(tmp)] if kp else []
        return src + ['--outdir', tmp / 'o'] + [a(tmp) if callable(a) else a for a in args]
    return build


def inf_model_args(*args):
    def build(tmp, ctx):
        return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o'] + ctx['model'] + list(args)
    return build


def inf_one_input(make, *extra):
    """A folder holding one bad input: its error line, nothing lifted, no output folder."""
    def build(tmp, ctx):
        d = tmp / 'in'
        d.mkdir()
        flag = make(d)
        return [flag, d, '--outdir', tmp / 'o'] + ctx['model'] + list(extra)
    return build


def _absurd_keypoints(d):
    np.save(str(d / 'a.npy'), v3d_pose() * 1e300)
    return '--indir'


def _absurd_keypoints_json(d):
    (d / 'a.json').write_text(json.dumps({'keypoints': (v3d_pose() * 1e12).tolist()}))
    return '--indir'


def _tiny_png(d):
    Image.new('RGB', (1, 1)).save(str(d / 'dot.png'))
    return '--images'


def _bomb_png(d):
    png_claiming(d / 'bomb.png', 60000, 60000)
    return '--images'


def _truncated_png(d):
    raw = open(os.path.join(DEMO, '1.jpg'), 'rb').read()
    (d / 'half.jpg').write_bytes(raw[:len(raw) // 3])
    return '--images'


def _keypoints_with_broken_picture(d):
    """a.npy lifts, but its picture a.jpg (drawn under it) is damaged: the input fails after its
    _3d.npy / _3d.json are written, and none of its files may stay."""
    np.save(str(d / 'a.npy'), v3d_pose().astype(np.float64))
    raw = open(os.path.join(DEMO, '1.jpg'), 'rb').read()
    (d / 'a.jpg').write_bytes(raw[:len(raw) // 3])
    return '--indir'


def inf_tiny_video(tmp, ctx):
    import cv2
    path = str(tmp / 'dot.avi')
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (8, 8))
    for _ in range(3):
        w.write(np.zeros((8, 8, 3), np.uint8))
    w.release()
    return ['--video', path, '--outdir', tmp / 'o'] + ctx['model']


def inf_nan_weights(tmp, ctx):
    return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o', '--cfg', ctx['yaml'], '--pretrain',
            nan_checkpoint(tmp, ctx['tiny']), '--gpu', '-1']


def inf_text_checkpoint(tmp, ctx):
    (tmp / 'notes.pth.tar').write_text('these are my notes\n')
    return ['--indir', keypoints_dir(tmp), '--outdir', tmp / 'o', '--cfg', ctx['yaml'], '--pretrain',
            tmp / 'notes.pth.tar', '--gpu', '-1']


CATALOGUE = {
    # scripts/inference.py --------------------------------------------------------------
    'inference/outdir_is_images_folder': _inference(inf_images_as_out, 'input folder', '--outdir'),
    'inference/outdir_is_indir': _inference(inf_indir_as_out, 'input folder', '--outdir'),
    'inference/outdir_holds_input_video': _inference(inf_video_beside_out, 'holds the input', 'clip.mp4'),
    'inference/outdir_not_empty': _inference(inf_out_not_empty, 'not empty', '--force'),
    'inference/outdir_is_a_file': _inference(inf_out_is_file, 'is a file', 'o.txt'),
    'inference/outdir_under_a_file': _inference(inf_out_under_file, 'not writable', 'o.txt'),
    'inference/missing_video': _inference(inf_args('--video', lambda t: t / 'missing.mp4', kp=False),
                                          'video not found', 'missing.mp4'),
    'inference/missing_indir': _inference(inf_args('--indir', lambda t: t / 'none', kp=False),
                                          'input file or folder not found'),
    'inference/missing_images': _inference(inf_args('--images', lambda t: t / 'none', kp=False),
                                           'image file or folder not found'),
    'inference/missing_pretrain': _inference(lambda t, c: ['--indir', keypoints_dir(t), '--outdir', t / 'o', '--cfg',
                                                           c['yaml'], '--pretrain', t / 'none.pth.tar'],
                                             'checkpoint not found', 'none.pth.tar'),
    'inference/pretrain_without_cfg': _inference(lambda t, c: ['--indir', keypoints_dir(t), '--outdir', t / 'o',
                                                               '--pretrain', c['tiny'][1]], '--cfg'),
    'inference/missing_cfg': _inference(inf_model_args('--cfg', '/nonexistent/x.yaml'), 'config file not found'),
    'inference/missing_reference': _inference(inf_model_args('--reference', '/nonexistent/ref'),
                                              'reference folder not found'),
    'inference/gif_fps_zero': _inference(inf_model_args('--gif-fps', '0'), '--gif-fps'),
    'inference/gif_fps_huge': _inference(inf_model_args('--gif-fps', '100000'), '--gif-fps'),
    'inference/min_confidence_nan': _inference(inf_model_args('--min-confidence', 'nan'), '--min-confidence'),
    'inference/min_confidence_two': _inference(inf_model_args('--min-confidence', '2'), '--min-confidence'),
    'inference/smooth_negative': _inference(inf_model_args('--smooth', '-1'), '--smooth'),
    'inference/threads_zero': _inference(inf_model_args('--threads', '0'), 'thread count', '--threads'),
    'inference/unknown_option': _inference(inf_model_args('--colour', 'red'), 'unrecognized', '--colour'),
    'inference/two_sources': _inference(inf_model_args('--images', '/tmp'), 'not allowed with'),
    'inference/keypoints_x1e300': _inference(inf_one_input(_absurd_keypoints), 'not pixel coordinates', 'a.npy',
                                             quiet=False),
    'inference/keypoints_json_x1e12': _inference(inf_one_input(_absurd_keypoints_json), 'not pixel coordinates',
                                                 'a.json', quiet=False),
    'inference/image_1x1': _inference(inf_one_input(_tiny_png), 'too small', 'dot.png', quiet=False),
    'inference/image_bomb_header': _inference(inf_one_input(_bomb_png), 'pixels', 'bomb.png', quiet=False),
    'inference/image_truncated': _inference(inf_one_input(_truncated_png), 'half.jpg', quiet=False),
    'inference/video_8x8': _inference(inf_tiny_video, 'too small', 'dot.avi', quiet=False),
    'inference/nan_weights': _inference(inf_nan_weights, 'not finite', 'nan.pth.tar', quiet=False),
    'inference/text_as_checkpoint': _inference(inf_text_checkpoint, 'not a PyTorch checkpoint', quiet=False),
    'inference/input_fails_after_its_arrays': _inference(inf_one_input(_keypoints_with_broken_picture), 'a.jpg',
                                                         quiet=False),
    'inference/disk_full': _inference(disk_full(inf_model_args(), 1), 'no space left', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)


# --- the partial-results policy: good inputs written, bad ones listed, exit 2 -----------------

def test_image_folder_with_bad_images_writes_the_good_ones(ctx_base, tmp_path, capsys):
    src = tmp_path / 'imgs'
    src.mkdir()
    shutil.copy(os.path.join(DEMO, '1.jpg'), str(src / 'good.jpg'))
    _tiny_png(src)
    _bomb_png(src)
    rc, out, err = run_entry('scripts/inference.py', ['--images', src, '--outdir', tmp_path / 'o', '--quiet']
                             + ctx_base['model'], capsys)
    assert rc == 2 and 'Traceback' not in err
    errors = [ln for ln in err.splitlines() if ln.startswith('error:')]
    assert len(errors) == 2 and any('dot.png' in e for e in errors) and any('bomb.png' in e for e in errors)
    assert 'lifted 1, skipped 0, failed 2' in out
    assert sorted(os.listdir(tmp_path / 'o')) == ['good.png', 'good_3d.json', 'good_3d.npy', 'good_out.jpg']
    assert sorted(os.listdir(src)) == ['bomb.png', 'dot.png', 'good.jpg']


def test_json_is_strict_and_bvh_frames_are_mapped(ctx_base, tmp_path, capsys):
    """Strict JSON (no bare NaN), and with --bvh the input frame of every BVH frame."""
    d = tmp_path / 'seq'
    d.mkdir()
    kps = np.repeat(v3d_pose()[None], 6, 0)
    conf = np.ones(kps.shape[:2])
    conf[2] = 0.0                                           # frame 2: nobody
    np.save(str(d / 's.npy'), np.concatenate([kps, conf[..., None]], -1))
    rc, out, err = run_entry('scripts/inference.py', ['--indir', d, '--outdir', tmp_path / 'o', '--bvh', '--quiet']
                             + ctx_base['model'], capsys)
    assert rc == 0, err
    text = (tmp_path / 'o' / 's_3d.json').read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail('non-strict JSON constant %s' % c))
    assert rec['bvh_frames'] == [0, 1, 3, 4, 5] and list(rec['skipped_frames']) == ['2']
    from lib.prep.bvh import load_bvh
    assert load_bvh(str(tmp_path / 'o' / 's.bvh')).num_frames == len(rec['bvh_frames'])

