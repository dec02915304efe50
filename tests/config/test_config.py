"""Configuration: the four configs in cfg/ are the authors' released ones, value for value;
the scaled configs change only the keys their headers list; keys the original acts on but
this code does not reproduce are refused; a bad config is a one-line error.

The comparison with the authors goes through both loaders: the authors' ``lib/core/config.py``
(its defaults, imported from ``../shared/original`` at test time, with the file merged the way
its ``update_config`` merges it) and the project's ``lib.config.load``.  Every key that both
configs hold must agree, not only the keys the file sets: a key the file leaves unset takes
each loader's default, and those must agree too.
"""
import copy
import importlib.util
import os

import pytest
import yaml

from helpers import REPO, SHARED
from helpers import main_process
from lib.config import load as C
from lib.config import defaults as CD
from lib.config.defaults import get_default


ORIGINAL = os.path.join(SHARED, 'original')
NAMES = ('h36m_gt_adv', 'h36m_gt_scale', 'pre_adv', 'pre_tmc_klbone')
# keys whose value is about where files live or which device runs, not about the recipe
NOT_RECIPE = {'GPU', 'NUM_WORKERS', 'DEBUG', 'OUTPUT_DIR', 'LOG_DIR', 'DATA_DIR',
              'DATA.TRAIN_PATH', 'DATA.VALID_PATH', 'TRAIN.LIFTER_PRETRAIN_PATH', 'TRAIN.MODEL_PATH'}


# defaults the project changed on purpose; no released config relies on them (each file sets
# PRETRAIN_LIFTER and LOSS_WEIGHTS): the original defaulted to loading a checkpoint that does
# not exist, and to a 5-entry weight list whose fifth entry nothing reads
CHANGED_DEFAULTS = {'TRAIN.PRETRAIN_LIFTER', 'TRAIN.LOSS_WEIGHTS'}


needs_original = pytest.mark.skipif(not os.path.isdir(ORIGINAL),
                                    reason='the authors\' release (../shared/original) is absent')


def _authors_defaults():
    spec = importlib.util.spec_from_file_location(
        'authors_config', os.path.join(ORIGINAL, 'lib', 'core', 'config.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return copy.deepcopy(mod.config)


def _authors_config(name):
    """The authors' defaults with their YAML merged in as their update_config does."""
    cfg = _authors_defaults()
    with open(os.path.join(ORIGINAL, 'cfg', name + '.yaml')) as f:
        exp = yaml.safe_load(f)
    for k, v in exp.items():
        assert k in cfg, k
        if isinstance(v, dict):
            for kk, vv in v.items():
                assert kk in cfg[k], (k, kk)
                cfg[k][kk] = vv
        else:
            cfg[k] = v
    return cfg, exp


def _flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        key = prefix + str(k)
        if isinstance(v, dict):
            out.update(_flat(v, key + '.'))
        else:
            out[key] = v
    return out


def _project_config(path):
    cfg = CD.get_default()
    with pytest.warns(UserWarning):          # the files set keys the original never read
        C.update_config(cfg, path)
    return cfg


def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


@needs_original
@pytest.mark.parametrize('name', NAMES)
def test_project_cfg_file_sets_every_authors_key_to_the_authors_value(name):
    with open(os.path.join(ORIGINAL, 'cfg', name + '.yaml')) as f:
        theirs = _flat(yaml.safe_load(f))
    with open(os.path.join(REPO, 'cfg', name + '.yaml')) as f:
        ours = _flat(yaml.safe_load(f))
    for key, value in theirs.items():
        assert key in ours, '%s: cfg/%s.yaml does not set %s' % (name, name, key)
        assert _same(ours[key], value), '%s: %s is %r, the authors have %r' % (name, key, ours[key], value)
    extra = set(ours) - set(theirs)
    assert extra <= NOT_RECIPE, 'cfg/%s.yaml sets keys beyond the authors\' file: %s' % (name, extra)


@needs_original
@pytest.mark.parametrize('name', NAMES)
def test_both_loaders_give_the_same_recipe(name):
    """Project loader on cfg/NAME.yaml == authors' loader on their NAME.yaml, for every shared key."""
    theirs, _ = _authors_config(name)
    ours = _flat(C.to_dict(_project_config(os.path.join(REPO, 'cfg', name + '.yaml'))))
    theirs = _flat(theirs)
    shared = (set(theirs) & set(ours)) - NOT_RECIPE - CHANGED_DEFAULTS
    assert len(shared) > 60, 'too few keys compared: %d' % len(shared)
    diff = {k: (ours[k], theirs[k]) for k in sorted(shared) if not _same(ours[k], theirs[k])}
    assert not diff, '%s: project vs authors: %s' % (name, diff)


@needs_original
@pytest.mark.parametrize('name', NAMES)
def test_project_loader_reads_the_authors_file_as_it_is(name):
    """The authors' own YAML file loads unchanged through the project's loader (same recipe)."""
    ours_on_theirs = _flat(C.to_dict(_project_config(os.path.join(ORIGINAL, 'cfg', name + '.yaml'))))
    ours_on_ours = _flat(C.to_dict(_project_config(os.path.join(REPO, 'cfg', name + '.yaml'))))
    for k in set(ours_on_ours) - NOT_RECIPE:
        assert _same(ours_on_theirs[k], ours_on_ours[k]), k


def test_defaults_the_released_configs_rely_on():
    """Without ../shared: the values the best model's recipe depends on, written out."""
    cfg = CD.get_default()
    with pytest.warns(UserWarning):
        C.update_config(cfg, os.path.join(REPO, 'cfg', 'h36m_gt_scale.yaml'))
    t = cfg.TRAIN
    assert cfg.BATCH_SIZE == 512 and cfg.USE_GT is True
    assert (t.USE_SCALER, t.USE_CYCLE, t.USE_NEW_TEMP, t.PRETRAIN_LIFTER) == (True, True, True, False)
    assert list(t.LOSS_WEIGHTS) == [0.5, 5.0, 1.0, 1.0] and list(t.SCALE_LOSS_WEIGHTS) == [0.001, 1.0]
    assert (t.SUBNET_CRITICS, t.MAINNET_CRITICS, t.SCHEDULER_STEP_SIZE) == (1, 4, 5)
    assert (t.POSE_LR, t.DIS_LR, t.TEMP_LR) == (0.00015, 0.0001, 0.0001)
    assert (cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD) == (0.720643, 0.058)
    assert cfg.NETWORK.SCALER_INPUT_SIZE == 34 and t.USE_NEW_ROT is False
    assert (t.BOUND_AZIM, cfg.FIX.FIX_TRAJ, cfg.FIX.FIX_TRAJ_BY_ROT) == (2.44346, True, False)
    # unset by the file: the original code's defaults
    assert (cfg.NETWORK.NUM_CHANNELS, cfg.NETWORK.LIFTER_RES_BLOCKS, t.NUM_EPOCHS) == (1024, 4, 200)
    assert (t.SCHEDULER_GAMMA, cfg.DATA.MIN_DIFF_DIST, cfg.RANDOM_SEED) == (0.95, 5, 2019)


# the benchmark and quick-start configs are an authors' file with these keys changed, and no other
BENCH_ADV_KEYS = {'NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS', 'TRAIN.NUM_EPOCHS', 'TRAIN.USE_NEW_ROT',
                  'DATA.DATASET_NAME', 'EVAL.EVERY_EPOCH'}
SCALED = {
    'bench_adv': ('h36m_gt_adv', BENCH_ADV_KEYS),
    'bench_best': ('h36m_gt_scale', {'NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS', 'TRAIN.NUM_EPOCHS',
                                     'TRAIN.USE_NEW_ROT', 'DATA.DATASET_NAME', 'EVAL.EVERY_EPOCH'}),
    'bench_supervised': ('h36m_gt_adv', {'NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS',
                                         'TRAIN.NUM_EPOCHS', 'TRAIN.USE_NEW_ROT', 'DATA.DATASET_NAME',
                                         'EVAL.EVERY_EPOCH', 'TRAIN.SUPERVISED', 'TRAIN.USE_DIS'}),
    'bench_scale_after': ('h36m_gt_scale', {'NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS',
                                            'TRAIN.NUM_EPOCHS', 'TRAIN.USE_NEW_ROT', 'DATA.DATASET_NAME',
                                            'EVAL.EVERY_EPOCH', 'DATA.SCALE_MID_MEAN', 'DATA.SCALE_MID_STD',
                                            'TRAIN.FREEZE_LIFTER', 'TRAIN.SCALE_ON_3D', 'TRAIN.USE_CYCLE',
                                            'TRAIN.USE_NEW_TEMP', 'TRAIN.SCALER_INIT_PRIOR',
                                            'COMPAT.BONE_LOSS'}),
    'mpi_gt_adv': ('h36m_gt_adv', {'DATA.DATASET_NAME'}),
    'mpi_gt_scale': ('h36m_gt_scale', {'DATA.DATASET_NAME', 'DATA.SCALE_MID_MEAN', 'DATA.SCALE_MID_STD'}),
    # the structure candidates (docs/STRUCTURE_STUDY.md): bench_adv's keys and the candidate's own
    'bench_sym': ('h36m_gt_adv', BENCH_ADV_KEYS | {'TRAIN.SYMMETRY_WEIGHT'}),
    'bench_elev': ('h36m_gt_adv', BENCH_ADV_KEYS | {'TRAIN.ELEV_SAMPLING'}),
    'bench_prop': ('h36m_gt_adv', BENCH_ADV_KEYS | {'TRAIN.PROPORTION_WEIGHT'}),
    'h36m_gt_adv_prop': ('h36m_gt_adv', {'TRAIN.PROPORTION_WEIGHT'}),
    'pre_adv_prop': ('pre_adv', {'TRAIN.PROPORTION_WEIGHT'}),
    'bench_flow': ('h36m_gt_adv', BENCH_ADV_KEYS | {'TRAIN.FLOW_WEIGHT'}),
    'bench_sym_flow': ('h36m_gt_adv', BENCH_ADV_KEYS | {'TRAIN.FLOW_WEIGHT', 'TRAIN.SYMMETRY_WEIGHT'}),
    'quickstart': ('h36m_gt_scale', {'NETWORK.NUM_CHANNELS', 'NETWORK.LIFTER_RES_BLOCKS', 'TRAIN.NUM_EPOCHS',
                                     'TRAIN.USE_NEW_ROT', 'DATA.DATASET_NAME'}),
}


@needs_original
@pytest.mark.parametrize('name', sorted(SCALED))
def test_scaled_configs_change_only_the_keys_their_header_lists(name):
    base, changed = SCALED[name]
    theirs = _flat(C.to_dict(_project_config(os.path.join(ORIGINAL, 'cfg', base + '.yaml'))))
    ours = _flat(C.to_dict(_project_config(os.path.join(REPO, 'cfg', name + '.yaml'))))
    diff = {k for k in ours if k not in NOT_RECIPE and not _same(ours[k], theirs[k])}
    assert diff == changed, '%s differs from the authors\' %s in %s, the header lists %s' % (
        name, base, sorted(diff), sorted(changed))
    header = ''.join(l for l in open(os.path.join(REPO, 'cfg', name + '.yaml')) if l.startswith('#'))
    for key in changed:
        assert key.split('.')[-1] in header, '%s: the header does not explain %s' % (name, key)


def test_bad_config_and_missing_data(tiny_data, tmp_path):
    cfg, tmp = tiny_data
    bad = tmp_path / 'bad.yaml'
    bad.write_text('TRAIN:\n  NUM_EPOCS: 3\n')
    r = main_process(['--cfg', str(bad), '--gpu', '-1'])
    assert r.returncode == 2 and r.stderr.strip().startswith('error: unknown config key TRAIN.NUM_EPOCS')
    r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--opts', 'DATA_DIR', str(tmp_path / 'nowhere')])
    assert r.returncode == 2 and 'data folder not found' in r.stderr
    r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--opts', 'DATA.DATASET_NAME', 'h36m'])
    assert r.returncode == 2 and 'data_3d_h36m.npz' in r.stderr and 'Traceback' not in r.stderr


def test_keys_the_original_acts_on_are_refused_unless_default():
    """USE_ROTATER & co.: read and acted on by the original, not reproduced here: accepted at
    their default false (as a YAML for the original may list them), refused otherwise."""
    from lib.config.load import apply_opts
    from lib.utils.errors import UserError
    cfg = get_default()
    apply_opts(cfg, ['TRAIN.USE_ROTATER', 'false', 'NETWORK.USE_SIMPLE_MODEL', 'false'])
    for key in ('TRAIN.USE_ROTATER', 'NETWORK.USE_SIMPLE_MODEL', 'TRAIN.FINETUNE_ROTATER',
                'TRAIN.USE_GT_SCALE'):
        with pytest.raises(UserError, match='not supported'):
            apply_opts(get_default(), [key, 'true'])
    with pytest.warns(UserWarning, match='accepted but unused'):
        apply_opts(cfg, ['TRAIN.LOSS_TYPE', 'ss_adv'])


def test_authors_unused_keys_are_exactly_those_their_configs_set():
    """AUTHORS_UNUSED (quiet on the console) holds the unused keys the authors' four configs set,
    with the values they set: no more, so that any other unused key still warns."""
    found = {}
    for name in NAMES:
        with open(os.path.join(REPO, 'cfg', name + '.yaml')) as f:
            raw = yaml.safe_load(f)
        for sec, v in raw.items():
            for k, x in (v.items() if isinstance(v, dict) else [(None, v)]):
                dotted = sec if k is None else sec + '.' + k
                if dotted in CD.DEAD_KEYS:
                    assert found.setdefault(dotted, x) == x
    assert found == CD.AUTHORS_UNUSED


def test_unused_keys_of_shipped_configs_go_to_the_log_user_added_ones_warn(tmp_path, capsys):
    """A shipped config's two unused keys: not on the console, in the run's log file, on the console
    with verbose; an unused key the user adds (or one of the two with another value): a warning."""
    import logging
    import warnings

    from lib.utils.errors import QuietWarning
    from lib.utils.runtime import make_logger, one_line_warnings
    with warnings.catch_warnings():                  # restores warnings.showwarning afterwards
        warnings.simplefilter('always')
        for verbose in (False, True):
            one_line_warnings(verbose)
            cfg = C.update_config(get_default(), os.path.join(REPO, 'cfg', 'h36m_gt_adv.yaml'))
            C.apply_opts(cfg, ['TRAIN.WD', '0.1', 'TRAIN.LOSS_TYPE', 'l1'])
            err = capsys.readouterr().err.splitlines()
            user = ['warning: config key %s is accepted but unused (as in the original)' % k
                    for k in ('TRAIN.WD', 'TRAIN.LOSS_TYPE')]
            authors = ['warning: config key %s is accepted but unused (as in the original)' % k
                       for k in ('DATA.USE_RANDOM_DIFF', 'TRAIN.LOSS_TYPE')]
            assert err == (authors + user if verbose else user), err
            log = make_logger(str(tmp_path / ('run%d.log' % verbose)), verbose=verbose)
            try:
                log.info('started')
                warnings.warn('config key TRAIN.LOSS_TYPE is accepted but unused', QuietWarning)
                out = capsys.readouterr().out.splitlines()
                assert out == (['started', 'warning: config key TRAIN.LOSS_TYPE is accepted but unused']
                               if verbose else ['started']), out
            finally:
                for h in log.handlers:
                    h.close()
                log.handlers.clear()
            text = (tmp_path / ('run%d.log' % verbose)).read_text()
            for line in authors:                      # written into the file when it was made
                assert line in text
            assert 'TRAIN.WD' not in text and text.count('TRAIN.LOSS_TYPE') == 2
    logging.getLogger('uvhpe').handlers.clear()


# --- two lists of config keys, two names ------------------------------------------------------

def test_config_path_keys_are_relative_to_tools(tmp_path):
    from lib.config import load
    from lib.utils.runtime import TOOLS_DIR
    assert not hasattr(load, 'PATH_KEYS')
    yaml_path = tmp_path / 'c.yaml'
    yaml_path.write_text('DATA_DIR: d\nOUTPUT_DIR: o\nLOG_DIR: l\nTRAIN:\n  LIFTER_PRETRAIN_PATH: p.pth.tar\n')
    cfg = load.load_run_config(str(yaml_path))
    for key, rel in zip(load.TOOLS_RELATIVE_PATH_KEYS, ('d', 'o', 'l', 'p.pth.tar')):
        sec, _, k = key.rpartition('.')
        assert (cfg[sec] if sec else cfg)[k] == os.path.normpath(os.path.join(TOOLS_DIR, rel)), key


def test_resume_changes_skip_keys_newer_than_the_checkpoint_left_at_their_default():
    """A checkpoint written before a key existed trained with that key's default behaviour: only
    a key set away from its default is reported as a change on --resume."""
    from lib.config.load import config_changes, to_dict
    new = to_dict(get_default())
    old = to_dict(get_default())
    del old['TRAIN']['SYMMETRY_WEIGHT'], old['TRAIN']['ELEV_SAMPLING']
    assert config_changes(old, new) == []
    new['TRAIN']['ELEV_SAMPLING'] = 'learned'
    new['TRAIN']['POSE_LR'] = 1e-3
    assert config_changes(old, new) == ["TRAIN.ELEV_SAMPLING None -> 'learned'",
                                        'TRAIN.POSE_LR %r -> 0.001' % get_default().TRAIN.POSE_LR]
