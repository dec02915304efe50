"""The scale prior of a dataset: the distribution of ``scale_mid`` on its training split.

The scaler's KL term (:func:`lib.train.losses.loss_kl_scale`) pulls the batch distribution of
``scale_mid`` towards N(DATA.SCALE_MID_MEAN, DATA.SCALE_MID_STD^2).  The authors computed
those two numbers for Human3.6M (0.720643 / 0.058 in their configs) with a small script of
theirs; the same formula on another dataset gives other numbers (its subjects' size, its
cameras' distance), so each dataset gets its own prior:

per frame, from the normalised 2D input x (root-centred, one factor per split so that the mean
head-root distance is 0.1; :func:`lib.data.normalise.normalise_split`) and the ground-truth 3D X
(metres, camera frame):

1. X is root-centred, divided by a length ``factor_3d`` (metres; the authors used a constant per
   dataset, here by default the split's mean head-root length), moved to depth 10 and projected:
   p = X_xy / X_z;
2. ``scale`` = the mean over the two image axes of (extent of p) / (extent of x): the factor
   that makes the 2D input as large as the 3D seen at depth 10;
3. ``scale_mid`` = (scale + (h + w) / 2) / 2, with h, w the extents of x (the quantity the
   scaler predicts, :mod:`lib.models.scaler`).

The prior is the mean and the (population) standard deviation of ``scale_mid``.
``tools/prepare_data.py`` stores it beside the data as ``scale_prior_<name>.json``; a config
asks for it with ``DATA.SCALE_MID_MEAN: auto`` / ``DATA.SCALE_MID_STD: auto``
(:func:`resolve`), and a dataset without the file gets it computed from its training split
when the run starts.
"""
import json
import os

import numpy as np

from lib.config.defaults import RANGES, get_default, in_range
from lib.data import skeleton as sk
from lib.data.dataset import load_splits
from lib.data.formats import get_spec
from lib.data.normalise import normalise_split
from lib.utils.errors import UserError
from lib.utils.safe_io import atomic_write

DEPTH = 10.0            # TRAIN.CAMERA_SKELETON_DISTANCE of the formula (fixed in the authors' script)
AUTO = 'auto'


def prior_path(data_dir, name):
    return os.path.join(data_dir, 'scale_prior_%s.json' % name)


def mean_head_root(pose_3d):
    """The default ``factor_3d``: the mean head-root length (metres) of the frames."""
    X = np.asarray(pose_3d, np.float64)
    return float(np.linalg.norm(X[:, sk.HEAD] - X[:, sk.ROOT], axis=-1).mean())


def scale_mids(x, pose_3d, factor_3d=None):
    """Per-frame (scale, scale_mid), each (N,).  ``x``: normalised 2D (N, 17, 2), ours order;
    ``pose_3d``: camera-frame metres (N, 17, 3), ours order; ``factor_3d``: metres (default
    :func:`mean_head_root` of ``pose_3d``)."""
    x = np.asarray(x, np.float64)
    X = np.asarray(pose_3d, np.float64)
    if factor_3d is None:
        factor_3d = mean_head_root(X)
    X = (X - X[:, sk.ROOT:sk.ROOT + 1]) / factor_3d
    X[..., 2] += DEPTH
    p = X[..., :2] / X[..., 2:]
    ext_x = x.max(axis=1) - x.min(axis=1)           # (N, 2): width, height of the input
    ext_p = p.max(axis=1) - p.min(axis=1)
    with np.errstate(divide='ignore', invalid='ignore'):
        scale = (ext_p / ext_x).mean(axis=1)
    hws = ext_x.mean(axis=1)
    return scale, (scale + hws) / 2


def compute(split, spec, factor_3d=None, same_norm_2d=True):
    """The prior of ``split`` (a :class:`lib.data.split.PoseSplit`, GT 3D in metres) as a dict:
    scale_mid_mean, scale_mid_std, scale_mean, frames, factor_3d_m.  ``same_norm_2d``: the 2D
    normalised as the training input is (DATA.USE_SAME_NORM_2D: one factor per split, else each
    frame by its own head-root length)."""
    if len(split) == 0:
        raise UserError('cannot compute the scale prior of an empty split', split.source,
                        'check the data files')
    x, _ = normalise_split(split.pose_2d_px, spec, same_norm_2d)
    if factor_3d is None:
        factor_3d = mean_head_root(split.pose_3d)
    scale, mid = scale_mids(x, split.pose_3d, factor_3d)
    ok = np.isfinite(mid)
    if not ok.any():
        raise UserError('no frame gives a finite scale', split.source, 'check the 2D and 3D of the training split')
    return {'scale_mid_mean': float(mid[ok].mean()), 'scale_mid_std': float(mid[ok].std()),
            'scale_mean': float(scale[ok].mean()), 'frames': int(ok.sum()), 'factor_3d_m': float(factor_3d)}


def write(path, prior, about):
    """Write ``prior`` (from :func:`compute`) with a description of its source, atomically."""
    doc = dict(prior)
    doc['about'] = about
    doc['formula'] = ('per frame: scale = mean over x, y of the extent of the GT 3D (root-centred, '
                      '/ factor_3d_m, at depth 10, projected) over the extent of the normalised 2D; '
                      'scale_mid = (scale + (h + w) / 2) / 2; mean and std over the training split')
    with atomic_write(path, 'w') as f:
        json.dump(doc, f, indent=2)
    return path


def read(path):
    """The prior stored at ``path``, its two numbers checked like the config keys they replace
    (DATA.SCALE_MID_MEAN / SCALE_MID_STD: a number, not a string or a boolean, in their range)."""
    name = os.path.basename(path)[len('scale_prior_'):-len('.json')]
    fix = ('rewrite it (python tools/prepare_data.py prior --data-dir %s --name %s --force), or delete it '
           '(the prior is then computed from the training split)' % (os.path.dirname(path) or '.', name))
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError('unreadable scale prior (%s)' % str(e).split('\n')[0][:80], path, fix) from None
    if not isinstance(doc, dict):
        raise UserError('scale prior must be a JSON object with scale_mid_mean and scale_mid_std', path, fix)
    for field, key in (('scale_mid_mean', 'DATA.SCALE_MID_MEAN'), ('scale_mid_std', 'DATA.SCALE_MID_STD')):
        if field not in doc:
            raise UserError('scale prior has no %s' % field, path, fix)
        if not in_range(doc[field], RANGES[key]):
            raise UserError('scale prior %s must be a number in %s (as %s), got %s' % (
                field, RANGES[key], key, json.dumps(doc[field])[:40]), path, fix)
    return doc


def is_auto(cfg):
    return AUTO in (cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD)


def resolve(cfg, data_dir, train_split, spec, say=print):
    """Replace ``auto`` in DATA.SCALE_MID_MEAN / SCALE_MID_STD by the dataset's prior (the file
    beside the data, else computed from ``train_split`` now) and say which prior the run uses."""
    if not is_auto(cfg):
        if cfg.TRAIN.USE_SCALER:
            say('scale prior: scale_mid mean %.6g, std %.6g (from the config)'
                % (cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD))
        return None
    path = prior_path(data_dir, cfg.DATA.DATASET_NAME)
    if os.path.isfile(path):
        doc, where = read(path), path
    elif train_split is not None:
        doc = compute(train_split, spec, same_norm_2d=cfg.DATA.USE_SAME_NORM_2D)
        where = 'computed now from the training split, %d frames of %s' % (doc['frames'], train_split.source)
    else:
        raise UserError('DATA.SCALE_MID_MEAN / SCALE_MID_STD are auto, but there is no %s and no training '
                        'split to compute it from' % os.path.basename(path), data_dir,
                        'run tools/prepare_data.py prior, or give the numbers in the config')
    if cfg.DATA.SCALE_MID_MEAN == AUTO:
        cfg.DATA.SCALE_MID_MEAN = doc['scale_mid_mean']
    if cfg.DATA.SCALE_MID_STD == AUTO:
        cfg.DATA.SCALE_MID_STD = doc['scale_mid_std']
    say('scale prior: scale_mid mean %.6g, std %.6g (%s)' % (cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD,
                                                              where))
    return doc


def write_for_dataset(data_dir, name, say=print, use_gt=True):
    """Compute the prior of dataset ``name`` in ``data_dir`` (any format the project reads: the
    authors' h5 files, the VideoPose3D archives, the MPI-INF-3DHP / SURREAL layouts) from its
    training split, write ``scale_prior_<name>.json`` beside it and return the prior."""
    cfg = get_default()
    cfg.DATA.DATASET_NAME = name
    cfg.USE_GT = use_gt
    split = load_splits(cfg, data_dir, which=('train',))['train']
    prior = compute(split, get_spec(name))
    path = write(prior_path(data_dir, name), prior, 'training split of %s: %d frames of %s (%s 2D)'
                 % (name, prior['frames'], split.source, 'ground-truth' if use_gt else 'detected'))
    say('scale prior of %s: scale_mid mean %.6f, std %.6f (%d training frames; mean scale %.4f) -> %s'
        % (name, prior['scale_mid_mean'], prior['scale_mid_std'], prior['frames'], prior['scale_mean'], path))
    return prior
