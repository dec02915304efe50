"""Loading a trained pose model from a checkpoint, for evaluation and inference.

Used by ``tools/main.py --eval``, ``tools/eval_lsp.py`` and ``scripts/inference.py``
(which then lift with :mod:`lib.eval.lifting`).  The architecture (number of lifter
blocks, width, presence of the scaler) is read from the checkpoint's state dict, with a
one-line note when it overrides the config; the weights then load strictly.
"""
from lib.config.defaults import get_default
from lib.config.load import update_config_from_dict
from lib.data.formats import pose_model_args
from lib.models.checkpoint import apply_architecture, load_checkpoint, load_state_strict, read_pose_checkpoint
from lib.models.pose_model import get_pose_model
from lib.utils.errors import UserError


def load_pose_model(cfg, path, device='cpu', log=print, use_ema=False, explicit=()):
    """Build the PoseModel a checkpoint holds, load it strictly, return it in eval mode.

    The architecture comes from the checkpoint.  Whether its scaler is used: a checkpoint
    saved during the adv warm start (``scaler_bypassed``) is lifted without it (s = 1), as
    training evaluated it; ``TRAIN.USE_SCALER`` among the ``explicit`` keys (the ones given
    with ``--opts``) overrides that either way, with a note.
    """
    ck, sd, arch = read_pose_checkpoint(path, use_ema)
    use = use_scaler(arch['USE_SCALER'], bool(ck.get('scaler_bypassed', False)), cfg.TRAIN.USE_SCALER,
                     'TRAIN.USE_SCALER' in explicit, path, log)
    apply_architecture(cfg, {k: v for k, v in arch.items() if k != 'USE_SCALER'}, log)
    cfg.TRAIN.USE_SCALER = use
    apply_lift_settings(cfg, ck.get('config'), explicit, log)
    if not use:
        sd = {k: v for k, v in sd.items() if not k.startswith('scaler.')}
    model = get_pose_model(cfg, **pose_model_args(cfg))
    load_state_strict(model, sd, path)
    return model.to(device).eval()


def checkpoint_config(path):
    """The config a checkpoint of this project stores (the defaults, then its ``config``): what
    ``--pretrain CKPT`` without ``--cfg`` runs with.  The authors' checkpoints store none."""
    stored = load_checkpoint(path).get('config')
    if stored is None:
        raise UserError('this checkpoint stores no config (the authors\' released ones do not)', path,
                        'pass --cfg with the config it was trained with, e.g. cfg/h36m_gt_scale.yaml')
    return update_config_from_dict(get_default(), stored, path + ' (its stored config)')


# settings that change how a model lifts but cannot be read off its weights: taken from the
# checkpoint's own config, when it has one (a key given with --opts wins)
LIFT_KEYS = ('TRAIN.SCALE_ON_3D', 'TRAIN.LEARN_SYMMETRY')


def apply_lift_settings(cfg, ck_cfg, explicit=(), log=print):
    """Make ``cfg`` lift as the checkpoint was trained to (:data:`LIFT_KEYS`), noting each change."""
    if not isinstance(ck_cfg, dict):
        return
    for key in LIFT_KEYS:
        sec, k = key.split('.')
        value = ck_cfg.get(sec, {}).get(k) if isinstance(ck_cfg.get(sec), dict) else None
        if key in explicit or not isinstance(value, bool) or value == cfg[sec][k]:
            continue
        log('note: checkpoint has %s = %s (config said %s); using the checkpoint\'s' % (key, value, cfg[sec][k]))
        cfg[sec][k] = value


def use_scaler(has_scaler, bypassed, asked, explicit, path, log=print):
    """Whether to lift with the checkpoint's scaler (see :func:`load_pose_model`)."""
    trained = has_scaler and not bypassed          # what the training's evaluation used
    if explicit:
        if asked and not has_scaler:
            raise UserError('TRAIN.USE_SCALER true, but the checkpoint has no scaler', path,
                            'drop --opts TRAIN.USE_SCALER, or pass a checkpoint with a scaler')
        if asked != trained:
            log('note: --opts TRAIN.USE_SCALER %s: lifting %s the scaler, unlike the training\'s '
                'evaluation of this checkpoint' % (str(asked).lower(), 'with' if asked else 'without'))
        return bool(asked)
    if bypassed and has_scaler:
        log('note: this checkpoint was saved during the adv warm start, which bypasses the (untrained) '
            'scaler: lifting without it (s = 1), as training did; --opts TRAIN.USE_SCALER true to use it')
    elif has_scaler != asked:
        log('note: checkpoint has TRAIN.USE_SCALER = %s (config said %s); using the checkpoint\'s'
            % (has_scaler, asked))
    return trained
