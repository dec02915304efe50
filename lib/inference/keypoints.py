"""Reading the demo's 2D keypoint files (``scripts/inference.py``).

Accepted inputs, one pose ``(J, 2)`` or a sequence ``(T, J, 2)`` per file,
``J`` the joint count of the order (``--joint-order``, default ``h36m``, 17;
see :mod:`lib.inference.joint_orders`); a third column ``(J, 3)`` / ``(T, J, 3)``
is a detector's confidence: joints below ``min_conf`` are missing (filled by
rule, or their frame is skipped when the pelvis, hips, shoulders or head top
is missing).

* ``.npy``: an array of 2D keypoints.
* ``.npz``: the array under the key ``keypoints`` (confidence also from a
  ``scores`` / ``keypoint_scores`` array of shape (T, J)), or the archive's
  only array.  Read with :func:`lib.utils.safe_io.load_npz` (no code runs).
* ``.json``: a list (``[[x, y], ...]`` or a list of such frames) or a dict
  with the key ``keypoints`` holding one; also the layouts detectors write:
  **OpenPose** (``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}]}``, one
  frame per file, BODY_25) and **MMPose** (a list of instances
  ``[{"keypoints": [[x, y], ...], "keypoint_scores": [...]}, ...]`` for one
  image, a list of such lists for frames, or ``{"instance_info": [{"instances":
  [...]}, ...]}``).  With several people in a frame the largest (keypoint box)
  is used; a frame with nobody is skipped.

In the h36m order the joints are **pixels in the Human3.6M-17 / VideoPose3D
(v3d) order** (0 Hip, 1 RHip, 2 RKnee, 3 RAnkle, 4 LHip, 5 LKnee, 6 LAnkle,
7 Spine, 8 Thorax, 9 Neck/Nose, 10 Head, 11 LShoulder, 12 LElbow, 13 LWrist,
14 RShoulder, 15 RElbow, 16 RWrist).  Other orders are mapped to it
(:func:`lib.inference.joint_orders.to_v3d17`).  The poses are reordered to ours
and normalised exactly like a training split, with one factor per file
(:func:`normalise_pixels`, done by the caller).

* ``.pkl``: the original project's demo sample (docs/ORIGINAL.md, "LSP and the demo"), a
  dict with ``joints_2d`` (17, 2) already normalised, **ours order**, and
  ``original_joints_2d`` (17, 2) pixels in ours order (for drawing).  Read
  only with :func:`lib.utils.safe_io.safe_pickle_load`: a pickle that names
  anything but plain containers and NumPy arrays is refused before any of it
  runs.  ``joints_2d`` is lifted as it is.

Documentation files (``.md``, ``.txt``, ``.html``, ``.rst``) in the input
folder are skipped; hidden files are ignored; any other extension is an
error for that file.  Every problem is a :class:`UserError`, printed by the
caller as one line naming the file, so that the other files still run.
"""
import json
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from lib.data import skeleton as sk
from lib.data.split import MAX_PIXELS
from lib.inference.joint_orders import fill_missing, order_warning, to_v3d17
from lib.inference.keypoint_json import MIN_CONF, detector_layout
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz, safe_pickle_load

INPUT_SUFFIXES = ('.npy', '.npz', '.json', '.pkl')
DOC_SUFFIXES = ('.md', '.txt', '.html', '.rst')
PICTURE_SUFFIXES = ('.jpg', '.jpeg', '.png')     # the picture of a same-stem keypoint file

FORMATS_FIX = ('give (J, 2) or (T, J, 2) pixel keypoints (a third column = confidence) in the order of '
               '--joint-order (h36m: 17 joints, v3d); see scripts/demo_input/README.md')


@dataclass
class DemoInput:
    """One input file, read and checked."""
    path: str
    px_ours: np.ndarray                  # (T, 17, 2) pixels in ours order (for drawing; filled)
    x_norm: Optional[np.ndarray] = None  # (T, 17, 2) network input when the file holds it (.pkl)
    sequence: bool = False               # the file held (T, J, 2) rather than (J, 2)
    kind: str = 'v3d pixels'             # 'v3d pixels' | '<order> pixels' | 'original demo pickle' | ...
    missing: Optional[np.ndarray] = None  # (T, 17) ours order: joints filled by rule
    skipped: dict = field(default_factory=dict)   # frame -> why it cannot be lifted
    warning: Optional[str] = None        # the 2D does not look like a body in the order
    picture: Optional[str] = None        # a same-stem image beside the file, drawn under the 2D
    frames: Optional[list] = None        # video frames / the image (H, W, 3) RGB, when detected
    fps: Optional[float] = None          # frames per second of a video
    order: str = 'h36m'                  # the joint order the 2D came in

    @property
    def name(self):
        return os.path.basename(self.path)

    @property
    def valid(self):
        """(T,) bool: the frames that are lifted."""
        v = np.ones(len(self.px_ours), bool)
        v[list(self.skipped)] = False
        return v


def list_inputs(indir):
    """Sorted (inputs, docs) of ``indir``: candidate input files (unknown extensions
    included, so that they get their error) and documentation files to skip.  Pictures
    with the stem of a keypoint file belong to it (:func:`picture_of`): neither.  ``indir`` may
    also be one file: then it is the one input."""
    if os.path.isfile(indir):
        return [indir], []
    if not os.path.isdir(indir):
        raise UserError('input file or folder not found', indir,
                        'pass --indir with a keypoint file or a folder of them')
    names = [n for n in sorted(os.listdir(indir))
             if not n.startswith('.') and os.path.isfile(os.path.join(indir, n))]
    stems = {os.path.splitext(n)[0] for n in names if n.lower().endswith(INPUT_SUFFIXES)}
    inputs, docs = [], []
    for name in names:
        low = name.lower()
        if low.endswith(PICTURE_SUFFIXES) and os.path.splitext(name)[0] in stems:
            continue
        (docs if low.endswith(DOC_SUFFIXES) else inputs).append(os.path.join(indir, name))
    return inputs, docs


def picture_of(path):
    """The image beside a keypoint file with the same stem (``3.pkl`` -> ``3.jpg``), or None."""
    base = os.path.splitext(path)[0]
    for ext in PICTURE_SUFFIXES + tuple(e.upper() for e in PICTURE_SUFFIXES):
        if os.path.isfile(base + ext):
            return base + ext
    return None


def split_keypoints(arr, where, what='keypoints'):
    """-> (float64 (T, J, 2), confidence (T, J) or None, sequence?); UserError otherwise."""
    try:
        a = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError('%s are not numbers (or frames of different joint counts)' % what, where,
                        FORMATS_FIX) from None
    seq = a.ndim == 3
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] not in (2, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        raise UserError('%s have shape %s, expected (J, 2) or (T, J, 2), or with a confidence column '
                        '(J, 3) / (T, J, 3)' % (what, np.shape(arr)), where, FORMATS_FIX)
    conf = a[..., 2] if a.shape[-1] == 3 else None
    return a[..., :2], conf, seq


def check_magnitude(a, where, what='keypoints'):
    """UserError when finite keypoints ``a`` reach :data:`lib.data.split.MAX_PIXELS` (the bound the
    data readers use: beyond it values are not pixels, and normalising them would overflow)."""
    a = np.asarray(a, np.float64)
    top = np.abs(a[np.isfinite(a)]).max() if np.isfinite(a).any() else 0.0
    if top >= MAX_PIXELS:
        raise UserError('%s reach %.3g, beyond %g: not pixel coordinates' % (what, top, MAX_PIXELS), where,
                        'give pixel keypoints (an image is at most a few thousand pixels wide)')


def check_keypoints(arr, where, what='keypoints', v3d=True):
    """-> float64 (T, 17, 2) and whether the input was a sequence; UserError otherwise.

    With ``v3d`` the head (10) and hip (0) must not coincide in every frame.
    """
    a, conf, seq = split_keypoints(arr, where, what)
    if conf is not None or a.shape[1] != sk.NUM_JOINTS:
        raise UserError('%s have shape %s, expected (17, 2) or (T, 17, 2)' % (what, np.shape(arr)), where,
                        FORMATS_FIX)
    bad = ~np.isfinite(a).all((1, 2))
    if bad.any():
        raise UserError('%s hold NaN or inf (in %d of %d frames, first at frame %d)'
                        % (what, int(bad.sum()), len(a), int(np.argmax(bad))), where,
                        'remove or interpolate the frames with undetected joints, or give a confidence '
                        'column (T, J, 3) with 0 for them')
    check_magnitude(a, where, what)
    if v3d and not np.linalg.norm(a[:, sk.V3D_HEAD] - a[:, sk.V3D_ROOT], axis=-1).mean() > 0:
        raise UserError('%s are degenerate: head and hip coincide in every frame' % what, where,
                        'check the joint order (v3d: 0 Hip ... 10 Head)')
    return a, seq


def _read_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if 'pickle' in str(e).lower():
            raise UserError('.npy holds Python objects, not numbers', path, FORMATS_FIX) from None
        raise UserError('unreadable .npy (%s)' % str(e).split('\n')[0][:100], path, FORMATS_FIX) from None
    except (OSError, EOFError) as e:
        raise UserError('unreadable .npy (%s)' % str(e).split('\n')[0][:100], path, FORMATS_FIX) from None


def _read_npz(path):
    d = load_npz(path, what='.npz input', fix=FORMATS_FIX)
    if 'keypoints' in d:
        kps = np.asarray(d['keypoints'])
        for key in ('keypoint_scores', 'scores'):
            if key in d and kps.ndim in (2, 3) and kps.shape[-1] == 2:
                sc = np.asarray(d[key], np.float64)
                if sc.shape != kps.shape[:-1]:
                    raise UserError('"%s" has shape %s, the keypoints %s' % (key, sc.shape, kps.shape), path,
                                    'give one score per joint: (T, J) for (T, J, 2) keypoints')
                return np.concatenate([kps, sc[..., None]], -1)
        return kps
    arrays = [v for v in d.values() if isinstance(v, np.ndarray)]
    if len(d) == 1 and arrays:
        return arrays[0]
    raise UserError('.npz has no "keypoints" array and %d members (%s)'
                    % (len(d), ', '.join(sorted(d))[:80] or 'none'), path,
                    'store the keypoints under the key "keypoints"')
def _read_json(path):
    """-> (keypoints, sequence or None when the shape says)."""
    try:
        with open(path, encoding='utf-8') as f:
            obj = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError('malformed JSON (%s)' % str(e).split('\n')[0][:100], path, FORMATS_FIX) from None
    found = detector_layout(obj, path)
    if found is not None:
        return found
    if isinstance(obj, dict):
        if 'keypoints' not in obj:
            raise UserError('JSON object has no "keypoints" key (keys: %s)' % ', '.join(sorted(obj))[:80], path,
                            'write {"keypoints": [[x, y], ...]} or a plain list; detector files: '
                            'OpenPose {"people": [...]} or MMPose [{"keypoints": ..., "keypoint_scores": ...}]')
        obj = obj['keypoints']
    if not isinstance(obj, list):
        raise UserError('JSON keypoints must be a list, got %s' % type(obj).__name__, path, FORMATS_FIX)
    return obj, None


def _read_pkl(path):
    obj = safe_pickle_load(path)
    if not isinstance(obj, dict) or 'joints_2d' not in obj:
        raise UserError('pickle is not an original demo sample (a dict with joints_2d)', path,
                        'give a dict with joints_2d (normalised, ours order) and original_joints_2d (pixels)')
    x, seq = check_keypoints(obj['joints_2d'], path, 'joints_2d', v3d=False)
    if np.abs(x).max() > 5:
        raise UserError('joints_2d does not look normalised (values up to %.0f)' % np.abs(x).max(), path,
                        'joints_2d must be root-centred network input (head-root about 0.1); '
                        'give pixels as .npy/.npz/.json in v3d order instead')
    if obj.get('original_joints_2d') is not None:
        px, _ = check_keypoints(obj['original_joints_2d'], path, 'original_joints_2d', v3d=False)
        if px.shape != x.shape:
            raise UserError('original_joints_2d has shape %s but joints_2d %s' % (px.shape, x.shape), path,
                            'give both for the same frames')
    else:
        px = x * 1000.0 + 500.0          # no pixels: draw the normalised pose, magnified
    return DemoInput(path=path, px_ours=px, x_norm=x.astype(np.float32), sequence=seq,
                     kind='original demo pickle')


def read_input(path, order='h36m', min_conf=MIN_CONF):
    """Read one input file -> :class:`DemoInput`; UserError (one line) on any problem.

    ``order``: the joint order of ``.npy/.npz/.json`` keypoints
    (:mod:`lib.inference.joint_orders`); ``.pkl`` files are always the original's
    demo samples (ours order, normalised).
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in INPUT_SUFFIXES:
        raise UserError('unknown input type %r' % (ext or '(no extension)'), path,
                        'use .npy, .npz, .json (pixel keypoints) or .pkl (original demo sample)')
    try:
        if ext == '.pkl':
            inp = _read_pkl(path)
            inp.picture = picture_of(path)
            return inp
        raw, seq = (_read_json(path) if ext == '.json' else
                    ({'.npy': _read_npy, '.npz': _read_npz}[ext](path), None))
    except OSError as e:
        raise UserError('cannot read the file (%s)' % (e.strerror or e), path,
                        'check that it exists and is readable') from None
    kps, conf, is_seq = split_keypoints(raw, path)
    inp = keypoints_input(path, kps, conf, is_seq if seq is None else seq, order, min_conf)
    inp.picture = picture_of(path)
    return inp


def keypoints_input(path, kps, conf, sequence, order='h36m', min_conf=MIN_CONF, nobody=()):
    """(T, J, 2) pixel keypoints in ``order`` (+ confidence (T, J) or None) -> :class:`DemoInput`.

    Missing joints are filled by :func:`lib.inference.joint_orders.fill_missing`;
    frames in ``nobody`` (no person detected) and frames lacking a required
    joint are listed in ``skipped``.  UserError when no frame is left.
    """
    kps = np.asarray(kps, np.float64)
    used = np.ones(kps.shape[:2], bool) if conf is None else ~(np.asarray(conf, np.float64) < min_conf)
    bad = ~np.isfinite(kps).all(-1) & used
    if bad.any():
        t = int(np.argmax(bad.any(1)))
        raise UserError('keypoints hold NaN or inf (in %d of %d frames, first at frame %d)'
                        % (int(bad.any(1).sum()), len(kps), t), path,
                        'remove or interpolate the frames with undetected joints, or give a confidence '
                        'column (T, J, 3) with 0 for them')
    check_magnitude(np.where(used[..., None], kps, 0.0), path)
    try:
        px, miss = to_v3d17(kps, order, conf, min_conf)
    except UserError as e:
        raise UserError(e.what, path, e.fix) from None
    px, miss, reasons = fill_missing(px, miss)
    skipped = {int(t): 'no person found' for t in nobody}
    skipped.update({t: 'missing ' + r for t, r in enumerate(reasons) if r and t not in skipped})
    valid = np.array([t not in skipped for t in range(len(px))])
    if not valid.any():
        first = skipped[min(skipped)]
        raise UserError('no frame can be lifted (frame %d: %s)' % (min(skipped), first), path,
                        'the pelvis, both hips, both shoulders and the head top are needed in a frame')
    if not np.linalg.norm(px[valid, sk.V3D_HEAD] - px[valid, sk.V3D_ROOT], axis=-1).mean() > 0:
        raise UserError('keypoints are degenerate: head and hip coincide in every frame', path,
                        'check the joint order (--joint-order; h36m: 0 Hip ... 10 Head)')
    warning = order_warning(kps[valid], order, None if conf is None else np.asarray(conf)[valid], min_conf)
    miss_ours = sk.v3d_to_ours(miss[..., None])[..., 0] & valid[:, None]
    return DemoInput(path=path, px_ours=sk.v3d_to_ours(px), sequence=bool(sequence),
                     kind='v3d pixels' if order == 'h36m' else order + ' pixels',
                     missing=miss_ours if miss_ours.any() else None, skipped=skipped, order=order,
                     warning=None if warning is None else '%s (%s)' % (warning, os.path.basename(path)))

