"""The JSON layouts 2D detectors write, as (T, J, 3) keypoints with a confidence column.

* **OpenPose** (one file per frame): ``{"people": [{"pose_keypoints_2d":
  [x0, y0, c0, x1, y1, c1, ...]}, ...]}``; BODY_25 has 25 joints.
* **MMPose**: the instances of one image ``[{"keypoints": [[x, y], ...],
  "keypoint_scores": [s, ...]}, ...]``; a list of such lists (one per frame);
  or ``{"instance_info": [{"frame_id": 1, "instances": [...]}, ...]}``.
* plain keypoints: ``[[x, y], ...]``, a list of such frames, or
  ``{"keypoints": ...}`` holding one (handled by the caller).

With several people in a frame the one with the largest box around its
confident joints is kept; a frame without anybody becomes a frame of
confidence 0 (skipped later, never invented).
"""
import numpy as np

from lib.utils.errors import UserError

MIN_CONF = 0.1

OPENPOSE_FIX = ('OpenPose JSON: {"people": [{"pose_keypoints_2d": [x, y, c, ...]}]} with 3 values per joint '
                '(BODY_25: 75 values; use --joint-order openpose25)')
MMPOSE_FIX = ('MMPose JSON: a list of instances [{"keypoints": [[x, y], ...], "keypoint_scores": [...]}], '
              'a list of such lists (frames), or {"instance_info": [{"instances": [...]}]}')


def _largest(people):
    """The (J, 3) person whose box around its confident joints is the largest; None if empty."""
    best, area = None, -1.0
    for p in people:
        ok = (p[:, 2] >= MIN_CONF) & np.isfinite(p[:, :2]).all(1)
        if not ok.any():
            continue
        ext = p[ok, :2].max(0) - p[ok, :2].min(0)
        if ext[0] * ext[1] > area:
            best, area = p, ext[0] * ext[1]
    return best


def _frames(per_frame, where, fix):
    """list (frames) of lists of (J, 3) people -> (T, J, 3); an empty frame gets confidence 0."""
    counts = {len(p) for people in per_frame for p in people}
    if len(counts) > 1:
        raise UserError('people with different joint counts (%s)' % sorted(counts), where, fix)
    if not counts:
        raise UserError('nobody in any frame of the file', where, 'give a file where a person was detected')
    J = counts.pop()
    out = np.zeros((len(per_frame), J, 3))
    for t, people in enumerate(per_frame):
        best = _largest(people)
        if best is not None:
            out[t] = best
    return out


def _openpose(obj, where):
    people = []
    for k, person in enumerate(obj['people']):
        flat = person.get('pose_keypoints_2d') if isinstance(person, dict) else None
        try:
            a = np.asarray(flat, np.float64).reshape(-1)
        except (TypeError, ValueError):
            a = np.zeros(1)
        if flat is None or a.size == 0 or a.size % 3:
            raise UserError('OpenPose person %d has no pose_keypoints_2d of 3 values per joint' % k, where,
                            OPENPOSE_FIX)
        people.append(a.reshape(-1, 3))
    if not people:
        raise UserError('OpenPose JSON with nobody in it ("people" is empty)', where,
                        'give a frame where OpenPose found a person')
    return _frames([people], where, OPENPOSE_FIX), False


def _instance(inst, where):
    if not isinstance(inst, dict) or 'keypoints' not in inst:
        raise UserError('MMPose instance without "keypoints"', where, MMPOSE_FIX)
    try:
        kp = np.asarray(inst['keypoints'], np.float64)
        if kp.ndim == 3 and kp.shape[0] == 1:       # MMPose 1.x wraps one instance's joints
            kp = kp[0]
        sc = inst.get('keypoint_scores')
        sc = np.ones(len(kp)) if sc is None else np.asarray(sc, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError('MMPose keypoints are not numbers', where, MMPOSE_FIX) from None
    if kp.ndim != 2 or kp.shape[1] != 2 or len(sc) != len(kp):
        raise UserError('MMPose instance keypoints have shape %s and %d scores, expected (J, 2) and J'
                        % (kp.shape, len(sc)), where, MMPOSE_FIX)
    return np.concatenate([kp, sc[:, None]], 1)


def _mmpose(frames, where):
    per_frame = []
    for f in frames:
        if isinstance(f, dict):
            f = f.get('instances')
        if not isinstance(f, list):
            raise UserError('MMPose frame is not a list of instances', where, MMPOSE_FIX)
        per_frame.append([_instance(i, where) for i in f])
    return _frames(per_frame, where, MMPOSE_FIX)


def detector_layout(obj, where):
    """``(keypoints (T, J, 3), sequence?)`` when ``obj`` is an OpenPose or MMPose layout,
    else None (plain keypoints)."""
    if isinstance(obj, dict) and 'people' in obj:
        if not isinstance(obj['people'], list):
            raise UserError('OpenPose "people" is not a list', where, OPENPOSE_FIX)
        return _openpose(obj, where)
    if isinstance(obj, dict) and 'instance_info' in obj:
        if not isinstance(obj['instance_info'], list):
            raise UserError('MMPose "instance_info" is not a list', where, MMPOSE_FIX)
        return _mmpose(obj['instance_info'], where), True
    if isinstance(obj, list) and obj and all(isinstance(i, dict) for i in obj):
        if all('instances' in i for i in obj):
            return _mmpose(obj, where), True
        return _mmpose([obj], where), False
    if isinstance(obj, list) and obj and all(isinstance(f, list) for f in obj) \
            and any(f and all(isinstance(i, dict) for i in f) for f in obj):
        return _mmpose(obj, where), True
    return None
