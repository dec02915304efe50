"""BVH motion capture: lib/prep/bvh.py (parser, forward kinematics, resampling, malformed
files) and the BVH -> Human3.6M-layout conversion (lib/prep/bvh_convert.py, checked by
lib/prep/archive_check.py; run by tools/prepare_data.py), on hand-written files and (when
``../shared`` is there) on real CMU clips; the bundled quick-start dataset."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import synth
from helpers import REPO
from lib.data.camera import CAMERA_IDS, get_cameras, project_views
from lib.prep.archive_check import check_converted
from lib.prep.bvh import h36m17_positions, load_bvh
from lib.prep.skeletons import CMU_TO_H36M17
from lib.prep.bvh_convert import convert_clip, runs
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz


TOOL = os.path.join(REPO, 'tools', 'prepare_data.py')
MOCAP = os.path.join(REPO, '..', 'shared', 'data', 'mocap_bvh')
QUICKSTART = os.path.join(REPO, 'datasets', 'quickstart')


# --- a hand-written BVH with shuffled channel orders ----------------------------

HAND_BVH = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Yposition Zrotation Xposition Xrotation Zposition Yrotation
  JOINT a
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT b
    {
      OFFSET 0 5 0
      CHANNELS 3 Yrotation Zrotation Xrotation
      End Site
      {
        OFFSET 0 0 2
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.1
0 0 0 0 0 0 0 0 0 0 0 0
2 90 1 0 3 0 90 90 0 0 0 0
-4 30 0.5 -20 7 45 10 -35 60 25 -15 80
"""


# line numbers (1-based) in HAND_BVH
HAND_LINE_ROOT = 2
HAND_LINE_CHANNELS_A = 9
HAND_LINE_FRAMES = 22
HAND_LINE_ROWS = (24, 25, 26)


def _write(tmp_path, text, name='clip.bvh'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _expected_row2():
    """Independent FK of row 3 with scipy (uppercase = intrinsic: 'ZXY' -> Rz @ Rx @ Ry)."""
    G_root = Rotation.from_euler('ZXY', [30, -20, 45], degrees=True).as_matrix()
    root = np.array([0.5, -4, 7])
    a = root + G_root @ [0, 10, 0]
    G_a = G_root @ Rotation.from_euler('ZXY', [10, -35, 60], degrees=True).as_matrix()
    b = a + G_a @ [0, 5, 0]
    G_b = G_a @ Rotation.from_euler('YZX', [25, -15, 80], degrees=True).as_matrix()
    end = b + G_b @ [0, 0, 2]
    return np.stack([root, a, b, end])


def test_parse_hand_bvh(tmp_path):
    bvh = load_bvh(_write(tmp_path, HAND_BVH))
    assert bvh.names == ['root', 'a', 'b', 'b_End']
    assert bvh.parents.tolist() == [-1, 0, 1, 2]
    assert bvh.channels[0] == ('Yposition', 'Zrotation', 'Xposition', 'Xrotation', 'Zposition', 'Yrotation')
    assert bvh.channels[3] == ()
    assert bvh.num_frames == 3 and bvh.num_channels == 12
    assert bvh.fps == pytest.approx(10.0)
    assert bvh.lines == [2, 6, 10, 14]
    assert bvh.motion_lines.tolist() == list(HAND_LINE_ROWS)


def test_forward_kinematics_hand_values(tmp_path):
    P = load_bvh(_write(tmp_path, HAND_BVH)).positions()
    assert P.shape == (3, 4, 3)
    # rest pose
    np.testing.assert_allclose(P[0], [[0, 0, 0], [0, 10, 0], [0, 15, 0], [0, 15, 2]], atol=1e-12)
    # root at (1, 2, 3) turned Rz(90); joint a: Rz(90) @ Rx(90) (listed order), so
    # a = root + Rz90 (0,10,0) = (-9, 2, 3); b = a + Rz180 Rx90 (0,5,0) = a + (0,0,5);
    # end = b + Rz180 Rx90 (0,0,2) = b + (0,2,0).  (The reverse order would put b at (-9,-3,3).)
    np.testing.assert_allclose(P[1], [[1, 2, 3], [-9, 2, 3], [-9, 2, 8], [-9, 4, 8]], atol=1e-12)
    # arbitrary angles, checked against scipy's intrinsic Euler rotations
    np.testing.assert_allclose(P[2], _expected_row2(), atol=1e-12)


def test_positions_subset_and_bone_lengths(tmp_path):
    bvh = load_bvh(_write(tmp_path, HAND_BVH))
    np.testing.assert_allclose(bvh.positions(['b_End', 'a']), bvh.positions()[:, [3, 1]], atol=1e-12)
    P = bvh.positions()
    L = np.linalg.norm(P[:, 1:] - P[:, bvh.parents[1:]], axis=-1)
    np.testing.assert_allclose(L, np.broadcast_to([10, 5, 2], L.shape), atol=1e-12)


def test_resample_slerp(tmp_path):
    # two frames 0.1 s apart: the root moves 4 along x, joint a turns 90 degrees about z
    text = HAND_BVH.split('Frames:')[0] + 'Frames: 2\nFrame Time: 0.1\n' + \
        '0 0 0 0 0 0 0 0 0 0 0 0\n0 0 4 0 0 0 90 0 0 0 0 0\n'
    bvh = load_bvh(_write(tmp_path, text))
    P = bvh.positions(fps=20)                 # 10 -> 20 fps: 3 frames, the middle one interpolated
    assert P.shape == (3, 4, 3)
    np.testing.assert_allclose(P[[0, 2]], bvh.positions(), atol=1e-9)
    # halfway: root at x = 2, joint a turned by 45 degrees about z
    c = np.cos(np.pi / 4)
    np.testing.assert_allclose(P[1, 0], [2, 0, 0], atol=1e-9)
    np.testing.assert_allclose(P[1, 2], [2 - 5 * c, 10 + 5 * c, 0], atol=1e-9)
    L = np.linalg.norm(P[:, 1:] - P[:, :-1], axis=-1)
    np.testing.assert_allclose(L, np.broadcast_to([10, 5, 2], L.shape), atol=1e-9)


# --- malformed files ------------------------------------------------------------

def _error(tmp_path, text, name='bad.bvh'):
    path = _write(tmp_path, text, name)
    with pytest.raises(UserError) as e:
        load_bvh(path)
    return path, str(e.value)


def test_truncated_motion(tmp_path):
    text = HAND_BVH.rsplit('\n', 2)[0] + '\n'                     # drop the last row
    path, msg = _error(tmp_path, text)
    assert msg.startswith('error:') and 'truncated' in msg
    assert '%s:%d' % (path, HAND_LINE_ROWS[1]) in msg             # the last line of the file
    assert 'line %d' % HAND_LINE_FRAMES in msg


def test_short_last_row(tmp_path):
    text = HAND_BVH.rsplit(' ', 3)[0] + '\n'                      # last row loses 3 values
    path, msg = _error(tmp_path, text)
    assert 'has 9 values' in msg and '12 channels' in msg and 'truncated' in msg
    assert '%s:%d' % (path, HAND_LINE_ROWS[2]) in msg


def test_wrong_channel_count_in_hierarchy(tmp_path):
    text = HAND_BVH.replace('CHANNELS 3 Zrotation Xrotation Yrotation', 'CHANNELS 3 Zrotation Xrotation')
    path, msg = _error(tmp_path, text)
    assert 'declares 3 channels but lists 2' in msg
    assert '%s:%d' % (path, HAND_LINE_CHANNELS_A) in msg


def test_row_does_not_match_channels(tmp_path):
    text = HAND_BVH.replace('2 90 1 0 3 0 90 90 0 0 0 0', '2 90 1 0 3 0 90 90 0 0 0 0 7')
    path, msg = _error(tmp_path, text)
    assert 'has 13 values' in msg and '12 channels' in msg
    assert '%s:%d' % (path, HAND_LINE_ROWS[1]) in msg


def test_non_number(tmp_path):
    text = HAND_BVH.replace('-4 30 0.5', '-4 thirty 0.5')
    path, msg = _error(tmp_path, text)
    assert "'thirty'" in msg and '%s:%d' % (path, HAND_LINE_ROWS[2]) in msg
    path, msg = _error(tmp_path, HAND_BVH.replace('OFFSET 0 5 0', 'OFFSET 0 five 0'), 'bad2.bvh')
    assert "'five'" in msg and '%s:12' % path in msg


def test_missing_mapped_joint(tmp_path):
    bvh = load_bvh(_write(tmp_path, HAND_BVH, 'hand.bvh'))
    with pytest.raises(UserError) as e:
        h36m17_positions(bvh, mapping=CMU_TO_H36M17)
    msg = str(e.value)
    assert "'hip'" in msg and '%s:%d' % (bvh.path, HAND_LINE_ROOT) in msg and '--joint-map' in msg
    with pytest.raises(UserError) as e:                 # no table: no preset fits
        h36m17_positions(bvh)
    msg = str(e.value)
    assert 'fits no preset' in msg and '--joint-map' in msg and '%s:%d' % (bvh.path, HAND_LINE_ROOT) in msg


# --- the converter, on the minimal CMU-named skeleton of synth.cmu_bvh ------------

def test_convert_clip_splits_out_of_view(tmp_path):
    # 100 frames in view, 10 frames 5 m away (out of view), 100 frames in view
    x = np.r_[np.zeros(100), np.full(10, 500.0), np.zeros(100)]
    path = _write(tmp_path, synth.cmu_bvh(x), 'walk.bvh')
    cams = get_cameras('S9')
    actions, st = convert_clip(path, 50, cams, min_frames=50)
    assert sorted(actions) == ['walk_part1', 'walk_part2']
    assert [len(actions[k]) for k in sorted(actions)] == [100, 100]
    assert st['out_of_view'] == 10 and st['kept'] == 200 and st['short'] == 0
    X = actions['walk_part1']
    assert X.dtype == np.float32 and X.shape == (100, 17, 3)
    # metres, Z up: head top (eyes) above the hip, the lowest foot point on the floor
    assert X[0, 10, 2] > X[0, 0, 2] > 0.5
    assert abs(X[0, 3, 2] - 0.03) < 1e-4                    # ankle 3 cm above the toe end site at z = 0
    # the subject's left (+X in the BVH) stays its left: LHip - RHip points along +x
    assert X[0, 4, 0] - X[0, 1, 0] == pytest.approx(0.18, abs=1e-5)
    # whole clip in view -> the action is named after the file; too short -> dropped
    actions, st = convert_clip(path, 50, cams, min_frames=101)
    assert actions == {} and st['short'] == 200
    path = _write(tmp_path, synth.cmu_bvh(np.zeros(60)), 'still.bvh')
    actions, _ = convert_clip(path, 50, cams, min_frames=50)
    assert list(actions) == ['still']


def test_convert_clip_missing_joint(tmp_path):
    path = _write(tmp_path, synth.cmu_bvh(np.zeros(5), drop=('lHand',)), 'nohand.bvh')
    with pytest.raises(UserError) as e:
        convert_clip(path, 50, get_cameras('S9'), min_frames=1)
    msg = str(e.value)
    assert 'the closest, cmu, lacks lHand' in msg and '%s:2' % path in msg and '--joint-map' in msg


def test_runs():
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == [(0, 2), (3, 4), (6, 9)]
    assert runs(np.zeros(3, bool)) == []
    assert runs(np.ones(3, bool)) == [(0, 3)]


def test_mapping_table_uses_chest_for_spine():
    table = dict(CMU_TO_H36M17)
    assert table['Spine'] == ('chest',) and table['Head'] == ('leftEye', 'rightEye')


# --- the command line on real clips ----------------------------------------------

def _need_mocap():
    if not os.path.isdir(MOCAP):
        pytest.skip('real BVH clips not available: %s is absent (needs <repo>/../shared)' % MOCAP)


def _truncated_copy(src, dst, n_frames):
    """Write the first n_frames of a BVH file."""
    with open(src) as f:
        lines = f.read().splitlines()
    m = next(i for i, ln in enumerate(lines) if ln.strip() == 'MOTION')
    with open(dst, 'w') as f:
        f.write('\n'.join(lines[:m + 1] + ['Frames: %d' % n_frames, lines[m + 2]] +
                          lines[m + 3:m + 3 + n_frames]) + '\n')


def _run_tool(*args):
    return subprocess.run([sys.executable, TOOL, 'bvh'] + list(args), capture_output=True, text=True,
                          cwd=REPO, timeout=120)


@pytest.fixture
def tiny_tree(tmp_path):
    _need_mocap()
    src = tmp_path / 'src'
    for subject, clip in (('dancer', 'salsa/01.bvh'), ('fighter', 'martial/04.bvh')):
        (src / subject).mkdir(parents=True)
        _truncated_copy(os.path.join(MOCAP, clip), str(src / subject / os.path.basename(clip)), 360)
    return src


def test_cli_converts_real_clips(tiny_tree, tmp_path):
    out = tmp_path / 'out'
    r = _run_tool('--src', str(tiny_tree), '--out', str(out), '--name', 'tiny', '--test-subjects', 'fighter')
    assert r.returncode == 0, r.stderr
    assert 'dropped 0 of' in r.stdout and 'check:' in r.stdout
    a3 = load_npz(str(out / 'data_3d_tiny.npz'))
    a2 = load_npz(str(out / 'data_2d_tiny_gt.npz'))
    pos3, pos2 = a3['positions_3d'], a2['positions_2d']
    assert sorted(pos3) == ['dancer', 'fighter'] and list(pos3['dancer']) == ['01']
    assert pos3['dancer']['01'].shape == (150, 17, 3) and pos3['dancer']['01'].dtype == np.float32
    assert len(pos2['fighter']['04']) == 4 and pos2['fighter']['04'][3].shape == (150, 17, 2)
    meta = a3['metadata']
    assert meta['train_subjects'] == ['dancer'] and meta['test_subjects'] == ['fighter']
    assert meta['camera_subject'] == {'dancer': 'S9', 'fighter': 'S9'} and meta['fps'] == 50
    assert meta['joint_order'] == 'h36m17_v3d' and meta['source'] == 'BVH from src'
    assert a2['metadata']['keypoints_symmetry'] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert a2['metadata']['layout_name'] == 'h36m' and a2['metadata']['num_joints'] == 17
    summary = check_converted(pos3, pos2, get_cameras('S9'))
    assert summary['clips'] == 2 and summary['max_bone_dev_m'] < 1e-3 and summary['min_margin_px'] >= 0
    X = pos3['dancer']['01']
    assert 1.2 < np.median(X[:, 10, 2]) < 1.8 and np.percentile(X[:, [3, 6], 2], 5) < 0.12


def test_cli_errors_write_nothing(tiny_tree, tmp_path):
    out = tmp_path / 'out'
    r = _run_tool('--src', str(tiny_tree), '--out', str(out), '--name', 'tiny', '--test-subjects', 'nobody')
    assert r.returncode == 2
    assert r.stderr.startswith('error:') and len(r.stderr.strip().splitlines()) == 1
    assert 'nobody' in r.stderr
    # a malformed clip found half-way through the conversion: no output at all
    bad = tiny_tree / 'fighter' / '04.bvh'
    bad.write_text(bad.read_text().rsplit('\n', 40)[0] + '\n')
    r = _run_tool('--src', str(tiny_tree), '--out', str(out), '--name', 'tiny', '--test-subjects', 'fighter')
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error:') and '04.bvh:' in lines[0]
    assert not out.exists() or os.listdir(out) == []
    r = _run_tool('--src', str(tiny_tree), '--out', str(out))       # argparse errors are one line too
    assert r.returncode == 2 and r.stderr.startswith('error:') and len(r.stderr.strip().splitlines()) == 1


def test_check_converted_catches_problems():
    cams = get_cameras('S9')
    X = np.zeros((3, 17, 3), np.float32)
    X[:, :, 1] = 0.4
    X[:, :, 2] = np.linspace(0.1, 1.6, 17)
    X[:, :, 0] = np.linspace(-0.3, 0.3, 17)
    pos3 = {'s': {'a': X}}
    pos2 = {'s': {'a': project_views(X, cams)}}
    assert check_converted(pos3, pos2, cams)['max_bone_dev_m'] == 0
    Y = X.copy()
    Y[1, 3, 2] += 0.01                                      # RAnkle moves: RKnee->RAnkle changes
    with pytest.raises(UserError, match='RKnee->RAnkle'):
        check_converted({'s': {'a': Y}}, {'s': {'a': project_views(Y, cams)}}, cams)
    bad2 = [v.copy() for v in pos2['s']['a']]
    bad2[2][0, 5, 0] = -3.0
    with pytest.raises(UserError, match='outside'):
        check_converted(pos3, {'s': {'a': bad2}}, cams)


# --- the bundled quick-start dataset -----------------------------------------------

def test_bundled_quickstart():
    p3 = os.path.join(QUICKSTART, 'data_3d_quickstart.npz')
    p2 = os.path.join(QUICKSTART, 'data_2d_quickstart_gt.npz')
    assert os.path.getsize(p3) + os.path.getsize(p2) < 5e6
    a3, a2 = load_npz(p3), load_npz(p2)
    meta = a3['metadata']
    assert len(meta['train_subjects']) >= 2 and len(meta['test_subjects']) >= 1
    assert not set(meta['train_subjects']) & set(meta['test_subjects'])
    assert sorted(meta['train_subjects'] + meta['test_subjects']) == sorted(a3['positions_3d'])
    cams = {s: get_cameras(c) for s, c in meta['camera_subject'].items()}
    summary = check_converted(a3['positions_3d'], a2['positions_2d'], cams)
    assert summary['max_bone_dev_m'] < 1e-3 and summary['min_margin_px'] >= 0
    assert all(len(v) == len(CAMERA_IDS) for acts in a2['positions_2d'].values() for v in acts.values())


def test_bvh_cut_in_half_is_a_user_error(tmp_path):
    raw = synth.cmu_bvh(np.zeros(200)).encode()
    (tmp_path / 'cut.bvh').write_bytes(raw[:len(raw) // 2])          # cut in the middle of a motion row
    with pytest.raises(UserError) as e:
        load_bvh(str(tmp_path / 'cut.bvh'))
    assert e.value.line().startswith('error:') and 'cut.bvh' in e.value.line()


def test_bvh_joint_and_end_site_children_parse_by_one_branch():
    from lib.prep.bvh import parse_bvh
    text = ('HIERARCHY\nROOT r\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n  JOINT c\n  {\n'
            '    OFFSET 0 1 0\n    End Site\n    {\n      OFFSET 0 1 0\n    }\n  }\n}\n'
            'MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n')
    bvh = parse_bvh(text)
    assert bvh.names == ['r', 'c', 'c_End'] and list(bvh.parents) == [-1, 0, 1]


@pytest.mark.parametrize('child', ['JOINT c', 'End Site'])
def test_bvh_end_site_with_a_child_is_refused_either_way(child):
    from lib.prep.bvh import parse_bvh
    text = ('HIERARCHY\nROOT r\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n'
            '  End Site\n  {\n    OFFSET 0 1 0\n    %s\n    {\n      OFFSET 0 1 0\n    }\n  }\n}\n'
            'MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n' % child)
    with pytest.raises(UserError) as e:
        parse_bvh(text, 'x.bvh')
    assert str(e.value).startswith('error: BVH: an End Site has no child joints (x.bvh:9)')
