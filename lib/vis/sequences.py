"""Per-sequence animations of an evaluation, as the authors' ``plot1.py`` / ``plot2.py`` made them.

Reads either output of ``tools/main.py --eval``:

* ``predictions.npz``: ``pred`` (network units) and ``gt`` (mm), root-centred,
  v3d order, ``pose_2d_px`` (the 2D input, absent in files written before it
  was added), and ``subject`` / ``action`` / ``camera`` / ``frame``.  The
  prediction is scaled by each frame's ground-truth head-root length, as the
  evaluation does by default.
* the authors' ``<dataset>_valid_pred_3d.h5`` (:mod:`lib.eval.prediction_file`):
  ``joint_3d_pre`` / ``joint_3d_gt`` in metres and ``joint_2d_gt`` in pixels,
  ours order; sequences by ``seqname`` (else ``imagename`` without its last
  component), in file order.

Each sequence becomes one animation: the 2D input (pixels), the predicted 3D
pose (joint colours of :mod:`lib.vis.plot`) over the ground truth (grey), and
the per-frame MPJPE with the current frame marked.  Unlike the authors'
scripts there are no video frames behind the 2D (the images are not part of
the data files).  GIF through Pillow; MP4 through ffmpeg when it is installed.
"""
import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from lib.data import skeleton as sk
from lib.data.dataset import head_root_length
from lib.data.h5_files import h5_array, open_h5
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz


@dataclass
class Sequence:
    name: str
    pose_2d: Optional[np.ndarray]   # (T, 17, 2) pixels, ours order, or None
    pred: np.ndarray                # (T, 17, 3) metres, root-centred, ours order
    gt: np.ndarray                  # (T, 17, 3) metres, root-centred, ours order

    @property
    def error_mm(self):
        return np.linalg.norm(self.pred - self.gt, axis=-1).mean(-1) * 1000.0


def _need(arrays, keys, path):
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise UserError('prediction file has no %s' % ', '.join(missing), path,
                        'pass predictions.npz or <dataset>_valid_pred_3d.h5 written by tools/main.py --eval')


FIX = 'pass a prediction file of 17-joint poses written by tools/main.py --eval'


def _check(a, path, key, dims):
    try:
        a = np.asarray(a, np.float64)
    except (TypeError, ValueError):
        raise UserError('%s is not numbers (dtype %s)' % (key, np.asarray(a).dtype), path, FIX) from None
    sk.check_joints_shape(a, path, key, dims, FIX, at_least_in_message=False)
    if len(a) == 0:
        raise UserError('%s has no frames' % key, path, 'evaluate again to rewrite the file')
    if not np.isfinite(a).all():
        raise UserError('%s holds NaN or inf values' % key, path, 'evaluate again to rewrite the file')
    if np.abs(a).max() >= 1e7:
        raise UserError('%s reaches %.3g, not poses in mm, m or pixels' % (key, np.abs(a).max()), path, FIX)
    return a[..., :dims]


def _same_length(path, **arrays):
    lens = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lens.values())) > 1:
        raise UserError('the arrays differ in length (%s)' % ', '.join('%s %d' % kv for kv in lens.items()), path,
                        'evaluate again to rewrite the file')


def _root_centred(a):
    return a - a[:, sk.ROOT:sk.ROOT + 1]


def _read_npz(path):
    z = load_npz(path, 'prediction file', 'pass predictions.npz written by tools/main.py --eval')
    _need(z, ('pred', 'gt', 'subject', 'action', 'camera', 'frame'), path)
    gt = _root_centred(sk.v3d_to_ours(_check(np.asarray(z['gt']), path, 'gt', 3))) / 1000.0
    pred = _root_centred(sk.v3d_to_ours(_check(np.asarray(z['pred']), path, 'pred', 3)))
    p2 = sk.v3d_to_ours(_check(np.asarray(z['pose_2d_px']), path, 'pose_2d_px', 2)) if 'pose_2d_px' in z else None
    cols = {k: np.ravel(np.asarray(z[k])) for k in ('subject', 'action', 'camera', 'frame')}
    _same_length(path, pred=pred, gt=gt, pose_2d_px=p2, **cols)
    pred = pred * head_root_length(gt)[:, None, None]
    if cols['frame'].dtype.kind not in 'iuf':
        raise UserError('frame is not numbers (dtype %s)' % cols['frame'].dtype, path, FIX)
    z = dict(z, **cols)
    seq = np.array(['%s/%s/%s' % k for k in zip(z['subject'], z['action'], z['camera'])])
    frame = np.asarray(z['frame'])
    return seq, frame, p2, pred, gt


def _read_h5(path):
    with open_h5(path, 'the file is truncated or not HDF5: evaluate again') as f:
        _need(f, ('joint_3d_pre', 'joint_3d_gt', 'joint_2d_gt', 'imagename'), path)
        arrays = {k: h5_array(f, k, path, FIX) for k in ('joint_3d_pre', 'joint_3d_gt', 'joint_2d_gt')}
        names = h5_array(f, 'imagename', path, FIX, text=True)
        seq = h5_array(f, 'seqname', path, FIX, text=True) if 'seqname' in f else None
    seq = seq if seq is not None else np.array([n.rsplit('/', 1)[0] for n in names])
    pred = _root_centred(_check(arrays['joint_3d_pre'], path, 'joint_3d_pre', 3))
    gt = _root_centred(_check(arrays['joint_3d_gt'], path, 'joint_3d_gt', 3))
    p2 = _check(arrays['joint_2d_gt'], path, 'joint_2d_gt', 2)
    _same_length(path, sequence_names=seq, joint_3d_pre=pred, joint_3d_gt=gt, joint_2d_gt=p2)
    return seq, np.arange(len(seq)), p2, pred, gt


def load_sequences(path):
    """All sequences of a prediction file, in order of first appearance, frames in order."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError('prediction file not found', path, 'pass --pred predictions.npz or *_valid_pred_3d.h5')
    seq, frame, p2, pred, gt = (_read_h5 if path.endswith('.h5') else _read_npz)(path)
    names, first = np.unique(seq, return_index=True)
    out = []
    for name in names[np.argsort(first)]:
        rows = np.flatnonzero(seq == name)
        rows = rows[np.argsort(frame[rows], kind='stable')]
        out.append(Sequence(str(name), None if p2 is None else p2[rows], pred[rows], gt[rows]))
    return out


def select(seqs, names=None, count=1):
    """The sequences named (exactly, or by a unique substring), else the first ``count``."""
    if not names:
        return seqs[:max(1, int(count))]
    by_name = {s.name: s for s in seqs}
    chosen = []
    for n in names:
        hits = [by_name[n]] if n in by_name else [s for s in seqs if n in s.name]
        if len(hits) != 1:
            shown = ', '.join(s.name for s in seqs[:8]) + (' ...' if len(seqs) > 8 else '')
            raise UserError('%s sequence matches %r' % ('no' if not hits else 'more than one', n), '--seq',
                            'name one of: %s' % shown)
        chosen.append(hits[0])
    return chosen


def file_stem(name):
    return re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('_') or 'sequence'
