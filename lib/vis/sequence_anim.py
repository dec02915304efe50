"""Render one :class:`lib.vis.sequences.Sequence` as an animated GIF or MP4 (OpenCV, no system
ffmpeg; a GIF when OpenCV is not installed).

Four panels per frame: the 2D input (pixels, y down), the predicted 3D pose in
the joint colours of :mod:`lib.vis.plot` over the ground truth in grey dashes
(metres, root-centred) seen from the camera and from the side (which shows the
depth), in one cube for the whole sequence sized to its typical frame, and the
per-frame MPJPE over the sequence with the current frame marked.  Longer sequences are
subsampled evenly to ``max_frames``.  The file is written to a temporary name in
the target folder and renamed into place.
"""
import os
import sys

import numpy as np
from matplotlib.lines import Line2D

from lib.data import skeleton as sk
from lib.utils.media_io import write_animation
from lib.utils.outputs import check_output_dir, create_output_dir
from lib.vis.plot import (VIEWS, draw_2d, frame_indices, joint_colour, legend_handles, new_figure, setup_3d,
                          to_plot_frame, typical_radius, view_camera)
from lib.vis.sequences import file_stem, load_sequences, select

GT_COLOUR = '#9a9a9a'


def _draw_pose_3d(ax, pose, colour=None, lw=2.5, style='-'):
    P = to_plot_frame(pose)
    for j, p in sk.BONES:
        ax.plot(P[[j, p], 0], P[[j, p], 1], P[[j, p], 2], style, color=colour or joint_colour(j), lw=lw,
                solid_capstyle='round')


def _layout(seq, r):
    fig = new_figure(14.5, 4.8)
    ax2 = fig.add_axes([0.01, 0.14, 0.21, 0.66])
    ax3s = [fig.add_axes([0.22 + 0.25 * k, 0.10, 0.26, 0.72], projection='3d') for k in range(len(VIEWS))]
    axe = fig.add_axes([0.78, 0.18, 0.205, 0.58])
    err = seq.error_mm
    axe.plot(np.arange(1, len(err) + 1), err, color='#333333', lw=1.2)
    axe.set_xlabel('frame')
    axe.set_ylabel('MPJPE (mm)')
    axe.set_title('per-frame error (mean %.1f mm)' % err.mean(), fontsize=10)
    axe.set_xlim(1, max(2, len(err)))
    axe.set_ylim(0, max(1e-6, float(err.max())) * 1.1)
    marker = axe.axvline(1, color='#d55e00', lw=1.5)
    ax2.set_title('2D input (pixels)' if seq.pose_2d is not None else '2D input (not in this file)',
                  fontsize=10)
    for ax3, (name, elev, azim) in zip(ax3s, VIEWS):
        setup_3d(ax3, r, elev, azim, title='3D (metres), %s' % name, camera=view_camera(name))
    handles = legend_handles(False)
    handles.append(Line2D([], [], color=GT_COLOUR, lw=2.5, ls='--', label='ground truth'))
    fig.legend(handles=handles, loc='lower center', ncol=4, frameon=False, fontsize=9)
    return fig, ax2, ax3s, marker


def render(seq, path, max_frames=60, fps=10, fmt='gif', say=None):
    """Write the animation of ``seq`` to ``path`` (``fmt`` 'gif' or 'mp4'); returns the path
    written: for 'mp4' without OpenCV, the GIF beside it, and ``say`` gets one line why
    (:func:`lib.utils.media_io.write_animation`).  The cube follows the typical frame
    (:func:`lib.vis.plot.typical_radius`), so one wild frame does not shrink every other."""
    idx = frame_indices(len(seq.pred), int(max_frames))
    r = typical_radius(np.concatenate([seq.pred[idx], seq.gt[idx]]), minimum=0.6, step=0.1)
    fig, ax2, ax3s, marker = _layout(seq, r)
    fig.set_dpi(72)
    head = fig.suptitle('', fontsize=11, y=0.985, va='top')
    if seq.pose_2d is not None:
        pts = seq.pose_2d[idx].reshape(-1, 2)
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.1

    def update(n):
        t = idx[n]
        for ax in (ax2, *ax3s):
            for artist in list(ax.lines) + list(ax.collections):
                artist.remove()
        if seq.pose_2d is not None:
            draw_2d(ax2, seq.pose_2d[t])
            ax2.set_xlim(centre[0] - half, centre[0] + half)
            ax2.set_ylim(centre[1] + half, centre[1] - half)
        for ax3 in ax3s:
            _draw_pose_3d(ax3, seq.gt[t], GT_COLOUR, lw=2.0, style='--')
            _draw_pose_3d(ax3, seq.pred[t])
        marker.set_xdata([t + 1, t + 1])
        head.set_text('%s: frame %d / %d, MPJPE %.1f mm' % (seq.name, t + 1, len(seq.pred), seq.error_mm[t]))
        return []

    frames = []
    for n in range(len(idx)):
        update(n)
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    return write_animation(frames, os.path.splitext(os.fspath(path))[0], fps, fmt, say)


def render_sequences(pred_path, out_dir, names=None, count=1, max_frames=60, fps=10, fmt='gif', say=print,
                     force=False):
    """``tools/vis_sequences.py``: animate the sequences ``names`` (or the first ``count``) of an
    evaluation's predictions file into ``out_dir/<sequence>.<fmt>``, one line each.  The file is
    read and the output checked (an animation of the same name is replaced only with ``force``)
    before the folder is made."""
    seqs = select(load_sequences(pred_path), names, count)
    files = ['%s.%s' % (file_stem(s.name), fmt) for s in seqs]
    out_dir = check_output_dir(out_dir, '--out', inputs=[pred_path], force=force, will_write=files)
    create_output_dir(out_dir, '--out')
    for s, name in zip(seqs, files):
        path = render(s, os.path.join(out_dir, name), max_frames, fps, fmt,
                      say=lambda m: print(m, file=sys.stderr))
        say('%s: %d frames, mean MPJPE %.1f mm -> %s' % (s.name, len(s.pred), s.error_mm.mean(), path))
