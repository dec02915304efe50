"""Joint orders and the skeleton.

Two orders of the 17 Human3.6M joints appear in this project:

* **v3d** (VideoPose3D / H36M-17): what data files store.
  0 Hip, 1 RHip, 2 RKnee, 3 RAnkle, 4 LHip, 5 LKnee, 6 LAnkle, 7 Spine,
  8 Thorax, 9 Neck/Nose, 10 Head, 11 LShoulder, 12 LElbow, 13 LWrist,
  14 RShoulder, 15 RElbow, 16 RWrist.
* **ours** (the original code's internal, LSP-like order): what the networks
  see and what the released checkpoints were trained on.  Root (pelvis) is
  13, head top is 16.  ``ours[i] = v3d[V3D_TO_OURS[i]]``.

The tree is :data:`PARENTS` (ours order); every other bone list (:data:`BONES`,
:data:`V3D_PARENTS`, the drawing, the BVH export, the 2D body check) derives from it.
"""
import numpy as np

from lib.utils.errors import UserError

NUM_JOINTS = 17

V3D_NAMES = ['Hip', 'RHip', 'RKnee', 'RAnkle', 'LHip', 'LKnee', 'LAnkle', 'Spine',
             'Thorax', 'Neck/Nose', 'Head', 'LShoulder', 'LElbow', 'LWrist',
             'RShoulder', 'RElbow', 'RWrist']

# ours[i] = v3d[V3D_TO_OURS[i]]
V3D_TO_OURS = np.array([3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 0, 7, 9, 10])
# v3d[j] = ours[OURS_TO_V3D[j]]
OURS_TO_V3D = np.argsort(V3D_TO_OURS)

OURS_NAMES = [V3D_NAMES[j] for j in V3D_TO_OURS]

ROOT = 13          # pelvis, in ours order
HEAD = 16          # head top, in ours order
V3D_ROOT = 0
V3D_HEAD = 10

# parent of each joint in ours order; the root is its own parent
PARENTS = np.array([1, 2, 13, 13, 3, 4, 7, 8, 12, 12, 9, 10, 14, 13, 13, 12, 15])
# the 16 bones: child j -> PARENTS[j], every joint but the root
BONE_CHILDREN = np.array([j for j in range(NUM_JOINTS) if j != ROOT])
BONES = [(int(j), int(PARENTS[j])) for j in BONE_CHILDREN]      # (child, parent), ours order
# the same tree in v3d order, the root's parent -1 (a parent always before its child)
V3D_PARENTS = np.array([-1 if j == V3D_ROOT else int(V3D_TO_OURS[PARENTS[OURS_TO_V3D[j]]])
                        for j in range(NUM_JOINTS)])

RIGHT = [0, 1, 2, 6, 7, 8]
LEFT = [3, 4, 5, 9, 10, 11]
# the six left/right pairs of bones, each bone named by its child joint (ours order): shin,
# thigh, pelvis half (hip joint - root), forearm, upper arm, shoulder - thorax
SYMMETRIC_BONES = [(r, OURS_NAMES.index('L' + OURS_NAMES[r][1:])) for r in RIGHT]

# Human3.6M's 32-joint mocap layout -> the 17 v3d joints
H36M32_TO_V3D = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])


def v3d_to_ours(a):
    """Reorder (..., 17, C) from v3d to ours order."""
    return a[..., V3D_TO_OURS, :]


def ours_to_v3d(a):
    """Reorder (..., 17, C) from ours to v3d order."""
    return a[..., OURS_TO_V3D, :]


def check_joints_shape(a, path, key, dims, fix, at_least_in_message=True):
    """UserError naming ``key`` unless the array ``a`` is (N, 17, C) with C >= ``dims``.

    The message states the expected shape as ``(N, 17, >=dims)``, or as ``(N, 17, dims)``
    with ``at_least_in_message=False`` (for files whose extra columns are not expected).
    """
    if a.ndim != 3 or a.shape[1] != NUM_JOINTS or a.shape[2] < dims:
        raise UserError('%s has shape %s, expected (N, %d, %s%d)'
                        % (key, a.shape, NUM_JOINTS, '>=' if at_least_in_message else '', dims), path, fix)


# a standing skeleton in the VideoPose3D joint order (metres, camera frame, y down): the rest
# pose of the synthetic data sets used by the speed benchmarks
STANDING_POSE_V3D = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.44, 0.02], [-0.13, 0.86, 0],
    [0.13, 0, 0], [0.13, 0.44, 0.02], [0.13, 0.86, 0], [0, -0.23, 0],
    [0, -0.48, 0], [0, -0.60, -0.03], [0, -0.74, 0], [0.18, -0.46, 0], [0.20, -0.18, 0],
    [0.21, 0.07, 0], [-0.18, -0.46, 0], [-0.20, -0.18, 0], [-0.21, 0.07, 0]])
