"""The one 2D normalisation: pixels -> the lifter's input, for training and for every other input.

Training splits (:class:`lib.data.batches.TensorSplit`), the scale prior, the evaluation, the
demo, your own keypoints, photos, video and LSP all go through :func:`normalise_2d`: shift by the
principal point and divide by the focal length (the dataset's, :mod:`lib.data.formats`), centre
on the root joint, then scale so that the head-root distance is ``HEAD_ROOT_2D`` -- on average
over the set (one factor per split or per input file, ``DATA.USE_SAME_NORM_2D``), or per frame.
"""
import numpy as np

from lib.data import skeleton as sk
from lib.data.formats import H36M

HEAD_ROOT_2D = 0.1      # 1 / TRAIN.CAMERA_SKELETON_DISTANCE


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


def normalise_pixels(px_ours, cfg=None, factor=None):
    """Pixels (N, 17, 2) in ours order -> network input, normalised as the training data.

    One factor for the whole input set (mean head-root 0.1), like one data split.
    """
    same = True if cfg is None else cfg.DATA.USE_SAME_NORM_2D
    return normalise_2d(np.asarray(px_ours, np.float64), same, factor)
