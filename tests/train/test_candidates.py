"""The structure candidates of issue 28 in whole training runs (tools/main.py on the tiny synthetic
data): each finishes and writes results.json.  Their losses: tests/train/test_losses.py; off by
default: tests/train/test_step.py."""
import json

import pytest

from helpers import NPZ, run_inproc, write_cfg

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
