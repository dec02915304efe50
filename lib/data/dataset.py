"""Human3.6M-style data: two readers into one in-memory representation.

Readers (docs/ORIGINAL.md, "Data", for the authors' files):

* the authors' files ``<name>_train_pred3.h5`` / ``<name>_valid_pred3.h5``
  (``imagename``, ``joint_2d_gt``, ``joint_2d_pre``, ``joint_3d_gt``, and
  optionally ``seqname`` / ``index_in_seq`` / ``seqlen``), opened read-only:
  derived fields are computed in memory, never written back (the original
  wrote them into the data file);
* the VideoPose3D archives ``data_3d_<name>.npz`` (world metres, 32 or 17
  joints) with ``data_2d_<name>_gt.npz`` (or, for detections,
  ``data_2d_<name>_cpn_ft_h36m_dbb.npz`` / ``data_2d_<name>_det.npz``),
  converted to camera-frame 3D with the public H36M cameras.

Both give a :class:`lib.data.split.PoseSplit`: per-frame arrays in the internal "ours" joint
order, pixels for 2D and metres (camera frame) for 3D, plus per-frame
``subject``, ``action``, ``camera``, ``frame`` and the sequence bookkeeping
(``seq_start``, ``block_end``, ``index_in_seq``, ``seqlen``) that neighbour
sampling needs.  As in the original, an ``.h5`` file's positions and lengths are
its stored ``index_in_seq`` / ``seqlen``, else the frame number in
``imagename`` and the row count of the sequence name; the archives' are the
row order (each sequence stored contiguously in frame order).

:func:`lib.data.normalise.normalise_2d` is the original's 2D normalisation (docs/ORIGINAL.md, "Data").
``DATA.DATASET_NAME`` ``mpi`` and ``surreal`` are read from the authors' files of
those datasets by :mod:`lib.data.mpi_surreal` (:func:`load_splits` dispatches).
"""
import os
import re

import numpy as np

from lib.data import skeleton as sk
from lib.data.camera import get_cameras, world_to_camera
from lib.data.h5_files import h5_array, open_h5, require_keys
from lib.data.mpi_surreal import read_authors_h5
from lib.data.split import PoseSplit
from lib.utils.errors import UserError
from lib.utils.safe_io import load_npz

H36M_TRAIN_SUBJECTS = ['S1', 'S5', 'S6', 'S7', 'S8']
H36M_TEST_SUBJECTS = ['S9', 'S11']

MAX_TRIM = 10           # frames a 2D sequence may be shorter than its mocap

WHERE_TO_GET = ('put into DATA_DIR the authors\' <name>_{train,valid}_pred3.h5 (from their project page, '
                'https://sites.google.com/view/ambiguity-aware-hpe) or the VideoPose3D archives '
                'data_3d_<name>.npz + data_2d_<name>_gt.npz (made by VideoPose3D\'s data/prepare_data_h36m.py '
                'from the Human3.6M "D3 Positions", see its DATASETS.md); README, "Data"')


def head_root_length(pose_3d):
    """Per-frame ground-truth head-root length Lf (metres) + 1e-8."""
    return np.linalg.norm(pose_3d[:, sk.HEAD] - pose_3d[:, sk.ROOT], axis=-1) + 1e-8


# --- the authors' .h5 files ---------------------------------------------------

def h5_paths(data_dir, name, debug=False):
    if debug:
        return os.path.join(data_dir, 'debug_train.h5'), os.path.join(data_dir, 'debug_valid.h5')
    return (os.path.join(data_dir, '%s_train_pred3.h5' % name),
            os.path.join(data_dir, '%s_valid_pred3.h5' % name))


def read_h5(path, use_gt=True):
    if not os.path.isfile(path):
        raise UserError('data file not found', path, WHERE_TO_GET)
    key2d = 'joint_2d_gt' if use_gt else 'joint_2d_pre'
    fix = 'use the authors\' *_pred3.h5 files (keys imagename, joint_2d_gt, joint_2d_pre, joint_3d_gt)'
    with open_h5(path) as f:
        require_keys(f, ('imagename', key2d, 'joint_3d_gt'), path, fix)
        names = list(h5_array(f, 'imagename', path, fix, text=True))
        p2 = h5_array(f, key2d, path, fix)
        p3 = h5_array(f, 'joint_3d_gt', path, fix)
        positions = _read_positions(f, len(names), path)
    _check_joints(p2, path, key2d, 2)
    _check_joints(p3, path, 'joint_3d_gt', 3)
    if len(p2) != len(p3) or len(names) != len(p2):
        raise UserError('imagename, %s and joint_3d_gt differ in length (%d, %d, %d)'
                        % (key2d, len(names), len(p2), len(p3)), path, 'the file is inconsistent')
    subj, act, cam, frm = [], [], [], []
    for n in names:
        parts = n.strip('/').split('/')
        if len(parts) < 4:
            raise UserError('imagename %r is not <subject>/<action>/<camera>/<frame>' % n, path,
                            'use the authors\' file format')
        if not parts[-2].isdigit():
            raise UserError('imagename %r: camera %r is not a number' % (n, parts[-2]), path,
                            'use the authors\' file format (<subject>/<action>/<camera>/<frame>)')
        subj.append(parts[-4]); act.append(parts[-3])
        cam.append(int(parts[-2])); frm.append(int(re.sub(r'\D', '', parts[-1])[:18] or 0))
    split = PoseSplit(sk.v3d_to_ours(p2[..., :2]), sk.v3d_to_ours(p3[..., :3]),
                      np.array(subj), np.array(act), np.array(cam), np.array(frm), source=path)
    split.index_in_seq, split.seqlen = positions or _positions_from_names(names, split.frame)
    split.extra['imagename'] = np.array(names)
    return split


def _read_positions(f, n, path):
    """The file's ``index_in_seq`` / ``seqlen`` (the original reads them), or None."""
    if 'index_in_seq' not in f or 'seqlen' not in f:
        return None
    fix = 'the file is inconsistent: remove index_in_seq and seqlen to recompute them'
    pos, lens = h5_array(f, 'index_in_seq', path, fix).reshape(-1), h5_array(f, 'seqlen', path, fix).reshape(-1)
    if len(pos) != n or len(lens) != n:
        raise UserError('index_in_seq / seqlen have %d / %d rows, the poses %d' % (len(pos), len(lens), n),
                        path, 'the file is inconsistent: remove those two datasets to recompute them')
    return pos.astype(np.int64), lens.astype(np.int64)


def _positions_from_names(names, frame):
    """As the original derives them when the file lacks them: the position is the frame
    number in the image name, the length the number of rows of that sequence name."""
    seq = np.array([n.rsplit('/', 1)[0] for n in names])
    _, inv, counts = np.unique(seq, return_inverse=True, return_counts=True)
    return np.asarray(frame, np.int64), counts[inv.reshape(-1)].astype(np.int64)


def _check_joints(a, path, key, dims):
    sk.check_joints_shape(a, path, key, dims, 'the data must hold the 17 Human3.6M joints in VideoPose3D order')


# --- VideoPose3D-style .npz archives ------------------------------------------

def npz_paths(data_dir, name, use_gt=True):
    p3 = os.path.join(data_dir, 'data_3d_%s.npz' % name)
    if use_gt:
        return p3, os.path.join(data_dir, 'data_2d_%s_gt.npz' % name)
    for cand in ('data_2d_%s_cpn_ft_h36m_dbb.npz' % name, 'data_2d_%s_det.npz' % name):
        if os.path.isfile(os.path.join(data_dir, cand)):
            return p3, os.path.join(data_dir, cand)
    return p3, os.path.join(data_dir, 'data_2d_%s_cpn_ft_h36m_dbb.npz' % name)


def read_npz_archives(path_3d, path_2d, subjects_train=None, subjects_test=None,
                      which=('train', 'test')):
    """Return ({'train': PoseSplit, 'test': PoseSplit}, metadata)."""
    a3 = load_npz(path_3d, '3D archive', WHERE_TO_GET)
    a2 = load_npz(path_2d, '2D archive', WHERE_TO_GET)
    if 'positions_3d' not in a3 or not isinstance(a3['positions_3d'], dict):
        raise UserError('3D archive has no positions_3d dict', path_3d,
                        'use the VideoPose3D layout (positions_3d: subject -> action -> (N, 32|17, 3))')
    if 'positions_2d' not in a2 or not isinstance(a2['positions_2d'], dict):
        raise UserError('2D archive has no positions_2d dict', path_2d,
                        'use the VideoPose3D layout (positions_2d: subject -> action -> [4 x (N, 17, 2)])')
    pos3, pos2 = a3['positions_3d'], a2['positions_2d']
    meta = a3.get('metadata', {}) if isinstance(a3.get('metadata', {}), dict) else {}
    cam_subject = dict(meta.get('camera_subject', {}))
    train = list(subjects_train or meta.get('train_subjects') or H36M_TRAIN_SUBJECTS)
    test = list(subjects_test or meta.get('test_subjects') or H36M_TEST_SUBJECTS)
    splits = {}
    for split_name, subjects, given in (('train', train, subjects_train), ('test', test, subjects_test)):
        if split_name not in which:
            continue
        cols = {k: [] for k in ('p2', 'p3', 'subject', 'action', 'camera', 'frame')}
        for s in subjects:
            _check_subject(s, pos3, pos2, path_3d, path_2d, split_name, given)
            _subject_sequences(s, pos3[s], pos2[s], cam_subject.get(s, s), path_3d, path_2d, cols)
        if not cols['p2']:
            raise UserError('no sequences for the %s split (subjects %s)' % (split_name, subjects),
                            path_3d, 'fix DATA.%s_SUBJECTS' % split_name.upper())
        splits[split_name] = PoseSplit(sk.v3d_to_ours(np.concatenate(cols['p2'])),
                                       sk.v3d_to_ours(np.concatenate(cols['p3'])),
                                       np.concatenate(cols['subject']), np.concatenate(cols['action']),
                                       np.concatenate(cols['camera']), np.concatenate(cols['frame']),
                                       source='%s (%s)' % (os.path.basename(path_2d), split_name))
    return splits, {'train_subjects': train, 'test_subjects': test}


def _check_subject(s, pos3, pos2, path_3d, path_2d, split_name, given):
    """Subject ``s`` must be in both archives (``given``: the subjects the config named)."""
    if s not in pos3:
        why = '' if given else (' (the H36M default: the archive\'s metadata names no %s subjects)'
                                % split_name)
        raise UserError('subject %s not in the 3D archive (has %s)%s' % (s, ', '.join(sorted(pos3)), why),
                        path_3d, 'set DATA.%s_SUBJECTS to some of %s'
                        % (split_name.upper(), ', '.join(sorted(pos3))))
    if s not in pos2:
        raise UserError('subject %s not in the 2D archive' % s, path_2d,
                        'use a 2D archive made for the same subjects')


def _subject_sequences(s, acts3, acts2, camera_subject, path_3d, path_2d, cols):
    """Append subject ``s``'s sequences, one per action and camera, to ``cols``: 2D pixels and
    3D in that camera's frame (v3d order), trimmed to the 2D's length."""
    cams = get_cameras(camera_subject)
    for act in sorted(acts3):
        X = np.asarray(acts3[act], np.float64)
        if X.ndim != 3 or X.shape[-1] != 3 or X.shape[1] not in (17, 32):
            raise UserError('3D %s/%s has shape %s, expected (N, 32|17, 3)' % (s, act, X.shape),
                            path_3d, 'use the VideoPose3D layout')
        if X.shape[1] == 32:
            X = X[:, sk.H36M32_TO_V3D]
        if act not in acts2:
            raise UserError('2D archive misses %s/%s' % (s, act), path_2d,
                            'use a 2D archive made from the same 3D data')
        for ci, kp in enumerate(acts2[act]):
            kp = np.asarray(kp, np.float64)
            if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] < 2:
                raise UserError('2D %s/%s camera %d has shape %s, expected (N, 17, 2)'
                                % (s, act, ci, kp.shape), path_2d, 'the 2D must hold the 17 H36M joints')
            n = len(kp)
            if n > len(X) or len(X) - n > MAX_TRIM:
                raise UserError('2D %s/%s camera %d has %d frames, the 3D %d (at most %d may be '
                                'trimmed)' % (s, act, ci, n, len(X), MAX_TRIM), path_2d,
                                'use 2D and 3D archives of the same recordings')
            cols['p2'].append(kp[:, :, :2])
            cols['p3'].append(world_to_camera(X[:n], cams[ci]['R'], cams[ci]['T']))
            cols['subject'].append(np.full(n, s))
            cols['action'].append(np.full(n, act))
            cols['camera'].append(np.full(n, ci))
            cols['frame'].append(np.arange(n))


def load_splits(cfg, data_dir, which=('train', 'test')):
    """Read the splits named by the config (``which``: 'train' and/or 'test')."""
    name = cfg.DATA.DATASET_NAME
    fmt = cfg.DATA.FORMAT
    if not os.path.isdir(data_dir):
        raise UserError('data folder not found', data_dir,
                        'set DATA_DIR (or --data_dir) to the folder with the data files')
    h5_train, h5_test = h5_paths(data_dir, name, cfg.DEBUG)
    if name in ('mpi', 'surreal'):                   # the authors' h5 layouts only
        return _load_authors_h5(cfg, {'train': h5_train, 'test': h5_test}, which)
    p3, p2 = npz_paths(data_dir, name, cfg.USE_GT)
    if fmt == 'auto':
        if os.path.isfile(h5_train) or os.path.isfile(h5_test):
            fmt = 'h5'
        elif os.path.isfile(p3) or os.path.isfile(p2):
            fmt = 'npz'
        else:
            raise UserError('no data for dataset %r: looked for %s, %s and %s'
                            % (name, os.path.basename(h5_train), os.path.basename(p3),
                               os.path.basename(p2)), data_dir, WHERE_TO_GET)
    drop = cfg.DATA.DROP_NONFINITE
    if fmt == 'h5':
        paths = {'train': h5_train, 'test': h5_test}
        splits = {w: read_h5(paths[w], cfg.USE_GT) for w in which}
        for s in splits.values():
            s.extra.update({'row': np.arange(len(s)), 'h5_path': s.source})
    else:
        splits, _ = read_npz_archives(p3, p2, cfg.DATA.TRAIN_SUBJECTS, cfg.DATA.TEST_SUBJECTS, which)
    for s in splits.values():
        s.finish(drop)
    return splits


def _load_authors_h5(cfg, paths, which):
    """MPI-INF-3DHP / SURREAL: the authors' h5 files (:mod:`lib.data.mpi_surreal`)."""
    name = cfg.DATA.DATASET_NAME
    if cfg.DATA.FORMAT == 'npz':
        raise UserError('DATA.FORMAT npz is not available for the %s dataset' % name, 'DATA.FORMAT',
                        "use 'auto' or 'h5': %s is read from %s_{train,valid}_pred3.h5" % (name, name))
    splits = {w: read_authors_h5(paths[w], name, cfg.USE_GT) for w in which}
    for s in splits.values():
        s.finish(cfg.DATA.DROP_NONFINITE)
    return splits
