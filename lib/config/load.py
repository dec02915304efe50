"""Loading a config: YAML files and ``--opts`` merged into the defaults, then checked.

``update_config(cfg, yaml_path)`` merges a YAML file (safe loader) into the defaults of
:mod:`lib.config.defaults`; ``apply_opts(cfg, ["KEY", "VALUE", ...])`` overrides dotted keys
with YAML-parsed values; ``validate`` checks types, ranges and choices.  An unknown key, a value
of the wrong type or a malformed YAML raises :class:`lib.utils.errors.UserError`.
``load_run_config`` is the whole sequence for one run of ``tools/main.py``.
"""
import difflib
import math
import os
import warnings

import yaml

from lib.config.defaults import (AUTHORS_UNUSED, AUTO_KEYS, CHOICES, DEAD_KEYS, RANGES, UNSUPPORTED,
                                 get_default, in_range)
from lib.utils.errors import QuietWarning, UserError
from lib.utils.runtime import cfg_path, cli_path


def _type_ok(default, value):
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return True



def _node(cfg, dotted, source):
    node = cfg
    for p in dotted.split('.')[:-1]:
        if p not in node or not isinstance(node[p], dict):
            raise _unknown(dotted, source)
        node = node[p]
    return node


def _set(cfg, dotted, value, source):
    if dotted in UNSUPPORTED:
        if value != UNSUPPORTED[dotted]:
            raise UserError('config key %s: %r is not supported (the original acts on it; this project '
                            'does not reproduce that)' % (dotted, value), source,
                            'remove the key or set it to %r' % UNSUPPORTED[dotted])
        return
    if dotted in AUTO_KEYS and value == 'auto':
        _node(cfg, dotted, source)[dotted.rpartition('.')[2]] = 'auto'
        return
    if dotted in DEAD_KEYS:
        msg = 'config key %s is accepted but unused (as in the original)' % dotted
        if dotted in AUTHORS_UNUSED and value == AUTHORS_UNUSED[dotted]:
            warnings.warn(msg, QuietWarning)       # log file and --verbose only
        else:
            warnings.warn(msg)
        return
    node = _node(cfg, dotted, source)
    key = dotted.split('.')[-1]
    if key not in node:
        raise _unknown(dotted, source)
    default = node[key]
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise UserError('config key %s is a section, got %r' % (dotted, value), source,
                            'give its sub-keys instead')
        for k, v in value.items():
            _set(cfg, dotted + '.' + str(k), v, source)
        return
    if not _type_ok(default, value):
        raise UserError('config key %s expects %s, got %r' % (dotted, type(default).__name__, value),
                        source, 'fix the value type')
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    if isinstance(default, str) and isinstance(value, int):
        value = str(value)
    if isinstance(default, (list, tuple)):
        value = list(value)
    node[key] = value


def all_keys(cfg=None):
    """Every dotted key of the config (sections excluded)."""
    def walk(node, prefix):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from walk(v, prefix + k + '.')
            else:
                yield prefix + k
    return list(walk(get_default() if cfg is None else cfg, ''))


def _unknown(dotted, source):
    """The error for a key that does not exist, with the closest existing keys."""
    close = difflib.get_close_matches(dotted.upper(), all_keys(), n=1, cutoff=0.6)
    fix = ('did you mean %s?' % close[0]) if close else \
        'check the spelling against lib/config/defaults.py'
    return UserError('unknown config key %s' % dotted, source, fix)


def update_config(cfg, yaml_path):
    """Merge the YAML file ``yaml_path`` into ``cfg`` (in place)."""
    if not os.path.isfile(yaml_path):
        raise UserError('config file not found', yaml_path,
                        'pass an existing YAML with --cfg (see cfg/)')
    try:
        with open(yaml_path) as f:
            exp = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = yaml_path if mark is None else '%s:%d' % (yaml_path, mark.line + 1)
        raise UserError('malformed YAML (%s)' % getattr(e, 'problem', 'parse error'), where,
                        'fix the YAML syntax') from None
    if exp is None:
        exp = {}
    if not isinstance(exp, dict):
        raise UserError('config must be a mapping of keys to values', yaml_path,
                        'write KEY: VALUE lines')
    for k, v in exp.items():
        _set(cfg, str(k), v, yaml_path)
    validate(cfg, yaml_path)
    return cfg


def update_config_from_dict(cfg, values, source):
    """Merge a config stored as a dict (a checkpoint's ``config``) into ``cfg`` (in place), with the
    checks of :func:`update_config`; ``source`` names where the dict came from."""
    if not isinstance(values, dict):
        raise UserError('the stored config is not a mapping', source, 'pass --cfg with the run\'s config file')
    for k, v in values.items():
        _set(cfg, str(k), v, source)
    validate(cfg, source)
    return cfg


def apply_opts(cfg, opts, source='--opts'):
    """Apply ``KEY VALUE`` pairs; values are parsed as YAML (``"[S9,S11]"`` -> list)."""
    if not opts:
        return cfg
    if len(opts) % 2:
        raise UserError('--opts needs KEY VALUE pairs, got an odd count', source,
                        'e.g. --opts TRAIN.NUM_EPOCHS 1 BATCH_SIZE 256')
    for k, v in zip(opts[0::2], opts[1::2]):
        try:
            val = yaml.safe_load(v)
        except yaml.YAMLError:
            raise UserError('cannot parse value %r for %s' % (v, k), source,
                            'quote it as YAML') from None
        _set(cfg, k, val, source)
    validate(cfg, source)
    return cfg


def validate(cfg, source='config'):
    """Check values that no type check catches."""
    def bad(key, msg, fix):
        raise UserError('%s %s' % (key, msg), source, fix)


    if cfg.BATCH_SIZE <= 0:
        bad('BATCH_SIZE', 'must be positive, got %r' % cfg.BATCH_SIZE, 'set BATCH_SIZE >= 1')
    if cfg.EVAL.BATCH_SIZE <= 0:
        bad('EVAL.BATCH_SIZE', 'must be positive', 'set it >= 1')
    if cfg.TRAIN.NUM_EPOCHS < 0:
        bad('TRAIN.NUM_EPOCHS', 'must be >= 0', 'set it >= 0')
    if cfg.EVAL.STRIDE < 1:
        bad('EVAL.STRIDE', 'must be >= 1', 'set it to 1 for every frame')
    if cfg.EVAL.PRECISION == 'bf16' and not cfg.NETWORK.BN_TRACK:
        bad('EVAL.PRECISION', 'bf16 folds the BatchNorm running statistics, which '
            'NETWORK.BN_TRACK false does not keep', "use EVAL.PRECISION 'fp32'")
    if len(cfg.TRAIN.LOSS_WEIGHTS) != 4:
        bad('TRAIN.LOSS_WEIGHTS', 'needs 4 numbers (3D, 2D, GAN, temporal), got %d'
            % len(cfg.TRAIN.LOSS_WEIGHTS), 'give 4 weights')
    if len(cfg.TRAIN.SCALE_LOSS_WEIGHTS) not in (2, 3):
        bad('TRAIN.SCALE_LOSS_WEIGHTS', 'needs 2 numbers (KL, bone)', 'give 2 weights')
    for w in list(cfg.TRAIN.LOSS_WEIGHTS) + list(cfg.TRAIN.SCALE_LOSS_WEIGHTS):
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w):
            bad('TRAIN.LOSS_WEIGHTS', 'must hold finite numbers, got %r' % (w,), 'fix the weights')
    if cfg.TRAIN.USE_TEMP and cfg.TRAIN.USE_NEW_TEMP:
        bad('TRAIN.USE_TEMP', 'and TRAIN.USE_NEW_TEMP cannot both be on (as in the original)',
            'choose the temporal discriminator or TMC')
    if cfg.DATA.NUM_JOINTS != 17:
        bad('DATA.NUM_JOINTS', 'must be 17 (15-joint mode is not supported)', 'set it to 17')
    if cfg.NETWORK.SCALER_INPUT_SIZE not in (1, 34, 35, 37):
        bad('NETWORK.SCALER_INPUT_SIZE', 'must be 1, 34, 35 or 37', 'use 37 (the default)')
    for key in ('NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS', 'TRAIN.NUM_CRITICS',
                'TRAIN.NUM_CRITICS_TEMP', 'TRAIN.SUBNET_CRITICS', 'TRAIN.MAINNET_CRITICS'):
        sec, k = key.split('.')
        if cfg[sec][k] < (0 if k == 'LIFTER_RES_BLOCKS' else 1):
            bad(key, 'is out of range: %r' % cfg[sec][k], 'use a positive value')
    if cfg.EVAL.SELECT_BY and not cfg.EVAL.CURVE_EVERY:
        bad('EVAL.SELECT_BY', 'chooses among the points of the curve, and EVAL.CURVE_EVERY is 0',
            'set EVAL.CURVE_EVERY 1 (a point every epoch)')
    if not 0.0 <= cfg.TRAIN.EMA_DECAY < 1.0:
        bad('TRAIN.EMA_DECAY', 'must be in [0, 1)', 'use 0 (off) or e.g. 0.999')
    if cfg.DATA.NUM_FRAMES < 1 or cfg.DATA.NUM_FRAMES % 2 == 0:
        bad('DATA.NUM_FRAMES', 'must be odd (the original asserts it and reads it for nothing else)',
            'use 1')
    if cfg.DATA.MIN_DIFF_DIST < 1:
        bad('DATA.MIN_DIFF_DIST', 'must be >= 1', 'use 5 (the default)')
    for key, choices in CHOICES.items():
        sec, k = key.split('.')
        if cfg[sec][k] not in choices:
            bad(key, 'must be one of %s, got %r' % ('/'.join(choices), cfg[sec][k]),
                'pick one of those')
    if cfg.TRAIN.FREEZE_LIFTER and not cfg.TRAIN.USE_SCALER:
        bad('TRAIN.FREEZE_LIFTER', 'trains the scaler alone and needs TRAIN.USE_SCALER true', 'turn it on')
    if cfg.TRAIN.USE_CYCLE and not cfg.TRAIN.USE_SCALER and not cfg.TRAIN.SUPERVISED:
        bad('TRAIN.USE_CYCLE', 'true (the alternating scheme) needs TRAIN.USE_SCALER true: its subnet steps train '
            'the scaler alone (KL + bone terms), and there is none',
            'set TRAIN.USE_CYCLE false as well (the joint scheme without a scaler, as cfg/ablation_tmc.yaml), '
            'or keep TRAIN.USE_SCALER true')
    if cfg.TRAIN.SUPERVISED and cfg.TRAIN.USE_SCALER:
        bad('TRAIN.SUPERVISED', 'does not combine with TRAIN.USE_SCALER', 'turn one off')
    # every number: its range (RANGES, next to the defaults)
    for key, text in RANGES.items():
        sec, _, k = key.rpartition('.')
        value = (cfg[sec] if sec else cfg)[k]
        if key in AUTO_KEYS and value == 'auto':          # found at run time (lib/data/scale_prior.py)
            continue
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if not in_range(v, text):
                default = get_default()
                bad(key, 'must be in %s, got %r' % (text, v), 'use a value in that range (the default is %r; '
                    'see lib/config/defaults.py)' % ((default[sec] if sec else default)[k],))


def to_dict(cfg):
    """A plain-dict copy (for checkpoints and results)."""
    def conv(x):
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x
    return conv(cfg)


# --- the config of one run of tools/main.py ------------------------------------------------

#: keys holding a path: relative to tools/ when a config file sets them, to the current folder
#: when the command line (``--opts``) does
TOOLS_RELATIVE_PATH_KEYS = ('DATA_DIR', 'OUTPUT_DIR', 'LOG_DIR', 'TRAIN.LIFTER_PRETRAIN_PATH')


def load_run_config(cfg_file, opts=(), model_dir=None, data_dir=None, log_dir=None, debug=False,
                    use_gt=False, pretrain=None, gpu='0', base=None):
    """Defaults, then the YAML file, then ``--opts`` KEY VALUE pairs, then the command-line flags.
    Without a file (``cfg_file`` None), ``base`` is the config to start from (a checkpoint's stored
    one, :func:`lib.eval.load_model.checkpoint_config`).

    Paths written in the file are relative to tools/ (as in the original project); paths given
    on the command line (flags, and path keys in ``--opts``) are relative to the current folder."""
    if cfg_file:
        cfg = get_default()
        update_config(cfg, cli_path(cfg_file))
    else:
        cfg = base
    for k in TOOLS_RELATIVE_PATH_KEYS:
        sec, _, key = k.rpartition('.')
        node = cfg[sec] if sec else cfg
        node[key] = cfg_path(node[key])
    opts = list(opts or [])
    for i in range(0, len(opts) - 1, 2):
        if opts[i] in TOOLS_RELATIVE_PATH_KEYS:
            opts[i + 1] = cli_path(opts[i + 1])
    apply_opts(cfg, opts)
    for key, value in (('OUTPUT_DIR', model_dir), ('DATA_DIR', data_dir), ('LOG_DIR', log_dir)):
        if value:
            cfg[key] = cli_path(value)
    cfg.DEBUG = cfg.DEBUG or debug
    cfg.USE_GT = cfg.USE_GT or use_gt
    if pretrain:
        cfg.TRAIN.PRETRAIN_LIFTER = True
        cfg.TRAIN.LIFTER_PRETRAIN_PATH = cli_path(pretrain)
    cfg.GPU = str(gpu)
    return cfg


# settings whose change does not make a resumed run differ from an uninterrupted one
_NOT_COMPARED = {'GPU', 'THREADS', 'OUTPUT_DIR', 'LOG_DIR', 'DATA_DIR', 'DATA.TRAIN_PATH', 'DATA.VALID_PATH',
                 'TRAIN.PRETRAIN_LIFTER', 'TRAIN.LIFTER_PRETRAIN_PATH', 'PRINT_INFO', 'PRINT_INTERVAL',
                 'NUM_WORKERS', 'TRAIN.CHECKPOINT_EVERY', 'TRAIN.NUM_EPOCHS'}


def config_changes(old, new):
    """'KEY old -> new' for every setting of two config dicts (paths and the like aside) that differs.
    A key the old config lacks (written before the key existed) counts only when ``new`` sets it
    away from its default: the old run trained with the default's behaviour."""
    if not isinstance(old, dict):
        return []

    def flat(d, prefix=''):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, prefix + k + '.'))
            else:
                out[prefix + k] = v
        return out
    a, b, defaults = flat(old), flat(new), flat(to_dict(get_default()))
    return ['%s %r -> %r' % (k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if k not in _NOT_COMPARED and a.get(k) != b.get(k)
            and not (k not in a and k in defaults and b.get(k) == defaults[k])]
