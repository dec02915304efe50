"""The bad-input catalogue of tools/main.py's run folder (the contract is in bad_input_catalogue.py):
resuming into another run's folder, values read from files (the scale prior, a checkpoint's
training state and RNG states, curve.json), configs that cannot train, a folder another run holds,
a full disk.  Then, outside the catalogue: a finished run resumed changes nothing, two runs into
one folder (one runs, the other is refused), the quick-start config without a scaler, --force
replacing a run whole, nothing but the error line on stderr."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import MAIN, NPZ, REPO, make_state_checkpoint, run_inproc, write_cfg
from .bad_input_catalogue import check_case, disk_full, snapshot, assert_unchanged


def _main(build, *needles, quiet=True):
    return ('tools/main.py', build, needles, quiet)


def main_cfg(tmp, ctx, *extra, data=None):
    return ['--cfg', write_cfg(tmp, data or ctx['data']), '--gpu', '-1'] + list(extra)


def _run_dir(tmp):
    run = tmp / 'out' / 'tiny'
    run.mkdir(parents=True, exist_ok=True)
    return run


def _finished(tmp):
    run = _run_dir(tmp)
    for f in ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'config.yaml'):
        (run / f).write_text('an earlier run\'s %s' % f)


def resume_into_other_run(tmp, ctx):
    """--resume A/checkpoint with the output folder B holding another finished run."""
    (tmp / 'A').mkdir()
    ck = tmp / 'A' / 'checkpoint.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    d = torch.load(str(ck), weights_only=False)
    d['config']['OUTPUT_DIR'] = str(tmp / 'A' / '..' / 'A')          # a run of another folder
    torch.save(d, str(ck))
    _finished(tmp)
    return main_cfg(tmp, ctx, '--resume', tmp / 'A' / 'checkpoint.pth.tar', '--opts') + NPZ


def resume_with(edit, curve=None):
    """--resume of the run's own checkpoint, a field of it changed by ``edit(checkpoint)``."""
    def build(tmp, ctx):
        ck = _run_dir(tmp) / 'checkpoint.pth.tar'
        make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
        d = torch.load(str(ck), weights_only=False)
        edit(d)
        torch.save(d, str(ck))
        if curve is not None:
            (ck.parent / 'curve.json').write_text(curve)
        return main_cfg(tmp, ctx, '--resume', '--opts') + NPZ + ['TRAIN.MAX_STEPS_PER_EPOCH', '1',
                                                                 'EVAL.CURVE_EVERY', '1']
    return build


def _set(path, value):
    def edit(d):
        node = d
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


def prior_file(text, *opts):
    """DATA.SCALE_MID_MEAN / STD auto, with ``text`` as the data's scale_prior_synth.json."""
    def build(tmp, ctx):
        d = tmp / 'data_copy'
        shutil.copytree(ctx['data'], d)
        (d / 'scale_prior_synth.json').write_text(text)
        return main_cfg(tmp, ctx, '--opts', data=d) + NPZ + ['TRAIN.USE_SCALER', 'true', 'DATA.SCALE_MID_MEAN',
                                                             'auto', 'DATA.SCALE_MID_STD', 'auto'] + list(opts)
    return build


def opts(*o, cfg=None):
    def build(tmp, ctx):
        if cfg:
            return ['--cfg', os.path.join(REPO, cfg), '--gpu', '-1', '--model_dir', tmp / 'out', '--log_dir',
                    tmp / 'log'] + (['--opts'] + list(o) if o else [])
        return main_cfg(tmp, ctx, '--opts') + NPZ + list(o)
    return build


def held_by_another_run(tmp, ctx):
    """The output folder locked by another run (this test process holds the lock)."""
    from lib.utils.run_folder import FolderLock
    ctx['lock'] = FolderLock(str(_run_dir(tmp)))      # released when the test's context goes
    return main_cfg(tmp, ctx, '--opts') + NPZ


def force_over_finished(tmp, ctx):
    _finished(tmp)
    return main_cfg(tmp, ctx, '--force', '--opts') + NPZ + ['TRAIN.MAX_STEPS_PER_EPOCH', '1']


def evaluation(tmp, ctx):
    ck = tmp / 'ck.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    return main_cfg(tmp, ctx, '--eval', '--pretrain', ck, '--opts') + NPZ


def train(tmp, ctx):
    return main_cfg(tmp, ctx, '--opts') + NPZ + ['TRAIN.MAX_STEPS_PER_EPOCH', '1']


STAGE1 = 'python tools/main.py --cfg cfg/%s_adv.yaml'
CFG_TRAIN = ['TRAIN.USE_SCALER', 'true', 'TRAIN.FREEZE_LIFTER', 'true']

CATALOGUE = {
    # the run's folder
    'main/resume_into_another_runs_folder': _main(resume_into_other_run, 'finished run', '--force', quiet=False),
    'main/folder_held_by_another_run': _main(held_by_another_run, 'in use by another run', 'pid %d' % os.getpid()),
    'main/log_dir_under_proc': _main(opts('LOG_DIR', '/proc/x'), 'log folder', '/proc'),
    # values read from files: checkpoint fields, curve.json, the scale prior
    'main/resume_epoch_a_string': _main(resume_with(_set(('train_state', 'epoch'), '3')), 'train_state.epoch',
                                        quiet=False),
    'main/resume_rng_wrong_size': _main(resume_with(_set(('rng', 'torch'), torch.zeros(10, dtype=torch.uint8))),
                                        'rng.torch', quiet=False),
    'main/resume_numpy_rng_wrong_size': _main(resume_with(_set(('rng', 'numpy', 'keys'), torch.zeros(3).long())),
                                              'rng.numpy', quiet=False),
    'main/resume_corrupt_curve': _main(resume_with(lambda d: None, curve='[{"epoch": 1, "MPJ'), 'curve',
                                       'curve.json', quiet=False),
    'main/resume_curve_of_strings': _main(resume_with(lambda d: None, curve='[{"epoch": "1"}]'), 'curve',
                                          quiet=False),
    'main/prior_mean_a_string': _main(prior_file('{"scale_mid_mean": "0.6", "scale_mid_std": 0.05}'),
                                      'scale_mid_mean', '"0.6"', 'scale_prior_synth.json', quiet=False),
    'main/prior_mean_true': _main(prior_file('{"scale_mid_mean": true, "scale_mid_std": 0.05}'), 'scale_mid_mean',
                                  'true', quiet=False),
    'main/prior_mean_negative': _main(prior_file('{"scale_mid_mean": -0.5, "scale_mid_std": 0.05}'),
                                      'scale_mid_mean', '-0.5', quiet=False),
    'main/prior_mean_1e30': _main(prior_file('{"scale_mid_mean": 1e30, "scale_mid_std": 0.05}'), 'scale_mid_mean',
                                  quiet=False),
    'main/prior_std_1e-300': _main(prior_file('{"scale_mid_mean": 0.6, "scale_mid_std": 1e-300}'), 'scale_mid_std',
                                   quiet=False),
    'main/prior_nan': _main(prior_file('{"scale_mid_mean": NaN, "scale_mid_std": NaN}'), 'NaN', quiet=False),
    'main/prior_not_json': _main(prior_file('{"scale_mid_mean": 0.6,'), 'unreadable scale prior', quiet=False),
    'main/prior_a_list': _main(prior_file('[0.6, 0.05]'), 'JSON object', quiet=False),
    # configs that cannot train: refused before anything is printed
    'main/frozen_lifter_without_warm_start': _main(opts(*CFG_TRAIN), 'TRAIN.FREEZE_LIFTER', '--pretrain'),
    'main/stage2_lifter_missing': _main(opts(*CFG_TRAIN, 'TRAIN.PRETRAIN_LIFTER', 'true',
                                             'TRAIN.LIFTER_PRETRAIN_PATH', '/nonexistent/adv.pth.tar'),
                                        'TRAIN.LIFTER_PRETRAIN_PATH', '/nonexistent/adv.pth.tar'),
    'main/h36m_gt_scale_after_without_stage1': _main(opts(cfg='cfg/h36m_gt_scale_after.yaml'),
                                                     'TRAIN.LIFTER_PRETRAIN_PATH', 'h36m_gt_adv/checkpoint.pth.tar',
                                                     STAGE1 % 'h36m_gt'),
    'main/pre_scale_after_without_stage1': _main(opts(cfg='cfg/pre_scale_after.yaml'), 'TRAIN.LIFTER_PRETRAIN_PATH',
                                                 'pre_adv/checkpoint.pth.tar', STAGE1 % 'pre'),
    'main/bench_scale_after_without_pretrain': _main(opts(cfg='cfg/bench_scale_after.yaml'), 'TRAIN.FREEZE_LIFTER',
                                                     STAGE1 % 'bench'),
    'main/quickstart_without_scaler': _main(opts('TRAIN.USE_SCALER', 'false', cfg='cfg/quickstart.yaml'),
                                            'TRAIN.USE_CYCLE', 'TRAIN.USE_SCALER'),
    # a full disk: one line, and the run's files removed (an earlier run's put back)
    'main/disk_full_in_training': _main(disk_full(train, 1), 'no space left', quiet=False),
    'main/disk_full_replacing_a_run': _main(disk_full(force_over_finished, 1), 'no space left', quiet=False),
    'main/disk_quota_in_training': _main(disk_full(train, 0, errno.EDQUOT), 'quota', quiet=False),
    'main/disk_full_in_evaluation': _main(disk_full(evaluation, 1), 'no space left', quiet=False),
    'main/disk_io_error_in_evaluation': _main(disk_full(evaluation, 0, errno.EIO), 'input/output error',
                                              quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)


# --- outside the catalogue -------------------------------------------------------------

def _train_tiny(tmp, data, capsys, *extra, flags=()):
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--quiet'] + list(flags) + ['--opts'] + NPZ +
                              ['TRAIN.MAX_STEPS_PER_EPOCH', '1', 'EVAL.CURVE_EVERY', '1'] + list(extra), capsys)
    assert rc == 0, err
    return tmp / 'out' / 'tiny'


def test_resuming_a_finished_run_changes_nothing(data_dir, tmp_path, capsys):
    """No config.yaml rewrite (with other settings), no new log file, no tensorboard folder."""
    run = _train_tiny(tmp_path, data_dir, capsys)
    before = snapshot(tmp_path)
    rc, out, err = run_inproc(['--cfg', tmp_path / 'tiny.yaml', '--gpu', '-1', '--resume', '--opts'] + NPZ +
                              ['BATCH_SIZE', '32'], capsys)
    assert rc == 0, err
    assert 'nothing to resume' in out
    assert_unchanged(before, snapshot(tmp_path))
    assert 'BATCH_SIZE: 64' in (run / 'config.yaml').read_text()


def test_force_replaces_the_run_whole(data_dir, tmp_path, capsys):
    """--force: the earlier run's files go (its curve.json too); a new run's files alone remain."""
    run = _train_tiny(tmp_path, data_dir, capsys, 'TRAIN.NUM_EPOCHS', '2')
    assert [p['epoch'] for p in json.loads((run / 'curve.json').read_text())] == [1, 2]
    (run / 'notes_of_the_earlier_run.txt').write_text('x')
    _train_tiny(tmp_path, data_dir, capsys, 'EVAL.CURVE_EVERY', '2', flags=['--force'])
    assert [p['epoch'] for p in json.loads((run / 'curve.json').read_text())] == [1]
    names = sorted(os.listdir(run))
    assert 'notes_of_the_earlier_run.txt' not in names and not [n for n in names if n.startswith('.')], names
    assert len([n for n in names if n.endswith('.log')]) == 1, names


def test_two_runs_into_one_folder_one_runs_the_other_is_refused(data_dir, tmp_path, capsys):
    """The first run (a process, paused while it holds the folder) finishes; the second is refused in
    one line naming it, and changes nothing."""
    cfg = write_cfg(tmp_path, data_dir)
    first = subprocess.Popen([sys.executable, MAIN, '--cfg', str(cfg), '--gpu', '-1', '--quiet', '--opts'] + NPZ +
                             ['TRAIN.MAX_STEPS_PER_EPOCH', '2'], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lock = tmp_path / 'out' / 'tiny' / '.run.lock'
    t0 = time.time()
    while not (lock.exists() and lock.read_text()) and first.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    try:
        assert lock.exists(), first.communicate()
        before = snapshot(tmp_path)
        rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ, capsys)
        after = snapshot(tmp_path)
    finally:
        first.send_signal(signal.SIGCONT)
    assert rc == 2 and err.count('error:') == 1 and 'in use by another run (pid %d' % first.pid in err, err
    assert out == ''
    assert_unchanged(before, after)
    _, ferr = first.communicate(timeout=300)
    assert first.returncode == 0, ferr
    assert (tmp_path / 'out' / 'tiny' / 'results.json').exists() and not lock.exists()


def test_quickstart_without_a_scaler_is_refused_in_one_line(tmp_path, capsys):
    """TRAIN.USE_SCALER false on cfg/quickstart.yaml (the alternating scheme trains the scaler in
    its subnet steps): one line naming both keys, nothing printed or made."""
    rc, out, err = run_inproc(['--cfg', os.path.join(REPO, 'cfg', 'quickstart.yaml'), '--gpu', '-1', '--model_dir',
                               tmp_path / 'out', '--opts', 'TRAIN.USE_SCALER', 'false'], capsys)
    assert rc == 2 and out == '' and err.count('\n') == 1 and 'TRAIN.USE_CYCLE false' in err, err
    assert os.listdir(tmp_path) == []


def test_raw_pickle_and_all_nan_data_print_the_error_line_alone(data_dir, tmp_path, capsys):
    """No Python warning before the error line (a raw pickle's protocol; frames all NaN)."""
    import pickle
    ck = tmp_path / 'raw.pth.tar'
    with open(ck, 'wb') as f:
        pickle.dump({'pose_model_state_dict': {'lifter_before.pre.0.weight': torch.zeros(2, 34)}}, f, protocol=4)
    rc, out, err = run_inproc(main_cfg(tmp_path, {'data': data_dir}, '--eval', '--pretrain', ck), capsys)
    assert rc == 2 and err.count('\n') == 1 and err.startswith('error: checkpoint refused'), err
    from lib.utils.safe_io import load_npz
    import numpy as np
    d = tmp_path / 'nan_data'
    shutil.copytree(data_dir, d)
    a = load_npz(str(d / 'data_2d_synth_gt.npz'))
    for s in a['positions_2d'].values():
        for act in s:
            s[act] = [v * np.nan for v in s[act]]
    np.savez_compressed(str(d / 'data_2d_synth_gt.npz'), **a)
    rc, out, err = run_inproc(['prior', '--data-dir', d, '--name', 'synth'], capsys, 'tools/prepare_data.py')
    assert rc == 2 and err.count('\n') == 1 and 'no usable frames' in err, err
