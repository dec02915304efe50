"""BVH motion capture -> the VideoPose3D-style archives (``tools/prepare_data.py bvh``).

* Every sub-folder of the source is one pseudo-subject named after the folder;
  its ``.bvh`` files are its actions (action = file stem).  The test subjects
  (at least one) form the test split, the other subjects the training split.
* Joints: each file's skeleton is mapped to the 17 H36M joints (v3d order) by
  the ``--joint-map`` file, the ``--skeleton`` preset, or the preset detected
  from its joint names (``lib/prep/skeletons.py``; files in one tree may have
  different skeletons); centimetres -> metres and Y-up -> Z-up by
  ``(x, y, z) -> (x, -z, y)`` (a proper rotation).
* Frame rate: resampled to ``fps`` by slerp of the joint rotations (bone
  lengths stay exact; see ``lib.prep.bvh.resample_local``).  A clip recorded
  at a lower rate than ``fps`` is upsampled the same way: the frames in
  between are interpolated, not measured (the conversion says how many clips).
* Placement: every clip is seen by the four real Human3.6M cameras of the
  camera subject: it is moved horizontally so that its mean root xy is where
  the cameras' optical axes meet, and vertically so that its floor (1st
  percentile over frames of the lowest ankle/toe point) is at z = 0.  The
  clip's heading is kept.
* Rigid bones: a bone is checked for a constant length when the file's
  hierarchy holds it rigid (no joint between its BVH joints moves in the clip,
  :func:`lib.prep.bvh.rigid_together`); the others (Hip->Spine through the
  CMU ``abdomen``, Thorax->Shoulder through a rotating collar) are reported.
* Visibility: frames where any joint is outside the image of any camera (or
  behind it) are dropped; the clip is split into its in-view runs and runs of
  at least ``min_seconds`` are kept as actions (``<clip>`` when the whole clip
  is kept, else ``<clip>_part1``, ``<clip>_part2`` ...).
* Output, written atomically and only once everything has been converted and
  verified (:func:`lib.prep.archive_check.check_converted`):

  - ``data_3d_<name>.npz``: ``positions_3d`` {subject: {action: (N, 17, 3)
    float32 world metres, v3d order}} and ``metadata`` (train/test subjects,
    camera_subject, fps, source, joint_order);
  - ``data_2d_<name>_gt.npz``: ``positions_2d`` {subject: {action: [4 x (N,
    17, 2) float32 pixels]}} (cameras in ``lib.data.camera.CAMERA_IDS``
    order, projected with lens distortion) and ``metadata``.
"""
import io
import os
import re

import numpy as np

from lib.data.camera import H36M_CAMERAS, get_cameras, in_view, optical_axes_meeting_point, project_views, \
    world_to_camera
from lib.data.scale_prior import write_for_dataset
from lib.data.skeleton import V3D_PARENTS
from lib.prep.archive_check import check_converted, summary_line
from lib.prep.bvh import h36m17_positions, load_bvh, moving_joints, rigid_together
from lib.prep.skeletons import HEAD, PRESETS, choose_skeleton, load_joint_map
from lib.utils.errors import UserError
from lib.utils.outputs import check_output_dir, create_output_dir
from lib.utils.safe_io import atomic_write

CM_TO_M = 0.01
KEYPOINTS_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


def yup_cm_to_zup_m(X):
    """(..., 3) centimetres, Y up -> metres, Z up: (x, y, z) -> (x, -z, y)."""
    X = np.asarray(X, np.float64) * CM_TO_M
    return np.stack([X[..., 0], -X[..., 2], X[..., 1]], axis=-1)


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


def foot_joints(bvh, skeleton):
    """The BVH joints whose lowest point per frame defines the floor: the ankles' joints and
    everything below them (toes, end sites)."""
    table = dict(skeleton.table)
    keep = {bvh.index(n) for side in 'LR' for n in table[side + 'Ankle']}
    for j in range(len(bvh.names)):                   # parents come before their children
        if int(bvh.parents[j]) in keep:
            keep.add(j)
    return [bvh.names[j] for j in sorted(keep)]


def nonrigid_bones(bvh, skeleton):
    """v3d child joints whose bone the file's hierarchy does not hold rigid in this clip."""
    moving = moving_joints(bvh)
    table = dict(skeleton.table)
    sources = {n: list(src) for n, src in table.items()}
    if not sources[HEAD]:                             # the head-top rule: from Neck/Nose and Thorax
        sources[HEAD] = sources['Neck/Nose'] + sources['Thorax']
    names = [n for n, _ in skeleton.table]
    return tuple(j for j in range(1, len(names))
                 if not rigid_together(bvh, sources[names[j]] + sources[names[V3D_PARENTS[j]]], moving))


def convert_clip(path, fps, cams, min_frames, skeleton=None, joint_map=None):
    """Convert one BVH clip: returns ({action: (N, 17, 3) float32}, stats dict).

    ``skeleton``: a preset name to force; ``joint_map``: a Skeleton from a joint-map file;
    neither: the preset is detected from the file's joint names."""
    bvh = load_bvh(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    sk = choose_skeleton(bvh.names, '%s:%d' % (path, bvh.lines[0]), skeleton, joint_map)
    X, feet = h36m17_positions(bvh, fps=fps, mapping=sk, extra=foot_joints(bvh, sk))
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
             'out_of_view': int((~ok).sum()), 'short': int(ok.sum()) - n_kept, 'segments': len(kept),
             'skeleton': sk.label(), 'nonrigid': nonrigid_bones(bvh, sk)}
    return actions, stats


def list_subjects(src, say=print):
    """{sub-folder name: [its .bvh files]} of ``src``; folders without clips are noted and skipped."""
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
            say('note: %s has no .bvh files, skipped' % full)
            continue
        subjects[d] = [os.path.join(full, f) for f in clips]
    if not subjects:
        raise UserError('no sub-folder with .bvh files', src,
                        'put the clips of each (pseudo-)subject in its own sub-folder of --src')
    return subjects


def check_options(name, fps, min_seconds, camera_subject, skeleton=None, joint_map=None):
    """The conversion's settings, each refused with its own one-line error."""
    if skeleton is not None and joint_map is not None:
        raise UserError('--skeleton and --joint-map both given', '--skeleton',
                        'give one: a preset name or a joint-map file')
    if skeleton is not None and skeleton not in PRESETS:
        raise UserError('unknown --skeleton %r' % skeleton, '--skeleton',
                        'use one of %s, or describe the skeleton with --joint-map FILE.yaml' % ', '.join(PRESETS))
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.-]*', name):
        raise UserError('bad --name %r' % name, '--name', 'use letters, digits, _ . - only')
    if not 0 < fps <= 1000:
        raise UserError('bad --fps %g' % fps, '--fps', 'give a frame rate in (0, 1000]')
    if not min_seconds >= 0:
        raise UserError('bad --min-seconds %g' % min_seconds, '--min-seconds', 'give a duration >= 0')
    if camera_subject not in H36M_CAMERAS:
        raise UserError('unknown --camera-subject %r' % camera_subject, '--camera-subject',
                        'use one of %s' % ', '.join(H36M_CAMERAS))


def split_subjects(subjects, test_subjects, src):
    """(train, test) subject lists: the named test sub-folders, and every other one for training."""
    test = list(dict.fromkeys(test_subjects or []))
    missing = [s for s in test if s not in subjects]
    if missing:
        raise UserError('test subject(s) %s not found' % ', '.join(missing), src,
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
    return train, test


def convert_subjects(subjects, src, fps, cams, min_seconds, say=print, skeleton=None, joint_map=None):
    """({subject: {action: (N, 17, 3)}}, {(subject, action): non-rigid v3d bones}) of every clip,
    with one line per clip and the totals."""
    min_frames = max(1, int(np.ceil(min_seconds * fps)))
    positions_3d, nonrigid = {}, {}
    totals = {'frames': 0, 'kept': 0, 'out_of_view': 0, 'short': 0}
    skeletons, upsampled = {}, 0
    for s, clips in subjects.items():
        positions_3d[s] = {}
        for path in clips:
            actions, st = convert_clip(path, fps, cams, min_frames, skeleton, joint_map)
            positions_3d[s].update(actions)
            nonrigid.update({(s, a): st['nonrigid'] for a in actions})
            skeletons[st['skeleton']] = skeletons.get(st['skeleton'], 0) + 1
            upsampled += st['src_fps'] < fps
            dropped = st['frames'] - st['kept']
            say('%s/%s [%s]: %d frames @ %.1f Hz -> %d @ %g fps; kept %d in %d action(s), dropped %d '
                '(%d out of view, %d in runs shorter than %g s)'
                % (s, os.path.basename(path), st['skeleton'], st['src_frames'], st['src_fps'], st['frames'], fps,
                   st['kept'], st['segments'], dropped, st['out_of_view'], st['short'], min_seconds))
            for k in totals:
                totals[k] += st[k]
        if not positions_3d[s]:
            raise UserError('subject %s keeps no frames (all out of view or in runs shorter than %g s)'
                            % (s, min_seconds), os.path.join(src, s), 'lower --min-seconds or remove the subject')
    say('skeletons: %s' % '; '.join('%s: %d clip(s)' % kv for kv in skeletons.items()))
    if upsampled:
        say('note: %d clip(s) were recorded at a lower rate than --fps %g: the frames in between are '
            'interpolated (slerp of the joint rotations), not measured' % (upsampled, fps))
    say('dropped %d of %d frames in total (%d out of view, %d in short runs); kept %d'
        % (totals['frames'] - totals['kept'], totals['frames'], totals['out_of_view'], totals['short'],
           totals['kept']))
    return positions_3d, nonrigid


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_archives(out, name, positions_3d, positions_2d, meta3, meta2, say=print):
    """``data_3d_<name>.npz`` and ``data_2d_<name>_gt.npz`` in ``out``, each written atomically."""
    blob3 = _npz_bytes(positions_3d=positions_3d, metadata=meta3)
    blob2 = _npz_bytes(positions_2d=positions_2d, metadata=meta2)
    out3 = os.path.join(out, 'data_3d_%s.npz' % name)
    out2 = os.path.join(out, 'data_2d_%s_gt.npz' % name)
    create_output_dir(out, '--out')
    umask = os.umask(0)
    os.umask(umask)
    for path, blob in ((out3, blob3), (out2, blob2)):
        with atomic_write(path) as f:
            f.write(blob)
        os.chmod(path, 0o666 & ~umask)          # atomic_write's temporary file is private (0600)
    say('wrote %s (%.1f MB) and %s (%.1f MB)' % (out3, len(blob3) / 1e6, out2, len(blob2) / 1e6))


def convert_bvh_tree(src, out, name, fps=50, test_subjects=(), camera_subject='S9', min_seconds=2.0, say=print,
                     force=False, skeleton=None, joint_map=None):
    """Convert the BVH tree ``src`` (one sub-folder per pseudo-subject) into the two archives
    ``out/data_3d_<name>.npz`` and ``out/data_2d_<name>_gt.npz`` (see the module docstring).
    ``out`` is checked first and made only when the archives are ready; existing archives of
    that name are replaced only with ``force``.  ``skeleton`` forces a preset and ``joint_map``
    (a YAML file) maps the skeleton (lib/prep/skeletons.py); neither: detected per file."""
    check_options(name, fps, min_seconds, camera_subject, skeleton, joint_map)
    joint_map = load_joint_map(joint_map) if joint_map is not None else None
    if not os.path.isdir(src):
        list_subjects(src, say)               # its one-line error for a missing folder
    out = check_output_dir(out, '--out', inputs=[src], force=force,
                           will_write=['data_3d_%s.npz' % name, 'data_2d_%s_gt.npz' % name, 'scale_prior_%s.json' % name])
    subjects = list_subjects(src, say)
    train, test = split_subjects(subjects, test_subjects, src)
    cams = get_cameras(camera_subject)
    positions_3d, nonrigid = convert_subjects(subjects, src, fps, cams, min_seconds, say, skeleton, joint_map)
    positions_2d = {s: {a: project_views(X, cams) for a, X in acts.items()} for s, acts in positions_3d.items()}
    say(summary_line(check_converted(positions_3d, positions_2d, cams, nonrigid=nonrigid)))
    for split, subs in (('train', train), ('test', test)):
        n = sum(len(X) for s in subs for X in positions_3d[s].values())
        say('%s: %s, %d frames' % (split, ', '.join(subs) or '-', n))
    camera_subject = {s: camera_subject for s in subjects}
    fps = int(fps) if float(fps).is_integer() else float(fps)
    meta3 = {'train_subjects': train, 'test_subjects': test, 'camera_subject': camera_subject, 'fps': fps,
             'source': 'BVH from %s' % os.path.basename(os.path.normpath(src)), 'joint_order': 'h36m17_v3d'}
    meta2 = {'layout_name': 'h36m', 'num_joints': 17, 'keypoints_symmetry': KEYPOINTS_SYMMETRY,
             'camera_subject': camera_subject}
    write_archives(out, name, positions_3d, positions_2d, meta3, meta2, say)
    write_for_dataset(out, name, say)
