"""Tiny synthetic Human3.6M-like data in both on-disk formats, for tests.

A standing skeleton (17 joints, v3d order, metres, z up) whose limbs swing
and which turns and walks; projected through the real H36M cameras.  Also a
minimal BVH file with the CMU joint names (:func:`cmu_bvh`).
"""
import os

import h5py
import numpy as np

from lib.data.camera import get_cameras, project_to_2d, world_to_camera

# v3d order: Hip RHip RKnee RAnkle LHip LKnee LAnkle Spine Thorax Neck Head LSh LElb LWri RSh RElb RWri
TEMPLATE = np.array([
    [0, 0, 0.92], [-0.13, 0, 0.92], [-0.13, 0.02, 0.48], [-0.13, 0, 0.06],
    [0.13, 0, 0.92], [0.13, 0.02, 0.48], [0.13, 0, 0.06], [0, 0, 1.15],
    [0, 0, 1.40], [0, -0.03, 1.52], [0, 0, 1.66], [0.18, 0, 1.38], [0.20, 0, 1.10],
    [0.21, 0, 0.85], [-0.18, 0, 1.38], [-0.20, 0, 1.10], [-0.21, 0, 0.85]])


def motion(n, seed, size=1.0):
    rng = np.random.RandomState(seed)
    t = np.arange(n) / 50.0
    X = np.repeat(TEMPLATE[None] * size, n, 0).copy()
    ph = rng.uniform(0, 6.28)
    for leg, sgn in (((2, 3), 1), ((5, 6), -1)):
        X[:, leg, 1] += sgn * 0.25 * np.sin(2 * np.pi * 0.8 * t + ph)[:, None] * np.array([0.6, 1.0])
    for arm, sgn in (((12, 13), -1), ((15, 16), 1)):
        X[:, arm, 1] += sgn * 0.3 * np.sin(2 * np.pi * 0.8 * t + ph)[:, None] * np.array([0.6, 1.0])
        X[:, arm, 2] += 0.1 * np.cos(2 * np.pi * 0.5 * t)[:, None]
    yaw = rng.uniform(-3, 3) + 0.6 * t
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.stack([np.stack([c, -s, 0 * c], -1), np.stack([s, c, 0 * c], -1),
                  np.stack([0 * c, 0 * c, 1 + 0 * c], -1)], 1)
    X = np.einsum('nij,nkj->nki', R, X)
    X[:, :, 0] += 0.4 * np.sin(0.3 * t)[:, None]
    X[:, :, 1] += 0.4 + 0.3 * np.cos(0.2 * t)[:, None]
    return X


SUBJECTS = {'S1': 0.95, 'S5': 1.05, 'S9': 1.0, 'S11': 0.9}


def make_world(frames=120, actions=('Walking 1', 'Posing')):
    out = {}
    for i, (s, size) in enumerate(SUBJECTS.items()):
        out[s] = {a: motion(frames + 7 * j, seed=10 * i + j, size=size) for j, a in enumerate(actions)}
    return out


def write_npz(folder, name='synth', frames=120, nan_frames=0):
    os.makedirs(folder, exist_ok=True)
    world = make_world(frames)
    pos2d = {}
    for s, acts in world.items():
        cams = get_cameras(s)
        pos2d[s] = {}
        for a, X in acts.items():
            views = []
            for cam in cams:
                p = project_to_2d(world_to_camera(X, cam['R'], cam['T']), cam).astype(np.float32)
                views.append(p)
            pos2d[s][a] = views
    if nan_frames:
        pos2d['S1']['Posing'][0][3:3 + nan_frames, 5] = np.nan
    np.savez_compressed(os.path.join(folder, 'data_3d_%s.npz' % name), positions_3d=world,
                        metadata={'train_subjects': ['S1', 'S5'], 'test_subjects': ['S9', 'S11']})
    np.savez_compressed(os.path.join(folder, 'data_2d_%s_gt.npz' % name), positions_2d=pos2d)
    return world, pos2d


def write_h5(folder, name='synth', frames=120, dtype=np.float32):
    os.makedirs(folder, exist_ok=True)
    world = make_world(frames)
    for split, subjects in (('train', ['S1', 'S5']), ('valid', ['S9', 'S11'])):
        names, p2, p3 = [], [], []
        for s in subjects:
            cams = get_cameras(s)
            for a, X in world[s].items():
                for ci, cam in enumerate(cams):
                    Xc = world_to_camera(X, cam['R'], cam['T'])
                    p2.append(project_to_2d(Xc, cam)); p3.append(Xc)
                    names += ['%s/%s/%d/%d' % (s, a, ci, f) for f in range(len(X))]
        p2 = np.concatenate(p2).astype(dtype)
        with h5py.File(os.path.join(folder, '%s_%s_pred3.h5' % (name, split)), 'w') as f:
            f['imagename'] = np.array([n.encode() for n in names])
            f['joint_2d_gt'] = p2
            f['joint_2d_pre'] = p2 + np.random.RandomState(0).normal(0, 2, p2.shape).astype(dtype)
            f['joint_3d_gt'] = np.concatenate(p3).astype(dtype)
    return world


# --- a minimal CMU-named BVH skeleton (the names tools/prepare_data.py maps) ---------

# (name, parent, offset in cm, Y up, +Z forward, +X the subject's left)
CMU_JOINTS = [
    ('hip', None, (0, 0, 0)), ('abdomen', 'hip', (0, 20, 0)), ('chest', 'abdomen', (0, 12, 0)),
    ('neck', 'chest', (0, 22, 0)), ('head', 'neck', (0, 7, 0)),
    ('leftEye', 'head', (4, 8, 8)), ('rightEye', 'head', (-4, 8, 8)),
    ('lCollar', 'chest', (3, 19, 0)), ('lShldr', 'lCollar', (9, -2, 0)),
    ('lForeArm', 'lShldr', (28, 0, 0)), ('lHand', 'lForeArm', (23, 0, 0)),
    ('rCollar', 'chest', (-3, 19, 0)), ('rShldr', 'rCollar', (-9, -2, 0)),
    ('rForeArm', 'rShldr', (-28, 0, 0)), ('rHand', 'rForeArm', (-23, 0, 0)),
    ('lButtock', 'hip', (9, 0, 0)), ('lThigh', 'lButtock', (0, -5, 0)), ('lShin', 'lThigh', (0, -42, 0)),
    ('lFoot', 'lShin', (0, -40, 0)),
    ('rButtock', 'hip', (-9, 0, 0)), ('rThigh', 'rButtock', (0, -5, 0)), ('rShin', 'rThigh', (0, -42, 0)),
    ('rFoot', 'rShin', (0, -40, 0)),
]


def cmu_bvh(root_x_cm, drop=(), frame_time=0.02):
    """A BVH text with the CMU joint names; the root translates along x (cm) per frame."""
    kids = {}
    for name, parent, _ in CMU_JOINTS:
        kids.setdefault(parent, []).append(name)
    offs = {n: o for n, _, o in CMU_JOINTS}
    out = ['HIERARCHY']

    def emit(name, depth, root=False):
        ind = '  ' * depth
        out.append('%s%s %s' % (ind, 'ROOT' if root else 'JOINT', name))
        out.append(ind + '{')
        out.append('%s  OFFSET %g %g %g' % ((ind,) + tuple(offs[name])))
        out.append(ind + ('  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation' if root
                          else '  CHANNELS 3 Zrotation Xrotation Yrotation'))
        children = [k for k in kids.get(name, []) if k not in drop]
        for k in children:
            emit(k, depth + 1)
        if not children:
            out.extend([ind + '  End Site', ind + '  {', ind + '    OFFSET 0 -3 8', ind + '  }'])
        out.append(ind + '}')

    emit('hip', 0, root=True)
    n_joints = sum(1 for n, _, _ in CMU_JOINTS if n not in drop)
    out += ['MOTION', 'Frames: %d' % len(root_x_cm), 'Frame Time: %g' % frame_time]
    for x in root_x_cm:
        row = [x, 95, 0, 0, 0, 0] + [0] * (3 * (n_joints - 1))
        out.append(' '.join('%g' % v for v in row))
    return '\n'.join(out) + '\n'


TINY_YAML = """
DATA_DIR: '{data}'
OUTPUT_DIR: '{out}'
LOG_DIR: '{log}'
BATCH_SIZE: 64
DATA:
  DATASET_NAME: synth
NETWORK:
  NUM_CHANNELS: 32
  LIFTER_RES_BLOCKS: 1
TRAIN:
  NUM_EPOCHS: 1
  LOSS_WEIGHTS: [1.0, 1.0, 1.0, 1.0]
  PRETRAIN_LIFTER: false
"""


# --- the same kind of humanoid under the namings of the other presets -----------------------

# (role, parent role, offset in cm: Y up, +Z forward, +X the subject's left); '@' = the side
HUMANOID = [
    ('hips', None, (0, 0, 0)), ('spine', 'hips', (0, 10, 0)), ('spine1', 'spine', (0, 12, 0)),
    ('spine2', 'spine1', (0, 12, 0)), ('neck', 'spine2', (0, 16, 0)), ('head', 'neck', (0, 8, 0)),
    ('headtop', 'head', (0, 18, 0)),
]
for _s, _x in (('L', 1), ('R', -1)):
    HUMANOID += [('collar' + _s, 'spine2', (3 * _x, 12, 0)), ('arm' + _s, 'collar' + _s, (12 * _x, 0, 0)),
                 ('forearm' + _s, 'arm' + _s, (27 * _x, 0, 0)), ('hand' + _s, 'forearm' + _s, (24 * _x, 0, 0)),
                 ('upleg' + _s, 'hips', (9 * _x, -4, 0)), ('leg' + _s, 'upleg' + _s, (0, -42, 0)),
                 ('foot' + _s, 'leg' + _s, (0, -41, 0)), ('toe' + _s, 'foot' + _s, (0, -6, 13))]


def _side_names(left_right, **roles):
    out = {}
    for role, name in roles.items():
        if role.endswith('@'):
            for s in 'LR':
                out[role[:-1] + s] = name.replace('@', left_right[s])
        else:
            out[role] = name
    return out


#: role -> joint name (None: the skeleton has no such joint) per preset naming
NAMINGS = {
    'bandai': _side_names({'L': 'L', 'R': 'R'}, hips='Hips', spine='Spine', spine1='Chest', spine2=None,
                          neck='Neck', head='Head', headtop=None, **{
                              'collar@': 'Shoulder_@', 'arm@': 'UpperArm_@', 'forearm@': 'LowerArm_@',
                              'hand@': 'Hand_@', 'upleg@': 'UpperLeg_@', 'leg@': 'LowerLeg_@', 'foot@': 'Foot_@',
                              'toe@': 'Toes_@'}),
    'lafan1': _side_names({'L': 'Left', 'R': 'Right'}, hips='Hips', spine='Spine', spine1='Spine1', spine2='Spine2',
                          neck='Neck', head='Head', headtop=None, **{
                              'collar@': '@Shoulder', 'arm@': '@Arm', 'forearm@': '@ForeArm', 'hand@': '@Hand',
                              'upleg@': '@UpLeg', 'leg@': '@Leg', 'foot@': '@Foot', 'toe@': '@Toe'}),
    'mixamo': _side_names({'L': 'Left', 'R': 'Right'}, hips='Hips', spine='Spine', spine1='Spine1', spine2='Spine2',
                          neck='Neck', head='Head', headtop='HeadTop_End', **{
                              'collar@': '@Shoulder', 'arm@': '@Arm', 'forearm@': '@ForeArm', 'hand@': '@Hand',
                              'upleg@': '@UpLeg', 'leg@': '@Leg', 'foot@': '@Foot', 'toe@': '@ToeBase'}),
}

#: role -> amplitude (degrees) of its swing in humanoid_bvh's motion
SWING = {'spine': 10, 'head': 15, 'armL': 30, 'armR': 25, 'forearmL': 20, 'forearmR': 20, 'uplegL': 20,
         'uplegR': 15, 'legL': 25, 'legR': 20, 'collarL': 0, 'collarR': 0}


def humanoid_bvh(naming, prefix='', frames=60, frame_time=1 / 30.0, six_channels=False, rename=None, swing=None,
                 top_root=None, root_x_cm=None):
    """A BVH text of the HUMANOID skeleton under ``naming`` (a NAMINGS key or a role -> name dict).

    ``prefix`` goes before every name; ``rename`` {name: new name} then applies; a role without a
    name is left out (its children hang from its parent, offsets added).  The motion swings the
    joints of ``swing`` (role -> degrees, default SWING) and moves the root along x
    (``root_x_cm`` per frame, default 0).  ``six_channels``: position channels (= the offset) on
    every joint, as the Bandai Namco files have; ``top_root``: a joint of that name above the
    hips, with zero motion (Bandai's ``joint_Root``)."""
    names = NAMINGS[naming] if isinstance(naming, str) else naming
    swing = SWING if swing is None else swing
    rename = rename or {}
    offs = {r: np.array(o, float) for r, _, o in HUMANOID}
    parent = {r: p for r, p, _ in HUMANOID}
    kept = [r for r, _, _ in HUMANOID if names.get(r)]

    def kept_parent(r):
        p, off = parent[r], offs[r].copy()
        while p is not None and not names.get(p):
            off += offs[p]
            p = parent[p]
        return p, off

    tree = {r: kept_parent(r) for r in kept}
    full = {r: rename.get(prefix + names[r], prefix + names[r]) for r in kept}
    out, order = ['HIERARCHY'], []
    rot3 = 'CHANNELS 3 Zrotation Xrotation Yrotation'
    six = 'CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation'

    def emit(r, depth, kind):
        ind = '  ' * depth
        order.append(r)
        out.extend(['%s%s %s' % (ind, kind, full[r]), ind + '{',
                    '%s  OFFSET %g %g %g' % ((ind,) + tuple(tree[r][1])),
                    ind + '  ' + (six if (six_channels or r == 'hips') else rot3)])
        kids = [k for k in kept if tree[k][0] == r]
        for k in kids:
            emit(k, depth + 1, 'JOINT')
        if not kids:
            out.extend([ind + '  End Site', ind + '  {', ind + '    OFFSET 0 0 0', ind + '  }'])
        out.append(ind + '}')

    if top_root:
        out.extend(['ROOT %s' % top_root, '{', '  OFFSET 0 0 0', '  ' + six])
        emit('hips', 1, 'JOINT')
        out.append('}')
    else:
        emit('hips', 0, 'ROOT')
    out += ['MOTION', 'Frames: %d' % frames, 'Frame Time: %.8f' % frame_time]
    t = np.arange(frames) * frame_time
    xs = np.zeros(frames) if root_x_cm is None else np.asarray(root_x_cm, float)
    for f in range(frames):
        row = [0.0] * 6 if top_root else []
        for r in order:
            a = swing.get(r.rstrip('LR') if r not in swing else r, 0) * np.sin(2 * np.pi * 0.7 * t[f])
            if r == 'hips':
                row += [xs[f], 95.0, 0.0, 5 * np.sin(t[f]), 0.0, 20 * t[f]]
            else:
                row += (list(tree[r][1]) if six_channels else []) + [a, a / 2, a / 3]
        out.append(' '.join('%.6f' % v for v in row))
    return '\n'.join(out) + '\n'
