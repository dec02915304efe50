"""Readers of the authors' MPI-INF-3DHP and SURREAL files (``mpi_*_pred3.h5``, ``surreal_*_pred3.h5``).

Layouts (the authors' ``lib/dataloader/mpiinf.py`` and ``surreal.py``); N frames:

* MPI-INF-3DHP: ``imagename`` (N,) bytes, e.g. ``TS1/imageSequence/img_000001.jpg``;
  ``joint_2d_gt`` and ``joint_2d_pre`` (N, 17, >=2) pixels of the 2048x2048
  frames; ``joint_3d_gt`` (N, 17, >=3) millimetres, camera frame; joints in the
  MPI-INF-3DHP 17-joint order (:data:`lib.data.formats.MPI_NAMES`), mapped to
  ours with the authors' ``mpi2h36m``.
* SURREAL: ``imagename``; ``original_joint_2d_gt`` (N, 17, >=2) pixels of the
  320x240 frames (only GT 2D: the original asserts ``USE_GT``); ``joint_3d_gt``
  (N, 17, >=3) metres; joints already in ours order.

Sequences.  The sequence of a frame is its ``imagename`` without the last path
component (the ``seqname`` key when the file has one).  As in the original,
the frame's place in its sequence is its rank among the rows of that
sequence, in file order (MPI); the number in the file name is not used.
Every sequence must be stored in one block of consecutive rows.  The file is
opened read-only: nothing is written back (the original added ``seqname`` /
``index_in_seq`` / ``seqlen`` to the data file itself).

The result is a :class:`lib.data.split.PoseSplit` (pixels and metres, ours
order) whose ``subject`` is the first component of the sequence name and
``action`` the rest, with ``extra['seqname']`` (per frame), ``extra['row']``
(the frame's row in the file) and ``extra['h5_path']``.
"""
import os

import numpy as np

from lib.data import skeleton as sk
from lib.data.formats import get_spec
from lib.data.h5_files import h5_array, open_h5, require_keys
from lib.data.split import PoseSplit
from lib.utils.errors import UserError


def _read_arrays(path, spec, use_gt):
    if not use_gt and not spec.key_2d_pre:
        raise UserError('the %s files hold ground-truth 2D only' % spec.name, path,
                        'set USE_GT: true (as the original requires for this dataset)')
    key2d = spec.key_2d_gt if use_gt else spec.key_2d_pre
    fix = ('use the authors\' %s_{train,valid}_pred3.h5 layout (keys imagename, %s, joint_3d_gt; '
           'see README, "Data")' % (spec.name, key2d))
    with open_h5(path) as f:
        require_keys(f, ('imagename', key2d, 'joint_3d_gt'), path, fix)
        names = h5_array(f, 'imagename', path, fix, text=True)
        seqname = h5_array(f, 'seqname', path, fix, text=True) if 'seqname' in f else None
        p2 = h5_array(f, key2d, path, fix)
        p3 = h5_array(f, 'joint_3d_gt', path, fix)
    for a, key, dims in ((p2, key2d, 2), (p3, 'joint_3d_gt', 3)):
        sk.check_joints_shape(a, path, key, dims, 'the %s files hold 17 joints (%s)' % (spec.name, fix))
    n = len(names)
    if len(p2) != n or len(p3) != n or (seqname is not None and len(seqname) != n):
        raise UserError('imagename, %s, joint_3d_gt (and seqname) differ in length (%d, %d, %d)'
                        % (key2d, n, len(p2), len(p3)), path, 'the file is inconsistent')
    if seqname is None:
        seqname = np.array([nm.rsplit('/', 1)[0] if '/' in nm else '' for nm in names])
    return names, seqname, p2, p3


def read_authors_h5(path, dataset_name, use_gt=True):
    """Read ``mpi_*_pred3.h5`` or ``surreal_*_pred3.h5`` into a PoseSplit (pixels, metres, ours order)."""
    spec = get_spec(dataset_name)
    if not os.path.isfile(path):
        raise UserError('data file not found', path,
                        'put the authors\' %s_train_pred3.h5 and %s_valid_pred3.h5 in DATA_DIR '
                        '(see README, "Data")' % (spec.name, spec.name))
    names, seqname, p2, p3 = _read_arrays(path, spec, use_gt)
    order = np.asarray(spec.to_ours)
    pose_2d = p2[:, order, :2]
    pose_3d = p3[:, order, :3] * spec.unit_3d
    first, _, rest = np.char.partition(seqname.astype(str), '/').T
    subject = np.where(first == '', 'seq', first)
    action = np.where(rest == '', subject, rest)
    n = len(names)
    change = np.ones(n, bool)
    change[1:] = seqname[1:] != seqname[:-1]
    starts = np.flatnonzero(change)
    frame = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    split = PoseSplit(pose_2d, pose_3d, subject, action, np.zeros(n, np.int64), frame, source=path)
    split.extra.update({'imagename': names, 'seqname': seqname, 'row': np.arange(n), 'h5_path': path})
    return split
