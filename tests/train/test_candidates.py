"""The structure candidates (docs/STRUCTURE_STUDY.md) in whole training runs (tools/main.py on the tiny synthetic
data): each finishes and writes results.json.  Their losses: tests/train/test_losses.py; off by
default: tests/train/test_step.py."""
import importlib.util
import json

import pytest

from helpers import NPZ, assert_one_error_line, run_inproc, run_without, write_cfg

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')

ONE_EPOCH = NPZ + ['TRAIN.NUM_EPOCHS', '1', 'BATCH_SIZE', '32', 'EVAL.STRIDE', '8']


def _train(tmp_path, data_dir, capsys, name, opts, *flags):
    cfg = write_cfg(tmp_path, data_dir, name)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--quiet'] + list(flags) + ['--opts'] + ONE_EPOCH
                              + list(opts), capsys)
    assert rc == 0, err[-3000:]
    out_dir = tmp_path / 'out' / name
    return out_dir, json.load(open(out_dir / 'results.json')), out + err


def _logged_terms(out_dir):
    """The loss terms of the run's logged training steps (its log file's debug lines)."""
    text = ''.join(p.read_text() for p in out_dir.glob('*.log'))
    steps = [line for line in text.splitlines() if ' phase ' in line and ' trains ' in line]
    assert steps, text[-2000:]
    return {kv.split('=')[0] for kv in steps[-1].split() if '=' in kv}


def test_symmetry_run(data_dir, tmp_path, capsys):
    out_dir, res, _ = _train(tmp_path, data_dir, capsys, 'sym', ['TRAIN.SYMMETRY_WEIGHT', '0.1'])
    assert res['MPJPE'] > 0 and res['skipped_steps'] == 0
    assert {'l3d', 'l2d', 'gan', 'sym'} <= _logged_terms(out_dir)


def test_proportion_run(data_dir, tmp_path, capsys):
    out_dir, res, _ = _train(tmp_path, data_dir, capsys, 'prop', ['TRAIN.PROPORTION_WEIGHT', '1.0'])
    assert res['MPJPE'] > 0 and res['skipped_steps'] == 0
    assert {'l3d', 'l2d', 'gan', 'prop'} <= _logged_terms(out_dir)


FLOW = ['TRAIN.FLOW_WEIGHT', '0.01', 'TRAIN.FLOW_FIT_STEPS', '30', 'TRAIN.FLOW_HIDDEN', '16',
        'TRAIN.FLOW_PCA_DIMS', '8']


@pytest.mark.skipif(importlib.util.find_spec('zuko') is None, reason='needs zuko: pip install -r requirements-flow.txt')
def test_flow_prior_run_fits_once_and_resume_loads_it(data_dir, tmp_path, capsys):
    """The flow is fitted before training, saved in the run folder, its fit time is in
    results.json; --resume (one more epoch) loads it instead of fitting again."""
    out_dir, res, text = _train(tmp_path, data_dir, capsys, 'flow', FLOW)
    assert {'l3d', 'l2d', 'gan', 'flow'} <= _logged_terms(out_dir)
    assert 'flow prior: zuko MAF' in (out_dir.glob('*.log').__next__()).read_text()
    assert (out_dir / 'flow_prior.pth.tar').is_file() and res['prior_fit_seconds'] > 0
    first = res['prior_fit_seconds']
    _, res, _ = _train(tmp_path, data_dir, capsys, 'flow', FLOW + ['TRAIN.NUM_EPOCHS', '2'], '--resume')
    logs = ''.join(p.read_text() for p in out_dir.glob('*.log'))
    assert 'flow prior: loaded' in logs and res['prior_fit_seconds'] == first


@pytest.mark.skipif(importlib.util.find_spec('zuko') is None, reason='needs zuko: pip install -r requirements-flow.txt')
def test_flow_prior_instead_of_the_discriminator(data_dir, tmp_path, capsys):
    """TRAIN.USE_DIS false: no GAN term and no discriminator step; the discriminator's weights
    stay as initialised."""
    import torch
    out_dir, res, _ = _train(tmp_path, data_dir, capsys, 'flow_no_d', FLOW + ['TRAIN.USE_DIS', 'false'])
    terms = _logged_terms(out_dir)
    assert 'flow' in terms and 'gan' not in terms and 'd' not in terms
    ck = torch.load(out_dir / 'checkpoint.pth.tar', weights_only=True)
    assert ck['optimizer_d']['state'] == {}                      # Adam never stepped the discriminator


def test_flow_prior_without_zuko_is_one_line_naming_requirements_flow(data_dir, tmp_path):
    cfg = write_cfg(tmp_path, data_dir, 'nozuko')
    r = run_without(['zuko'], 'tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', *ONE_EPOCH, *FLOW)
    assert_one_error_line(r.returncode, r.stderr, 'zuko', 'requirements-flow.txt')
    assert not (tmp_path / 'out').exists()                       # a refused run creates nothing


ELEV = ['TRAIN.ELEV_SAMPLING', 'learned', 'TRAIN.ELEV_MOMENTUM', '0.2']


def _elevation_state(out_dir):
    import torch
    return torch.load(out_dir / 'checkpoint.pth.tar', weights_only=True)['train_state']['elevation']


@pytest.mark.parametrize('online', [False, True])
def test_learned_elevation_run_and_resume_restores_its_statistics(online, data_dir, tmp_path, capsys):
    """Two epochs straight, and one epoch then --resume for the second: the same numbers and the
    same running statistics (they are in the checkpoint; without them the resumed run's
    rotations would differ).  Fixed per-frame rotations, and fresh ones per step."""
    opts = ELEV + ['DATA.ONLINE_ROT', str(online).lower()]
    straight, res2, _ = _train(tmp_path, data_dir, capsys, 'straight', opts + ['TRAIN.NUM_EPOCHS', '2'])
    st = _elevation_state(straight)
    assert st['count'] > 1 and 0 < st['var'] and abs(st['mean']) < 1.5, st
    resumed, _, _ = _train(tmp_path, data_dir, capsys, 'resumed', opts)
    one = _elevation_state(resumed)
    assert one['count'] < st['count']
    _, res, _ = _train(tmp_path, data_dir, capsys, 'resumed', opts + ['TRAIN.NUM_EPOCHS', '2'], '--resume')
    assert _elevation_state(resumed) == st
    for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE'):
        assert res[k] == res2[k], k
