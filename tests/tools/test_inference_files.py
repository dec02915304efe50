"""scripts/inference.py from pose files: bad files, empty folders, non-finite keypoints."""
import glob
import json
import os
import pickle

import numpy as np
from PIL import Image

import synth
from helpers import Evil, STANDING, assert_one_error_line, need_script, not_blank, run_python, run_script, v3d_pose
from lib.inference.lsp import lsp14_to_ours17, normalise_lsp


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
