"""Drawing 2D inputs and 3D lifts (matplotlib, Agg; no pyplot state).

All poses are 17 joints in **ours** order (``lib.data.skeleton``).  Colours
are the same in every panel (Okabe-Ito, readable for colour-blind viewers):

* right limbs (ours 0, 1, 2, 6, 7, 8): vermillion,
* left limbs (ours 3, 4, 5, 9, 10, 11): blue,
* torso and head: bluish green,
* a joint that was *not annotated* and was filled in by a rule (see
  ``lib.inference.lsp``): grey, with dashed bones and a hollow marker.

3D poses come in network units (root-centred camera frame, head-root about
1) and are drawn in metres, scaled the way the metrics scale a prediction
without ground truth on Human3.6M (times ``formats.H36M.same_norm_3d_factor``,
0.68 m), inside a fixed
human-sized cube of half-width :data:`CUBE_M` around the root, so every
figure has the same scale and a poor lift looks poor instead of shrinking
the axes.  A pose that leaves the cube is drawn past it (up to the panel's
edge) and the title says how far it reaches.  The camera frame has x right, y down, z forward; the plots show
(x, z, -y) so that up is up and depth goes into the picture.  The "camera
view" looks from the network's camera (``TRAIN.CAMERA_SKELETON_DISTANCE`` in
front of the root) with a perspective projection, so it shows the 2D input.

Figures are built with :class:`matplotlib.figure.Figure` and an Agg canvas,
so nothing here touches the global pyplot state or needs a display.  Every
file is written atomically (a temporary file in the target folder, renamed).
"""
import io
import os

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lib.data import skeleton as sk
from lib.data.formats import H36M
from lib.utils.media_io import write_gif
from lib.utils.safe_io import atomic_write

RIGHT_COLOUR = '#d55e00'
LEFT_COLOUR = '#0072b2'
TORSO_COLOUR = '#009e73'
MISSING_COLOUR = '#8c8c8c'

CUBE_M = 1.0            # half-width of the 3D cube, metres (holds a standing person, arms up)
CAMERA_DISTANCE = 10.0  # network units from the camera to the root (TRAIN.CAMERA_SKELETON_DISTANCE)
VIEWS = (('camera view', 0.0, -90.0), ('side view', 12.0, -8.0))   # (name, elev, azim)
OBLIQUE = (12.0, -78.0)  # (elev, azim) of a 3D axes drawn without a named view

_RIGHT = set(sk.RIGHT)
_LEFT = set(sk.LEFT)


def joint_colour(j):
    """Colour of joint ``j`` (ours order) and of the bone from ``j`` to its parent."""
    if j in _RIGHT:
        return RIGHT_COLOUR
    if j in _LEFT:
        return LEFT_COLOUR
    return TORSO_COLOUR


def _missing_mask(missing):
    if missing is None:
        return np.zeros(sk.NUM_JOINTS, bool)
    m = np.asarray(missing, bool).reshape(-1)
    if m.shape != (sk.NUM_JOINTS,):
        raise ValueError('missing must have 17 entries, got %s' % (m.shape,))
    return m


def _bones():
    """(child, parent) pairs, drawn torso first so that limbs lie on top."""
    return sorted(sk.BONES, key=lambda b: (b[0] in _RIGHT or b[0] in _LEFT, b[0]))


def legend_handles(with_missing=True):
    """Line handles for a legend: right / left / torso (/ filled joint)."""
    h = [Line2D([], [], color=RIGHT_COLOUR, lw=3, label='right'),
         Line2D([], [], color=LEFT_COLOUR, lw=3, label='left'),
         Line2D([], [], color=TORSO_COLOUR, lw=3, label='torso / head')]
    if with_missing:
        h.append(Line2D([], [], color=MISSING_COLOUR, lw=2, ls='--', marker='o', mfc='white',
                        label='not annotated (filled)'))
    return h


# --- 2D ---------------------------------------------------------------------

def draw_2d(ax, pts_ours, image=None, missing=None, linewidth=None):
    """Draw a (17, 2) pixel pose on ``ax``; over ``image`` (H, W[, C]) when given.

    With an image the axes show the whole image undistorted (equal aspect,
    pixel limits) and the skeleton gets a white outline so it stands out on
    any background.  Without one, the pose is framed with a margin and y
    points down as in pixel coordinates.
    """
    pts = np.asarray(pts_ours, np.float64).reshape(sk.NUM_JOINTS, 2)
    miss = _missing_mask(missing)
    if image is not None:
        img = np.asarray(image)
        h, w = img.shape[:2]
        ax.imshow(img, interpolation='bilinear')
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        size = max(h, w)
    else:
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.15
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] + half, centre[1] - half)
        size = None
    ax.set_aspect('equal')
    ax.set_xticks([])
    ax.set_yticks([])
    if linewidth is None:
        linewidth = 2.5 if size is None else float(np.clip(size / 90.0, 1.8, 4.0))
    outline = [patheffects.Stroke(linewidth=linewidth + 2, foreground='white', alpha=0.85),
               patheffects.Normal()] if image is not None else None
    for j, p in _bones():
        dashed = miss[j] or miss[p]
        ax.plot(pts[[j, p], 0], pts[[j, p], 1], '--' if dashed else '-',
                color=MISSING_COLOUR if dashed else joint_colour(j), lw=linewidth,
                solid_capstyle='round', path_effects=outline, zorder=2)
    ok = ~miss
    cols = [joint_colour(j) for j in range(sk.NUM_JOINTS)]
    ax.scatter(pts[ok, 0], pts[ok, 1], s=(linewidth * 2.6) ** 2, c=[cols[j] for j in np.where(ok)[0]],
               edgecolors='white', linewidths=1.0, zorder=3)
    if miss.any():
        # smaller than the others, so a filled joint lying on its parent leaves both visible
        ax.scatter(pts[miss, 0], pts[miss, 1], s=(linewidth * 1.8) ** 2, facecolors='white',
                   edgecolors=MISSING_COLOUR, linewidths=1.5, zorder=4)
    return ax


# --- 3D ---------------------------------------------------------------------

def to_plot_frame(pose):
    """Camera frame (x right, y down, z forward) -> plot frame (x, z, -y): up is up."""
    p = np.asarray(pose, np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def typical_radius(poses, percentile=95.0, minimum=1.25, step=0.25):
    """A cube half-width for an animation that follows its typical frame, not its worst: the
    ``percentile`` of the frames' reaches (largest absolute coordinate of each root-centred
    pose), with a 5 % margin, rounded up to ``step``, at least ``minimum``.  The few frames
    that reach further are drawn past the cube."""
    p = np.abs(np.asarray(poses, np.float64))
    if not p.size:
        return float(minimum)
    p = np.where(np.isfinite(p), p, 0.0).reshape(p.shape[0], -1)
    extent = float(np.percentile(p.max(1), percentile)) * 1.05
    return max(minimum, float(np.ceil(extent / step) * step))


def to_metres(pose):
    """Root-centred network units -> metres (the metrics' scale without ground truth)."""
    p = np.asarray(pose, np.float64)
    return (p - p[..., sk.ROOT:sk.ROOT + 1, :]) * H36M.same_norm_3d_factor


def reach(pose_m):
    """Largest distance of a joint from the root along any axis (metres), NaN-safe."""
    p = np.abs(np.asarray(pose_m, np.float64))
    p = p[np.isfinite(p)]
    return float(p.max()) if len(p) else 0.0


def camera_focal_length(ax, distance_m):
    """The matplotlib focal length that puts the eye of a perspective view ``distance_m``
    from the centre of the cube (matplotlib scales the eye's distance with it)."""
    r = ax.get_xlim()[1] - ax.get_xlim()[0]
    box = float(np.asarray(ax.get_box_aspect())[1])      # the depth axis of the plot frame
    return distance_m * box / (r * getattr(ax, '_dist', 10.0))


def setup_3d(ax, radius=CUBE_M, elev=OBLIQUE[0], azim=OBLIQUE[1], title=None, camera=None):
    """Fixed cube limits (metres), equal aspect, light panes, axis names, view angle.

    ``camera``: distance (metres) of a perspective eye from the root; None: the
    default perspective.  Tick labels are left out (the grid marks -radius, 0, +radius);
    the title says the cube's half-width instead.
    """
    r = float(radius)
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_zlim(-r, r)
    ax.set_box_aspect((1, 1, 1), zoom=1.2)
    ax.view_init(elev=elev, azim=azim)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.96, 0.96, 0.96, 1.0))
        grid = getattr(axis, '_axinfo', {}).get('grid')
        if isinstance(grid, dict):     # lighter grid lines (private, so optional)
            grid.update(color=(0.82, 0.82, 0.82, 1.0), linewidth=0.6)
    for setter in (ax.set_xticks, ax.set_yticks, ax.set_zticks):
        setter([-r, 0, r])
    for setter in (ax.set_xticklabels, ax.set_yticklabels, ax.set_zticklabels):
        setter([])
    ax.tick_params(length=0, pad=0)
    ax.set_xlabel('x (right)', fontsize=8, labelpad=-12)
    ax.set_ylabel('z (depth)', fontsize=8, labelpad=-12)
    ax.set_zlabel('up', fontsize=8, labelpad=-12)
    if camera is not None:             # looking along the depth axis: its label would be a smudge
        ax.set_proj_type('persp', focal_length=camera_focal_length(ax, camera))
        ax.set_ylabel('')
    if title:
        ax.set_title('%s\n(cube \u00b1%g m)' % (title, r), fontsize=10, pad=0)
    return ax


def view_camera(name, camera_distance=CAMERA_DISTANCE):
    """Eye distance (metres) of a view: the network's camera for the camera view, else None."""
    return camera_distance * H36M.same_norm_3d_factor if name == 'camera view' else None


def draw_3d(ax, pose_ours, radius=CUBE_M, missing=None, elev=OBLIQUE[0], azim=OBLIQUE[1],
            title=None, shadow=True, linewidth=3.0, camera=None):
    """Draw a (17, 3) camera-frame pose in network units on a 3D ``ax``, in metres.

    ``radius`` (metres, default :data:`CUBE_M`) fixes the cube; a pose reaching past it
    is drawn past it and the title gives its reach.  ``shadow`` draws the pose flattened
    onto the floor of the cube in light grey, a cheap depth cue.
    """
    pose = to_metres(np.asarray(pose_ours, np.float64).reshape(sk.NUM_JOINTS, 3))
    r = float(radius)
    far = reach(pose)
    if title and far > r:
        title += ' (reaches %.1f m)' % far
    setup_3d(ax, r, elev, azim, title, camera)
    _draw_3d_artists(ax, pose, r, missing, shadow, linewidth)
    return ax


def _draw_3d_artists(ax, pose_m, r, missing, shadow=True, linewidth=3.0):
    P = to_plot_frame(pose_m)
    miss = _missing_mask(missing)
    if shadow:
        for j, p in _bones():
            ax.plot(P[[j, p], 0], P[[j, p], 1], [-r, -r], color='#c8c8c8', lw=linewidth * 0.8,
                    solid_capstyle='round')
    for j, p in _bones():
        dashed = miss[j] or miss[p]
        ax.plot(P[[j, p], 0], P[[j, p], 1], P[[j, p], 2], '--' if dashed else '-',
                color=MISSING_COLOUR if dashed else joint_colour(j), lw=linewidth,
                solid_capstyle='round')
    ok = ~miss
    ax.scatter(P[ok, 0], P[ok, 1], P[ok, 2], s=22, c=[joint_colour(j) for j in np.where(ok)[0]],
               edgecolors='white', linewidths=0.6, depthshade=False)
    if miss.any():
        ax.scatter(P[miss, 0], P[miss, 1], P[miss, 2], s=12, facecolors='white',
                   edgecolors=MISSING_COLOUR, linewidths=1.2, depthshade=False)


# --- figures ----------------------------------------------------------------

def new_figure(width, height, dpi=100):
    """A Figure with its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_2d_3d(pts2d, pose3d, image=None, title=None, missing=None, radius=CUBE_M, views=VIEWS,
                 camera_distance=CAMERA_DISTANCE):
    """One figure: the 2D pose (over the image, if given) beside the 3D pose in each of ``views``.

    ``pts2d`` (17, 2) pixels and ``pose3d`` (17, 3), both in ours order;
    ``missing`` (17,) bool marks filled-in joints (drawn grey and dashed).
    """
    pose3d = np.asarray(pose3d, np.float64).reshape(sk.NUM_JOINTS, 3)
    if image is not None:
        h, w = np.asarray(image).shape[:2]
        aspect = float(np.clip(w / float(h), 0.45, 2.2))
    else:
        aspect = 1.0
    panel = 3.9
    widths = [panel * aspect] + [panel] * len(views)
    top_in = 0.8 if title else 0.6     # inches above the panels: suptitle + 2-line titles
    bottom_in = 0.45                   # inches below: the legend
    height = panel + bottom_in + top_in
    fig = new_figure(sum(widths) + 0.3, height)
    gs = fig.add_gridspec(1, 1 + len(views), width_ratios=widths, left=0.01, right=0.99,
                          bottom=bottom_in / height, top=1 - top_in / height, wspace=0.04)
    ax2 = fig.add_subplot(gs[0, 0])
    draw_2d(ax2, pts2d, image=image, missing=missing)
    ax2.set_title('2D input' + (' (image + keypoints)' if image is not None else ' (pixels)'),
                  fontsize=10)
    for k, (name, elev, azim) in enumerate(views):
        ax3 = fig.add_subplot(gs[0, 1 + k], projection='3d')
        draw_3d(ax3, pose3d, radius=radius, missing=missing, elev=elev, azim=azim,
                title='3D lift, %s' % name, camera=view_camera(name, camera_distance))
    miss = _missing_mask(missing)
    fig.legend(handles=legend_handles(with_missing=bool(miss.any())), loc='lower center',
               ncol=4, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.08 / height, va='top')
    return fig


def fig_to_png_bytes(fig, dpi=None):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi, facecolor='white')
    return buf.getvalue()


def save_png(fig, path, dpi=None):
    """Render ``fig`` to PNG and write it atomically to ``path``."""
    data = fig_to_png_bytes(fig, dpi)
    with atomic_write(path) as f:
        f.write(data)
    return path


def frame_indices(T, max_frames):
    """The frames an animation of ``T`` frames shows: all of them, or ``max_frames`` spread evenly."""
    if T <= max_frames:
        return np.arange(T)
    return np.unique(np.linspace(0, T - 1, max_frames).round().astype(int))


def save_gif(frames2d, poses3d, path, fps=10, max_frames=100, radius=CUBE_M, title=None,
             views=VIEWS, camera_distance=CAMERA_DISTANCE):
    """An animated GIF of a sequence: the 2D keypoints beside the 3D lift in each of ``views``
    (by default from the network's camera, which repeats the 2D, and from the side, which
    shows the depth).

    ``frames2d`` (T, 17, 2) pixels and ``poses3d`` (T, 17, 3), ours order.
    Longer sequences are subsampled evenly to ``max_frames`` frames.  The 2D
    framing and the 3D cube are fixed over the whole sequence: ``radius`` metres, grown to
    :func:`typical_radius` of the frames shown when they are larger.  Written to a
    temporary ``.gif`` in the target folder and renamed into place.
    """
    f2 = np.asarray(frames2d, np.float64)
    p3 = np.asarray(poses3d, np.float64)
    if f2.ndim != 3 or p3.ndim != 3 or len(f2) != len(p3):
        raise ValueError('save_gif needs (T, 17, 2) and (T, 17, 3) arrays of the same T')
    p3 = to_metres(p3)
    idx = frame_indices(len(f2), int(max_frames))
    r = typical_radius(p3[idx], minimum=float(radius), step=0.25)
    lo, hi = f2[idx].reshape(-1, 2).min(0), f2[idx].reshape(-1, 2).max(0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.1

    n = len(views)
    fig = new_figure(3.4 + 3.6 * n, 4.6, dpi=80)
    w2, w3 = 3.4 / (3.4 + 3.6 * n), 3.6 / (3.4 + 3.6 * n)
    ax2 = fig.add_axes([0.01, 0.13, w2 - 0.02, 0.70])
    ax3s = [fig.add_axes([w2 + k * w3, 0.10, w3, 0.74], projection='3d') for k in range(n)]
    fig.legend(handles=legend_handles(False), loc='lower center', ncol=3, frameon=False, fontsize=9)
    head = fig.suptitle('', fontsize=10, y=0.985, va='top')
    ax2.set_title('2D input (pixels)', fontsize=10)
    for ax3, (name, elev, azim) in zip(ax3s, views):
        setup_3d(ax3, r, elev, azim, '3D lift, %s' % name, view_camera(name, camera_distance))

    def frame_2d(t):
        draw_2d(ax2, f2[t])
        ax2.set_xlim(centre[0] - half, centre[0] + half)
        ax2.set_ylim(centre[1] + half, centre[1] - half)

    # the axes, panes, labels and legend are drawn once; each frame draws only the pose on them
    frame_2d(idx[0])
    _clear(ax2, *ax3s)
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for t in idx:
        canvas.restore_region(background)
        frame_2d(t)
        for ax3 in ax3s:
            _draw_3d_artists(ax3, p3[t], r, None)
        head.set_text('%sframe %d / %d' % ((title + ': ') if title else '', t + 1, len(f2)))
        for ax in (ax2, *ax3s):
            for artist in list(ax.lines) + list(ax.collections):
                if hasattr(artist, 'do_3d_projection'):    # what Axes3D.draw does first
                    artist.do_3d_projection()
                ax.draw_artist(artist)
        fig.draw_artist(head)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
        _clear(ax2, *ax3s)
    return write_gif(frames, os.fspath(path), fps)


def _clear(*axes):
    """Remove the pose artists (lines, scatters) of ``axes``, keeping their set-up."""
    for ax in axes:
        for artist in list(ax.lines) + list(ax.collections):
            artist.remove()


def contact_sheet(png_paths, out_path, cols=6, thumb=256, captions=True, caption_fn=None):
    """Tile thumbnails of ``png_paths`` into one PNG, written atomically.

    Each thumbnail keeps its aspect with its longer side ``thumb`` pixels;
    cells are as large as the largest thumbnail (so wide figures get wide,
    short cells) and carry the file stem (or ``caption_fn(path)``) as a caption.  An unreadable file
    becomes a grey cell.  Returns ``out_path``, or None when there is nothing
    to tile.
    """
    from PIL import Image, ImageDraw

    paths = list(png_paths)
    if not paths:
        return None
    thumbs = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert('RGB')
                im.thumbnail((thumb, thumb))
                thumbs.append(im)
        except (OSError, ValueError):
            thumbs.append(None)
    tw = max([t.width for t in thumbs if t is not None] or [thumb])
    th = max([t.height for t in thumbs if t is not None] or [thumb])
    cols = max(1, min(int(cols), len(paths)))
    rows = (len(paths) + cols - 1) // cols
    cap_h = 14 if captions else 0
    pad = 6
    cell_w, cell_h = tw + pad, th + cap_h + pad
    sheet = Image.new('RGB', (cols * cell_w + pad, rows * cell_h + pad), 'white')
    draw = ImageDraw.Draw(sheet)
    for k, (p, im) in enumerate(zip(paths, thumbs)):
        x0 = pad + (k % cols) * cell_w
        y0 = pad + (k // cols) * cell_h
        if im is None:
            draw.rectangle([x0, y0, x0 + tw, y0 + th], fill=(200, 200, 200))
        else:
            sheet.paste(im, (x0 + (tw - im.width) // 2, y0 + (th - im.height) // 2))
        if captions:
            name = (caption_fn(p) if caption_fn else os.path.splitext(os.path.basename(p))[0])[:40]
            draw.text((x0 + 2, y0 + th + 1), name, fill=(40, 40, 40))
    buf = io.BytesIO()
    sheet.save(buf, format='PNG', optimize=True)
    with atomic_write(out_path) as f:
        f.write(buf.getvalue())
    return out_path
