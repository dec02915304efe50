"""Frames of a lifted video: the frame with its 2D skeleton beside the 3D lift seen from the camera
and from the side."""
import numpy as np

from lib.vis.authors_figure import draw_2d_on_image
from lib.vis.plot import (VIEWS, _draw_3d_artists, joint_colour, legend_handles, new_figure, setup_3d, to_metres,
                           typical_radius, view_camera)

PANEL_PX = 360          # height of each frame of the video, pixels


def _canvas_rgb(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def render_frames(frames, px_ours, poses_ours, valid, radius, title=None, progress=None, views=VIEWS):
    """RGB frames (list of (PANEL_PX, W, 3) uint8): the video frame with the 2D drawn on it
    (left; "no person found" when the frame was skipped) and the 3D pose in each of ``views``
    (right: from the network's camera, then from the side, which shows the depth), in metres,
    in the cube of half-width ``radius`` metres, grown to :func:`lib.vis.plot.typical_radius`
    of the lifted frames when they are larger.  ``progress`` wraps the frame loop (a progress bar)."""
    from PIL import Image, ImageDraw

    ok = np.asarray(valid, bool)
    radius = typical_radius(to_metres(np.asarray(poses_ours)[ok]), minimum=float(radius), step=0.25)
    n = len(views)
    fig = new_figure(n * PANEL_PX / 80.0, PANEL_PX / 80.0, dpi=80)
    axes = []
    for k, (name, elev, azim) in enumerate(views):
        ax = fig.add_axes([k / n, 0.06, 1.0 / n, 0.80], projection='3d')
        setup_3d(ax, radius, elev, azim, camera=view_camera(name))
        ax.set_title(name, fontsize=9, pad=0)
        axes.append(ax)
    fig.legend(handles=legend_handles(False), loc='lower center', ncol=3, frameon=False, fontsize=8)
    head = fig.suptitle('', fontsize=9, y=0.99, va='top')
    out = []
    for t in (progress(range(len(frames))) if progress else range(len(frames))):
        frame = frames[t]
        for ax in axes:
            for artist in list(ax.lines) + list(ax.collections):
                artist.remove()
        img = np.asarray(frame, np.uint8)
        if valid[t]:
            img = draw_2d_on_image(img, px_ours[t], width=max(2, int(round(max(img.shape[:2]) / 200))),
                                   colour=joint_colour)
            for ax in axes:
                _draw_3d_artists(ax, to_metres(poses_ours[t]), radius, None)
        head.set_text('%sframe %d / %d\n3D lift (cube \u00b1%g m)'
                      % ((title + ': ') if title else '', t + 1, len(frames), radius))
        right = _canvas_rgb(fig)
        im = Image.fromarray(img)
        im = im.resize((max(2, round(im.width * PANEL_PX / im.height)), PANEL_PX), Image.BILINEAR)
        if not valid[t]:
            ImageDraw.Draw(im).text((8, 8), 'no person found', fill=(255, 40, 40))
        left = np.asarray(im)
        w = left.shape[1] + right.shape[1]
        w += w % 2                                  # even sizes for video encoders
        canvas = np.full((PANEL_PX, w, 3), 255, np.uint8)
        canvas[:, :left.shape[1]] = left
        canvas[:right.shape[0], left.shape[1]:left.shape[1] + right.shape[1]] = right[:PANEL_PX]
        out.append(canvas)
    return out
