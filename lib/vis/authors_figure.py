"""The authors' demo figure: the 3D skeleton in front of the image, shown on a plane behind it.

The layout, view and colours of the figures in the original release's
``scripts/demo_output/<n>_out.jpg``, drawn by this project's code:

* a 10 x 10 inch figure with one 3D axes, viewed from elevation 10 and
  azimuth 45 degrees; the plot axes are (depth z, x, -y) of the root-centred
  camera-frame pose, labelled Z, X and Y, without tick labels; the x and y
  panes and all axis lines are transparent (the floor pane stays);
* bones: the person's left limbs blue, right limbs green, torso and head
  dark orange, 3 points wide;
* the input image, with the 2D skeleton drawn on it 2 pixels wide (left pure
  blue, right pure green, torso light orange (252, 141, 89)), stands upright
  on the plane z = -2.4 behind the body (a square of half-width 0.7125 in x
  and y, stretched to it whatever the image's aspect); limits x, y in
  [-0.75, 0.75], z in [-1.875, 0.75].

Speed: the image plane is a surface of one quad per pixel, as in the
original, but the image is first shrunk to at most ``MAX_PLANE_PX`` pixels
on its longer side, so a figure renders in well under a second.
"""
import numpy as np

from lib.data import skeleton as sk
from lib.utils.safe_io import atomic_write
from lib.vis.plot import new_figure

LEFT_BONE, RIGHT_BONE, TORSO_BONE = 'blue', 'green', 'darkorange'
LEFT_2D, RIGHT_2D, TORSO_2D = (0, 0, 255), (0, 255, 0), (252, 141, 89)
RADIUS = 0.75
PLANE_Z = -3.2 * RADIUS
PLANE_FILL = 0.95
MAX_PLANE_PX = 128


def _bone_colours():
    """(child, parent, colour 3D, colour 2D) for the 16 bones, ours order."""
    out = []
    for j, p in sk.BONES:
        if j in sk.LEFT:
            c3, c2 = LEFT_BONE, LEFT_2D
        elif j in sk.RIGHT:
            c3, c2 = RIGHT_BONE, RIGHT_2D
        else:
            c3, c2 = TORSO_BONE, TORSO_2D
        out.append((j, p, c3, c2))
    return out


def draw_2d_on_image(image, pts_ours, width=2, colour=None):
    """A copy of ``image`` (H, W, 3) uint8 with the (17, 2) pixel skeleton drawn on it, in the
    authors' colours, or ``colour(j)`` (an RGB tuple or '#rrggbb') for the bone of joint j."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.asarray(image, np.uint8)).convert('RGB')
    draw = ImageDraw.Draw(im)
    pts = np.asarray(pts_ours, np.float64)
    for j, p, _, c2 in _bone_colours():
        if np.isfinite(pts[[j, p]]).all():
            draw.line([tuple(pts[j]), tuple(pts[p])], fill=colour(j) if colour else c2, width=width)
    return np.asarray(im)


def _plane_image(image):
    from PIL import Image

    im = Image.fromarray(image)
    scale = MAX_PLANE_PX / float(max(im.size))
    if scale < 1:
        im = im.resize((max(2, round(im.width * scale)), max(2, round(im.height * scale))), Image.BILINEAR)
    return np.asarray(im, np.float64) / 255.0


def authors_figure(pose3d_ours, image=None, pts2d_ours=None):
    """The figure (a matplotlib Figure) for one root-centred-able (17, 3) pose, ours order.

    ``image`` (H, W, 3) uint8 goes on the back plane, with ``pts2d_ours``
    (17, 2 pixels) drawn on it when given.
    """
    pose = np.asarray(pose3d_ours, np.float64).reshape(sk.NUM_JOINTS, 3)
    pose = pose - pose[sk.ROOT]
    fig = new_figure(10, 10)
    ax = fig.add_subplot(111, projection='3d')
    ax.view_init(elev=10., azim=45.)
    for j, p, c3, _ in _bone_colours():
        ax.plot(pose[[j, p], 2], pose[[j, p], 0], -pose[[j, p], 1], c=c3, linewidth=3)
    if image is not None:
        img = np.asarray(image, np.uint8)
        if pts2d_ours is not None:
            img = draw_2d_on_image(img, pts2d_ours)
        tex = _plane_image(img)[::-1]                      # row 0 at the bottom of the plane
        h, w = tex.shape[:2]
        half = PLANE_FILL * RADIUS
        xx, yy = np.meshgrid(np.linspace(-half, half, w), np.linspace(-half, half, h))
        ax.plot_surface(np.full_like(xx, PLANE_Z), xx, yy, rstride=1, cstride=1, facecolors=tex, shade=False)
    ax.set_xlabel('Z', fontsize=13)
    ax.set_ylabel('X', fontsize=13)
    ax.set_zlabel('Y', fontsize=13)
    ax.set_xlim3d([-2.5 * RADIUS, RADIUS])
    ax.set_ylim3d([-RADIUS, RADIUS])
    ax.set_zlim3d([-RADIUS, RADIUS])
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticklabels([])
        axis.line.set_color((1.0, 1.0, 1.0, 0.0))
    ax.xaxis.set_pane_color((1.0, 1.0, 1.0, 0.0))
    ax.yaxis.set_pane_color((1.0, 1.0, 1.0, 0.0))
    return fig


def save_jpg(fig, path, quality=90):
    """Render ``fig`` to a JPEG at ``path`` (atomically)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    buf.seek(0)
    out = io.BytesIO()
    Image.open(buf).convert('RGB').save(out, format='JPEG', quality=quality)
    with atomic_write(path) as f:
        f.write(out.getvalue())
    return path
