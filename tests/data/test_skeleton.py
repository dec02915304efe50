"""Joint orders (lib/data/skeleton.py): ours and the VideoPose3D order, by name and by geometry."""
import numpy as np

import synth
from lib.data import skeleton as sk


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
