"""Evaluation: lift the test split, compute every metric, write the outputs.

Per frame: root-centre the prediction and the GT, scale
the prediction by the frame's GT head-root length Lf, and compute MPJPE,
P-MPJPE, N-MPJPE and the oracle-scale MPJPE in mm.  Headline numbers are
means over all frames; ``*_batchmean`` reproduce the original's mean of
per-batch means (B = ``EVAL.BATCH_SIZE`` = 1024, file order).

Outputs: ``results.json`` and ``predictions.npz`` (``pred`` in network units,
``gt`` in mm, both root-centred in the H36M/v3d joint order, ``pose_2d_px`` the
2D input in pixels (v3d order), with per-frame ``subject``, ``action``,
``camera``, ``frame``); with ``pred_file`` also the authors'
``<dataset>_valid_pred_3d.h5`` (:mod:`lib.eval.prediction_file`).
MPI-INF-3DHP adds the authors' 3D PCK / AUC (:mod:`lib.eval.pck`).
"""
import json
import os

import numpy as np
import torch

from lib.data import skeleton as sk
from lib.data.dataset import head_root_length
from lib.data.formats import H36M, get_spec
from lib.data.scale_prior import scale_mids
from lib.eval import metrics as M
from lib.eval import pck
from lib.eval.lifting import lift_across_ranks
from lib.eval.prediction_file import write_prediction_file
from lib.models.scaler import scaler_features
from lib.utils import distributed as dist
from lib.utils.safe_io import atomic_write


def eval_factor(gt_rc, same_norm_3d=False, const=H36M.same_norm_3d_factor):
    """(N,) metres per network unit: each frame's GT head-root length (+1e-8), or the
    dataset's constant with ``DATA.USE_SAME_NORM_3D``.  ``gt_rc``: root-centred GT, metres."""
    if same_norm_3d:
        return np.full(len(gt_rc), const)
    return head_root_length(gt_rc)


def frame_errors(pred, gt_m, same_norm_3d=False, const=H36M.same_norm_3d_factor):
    """Per-frame MPJPE, P-MPJPE, N-MPJPE, oracle-scale MPJPE and P-MPJPE with reflection allowed in
    mm, and ``depth_flip_rate`` (1.0 where the best rigid fit is a reflection), (N,) each."""
    gt = gt_m - gt_m[:, sk.ROOT:sk.ROOT + 1]
    p = pred * eval_factor(gt, same_norm_3d, const)[:, None, None]
    pa, pa_reflect, flip = M.procrustes_errors(p, gt)
    return {
        'MPJPE': M.mpjpe(p, gt) * 1000,
        'P-MPJPE': pa * 1000,
        'N-MPJPE': M.n_mpjpe(p, gt) * 1000,
        'MPJPE_oracle_scale': M.oracle_scale_mpjpe(p, gt) * 1000,
        'P-MPJPE_reflect': pa_reflect * 1000,
        'depth_flip_rate': flip,
    }


def compute_metrics(pred, gt_m, groups, batch=1024, same_norm_3d=False, chunk=65536,
                    const=H36M.same_norm_3d_factor):
    """pred: root-centred network units (N, 17, 3); gt_m: camera-frame metres.

    Returns (results dict, per-frame errors dict in mm).  Every metric is per frame, so
    they are computed ``chunk`` frames at a time: the temporaries stay small (the whole
    H36M test split at once would need about 1 GB of them).
    """
    parts = [frame_errors(pred[i:i + chunk], gt_m[i:i + chunk], same_norm_3d, const)
             for i in range(0, len(gt_m), chunk)] or [frame_errors(pred, gt_m, same_norm_3d, const)]
    err = {k: np.concatenate([e[k] for e in parts]) for k in parts[0]}
    res = {k: float(v.mean()) for k, v in err.items()}
    res['MPJPE_minus_N-MPJPE'] = res['MPJPE'] - res['N-MPJPE']
    res['MPJPE_batchmean'] = M.batch_means(err['MPJPE'], batch)
    res['P-MPJPE_batchmean'] = M.batch_means(err['P-MPJPE'], batch)
    res['num_poses'] = int(len(gt_m))
    per_action = {}
    names, inv = np.unique(np.asarray(groups), return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, minlength=len(names))
    sums = {k: np.bincount(inv, err[k], len(names)) for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE')}
    for i, a in enumerate(names):
        per_action[str(a)] = {k: float(sums[k][i] / counts[i]) for k in sums}
        per_action[str(a)]['num_poses'] = int(counts[i])
    res['per_action'] = per_action
    return res, err


def true_scale_mean(x, gt_m):
    """The mean of the scale the test frames call for, by the formula of the scale prior
    (:func:`lib.data.scale_prior.scale_mids`, with the split's mean head-root length): what a
    scaler's mean ``scale`` should come near.  ``x``: the normalised 2D input (tensor)."""
    scale, _ = scale_mids(x.float().cpu().numpy(), gt_m)
    return float(np.nanmean(scale)) if len(scale) else float('nan')


def best_key(cfg):
    """The result that selects ``model_best.pth.tar``: the original's printed P-MPJPE (the mean
    of 1024-frame batch means, ``COMPAT.BEST_BY_BATCHMEAN``) or the per-frame mean."""
    return 'P-MPJPE_batchmean' if cfg.COMPAT.BEST_BY_BATCHMEAN else 'P-MPJPE'


def eval_indices(n, stride):
    return np.arange(0, n, stride)


def evaluate(model, data, split, cfg, out_dir=None, extra=None, write=True, use_scaler=True,
             pred_file=False):
    """Evaluate on the test split; write results.json / predictions.npz into ``out_dir``.

    MPI-INF-3DHP and SURREAL are reported per sequence (``per_sequence``) instead of per
    action; MPI-INF-3DHP adds the authors' 3D PCK / AUC (:mod:`lib.eval.pck`).
    ``pred_file``: also write the authors' ``<dataset>_valid_pred_3d.h5``
    (:mod:`lib.eval.prediction_file`), as their ``main.py --eval`` did.
    Under ``torchrun`` this is a collective: the ranks share the lifting
    (:func:`lib.eval.lifting.lift_across_ranks`), rank 0 computes the metrics and writes, and every
    rank returns rank 0's results.
    """
    spec = get_spec(cfg.DATA.DATASET_NAME)
    idx = eval_indices(len(split), cfg.EVAL.STRIDE)
    every = cfg.EVAL.STRIDE == 1                    # no copies of the whole split then
    x = data.pose_2d if every else data.pose_2d[torch.as_tensor(idx, device=data.pose_2d.device)]
    pred, scale = lift_across_ranks(model, x, precision=cfg.EVAL.PRECISION, use_scaler=use_scaler)
    if dist.rank_world()[0] != 0:
        return dist.broadcast_object(None)
    gt = split.pose_3d if every else split.pose_3d[idx]
    by_seq = 'seqname' in split.extra and spec.name in ('mpi', 'surreal')
    groups = (split.extra['seqname'] if by_seq else split.action_group)
    groups = groups if every else groups[idx]
    res, _ = compute_metrics(pred, gt, groups, cfg.EVAL.BATCH_SIZE, cfg.DATA.USE_SAME_NORM_3D,
                             const=spec.same_norm_3d_factor)
    if spec.pck or pred_file:                       # the scaled prediction, metres
        gt_rc = gt - gt[:, sk.ROOT:sk.ROOT + 1]
        pred_m = pred * eval_factor(gt_rc, cfg.DATA.USE_SAME_NORM_3D, spec.same_norm_3d_factor)[:, None, None]
    if by_seq:
        res['per_sequence'] = res.pop('per_action')
    if spec.pck:
        res.update(pck.pck_metrics(pred_m, gt_rc, groups))
        for g, v in res.pop('per_group').items():
            res['per_sequence'][g].update(v)
    res['eval_stride'] = int(cfg.EVAL.STRIDE)
    res['precision'] = cfg.EVAL.PRECISION
    if scale is not None:
        res['scale_mean'] = float(scale.mean())
        res['scale_std'] = float(scale.std())
    res['scale_true_mean'] = true_scale_mean(x, gt)
    if extra:
        res.update(extra)
    if write and out_dir is not None:
        write_outputs(out_dir, res, pred, gt, split, idx)
        if pred_file:
            scale_mid = None
            if scale is not None:                   # scale = 2 scale_mid - hws (lib.models.scaler)
                scale_mid = (scale + scaler_features(x.float().cpu(), 1)[1].numpy().reshape(-1)) / 2
            write_prediction_file(out_dir, cfg.DATA.DATASET_NAME, split, idx, pred_m, gt_rc, res,
                                  scale, scale_mid)
    return dist.broadcast_object(res)


def write_outputs(out_dir, res, pred, gt_m, split, idx):
    os.makedirs(out_dir, exist_ok=True)
    gt_mm = (gt_m - gt_m[:, sk.ROOT:sk.ROOT + 1]) * 1000
    with atomic_write(os.path.join(out_dir, 'predictions.npz')) as f:
        np.savez(f, pred=sk.ours_to_v3d(pred).astype(np.float32),
                 gt=sk.ours_to_v3d(gt_mm).astype(np.float32),
                 pose_2d_px=sk.ours_to_v3d(split.pose_2d_px[idx]).astype(np.float32),
                 subject=split.subject[idx].astype(str), action=split.action[idx].astype(str),
                 camera=split.camera[idx].astype(np.int64), frame=split.frame[idx].astype(np.int64))
    with atomic_write(os.path.join(out_dir, 'results.json'), 'w') as f:
        json.dump(res, f, indent=2)


def format_table(res, title=None):
    """The per-action (or per-sequence) table and the headline numbers, as printed text."""
    lines = []
    if title:
        lines.append(title)
    key = 'per_sequence' if 'per_sequence' in res else 'per_action'
    with_pck = 'auc' in res
    head = '%-22s %9s %9s %9s %8s' % ('action' if key == 'per_action' else 'sequence', 'MPJPE', 'P-MPJPE',
                                      'N-MPJPE', 'frames')
    lines.append(head + ('  %7s %7s %7s %7s' % ('PCK150', 'AUC', 'PCK150a', 'AUCa') if with_pck else ''))

    def row(name, r):
        s = '%-22s %9.2f %9.2f %9.2f %8d' % (name[-22:], r['MPJPE'], r['P-MPJPE'], r['N-MPJPE'], r['num_poses'])
        if with_pck:
            s += '  %7.3f %7.3f %7.3f %7.3f' % (r['pckh5'], r['auc'], r['pckh5_p2'], r['auc_p2'])
        return s
    for a, r in res[key].items():
        lines.append(row(a, r))
    lines.append(row('all frames', res))
    lines.append('original average (mean of %s-frame batch means): MPJPE %.2f  P-MPJPE %.2f'
                 % ('1024', res['MPJPE_batchmean'], res['P-MPJPE_batchmean']))
    lines.append('scale headroom: oracle-scale MPJPE %.2f, MPJPE - N-MPJPE %.2f (mm)'
                 % (res['MPJPE_oracle_scale'], res['MPJPE_minus_N-MPJPE']))
    if 'P-MPJPE_reflect' in res:
        lines.append('depth ambiguity: P-MPJPE with reflection allowed (ElePose/LInKs protocol) %.2f mm; '
                     'depth-flip rate %.1f %% (frames whose best rigid fit is a mirror image)'
                     % (res['P-MPJPE_reflect'], 100 * res['depth_flip_rate']))
    if with_pck:
        lines.append('3D PCK at 150 mm (pckh5) %.3f, AUC %.3f; after rigid alignment %.3f, %.3f '
                     '(fractions; head size 300 mm, thresholds 0-150 mm)'
                     % (res['pckh5'], res['auc'], res['pckh5_p2'], res['auc_p2']))
    if res.get('precision', 'fp32') != 'fp32':
        lines.append('lifted with EVAL.PRECISION %s (not float32): compare with float32 numbers '
                     'only within about 0.2 mm' % res['precision'])
    return '\n'.join(lines)
