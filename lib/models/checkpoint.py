"""Checkpoints: atomic saving, safe loading, and reading the architecture back.

Files keep the original's dict keys (``epoch``, ``p1_mpjpe``, ``p2_mpjpe``,
``pose_model_state_dict``, ``discriminator_state_dict``,
``temp_discriminator_state_dict``, ``optimizer_g``, ``optimizer_d``,
``optimizer_d_temp``, plus the MPI metric keys set to 0) and add ``config``,
``scaler_bypassed`` (saved during the adv warm start: evaluate without the scaler),
``scheduler_*``, ``rng``, ``train_state`` and, with EMA on, ``ema_state_dict``.
The scaler lives inside ``pose_model_state_dict`` as in the original.

Loading always uses ``torch.load(..., weights_only=True)``: a checkpoint that
would run code when unpickled is refused.
"""
import io
import os
import pickle
import re
import warnings

import torch

from lib.utils.errors import UserError
from lib.utils.safe_io import atomic_write


def save_checkpoint(state, path):
    """Write ``state`` atomically: a kill at any moment leaves the old file intact."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_write(path) as f:
        f.write(buf.getbuffer())


def load_checkpoint(path, map_location='cpu'):
    """Read a checkpoint with ``weights_only=True``; UserError on any problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError('checkpoint not found', path, 'check the --pretrain / --resume path')
    with open(path, 'rb') as f:
        head = f.read(4)
    # torch.save writes a zip archive (PK..), older PyTorch a pickle (protocol 2+: 0x80)
    if head and not (head.startswith(b'PK\x03\x04') or head[:1] == b'\x80'):
        raise UserError('not a PyTorch checkpoint (the file starts with %r)' % head, path,
                        'pass a .pth.tar written by tools/main.py or the authors\' release')
    try:
        with warnings.catch_warnings():     # (e.g. about a raw pickle's protocol): the outcome says it
            warnings.simplefilter('ignore')
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        m = re.search(r'(?:GLOBAL|global) ([\w.]+)', str(e))
        if m or 'weights only load failed' in str(e).lower():
            what = ('names %s' % m.group(1)) if m else 'holds non-tensor objects'
            raise UserError('checkpoint refused: it %s, which would run code when loaded' % what, path,
                            'only load checkpoints of plain tensors (weights_only) from sources you '
                            'trust') from None
        raise UserError('checkpoint is truncated or corrupt (%s)' % _first_line(e), path,
                        'the file is damaged: use an intact copy, or the previous checkpoint') from None
    except Exception as e:   # noqa: BLE001 -- a damaged file can make the reader raise anything
        raise UserError('checkpoint is truncated or corrupt (%s)' % _first_line(e), path,
                        'the file is damaged: use an intact copy, or the previous checkpoint') from None
    if not isinstance(ckpt, dict):
        raise UserError('checkpoint is not a dict of state dicts', path,
                        'use a checkpoint written by this project or the authors\' release')
    return ckpt


def _first_line(e):
    msg = str(e).strip().split('\n')[0].split('. ')[0][:120]
    return '%s: %s' % (type(e).__name__, msg) if msg else type(e).__name__


def pose_state_dict(ckpt, path):
    """The PoseModel weights of a checkpoint (``module.`` prefixes stripped)."""
    sd = ckpt.get('pose_model_state_dict')
    if sd is None and all(isinstance(v, torch.Tensor) for v in ckpt.values()) and \
            any(k.startswith('lifter_before.') for k in ckpt):
        sd = ckpt          # a bare state dict
    if not isinstance(sd, dict):
        raise UserError('checkpoint has no pose_model_state_dict (keys: %s)'
                        % ', '.join(sorted(ckpt)[:8]), path,
                        'pass a checkpoint saved by tools/main.py or the authors\' release')
    sd = {k[7:] if k.startswith('module.') else k: v for k, v in sd.items()}
    odd = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise UserError('checkpoint weight %s is not a tensor (a %s)' % (odd[0], type(sd[odd[0]]).__name__), path,
                        'use a checkpoint saved by tools/main.py or the authors\' release')
    check_finite_weights(sd, path)
    return sd


def check_finite_weights(sd, path):
    """UserError when a floating-point tensor of the state dict holds NaN or inf: such a model
    lifts every pose to NaN."""
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise UserError('checkpoint weights are not finite (%s holds NaN or inf)' % k, path,
                            'use a checkpoint saved before training diverged (tools/main.py never saves '
                            'non-finite weights), or retrain with a lower TRAIN.POSE_LR')


def infer_architecture(sd, path='checkpoint'):
    """Read (LIFTER_RES_BLOCKS, USE_SCALER, NUM_CHANNELS, BN_TRACK, SCALER_RES_BLOCKS,
    SCALER_INPUT_SIZE) off a PoseModel state dict."""
    if 'lifter_before.pre.0.weight' not in sd:
        raise UserError('not a PoseModel state dict (no lifter_before.pre.0.weight)', path,
                        'pass a checkpoint of this model (lifter + optional scaler)')
    w = sd['lifter_before.pre.0.weight']
    if w.ndim != 2 or w.shape[1] != 34:
        raise UserError('lifter input has %s columns, expected 34 (17 joints x 2)' % (tuple(w.shape),),
                        path, 'this checkpoint is for another joint layout')
    blocks = {int(m.group(1)) for k in sd for m in [re.match(r'lifter_before\.blocks\.(\d+)\.', k)] if m}
    sblocks = {int(m.group(1)) for k in sd for m in [re.match(r'scaler\.blocks\.(\d+)\.', k)] if m}
    arch = {
        'LIFTER_RES_BLOCKS': (max(blocks) + 1) if blocks else 0,
        'USE_SCALER': 'scaler.pre.weight' in sd,
        'NUM_CHANNELS': int(w.shape[0]),
        'BN_TRACK': 'lifter_before.pre.1.running_mean' in sd,
    }
    if arch['USE_SCALER']:
        arch['SCALER_RES_BLOCKS'] = (max(sblocks) + 1) if sblocks else 0
        arch['SCALER_INPUT_SIZE'] = int(sd['scaler.pre.weight'].shape[1])
    return arch


def read_pose_checkpoint(path, use_ema=False):
    """A pose-model checkpoint read for building the model it holds: (checkpoint dict, pose
    weights, architecture).  The file is loaded safely (:func:`load_checkpoint`), the weights
    are its ``pose_model_state_dict`` without ``module.`` prefixes, checked finite, or with
    ``use_ema`` its EMA weights when it has them (checked finite too); the architecture is
    :func:`infer_architecture` of those weights."""
    ckpt = load_checkpoint(path)
    sd = pose_state_dict(ckpt, path)
    if use_ema and 'ema_state_dict' in ckpt:
        sd = ckpt['ema_state_dict']
        check_finite_weights(sd, path)
    return ckpt, sd, infer_architecture(sd, path)


def apply_architecture(cfg, arch, log=print):
    """Make the config match a checkpoint's architecture, noting each override in one line."""
    targets = {'LIFTER_RES_BLOCKS': ('NETWORK', 'LIFTER_RES_BLOCKS'),
               'USE_SCALER': ('TRAIN', 'USE_SCALER'), 'NUM_CHANNELS': ('NETWORK', 'NUM_CHANNELS'),
               'BN_TRACK': ('NETWORK', 'BN_TRACK'),
               'SCALER_RES_BLOCKS': ('NETWORK', 'SCALER_RES_BLOCKS'),
               'SCALER_INPUT_SIZE': ('NETWORK', 'SCALER_INPUT_SIZE')}
    for k, v in arch.items():
        sec, key = targets[k]
        if cfg[sec][key] != v:
            log('note: checkpoint has %s.%s = %s (config said %s); using the checkpoint\'s'
                % (sec, key, v, cfg[sec][key]))
            cfg[sec][key] = v


#: config keys that describe the machine that trained (its paths, its GPU): dropped from the
#: config of an exported model
EXPORT_DROPPED_KEYS = ('GPU', 'OUTPUT_DIR', 'LOG_DIR', 'DATA_DIR', 'DATA.TRAIN_PATH', 'DATA.VALID_PATH',
                       'TRAIN.LIFTER_PRETRAIN_PATH')


def inference_checkpoint(ckpt, path):
    """What inference needs of a training checkpoint: the pose model's weights, the
    scaler-bypass flag, the epoch and its printed metrics, and the config without
    machine paths (for the record; the architecture is read off the weights).  No
    discriminators, optimisers or RNG states: a few MB instead of tens."""
    out = {'pose_model_state_dict': {k: v.detach().clone().contiguous()
                                     for k, v in pose_state_dict(ckpt, path).items()},
           'scaler_bypassed': bool(ckpt.get('scaler_bypassed', False))}
    for k in ('epoch', 'p1_mpjpe', 'p2_mpjpe'):
        if k in ckpt:
            out[k] = ckpt[k]
    cfg = ckpt.get('config')
    if isinstance(cfg, dict):
        cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
        for key in EXPORT_DROPPED_KEYS:
            sec, _, name = key.rpartition('.')
            (cfg.get(sec, {}) if sec else cfg).pop(name, None)
        out['config'] = cfg
    return out


def export_inference_checkpoint(src, dst):
    """Write :func:`inference_checkpoint` of the training checkpoint ``src`` to ``dst``; return it."""
    small = inference_checkpoint(load_checkpoint(src), src)
    infer_architecture(small['pose_model_state_dict'], src)      # a pose model's weights, or refused
    save_checkpoint(small, dst)
    return small


def load_state_strict(module, sd, path, what='pose model'):
    """load_state_dict(strict=True), with a one-line error naming mismatching keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append('shape mismatch: ' + ', '.join('%s %s vs %s' % (k, tuple(sd[k].shape),
                                                                       tuple(own[k].shape))
                                                      for k in wrong[:3]))
        if missing:
            parts.append('missing: ' + ', '.join(missing[:3]) + (' ...' if len(missing) > 3 else ''))
        if unexpected:
            parts.append('unexpected: ' + ', '.join(unexpected[:3]) + (' ...' if len(unexpected) > 3 else ''))
        raise UserError('%s checkpoint does not fit this architecture (%s)' % (what, '; '.join(parts)),
                        path, 'use a checkpoint of the same model and width, or the matching config')
    module.load_state_dict(sd, strict=True)


