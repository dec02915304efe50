"""Loading a trained pose model for inference, and lifting 2D keypoints.

Used by ``tools/main.py --eval``, ``tools/eval_lsp.py`` and
``scripts/inference.py``.  The architecture (number of lifter blocks, width,
presence of the scaler) is read from the checkpoint's state dict, with a
one-line note when it overrides the config; the weights then load strictly.
"""
import numpy as np
import torch

from lib.core.evaluate import predict
from lib.data.dataset import normalise_2d
from lib.models.pose_model import get_pose_model
from lib.utils.checkpoint import (apply_architecture, infer_architecture, load_checkpoint,
                                  load_state_strict, pose_state_dict)


def load_pose_model(cfg, path, device='cpu', log=print, use_ema=False):
    """Build the PoseModel a checkpoint holds, load it strictly, return it in eval mode."""
    ck = load_checkpoint(path)
    sd = pose_state_dict(ck, path)
    if use_ema and 'ema_state_dict' in ck:
        sd = ck['ema_state_dict']
    apply_architecture(cfg, infer_architecture(sd, path), log)
    model = get_pose_model(cfg)
    load_state_strict(model, sd, path)
    return model.to(device).eval()


def normalise_pixels(px_ours, cfg=None, factor=None):
    """Pixels (N, 17, 2) in ours order -> network input, normalised as the training data.

    One factor for the whole input set (mean head-root 0.1), like one data split.
    """
    same = True if cfg is None else cfg.DATA.USE_SAME_NORM_2D
    return normalise_2d(np.asarray(px_ours, np.float64), same, factor)


def lift(model, x_norm, batch_size=4096):
    """Normalised 2D (N, 17, 2), ours order -> dict with ``pose_3d`` (N, 17, 3) root-centred
    in network units (ours order) and ``scale`` (N,) or None (the evaluation's
    :func:`lib.core.evaluate.predict`, in float32)."""
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x_norm, np.float32), device=device)
    pred, scale = predict(model, x, batch_size)
    return {'pose_3d': pred.astype(np.float32), 'scale': scale}
