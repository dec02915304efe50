"""The bad-input catalogue of tools/vis_sequences.py (the contract is in bad_input_catalogue.py)."""
import h5py
import numpy as np
import pytest

from helpers import v3d_pose
from .bad_input_catalogue import check_case, disk_full, entry


def predictions_npz(path, n=12, **edit):
    """A predictions.npz as tools/main.py --eval writes it, with ``edit`` replacing members."""
    rng = np.random.RandomState(0)
    gt = np.repeat(v3d_pose()[None, :, [0, 1, 0]] * [1, 1, 0] + [0, 0, 4000], n, 0) * 1.0
    arrays = {'pred': gt / 1000.0 + rng.normal(0, 0.01, gt.shape), 'gt': gt, 'subject': np.array(['S9'] * n),
              'action': np.array(['Walk'] * n), 'camera': np.zeros(n, np.int64), 'frame': np.arange(n)}
    arrays.update(edit)
    np.savez(str(path), **arrays)
    return path



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



CATALOGUE = {
    # tools/vis_sequences.py --------------------------------------------------------------
    'vis/pred_gt_lengths_differ': entry('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.zeros((n - 2, 17, 3)))), 'differ in length', quiet=False),
    'vis/pred_strings': entry('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.full((n, 17, 3), 'x'))), 'pred', 'not numbers', quiet=False),
    'vis/zero_rows': entry('tools/vis_sequences.py', vis_args(pred_file(
        pred=np.zeros((0, 17, 3)), gt=np.zeros((0, 17, 3)), subject=np.array([], str), action=np.array([], str),
        camera=np.zeros(0), frame=np.zeros(0))), 'no frames', quiet=False),
    'vis/subject_shorter': entry('tools/vis_sequences.py', vis_args(pred_file(subject=np.array(['S9'] * 5))),
                                 'differ in length', 'subject 5', quiet=False),
    'vis/pred_x1e300': entry('tools/vis_sequences.py', vis_args(pred_file(
        pred=lambda n: np.ones((n, 17, 3)) * 1e300)), 'pred', quiet=False),
    'vis/fps_tiny': entry('tools/vis_sequences.py', vis_args(pred_file(), '--fps', '0.001'), '--fps'),
    'vis/fps_zero': entry('tools/vis_sequences.py', vis_args(pred_file(), '--fps', '0'), '--fps'),
    'vis/max_frames_zero': entry('tools/vis_sequences.py', vis_args(pred_file(), '--max-frames', '0'),
                                 '--max-frames'),
    'vis/h5_group_for_pred': entry('tools/vis_sequences.py', vis_args(_pred_h5_group), 'joint_3d_pre', 'group',
                                   quiet=False),
    'vis/over_animation': entry('tools/vis_sequences.py', _vis_over_gif, 'S9_Walk_0.gif', '--force', quiet=False),
    'vis/missing_pred': entry('tools/vis_sequences.py', vis_args(lambda t: t / 'none.npz'), 'not found'),
    'vis/out_is_file': entry('tools/vis_sequences.py', lambda t, c: ['--pred', pred_file()(t), '--out',
                                                                     pred_file()(t)], 'is a file', quiet=False),
    'vis/disk_full': entry('tools/vis_sequences.py', disk_full(vis_args(pred_file(camera=lambda n: np.arange(n) // 6),
                                                                   '--num-seqs', '2'), 1),
                           'no space left', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
