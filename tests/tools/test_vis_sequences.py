"""The sequences of a prediction file (lib/vis/sequences.py) through tools/vis_sequences.py."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from helpers import ENV, REPO, needs_opencv, run_repo_script, run_without
from lib.utils.errors import UserError
from lib.vis.sequences import load_sequences, select


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
