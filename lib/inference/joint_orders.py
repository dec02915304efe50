"""2D keypoints of other detectors -> the 17 Human3.6M joints the model expects.

Orders (``--joint-order``), joints per pose, and where each comes from:

=========== ====== ====================================================
h36m        17     Human3.6M-17 / VideoPose3D (v3d), used as it is
coco17      17     COCO (MMPose, Detectron2, YOLO-pose, ViTPose ...)
openpose25  25     OpenPose BODY_25
mediapipe33 33     MediaPipe Pose (BlazePose) landmarks
=========== ====== ====================================================

The one table (:data:`LANDMARKS`) names, for every order but h36m, the index
of each of the 15 body landmarks the mapping uses: nose, both ears, shoulders,
elbows, wrists, hips, knees and ankles.  From them (``_rule``):

* the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) are the
  landmarks themselves;
* **Hip** (pelvis, the root) = mean of the two hips, **Thorax** = mean of the
  two shoulders, **Spine** = mean of Hip and Thorax.  This is how the
  authors' own demo keypoints and the LSP path (``lib/inference/lsp.py``) build
  them; on the four real Human3.6M frames of ``../shared/data/h36m_fixture``
  the Human3.6M pelvis is the mid-hip point (within 0.4 % of the torso) and
  its spine lies 0.43-0.51 of the way from pelvis to thorax, while its thorax
  sits 0.03-0.17 torso lengths from the mid-shoulder point (not modelled: the
  authors' own demo 2D uses the midpoint);
* **Neck/Nose** = the nose (Human3.6M's joint sits in the face, 0.14-0.30
  torso lengths above the thorax on those frames);
* **Head** (top of the head, which no detector marks) = the ears' midpoint
  moved away from the thorax by ``HEAD_FROM_EARS`` times the thorax-ears
  distance (:data:`HEAD_FROM_EARS`, chosen on LSP head-top annotations, see
  its comment).  With one ear missing the other is used.

OpenPose's own ``Neck`` and ``MidHip`` are not used: they are the same
midpoints.  A joint whose sources are missing is missing; :func:`fill_missing`
then fills it or skips the frame (the rule of ``lib/inference/lsp.py``).
"""
import numpy as np

from lib.data import skeleton as sk
from lib.utils.errors import UserError

ORDERS = ('h36m', 'coco17', 'openpose25', 'mediapipe33')
NUM = {'h36m': 17, 'coco17': 17, 'openpose25': 25, 'mediapipe33': 33}

LANDMARK_NAMES = ('nose', 'lear', 'rear', 'lsho', 'rsho', 'lelb', 'relb', 'lwri', 'rwri',
                  'lhip', 'rhip', 'lknee', 'rknee', 'lank', 'rank')
# index of each landmark in each order, in LANDMARK_NAMES order
LANDMARKS = {
    'coco17': (0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    'openpose25': (0, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),
    'mediapipe33': (0, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
}

#: Head top = mid-ears + HEAD_FROM_EARS * (mid-ears - thorax).  Chosen on the LSP
#: head-top annotations of ``../shared/data/lsp_sample`` with MediaPipe's ears and
#: shoulders (201 images with head top, shoulders and hips annotated and a person
#: found): median error 0.15 torso lengths for 0.5 (0.27 for the ears' midpoint
#: itself, 0.19 for 0.25, 0.14 for 0.75, 0.22 for 1.0); ``tools/measure_detector.py``
#: prints it.
HEAD_FROM_EARS = 0.5


def fill_limbs(xy, miss, limbs):
    """Fill the missing joints of limb chains in place: each chain (root, mid, end) is a
    hip/shoulder, a knee/elbow and an ankle/wrist (the root is never missing).  A missing
    mid joint goes midway between root and end when the end is there, else onto the root;
    a missing end goes onto the (possibly filled) mid joint."""
    for root, mid, end in limbs:
        if miss[mid]:
            xy[mid] = (xy[root] + xy[end]) / 2 if not miss[end] else xy[root]
        if miss[end]:
            xy[end] = xy[mid]


# v3d joint <- landmark, for the 12 limb joints
_LIMBS_V3D = {1: 'rhip', 2: 'rknee', 3: 'rank', 4: 'lhip', 5: 'lknee', 6: 'lank',
              11: 'lsho', 12: 'lelb', 13: 'lwri', 14: 'rsho', 15: 'relb', 16: 'rwri'}

# required joints (v3d): without them the frame has no root, frame or size
REQUIRED_V3D = (0, 1, 4, 8, 10, 11, 14)
NECK_FILL_T = 0.5      # a missing Neck/Nose: halfway from thorax to head top
# limb chains (v3d), root side first: hip/shoulder -> knee/elbow -> ankle/wrist
LIMBS_V3D = ((1, 2, 3), (4, 5, 6), (11, 12, 13), (14, 15, 16))


def order_help():
    return 'one of %s' % ', '.join('%s (%d joints)' % (o, NUM[o]) for o in ORDERS)


def check_order(order):
    if order not in ORDERS:
        raise UserError('unknown joint order %r' % (order,), '--joint-order', 'use ' + order_help())
    return order


def _mid(a, b, ma, mb):
    """Midpoint of two landmarks; one of them when the other is missing; missing if both are."""
    out = np.where(ma[..., None], b, np.where(mb[..., None], a, (a + b) / 2))
    return out, ma & mb


def _rule(lm, miss):
    """15 landmarks (T, 15, 2) + missing (T, 15) -> v3d 17 (T, 17, 2) + missing (T, 17)."""
    L = {n: lm[:, k] for k, n in enumerate(LANDMARK_NAMES)}
    M = {n: miss[:, k] for k, n in enumerate(LANDMARK_NAMES)}
    T = len(lm)
    px = np.zeros((T, sk.NUM_JOINTS, 2))
    m = np.zeros((T, sk.NUM_JOINTS), bool)
    for j, n in _LIMBS_V3D.items():
        px[:, j], m[:, j] = L[n], M[n]
    px[:, 0] = (L['lhip'] + L['rhip']) / 2
    m[:, 0] = M['lhip'] | M['rhip']
    px[:, 8] = (L['lsho'] + L['rsho']) / 2
    m[:, 8] = M['lsho'] | M['rsho']
    px[:, 7] = (px[:, 0] + px[:, 8]) / 2
    m[:, 7] = m[:, 0] | m[:, 8]
    px[:, 9], m[:, 9] = L['nose'], M['nose']
    ears, m_ears = _mid(L['lear'], L['rear'], M['lear'], M['rear'])
    px[:, 10] = ears + HEAD_FROM_EARS * (ears - px[:, 8])
    m[:, 10] = m_ears | m[:, 8]
    return px, m


def to_v3d17(kps, order, conf=None, min_conf=0.1):
    """(T, J, 2) keypoints in ``order`` -> (T, 17, 2) v3d pixels and (T, 17) missing flags.

    ``conf`` (T, J): a joint with confidence below ``min_conf`` (or a
    non-finite coordinate) is missing.  The joint count must fit the order.
    """
    order = check_order(order)
    kps = np.asarray(kps, np.float64)
    if kps.ndim != 3 or kps.shape[-1] != 2:
        raise ValueError('keypoints must be (T, J, 2)')
    if kps.shape[1] != NUM[order]:
        raise UserError('%d joints per pose, but --joint-order %s has %d' % (kps.shape[1], order, NUM[order]),
                        None, 'pass the order of the detector that made them: %s%s'
                        % (order_help(), _count_hint(kps.shape[1])))
    miss = ~np.isfinite(kps).all(-1)
    if conf is not None:
        with np.errstate(invalid='ignore'):
            miss |= ~(np.asarray(conf, np.float64) >= min_conf)
    kps = np.where(miss[..., None], 0.0, kps)
    if order == 'h36m':
        return kps, miss
    idx = list(LANDMARKS[order])
    return _rule(kps[:, idx], miss[:, idx])


def _count_hint(J):
    fits = [o for o in ORDERS if NUM[o] == J]
    return ('; %d joints fit %s' % (J, ' or '.join(fits))) if fits else ''


def fill_missing(px_v3d, missing):
    """Fill the non-required missing joints of (T, 17, 2) v3d poses, frame by frame.

    Returns (filled copy, missing (T, 17), reasons): ``reasons[t]`` is None
    for a usable frame, else the names of its missing required joints
    (hips, shoulders, thorax, pelvis, head top); such frames must be skipped.
    The fill follows ``lib/inference/lsp.py``: an elbow / knee whose wrist / ankle
    is there goes midway, any other limb joint onto its parent; Spine midway
    between pelvis and thorax; Neck/Nose halfway from thorax to head top.
    """
    px = np.array(px_v3d, np.float64)
    miss = np.asarray(missing, bool)
    reasons = []
    for t in range(len(px)):
        lack = [sk.V3D_NAMES[j] for j in REQUIRED_V3D if miss[t, j]]
        reasons.append(', '.join(lack) if lack else None)
        if lack:
            continue
        p, m = px[t], miss[t]
        if m[7]:
            p[7] = (p[0] + p[8]) / 2
        if m[9]:
            p[9] = p[8] + NECK_FILL_T * (p[10] - p[8])
        fill_limbs(p, m, LIMBS_V3D)
    return px, miss, reasons


# --- does the 2D look like a body in the named order? -------------------------------

# the 16 bones as v3d (parent, child) pairs, child 1..16, and the left/right bone pairs
# (indices into BONES)
BONES = np.array([(int(sk.V3D_PARENTS[j]), j) for j in range(1, sk.NUM_JOINTS)])
LR_PAIRS = ((0, 3), (1, 4), (2, 5), (10, 13), (11, 14), (12, 15))
#: Median share of each bone in the summed 2D bone length, over every 10th frame of
#: ``datasets/quickstart/data_2d_quickstart_gt.npz`` (motion capture through real
#: Human3.6M cameras; tests/inference/test_joint_orders.py recomputes it).
BONE_SHARE = np.array([0.0175, 0.1021, 0.1242, 0.0176, 0.1026, 0.1240, 0.0944, 0.0671, 0.0207,
                       0.0306, 0.0257, 0.0818, 0.0599, 0.0263, 0.0806, 0.0574])
#: Median body_score above this (over 5 or more frames; UNLIKE_FEW for fewer): the 2D is
#: unlike a body in that order.  Measured per frame (median / 90th percentile / share
#: above UNLIKE_FEW): motion capture through Human3.6M cameras 0.23 / 0.68 / 2.3 %, the
#: LSP sample's annotations 0.49 / 0.87 / 3.5 %, MediaPipe detections on it 0.35 / 0.70 /
#: 1.1 %, the authors' 12 demo poses 0.28 / 0.45 / 0; COCO keypoints read as h36m 2.28 /
#: 3.04 / 99 %, Human3.6M keypoints read as coco17 1.78 / 2.30 / 87 %, the authors' demo
#: poses read as coco17 1.33 / 1.60 / 67 %.
UNLIKE = 0.8
UNLIKE_FEW = 1.1


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def body_score(px_v3d):
    """Per-frame distance of (T, 17, 2) v3d poses from a body, the sum of

    * shape: the median |log| ratio of each bone's share of the summed bone
      length to :data:`BONE_SHARE`;
    * symmetry: the median |log| ratio of left to right bone lengths;
    * head: how far the thorax-head direction turns back against the
      pelvis-thorax direction (0 when the head continues the spine, up to 1);
    * sides: 0.5 when the hips and the shoulders lie on opposite sides of the
      spine (the left hip and left shoulder on different sides).

    About 0.2-0.5 for real bodies (see :data:`UNLIKE`)."""
    px = np.asarray(px_v3d, np.float64)
    L = np.maximum(np.linalg.norm(px[:, BONES[:, 0]] - px[:, BONES[:, 1]], axis=-1), 1e-9)
    share = np.maximum(L / L.sum(1, keepdims=True), 1e-3)
    shape = np.median(np.abs(np.log(share / BONE_SHARE)), 1)
    left, right = [list(p) for p in zip(*LR_PAIRS)]
    sym = np.median(np.abs(np.log(L[:, left] / L[:, right])), 1)
    spine, head = px[:, 8] - px[:, 0], px[:, 10] - px[:, 8]
    cos = np.sum(spine * head, -1) / (np.linalg.norm(spine, axis=-1) * np.linalg.norm(head, axis=-1) + 1e-9)
    sides = np.sign(_cross(spine, px[:, 4] - px[:, 1])) != np.sign(_cross(spine, px[:, 11] - px[:, 14]))
    return shape + sym + np.maximum(0.0, -cos) + 0.5 * sides


def order_warning(kps, order, conf=None, min_conf=0.1):
    """None, or a one-line warning when ``kps`` (T, J, 2) do not look like a body in ``order``;
    it names another order of the same joint count that fits, if one does."""
    def score(o):
        px, miss = to_v3d17(kps, o, conf, min_conf)
        ok = ~miss.any(1)
        return float(np.median(body_score(px[ok]))) if ok.any() else None

    limit = UNLIKE if len(kps) >= 5 else UNLIKE_FEW
    mine = score(order)
    if mine is None or mine <= limit:
        return None
    others = [(s, o) for o in ORDERS if o != order and NUM[o] == NUM[order]
              for s in [score(o)] if s is not None and s <= limit and s < mine / 2]
    hint = ('; it looks like %s: pass --joint-order %s' % (min(others)[1], min(others)[1]) if others else
            '; check the joint order (%s)' % order_help())
    return ('warning: the 2D does not look like a body in the %s order (bone lengths, left/right '
            'structure and head direction score %.2f, real bodies 0.2-0.5)%s' % (order, mine, hint))
