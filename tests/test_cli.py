"""Reliability: bad input, interrupted training, untrusted checkpoints, determinism.

* A catalogue of bad inputs: each must end in exit code 2 and exactly one
  stderr line ``error: <what> (<file/key>): <how to fix>``, no traceback, and
  no checkpoint / results written.  Most run ``tools/main.py``'s ``main``
  in-process through the same ``run_main`` wrapper the script uses (fast);
  a few run the real scripts in a subprocess.
* Interrupted training: SIGKILL mid-epoch then ``--resume``; SIGTERM and
  SIGINT (exit 143 / 130, checkpoint saved, message says how to resume);
  both resumed runs must reach exactly the numbers of an uninterrupted run.
* Checkpoints: atomic writes (a crash mid-save leaves the old file intact,
  no temporary files), malicious pickles refused without running them.
* Non-finite losses: stop naming the term and step (checkpoint saved), or skip.
* Determinism: two CPU runs with the same seed give identical results.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import synth
from lib.utils.errors import UserError, run_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, 'tools', 'main.py')
SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))
# one thread: the same arithmetic in every run, and room on a shared 2-core machine
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONHASHSEED='0')
NPZ = ['DATA.FORMAT', 'npz']
OUTPUTS = ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'predictions.npz')
ERROR_LINE = re.compile(r'^error: .+ \(.+\): .+$')


# --- helpers --------------------------------------------------------------------

@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('synth') / 'data'
    synth.write_npz(str(d))
    return d


def write_cfg(tmp, data, name='tiny', text=None):
    p = tmp / (name + '.yaml')
    p.write_text(synth.TINY_YAML.format(data=data, out=tmp / 'out', log=tmp / 'log') if text is None else text)
    return p


def copy_data(data_dir, tmp):
    d = tmp / 'data_copy'
    shutil.copytree(data_dir, d)
    return d


def run_inproc(argv, capsys):
    """tools/main.py's main through run_main, in this process: (exit code, stdout, stderr)."""
    from tools.main import main
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:
        run_main(main, [str(a) for a in argv])
    cap = capsys.readouterr()
    return ex.value.code, cap.out, cap.err


def run_script(args, timeout=300, **kw):
    return subprocess.run([sys.executable] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=REPO, **kw)


def assert_one_error_line(rc, err, *needles):
    """Exit 2, one stderr line in the project's format naming what it must, no traceback."""
    assert rc == 2, err
    assert 'Traceback' not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('error:')]
    assert len(errors) == 1, err
    assert ERROR_LINE.match(errors[0]), errors[0]
    for n in needles:
        assert str(n) in errors[0], (n, errors[0])
    return errors[0]


def assert_no_outputs(folder):
    found = [f for f in OUTPUTS if glob.glob(os.path.join(str(folder), '**', f), recursive=True)]
    temps = glob.glob(os.path.join(str(folder), '**', '.*.tmp'), recursive=True)
    assert not found and not temps, (found, temps)


def tiny_cfg_obj(path, **over):
    from lib.core.config import get_default, update_config
    cfg = update_config(get_default(), str(path))
    for k, v in over.items():
        sec, _, key = k.rpartition('.')
        (cfg[sec] if sec else cfg)[key] = v
    return cfg


def make_state_checkpoint(cfg_path, dst, **over):
    """A complete training checkpoint of a fresh TrainState (no training)."""
    from lib.core.state import TrainState
    from lib.utils.checkpoint import save_checkpoint
    st = TrainState(tiny_cfg_obj(cfg_path, **over), torch.device('cpu'))
    save_checkpoint(st.checkpoint(), str(dst))
    return st


class Payload:
    """Unpickling this runs ``touch <marker>``: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


# --- the catalogue of bad inputs (tools/main.py, in-process) ----------------------

def _yaml(text):
    def build(tmp, data):
        return ['--cfg', write_cfg(tmp, data, 'bad', text), '--gpu', '-1'], ['bad.yaml']
    return build


def _opts(*opts, needles=()):
    def build(tmp, data):
        return ['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--opts'] + NPZ + list(opts), list(needles)
    return build


def _archive(which, edit):
    """Rewrite one archive of a copy of the data with ``edit(dict) -> dict``."""
    def build(tmp, data):
        from lib.utils.safe_io import load_npz
        d = copy_data(data, tmp)
        name = 'data_3d_synth.npz' if which == '3d' else 'data_2d_synth_gt.npz'
        arrays = edit(load_npz(str(d / name)))
        np.savez_compressed(str(d / name), **arrays)
        return ['--cfg', write_cfg(tmp, d), '--gpu', '-1', '--opts'] + NPZ, [name]
    return build


def _drop_joint(a):
    for s in a['positions_2d'].values():
        for act, views in s.items():
            s[act] = [v[:, :16] for v in views]
    return a


def _shorten_2d(a):
    v = a['positions_2d']['S1']['Posing']
    v[1] = v[1][:-30]
    return a


def _garbage_file(name, fmt='npz'):
    def build(tmp, data):
        d = copy_data(data, tmp)
        (d / name).write_bytes(b'\x00 this is not the file you are looking for ' * 50)
        return ['--cfg', write_cfg(tmp, d), '--gpu', '-1', '--opts', 'DATA.FORMAT', fmt], [name]
    return build


def _nan_no_drop(tmp, data):
    d = tmp / 'nan'
    synth.write_npz(str(d), nan_frames=4)
    return (['--cfg', write_cfg(tmp, d), '--gpu', '-1', '--opts'] + NPZ + ['DATA.DROP_NONFINITE', 'false'],
            ['NaN or inf', 'DATA.DROP_NONFINITE'])


def _ckpt_case(kind, mode):
    """A bad checkpoint, given with --eval --pretrain, --pretrain (training) or --resume PATH."""
    def build(tmp, data):
        cfg = write_cfg(tmp, data)
        ck = tmp / 'ckpts' / ('%s.pth.tar' % kind)
        ck.parent.mkdir(exist_ok=True)
        needles = [ck.name]
        if kind == 'truncated':
            make_state_checkpoint(cfg, tmp / 'ckpts' / 'good.pth.tar')
            raw = (tmp / 'ckpts' / 'good.pth.tar').read_bytes()
            ck.write_bytes(raw[:len(raw) // 2])
            needles.append('truncated or corrupt')
        elif kind == 'empty':
            ck.write_bytes(b'')
            needles.append('truncated or corrupt')
        elif kind == 'wider':                       # same model, NUM_CHANNELS 64 instead of 32
            make_state_checkpoint(cfg, ck, **{'NETWORK.NUM_CHANNELS': 64})
            needles += ['shape mismatch', 'lifter_before.pre.0.weight']
        elif kind == 'with_scaler':                 # another architecture: has a scaler
            make_state_checkpoint(cfg, ck, **{'TRAIN.USE_SCALER': True})
            needles += ['unexpected', 'scaler.']
        elif kind == 'discriminator':               # a state dict of another network
            from lib.models.discriminator import get_discriminator
            torch.save({'pose_model_state_dict': get_discriminator(tiny_cfg_obj(cfg), False).state_dict()},
                       str(ck))
            needles.append('not a PoseModel state dict')
        elif kind == 'no_pose_sd':
            torch.save({'epoch': 3, 'optimizer_g': {}}, str(ck))
            needles.append('pose_model_state_dict')
        elif kind == 'weights_only':                # fine weights, but nothing to resume
            st = make_state_checkpoint(cfg, tmp / 'ckpts' / 'full.pth.tar')
            torch.save({'pose_model_state_dict': st.model.state_dict()}, str(ck))
            needles.append('no training state')
        elif kind == 'not_a_dict':
            torch.save([torch.zeros(3)], str(ck))
            needles.append('not a dict')
        argv = ['--cfg', cfg, '--gpu', '-1']
        if mode == 'eval':
            argv += ['--eval', '--pretrain', ck]
        elif mode == 'pretrain':
            argv += ['--pretrain', ck]
        else:
            argv += ['--resume', ck]
        return argv + ['--opts'] + NPZ, needles
    return build


def _missing_cfg(tmp, data):
    return ['--cfg', tmp / 'nowhere.yaml', '--gpu', '-1'], ['config file not found', 'nowhere.yaml']


def _resume_without_checkpoint(tmp, data):
    return (['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--resume', '--opts'] + NPZ,
            ['nothing to resume', 'checkpoint.pth.tar'])


def _eval_without_pretrain(tmp, data):
    return ['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--eval'], ['--pretrain']


def _gpu_not_a_number(tmp, data):
    return ['--cfg', write_cfg(tmp, data), '--gpu', 'first'], ['--gpu']


def _unwritable(key):
    def build(tmp, data):
        blocker = tmp / 'a_file.txt'            # a path under a regular file: unwritable even for root
        blocker.write_text('x')
        return (['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--opts'] + NPZ + [key, blocker / 'sub'],
                ['not writable', key, 'a_file.txt'])
    return build


def _empty_data_dir(tmp, data):
    (tmp / 'empty').mkdir()
    return (['--cfg', write_cfg(tmp, tmp / 'empty'), '--gpu', '-1'],
            ['no data for dataset', 'data_3d_synth.npz', 'empty'])


CATALOGUE = {
    'malformed_yaml': _yaml('TRAIN:\n  NUM_EPOCHS: [1, 2\nBATCH_SIZE: 3\n'),
    'yaml_not_a_mapping': _yaml('- TRAIN\n- BATCH_SIZE\n'),
    'unknown_key_in_yaml': _yaml('TRAIN:\n  NUM_EPOCS: 3\n'),
    'unknown_key_in_opts': _opts('TRAIN.NUM_EPOCS', '3', needles=['TRAIN.NUM_EPOCS', '--opts']),
    'wrong_type_in_yaml': _yaml('BATCH_SIZE: many\n'),
    'wrong_type_in_opts': _opts('TRAIN.USE_SCALER', 'maybe', needles=['TRAIN.USE_SCALER', 'bool']),
    'zero_batch_size': _opts('BATCH_SIZE', '0', needles=['BATCH_SIZE', 'positive']),
    'negative_batch_size': _yaml('BATCH_SIZE: -64\n'),
    'bad_choice': _opts('TRAIN.NONFINITE', 'ignore', needles=['TRAIN.NONFINITE', 'stop/skip']),
    'bad_eval_precision': _opts('EVAL.PRECISION', 'fp16', needles=['EVAL.PRECISION', 'fp32/bf16']),
    'bf16_eval_untracked_bn': _opts('EVAL.PRECISION', 'bf16', 'NETWORK.BN_TRACK', 'false',
                                    needles=['EVAL.PRECISION', 'BN_TRACK']),
    'odd_opts': _opts('TRAIN.NUM_EPOCHS', needles=['KEY VALUE', '--opts']),
    'loss_weights_count': _opts('TRAIN.LOSS_WEIGHTS', '[1, 1]', needles=['TRAIN.LOSS_WEIGHTS', '4']),
    'missing_cfg_file': _missing_cfg,
    'missing_data_root': _opts('DATA_DIR', '/nonexistent/h36m', needles=['data folder not found',
                                                                        '/nonexistent/h36m']),
    'empty_data_root': _empty_data_dir,
    'npz_without_key': _archive('3d', lambda a: {'positions': a['positions_3d']}),
    'npz_not_a_zip': _garbage_file('data_2d_synth_gt.npz'),
    'h5_not_hdf5': _garbage_file('synth_train_pred3.h5', 'h5'),
    'joints_not_17': _archive('2d', _drop_joint),
    'length_mismatch_beyond_trim': _archive('2d', _shorten_2d),
    'nan_keypoints_not_dropped': _nan_no_drop,
    'truncated_checkpoint_eval': _ckpt_case('truncated', 'eval'),
    'empty_checkpoint_pretrain': _ckpt_case('empty', 'pretrain'),
    'truncated_checkpoint_resume': _ckpt_case('truncated', 'resume'),
    'other_width_resume': _ckpt_case('wider', 'resume'),
    'other_architecture_resume': _ckpt_case('with_scaler', 'resume'),
    'other_network_eval': _ckpt_case('discriminator', 'eval'),
    'no_pose_model_state_dict_eval': _ckpt_case('no_pose_sd', 'eval'),
    'no_pose_model_state_dict_pretrain': _ckpt_case('no_pose_sd', 'pretrain'),
    'checkpoint_not_a_dict': _ckpt_case('not_a_dict', 'eval'),
    'resume_from_weights_only': _ckpt_case('weights_only', 'resume'),
    'resume_without_checkpoint': _resume_without_checkpoint,
    'eval_without_pretrain': _eval_without_pretrain,
    'gpu_not_a_number': _gpu_not_a_number,
    'output_dir_not_writable': _unwritable('OUTPUT_DIR'),
    'log_dir_not_writable': _unwritable('LOG_DIR'),
}

_EXTRA_NEEDLES = {
    'malformed_yaml': ['malformed YAML', 'bad.yaml:'],
    'yaml_not_a_mapping': ['mapping'],
    'unknown_key_in_yaml': ['unknown config key TRAIN.NUM_EPOCS'],
    'wrong_type_in_yaml': ['BATCH_SIZE', 'expects int'],
    'negative_batch_size': ['BATCH_SIZE', 'positive'],
    'npz_without_key': ['positions_3d'],
    'npz_not_a_zip': ['not a readable .npz'],
    'h5_not_hdf5': ['cannot read HDF5'],
    'joints_not_17': ['(N, 17, 2)', '16'],
    'length_mismatch_beyond_trim': ['S1/Posing camera 1', 'trimmed'],
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input_is_one_line_exit_2(case, data_dir, tmp_path, capsys):
    argv, needles = CATALOGUE[case](tmp_path, data_dir)
    rc, out, err = run_inproc(argv, capsys)
    assert_one_error_line(rc, err, *(list(needles) + _EXTRA_NEEDLES.get(case, [])))
    assert_no_outputs(tmp_path / 'out')


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 20


def test_bad_input_through_the_real_script(data_dir, tmp_path):
    """The same contract when tools/main.py runs as a program (what users and schedulers see)."""
    bad = write_cfg(tmp_path, data_dir, 'bad', 'TRAIN:\n  NUM_EPOCHS: [1\n')
    r = run_script([MAIN, '--cfg', bad, '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'malformed YAML', 'bad.yaml')
    assert r.stdout == ''
    r = run_script([MAIN, '--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1', '--eval', '--pretrain',
                    tmp_path / 'missing.pth.tar'])
    assert_one_error_line(r.returncode, r.stderr, 'checkpoint not found', 'missing.pth.tar')


def test_a_bug_still_shows_its_traceback(capsys):
    def buggy(argv):
        return [][1]
    with pytest.raises(IndexError):
        run_main(buggy, [])


def test_ctrl_c_outside_training_is_one_line_exit_130(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as ex:
        run_main(interrupted, [])
    assert ex.value.code == 130 and capsys.readouterr().err == 'interrupted\n'


def test_nan_and_inf_training_frames_are_dropped_and_counted(tmp_path, capsys):
    d = tmp_path / 'nan'
    synth.write_npz(str(d), nan_frames=4)                  # S1 (train): 4 frames with NaN
    from lib.utils.safe_io import load_npz
    a = load_npz(str(d / 'data_2d_synth_gt.npz'))
    a['positions_2d']['S9']['Posing'][2][10, 3, 0] = np.inf  # S9 (test): 1 frame with inf
    np.savez_compressed(str(d / 'data_2d_synth_gt.npz'), **a)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, d), '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.MAX_STEPS_PER_EPOCH', '2', 'EVAL.STRIDE', '8'], capsys)
    assert rc == 0, err
    assert 'dropped 4 of' in out and 'dropped 1 of' in out and 'NaN or inf' in out
    assert '4 non-finite dropped' in out and '1 non-finite dropped' in out
    res = json.load(open(tmp_path / 'out' / 'tiny' / 'results.json'))
    assert np.isfinite(res['MPJPE'])


def test_gpu_index_beyond_the_machine(monkeypatch):
    from lib.utils.runtime import select_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    with pytest.raises(UserError) as e:
        select_device('3')
    assert e.value.line().startswith('error: --gpu 3 but this machine has 1 GPU(s) (--gpu): ')


def test_gpu_index_beyond_the_machine_from_main(monkeypatch, data_dir, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir), '--gpu', '3', '--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, '--gpu 3', '1 GPU')
    assert_no_outputs(tmp_path / 'out')


def test_no_cuda_falls_back_to_cpu_with_one_warning(monkeypatch, capsys):
    from lib.utils.runtime import select_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert select_device('0') == torch.device('cpu')
    assert capsys.readouterr().err.strip() == 'warning: CUDA is not available, running on CPU'


# --- malicious files ----------------------------------------------------------------

@pytest.mark.parametrize('mode', ['eval', 'pretrain', 'resume'])
def test_malicious_checkpoint_is_refused_without_running(mode, data_dir, tmp_path, capsys):
    marker = tmp_path / 'PAYLOAD_RAN'
    ck = tmp_path / 'evil.pth.tar'
    torch.save({'pose_model_state_dict': Payload(marker), 'epoch': 1}, str(ck))
    flag = {'eval': ['--eval', '--pretrain', ck], 'pretrain': ['--pretrain', ck], 'resume': ['--resume', ck]}[mode]
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1'] + flag +
                              ['--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, 'checkpoint refused', 'posix.system', 'evil.pth.tar')
    assert not marker.exists()
    assert_no_outputs(tmp_path / 'out')


def test_malicious_checkpoint_refused_by_the_real_script(data_dir, tmp_path):
    marker = tmp_path / 'PAYLOAD_RAN'
    ck = tmp_path / 'evil.pth.tar'
    torch.save({'pose_model_state_dict': Payload(marker)}, str(ck), _use_new_zipfile_serialization=False)
    r = run_script([MAIN, '--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1', '--eval', '--pretrain', ck])
    assert_one_error_line(r.returncode, r.stderr, 'checkpoint refused', 'evil.pth.tar')
    assert not marker.exists()


def test_malicious_pickle_inside_a_data_archive_is_refused(data_dir, tmp_path, capsys):
    marker = tmp_path / 'PAYLOAD_RAN'
    d = copy_data(data_dir, tmp_path)
    arr = np.empty((), dtype=object)
    arr[()] = {'S1': Payload(marker)}
    np.savez(str(d / 'data_2d_synth_gt.npz'), positions_2d=arr)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, d), '--gpu', '-1', '--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, 'refus', 'data_2d_synth_gt.npz')
    assert not marker.exists()


# --- atomic checkpoints ---------------------------------------------------------------

def _two_states():
    a = {'pose_model_state_dict': {'w': torch.zeros(1000)}, 'epoch': 1}
    b = {'pose_model_state_dict': {'w': torch.ones(1000)}, 'epoch': 2}
    return a, b


def _assert_intact(path, folder):
    from lib.utils.checkpoint import load_checkpoint
    ck = load_checkpoint(str(path))
    assert ck['epoch'] == 1 and float(ck['pose_model_state_dict']['w'].sum()) == 0
    assert os.listdir(str(folder)) == [os.path.basename(str(path))]     # no temporary files left


@pytest.mark.parametrize('crash_in', ['write', 'fsync', 'replace'])
def test_crash_during_save_leaves_the_old_checkpoint(crash_in, tmp_path, monkeypatch):
    from lib.utils import safe_io
    from lib.utils.checkpoint import save_checkpoint
    path = tmp_path / 'run' / 'checkpoint.pth.tar'
    a, b = _two_states()
    save_checkpoint(a, str(path))
    if crash_in == 'write':                 # killed half-way through writing the bytes
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(bytes(data)[:len(data) // 2])
                raise KeyboardInterrupt('killed')

            def __getattr__(self, k):
                return getattr(self.f, k)
        monkeypatch.setattr(safe_io.os, 'fdopen', lambda fd, mode: HalfFile(real_fdopen(fd, mode)))
        exc = KeyboardInterrupt
    elif crash_in == 'fsync':
        def boom(fd):
            raise OSError(5, 'Input/output error')
        monkeypatch.setattr(safe_io.os, 'fsync', boom)
        exc = OSError
    else:                                   # disk full / killed just before the rename
        def boom(src, dst):
            raise OSError(28, 'No space left on device')
        monkeypatch.setattr(safe_io.os, 'replace', boom)
        exc = OSError
    with pytest.raises(exc):
        save_checkpoint(b, str(path))
    monkeypatch.undo()
    _assert_intact(path, path.parent)


def test_atomic_write_makes_normal_permissions(tmp_path):
    from lib.utils.safe_io import atomic_write
    mask = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / 'f.json'), 'w') as f:
            f.write('{}')
    finally:
        os.umask(mask)
    assert (os.stat(tmp_path / 'f.json').st_mode & 0o777) == 0o644


# --- training runs in subprocesses: kill, signals, resume, determinism ----------------

RUN_OPTS = NPZ + ['TRAIN.NUM_EPOCHS', '4', 'BATCH_SIZE', '32', 'TRAIN.CHECKPOINT_EVERY', '4']
# the alternating scheme with a scaler, TMC, EMA, per-epoch rotations and a warm start:
# every piece of state that resuming must restore (MAINNET_CRITICS 2: frozen parameters
# keep Adam momentum, COMPAT.FROZEN_KEEP_MOMENTUM)
FULL_OPTS = RUN_OPTS + ['TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_SCALER', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                        'TRAIN.EMA_DECAY', '0.9', 'DATA.REDRAW_ROT_EVERY_EPOCH', 'true',
                        'TRAIN.WARM_START_EPOCHS', '1', 'TRAIN.MAINNET_CRITICS', '2']
METRICS = ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale', 'MPJPE_batchmean', 'P-MPJPE_batchmean',
           'best_P-MPJPE_during_training', 'best_MPJPE_during_training', 'skipped_steps', 'num_poses')


def train_cmd(cfg, opts, *flags):
    return [sys.executable, MAIN, '--cfg', str(cfg), '--gpu', '-1', '--quiet'] + list(flags) + \
        ['--opts'] + [str(o) for o in opts]


def train_run(tmp, data, name, opts, *flags):
    cfg = write_cfg(tmp, data, name)
    r = subprocess.run(train_cmd(cfg, opts, *flags), capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return cfg, load_results(tmp, name)


def load_results(tmp, name):
    return json.load(open(tmp / 'out' / name / 'results.json'))


def comparable(res):
    """Every number of results.json except wall-clock seconds."""
    out = {k: res[k] for k in METRICS}
    out['per_action'] = res['per_action']
    out['history'] = [{k: v for k, v in h.items() if k != 'seconds'} for h in res['history']]
    out['ema'] = res.get('ema')
    return out


def start_and_wait_mid_epoch(cfg, opts, ckpt, min_epoch, timeout=240):
    """Start training; return (process, train_state) once a mid-epoch checkpoint of
    ``epoch >= min_epoch`` is on disk."""
    proc = subprocess.Popen(train_cmd(cfg, opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    last, t0 = None, time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail('training ended before it could be interrupted:\n' + out[-1500:] + err[-1500:])
        try:
            st = os.stat(ckpt)
        except FileNotFoundError:
            time.sleep(0.005)
            continue
        if (st.st_ino, st.st_mtime_ns) != last:
            last = (st.st_ino, st.st_mtime_ns)
            ts = torch.load(ckpt, weights_only=True)['train_state']
            if ts['epoch'] >= min_epoch and ts['step_in_epoch'] > 0:
                return proc, ts
        time.sleep(0.005)
    proc.kill()
    pytest.fail('no mid-epoch checkpoint within %ds' % timeout)


@pytest.fixture(scope='module')
def baseline(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp('baseline')
    _, res = train_run(tmp, data_dir, 'base', RUN_OPTS)
    return res


def test_two_cpu_runs_with_the_same_seed_are_identical(baseline, data_dir, tmp_path):
    _, res = train_run(tmp_path, data_dir, 'again', RUN_OPTS)
    assert comparable(res) == comparable(baseline)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(baseline, data_dir, tmp_path):
    cfg = write_cfg(tmp_path, data_dir, 'killed')
    out = tmp_path / 'out' / 'killed'
    ckpt = out / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, RUN_OPTS, ckpt, min_epoch=1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    st = torch.load(ckpt, weights_only=True)['train_state']      # intact, and not the end of the run
    assert st['epoch'] < 4 and st['step'] >= ts['step']
    (out / '.checkpoint.pth.tar.k1ll3d.tmp').write_bytes(b'half a checkpoint')  # as a kill mid-save leaves
    r = subprocess.run(train_cmd(cfg, RUN_OPTS, '--resume'), capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert not list(out.glob('.*.tmp'))
    assert comparable(load_results(tmp_path, 'killed')) == comparable(baseline)


def test_sigterm_saves_exits_143_and_resume_matches(data_dir, tmp_path):
    _, ref = train_run(tmp_path, data_dir, 'ref', FULL_OPTS)
    cfg = write_cfg(tmp_path, data_dir, 'termed')
    ckpt = tmp_path / 'out' / 'termed' / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, FULL_OPTS, ckpt, min_epoch=2)   # after the warm start
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert 'SIGTERM' in out and '--resume' in out and 'Traceback' not in err
    st = torch.load(ckpt, weights_only=True)['train_state']
    assert st['step'] > ts['step'] and st['epoch'] < 4 and st['opt_phase'] == 'method'
    r = subprocess.run(train_cmd(cfg, FULL_OPTS, '--resume'), capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert comparable(load_results(tmp_path, 'termed')) == comparable(ref)


def test_sigint_saves_and_exits_130(data_dir, tmp_path):
    opts = RUN_OPTS[:RUN_OPTS.index('TRAIN.NUM_EPOCHS') + 1] + ['2'] + RUN_OPTS[RUN_OPTS.index('BATCH_SIZE'):]
    cfg = write_cfg(tmp_path, data_dir, 'inted')
    ckpt = tmp_path / 'out' / 'inted' / 'checkpoint.pth.tar'
    proc, ts = start_and_wait_mid_epoch(cfg, opts, ckpt, min_epoch=0)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert 'SIGINT' in out and '--resume' in out and 'Traceback' not in err
    st = torch.load(ckpt, weights_only=True)['train_state']
    assert st['step'] > ts['step']


def test_sigterm_during_evaluation_stops_at_the_epoch_boundary(data_dir, tmp_path, capsys, monkeypatch):
    """A signal between epochs (here: during the epoch-end evaluation) saves a checkpoint at the
    boundary; resuming must not step the learning-rate schedule twice."""
    import tools.main as M
    opts = NPZ + ['TRAIN.NUM_EPOCHS', '3', 'TRAIN.MAX_STEPS_PER_EPOCH', '4', 'EVAL.STRIDE', '8',
                  'TRAIN.SCHEDULER_GAMMA', '0.5']
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir, 'whole'), '--gpu', '-1', '--opts'] + opts,
                              capsys)
    assert rc == 0, err
    real_eval, calls = M.run_eval, []

    def eval_then_sigterm(state, *a, **k):
        calls.append(state.epoch)
        res = real_eval(state, *a, **k)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return res
    monkeypatch.setattr(M, 'run_eval', eval_then_sigterm)
    cfg = write_cfg(tmp_path, data_dir, 'cut')
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert rc == 143 and 'SIGTERM' in out and '--resume' in out, out + err
    ck = torch.load(tmp_path / 'out' / 'cut' / 'checkpoint.pth.tar', weights_only=True)
    assert ck['train_state']['epoch'] == 1 and ck['train_state']['step_in_epoch'] == 0
    monkeypatch.setattr(M, 'run_eval', real_eval)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts, capsys)
    assert rc == 0, out + err
    assert comparable(load_results(tmp_path, 'cut')) == comparable(load_results(tmp_path, 'whole'))


def test_resume_of_a_finished_run_does_nothing(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    opts = NPZ + ['TRAIN.MAX_STEPS_PER_EPOCH', '2', 'EVAL.STRIDE', '8']
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + opts, capsys)
    assert rc == 0, err
    before = (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').read_bytes()
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts, capsys)
    assert rc == 0 and 'nothing to resume' in out, out + err
    assert (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').read_bytes() == before
    # resuming with other settings works, with a warning that says what differs
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--resume', '--opts'] + opts +
                              ['TRAIN.NUM_EPOCHS', '2', 'BATCH_SIZE', '16'], capsys)
    assert rc == 0, out + err
    assert "differ from the checkpoint's" in out and 'BATCH_SIZE 64 -> 16' in out
    assert 'NUM_EPOCHS' not in out.split("differ from the checkpoint's")[1].split('\n')[0]
    assert len(load_results(tmp_path, 'tiny')['history']) == 2


def test_resume_with_a_sampling_rng_of_another_device(data_dir, tmp_path, recwarn):
    from lib.core.state import TrainState
    cfg_path = write_cfg(tmp_path, data_dir)
    st = make_state_checkpoint(cfg_path, tmp_path / 'ck.pth.tar')
    ck = st.checkpoint()
    ck['rng']['gen'] = torch.zeros(16, dtype=torch.uint8)        # a CUDA (Philox) generator state
    st2 = TrainState(tiny_cfg_obj(cfg_path), torch.device('cpu'))
    st2.restore(ck, 'ck.pth.tar')
    assert any('another device type' in str(w.message) for w in recwarn.list)
    torch.rand(3, generator=st2.gen)


# --- non-finite losses ------------------------------------------------------------------

def test_nonfinite_loss_stops_names_term_and_step_and_saves(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    # 1e39 is finite in float64 (the config accepts it) and inf in float32: l3d * 1e39 = inf
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.LOSS_WEIGHTS', '[1.0e+39, 1, 1, 1]'], capsys)
    line = assert_one_error_line(rc, err, "loss term 'l3d'", 'at step 0', 'last good state is saved',
                                 'checkpoint.pth.tar', 'TRAIN.NONFINITE')
    assert 'l3d' in line
    from lib.utils.checkpoint import load_checkpoint
    ck = load_checkpoint(str(tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar'))
    assert ck['train_state']['step'] == 0
    assert all(torch.isfinite(v).all() for v in ck['pose_model_state_dict'].values() if v.is_floating_point())
    assert not (tmp_path / 'out' / 'tiny' / 'results.json').exists()


def test_nonfinite_loss_mid_training_keeps_the_last_finite_checkpoint(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    # an absurd learning rate: the first step is finite, it breaks the weights, step 1 is not
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.POSE_LR', '1.0e+30', 'TRAIN.CHECKPOINT_EVERY', '1'], capsys)
    assert_one_error_line(rc, err, 'non-finite at step', 'checkpoint')
    ck_path = tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar'
    if ck_path.exists():                     # whatever is on disk must be finite
        from lib.utils.checkpoint import load_checkpoint
        ck = load_checkpoint(str(ck_path))
        assert all(torch.isfinite(v).all() for v in ck['pose_model_state_dict'].values()
                   if v.is_floating_point())


def test_nonfinite_loss_skip_continues(data_dir, tmp_path, capsys):
    cfg = write_cfg(tmp_path, data_dir)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts'] + NPZ +
                              ['TRAIN.LOSS_WEIGHTS', '[1.0e+39, 1, 1, 1]', 'TRAIN.NONFINITE', 'skip',
                               'TRAIN.MAX_STEPS_PER_EPOCH', '3', 'TRAIN.NUM_EPOCHS', '2', 'EVAL.STRIDE', '8'],
                              capsys)
    assert rc == 0, err
    assert "skipped step 0: loss term 'l3d' is not finite" in out
    res = load_results(tmp_path, 'tiny')
    assert res['skipped_steps'] == 6
    assert (tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar').exists()


# --- the other entry points ----------------------------------------------------------------

def _need(path):
    full = os.path.join(REPO, path)
    if not os.path.isfile(full):
        pytest.skip('%s is not there yet' % path)
    return full


def test_prepare_data_bvh_cut_in_half(tmp_path):
    tool = _need('tools/prepare_data.py')
    src_clip = os.path.join(SHARED, 'mocap_bvh', 'martial', '04.bvh')
    if not os.path.isfile(src_clip):
        pytest.skip('no BVH clips in ../shared')
    raw = open(src_clip, 'rb').read()
    for s in ('S1', 'S2'):                       # a training and a test subject (both required)
        (tmp_path / 'src' / s).mkdir(parents=True)
        (tmp_path / 'src' / s / 'cut.bvh').write_bytes(raw[:len(raw) // 2])
    r = run_script([tool, 'bvh', '--src', tmp_path / 'src', '--out', tmp_path / 'prepared', '--name', 'cut',
                    '--test-subjects', 'S2'])
    assert_one_error_line(r.returncode, r.stderr, 'cut.bvh', 'truncated')
    assert not glob.glob(str(tmp_path / 'prepared' / '*.npz'))


def test_bvh_cut_in_half_is_a_user_error(tmp_path):
    src_clip = os.path.join(SHARED, 'mocap_bvh', 'martial', '04.bvh')
    if not os.path.isfile(src_clip):
        pytest.skip('no BVH clips in ../shared')
    from lib.data.bvh import load_bvh
    raw = open(src_clip, 'rb').read()
    (tmp_path / 'cut.bvh').write_bytes(raw[:len(raw) // 2])
    with pytest.raises(UserError) as e:
        load_bvh(str(tmp_path / 'cut.bvh'))
    assert e.value.line().startswith('error:') and 'cut.bvh' in e.value.line()


@pytest.fixture
def tiny_checkpoint(tmp_path, data_dir):
    ck = tmp_path / 'tiny_model.pth.tar'
    make_state_checkpoint(write_cfg(tmp_path, data_dir), ck)
    return ck


def test_eval_lsp_unreadable_image(tmp_path, tiny_checkpoint):
    tool = _need('tools/eval_lsp.py')
    src = os.path.join(SHARED, 'lsp_sample')
    if not os.path.isfile(os.path.join(src, 'joints.mat')):
        pytest.skip('no LSP sample in ../shared')
    root = tmp_path / 'lsp'
    (root / 'images').mkdir(parents=True)
    shutil.copy(os.path.join(src, 'joints.mat'), root / 'joints.mat')
    for i in (1, 2, 3):
        shutil.copy(os.path.join(src, 'images', 'im%05d.jpg' % i), root / 'images')
    bad = root / 'images' / 'im00002.jpg'
    os.chmod(bad, 0o644)
    bad.write_bytes(bad.read_bytes()[:200])                        # an image cut short
    r = run_script([tool, '--cfg', tmp_path / 'tiny.yaml', '--pretrain', tiny_checkpoint, '--lsp-root', root,
                    '--out', tmp_path / 'lsp_out', '--limit', '3', '--sheet', '0', '--quiet', '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'im00002.jpg')
    assert 'failed 1' in r.stdout
    assert not (tmp_path / 'lsp_out' / 'im00002.png').exists()


def _inference(tool, tmp, indir, ck):
    return run_script([tool, '--indir', indir, '--outdir', tmp / 'inf_out', '--cfg', tmp / 'tiny.yaml',
                       '--pretrain', ck, '--gpu', '-1', '--quiet'])


def test_inference_empty_input_folder(tmp_path, tiny_checkpoint):
    tool = _need('scripts/inference.py')
    (tmp_path / 'empty').mkdir()
    r = _inference(tool, tmp_path, tmp_path / 'empty', tiny_checkpoint)
    assert_one_error_line(r.returncode, r.stderr, 'empty')
    assert not glob.glob(str(tmp_path / 'inf_out' / '*'))


def test_inference_nonfinite_keypoints_fail_that_file_only(tmp_path, tiny_checkpoint):
    tool = _need('scripts/inference.py')
    indir = tmp_path / 'in'
    indir.mkdir()
    pose = (synth.TEMPLATE[:, [0, 2]] * np.array([200.0, -200.0]) + np.array([500.0, 700.0])).astype(np.float32)
    np.save(str(indir / 'good.npy'), pose)
    bad = pose.copy()
    bad[4, 1] = np.nan
    np.save(str(indir / 'broken.npy'), bad)
    r = _inference(tool, tmp_path, indir, tiny_checkpoint)
    assert_one_error_line(r.returncode, r.stderr, 'broken.npy')
    assert (tmp_path / 'inf_out' / 'good_3d.npy').exists()
    assert not glob.glob(str(tmp_path / 'inf_out' / 'broken*'))
