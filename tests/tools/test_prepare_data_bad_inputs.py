"""The bad-input catalogue of tools/prepare_data.py (the contract is in bad_input_catalogue.py)."""
import os

import numpy as np
import pytest

import synth
from helpers import REPO, v3d_pose
from .bad_input_catalogue import check_case, entry


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


#: a joint map of the CMU names of synth.cmu_bvh (Head left out: the head-top rule)
CMU_MAP = """Hip: hip
RHip: rThigh
RKnee: rShin
RAnkle: rFoot
LHip: lThigh
LKnee: lShin
LAnkle: lFoot
Spine: chest
Thorax: neck
Neck/Nose: head
LShoulder: lShldr
LElbow: lForeArm
LWrist: lHand
RShoulder: rShldr
RElbow: rForeArm
RWrist: rHand
"""


def joint_map(text):
    """``--joint-map <tmp>/map.yaml`` holding ``text``."""
    def make(tmp):
        (tmp / 'map.yaml').write_text(text)
        return tmp / 'map.yaml'
    return ['--joint-map', make]


def _layout_over_files(tmp, ctx):
    (tmp / 'o').mkdir()
    (tmp / 'o' / 'mpi_train_pred3.h5').write_bytes(b'earlier')
    return layout_args()(tmp, ctx)



CATALOGUE = {
    # tools/prepare_data.py ---------------------------------------------------------------
    'prepare/layout_distance_negative': entry('tools/prepare_data.py', layout_args('--distance', '-5'), '--distance'),
    'prepare/layout_distance_zero': entry('tools/prepare_data.py', layout_args('--distance', '0'), '--distance'),
    'prepare/layout_distance_nan': entry('tools/prepare_data.py', layout_args('--distance', 'nan'), '--distance'),
    'prepare/layout_distance_huge': entry('tools/prepare_data.py', layout_args('--distance', '1e300'), '--distance'),
    'prepare/layout_missing_src': entry('tools/prepare_data.py', layout_args(src=lambda t: t / 'none.npz'),
                                        'not found'),
    'prepare/layout_5_joints': entry('tools/prepare_data.py', layout_args(src=archive_3d(lambda X: X[:, :5])),
                                     'shape', 'S1/walk', quiet=False),
    'prepare/layout_0_frames': entry('tools/prepare_data.py', layout_args(src=archive_3d(lambda X: X[:0])),
                                     'shape', quiet=False),
    'prepare/layout_nan_clip': entry('tools/prepare_data.py', layout_args(src=archive_3d(
        lambda X: np.where(np.arange(len(X))[:, None, None] == 3, np.nan, X))), 'NaN', quiet=False),
    'prepare/layout_over_files': entry('tools/prepare_data.py', _layout_over_files, 'mpi_train_pred3.h5', '--force'),
    'prepare/layout_out_is_src': entry('tools/prepare_data.py', lambda t, c: ['layout', '--src', QS_3D, '--dataset',
                                                                              'mpi', '--out', os.path.dirname(QS_3D)],
                                       'holds the input'),
    'prepare/bvh_frames_0': entry('tools/prepare_data.py', bvh_args(bvh_tree(_edit_header('Frames: 150', 'Frames: 0'))),
                                  'Frames: 0', 'walk.bvh', quiet=False),
    'prepare/bvh_frame_time_1000': entry('tools/prepare_data.py', bvh_args(bvh_tree(
        _edit_header('Frame Time: 0.02', 'Frame Time: 1000'))), 'Frame Time', 'walk.bvh', quiet=False),
    'prepare/bvh_frame_time_tiny': entry('tools/prepare_data.py', bvh_args(bvh_tree(
        _edit_header('Frame Time: 0.02', 'Frame Time: 0.0000001'))), 'Frame Time', quiet=False),
    'prepare/bvh_over_archives': entry('tools/prepare_data.py', _bvh_over_archives, 'data_3d_x.npz', '--force'),
    'prepare/bvh_out_is_src': entry('tools/prepare_data.py', lambda t, c: bvh_args(bvh_tree(_good_bvh))(t, c)[:4] +
                                    [t / 'src', '--name', 'x', '--test-subjects', 'b'], 'input folder'),
    'prepare/bvh_fps_zero': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--fps', '0'), '--fps'),
    'prepare/bvh_missing_src': entry('tools/prepare_data.py', bvh_args(lambda t: t / 'none'), 'not found'),
    'prepare/bvh_out_under_file': entry('tools/prepare_data.py', lambda t, c: bvh_args(bvh_tree(_good_bvh))(t, c)[:4]
                                        + [t / 'src' / 'a' / 'walk.bvh' / 'o', '--name', 'x', '--test-subjects', 'b'],
                                        'not writable'),
    'prepare/bvh_joint_map_unknown_key': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        CMU_MAP + 'Nose: head\n')), "unknown key(s) 'Nose'", 'map.yaml', 'Neck/Nose'),
    'prepare/bvh_joint_map_wrong_type': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        CMU_MAP.replace('Hip: hip', 'Hip: 3'))), "joint map key 'Hip'", 'got 3'),
    'prepare/bvh_joint_map_missing_keys': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        CMU_MAP.replace('RWrist: rHand\n', '').replace('Spine: chest\n', ''))), 'lacks Spine, RWrist', 'map.yaml'),
    'prepare/bvh_joint_map_malformed': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        'Hip: [hip\n')), 'malformed YAML', 'map.yaml:'),
    'prepare/bvh_joint_map_not_a_mapping': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        '- hip\n- chest\n')), 'must be a mapping', 'map.yaml'),
    'prepare/bvh_joint_map_not_found': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--joint-map',
                                                                                lambda t: t / 'none.yaml'),
                                             'joint map file not found', 'none.yaml'),
    'prepare/bvh_joint_map_absent_joint': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), *joint_map(
        CMU_MAP.replace('Thorax: neck', 'Thorax: [neck, collar]'))), 'lacks the joint(s) collar named by the joint '
        'map', 'walk.bvh', 'the file has: hip', quiet=False),
    'prepare/bvh_skeleton_unknown': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--skeleton', 'bvh'),
                                          "unknown --skeleton 'bvh'", 'cmu, bandai, mixamo, lafan1'),
    'prepare/bvh_skeleton_mismatch': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--skeleton',
                                                                             'bandai'),
                                           'lacks the joint(s) Hips', '--skeleton bandai', 'walk.bvh', quiet=False),
    'prepare/bvh_skeleton_and_joint_map': entry('tools/prepare_data.py', bvh_args(bvh_tree(_good_bvh), '--skeleton',
                                                                                  'cmu', *joint_map(CMU_MAP)),
                                                'both given'),
    'prepare/bvh_no_preset_fits': entry('tools/prepare_data.py', bvh_args(bvh_tree(
        lambda: _good_bvh().replace('JOINT rShin', 'JOINT rKnee').replace('JOINT lHand', 'JOINT lWrist'))),
        'fits no preset', 'the closest, cmu, lacks rShin, lHand', '--joint-map', 'rKnee', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
