"""What ``scripts/inference.py`` does with one input: detect, lift, write.

Inputs become :class:`lib.inference.keypoints.DemoInput` (2D pixels in ours order,
the frames that can be lifted, filled joints, the picture); this module

* detects the person in images / video frames (:func:`detect_image`,
  :func:`detect_video`; MediaPipe, ``lib.inference.detector``),
* lifts the usable frames, normalised like one training split per input
  (:func:`lift_input`),
* writes ``<stem>_3d.npy``, ``<stem>_3d.json``, the figures, the animation
  and, on request, ``<stem>.bvh`` (:func:`write_outputs`).

Nothing here imports torch at module level (the lifting does, when first called): the
demo checks its inputs and config before torch loads.

Frames where nobody was found (or a required joint is missing) are listed in
the JSON under ``skipped_frames``, hold ``null`` in its ``joints_2d`` and
``joints_3d`` and NaN in the ``.npy``; they are never invented.
"""
import os

import numpy as np

from lib.data import skeleton as sk
from lib.data.normalise import normalise_pixels
from lib.inference.bvh_export import bvh_text
from lib.inference.keypoints import keypoints_input
from lib.inference.outputs import UNITS, json_text
from lib.utils.errors import UserError
from lib.utils.media_io import read_image, read_video, write_animation
from lib.utils.safe_io import atomic_write

class Skip(Exception):
    """An input with nothing to lift that is not an error (an image with nobody in it)."""


# --- detection --------------------------------------------------------------------

def _detections(detector, frames, progress=None):
    """Landmarks (T, 33, 2), confidence (T, 33) (1 found / 0 not) and the frames with nobody."""
    T = len(frames)
    kps, conf, nobody = np.zeros((T, 33, 2)), np.zeros((T, 33)), []
    for t in (progress(range(T)) if progress else range(T)):
        d = detector.detect(frames[t])
        if d is None:
            nobody.append(t)
        else:
            kps[t], conf[t] = d.landmarks, 1.0
    return kps, conf, nobody


def detect_image(detector, path):
    """One image -> DemoInput (one frame); Skip when nobody is found."""
    img = read_image(path)
    kps, conf, nobody = _detections(detector, [img])
    if nobody:
        raise Skip('no person found')
    inp = keypoints_input(path, kps, conf, False, 'mediapipe33')
    inp.kind, inp.picture, inp.frames = 'image (MediaPipe 2D)', path, [img]
    inp.warning = None                 # the order is known: the body-likeness check is for user files
    return inp


def smooth_2d(px, valid, window):
    """Centred moving average of (T, 17, 2) over the valid frames within ``window`` frames
    each side (0: unchanged).  Skipped frames neither take part nor change."""
    if window <= 0:
        return px
    out = px.copy()
    idx = np.where(valid)[0]
    for t in idx:
        near = idx[np.abs(idx - t) <= window]
        out[t] = px[near].mean(0)
    return out


def detect_video(detector, path, smooth=0, step=1, max_frames=None, progress=None):
    """A video -> DemoInput (a sequence, its frames kept for drawing); UserError when
    nobody is found in any frame.  ``detector`` may be a function that builds it: it is then
    built only once the video has frames (building it starts MediaPipe, which logs)."""
    frames, fps = read_video(path, step, max_frames)
    if callable(detector) and not hasattr(detector, 'detect'):
        detector = detector()
    kps, conf, nobody = _detections(detector, frames, progress)
    if len(nobody) == len(frames):
        raise UserError('no person found in any of the %d frames' % len(frames), path,
                        'check that a whole person is visible')
    inp = keypoints_input(path, kps, conf, True, 'mediapipe33', nobody=nobody)
    inp.px_ours = smooth_2d(inp.px_ours, inp.valid, smooth)
    inp.kind = 'video (MediaPipe 2D%s)' % (', averaged over +-%d frames' % smooth if smooth else '')
    inp.frames, inp.fps = frames, fps
    inp.warning = None
    return inp


# --- lifting ----------------------------------------------------------------------

def lift_input(model, inp, cfg):
    """-> (pose (T, 17, 3) ours order with NaN in skipped frames, scale (T,) or None, factor,
    root depth (T,): the camera distance of the figures' camera view)."""
    from lib.eval.lifting import lift_in_batches  # loads torch
    valid = inp.valid
    factor = None
    if inp.x_norm is not None:
        x = inp.x_norm[valid]
    else:
        x, factor = normalise_pixels(inp.px_ours[valid], cfg)
    pred, s, root_z = lift_in_batches(model, x, with_root_depth=True)
    if not (np.isfinite(pred).all() and (s is None or np.isfinite(s).all())):
        raise UserError('the model lifts this input to NaN or inf', inp.path,
                        'check the keypoints and the checkpoint (--pretrain)')
    T = len(inp.px_ours)
    pose = np.full((T, sk.NUM_JOINTS, 3), np.nan, np.float32)
    pose[valid] = pred
    scale = None
    if s is not None:
        scale = np.full(T, np.nan, np.float32)
        scale[valid] = s
    depth = np.full(T, np.nan)
    depth[valid] = root_z
    return pose, scale, factor, depth


def _rows(a, valid, one):
    rows = [np.round(r.astype(np.float64), 6).tolist() if v else None for r, v in zip(a, valid)]
    return rows[0] if one else rows


def record(inp, pose_ours, scale, factor, bvh=False):
    """The ``<stem>_3d.json`` content: v3d order, names, units, 2D and 3D, skipped frames; with
    ``bvh``, ``bvh_frames``: the input frame of each frame of ``<stem>.bvh`` (which holds only
    the lifted frames)."""
    one = not inp.sequence
    valid = inp.valid
    rec = {
        'input': inp.name,
        'input_kind': inp.kind,
        'frames': int(len(pose_ours)),
        'joint_order': 'v3d (Human3.6M-17 / VideoPose3D)',
        'input_joint_order': inp.order if inp.x_norm is None else 'ours (original demo pickle)',
        'joint_names': sk.V3D_NAMES,
        'units': UNITS,
        'joints_2d': _rows(sk.ours_to_v3d(inp.px_ours), valid, one),
        'joints_3d': _rows(sk.ours_to_v3d(pose_ours), valid, one),
        'scale': None if scale is None else _rows(scale, valid, one),
        'normalisation_factor': factor,
        'skipped_frames': {str(t): r for t, r in sorted(inp.skipped.items())},
        'filled_joints': None if inp.missing is None else
        [[sk.V3D_NAMES[j] for j in np.where(sk.ours_to_v3d(m[:, None])[:, 0])[0]] for m in inp.missing],
    }
    if bvh:
        rec['bvh_frames'] = np.where(valid)[0].astype(int).tolist()
    if inp.fps:
        rec['fps'] = inp.fps
    if inp.warning:
        rec['warning'] = inp.warning
    return rec


def write_arrays(inp, stem, out_dir, pose_ours, scale, factor, bvh=False):
    """``<stem>_3d.npy`` (v3d, NaN for skipped frames) and ``<stem>_3d.json``."""
    pose_v3d = sk.ours_to_v3d(pose_ours).astype(np.float32)
    with atomic_write(os.path.join(out_dir, stem + '_3d.npy')) as f:
        np.save(f, pose_v3d if inp.sequence else pose_v3d[0])
    with atomic_write(os.path.join(out_dir, stem + '_3d.json'), 'w') as f:
        f.write(json_text(record(inp, pose_ours, scale, factor, bvh)))


def write_bvh(inp, stem, out_dir, pose_ours):
    """``<stem>.bvh`` of the lifted frames (a single image: a one-frame clip)."""
    pose_v3d = sk.ours_to_v3d(pose_ours[inp.valid]).astype(np.float64)
    with atomic_write(os.path.join(out_dir, stem + '.bvh'), 'w') as f:
        f.write(bvh_text(pose_v3d, fps=inp.fps or 25.0))


def write_video(inp, stem, out_dir, pose_ours, radius, gif=False, fps=None, progress=None):
    """``<stem>.mp4`` (``gif``, or no MP4 encoder here: ``.gif``): each frame with its 2D beside
    the 3D lift."""
    from lib.vis.video import render_frames  # loads matplotlib

    frames = render_frames(inp.frames, inp.px_ours, pose_ours, inp.valid, radius, title=inp.name,
                           progress=progress)
    write_animation(frames, os.path.join(out_dir, stem), fps or inp.fps or 10.0, 'gif' if gif else 'mp4')


def write_figures(inp, stem, out_dir, pose, scale, opts, depth, show=False):
    """The figures of one lifted input (its middle usable frame) and its animation.
    ``opts``: ``gif``, ``gif_fps``, ``gif_frames`` as scripts/inference.py takes them;
    ``depth`` (T,): each lift's root depth, the camera distance from which the root-centred
    pose projects onto its 2D input (a model that scales its 3D moves it)."""
    from tqdm import tqdm

    from lib.vis.plot import CUBE_M, figure_2d_3d, save_gif, save_png  # loads matplotlib
    valid = np.where(inp.valid)[0]
    t = int(valid[len(valid) // 2])
    T = len(pose)
    title = inp.name + (' (frame %d of %d)' % (t + 1, T) if inp.sequence else '')
    if scale is not None:
        title += ', scale %.2f' % scale[t]
    image = inp.frames[t] if inp.frames else (read_image(inp.picture) if inp.picture else None)
    miss = None if inp.missing is None else inp.missing[t]
    fig = figure_2d_3d(inp.px_ours[t], pose[t], image=image, title=title, missing=miss,
                       camera_distance=float(depth[t]))
    save_png(fig, os.path.join(out_dir, stem + '.png'))
    if image is not None:
        from lib.vis.authors_figure import authors_figure, save_jpg  # loads matplotlib
        save_jpg(authors_figure(pose[t], image, inp.px_ours[t]), os.path.join(out_dir, stem + '_out.jpg'))
    if inp.frames and inp.sequence:
        write_video(inp, stem, out_dir, pose, CUBE_M, gif=opts.gif,
                    progress=lambda it: tqdm(it, desc='video', unit='frame', disable=not show))
    elif inp.sequence:
        ok = inp.valid
        save_gif(inp.px_ours[ok], pose[ok], os.path.join(out_dir, stem + '.gif'), fps=opts.gif_fps,
                 max_frames=opts.gif_frames, title=inp.name, camera_distance=float(np.nanmedian(depth)))


def write_outputs(inp, stem, out_dir, pose, scale, factor, opts, depth, show=False):
    """Everything one lifted input gets: the arrays, the figures and, with ``opts.bvh``, the BVH."""
    write_arrays(inp, stem, out_dir, pose, scale, factor, bool(opts.bvh))
    write_figures(inp, stem, out_dir, pose, scale, opts, depth, show)
    if opts.bvh:
        write_bvh(inp, stem, out_dir, pose)
