"""Write 3D motion in the authors' MPI-INF-3DHP and SURREAL file layouts.

For tests and for trying the MPI / SURREAL paths on any motion capture: each
clip is placed in front of a pinhole camera the size of the dataset's frames
(MPI-INF-3DHP 2048x2048, SURREAL 320x240), projected, and written as
``<dataset>_<split>_pred3.h5`` in the layout :mod:`lib.data.mpi_surreal`
reads:

* ``mpi``: ``imagename`` ``<sequence>/img_%06d.jpg`` (frame numbers from 1),
  ``joint_2d_gt`` (N, 17, 2) pixels, ``joint_2d_pre`` (the same plus Gaussian
  noise, ``noise_px``), ``joint_3d_gt`` (N, 17, 3) millimetres, MPI-INF-3DHP
  joint order.
* ``surreal``: ``imagename`` ``<sequence>/%06d.jpg``, ``original_joint_2d_gt``
  (N, 17, 2) pixels, ``joint_2d_gt`` (a copy: the original's ``--eval`` copies
  this key, its reader uses the other), ``joint_3d_gt`` metres, ``seqname``,
  ``index_in_seq``, ``seqlen`` (the original's SURREAL reader needs them in the
  file), joints in ours order.

The cameras are not the datasets' calibrations: a focal length that frames a
person well (1500 px for 2048x2048, 600 px for 320x240), the principal point
at the image centre, looking down 15 degrees (:func:`world_to_view`).
"""
import os
from dataclasses import dataclass

import numpy as np

from lib.data import skeleton as sk
from lib.data.dataset import H36M_TEST_SUBJECTS, H36M_TRAIN_SUBJECTS
from lib.data.formats import OURS_TO_MPI
from lib.utils.errors import UserError
from lib.utils.outputs import create_output_dir
from lib.utils.safe_io import atomic_path, load_npz


@dataclass(frozen=True)
class Pinhole:
    width: int
    height: int
    focal: float

    def project(self, X_cam):
        """Camera-frame points (..., 3) -> pixels (..., 2) (x right, y down, z forward)."""
        X = np.asarray(X_cam, np.float64)
        return np.stack([X[..., 0] / X[..., 2] * self.focal + self.width / 2.0,
                         X[..., 1] / X[..., 2] * self.focal + self.height / 2.0], -1)

    def in_view(self, uv, margin=2.0):
        return bool(np.all((uv[..., 0] >= margin) & (uv[..., 0] <= self.width - margin) &
                           (uv[..., 1] >= margin) & (uv[..., 1] <= self.height - margin)))


CAMERAS = {'mpi': Pinhole(2048, 2048, 1500.0), 'surreal': Pinhole(320, 240, 600.0)}


def world_to_view(X_world, cam, distance=4.0, pitch_deg=15.0, max_distance=40.0):
    """Place a clip (T, 17, 3) of z-up world metres (v3d order) in front of ``cam``.

    The camera looks at the clip's mean root position (at the clip's mean height) along
    world +y, pitched down by ``pitch_deg`` (15 degrees: roughly the Human3.6M cameras, whose
    view of the world vertical is the tilted azimuth axis of the rotation cycle), from
    ``distance`` metres (farther, in steps of 10 %, if the clip would leave the image).
    Returns camera-frame metres (x right, y down, z forward).
    """
    X = np.asarray(X_world, np.float64)
    centre = X[:, sk.V3D_ROOT].mean(0)
    centre[2] = X[..., 2].mean()
    Y = X - centre
    c, s = np.cos(np.radians(pitch_deg)), np.sin(np.radians(pitch_deg))
    level = np.stack([Y[..., 0], -Y[..., 2], Y[..., 1]], -1)            # a level camera's axes
    rel = np.stack([level[..., 0], c * level[..., 1] - s * level[..., 2],
                    s * level[..., 1] + c * level[..., 2]], -1)           # pitched down
    d = float(distance)
    if not 0 < d <= max_distance:
        raise UserError('camera distance %g m is outside (0, %g]' % (d, max_distance), '--distance',
                        'give a distance in metres, e.g. 4.5')
    for _ in range(int(np.ceil(np.log(max_distance / d) / np.log(1.1))) + 1):   # at most ~60 tries
        Xc = rel + np.array([0.0, 0.0, d])
        if Xc[..., 2].min() > 0.5 and cam.in_view(cam.project(Xc)):
            return Xc
        d *= 1.1
        if d > max_distance:
            break
    raise UserError('the clip does not fit in a %dx%d image from up to %g m'
                    % (cam.width, cam.height, max_distance), 'world_to_view', 'use a shorter clip')


def _rows(clips, cam):
    """(sequence names, index in sequence, 2D pixels, 3D metres) over clips, v3d order."""
    seqs, index, p2, p3 = [], [], [], []
    for seq, Xc in clips.items():
        Xc = np.asarray(Xc, np.float64)
        n = len(Xc)
        seqs += [seq] * n
        index.append(np.arange(n))
        p2.append(cam.project(Xc))
        p3.append(Xc)
    return seqs, np.concatenate(index), np.concatenate(p2), np.concatenate(p3)


def write_layout(path, dataset_name, clips, noise_px=2.0, seed=0):
    """Write ``clips`` ({sequence name: camera-frame (T, 17, 3) metres, v3d order}) to ``path``.

    ``dataset_name`` is 'mpi' or 'surreal'; the camera is :data:`CAMERAS` [dataset_name].
    """
    import h5py
    cam = CAMERAS[dataset_name]
    seqs, index, p2, p3 = _rows(clips, cam)
    p2, p3 = sk.v3d_to_ours(p2), sk.v3d_to_ours(p3)
    seqs = np.array(seqs)
    arrays = {}
    if dataset_name == 'mpi':
        arrays['imagename'] = ['%s/img_%06d.jpg' % (s, i + 1) for s, i in zip(seqs, index)]
        arrays['joint_2d_gt'] = p2[:, OURS_TO_MPI].astype(np.float32)
        noise = np.random.RandomState(seed).normal(0, noise_px, p2.shape)
        arrays['joint_2d_pre'] = (p2 + noise)[:, OURS_TO_MPI].astype(np.float32)
        arrays['joint_3d_gt'] = (p3[:, OURS_TO_MPI] * 1000.0).astype(np.float32)
    else:
        arrays['imagename'] = ['%s/%06d.jpg' % (s, i + 1) for s, i in zip(seqs, index)]
        arrays['original_joint_2d_gt'] = p2.astype(np.float32)
        arrays['joint_2d_gt'] = p2.astype(np.float32)
        arrays['joint_3d_gt'] = p3.astype(np.float32)
        _, inv, counts = np.unique(seqs, return_inverse=True, return_counts=True)
        arrays.update({'seqname': list(seqs), 'index_in_seq': index.astype(np.int64),
                       'seqlen': counts[inv.reshape(-1)].astype(np.int64)})
    with atomic_path(path, suffix='.h5') as tmp:
        with h5py.File(tmp, 'w') as f:
            for k, v in arrays.items():
                f[k] = np.char.encode(np.asarray(v, str), 'utf-8') if isinstance(v, list) else v
    return path


def _clip(X, where):
    """One clip of a data_3d archive as (T, 17, 3) world metres; UserError if it is not one."""
    try:
        X = np.asarray(X, np.float64)
    except (TypeError, ValueError):
        raise UserError('clip is not numbers', where, 'use a data_3d_<name>.npz written by tools/prepare_data.py '
                        'bvh') from None
    if X.ndim != 3 or X.shape[1] not in (17, 32) or X.shape[2] != 3 or len(X) == 0:
        raise UserError('clip has shape %s, expected (T >= 1, 17 or 32, 3)' % (X.shape,), where,
                        'use a data_3d_<name>.npz of 17 (or H36M 32) joints, world metres')
    if not np.isfinite(X).all() or np.abs(X).max() > 1e4:
        raise UserError('clip holds NaN, inf or coordinates beyond 10 km', where,
                        'give world metres (check the units), without missing values')
    return X[:, sk.H36M32_TO_V3D] if X.shape[1] == 32 else X


def archives_to_layout(path_3d, dataset_name, out_dir, distance=None):
    """Convert a ``data_3d_<name>.npz`` archive (world metres, z up, v3d order; its
    metadata's train / test subjects) to ``<dataset>_{train,valid}_pred3.h5`` in ``out_dir``.

    Each clip becomes one sequence ``<subject>/<action>`` seen by :data:`CAMERAS`
    [dataset_name] from ``distance`` metres (default 4.5 for MPI, 6 for SURREAL; farther
    when the clip needs it).  Returns {split: (path, frames)}.
    """
    a = load_npz(path_3d, '3D archive', 'pass a data_3d_<name>.npz written by tools/prepare_data.py bvh')
    if not isinstance(a.get('positions_3d'), dict):
        raise UserError('3D archive has no positions_3d dict', path_3d, 'use the VideoPose3D layout')
    meta = a.get('metadata') if isinstance(a.get('metadata'), dict) else {}
    cam = CAMERAS[dataset_name]
    d = (4.5 if dataset_name == 'mpi' else 6.0) if distance is None else distance
    todo = {}
    for split, subjects in (('train', meta.get('train_subjects') or H36M_TRAIN_SUBJECTS),
                            ('valid', meta.get('test_subjects') or H36M_TEST_SUBJECTS)):
        clips = {}
        for s in subjects:
            acts = a['positions_3d'].get(s, {})
            if not isinstance(acts, dict):
                raise UserError('positions_3d[%r] is not a dict of clips' % s, path_3d, 'use the VideoPose3D layout')
            for act, X in sorted(acts.items()):
                X = _clip(X, '%s: positions_3d/%s/%s' % (path_3d, s, act))
                clips['%s/%s' % (s, act)] = world_to_view(X, cam, d)
        if not clips:
            raise UserError('no clips for the %s split (subjects %s)' % (split, subjects), path_3d,
                            'give the archive train_subjects / test_subjects in its metadata')
        todo[split] = clips
    # everything is read and placed: only now is the output folder made and written
    create_output_dir(out_dir, '--out')
    out = {}
    for split, clips in todo.items():
        path = os.path.join(out_dir, '%s_%s_pred3.h5' % (dataset_name, split))
        write_layout(path, dataset_name, clips)
        out[split] = (path, sum(len(c) for c in clips.values()))
    return out
