"""Lifting 2D poses to 3D with a trained model: the one batched path every caller uses.

:func:`lift_in_batches` lifts a whole set of poses (:meth:`lib.models.pose_model.PoseModel.lift`
is one forward pass of the network); :func:`lift_across_ranks` shares that work among the
processes of a ``torchrun`` job (evaluation).  Used by the evaluation (:mod:`lib.eval.evaluate`),
``tools/eval_lsp.py`` and ``scripts/inference.py``; pixel keypoints become the network's input
with :func:`lib.data.normalise.normalise_pixels`.
"""
import numpy as np
import torch

from lib.data import skeleton as sk
from lib.models.precision import bf16_inference_copy
from lib.utils import distributed as dist

def lift_in_batches(model, pose_2d, batch_size=None, as_tensor=False, precision='fp32', use_scaler=True,
                    with_root_depth=False):
    """Lift a whole set of normalised 2D poses (N, 17, 2) with ``model`` in eval mode, batch by
    batch -> (root-centred 3D (N, 17, 3), scale (N,) or None), in network units, ours order.

    ``pose_2d``: a tensor (lifted on its device) or an array (lifted on the model's device).
    Returns NumPy float64 arrays, or float32 tensors on that device with ``as_tensor``.
    Runs under ``torch.inference_mode`` in batches of ``batch_size`` (default 4096 on a CPU,
    where larger batches fall out of cache, 32768 on a GPU).  The time is the network's matrix
    products: about 38 MFLOP per pose for the default network with the scaler.  ``precision``
    'fp32' (the default) lifts with ``model`` itself; 'bf16' with its bf16 inference copy
    (:func:`lib.models.precision.bf16_inference_copy`; the outputs are float32 either way).
    ``use_scaler=False`` bypasses the scaler (s = 1), as during the adv warm start.
    ``with_root_depth``: also return each lift's root depth (N,), the camera distance from which
    the root-centred pose projects onto its 2D input (for figures).
    """
    if not torch.is_tensor(pose_2d):
        pose_2d = torch.as_tensor(np.asarray(pose_2d, np.float32), device=next(model.parameters()).device)
    if precision == 'bf16':
        model = bf16_inference_copy(model)
    elif precision != 'fp32':
        raise ValueError("precision must be 'fp32' or 'bf16', got %r" % (precision,))
    if batch_size is None:
        batch_size = 4096 if pose_2d.device.type == 'cpu' else 32768
    n = pose_2d.shape[0]
    # the outputs are filled in place: no list of batches to concatenate at the end
    if as_tensor:
        pred = torch.empty((n, 17, 3), dtype=torch.float32, device=pose_2d.device)
    else:
        pred = np.empty((n, 17, 3), np.float64)
    scale = None
    root_z = np.empty(n, np.float64) if with_root_depth else None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                lifted = model.lift(pose_2d[i:i + batch_size], use_scaler)
                Y, s = lifted.est_3d, lifted.scale
                if with_root_depth:
                    root_z[i:i + batch_size] = Y[:, sk.ROOT, 2].float().cpu().numpy()
                Y = (Y - Y[:, sk.ROOT:sk.ROOT + 1]).float()
                pred[i:i + batch_size] = Y if as_tensor else Y.cpu().numpy()
                if s is not None:
                    if scale is None:
                        scale = torch.empty(n, dtype=torch.float32, device=pose_2d.device)
                    scale[i:i + batch_size] = s.reshape(-1).float()
    finally:
        model.train(was_training)
    out = (pred, scale) if as_tensor else (pred, (scale.cpu().numpy() if scale is not None else None))
    return out + (root_z,) if with_root_depth else out


def lift_across_ranks(model, pose_2d, batch_size=None, precision='fp32', use_scaler=True):
    """:func:`lift_in_batches` sharded over the ranks of a ``torchrun`` job: each rank lifts a
    contiguous part, every rank gets all the predictions in order (a collective: all
    ranks must call it).  Rank 0's BatchNorm statistics are used everywhere, so the
    result is that of the model rank 0 saves.  One process: plain :func:`lift_in_batches`."""
    if not dist.is_dist():
        return lift_in_batches(model, pose_2d, batch_size, precision=precision, use_scaler=use_scaler)
    dist.broadcast_buffers(model)
    n = pose_2d.shape[0]
    pred, scale = lift_in_batches(model, pose_2d[dist.shard(n)], batch_size, as_tensor=True,
                                  precision=precision, use_scaler=use_scaler)
    pred = dist.gather_rows(pred, n)
    if scale is not None:
        scale = dist.gather_rows(scale, n)
    return pred.cpu().numpy().astype(np.float64), (scale.cpu().numpy() if scale is not None else None)
