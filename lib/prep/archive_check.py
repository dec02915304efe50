"""Verification of converted 3D / 2D archives before they are written.

:func:`check_converted` checks what ``tools/prepare_data.py bvh`` produced
(:mod:`lib.prep.bvh_convert`): the same subjects and actions in both archives,
rigid bones, and 2D points inside the image that match the projected 3D.
"""
import numpy as np

from lib.data.camera import project_views
from lib.data.skeleton import NUM_JOINTS, V3D_NAMES, V3D_PARENTS
from lib.utils.errors import UserError

#: bones (named by their child joint, v3d order) that are not rigid in the CMU
#: BVH skeleton: Spine = ``chest`` hangs off Hip = ``hip`` through the rotating
#: ``abdomen`` joint, so Hip->Spine changes with the abdomen's bend.  The BVH
#: conversion gives each clip its own set, from its skeleton
#: (:func:`lib.prep.bvh_convert.nonrigid_bones`).
NONRIGID_BONES = (7,)
BONE_TOL_M = 1e-3


def bone_lengths(X):
    """(..., 17, 3) v3d -> (..., 16) lengths of the bones j -> parent(j), j = 1..16."""
    return np.linalg.norm(X[..., 1:, :] - X[..., V3D_PARENTS[1:], :], axis=-1)


def _bone_name(j):
    return '%s->%s' % (V3D_NAMES[V3D_PARENTS[j]], V3D_NAMES[j])


def _check_bones(X, where, rigid, loose, bone_tol, summary):
    """Rigid bones keep their length within ``bone_tol`` m over the clip; the loose ones are reported."""
    L = bone_lengths(X)
    dev = L.max(axis=0) - L.min(axis=0)
    worst = int(np.argmax(np.where(np.isin(np.arange(NUM_JOINTS - 1), rigid), dev, -1)))
    if dev[worst] > bone_tol:
        raise UserError('bone %s->%s varies by %.1f mm over the clip'
                        % (V3D_NAMES[V3D_PARENTS[worst + 1]], V3D_NAMES[worst + 1], dev[worst] * 1e3),
                        where, 'check the joint map (lib/prep/skeletons.py or --joint-map) and the BVH file')
    summary['max_bone_dev_m'] = max(summary['max_bone_dev_m'], float(dev[rigid].max()) if rigid else 0.0)
    summary['rigid_counts'].add(len(rigid))
    for b in loose:
        name = _bone_name(b + 1)
        summary['nonrigid'][name] = summary['nonrigid'].get(name, 0) + 1
        summary['nonrigid_dev_m'] = max(summary['nonrigid_dev_m'], float(dev[b]))


def _check_view(X, uv, cam, ci, where, px_tol, summary):
    """One camera's 2D: inside its image, and the projection of the 3D within ``px_tol`` px."""
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


def _check_clip(X, views, cams, where, rigid, loose, bone_tol, px_tol, summary):
    X = np.asarray(X, np.float64)
    if X.ndim != 3 or X.shape[1:] != (17, 3) or len(X) == 0:
        raise UserError('3D has shape %s, expected (N, 17, 3)' % (X.shape,), where, 'convert again')
    if len(views) != len(cams):
        raise UserError('%d 2D views for %d cameras' % (len(views), len(cams)), where, 'convert again')
    _check_bones(X, where, rigid, loose, bone_tol, summary)
    for ci, (uv, cam) in enumerate(zip(views, cams)):
        _check_view(X, uv, cam, ci, where, px_tol, summary)
    summary['clips'] += 1
    summary['frames'] += len(X)


def check_converted(positions_3d, positions_2d, cameras, bone_tol=BONE_TOL_M, nonrigid=NONRIGID_BONES,
                    px_tol=0.01):
    """Verify converted archives; raise UserError on the first problem, return a summary dict.

    * ``positions_3d[s][a]`` (N, 17, 3) and ``positions_2d[s][a]`` (4 x (N, 17,
      2)) exist for the same subjects and actions;
    * the 16 v3d bones keep their length within ``bone_tol`` metres over each
      clip, except the bones of ``nonrigid`` (child joint indices; or a dict
      (subject, action) -> those of each clip), whose variation is reported
      instead;
    * every 2D point lies inside its camera's image and matches the
      projection of the 3D within ``px_tol`` pixels.

    ``cameras``: a list of 4 camera dicts used for every subject, or a dict
    subject -> list of 4 cameras.
    """
    def split(loose_bones):
        return ([j - 1 for j in range(1, NUM_JOINTS) if j not in loose_bones],
                [j - 1 for j in range(1, NUM_JOINTS) if j in loose_bones])

    summary = {'clips': 0, 'frames': 0, 'max_bone_dev_m': 0.0, 'nonrigid_dev_m': 0.0,
               'min_margin_px': np.inf, 'max_reproj_px': 0.0, 'nonrigid': {}, 'rigid_counts': set()}
    if set(positions_3d) != set(positions_2d):
        raise UserError('3D and 2D archives hold different subjects (%s vs %s)'
                        % (sorted(positions_3d), sorted(positions_2d)), 'check_converted', 'convert again')
    for s in sorted(positions_3d):
        cams = cameras[s] if isinstance(cameras, dict) else cameras
        if set(positions_3d[s]) != set(positions_2d[s]):
            raise UserError('subject %s: 3D and 2D archives hold different actions' % s, 'check_converted',
                            'convert again')
        for a in sorted(positions_3d[s]):
            rigid, loose = split(nonrigid.get((s, a), NONRIGID_BONES) if isinstance(nonrigid, dict) else nonrigid)
            _check_clip(positions_3d[s][a], positions_2d[s][a], cams, '%s/%s' % (s, a), rigid, loose,
                        bone_tol, px_tol, summary)
    return summary


def summary_line(summary):
    """The one-line account of :func:`check_converted`'s summary that the conversion prints."""
    counts = sorted(summary['rigid_counts']) or [0]
    rigid = '%d' % counts[0] if len(counts) == 1 else '%d to %d' % (counts[0], counts[-1])
    loose = ', '.join('%s in %d' % kv for kv in sorted(summary['nonrigid'].items()))
    return ('check: %d clips, %d frames; the bones the skeleton holds rigid (%s of 16 per clip) constant within '
            '%.4f mm; %s; all 2D inside the image (min margin %.1f px), 2D = projected 3D within %.1e px'
            % (summary['clips'], summary['frames'], rigid, summary['max_bone_dev_m'] * 1e3,
               'the others (not rigid in the skeleton: %s clips) vary up to %.1f mm'
               % (loose, summary['nonrigid_dev_m'] * 1e3) if loose else 'no other bone',
               summary['min_margin_px'], summary['max_reproj_px']))
