"""Reading the demo's 2D keypoint files (``scripts/inference.py``).

Accepted inputs, one pose ``(17, 2)`` or a sequence ``(T, 17, 2)`` per file:

* ``.npy``: an array of 2D keypoints.
* ``.npz``: the array under the key ``keypoints``, or the archive's only
  array.  Read with :func:`lib.utils.safe_io.load_npz` (no code runs).
* ``.json``: a list (``[[x, y], ...]`` or a list of such frames) or a dict
  with the key ``keypoints`` holding one.

These three hold **pixels in the Human3.6M-17 / VideoPose3D (v3d) order**
(0 Hip, 1 RHip, 2 RKnee, 3 RAnkle, 4 LHip, 5 LKnee, 6 LAnkle, 7 Spine,
8 Thorax, 9 Neck/Nose, 10 Head, 11 LShoulder, 12 LElbow, 13 LWrist,
14 RShoulder, 15 RElbow, 16 RWrist).  They are reordered to ours and
normalised exactly like a training split, with one factor per file
(:func:`lib.core.inference.normalise_pixels`, done by the caller).

* ``.pkl``: the original project's demo sample (ORIGINAL_CODE.md 7.4), a
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
from dataclasses import dataclass
from typing import Optional

import numpy as np

from lib.data import skeleton as sk
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz, safe_pickle_load

INPUT_SUFFIXES = ('.npy', '.npz', '.json', '.pkl')
DOC_SUFFIXES = ('.md', '.txt', '.html', '.rst')

FORMATS_FIX = ('give (17, 2) or (T, 17, 2) pixel keypoints in the H36M-17 (v3d) order; '
               'see scripts/demo_input/README.md')


@dataclass
class DemoInput:
    """One input file, read and checked."""
    path: str
    px_ours: np.ndarray                  # (T, 17, 2) pixels in ours order (for drawing)
    x_norm: Optional[np.ndarray] = None  # (T, 17, 2) network input when the file holds it (.pkl)
    sequence: bool = False               # the file held (T, 17, 2) rather than (17, 2)
    kind: str = 'v3d pixels'             # 'v3d pixels' | 'original demo pickle'

    @property
    def name(self):
        return os.path.basename(self.path)


def list_inputs(indir):
    """Sorted (inputs, docs) of ``indir``: candidate input files (unknown extensions
    included, so that they get their error) and documentation files to skip."""
    if not os.path.isdir(indir):
        raise UserError('input folder not found', indir, 'pass --indir with a folder of keypoint files')
    inputs, docs = [], []
    for name in sorted(os.listdir(indir)):
        path = os.path.join(indir, name)
        if name.startswith('.') or not os.path.isfile(path):
            continue
        (docs if name.lower().endswith(DOC_SUFFIXES) else inputs).append(path)
    return inputs, docs


def check_keypoints(arr, where, what='keypoints', v3d=True):
    """-> float64 (T, 17, 2) and whether the input was a sequence; UserError otherwise.

    With ``v3d`` the head (10) and hip (0) must not coincide in every frame.
    """
    try:
        a = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError('%s are not numbers' % what, where, FORMATS_FIX) from None
    if a.ndim == 2 and a.shape == (sk.NUM_JOINTS, 2):
        seq = False
        a = a[None]
    elif a.ndim == 3 and a.shape[1:] == (sk.NUM_JOINTS, 2) and a.shape[0] >= 1:
        seq = True
    else:
        raise UserError('%s have shape %s, expected (17, 2) or (T, 17, 2)' % (what, a.shape), where,
                        FORMATS_FIX)
    bad = ~np.isfinite(a).all((1, 2))
    if bad.any():
        raise UserError('%s hold NaN or inf (in %d of %d frames, first at frame %d)'
                        % (what, int(bad.sum()), len(a), int(np.argmax(bad))), where,
                        'remove or interpolate the frames with undetected joints')
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
        return d['keypoints']
    arrays = [v for v in d.values() if isinstance(v, np.ndarray)]
    if len(d) == 1 and arrays:
        return arrays[0]
    raise UserError('.npz has no "keypoints" array and %d members (%s)'
                    % (len(d), ', '.join(sorted(d))[:80] or 'none'), path,
                    'store the keypoints under the key "keypoints"')


def _read_json(path):
    try:
        with open(path, encoding='utf-8') as f:
            obj = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError('malformed JSON (%s)' % str(e).split('\n')[0][:100], path, FORMATS_FIX) from None
    if isinstance(obj, dict):
        if 'keypoints' not in obj:
            raise UserError('JSON object has no "keypoints" key', path,
                            'write {"keypoints": [[x, y], ...]} or a plain list')
        obj = obj['keypoints']
    if not isinstance(obj, list):
        raise UserError('JSON keypoints must be a list, got %s' % type(obj).__name__, path, FORMATS_FIX)
    return obj


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


def read_input(path):
    """Read one input file -> :class:`DemoInput`; UserError (one line) on any problem."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in INPUT_SUFFIXES:
        raise UserError('unknown input type %r' % (ext or '(no extension)'), path,
                        'use .npy, .npz, .json (v3d pixels) or .pkl (original demo sample)')
    try:
        if ext == '.pkl':
            return _read_pkl(path)
        raw = {'.npy': _read_npy, '.npz': _read_npz, '.json': _read_json}[ext](path)
    except OSError as e:
        raise UserError('cannot read the file (%s)' % (e.strerror or e), path,
                        'check that it exists and is readable') from None
    px, seq = check_keypoints(raw, path)
    return DemoInput(path=path, px_ours=sk.v3d_to_ours(px), sequence=seq)


def json_text(obj):
    """JSON with one top-level key per line and each value on that line (compact, diff-able)."""
    if not isinstance(obj, dict):
        return json.dumps(obj) + '\n'
    rows = ['  %s: %s' % (json.dumps(str(k)), json.dumps(v, separators=(', ', ': '))) for k, v in obj.items()]
    return '{\n' + ',\n'.join(rows) + '\n}\n'


def output_stems(paths):
    """Output stem per input: the file stem, or stem_ext when two inputs share a stem."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    out = []
    for p, s in zip(paths, stems):
        if stems.count(s) > 1:
            s = '%s_%s' % (s, os.path.splitext(p)[1].lstrip('.').lower())
        out.append(s)
    return out
