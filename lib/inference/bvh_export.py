"""Writing lifted 3D poses as a BVH animation (read back by ``lib/prep/bvh.py``).

The skeleton
------------
One fixed skeleton per sequence: the 16 bones of the 17 Human3.6M joints
(v3d order), each bone as long as its **median length over the sequence**.
The BVH holds, per frame, the root position and one rotation per joint, so
that forward kinematics puts every bone along the direction the lifted pose
gives it.  Reading the file back therefore gives the *bone-length normalised*
pose (:func:`normalised_positions`): the root where the lift put it, every
bone in its lifted direction, every bone at its median length.

So that every bone can point anywhere, each joint with several children (the
pelvis: hips and spine; the thorax: neck and shoulders) gets one extra joint
per child, at the same place (offset zero), named ``<joint>_to_<child>``,
whose rotation orients that one bone.  A single image is a one-frame clip.

Axes and units
--------------
The lifted poses are in the camera frame (x right, y down, z forward) in
network units (head-root about 1).  The BVH is Y-up with the person facing
+Z and their left on +X: ``(x, -y, -z)`` (a proper rotation), times
``scale`` (default :data:`HEAD_ROOT_MM`, so that units are roughly
millimetres).  Rest pose: legs and arms straight, arms horizontal (a
T-pose), spine and head up.  Rotations are ``Zrotation Xrotation Yrotation``
Euler angles (R = Rz Rx Ry); each joint's rotation is the smallest one that
turns its bone from the parent's frame onto the lifted direction (no twist
is invented).  The root's rotation is the pelvis frame: x from the right to
the left hip, y along the spine made orthogonal to it.
"""
import numpy as np

from lib.data import skeleton as sk

#: Default BVH units per network unit: a nominal head-root length in millimetres
#: (the three standing frames of the Human3.6M test fixture measure 668-721 mm).
HEAD_ROOT_MM = 700.0

V3D_PARENTS = sk.V3D_PARENTS
BVH_NAMES = [n.replace('/', '_') for n in sk.V3D_NAMES]
_L, _R, _U, _D = (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)
#: rest direction (BVH axes) of the bone from each joint's parent to it
REST_DIR = np.array([(0, 0, 0), _R, _D, _D, _L, _D, _D, _U, _U, _U, _U, _L, _L, _L, _R, _R, _R], np.float64)
END_FRACTION = 0.25      # End Site offset: a quarter of the last bone, along it
CAM_TO_BVH = np.diag([1.0, -1.0, -1.0])


def children(j):
    return [int(c) for c in np.where(V3D_PARENTS == j)[0]]


def bone_lengths(pos):
    """(T, 17, 3) -> (17,) median length of the bone from each joint's parent (0 for the root)."""
    L = np.zeros(sk.NUM_JOINTS)
    for j in range(1, sk.NUM_JOINTS):
        L[j] = np.median(np.linalg.norm(pos[:, j] - pos[:, V3D_PARENTS[j]], axis=-1))
    return L


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-12, n, 1.0)


def normalised_positions(pos, lengths=None):
    """(T, 17, 3) v3d -> the same directions with each bone at ``lengths`` (default: median)."""
    pos = np.asarray(pos, np.float64)
    L = bone_lengths(pos) if lengths is None else np.asarray(lengths, np.float64)
    out = np.empty_like(pos)
    out[:, 0] = pos[:, 0]
    for j in range(1, sk.NUM_JOINTS):          # parents come first in v3d order
        p = V3D_PARENTS[j]
        out[:, j] = out[:, p] + L[j] * _unit(pos[:, j] - pos[:, p])
    return out


def min_rotation(a, b):
    """(T, 3, 3): the smallest rotations turning unit vectors a (T, 3) onto b (T, 3)."""
    v = np.cross(a, b)
    c = np.sum(a * b, -1)
    K = np.zeros(a.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    opposite = c < -1 + 1e-9
    R = np.eye(3) + K + K @ K / np.where(opposite, 1.0, 1 + c)[..., None, None]
    if opposite.any():                          # half turn about an axis normal to a
        axis = _unit(np.cross(a[opposite], np.where(np.abs(a[opposite, :1]) < 0.9, [[1., 0, 0]], [[0, 1., 0]])))
        R[opposite] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return R


def _root_frame(P):
    x = _unit(P[:, 4] - P[:, 1])
    y = P[:, 7] - P[:, 0]
    y = _unit(y - np.sum(y * x, -1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], -1)       # columns: the pelvis axes


def _nodes():
    """Depth-first list of (name, v3d joint or None for a helper, parent node index, bone child)."""
    nodes = []

    def add(j, parent):
        k = len(nodes)
        kids = children(j)
        nodes.append((BVH_NAMES[j], j, parent, kids[0] if len(kids) == 1 else None))
        if len(kids) > 1:
            for c in kids:
                h = len(nodes)
                nodes.append(('%s_to_%s' % (BVH_NAMES[j], BVH_NAMES[c]), None, k, c))
                add(c, h)
        else:
            for c in kids:
                add(c, k)
    add(0, -1)
    return nodes


def solve(pos_cam, scale=HEAD_ROOT_MM):
    """(T, 17, 3) camera-frame poses -> (nodes, lengths (17,), root position (T, 3),
    local rotations (T, N, 3, 3)) in BVH axes and units."""
    P = np.asarray(pos_cam, np.float64) @ CAM_TO_BVH.T * float(scale)
    L = bone_lengths(P)
    nodes = _nodes()
    T = len(P)
    G = np.zeros((T, len(nodes), 3, 3))
    local = np.zeros_like(G)
    for k, (_, j, parent, child) in enumerate(nodes):
        if parent < 0:
            G[:, k] = _root_frame(P)
        elif child is None:
            G[:, k] = G[:, parent]                        # a leaf, or a joint whose helpers turn its bones
        else:
            here = j if j is not None else nodes[parent][1]
            want = _unit(P[:, child] - P[:, here])
            have = np.einsum('tab,b->ta', G[:, parent], REST_DIR[child])
            G[:, k] = min_rotation(have, want) @ G[:, parent]
        local[:, k] = G[:, k] if parent < 0 else np.swapaxes(G[:, parent], -1, -2) @ G[:, k]
    return nodes, L, P[:, 0], local


def bvh_text(pos_cam, fps=25.0, scale=HEAD_ROOT_MM):
    """The BVH file (a string) for (T, 17, 3) camera-frame v3d poses."""
    from scipy.spatial.transform import Rotation

    nodes, L, root, local = solve(pos_cam, scale)
    lines = ['HIERARCHY']
    depth = {}
    for k, (name, j, parent, child) in enumerate(nodes):
        d = 0 if parent < 0 else depth[parent] + 1
        depth[k] = d
        pad = '  ' * d
        if parent >= 0:
            offset = L[j] * REST_DIR[j] if j is not None else np.zeros(3)
        else:
            offset = np.zeros(3)
        lines.append(pad + ('ROOT ' if parent < 0 else 'JOINT ') + name)
        lines.append(pad + '{')
        lines.append(pad + '  OFFSET %.6f %.6f %.6f' % tuple(offset))
        lines.append(pad + '  CHANNELS ' + ('6 Xposition Yposition Zposition ' if parent < 0 else '3 ')
                     + 'Zrotation Xrotation Yrotation')
        if j is not None and not children(j):
            end = END_FRACTION * L[j] * REST_DIR[j]
            lines += [pad + '  End Site', pad + '  {', pad + '    OFFSET %.6f %.6f %.6f' % tuple(end), pad + '  }']
        # close this node and every ancestor whose subtree ends here
        nxt = nodes[k + 1][2] if k + 1 < len(nodes) else -1
        closing, a = [], k
        while a >= 0 and a != nxt:
            closing.append('  ' * depth[a] + '}')
            a = nodes[a][2]
        lines += closing
    T, N = local.shape[:2]
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler('ZXY', degrees=True).reshape(T, N * 3)
    lines += ['MOTION', 'Frames: %d' % T, 'Frame Time: %.8f' % (1.0 / fps)]
    rows = np.concatenate([root, euler], 1)
    lines += [' '.join('%.6f' % v for v in row) for row in rows]
    return '\n'.join(lines) + '\n'


def read_back(bvh):
    """(T, 17, 3) v3d positions in BVH axes from a parsed :class:`lib.prep.bvh.Bvh` of this skeleton."""
    return bvh.positions(BVH_NAMES)


def to_bvh_axes(pos_cam, scale=HEAD_ROOT_MM):
    """Camera-frame positions -> BVH axes and units (for comparing with :func:`read_back`)."""
    return np.asarray(pos_cam, np.float64) @ CAM_TO_BVH.T * float(scale)
