"""BVH skeletons (lib/prep/skeletons.py): the presets' names and their detection, --skeleton,
--joint-map files, the head-top rule, the rigid-bone check per skeleton, mixed skeletons and
frame rates in one tree; on BVH text written here (tests/synth.py) and, when ``../shared`` is
there, on real clips of the CMU-derived and Bandai Namco sets."""
import glob
import os

import numpy as np
import pytest

import synth
from helpers import REPO
from lib.data.camera import get_cameras
from lib.data.skeleton import V3D_NAMES
from lib.prep.bvh import h36m17_positions, load_bvh, parse_bvh, rigid_together
from lib.prep.bvh_convert import convert_bvh_tree, convert_clip, nonrigid_bones
from lib.prep.skeletons import (HEAD_TOP_K, PRESETS, choose_skeleton, detect_skeleton, fit_head_top_k, head_top,
                                load_joint_map)
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz

SHARED = os.path.join(REPO, '..', 'shared', 'data')
CMU = os.path.join(SHARED, 'mocap_bvh')
BANDAI = os.path.join(SHARED, 'mocap_bvh_bandai')
J = {n: j for j, n in enumerate(V3D_NAMES)}


def _bvh(text, path='x.bvh'):
    return parse_bvh(text, path)


def _write(folder, name, text):
    os.makedirs(str(folder), exist_ok=True)
    p = os.path.join(str(folder), name)
    with open(p, 'w') as f:
        f.write(text)
    return p


# --- each preset's names, detected ----------------------------------------------------------

@pytest.mark.parametrize('preset, prefix', [('bandai', ''), ('lafan1', ''), ('mixamo', 'mixamorig:'),
                                            ('mixamo', ''), ('mixamo', 'mixamorig1:'), ('lafan1', 'Model_')])
def test_each_preset_is_detected_from_its_names(preset, prefix):
    bvh = _bvh(synth.humanoid_bvh(preset, prefix=prefix))
    sk = detect_skeleton(bvh.names, 'x.bvh:2')
    assert sk.name == preset
    assert all(n.startswith(prefix) for n in sk.bvh_joints())
    X, _ = h36m17_positions(bvh, mapping=sk)
    assert X.shape == (60, 17, 3) and np.isfinite(X).all()
    assert sk.head_rule == (preset != 'mixamo')


def test_cmu_names_are_detected():
    bvh = _bvh(synth.cmu_bvh(np.zeros(5)))
    sk = detect_skeleton(bvh.names, 'x')
    assert sk.name == 'cmu' and not sk.head_rule and sk.table == PRESETS['cmu'][0]


def test_preset_tables_name_the_documented_joints():
    t = {p: dict(PRESETS[p][0]) for p in PRESETS}
    assert t['bandai']['Hip'] == ('Hips',) and t['bandai']['Spine'] == ('Chest',) and t['bandai']['Head'] == ()
    assert t['bandai']['LShoulder'] == ('UpperArm_L',) and t['bandai']['RAnkle'] == ('Foot_R',)
    assert t['mixamo']['Head'] == ('HeadTop_End',) and t['mixamo']['LHip'] == ('LeftUpLeg',)
    assert t['lafan1']['LElbow'] == ('LeftForeArm',) and t['lafan1']['RKnee'] == ('RightLeg',)
    assert t['lafan1']['Head'] == () and t['lafan1']['Thorax'] == ('Neck',) and t['lafan1']['Neck/Nose'] == ('Head',)
    assert t['cmu']['Head'] == ('leftEye', 'rightEye') and t['cmu']['Spine'] == ('chest',)


def test_mixamo_without_head_top_reads_as_lafan1_naming():
    names = dict(synth.NAMINGS['mixamo'], headtop=None)
    sk = detect_skeleton(_bvh(synth.humanoid_bvh(names, prefix='mixamorig:')).names, 'x')
    assert sk.name == 'lafan1' and sk.head_rule and dict(sk.table)['Hip'] == ('mixamorig:Hips',)


def test_no_preset_fits_names_the_closest_and_what_it_lacks():
    text = synth.humanoid_bvh('bandai', rename={'LowerArm_L': 'Elbow_L', 'Foot_R': 'Ankle_R'})
    with pytest.raises(UserError) as e:
        detect_skeleton(_bvh(text).names, 'walk.bvh:2')
    msg = e.value.line()
    assert 'the closest, bandai, lacks Foot_R, LowerArm_L' in msg and '--joint-map' in msg
    assert '(walk.bvh:2)' in msg and 'Elbow_L' in msg and len(msg.splitlines()) == 1


def test_forced_preset():
    names = _bvh(synth.humanoid_bvh('lafan1')).names
    assert choose_skeleton(names, 'x', skeleton='lafan1').name == 'lafan1'
    with pytest.raises(UserError, match='lacks the joint.s. HeadTop_End of --skeleton mixamo'):
        choose_skeleton(names, 'x', skeleton='mixamo')
    with pytest.raises(UserError, match="unknown --skeleton 'bvh'"):
        choose_skeleton(names, 'x', skeleton='bvh')


# --- the head-top rule --------------------------------------------------------------------------

def test_head_top_rule_for_skeletons_without_a_head_top():
    bvh = _bvh(synth.humanoid_bvh('bandai', six_channels=True, top_root='joint_Root'))
    X, _ = h36m17_positions(bvh)
    P = bvh.positions(['Neck', 'Head'])
    np.testing.assert_allclose(X[:, J['Thorax']], P[:, 0], atol=1e-12)
    np.testing.assert_allclose(X[:, J['Neck/Nose']], P[:, 1], atol=1e-12)
    np.testing.assert_allclose(X[:, J['Head']], P[:, 1] + HEAD_TOP_K * (P[:, 1] - P[:, 0]), atol=1e-12)
    # the same rule for every skeleton without a head top (LAFAN1 here)
    Y, _ = h36m17_positions(_bvh(synth.humanoid_bvh('lafan1')))
    np.testing.assert_allclose(Y[:, J['Head']], head_top(Y[:, J['Neck/Nose']], Y[:, J['Thorax']]), atol=1e-12)


def test_head_top_fit_recovers_the_constant():
    rng = np.random.RandomState(0)
    T, N = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert fit_head_top_k(N, T, head_top(N, T, 0.8)) == pytest.approx(0.8, abs=1e-12)
    target = head_top(N, T, 0.8) + 0.01 * rng.normal(size=(50, 3))
    assert fit_head_top_k(N, T, target) == pytest.approx(0.8, abs=0.01)


# --- joint maps ---------------------------------------------------------------------------------

BANDAI_MAP = """Hip: Hips
RHip: UpperLeg_R
RKnee: LowerLeg_R
RAnkle: Foot_R
LHip: UpperLeg_L
LKnee: LowerLeg_L
LAnkle: Foot_L
Spine: Chest
Thorax: Neck
Neck/Nose: Head
LShoulder: UpperArm_L
LElbow: LowerArm_L
LWrist: Hand_L
RShoulder: UpperArm_R
RElbow: LowerArm_R
RWrist: Hand_R
"""


def _renamed_map(mapping, rename):
    lines = []
    for line in mapping.splitlines():
        k, v = line.split(': ')
        lines.append('%s: %s' % (k, rename.get(v, v)))
    return '\n'.join(lines) + '\n'


def test_joint_map_reproduces_the_preset(tmp_path):
    rename = {n: 'my_%s' % n.lower() for _, n in synth.NAMINGS['bandai'].items() if n}
    orig = _write(tmp_path, 'orig.bvh', synth.humanoid_bvh('bandai', six_channels=True))
    copy = _write(tmp_path, 'copy.bvh', synth.humanoid_bvh('bandai', six_channels=True, rename=rename))
    jm = load_joint_map(_write(tmp_path, 'map.yaml', _renamed_map(BANDAI_MAP, rename)))
    assert jm.head_rule
    cams = get_cameras('S9')
    a, _ = convert_clip(orig, 50, cams, 1)
    b, st = convert_clip(copy, 50, cams, 1, joint_map=jm)
    assert st['skeleton'].startswith('joint map map.yaml')
    np.testing.assert_allclose(b['copy'], a['orig'], atol=1e-6)


def test_joint_map_lists_are_means_and_head_may_be_given(tmp_path):
    text = BANDAI_MAP.replace('Spine: Chest', 'Spine: [Spine, Chest]') + 'Head: Head_End\n'
    jm = load_joint_map(_write(tmp_path, 'map.yaml', text))
    bvh = _bvh(synth.humanoid_bvh('bandai'))
    X, _ = h36m17_positions(bvh, mapping=jm)
    P = bvh.positions(['Spine', 'Chest', 'Head_End'])
    np.testing.assert_allclose(X[:, J['Spine']], P[:, :2].mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(X[:, J['Head']], P[:, 2], atol=1e-12)
    assert not jm.head_rule


@pytest.mark.parametrize('text, needles', [
    (BANDAI_MAP + 'Nose: Head\n', ("unknown key(s) 'Nose'", 'Neck/Nose')),
    (BANDAI_MAP.replace('LElbow:', 'LElbw:'), ("unknown key(s) 'LElbw'", 'did you mean LElbow?')),
    (BANDAI_MAP.replace('Hip: Hips', 'Hip: 3'), ("key 'Hip'", 'got 3')),
    (BANDAI_MAP.replace('Hip: Hips', 'Hip: []'), ("key 'Hip'", 'non-empty list')),
    (BANDAI_MAP.replace('Hip: Hips', 'Hip: {a: b}'), ("key 'Hip'",)),
    (BANDAI_MAP.replace('LWrist: Hand_L\n', '').replace('RHip: UpperLeg_R\n', ''), ('lacks RHip, LWrist', 'it has Hip')),
    ('- Hips\n- Spine\n', ('must be a mapping',)),
    ('', ('must be a mapping',)),
    ('Hip: [Hips\n', ('malformed YAML', 'map.yaml:')),
])
def test_bad_joint_maps_are_one_line_errors(tmp_path, text, needles):
    with pytest.raises(UserError) as e:
        load_joint_map(_write(tmp_path, 'map.yaml', text))
    msg = e.value.line()
    assert len(msg.splitlines()) == 1 and 'map.yaml' in msg
    for n in needles:
        assert n in msg, msg


def test_joint_map_naming_absent_joints(tmp_path):
    jm = load_joint_map(_write(tmp_path, 'map.yaml', BANDAI_MAP.replace('Thorax: Neck', 'Thorax: Collar')))
    with pytest.raises(UserError) as e:
        choose_skeleton(_bvh(synth.humanoid_bvh('bandai')).names, 'walk.bvh:2', joint_map=jm)
    msg = e.value.line()
    assert 'lacks the joint(s) Collar named by the joint map' in msg and 'the file has: Hips, Spine' in msg


# --- rigid bones per skeleton ---------------------------------------------------------------

def test_rigidity_follows_the_hierarchy_and_the_motion():
    bvh = _bvh(synth.humanoid_bvh('bandai', six_channels=True))
    assert rigid_together(bvh, ['Neck', 'Head'])                # parent and child
    assert not rigid_together(bvh, ['Hips', 'Chest'])           # the Spine joint between them turns
    assert rigid_together(bvh, ['Neck', 'UpperArm_L'])          # the collar (Shoulder_L) does not turn here
    sk = detect_skeleton(bvh.names, 'x')
    assert nonrigid_bones(bvh, sk) == (J['Spine'],)
    moving = synth.humanoid_bvh('bandai', swing=dict(synth.SWING, collarL=5, collarR=5))
    assert nonrigid_bones(_bvh(moving), sk) == (J['Spine'], J['LShoulder'], J['RShoulder'])
    still = synth.humanoid_bvh('bandai', swing={})                # nothing moves but the root
    assert nonrigid_bones(_bvh(still), sk) == ()


# --- one tree, several skeletons and frame rates ------------------------------------------------

def test_mixed_tree_converts_each_file_with_its_own_skeleton(tmp_path):
    src = tmp_path / 'src'
    _write(src / 'cmu', 'a.bvh', synth.cmu_bvh(np.zeros(150), frame_time=1 / 120.0))
    _write(src / 'bandai', 'b.bvh', synth.humanoid_bvh('bandai', frames=90, six_channels=True, top_root='joint_Root'))
    _write(src / 'mixed', 'c.bvh', synth.humanoid_bvh('mixamo', prefix='mixamorig:', frames=90))
    _write(src / 'mixed', 'd.bvh', synth.humanoid_bvh('lafan1', frames=90))
    lines = []
    convert_bvh_tree(str(src), str(tmp_path / 'out'), 'mix', fps=50, test_subjects=['mixed'], min_seconds=1,
                     say=lines.append)
    text = '\n'.join(lines)
    assert 'skeletons: bandai (head top by the rule): 1 clip(s); cmu: 1 clip(s); mixamo: 1 clip(s); ' \
           'lafan1 (head top by the rule): 1 clip(s)' in text
    assert 'note: 3 clip(s) were recorded at a lower rate than --fps 50' in text
    assert 'bandai/b.bvh [bandai (head top by the rule)]: 90 frames @ 30.0 Hz -> 149 @ 50 fps' in text
    assert 'cmu/a.bvh [cmu]: 150 frames @ 120.0 Hz -> 63 @ 50 fps' in text
    check = [ln for ln in lines if ln.startswith('check:')][0]
    assert 'Hip->Spine in 3' in check              # the CMU abdomen and the Spine joints of the others
    pos = load_npz(str(tmp_path / 'out' / 'data_3d_mix.npz'))['positions_3d']
    assert sorted(pos['mixed']) == ['c', 'd'] and pos['bandai']['b'].shape == (149, 17, 3)


# --- real clips -----------------------------------------------------------------------------------

def _need(folder):
    if not os.path.isdir(folder):
        pytest.skip('real BVH clips not available: %s is absent (needs <repo>/../shared)' % folder)


def _first(folder, sub):
    return sorted(glob.glob(os.path.join(folder, sub, '*.bvh')))[0]


def test_real_bandai_clip(tmp_path):
    _need(BANDAI)
    path = _first(BANDAI, 'bow')
    bvh = load_bvh(path)
    sk = detect_skeleton(bvh.names, path)
    assert sk.name == 'bandai' and sk.head_rule
    actions, st = convert_clip(path, 50, get_cameras('S9'), 1)
    X = next(iter(actions.values()))
    assert st['src_fps'] == 30 and st['frames'] == int((bvh.num_frames - 1) / 30 * 50) + 1
    assert 1.3 < np.median(X[:, J['Head'], 2]) < 1.9              # head top, metres above the floor
    assert st['nonrigid'] == (J['Spine'], J['LShoulder'], J['RShoulder'])   # Spine and collars turn


def test_real_bandai_clip_renamed_with_a_joint_map(tmp_path):
    """Acceptance: a copy of a Bandai clip with its joints renamed converts with --joint-map to
    the same 3D as the original, to 1e-6 m."""
    _need(BANDAI)
    path = _first(BANDAI, 'kick')
    text = open(path).read()
    names = load_bvh(path).names
    rename = {n: 'Rig_%s_%d' % (n.lower(), k) for k, n in enumerate(names) if not n.endswith('_End')}
    for old, new in rename.items():
        text = text.replace('JOINT %s\n' % old, 'JOINT %s\n' % new).replace('ROOT %s\n' % old, 'ROOT %s\n' % new)
    copy = _write(tmp_path, 'renamed.bvh', text)
    assert not set(load_bvh(copy).names) & set(rename)
    jm = load_joint_map(_write(tmp_path, 'rig.yaml', _renamed_map(BANDAI_MAP, rename)))
    cams = get_cameras('S9')
    a, _ = convert_clip(path, 50, cams, 1)
    b, _ = convert_clip(copy, 50, cams, 1, joint_map=jm)
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(next(iter(b.values())), next(iter(a.values())), atol=1e-6, rtol=0)


def test_real_cmu_clip_is_detected_as_cmu():
    _need(CMU)
    bvh = load_bvh(_first(CMU, 'salsa'))
    sk = detect_skeleton(bvh.names, bvh.path)
    assert sk.name == 'cmu' and not sk.head_rule
    assert nonrigid_bones(bvh, sk) == (J['Spine'],)
