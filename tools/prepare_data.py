#!/usr/bin/env python
"""Convert motion data to the VideoPose3D-style archives this project reads.

Subcommands
-----------
``bvh``: BVH motion capture -> ``data_3d_<name>.npz`` + ``data_2d_<name>_gt.npz``::

    python tools/prepare_data.py bvh --src DIR --out DIR --name NAME \\
        [--fps 50] [--test-subjects A B ...] [--camera-subject S9] [--min-seconds 2]

* Every sub-folder of ``--src`` is one pseudo-subject named after the folder;
  its ``.bvh`` files are its actions (action = file stem).  ``--test-subjects``
  (at least one) form the test split, the other subjects the training split.
* Joints: the BVH skeleton is mapped to the 17 H36M joints (v3d order) by
  ``lib.data.bvh.CMU_TO_H36M17``; centimetres -> metres and Y-up -> Z-up by
  ``(x, y, z) -> (x, -z, y)`` (a proper rotation).
* Frame rate: resampled to ``--fps`` by slerp of the joint rotations (bone
  lengths stay exact; see ``lib.data.bvh.resample_local``).
* Placement: every clip is seen by the four real Human3.6M cameras of
  ``--camera-subject``: it is moved horizontally so that its mean root xy is
  where the cameras' optical axes meet, and vertically so that its floor
  (1st percentile over frames of the lowest ankle/toe point) is at z = 0.
  The clip's heading is kept.
* Visibility: frames where any joint is outside the image of any camera (or
  behind it) are dropped; the clip is split into its in-view runs and runs of
  at least ``--min-seconds`` are kept as actions (``<clip>`` when the whole
  clip is kept, else ``<clip>_part1``, ``<clip>_part2`` ...).
* Output, written atomically and only once everything has been converted and
  verified (:func:`check_converted`):

  - ``data_3d_<name>.npz``: ``positions_3d`` {subject: {action: (N, 17, 3)
    float32 world metres, v3d order}} and ``metadata`` (train/test subjects,
    camera_subject, fps, source, joint_order);
  - ``data_2d_<name>_gt.npz``: ``positions_2d`` {subject: {action: [4 x (N,
    17, 2) float32 pixels]}} (cameras in ``lib.data.camera.CAMERA_IDS``
    order, projected with lens distortion) and ``metadata``.

``layout``: a ``data_3d_<name>.npz`` archive -> the authors' MPI-INF-3DHP or
SURREAL files (``mpi_{train,valid}_pred3.h5`` / ``surreal_...``)::

    python tools/prepare_data.py layout --src datasets/quickstart/data_3d_quickstart.npz \\
        --dataset mpi --out data/mpi_demo
"""
import _init_paths  # noqa: F401
import argparse
import io
import os
import re

import numpy as np

from lib.data.bvh import h36m17_positions, load_bvh
from lib.data.camera import (H36M_CAMERAS, get_cameras, in_view,
                             optical_axes_meeting_point, project_to_2d, world_to_camera)
from lib.data.skeleton import V3D_NAMES
from lib.utils.errors import UserError, run_main
from lib.utils.safe_io import atomic_write, check_writable_dir

#: parent of each joint in v3d order (the 16 bones are j -> V3D_PARENTS[j], j >= 1)
V3D_PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15])
#: bones (named by their child joint, v3d order) that are not rigid in the CMU
#: BVH skeleton: Spine = ``chest`` hangs off Hip = ``hip`` through the rotating
#: ``abdomen`` joint, so Hip->Spine changes with the abdomen's bend.
NONRIGID_BONES = (7,)
#: BVH joints whose lowest point per frame defines the floor
FOOT_JOINTS = ('lFoot', 'rFoot', 'lFoot_End', 'rFoot_End')
CM_TO_M = 0.01
BONE_TOL_M = 1e-3
KEYPOINTS_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


def yup_cm_to_zup_m(X):
    """(..., 3) centimetres, Y up -> metres, Z up: (x, y, z) -> (x, -z, y)."""
    X = np.asarray(X, np.float64) * CM_TO_M
    return np.stack([X[..., 0], -X[..., 2], X[..., 1]], axis=-1)


def bone_lengths(X):
    """(..., 17, 3) v3d -> (..., 16) lengths of the bones j -> parent(j), j = 1..16."""
    return np.linalg.norm(X[..., 1:, :] - X[..., V3D_PARENTS[1:], :], axis=-1)


def place_clip(X, feet, cams):
    """Shift the clip (F, 17, 3) so the cameras see it; returns (X, feet) shifted.

    Horizontal: mean root xy -> the xy where the cameras' optical axes meet.
    Vertical: the floor (1st percentile of the per-frame lowest of ``feet``
    (F, K, 3)) -> z = 0.
    """
    target = optical_axes_meeting_point(cams)
    shift = np.zeros(3)
    shift[:2] = target[:2] - X[:, 0, :2].mean(axis=0)
    shift[2] = -np.percentile(feet[..., 2].min(axis=1), 1)
    return X + shift, feet + shift


def visible_frames(X, cams):
    """(F,) bool: every joint of the frame is inside the image of every camera."""
    ok = np.ones(X.shape[0], bool)
    for cam in cams:
        ok &= in_view(world_to_camera(X, cam['R'], cam['T']), cam).all(axis=-1)
    return ok


def runs(mask):
    """[(start, stop), ...] of the maximal runs of True in a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def project_views(X, cams):
    """World (N, 17, 3) -> list of (N, 17, 2) float32 pixels, one per camera."""
    return [project_to_2d(world_to_camera(X, c['R'], c['T']), c).astype(np.float32) for c in cams]


def convert_clip(path, fps, cams, min_frames):
    """Convert one BVH clip: returns ({action: (N, 17, 3) float32}, stats dict)."""
    bvh = load_bvh(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    X, feet = h36m17_positions(bvh, fps=fps, extra=FOOT_JOINTS)
    X, feet = yup_cm_to_zup_m(X), yup_cm_to_zup_m(feet)
    if len(X):
        height = np.median(X[:, 10, 2] - feet[..., 2].min(axis=1))
        if not 0.5 < height < 2.5:
            raise UserError('the skeleton is %.2f m tall (median head top above the lowest foot point)' % height,
                            '%s:%d' % (path, bvh.lines[0]),
                            'the BVH offsets must be in centimetres with Y up')
    X, feet = place_clip(X, feet, cams) if len(X) else (X, feet)
    ok = visible_frames(X, cams)
    kept = [(a, b) for a, b in runs(ok) if b - a >= min_frames]
    actions = {}
    for k, (a, b) in enumerate(kept):
        name = stem if (a, b) == (0, len(X)) else '%s_part%d' % (stem, k + 1)
        actions[name] = X[a:b].astype(np.float32)
    n_kept = sum(b - a for a, b in kept)
    stats = {'src_frames': bvh.num_frames, 'src_fps': bvh.fps, 'frames': len(X), 'kept': n_kept,
             'out_of_view': int((~ok).sum()), 'short': int(ok.sum()) - n_kept, 'segments': len(kept)}
    return actions, stats


def check_converted(positions_3d, positions_2d, cameras, bone_tol=BONE_TOL_M, nonrigid=NONRIGID_BONES,
                    px_tol=0.01):
    """Verify converted archives; raise UserError on the first problem, return a summary dict.

    * ``positions_3d[s][a]`` (N, 17, 3) and ``positions_2d[s][a]`` (4 x (N, 17,
      2)) exist for the same subjects and actions;
    * the 16 v3d bones keep their length within ``bone_tol`` metres over each
      clip, except the bones of ``nonrigid`` (child joint indices), whose
      variation is reported instead;
    * every 2D point lies inside its camera's image and matches the
      projection of the 3D within ``px_tol`` pixels.

    ``cameras``: a list of 4 camera dicts used for every subject, or a dict
    subject -> list of 4 cameras.
    """
    rigid = [j - 1 for j in range(1, 17) if j not in nonrigid]
    loose = [j - 1 for j in range(1, 17) if j in nonrigid]
    summary = {'clips': 0, 'frames': 0, 'max_bone_dev_m': 0.0, 'nonrigid_dev_m': 0.0,
               'min_margin_px': np.inf, 'max_reproj_px': 0.0}
    if set(positions_3d) != set(positions_2d):
        raise UserError('3D and 2D archives hold different subjects (%s vs %s)'
                        % (sorted(positions_3d), sorted(positions_2d)), 'check_converted', 'convert again')
    for s in sorted(positions_3d):
        cams = cameras[s] if isinstance(cameras, dict) else cameras
        if set(positions_3d[s]) != set(positions_2d[s]):
            raise UserError('subject %s: 3D and 2D archives hold different actions' % s, 'check_converted',
                            'convert again')
        for a in sorted(positions_3d[s]):
            where = '%s/%s' % (s, a)
            X = np.asarray(positions_3d[s][a], np.float64)
            views = positions_2d[s][a]
            if X.ndim != 3 or X.shape[1:] != (17, 3) or len(X) == 0:
                raise UserError('3D has shape %s, expected (N, 17, 3)' % (X.shape,), where, 'convert again')
            if len(views) != len(cams):
                raise UserError('%d 2D views for %d cameras' % (len(views), len(cams)), where, 'convert again')
            L = bone_lengths(X)
            dev = L.max(axis=0) - L.min(axis=0)
            worst = int(np.argmax(np.where(np.isin(np.arange(16), rigid), dev, -1)))
            if dev[worst] > bone_tol:
                raise UserError('bone %s->%s varies by %.1f mm over the clip'
                                % (V3D_NAMES[V3D_PARENTS[worst + 1]], V3D_NAMES[worst + 1], dev[worst] * 1e3),
                                where, 'check the joint table lib.data.bvh.CMU_TO_H36M17 and the BVH file')
            summary['max_bone_dev_m'] = max(summary['max_bone_dev_m'], float(dev[rigid].max()))
            if loose:
                summary['nonrigid_dev_m'] = max(summary['nonrigid_dev_m'], float(dev[loose].max()))
            for ci, (uv, cam) in enumerate(zip(views, cams)):
                uv = np.asarray(uv, np.float64)
                if uv.shape != (len(X), 17, 2):
                    raise UserError('2D camera %d has shape %s, expected %s' % (ci, uv.shape, (len(X), 17, 2)),
                                    where, 'convert again')
                margin = np.minimum(np.minimum(uv[..., 0], cam['w'] - uv[..., 0]),
                                    np.minimum(uv[..., 1], cam['h'] - uv[..., 1]))
                if not margin.min() >= 0:
                    f, j = np.unravel_index(np.argmin(margin), margin.shape)
                    raise UserError('2D %s of frame %d is outside the %dx%d image of camera %s: %s'
                                    % (V3D_NAMES[j], f, cam['w'], cam['h'], cam['id'], uv[f, j].round(1)),
                                    where, 'drop the frames that leave the view')
                reproj = np.abs(project_views(X, [cam])[0] - uv).max()
                if not reproj <= px_tol:
                    raise UserError('2D camera %s differs from the projected 3D by %.3g px' % (cam['id'], reproj),
                                    where, 'the 2D and 3D archives must come from the same conversion')
                summary['min_margin_px'] = min(summary['min_margin_px'], float(margin.min()))
                summary['max_reproj_px'] = max(summary['max_reproj_px'], float(reproj))
            summary['clips'] += 1
            summary['frames'] += len(X)
    return summary


def summary_line(summary):
    return ('check: %d clips, %d frames; 15 rigid bones constant within %.4f mm; Hip->Spine (chest, '
            'non-rigid in this skeleton) varies up to %.1f mm; all 2D inside the image (min margin %.1f px), '
            '2D = projected 3D within %.1e px'
            % (summary['clips'], summary['frames'], summary['max_bone_dev_m'] * 1e3,
               summary['nonrigid_dev_m'] * 1e3, summary['min_margin_px'], summary['max_reproj_px']))


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _list_subjects(src):
    if not os.path.isdir(src):
        raise UserError('source folder not found', src, 'pass --src DIR with one sub-folder of .bvh files per subject')
    subjects = {}
    for d in sorted(os.listdir(src)):
        full = os.path.join(src, d)
        if d.startswith('.') or not os.path.isdir(full):
            continue
        clips = sorted(f for f in os.listdir(full)
                       if f.lower().endswith('.bvh') and os.path.isfile(os.path.join(full, f)))
        if not clips:
            print('note: %s has no .bvh files, skipped' % full)
            continue
        subjects[d] = [os.path.join(full, f) for f in clips]
    if not subjects:
        raise UserError('no sub-folder with .bvh files', src,
                        'put the clips of each (pseudo-)subject in its own sub-folder of --src')
    return subjects


def convert_bvh(args):
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.-]*', args.name):
        raise UserError('bad --name %r' % args.name, '--name', 'use letters, digits, _ . - only')
    if not 0 < args.fps <= 1000:
        raise UserError('bad --fps %g' % args.fps, '--fps', 'give a frame rate in (0, 1000]')
    if not args.min_seconds >= 0:
        raise UserError('bad --min-seconds %g' % args.min_seconds, '--min-seconds', 'give a duration >= 0')
    if args.camera_subject not in H36M_CAMERAS:
        raise UserError('unknown --camera-subject %r' % args.camera_subject, '--camera-subject',
                        'use one of %s' % ', '.join(H36M_CAMERAS))
    subjects = _list_subjects(args.src)
    test = list(dict.fromkeys(args.test_subjects or []))
    missing = [s for s in test if s not in subjects]
    if missing:
        raise UserError('test subject(s) %s not found' % ', '.join(missing), args.src,
                        'choose among the sub-folders: %s' % ', '.join(subjects))
    if not test:
        raise UserError('no test subject: the dataset would have no test split', '--test-subjects',
                        'name the sub-folder(s) of --src to test on, e.g. --test-subjects %s (sub-folders: %s)%s'
                        % (list(subjects)[-1], ', '.join(subjects), '; with a single sub-folder, move some '
                           'clips into a second one first' if len(subjects) == 1 else ''))
    train = [s for s in subjects if s not in test]
    if not train:
        raise UserError('no training subject left', '--test-subjects',
                        'leave at least one sub-folder of --src out of --test-subjects')
    check_writable_dir(args.out)

    cams = get_cameras(args.camera_subject)
    min_frames = max(1, int(np.ceil(args.min_seconds * args.fps)))
    positions_3d, totals = {}, {'frames': 0, 'kept': 0, 'out_of_view': 0, 'short': 0}
    for s, clips in subjects.items():
        positions_3d[s] = {}
        for path in clips:
            actions, st = convert_clip(path, args.fps, cams, min_frames)
            positions_3d[s].update(actions)
            dropped = st['frames'] - st['kept']
            print('%s/%s: %d frames @ %.1f Hz -> %d @ %g fps; kept %d in %d action(s), dropped %d '
                  '(%d out of view, %d in runs shorter than %g s)'
                  % (s, os.path.basename(path), st['src_frames'], st['src_fps'], st['frames'], args.fps,
                     st['kept'], st['segments'], dropped, st['out_of_view'], st['short'], args.min_seconds))
            for k in totals:
                totals[k] += st[k]
        if not positions_3d[s]:
            raise UserError('subject %s keeps no frames (all out of view or in runs shorter than %g s)'
                            % (s, args.min_seconds), os.path.join(args.src, s),
                            'lower --min-seconds or remove the subject')
    print('dropped %d of %d frames in total (%d out of view, %d in short runs); kept %d'
          % (totals['frames'] - totals['kept'], totals['frames'], totals['out_of_view'], totals['short'],
             totals['kept']))

    positions_2d = {s: {a: project_views(X, cams) for a, X in acts.items()} for s, acts in positions_3d.items()}
    summary = check_converted(positions_3d, positions_2d, cams)
    print(summary_line(summary))
    for split, subs in (('train', train), ('test', test)):
        n = sum(len(X) for s in subs for X in positions_3d[s].values())
        print('%s: %s, %d frames' % (split, ', '.join(subs) or '-', n))

    camera_subject = {s: args.camera_subject for s in subjects}
    fps = int(args.fps) if float(args.fps).is_integer() else float(args.fps)
    meta3 = {'train_subjects': train, 'test_subjects': test, 'camera_subject': camera_subject, 'fps': fps,
             'source': 'BVH from %s' % os.path.basename(os.path.normpath(args.src)), 'joint_order': 'h36m17_v3d'}
    meta2 = {'layout_name': 'h36m', 'num_joints': 17, 'keypoints_symmetry': KEYPOINTS_SYMMETRY,
             'camera_subject': camera_subject}
    blob3 = _npz_bytes(positions_3d=positions_3d, metadata=meta3)
    blob2 = _npz_bytes(positions_2d=positions_2d, metadata=meta2)
    out3 = os.path.join(args.out, 'data_3d_%s.npz' % args.name)
    out2 = os.path.join(args.out, 'data_2d_%s_gt.npz' % args.name)
    umask = os.umask(0)
    os.umask(umask)
    for path, blob in ((out3, blob3), (out2, blob2)):
        with atomic_write(path) as f:
            f.write(blob)
        os.chmod(path, 0o666 & ~umask)          # atomic_write's temporary file is private (0600)
    print('wrote %s (%.1f MB) and %s (%.1f MB)' % (out3, len(blob3) / 1e6, out2, len(blob2) / 1e6))
    return 0


def convert_layout(args):
    """``layout``: a data_3d_<name>.npz archive -> the authors' MPI-INF-3DHP or SURREAL h5 files."""
    from lib.data.layouts import archives_to_layout
    check_writable_dir(args.out)
    for split, (path, n) in archives_to_layout(args.src, args.dataset, args.out, args.distance).items():
        print('%s: %d frames -> %s' % (split, n, path))
    return 0


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are UserErrors (one line, exit code 2)."""

    def error(self, message):
        raise UserError(message, 'command line', 'see %s --help' % self.prog)


def build_parser():
    parser = _ArgumentParser(description=__doc__.split('\n')[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=_ArgumentParser)
    sub.required = True
    p = sub.add_parser('bvh', help='BVH motion capture -> data_3d_<name>.npz + data_2d_<name>_gt.npz',
                       description='Convert BVH clips (one sub-folder of --src per pseudo-subject) to the '
                                   'VideoPose3D-style archives, seen by real Human3.6M cameras.')
    p.add_argument('--src', required=True, help='folder with one sub-folder of .bvh files per subject')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--name', required=True, help='dataset name: files data_3d_<name>.npz, data_2d_<name>_gt.npz')
    p.add_argument('--fps', type=float, default=50, help='output frame rate (default 50)')
    p.add_argument('--test-subjects', nargs='*', default=[], metavar='SUBJECT',
                   help='sub-folders that form the test split (at least one; the others train)')
    p.add_argument('--camera-subject', default='S9', help='H36M subject whose 4 cameras see every clip (default S9)')
    p.add_argument('--min-seconds', type=float, default=2.0,
                   help='keep in-view runs at least this long (default 2 s)')
    p.set_defaults(func=convert_bvh)
    q = sub.add_parser('layout', help='data_3d_<name>.npz -> mpi_/surreal_{train,valid}_pred3.h5 (authors\' layouts)',
                       description='Write the clips of a data_3d_<name>.npz archive in the authors\' MPI-INF-3DHP '
                                   'or SURREAL h5 layout, seen by a pinhole camera the size of that dataset\'s '
                                   'frames (lib/data/layouts.py), to try those data paths.')
    q.add_argument('--src', required=True, help='data_3d_<name>.npz (its metadata gives the train/test subjects)')
    q.add_argument('--dataset', required=True, choices=('mpi', 'surreal'), help='layout to write')
    q.add_argument('--out', required=True, help='output folder (use it as DATA_DIR)')
    q.add_argument('--distance', type=float, default=None,
                   help='camera distance in metres (default 4.5 for mpi, 6 for surreal; farther if needed)')
    q.set_defaults(func=convert_layout)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    run_main(main)
