"""The one 2D normalisation: pixels -> the lifter's input, for training and for every other input.

The rule (:func:`normalise_2d`): shift by the principal point and divide by the focal length,
centre on the root joint (set to 1e-5), then scale so that the head-root distance is
``HEAD_ROOT_2D`` -- on average over the set (one factor per split or per input file,
``DATA.USE_SAME_NORM_2D``), or per frame.  Its three entry points:

* :func:`normalise_split`: a data split with its dataset's principal point and focal length
  (:mod:`lib.data.formats`): the training and test splits (:class:`lib.data.batches.TensorSplit`,
  so the training and the evaluation) and the scale prior (:mod:`lib.data.scale_prior`);
* :func:`normalise_pixels`: any other input (the demo, your own keypoints, photos, video), with
  Human3.6M's constants, one factor per input file;
* :func:`normalise_lsp`: LSP images (:mod:`lib.inference.lsp`), as :func:`normalise_pixels`, or
  with the original's anisotropic x / 55, y / 90 stretch first (``COMPAT.LSP_ANISOTROPIC``).
"""
import numpy as np

from lib.data import skeleton as sk
from lib.data.formats import H36M

HEAD_ROOT_2D = 0.1      # 1 / TRAIN.CAMERA_SKELETON_DISTANCE
ANISO_X, ANISO_Y = 55.0, 90.0   # the original's LSP stretch (COMPAT.LSP_ANISOTROPIC)


def normalise_2d(px, same_norm=True, factor=None, centre=H36M.centre, focal=H36M.focal):
    """Pixels (N, 17, 2) in ours order -> the network's 2D input, and the factor k.

    (u - 514.0435) / 500, (v - 506.7003) / 500 (other datasets: their ``centre`` and
    ``focal``, :mod:`lib.data.formats`); subtract the root (joint 13)
    and set it to 1e-5; multiply by one k per split so that the *mean*
    head-root distance is 0.1 (``USE_SAME_NORM_2D``), or divide each frame by
    its own head-root distance (times 0.1).  Pass ``factor`` to reuse a k.
    """
    x = np.empty(px.shape, np.float64)               # in place below: one float64 copy at a time
    x[..., 0] = (px[..., 0] - centre[0]) / focal
    x[..., 1] = (px[..., 1] - centre[1]) / focal
    x -= x[:, sk.ROOT:sk.ROOT + 1].copy()
    x[:, sk.ROOT] = 1e-5
    dist = np.linalg.norm(x[:, sk.HEAD] - x[:, sk.ROOT], axis=-1)
    if same_norm:
        if factor is None:
            factor = HEAD_ROOT_2D / dist.mean()
        x *= factor
        return x.astype(np.float32), float(factor)
    x /= dist[:, None, None] + 1e-8
    x *= HEAD_ROOT_2D
    return x.astype(np.float32), None


def normalise_split(px, spec, same_norm=True):
    """A data split's pixels (N, 17, 2), ours order, with the principal point and focal length of
    its dataset (``spec``, :func:`lib.data.formats.get_spec`) -> (network input, factor);
    ``same_norm``: ``DATA.USE_SAME_NORM_2D``."""
    return normalise_2d(px, same_norm, None, spec.centre, spec.focal)


def normalise_pixels(px_ours, cfg=None, factor=None):
    """Pixels (N, 17, 2) in ours order -> network input, normalised as the training data.

    One factor for the whole input set (mean head-root 0.1), like one data split.
    """
    same = True if cfg is None else cfg.DATA.USE_SAME_NORM_2D
    return normalise_2d(np.asarray(px_ours, np.float64), same, factor)


def normalise_lsp(px_ours, anisotropic=False, same_norm=True, factor=None):
    """LSP pixels (N, 17, 2), ours order -> (network input float32, factor): as
    :func:`normalise_pixels`, or, ``anisotropic``, x / 55 and y / 90 first (the original's
    stretch; its offsets cancel in the root centring), which widens every pose by 90 / 55."""
    px = np.asarray(px_ours, np.float64)
    if anisotropic:
        px = px / np.array([ANISO_X, ANISO_Y])
    return normalise_2d(px, same_norm, factor)
