"""Leeds Sports Pose (LSP) annotations as 17-joint 2D poses in ours order.

Layouts
-------
``joints.mat`` holds one array ``joints`` in one of two layouts, told apart
by its first two axes (the only two shapes accepted, so the choice is never
ambiguous, whatever the number of images N, N = 3 and N = 14 included):

* ``(3, 14, N)``: the original LSP release (2000 images, ``imNNNN.jpg``).
* ``(14, 3, N)``: LSP extended (LSPET, 10000 images, ``imNNNNN.jpg``); the
  project's ``../shared/data/lsp_sample`` uses it.

MATLAB drops a trailing singleton axis, so N = 1 files arrive as (3, 14) or
(14, 3) and are accepted.  Images are looked up in ``<root>/images/`` (or
``<root>`` itself); when the layout's own name pattern does not exist the
other pattern is tried, so an extended file with 4-digit names still works.

The third value per joint
-------------------------
* **Original LSP, (3, 14, N): an occlusion flag, 0 = visible, 1 = occluded.**
  The README only says "a binary value indicating the visibility", but
  public LSP loaders read it as ``visible = 1 - flag`` (one comments
  "1=obscured, 0=visible"), and every one of the 2000 images has all 14
  joints annotated, occluded ones at their estimated position.  So all 14
  points are used; the flag is reported as ``occluded`` and changes nothing.
* **LSP extended, (14, 3, N): 1 = annotated (visible), 0 = not annotated.**
  A 0-flagged joint holds meaningless coordinates: in ``lsp_sample`` 733 of
  the 734 such joints lie outside the image, e.g. image 1's right ankle at
  (0, -26).  These joints are *missing*.

In both layouts a joint is also missing when its coordinates are not finite
or lie more than ``MARGIN`` (10 %) of the image's longer side outside the
image (annotated joints may sit just past the border: one ``lsp_sample``
head top is at y = -1.2).

Missing-joint policy
--------------------
The network needs all 17 joints, so a missing joint is never lifted as the
garbage it holds.  The joints that define the pose's frame are **required**:
both hips (pelvis = root, which every joint is measured from), both
shoulders (thorax, spine) and the head top (the head-root distance that the
2D normalisation is built on).  An image lacking any of them is **skipped**,
with the missing names as the reason: any guess there would move or rescale
every joint.  Other missing joints are **filled** by a fixed rule and flagged
(``missing``; drawn grey and dashed, listed in the output json):

* neck: on the thorax-head segment, ``NECK_FILL_T`` (0.2) of the way from
  the thorax (the median of that ratio over the ``lsp_sample`` images that
  have both shoulders, the neck and the head top annotated is 0.18);
* elbow / knee whose wrist / ankle is annotated: the midpoint of shoulder /
  hip and wrist / ankle (a straight limb);
* any other limb joint: its (filled) parent's position, a zero-length 2D
  bone, so the lifter sees no extent for that bone rather than an invented
  direction.

This keeps the images that show most of the body (217 of the 400
``lsp_sample`` images have the required joints; 141 have all 14) while
never inventing the body's frame or size.  Filled joints carry no
information, and their 3D positions only say where the network put them.

17 joints (as the original; docs/ORIGINAL.md, "LSP and the demo")
------------------------------------------------------------------
ours 0..11 = LSP 0..11 (ankles, knees, hips, wrists, elbows, shoulders);
12 thorax = mean of the shoulders; 13 pelvis (root) = mean of the hips;
14 spine = mean of thorax and pelvis; 15 = LSP neck; 16 = LSP head top.

Normalisation
-------------
:func:`lib.data.normalise.normalise_lsp`.  By default
(``COMPAT.LSP_ANISOTROPIC = False``) the pixels go through the very
normalisation of the Human3.6M training data: root-centred, root set to 1e-5, one
dataset-wide factor so that the mean head-root distance of the usable
images is 0.1 (or per image, with ``DATA.USE_SAME_NORM_2D = False``); x and
y share one factor.  With ``COMPAT.LSP_ANISOTROPIC`` the original's
x / 55 and y / 90 stretch is applied first (its offsets cancel in the root
centring), which widens every pose by 90 / 55 = 1.64.
"""
import os
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from lib.data.normalise import normalise_lsp
from lib.inference.joint_orders import fill_limbs
from lib.inference.keypoints import check_magnitude
from lib.utils.errors import UserError
from lib.utils.media_io import read_image as read_any

LSP_NAMES = ['R ankle', 'R knee', 'R hip', 'L hip', 'L knee', 'L ankle', 'R wrist', 'R elbow',
             'R shoulder', 'L shoulder', 'L elbow', 'L wrist', 'neck', 'head top']
NUM_LSP = 14
LSP_NECK, LSP_HEAD = 12, 13

ORIGINAL, EXTENDED = 'lsp', 'lspet'
NAME_PATTERN = {ORIGINAL: 'im%04d.jpg', EXTENDED: 'im%05d.jpg'}

REQUIRED = (2, 3, 8, 9, LSP_HEAD)       # both hips, both shoulders, head top (LSP indices)
NECK_FILL_T = 0.2
MARGIN = 0.1
# limb chains (LSP indices), root side first: hip/shoulder -> knee/elbow -> ankle/wrist
LIMBS = ((2, 1, 0), (3, 4, 5), (8, 7, 6), (9, 10, 11))


# --- reading joints.mat -------------------------------------------------------

def detect_layout(arr, where='joints.mat'):
    """``joints`` array -> (joints (N, 14, 3) float64, layout ``'lsp'`` or ``'lspet'``)."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise UserError('LSP joints array has shape %s, expected (3, 14, N) or (14, 3, N)'
                        % (np.shape(arr),), where, 'use the joints.mat of LSP or LSP extended')
    if a.shape[0] == 3 and a.shape[1] == NUM_LSP:
        layout, j = ORIGINAL, np.transpose(a, (2, 1, 0))
    elif a.shape[0] == NUM_LSP and a.shape[1] == 3:
        layout, j = EXTENDED, np.transpose(a, (2, 0, 1))
    else:
        raise UserError('LSP joints array has shape %s, expected (3, 14, N) or (14, 3, N)'
                        % (a.shape,), where, 'use the joints.mat of LSP or LSP extended')
    if not np.issubdtype(j.dtype, np.number) or np.iscomplexobj(j):
        raise UserError('LSP joints array is not numeric (%s)' % j.dtype, where,
                        'use the joints.mat of LSP or LSP extended')
    j = j.astype(np.float64)
    if len(j) == 0:
        raise UserError('LSP joints array holds no images (shape %s)' % (a.shape,), where,
                        'use the joints.mat of LSP or LSP extended')
    if not np.isfinite(j).all():
        raise UserError('LSP joints hold NaN or inf (image %d)' % int(np.argmax(~np.isfinite(j).all((1, 2)))),
                        where, 'use an intact joints.mat of LSP or LSP extended')
    check_magnitude(j[..., :2], where, 'LSP joints')
    return j, layout


def read_joints_mat(path):
    """Read ``joints`` from a MATLAB file -> (joints (N, 14, 3), layout)."""
    import scipy.io

    if not os.path.isfile(path):
        raise UserError('LSP annotation file not found', path,
                        'pass --lsp-root with a folder holding joints.mat and images/ (Leeds Sports Pose: '
                        'http://sam.johnson.io/research/lsp.html; put it in data/lsp to make it the default)')
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:   # noqa: BLE001 -- a damaged file can make the reader raise anything
        msg = str(e).split('\n')[0][:120]
        raise UserError('cannot read the MATLAB file (%s)' % ('%s: %s' % (type(e).__name__, msg) if msg else
                                                             type(e).__name__), path,
                        'the file is damaged or not MATLAB: use the joints.mat of LSP or LSP extended') from None
    if 'joints' not in mat:
        keys = sorted(k for k in mat if not k.startswith('__'))
        raise UserError('no variable "joints" in the MATLAB file (has: %s)' % (', '.join(keys) or 'none'),
                        path, 'use the joints.mat of LSP or LSP extended')
    return detect_layout(mat['joints'], path)


# --- 14 -> 17 -----------------------------------------------------------------

def lsp14_to_ours17(xy):
    """(..., 14, C) LSP order -> (..., 17, C) ours order, built as the original builds it."""
    xy = np.asarray(xy, np.float64)
    thorax = (xy[..., 8, :] + xy[..., 9, :]) / 2
    pelvis = (xy[..., 2, :] + xy[..., 3, :]) / 2
    spine = (thorax + pelvis) / 2
    extra = np.stack([thorax, pelvis, spine, xy[..., LSP_NECK, :], xy[..., LSP_HEAD, :]], -2)
    return np.concatenate([xy[..., :12, :], extra], -2)


def missing_to_ours17(missing14):
    """(14,) missing flags (LSP) -> (17,) flags in ours order; derived joints are never missing
    (their parts are required)."""
    m = np.asarray(missing14, bool)
    return np.concatenate([m[:12], [False, False, False, m[LSP_NECK], m[LSP_HEAD]]])


def missing_joints(joints14, layout, image_size=None, margin=MARGIN):
    """(14, 3) one image's annotation -> (14,) bool, True = missing (see the module docstring)."""
    j = np.asarray(joints14, np.float64)
    xy, flag = j[:, :2], j[:, 2]
    miss = ~np.isfinite(xy).all(1)
    if layout == EXTENDED:
        miss |= ~(flag > 0.5)
    if image_size is not None:
        w, h = image_size
        m = margin * max(w, h)
        with np.errstate(invalid='ignore'):
            miss |= (xy[:, 0] < -m) | (xy[:, 1] < -m) | (xy[:, 0] > w - 1 + m) | (xy[:, 1] > h - 1 + m)
    return miss


def fill_missing(xy14, missing14):
    """Fill the non-required missing joints of one (14, 2) pose by the module's rule.

    Returns the filled copy.  Raises ValueError when a required joint is
    missing (callers skip such images).
    """
    xy = np.array(xy14, np.float64)
    miss = np.asarray(missing14, bool)
    lacking = [LSP_NAMES[k] for k in REQUIRED if miss[k]]
    if lacking:
        raise ValueError('not annotated: ' + ', '.join(lacking))
    if miss[LSP_NECK]:
        thorax = (xy[8] + xy[9]) / 2
        xy[LSP_NECK] = thorax + NECK_FILL_T * (xy[LSP_HEAD] - thorax)
    fill_limbs(xy, miss, LIMBS)
    return xy


# --- the data set -------------------------------------------------------------

@dataclass
class LSPImage:
    """One annotated image and what became of it."""
    index: int                       # 0-based position in joints.mat
    name: str                        # image file name
    path: str
    joints14: np.ndarray             # (14, 3) as stored (x, y, flag)
    size: Optional[tuple] = None     # (width, height) when the image could be opened
    px_ours: Optional[np.ndarray] = None    # (17, 2) pixels, ours order, filled
    missing: Optional[np.ndarray] = None    # (17,) bool: filled-in joints, ours order
    status: str = 'ok'               # 'ok' | 'skipped' | 'failed'
    reason: str = ''

    @property
    def stem(self):
        return os.path.splitext(self.name)[0]

    @property
    def number(self):
        """The 1-based LSP image number."""
        return self.index + 1


@dataclass
class LSPSet:
    root: str
    layout: str
    images: List[LSPImage]
    anisotropic: bool
    x_norm: np.ndarray = field(default_factory=lambda: np.zeros((0, 17, 2), np.float32))
    factor: Optional[float] = None
    usable: List[int] = field(default_factory=list)   # positions in ``images`` of the 'ok' ones

    def count(self, status):
        return sum(im.status == status for im in self.images)


def image_folder(root):
    sub = os.path.join(root, 'images')
    return sub if os.path.isdir(sub) else root


def image_path(folder, layout, index):
    """Path of image ``index`` (0-based): the layout's name pattern, else the other one if present."""
    first = os.path.join(folder, NAME_PATTERN[layout] % (index + 1))
    if os.path.exists(first):
        return first
    other = os.path.join(folder, NAME_PATTERN[EXTENDED if layout == ORIGINAL else ORIGINAL] % (index + 1))
    return other if os.path.exists(other) else first


def image_size(path):
    """(width, height) from the image header; UserError when missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise UserError('image not found', path, 'put the LSP images in <lsp-root>/images/')
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise UserError('unreadable image (%s)' % str(e).split('\n')[0][:100], path,
                        'replace the file with an intact copy') from None


def read_image(path):
    """The decoded RGB image (H, W, 3) uint8, its stored pixels (the annotations' frame);
    UserError when missing or unreadable."""
    return read_any(path, upright=False, where='put the LSP images in <lsp-root>/images/')


def load_lsp(root, limit=None, anisotropic=False, same_norm=True):
    """Read ``<root>/joints.mat`` and the image headers; build, fill and normalise the usable poses.

    Per-image problems do not stop the run: a missing or unreadable image is
    ``failed``, an image lacking a required joint is ``skipped``; both keep a
    one-line reason.  ``limit`` keeps the first N images.
    """
    joints, layout = read_joints_mat(os.path.join(root, 'joints.mat'))
    if limit is not None:
        joints = joints[:max(0, int(limit))]
    folder = image_folder(root)
    images = []
    for i, j14 in enumerate(joints):
        im = LSPImage(index=i, name='', path=image_path(folder, layout, i), joints14=j14)
        im.name = os.path.basename(im.path)
        images.append(im)
        try:
            im.size = image_size(im.path)
        except UserError as e:
            im.status, im.reason = 'failed', e.line()
            continue
        miss14 = missing_joints(j14, layout, im.size)
        try:
            xy = fill_missing(j14[:, :2], miss14)
        except ValueError as e:
            im.status, im.reason = 'skipped', str(e)
            continue
        im.px_ours = lsp14_to_ours17(xy)
        im.missing = missing_to_ours17(miss14)
    data = LSPSet(root=root, layout=layout, images=images, anisotropic=bool(anisotropic))
    data.usable = [k for k, im in enumerate(images) if im.status == 'ok']
    if data.usable:
        px = np.stack([images[k].px_ours for k in data.usable])
        data.x_norm, data.factor = normalise_lsp(px, anisotropic, same_norm)
    return data
