"""The bad-input catalogue of every entry point except tools/main.py's configs, readers and
checkpoints (those are in tests/test_cli.py): scripts/inference.py, scripts/demo.sh,
tools/main.py's paths, output folders and MPI-INF-3DHP / SURREAL files, tools/prepare_data.py,
tools/vis_sequences.py, tools/eval_lsp.py and tools/export_model.py.

Each case of :data:`CATALOGUE` must end in exit code 2 with exactly one ``error: <what>
(<where>): <fix>`` line on stderr naming what the case says, no traceback, and leave the disk
as it found it: no file or folder created and no existing file changed (a snapshot of the
case's folder, and of the repository's run folders, before and after).  ``quiet`` cases (a bad
path or option) must also print nothing on stdout: they are refused before the model is chosen.

The partial-results policy (a folder of inputs: the good ones written, each bad one listed with
its reason, exit 2) and scripts/demo.sh are tested below the catalogue.  Everything runs
in-process (``runpy``) except demo.sh, on tiny synthetic inputs.
"""
import hashlib
import json
import os
import runpy
import shutil
import struct
import subprocess
import sys
import zlib

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import layout_fixtures as lf
import synth
from conftest import REPO
from helpers import (ENV, NPZ, STANDING, W, H, assert_one_error_line, edit_h5, make_state_checkpoint, v3d_pose,
                     write_cfg, write_lsp)

DEMO = os.path.join(REPO, 'scripts', 'demo_input')
REPO_RUN_FOLDERS = [os.path.join(REPO, d) for d in ('output', 'log', 'vis', 'models', 'data')]


# --- running an entry point in this process, and what it left on disk -------------------

def run_entry(script, argv, capsys):
    """``python <script> <argv>`` in this process: (exit code, stdout, stderr)."""
    path = os.path.join(REPO, script)
    capsys.readouterr()
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path] + [str(a) for a in argv]
    sys.path.insert(0, os.path.dirname(path))          # as `python script.py` does
    try:
        with pytest.raises(SystemExit) as ex:
            runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    cap = capsys.readouterr()
    return ex.value.code, cap.out, cap.err


def snapshot(*roots):
    """{path: 'dir' | (size, mtime, md5)} of everything under ``roots``."""
    out = {}
    for root in roots:
        for dirpath, dirs, files in os.walk(str(root)):
            for d in dirs:
                out[os.path.join(dirpath, d)] = 'dir'
            for f in files:
                p = os.path.join(dirpath, f)
                st = os.stat(p)
                with open(p, 'rb') as fh:
                    out[p] = (st.st_size, st.st_mtime_ns, hashlib.md5(fh.read()).hexdigest())
    return out


def assert_unchanged(before, after):
    made = sorted(set(after) - set(before))
    gone = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert not made and not gone and not changed, ('created', made, 'removed', gone, 'changed', changed)


# --- small inputs ---------------------------------------------------------------------

def tiny_model(tmp, tiny_checkpoint):
    yaml_path, ckpt = tiny_checkpoint
    return ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']


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


def predictions_npz(path, n=12, **edit):
    """A predictions.npz as tools/main.py --eval writes it, with ``edit`` replacing members."""
    rng = np.random.RandomState(0)
    gt = np.repeat(v3d_pose()[None, :, [0, 1, 0]] * [1, 1, 0] + [0, 0, 4000], n, 0) * 1.0
    arrays = {'pred': gt / 1000.0 + rng.normal(0, 0.01, gt.shape), 'gt': gt, 'subject': np.array(['S9'] * n),
              'action': np.array(['Walk'] * n), 'camera': np.zeros(n, np.int64), 'frame': np.arange(n)}
    arrays.update(edit)
    np.savez(str(path), **arrays)
    return path


def lsp_root(tmp, poses=None, n=2):
    root = tmp / 'lsp'
    poses = np.repeat(STANDING[None], n, 0) if poses is None else poses
    write_lsp(str(root), poses, np.ones(poses.shape[:2]), 'lsp')
    return root


# --- the catalogue: entry point -> {case: (setup(tmp, ctx) -> argv, needles, quiet)} -------------

def _inference(build, *needles, quiet=True):
    return ('scripts/inference.py', build, needles, quiet)


def _main(build, *needles, quiet=True):
    return ('tools/main.py', build, needles, quiet)


def _tool(script, build, *needles, quiet=True):
    return (script, build, needles, quiet)


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


# tools/main.py: paths, folders, files of the MPI / SURREAL layouts

def main_cfg(tmp, ctx, *extra, data=None):
    return ['--cfg', write_cfg(tmp, data or ctx['data']), '--gpu', '-1'] + list(extra)


def main_eval_missing(tmp, ctx):
    return main_cfg(tmp, ctx, '--eval', '--pretrain', tmp / 'nonexistent.pth.tar')


def main_missing_data(tmp, ctx):
    return main_cfg(tmp, ctx, data=tmp / 'nonexistent')


def main_resume_missing(tmp, ctx):
    return main_cfg(tmp, ctx, '--resume', tmp / 'nowhere' / 'checkpoint.pth.tar')


def _finished(tmp):
    run = tmp / 'out' / 'tiny'
    run.mkdir(parents=True)
    for f in ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'config.yaml'):
        (run / f).write_text('an earlier run\'s %s' % f)


def main_over_finished(tmp, ctx):
    _finished(tmp)
    return main_cfg(tmp, ctx, '--opts') + NPZ


def main_bad_value_over_finished(tmp, ctx):       # refused before its config.yaml is written
    _finished(tmp)
    return main_cfg(tmp, ctx, '--opts') + NPZ + ['NETWORK.DROPOUT', '2.0']


def main_eval_over_evaluated(tmp, ctx):
    ck = tmp / 'ck.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    ev = tmp / 'out' / 'tiny' / 'eval_ck'
    ev.mkdir(parents=True)
    (ev / 'results.json').write_text('{}')
    return main_cfg(tmp, ctx, '--eval', '--pretrain', ck, '--opts') + NPZ


def main_output_is_file(tmp, ctx):
    (tmp / 'o.txt').write_text('x')
    return main_cfg(tmp, ctx, '--model_dir', tmp / 'o.txt', '--opts') + NPZ


def main_save_final_is_pretrain(tmp, ctx):
    ck = tmp / 'warm.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    return main_cfg(tmp, ctx, '--pretrain', ck, '--save-final', ck, '--opts') + NPZ


def main_save_final_is_folder(tmp, ctx):
    (tmp / 'dir').mkdir()
    return main_cfg(tmp, ctx, '--save-final', tmp / 'dir', '--opts') + NPZ


def main_text_resume(tmp, ctx):
    (tmp / 'notes.txt').write_text('not a checkpoint\n')
    return main_cfg(tmp, ctx, '--resume', tmp / 'notes.txt', '--opts') + NPZ


def main_nan_eval(tmp, ctx):
    ck = tmp / 'ck.pth.tar'
    st = make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    sd = st.model.state_dict()
    sd['lifter_before.pre.0.weight'][:] = float('nan')
    torch.save({'pose_model_state_dict': sd}, str(ck))
    return main_cfg(tmp, ctx, '--eval', '--pretrain', ck, '--opts') + NPZ


def main_opts(*opts):
    def build(tmp, ctx):
        return main_cfg(tmp, ctx, '--opts') + NPZ + list(opts)
    return build


def main_threads_env(value):
    def build(tmp, ctx):
        ctx['monkeypatch'].setenv('OMP_NUM_THREADS', value)
        return main_cfg(tmp, ctx, '--opts') + NPZ
    return build


def main_layout(dataset, edit, *opts):
    def build(tmp, ctx):
        edit_h5(dataset, edit)(tmp)
        cfg = tmp / 'c.yaml'
        cfg.write_text(lf.YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log', dataset=dataset))
        return ['--cfg', cfg, '--gpu', '-1', '--opts'] + list(opts)
    return build


def _retype(key, fn):
    def edit(f):
        a = fn(np.array(f[key]))
        del f[key]
        f[key] = a
    return edit


def _as_group(key):
    def edit(f):
        del f[key]
        f.create_group(key).create_dataset('x', data=np.zeros(3))
    return edit


def _compound(a):
    return np.array([(float(v),) for v in a.reshape(-1)], dtype=[('v', 'f8')]).reshape(a.shape)


# tools/export_model.py

def export_case(kind):
    def build(tmp, ctx):
        ck = tmp / 'ck.pth.tar'
        make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
        if kind == 'same':
            return ['--pretrain', ck, '--out', ck]
        if kind == 'same_other_spelling':
            return ['--pretrain', ck, '--out', tmp / '.' / 'ck.pth.tar']
        if kind == 'exists':
            (tmp / 'old.pth.tar').write_bytes(b'an earlier export')
            return ['--pretrain', ck, '--out', tmp / 'old.pth.tar']
        if kind == 'folder':
            (tmp / 'dir').mkdir()
            return ['--pretrain', ck, '--out', tmp / 'dir']
        if kind == 'under_file':
            return ['--pretrain', ck, '--out', ck / 'small.pth.tar']
        if kind == 'missing':
            return ['--pretrain', tmp / 'none.pth.tar', '--out', tmp / 'small.pth.tar']
        if kind == 'text':
            (tmp / 'notes.txt').write_text('hello\n')
            return ['--pretrain', tmp / 'notes.txt', '--out', tmp / 'small.pth.tar']
        if kind == 'nan':
            st = make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
            sd = st.model.state_dict()
            sd['lifter_after.0.w1.weight' if 'lifter_after.0.w1.weight' in sd else next(iter(sd))].fill_(float('inf'))
            torch.save({'pose_model_state_dict': sd}, str(ck))
            return ['--pretrain', ck, '--out', tmp / 'small.pth.tar']
        raise AssertionError(kind)
    return build


# tools/prepare_data.py

QS_3D = os.path.join(REPO, 'datasets', 'quickstart', 'data_3d_quickstart.npz')


def layout_args(*extra, src=None):
    def build(tmp, ctx):
        s = src(tmp) if callable(src) else (src or QS_3D)
        return ['layout', '--src', s, '--dataset', 'mpi', '--out', tmp / 'o'] + [e(tmp) if callable(e) else e
                                                                               for e in extra]
    return build


def archive_3d(edit):
    """A data_3d archive of two 30-frame clips (world metres), the training one edited."""
    def make(tmp):
        clip = np.repeat(v3d_pose()[None, :, [0, 1, 0]] / 1000.0, 30, 0)
        pos = {'S1': {'walk': edit(clip.copy())}, 'S9': {'walk': clip}}
        p = tmp / 'data_3d_x.npz'
        np.savez(str(p), positions_3d=np.array(pos, dtype=object),
                 metadata=np.array({'train_subjects': ['S1'], 'test_subjects': ['S9']}, dtype=object))
        return p
    return make


def bvh_tree(text_fn, name='walk.bvh'):
    def make(tmp):
        for subject in ('a', 'b'):
            (tmp / 'src' / subject).mkdir(parents=True, exist_ok=True)
            (tmp / 'src' / subject / name).write_text(text_fn())
        return tmp / 'src'
    return make


def bvh_args(make, *extra):
    def build(tmp, ctx):
        src = make(tmp)
        return ['bvh', '--src', src, '--out', tmp / 'o', '--name', 'x', '--test-subjects', 'b'] + \
            [e(tmp) if callable(e) else e for e in extra]
    return build


def _good_bvh():
    return synth.cmu_bvh(np.linspace(0, 100, 150))


def _edit_header(old, new):
    return lambda: _good_bvh().replace(old, new)


def _bvh_over_archives(tmp, ctx):
    build = bvh_args(bvh_tree(_good_bvh))
    argv = build(tmp, ctx)
    (tmp / 'o').mkdir()
    (tmp / 'o' / 'data_3d_x.npz').write_bytes(b'my earlier conversion')
    return argv


def _layout_over_files(tmp, ctx):
    (tmp / 'o').mkdir()
    (tmp / 'o' / 'mpi_train_pred3.h5').write_bytes(b'earlier')
    return layout_args()(tmp, ctx)


# tools/vis_sequences.py

def vis_args(make, *extra):
    def build(tmp, ctx):
        return ['--pred', make(tmp), '--out', tmp / 'vis'] + [e(tmp) if callable(e) else e for e in extra]
    return build


def pred_file(**edit):
    def make(tmp):
        n = 12
        ed = {k: (v(n) if callable(v) else v) for k, v in edit.items()}
        return predictions_npz(tmp / 'predictions.npz', n, **ed)
    return make


def _pred_h5_group(tmp):
    p = tmp / 'x_valid_pred_3d.h5'
    with h5py.File(str(p), 'w') as f:
        f.create_group('joint_3d_pre')
        f['joint_3d_gt'] = np.zeros((4, 17, 3))
        f['joint_2d_gt'] = np.zeros((4, 17, 2))
        f['imagename'] = np.array([b'S/a/1.jpg'] * 4)
    return p


def _vis_over_gif(tmp, ctx):
    (tmp / 'vis').mkdir()
    (tmp / 'vis' / 'S9_Walk_0.gif').write_bytes(b'my earlier animation')
    return ['--pred', pred_file()(tmp), '--out', tmp / 'vis']


# tools/eval_lsp.py

def lsp_args(make=None, *extra, model=True):
    def build(tmp, ctx):
        root = make(tmp) if make else lsp_root(tmp)
        return ['--lsp-root', root, '--out', tmp / 'lspout'] + (ctx['model'] if model else []) + \
            [e(tmp) if callable(e) else e for e in extra]
    return build


def _lsp_corrupt(tmp):
    root = lsp_root(tmp)
    raw = (root / 'joints.mat').read_bytes()
    (root / 'joints.mat').write_bytes(raw[:128] + b'\xff' * 64 + raw[192:])
    return root


def _lsp_garbage(tmp):
    root = lsp_root(tmp)
    (root / 'joints.mat').write_bytes(b'MATLAB 5.0 MAT-file' + b'\x00' * 200)
    return root


def _lsp_poses(scale=1.0, nan=False):
    def make(tmp):
        p = np.repeat(STANDING[None], 2, 0) * scale
        if nan:
            p[1, 3, 0] = np.nan
        return lsp_root(tmp, p)
    return make


def _lsp_out_is_root(tmp, ctx):
    root = lsp_root(tmp)
    return ['--lsp-root', root, '--out', root] + ctx['model']


def _lsp_out_not_empty(tmp, ctx):
    root = lsp_root(tmp)
    (tmp / 'lspout').mkdir()
    (tmp / 'lspout' / 'index.html').write_text('<p>earlier</p>')
    return ['--lsp-root', root, '--out', tmp / 'lspout'] + ctx['model']


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
                                          'input folder not found'),
    'inference/missing_images': _inference(inf_args('--images', lambda t: t / 'none', kp=False),
                                           'image folder not found'),
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
    # tools/main.py: paths and folders (before anything is printed or made) ---------------
    'main/eval_missing_pretrain': _main(main_eval_missing, 'checkpoint not found', 'nonexistent.pth.tar'),
    'main/missing_data_dir': _main(main_missing_data, 'data folder not found'),
    'main/resume_missing': _main(main_resume_missing, 'nothing to resume'),
    'main/over_finished_run': _main(main_over_finished, 'finished run', '--force'),
    'main/bad_value_over_finished_run': _main(main_bad_value_over_finished, 'NETWORK.DROPOUT'),
    'main/eval_over_evaluation': _main(main_eval_over_evaluated, 'finished run', 'eval_ck'),
    'main/output_dir_is_file': _main(main_output_is_file, 'is a file', 'o.txt'),
    'main/save_final_is_pretrain': _main(main_save_final_is_pretrain, 'input file', '--save-final'),
    'main/save_final_is_folder': _main(main_save_final_is_folder, 'is a folder', '--save-final'),
    'main/threads_env_not_a_number': _main(main_threads_env('abc'), "'abc'", '$OMP_NUM_THREADS'),
    'main/threads_env_huge': _main(main_threads_env('100000'), '100000', '$OMP_NUM_THREADS'),
    'main/text_file_as_resume': _main(main_text_resume, 'not a PyTorch checkpoint', quiet=False),
    'main/nan_weights_eval': _main(main_nan_eval, 'not finite', quiet=False),
    # tools/main.py: every number has a range
    'main/dropout_2': _main(main_opts('NETWORK.DROPOUT', '2.0'), 'NETWORK.DROPOUT', '[0, 1)'),
    'main/scheduler_step_0': _main(main_opts('TRAIN.SCHEDULER_STEP_SIZE', '0'), 'TRAIN.SCHEDULER_STEP_SIZE'),
    'main/seed_negative': _main(main_opts('RANDOM_SEED', '-1'), 'RANDOM_SEED'),
    'main/seed_too_big': _main(main_opts('RANDOM_SEED', '99999999999'), 'RANDOM_SEED'),
    'main/pose_lr_negative': _main(main_opts('TRAIN.POSE_LR', '-1'), 'TRAIN.POSE_LR'),
    'main/pose_lr_nan': _main(main_opts('TRAIN.POSE_LR', '.nan'), 'TRAIN.POSE_LR'),
    'main/dis_channels_negative': _main(main_opts('NETWORK.DIS_NUM_CHANNELS', '-5'), 'NETWORK.DIS_NUM_CHANNELS'),
    'main/gamma_zero': _main(main_opts('TRAIN.SCHEDULER_GAMMA', '0'), 'TRAIN.SCHEDULER_GAMMA'),
    'main/camera_distance_zero': _main(main_opts('TRAIN.CAMERA_SKELETON_DISTANCE', '0'),
                                       'TRAIN.CAMERA_SKELETON_DISTANCE'),
    'main/scale_std_zero': _main(main_opts('DATA.SCALE_MID_STD', '0'), 'DATA.SCALE_MID_STD'),
    'main/loss_weight_negative': _main(main_opts('TRAIN.LOSS_WEIGHTS', '[1, -1, 1, 1]'), 'TRAIN.LOSS_WEIGHTS'),
    'main/bound_elev_huge': _main(main_opts('TRAIN.BOUND_ELEV', '100'), 'TRAIN.BOUND_ELEV'),
    'main/warm_start_negative': _main(main_opts('TRAIN.WARM_START_EPOCHS', '-2'), 'TRAIN.WARM_START_EPOCHS'),
    'main/batch_size_absurd': _main(main_opts('BATCH_SIZE', '10000000000'), 'BATCH_SIZE'),
    # tools/main.py: MPI-INF-3DHP / SURREAL files
    'main/mpi_2d_as_bytes': _main(main_layout('mpi', _retype('joint_2d_gt', lambda a: np.char.encode(
        a.astype(str).reshape(len(a), -1)[:, 0]))), 'joint_2d_gt', 'dtype', quiet=False),
    'main/mpi_2d_compound': _main(main_layout('mpi', _retype('joint_2d_gt', _compound)), 'joint_2d_gt', 'dtype',
                                  quiet=False),
    'main/mpi_zero_rows': _main(main_layout('mpi', _retype('joint_3d_gt', lambda a: a[:0])), 'joint_3d_gt',
                                'no rows', quiet=False),
    'main/mpi_group_for_2d': _main(main_layout('mpi', _as_group('joint_2d_gt')), 'joint_2d_gt', 'group',
                                   quiet=False),
    'main/mpi_x1e30': _main(main_layout('mpi', _retype('joint_2d_gt', lambda a: a * 1e30)), '2D keypoints',
                             'mpi_valid_pred3.h5', quiet=False),
    'main/surreal_3d_bytes': _main(main_layout('surreal', _retype('joint_3d_gt', lambda a: np.char.encode(
        a.astype(str).reshape(len(a), -1)[:, 0]))), 'joint_3d_gt', 'dtype', quiet=False),
    'main/surreal_group_for_names': _main(main_layout('surreal', _as_group('imagename')), 'imagename', 'group',
                                          quiet=False),
    'main/surreal_zero_rows': _main(main_layout('surreal', _retype('original_joint_2d_gt', lambda a: a[:0])),
                                    'original_joint_2d_gt', 'no rows', quiet=False),
    # tools/export_model.py -------------------------------------------------------------
    'export/out_is_pretrain': _tool('tools/export_model.py', export_case('same'), 'input file', '--out'),
    'export/out_is_pretrain_other_spelling': _tool('tools/export_model.py', export_case('same_other_spelling'),
                                                   'input file'),
    'export/out_exists': _tool('tools/export_model.py', export_case('exists'), 'exists', '--force'),
    'export/out_is_folder': _tool('tools/export_model.py', export_case('folder'), 'is a folder'),
    'export/out_under_file': _tool('tools/export_model.py', export_case('under_file'), 'not writable'),
    'export/missing_pretrain': _tool('tools/export_model.py', export_case('missing'), 'checkpoint not found'),
    'export/text_pretrain': _tool('tools/export_model.py', export_case('text'), 'not a PyTorch checkpoint'),
    'export/inf_weights': _tool('tools/export_model.py', export_case('nan'), 'not finite'),
    'export/no_out': _tool('tools/export_model.py', lambda t, c: ['--pretrain', t / 'x'], '--out'),
    # tools/prepare_data.py ---------------------------------------------------------------
    'prepare/layout_distance_negative': _tool('tools/prepare_data.py', layout_args('--distance', '-5'), '--distance'),
    'prepare/layout_distance_zero': _tool('tools/prepare_data.py', layout_args('--distance', '0'), '--distance'),
    'prepare/layout_distance_nan': _tool('tools/prepare_data.py', layout_args('--distance', 'nan'), '--distance'),
    'prepare/layout_distance_huge': _tool('tools/prepare_data.py', layout_args('--distance', '1e300'), '--distance'),
    'prepare/layout_missing_src': _tool('tools/prepare_data.py', layout_args(src=lambda t: t / 'none.npz'),
                                        'not found'),
    'prepare/layout_5_joints': _tool('tools/prepare_data.py', layout_args(src=archive_3d(lambda X: X[:, :5])),
                                     'shape', 'S1/walk', quiet=False),
    'prepare/layout_0_frames': _tool('tools/prepare_data.py', layout_args(src=archive_3d(lambda X: X[:0])),
                                     'shape', quiet=False),
    'prepare/layout_nan_clip': _tool('tools/prepare_data.py', layout_args(src=archive_3d(
        lambda X: np.where(np.arange(len(X))[:, None, None] == 3, np.nan, X))), 'NaN', quiet=False),
    'prepare/layout_over_files': _tool('tools/prepare_data.py', _layout_over_files, 'mpi_train_pred3.h5', '--force'),
    'prepare/layout_out_is_src': _tool('tools/prepare_data.py', lambda t, c: ['layout', '--src', QS_3D, '--dataset',
                                                                              'mpi', '--out', os.path.dirname(QS_3D)],
                                       'holds the input'),
    'prepare/bvh_frames_0': _tool('tools/prepare_data.py', bvh_args(bvh_tree(_edit_header('Frames: 150', 'Frames: 0'))),
                                  'Frames: 0', 'walk.bvh', quiet=False),
    'prepare/bvh_frame_time_1000': _tool('tools/prepare_data.py', bvh_args(bvh_tree(
        _edit_header('Frame Time: 0.02', 'Frame Time: 1000'))), 'Frame Time', 'walk.bvh', quiet=False),
    'prepare/bvh_frame_time_tiny': _tool('tools/prepare_data.py', bvh_args(bvh_tree(
        _edit_header('Frame Time: 0.02', 'Frame Time: 0.0000001'))), 'Frame Time', quiet=False),
    'prepare/bvh_over_archives': _tool('tools/prepare_data.py', _bvh_over_archives, 'data_3d_x.npz', '--force'),
    'prepare/bvh_out_is_src': _tool('tools/prepare_data.py', lambda t, c: bvh_args(bvh_tree(_good_bvh))(t, c)[:4] +
                                    [t / 'src', '--name', 'x', '--test-subjects', 'b'], 'input folder'),
    'prepare/bvh_fps_zero': _tool('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--fps', '0'), '--fps'),
    'prepare/bvh_missing_src': _tool('tools/prepare_data.py', bvh_args(lambda t: t / 'none'), 'not found'),
    'prepare/bvh_out_under_file': _tool('tools/prepare_data.py', lambda t, c: bvh_args(bvh_tree(_good_bvh))(t, c)[:4]
                                        + [t / 'src' / 'a' / 'walk.bvh' / 'o', '--name', 'x', '--test-subjects', 'b'],
                                        'not writable'),
    # tools/vis_sequences.py --------------------------------------------------------------
    'vis/pred_gt_lengths_differ': _tool('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.zeros((n - 2, 17, 3)))), 'differ in length', quiet=False),
    'vis/pred_strings': _tool('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.full((n, 17, 3), 'x'))), 'pred', 'not numbers', quiet=False),
    'vis/zero_rows': _tool('tools/vis_sequences.py', vis_args(pred_file(
        pred=np.zeros((0, 17, 3)), gt=np.zeros((0, 17, 3)), subject=np.array([], str), action=np.array([], str),
        camera=np.zeros(0), frame=np.zeros(0))), 'no frames', quiet=False),
    'vis/subject_shorter': _tool('tools/vis_sequences.py', vis_args(pred_file(subject=np.array(['S9'] * 5))),
                                 'differ in length', 'subject 5', quiet=False),
    'vis/pred_x1e300': _tool('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.ones((n, 17, 3)) * 1e300)), 'pred', quiet=False),
    'vis/fps_tiny': _tool('tools/vis_sequences.py', vis_args(pred_file(), '--fps', '0.001'), '--fps'),
    'vis/fps_zero': _tool('tools/vis_sequences.py', vis_args(pred_file(), '--fps', '0'), '--fps'),
    'vis/max_frames_zero': _tool('tools/vis_sequences.py', vis_args(pred_file(), '--max-frames', '0'),
                                 '--max-frames'),
    'vis/h5_group_for_pred': _tool('tools/vis_sequences.py', vis_args(_pred_h5_group), 'joint_3d_pre', 'group',
                                   quiet=False),
    'vis/over_animation': _tool('tools/vis_sequences.py', _vis_over_gif, 'S9_Walk_0.gif', '--force', quiet=False),
    'vis/missing_pred': _tool('tools/vis_sequences.py', vis_args(lambda t: t / 'none.npz'), 'not found'),
    'vis/out_is_file': _tool('tools/vis_sequences.py', lambda t, c: ['--pred', pred_file()(t), '--out',
                                                                     pred_file()(t)], 'is a file', quiet=False),
    # tools/eval_lsp.py ---------------------------------------------------------------------
    'lsp/corrupt_joints_mat': _tool('tools/eval_lsp.py', lsp_args(_lsp_corrupt), 'joints.mat', quiet=False),
    'lsp/garbage_joints_mat': _tool('tools/eval_lsp.py', lsp_args(_lsp_garbage), 'MATLAB', quiet=False),
    'lsp/joints_nan': _tool('tools/eval_lsp.py', lsp_args(_lsp_poses(nan=True)), 'NaN', quiet=False),
    'lsp/joints_x1e300': _tool('tools/eval_lsp.py', lsp_args(_lsp_poses(1e300)), 'not pixel', quiet=False),
    'lsp/no_images': _tool('tools/eval_lsp.py', lsp_args(lambda t: lsp_root(t, np.zeros((0, 14, 2)))), 'no images',
                           quiet=False),
    'lsp/out_is_root': _tool('tools/eval_lsp.py', _lsp_out_is_root, 'input folder'),
    'lsp/out_not_empty': _tool('tools/eval_lsp.py', _lsp_out_not_empty, 'not empty', '--force'),
    'lsp/missing_root': _tool('tools/eval_lsp.py', lsp_args(lambda t: t / 'none'), 'joints.mat'),
    'lsp/batch_size_zero': _tool('tools/eval_lsp.py', lsp_args(None, '--batch-size', '0'), '--batch-size'),
    'lsp/sheet_negative': _tool('tools/eval_lsp.py', lsp_args(None, '--sheet', '-1'), '--sheet'),
    'lsp/missing_pretrain': _tool('tools/eval_lsp.py', lsp_args(None, '--pretrain', '/nonexistent.pth.tar', '--cfg',
                                                                '/nonexistent.yaml', model=False), 'not found'),
}


@pytest.fixture(scope='module')
def ctx_base(tmp_path_factory, tiny_checkpoint):
    d = tmp_path_factory.mktemp('bad_inputs_data') / 'data'
    synth.write_npz(str(d))
    yaml_path, ckpt = tiny_checkpoint
    return {'data': d, 'tiny': tiny_checkpoint, 'yaml': yaml_path,
            'model': ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    script, build, needles, quiet = CATALOGUE[case]
    ctx = dict(ctx_base, monkeypatch=monkeypatch)
    work = tmp_path / 'case'
    work.mkdir()
    argv = build(work, ctx)
    before = snapshot(work, *REPO_RUN_FOLDERS)
    rc, out, err = run_entry(script, argv, capsys)
    assert_one_error_line(rc, err, *needles)
    if quiet:
        assert out == '', out
    assert_unchanged(before, snapshot(work, *REPO_RUN_FOLDERS))


def test_catalogue_covers_every_entry_point():
    counts = {}
    for case, (script, _, _, _) in CATALOGUE.items():
        counts[script] = counts.get(script, 0) + 1
    assert set(counts) == {'scripts/inference.py', 'tools/main.py', 'tools/export_model.py',
                           'tools/prepare_data.py', 'tools/vis_sequences.py', 'tools/eval_lsp.py'}
    assert min(counts.values()) >= 8, counts


def test_the_hang_ends_at_once(tmp_path):
    """--distance -5 used to loop forever at 100 % CPU; the camera placement's loop is bounded."""
    from lib.prep.layouts import CAMERAS, world_to_view
    from lib.utils.errors import UserError
    X = np.repeat(v3d_pose()[None, :, [0, 1, 0]] / 1000.0, 3, 0)
    for d in (-5.0, 0.0, 1e300):
        with pytest.raises(UserError, match='distance'):
            world_to_view(X, CAMERAS['mpi'], d)
    with pytest.raises(UserError, match='does not fit'):        # too big for any distance: bounded tries
        world_to_view(X * 1e3, CAMERAS['mpi'], 4.5)


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


# --- scripts/demo.sh: earlier results are replaced only by a run that succeeded ---------------

def demo_copy(tmp, bad_image):
    """A copy of scripts/ (three demo inputs, one of them with a corrupt picture) beside links to lib/ and cfg/."""
    root = tmp / 'repo'
    (root / 'scripts' / 'demo_input').mkdir(parents=True)
    for name in ('lib', 'cfg', 'datasets'):
        os.symlink(os.path.join(REPO, name), str(root / name))
    for f in ('demo.sh', 'inference.py', '_init_paths.py'):
        shutil.copy(os.path.join(REPO, 'scripts', f), str(root / 'scripts' / f))
    shutil.copytree(os.path.join(REPO, 'scripts', 'demo_model'), str(root / 'scripts' / 'demo_model'))
    for n in ('1', '2', '3'):
        for ext in ('.pkl', '.jpg'):
            shutil.copy(os.path.join(DEMO, n + ext), str(root / 'scripts' / 'demo_input' / (n + ext)))
    if bad_image:
        (root / 'scripts' / 'demo_input' / '2.jpg').write_bytes(b'\xff\xd8 not a whole jpeg')
    (root / 'scripts' / 'demo_output').mkdir()
    (root / 'scripts' / 'demo_output' / 'earlier.txt').write_text('results of an earlier demo')
    return root / 'scripts'


@pytest.mark.parametrize('bad_image', [True, False])
def test_demo_sh_keeps_earlier_results_until_a_run_succeeds(tmp_path, bad_image):
    scripts = demo_copy(tmp_path, bad_image)
    r = subprocess.run(['sh', str(scripts / 'demo.sh')], capture_output=True, text=True, timeout=300,
                       env=dict(ENV, PYTHON=sys.executable))
    assert 'Traceback' not in r.stderr, r.stderr
    if bad_image:
        assert r.returncode == 2
        assert [ln for ln in r.stderr.splitlines() if ln.startswith('error:')][0].count('2.jpg') == 1
        assert os.listdir(scripts / 'demo_output') == ['earlier.txt']         # untouched
        new = sorted(os.listdir(scripts / 'demo_output.new'))
        assert '1_3d.json' in new and '3_3d.json' in new and 'lifted 2' in r.stdout   # the good ones ran
    else:
        assert r.returncode == 0, r.stderr
        assert not (scripts / 'demo_output.new').exists()
        got = sorted(os.listdir(scripts / 'demo_output'))
        assert 'earlier.txt' not in got and '1_out.jpg' in got and '2_out.jpg' in got and '3_3d.json' in got
