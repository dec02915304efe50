"""The authors' prediction file, ``<dataset>_valid_pred_3d.h5``, as their ``main.py --eval`` wrote it.

Their plotting and checking scripts (``plot1.py``, ``plot2.py``,
``mpi_plot1.py``, ``validate_project.py``) read this file.  It is written next
to ``results.json`` (never into the data folder, where the original put it),
atomically.  One row per evaluated frame, in file order; joints in ours order
(:mod:`lib.data.skeleton`):

* ``imagename`` (N,) bytes: the data file's; for data without one (the
  VideoPose3D archives, converted BVH) ``<subject>/<action>/<camera>/<frame>``,
  the form of the authors' Human3.6M files (``S9/Directions 1/0/123``);
* ``joint_2d_gt`` (N, 17, C) pixels: the data file's ``joint_2d_gt`` (all its
  columns) reordered to ours; otherwise the 2D input the model saw, in pixels;
* ``joint_3d_gt`` (N, 17, 3) metres, root-centred ground truth;
* ``joint_3d_pre`` (N, 17, 3) metres, the root-centred prediction scaled as the
  evaluation scales it (the frame's ground-truth head-root length, or the
  dataset's constant with ``DATA.USE_SAME_NORM_3D``);
* copied from the data file when it has them (rows of the evaluated frames;
  joint arrays reordered to ours): ``shape``, ``pose``,
  ``original_joint_2d_gt``, ``joint_2d_pre``, ``seqlen``, ``seqname``; for data
  without a file, ``seqname`` = ``<subject>/<action>/<camera>`` and ``seqlen``;
* MPI-INF-3DHP: ``auc``, ``pckh5``, ``auc_p2``, ``pckh5_p2`` (scalars);
* with a scaler: ``scale_pre`` and ``scale_mid_pre`` (N, 1).

Differences from the original: frames dropped for non-finite keypoints
(``DATA.DROP_NONFINITE``) or skipped by ``EVAL.STRIDE`` are not in the file.
"""
import os

import numpy as np

from lib.data.formats import get_spec
from lib.utils.safe_io import atomic_path

COPIED_KEYS = ('shape', 'pose', 'original_joint_2d_gt', 'joint_2d_pre', 'seqlen', 'seqname')
PCK_KEYS = ('auc', 'pckh5', 'auc_p2', 'pckh5_p2')


def file_name(dataset_name):
    return '%s_valid_pred_3d.h5' % dataset_name


def _from_data_file(path, rows, to_ours):
    """The arrays the original copied from its input file, for the given rows."""
    import h5py
    out = {}
    with h5py.File(path, 'r') as f:
        out['imagename'] = np.asarray(f['imagename'][()])[rows]
        for key in ('joint_2d_gt',) + COPIED_KEYS:
            if key in f:
                a = np.asarray(f[key][()])[rows]
                out[key] = a[:, to_ours] if 'joint' in key else a
    return out


def _synthesised(split, idx):
    """imagename / seqname / seqlen for data that has no imagename."""
    seq = np.array(['%s/%s/%d' % (s, a, c) for s, a, c in
                    zip(split.subject[idx], split.action[idx], split.camera[idx])])
    names = np.array(['%s/%d' % (q, f) for q, f in zip(seq, split.frame[idx])])
    _, inv, counts = np.unique(seq, return_inverse=True, return_counts=True)
    return {'imagename': np.char.encode(names.astype(str), 'utf-8'),
            'seqname': np.char.encode(seq.astype(str), 'utf-8'),
            'seqlen': counts[inv.reshape(-1)].astype(np.int64)}


def prediction_arrays(dataset_name, split, idx, pred_m, gt_rc, res, scale=None, scale_mid=None):
    """Every array of the file, as a dict (see the module docstring)."""
    spec = get_spec(dataset_name)
    src = split.extra.get('h5_path')
    if src and 'row' in split.extra:
        out = _from_data_file(src, split.extra['row'][idx], np.asarray(spec.to_ours))
    else:
        out = _synthesised(split, idx)
    out.setdefault('joint_2d_gt', np.asarray(split.pose_2d_px[idx], np.float32))
    out['joint_3d_gt'] = np.asarray(gt_rc, np.float32)
    out['joint_3d_pre'] = np.asarray(pred_m, np.float32)
    for k in PCK_KEYS:
        if k in res:
            out[k] = np.float64(res[k])
    if scale is not None:
        out['scale_pre'] = np.asarray(scale, np.float32).reshape(-1, 1)
    if scale_mid is not None:
        out['scale_mid_pre'] = np.asarray(scale_mid, np.float32).reshape(-1, 1)
    return out


def write_prediction_file(out_dir, dataset_name, split, idx, pred_m, gt_rc, res, scale=None, scale_mid=None):
    """Write ``out_dir/<dataset>_valid_pred_3d.h5`` atomically; returns its path."""
    import h5py
    arrays = prediction_arrays(dataset_name, split, idx, pred_m, gt_rc, res, scale, scale_mid)
    path = os.path.join(out_dir, file_name(dataset_name))
    with atomic_path(path, suffix='.h5') as tmp:
        with h5py.File(tmp, 'w') as f:
            for k, v in arrays.items():
                f[k] = v
    return path
