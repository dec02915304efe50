"""Joint orders (lib/data/skeleton.py): ours and the VideoPose3D order, by name and by geometry."""
import numpy as np
import pytest

import synth
from lib.data import skeleton as sk
from lib.utils.errors import UserError


# the original code's order: LSP's 14 joints (right leg, left leg, right arm, left arm from the
# extremity in), then the thorax, the pelvis (root), the spine, the neck/nose and the head top
OURS_BY_HAND = ['RAnkle', 'RKnee', 'RHip', 'LHip', 'LKnee', 'LAnkle', 'RWrist', 'RElbow', 'RShoulder',
                'LShoulder', 'LElbow', 'LWrist', 'Thorax', 'Hip', 'Spine', 'Neck/Nose', 'Head']


def test_joint_order_roundtrip_and_names():
    assert sk.OURS_NAMES[sk.ROOT] == 'Hip' and sk.OURS_NAMES[sk.HEAD] == 'Head'
    a = np.arange(17 * 2).reshape(17, 2)
    assert (sk.ours_to_v3d(sk.v3d_to_ours(a)) == a).all()
    assert sk.OURS_NAMES == OURS_BY_HAND
    # each v3d joint lands where its name says (v3d order: the VideoPose3D list)
    v3d = np.array([[sk.V3D_NAMES.index(n), 0] for n in sk.V3D_NAMES])
    assert [sk.V3D_NAMES[i] for i in sk.v3d_to_ours(v3d)[:, 0]] == OURS_BY_HAND
    # geometry: the synthetic standing skeleton (v3d order, x = the subject's left, z up)
    P = sk.v3d_to_ours(synth.TEMPLATE)
    name = {n: P[i] for i, n in enumerate(OURS_BY_HAND)}
    assert all(name['L' + j][0] > 0 > name['R' + j][0] for j in ('Ankle', 'Knee', 'Hip', 'Wrist', 'Elbow', 'Shoulder'))
    assert name['Head'][2] == P[:, 2].max() and name['RAnkle'][2] == name['LAnkle'][2] == P[:, 2].min()
    assert np.allclose(P[sk.ROOT], [0, 0, 0.92])


# --- the joints-array shape check ------------------------------------------------------------

@pytest.mark.parametrize('shape', [(3, 16, 2), (3, 17, 1), (17, 2), (2, 3, 17, 2)])
def test_data_and_prediction_files_check_joint_shapes_alike(shape):
    from lib.data.dataset import _check_joints
    from lib.data.skeleton import check_joints_shape
    from lib.vis.sequences import FIX, _check
    a = np.zeros(shape)
    cases = [(_check_joints, 'f.h5', 'joint_2d_gt', True,
              'error: joint_2d_gt has shape %s, expected (N, 17, >=2) (f.h5): the data must hold the 17 '
              'Human3.6M joints in VideoPose3D order' % (shape,)),
             (_check, 'p.npz', 'pose_2d_px', False,
              'error: pose_2d_px has shape %s, expected (N, 17, 2) (p.npz): pass a prediction file of '
              '17-joint poses written by tools/main.py --eval' % (shape,))]
    for caller, path, key, at_least, message in cases:
        errors = []
        for check in (lambda: caller(a, path, key, 2),
                      lambda: check_joints_shape(a, path, key, 2, message.rpartition('): ')[2], at_least)):
            with pytest.raises(UserError) as e:
                check()
            errors.append(str(e.value))
        assert errors == [message, message]
    assert cases[1][-1].endswith(FIX)


def test_joint_shape_check_accepts_extra_columns():
    from lib.data.dataset import _check_joints
    from lib.data.skeleton import check_joints_shape
    from lib.vis.sequences import _check
    a = np.ones((4, 17, 3))
    _check_joints(a, 'f', 'k', 2)
    check_joints_shape(a, 'f', 'k', 3, 'fix')
    assert _check(a, 'f', 'k', 2).shape == (4, 17, 2)
