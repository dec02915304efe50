"""The command line of tools/main.py: bad input, end-to-end training and evaluation, a new
user's first runs, start-up before torch loads.

* One catalogue of bad inputs: each must end in exit code 2 and exactly one stderr line
  ``error: <what> (<file/key>): <how to fix>``, no traceback, and no checkpoint / results
  written.  They run ``tools/main.py`` as a script in-process (``runpy``: fast); a few run
  the real scripts in a subprocess.
* Untrusted checkpoints and archives: malicious pickles refused without running them.
"""
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import layout_fixtures as lf
import synth
from conftest import REPO
from helpers import (ENV, MAIN, NPZ, Evil, assert_one_error_line, edit_h5, main_process, make_state_checkpoint,
                     need_script, rigid_align_reference, run_inproc, run_repo_script, run_script, run_without, set_nan,
                     tiny_cfg_obj, write_cfg, write_lsp)
from lib.data.camera import CAMERA_IDS
from lib.utils.errors import UserError, run_main


OUTPUTS = ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'predictions.npz')


def copy_data(data_dir, tmp):
    d = tmp / 'data_copy'
    shutil.copytree(data_dir, d)
    return d


def assert_no_outputs(folder):
    found = [f for f in OUTPUTS if glob.glob(os.path.join(str(folder), '**', f), recursive=True)]
    temps = glob.glob(os.path.join(str(folder), '**', '.*.tmp'), recursive=True)
    assert not found and not temps, (found, temps)


# --- the catalogue of bad inputs (tools/main.py, in-process) ----------------------
#
# One table: case name -> (setup, needles).  ``setup(tmp, data)`` writes what the case needs
# under tmp and returns (argv of tools/main.py, names of the files it made); the one stderr
# line must hold every needle and every such name, the exit code must be 2 and no output
# (checkpoint, results, predictions, temporary file) may be left under tmp/out.

def _yaml(text):
    def build(tmp, data):
        return ['--cfg', write_cfg(tmp, data, 'bad', text), '--gpu', '-1'], ['bad.yaml']
    return build


def _opts(*opts):
    def build(tmp, data):
        return ['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--opts'] + NPZ + list(opts), []
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
    return ['--cfg', write_cfg(tmp, d), '--gpu', '-1', '--opts'] + NPZ + ['DATA.DROP_NONFINITE', 'false'], []


def _ckpt_case(kind, mode):
    """A bad checkpoint, given with --eval --pretrain, --pretrain (training) or --resume PATH."""
    def build(tmp, data):
        cfg = write_cfg(tmp, data)
        ck = tmp / 'ckpts' / ('%s.pth.tar' % kind)
        ck.parent.mkdir(exist_ok=True)
        if kind == 'truncated':
            make_state_checkpoint(cfg, tmp / 'ckpts' / 'good.pth.tar')
            raw = (tmp / 'ckpts' / 'good.pth.tar').read_bytes()
            ck.write_bytes(raw[:len(raw) // 2])
        elif kind == 'empty':
            ck.write_bytes(b'')
        elif kind == 'wider':                       # same model, NUM_CHANNELS 64 instead of 32
            make_state_checkpoint(cfg, ck, **{'NETWORK.NUM_CHANNELS': 64})
        elif kind == 'with_scaler':                 # another architecture: has a scaler
            make_state_checkpoint(cfg, ck, **{'TRAIN.USE_SCALER': True})
        elif kind == 'discriminator':               # a state dict of another network
            from lib.models.discriminator import get_discriminator
            torch.save({'pose_model_state_dict': get_discriminator(tiny_cfg_obj(cfg), False).state_dict()},
                       str(ck))
        elif kind == 'no_pose_sd':
            torch.save({'epoch': 3, 'optimizer_g': {}}, str(ck))
        elif kind == 'weights_only':                # fine weights, but nothing to resume
            st = make_state_checkpoint(cfg, tmp / 'ckpts' / 'full.pth.tar')
            torch.save({'pose_model_state_dict': st.model.state_dict()}, str(ck))
        elif kind == 'not_a_dict':
            torch.save([torch.zeros(3)], str(ck))
        flags = {'eval': ['--eval', '--pretrain', ck], 'pretrain': ['--pretrain', ck], 'resume': ['--resume', ck]}
        return ['--cfg', cfg, '--gpu', '-1'] + flags[mode] + ['--opts'] + NPZ, [ck.name]
    return build


def _missing_cfg(tmp, data):
    return ['--cfg', tmp / 'nowhere.yaml', '--gpu', '-1'], ['nowhere.yaml']


def _resume_without_checkpoint(tmp, data):
    return ['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--resume', '--opts'] + NPZ, []


def _eval_without_pretrain(tmp, data):
    return ['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--eval'], []


def _gpu_not_a_number(tmp, data):
    return ['--cfg', write_cfg(tmp, data), '--gpu', 'first'], []


def _unwritable(key):
    def build(tmp, data):
        blocker = tmp / 'a_file.txt'            # a path under a regular file: unwritable even for root
        blocker.write_text('x')
        return (['--cfg', write_cfg(tmp, data), '--gpu', '-1', '--opts'] + NPZ + [key, blocker / 'sub'],
                ['a_file.txt'])
    return build


def _empty_data_dir(tmp, data):
    (tmp / 'empty').mkdir()
    return ['--cfg', write_cfg(tmp, tmp / 'empty'), '--gpu', '-1'], ['data_3d_synth.npz', 'empty']


def _replace(key, fn):
    def edit(f):
        a = fn(np.array(f[key]))
        del f[key]
        f[key] = a
    return edit


def _layout(dataset, edit, *opts):
    """The MPI-INF-3DHP or SURREAL fixture in the authors' h5 layout, its test file edited."""
    def build(tmp, data):
        edit_h5(dataset, edit)(tmp)
        cfg = tmp / 'c.yaml'
        cfg.write_text(lf.YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log', dataset=dataset))
        return ['--cfg', cfg, '--gpu', '-1', '--opts'] + list(opts), []
    return build


CATALOGUE = {
    # configuration
    'malformed_yaml': (_yaml('TRAIN:\n  NUM_EPOCHS: [1, 2\nBATCH_SIZE: 3\n'), ['malformed YAML', 'bad.yaml:']),
    'yaml_not_a_mapping': (_yaml('- TRAIN\n- BATCH_SIZE\n'), ['mapping']),
    'unknown_key_in_yaml': (_yaml('TRAIN:\n  NUM_EPOCS: 3\n'), ['unknown config key TRAIN.NUM_EPOCS']),
    'unknown_key_in_opts': (_opts('TRAIN.NUM_EPOCS', '3'), ['TRAIN.NUM_EPOCS', '--opts']),
    'wrong_type_in_yaml': (_yaml('BATCH_SIZE: many\n'), ['BATCH_SIZE', 'expects int']),
    'wrong_type_in_opts': (_opts('TRAIN.USE_SCALER', 'maybe'), ['TRAIN.USE_SCALER', 'bool']),
    'zero_batch_size': (_opts('BATCH_SIZE', '0'), ['BATCH_SIZE', 'positive']),
    'negative_batch_size': (_yaml('BATCH_SIZE: -64\n'), ['BATCH_SIZE', 'positive']),
    'bad_choice': (_opts('TRAIN.NONFINITE', 'ignore'), ['TRAIN.NONFINITE', 'stop/skip']),
    'bad_eval_precision': (_opts('EVAL.PRECISION', 'fp16'), ['EVAL.PRECISION', 'fp32/bf16']),
    'bf16_eval_untracked_bn': (_opts('EVAL.PRECISION', 'bf16', 'NETWORK.BN_TRACK', 'false'),
                               ['EVAL.PRECISION', 'BN_TRACK']),
    'odd_opts': (_opts('TRAIN.NUM_EPOCHS'), ['KEY VALUE', '--opts']),
    'loss_weights_count': (_opts('TRAIN.LOSS_WEIGHTS', '[1, 1]'), ['TRAIN.LOSS_WEIGHTS', '4']),
    'missing_cfg_file': (_missing_cfg, ['config file not found']),
    # data
    'missing_data_root': (_opts('DATA_DIR', '/nonexistent/h36m'), ['data folder not found', '/nonexistent/h36m']),
    'empty_data_root': (_empty_data_dir, ['no data for dataset']),
    'npz_without_key': (_archive('3d', lambda a: {'positions': a['positions_3d']}), ['positions_3d']),
    'npz_not_a_zip': (_garbage_file('data_2d_synth_gt.npz'), ['not a readable .npz']),
    'h5_not_hdf5': (_garbage_file('synth_train_pred3.h5', 'h5'), ['cannot read HDF5']),
    'joints_not_17': (_archive('2d', _drop_joint), ['(N, 17, 2)', '16']),
    'length_mismatch_beyond_trim': (_archive('2d', _shorten_2d), ['S1/Posing camera 1', 'trimmed']),
    'nan_keypoints_not_dropped': (_nan_no_drop, ['NaN or inf', 'DATA.DROP_NONFINITE']),
    'mpi_16_joints': (_layout('mpi', _replace('joint_2d_gt', lambda a: a[:, :16])), ['joint_2d_gt has shape', '17']),
    'mpi_missing_3d': (_layout('mpi', lambda f: f.__delitem__('joint_3d_gt')), ["'joint_3d_gt'"]),
    'mpi_nan_not_dropped': (_layout('mpi', set_nan, 'DATA.DROP_NONFINITE', 'false'),
                            ['NaN or inf', 'DATA.DROP_NONFINITE']),
    'surreal_missing_2d': (_layout('surreal', lambda f: f.__delitem__('original_joint_2d_gt')),
                           ["'original_joint_2d_gt'"]),
    'surreal_detected_2d': (_layout('surreal', lambda f: None, 'USE_GT', 'false'), ['USE_GT']),
    'mpi_as_npz': (_layout('mpi', lambda f: None, 'DATA.FORMAT', 'npz'), ['DATA.FORMAT']),
    # checkpoints
    'truncated_checkpoint_eval': (_ckpt_case('truncated', 'eval'), ['truncated or corrupt']),
    'empty_checkpoint_pretrain': (_ckpt_case('empty', 'pretrain'), ['truncated or corrupt']),
    'truncated_checkpoint_resume': (_ckpt_case('truncated', 'resume'), ['truncated or corrupt']),
    'other_width_resume': (_ckpt_case('wider', 'resume'), ['shape mismatch', 'lifter_before.pre.0.weight']),
    'other_architecture_resume': (_ckpt_case('with_scaler', 'resume'), ['unexpected', 'scaler.']),
    'other_network_eval': (_ckpt_case('discriminator', 'eval'), ['not a PoseModel state dict']),
    'no_pose_model_state_dict_eval': (_ckpt_case('no_pose_sd', 'eval'), ['pose_model_state_dict']),
    'no_pose_model_state_dict_pretrain': (_ckpt_case('no_pose_sd', 'pretrain'), ['pose_model_state_dict']),
    'checkpoint_not_a_dict': (_ckpt_case('not_a_dict', 'eval'), ['not a dict']),
    'resume_from_weights_only': (_ckpt_case('weights_only', 'resume'), ['no training state']),
    'resume_without_checkpoint': (_resume_without_checkpoint, ['nothing to resume', 'checkpoint.pth.tar']),
    # command line and output folders
    'eval_without_pretrain': (_eval_without_pretrain, ['--pretrain']),
    'gpu_not_a_number': (_gpu_not_a_number, ['--gpu']),
    'output_dir_not_writable': (_unwritable('OUTPUT_DIR'), ['not writable', 'OUTPUT_DIR']),
    'log_dir_not_writable': (_unwritable('LOG_DIR'), ['not writable', 'LOG_DIR']),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input_is_one_line_exit_2(case, data_dir, tmp_path, capsys):
    setup, needles = CATALOGUE[case]
    argv, made = setup(tmp_path, data_dir)
    rc, out, err = run_inproc(argv, capsys)
    assert_one_error_line(rc, err, *(list(needles) + list(made)))
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
    torch.save({'pose_model_state_dict': Evil(marker), 'epoch': 1}, str(ck))
    flag = {'eval': ['--eval', '--pretrain', ck], 'pretrain': ['--pretrain', ck], 'resume': ['--resume', ck]}[mode]
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1'] + flag +
                              ['--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, 'checkpoint refused', 'posix.system', 'evil.pth.tar')
    assert not marker.exists()
    assert_no_outputs(tmp_path / 'out')


def test_malicious_checkpoint_refused_by_the_real_script(data_dir, tmp_path):
    marker = tmp_path / 'PAYLOAD_RAN'
    ck = tmp_path / 'evil.pth.tar'
    torch.save({'pose_model_state_dict': Evil(marker)}, str(ck), _use_new_zipfile_serialization=False)
    r = run_script([MAIN, '--cfg', write_cfg(tmp_path, data_dir), '--gpu', '-1', '--eval', '--pretrain', ck])
    assert_one_error_line(r.returncode, r.stderr, 'checkpoint refused', 'evil.pth.tar')
    assert not marker.exists()


def test_malicious_pickle_inside_a_data_archive_is_refused(data_dir, tmp_path, capsys):
    marker = tmp_path / 'PAYLOAD_RAN'
    d = copy_data(data_dir, tmp_path)
    arr = np.empty((), dtype=object)
    arr[()] = {'S1': Evil(marker)}
    np.savez(str(d / 'data_2d_synth_gt.npz'), positions_2d=arr)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, d), '--gpu', '-1', '--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, 'refus', 'data_2d_synth_gt.npz')
    assert not marker.exists()


def test_prepare_data_bvh_cut_in_half(tmp_path):
    tool = need_script('tools/prepare_data.py')
    raw = synth.cmu_bvh(np.zeros(200)).encode()
    for s in ('S1', 'S2'):                       # a training and a test subject (both required)
        (tmp_path / 'src' / s).mkdir(parents=True)
        (tmp_path / 'src' / s / 'cut.bvh').write_bytes(raw[:len(raw) // 2])
    r = run_script([tool, 'bvh', '--src', tmp_path / 'src', '--out', tmp_path / 'prepared', '--name', 'cut',
                    '--test-subjects', 'S2'])
    assert_one_error_line(r.returncode, r.stderr, 'cut.bvh', 'truncated')
    assert not glob.glob(str(tmp_path / 'prepared' / '*.npz'))


# --- training and evaluation end to end (tools/main.py in a subprocess) -----------

def check_results_against_predictions(out_dir):
    res = json.load(open(os.path.join(out_dir, 'results.json')))
    p = np.load(os.path.join(out_dir, 'predictions.npz'))
    pred, gt = p['pred'].astype(np.float64), p['gt'].astype(np.float64)
    assert pred.shape == gt.shape and pred.shape[1:] == (17, 3) and len(p['subject']) == len(pred)
    assert np.allclose(gt[:, 0], 0) and np.allclose(pred[:, 0], 0, atol=1e-5)    # v3d root 0
    Lf = np.linalg.norm(gt[:, 10], axis=-1) / 1000                               # v3d head 10, metres
    err = np.sqrt((((pred * Lf[:, None, None]) * 1000 - gt) ** 2).sum(-1)).mean(-1)
    assert res['MPJPE'] == pytest.approx(err.mean(), rel=1e-4)
    aligned = rigid_align_reference(pred * Lf[:, None, None] * 1000, gt)        # numpy, frame by frame
    assert res['P-MPJPE'] == pytest.approx(np.linalg.norm(aligned - gt, axis=-1).mean(), rel=1e-4)
    assert res['num_poses'] == len(pred)
    return res


@pytest.mark.parametrize('fmt', ['npz', 'h5'])
def test_train_and_eval_end_to_end(tiny_data, fmt):
    cfg, tmp = tiny_data
    r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--opts', 'DATA.FORMAT', fmt])
    assert r.returncode == 0, r.stderr
    assert 'all frames' in r.stdout
    out = tmp / 'out' / 'tiny'
    for f in ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'predictions.npz'):
        assert (out / f).exists(), f
    res = check_results_against_predictions(str(out))
    r2 = main_process(['--cfg', str(cfg), '--gpu', '-1', '--eval', '--pretrain', str(out / 'checkpoint.pth.tar'),
                   '--opts', 'DATA.FORMAT', fmt])
    assert r2.returncode == 0, r2.stderr
    ev = out / 'eval_checkpoint'                      # the evaluation's own folder
    res2 = check_results_against_predictions(str(ev))
    assert res2['MPJPE'] == pytest.approx(res['MPJPE'], rel=1e-5) and res2['precision'] == 'fp32'
    assert 'history' in json.load(open(out / 'results.json'))      # the training's results survive
    if fmt == 'npz':                                  # opt-in bf16 evaluation: labelled, close
        r3 = main_process(['--cfg', str(cfg), '--gpu', '-1', '--eval', '--pretrain',
                       str(out / 'checkpoint.pth.tar'), '--force', '--opts', 'DATA.FORMAT', fmt,
                       'EVAL.PRECISION', 'bf16'])        # --force: replaces the fp32 evaluation
        assert r3.returncode == 0, r3.stderr
        assert 'EVAL.PRECISION bf16' in r3.stdout
        res3 = check_results_against_predictions(str(ev))
        assert res3['precision'] == 'bf16' and res3['MPJPE'] != res2['MPJPE']
        assert res3['MPJPE'] == pytest.approx(res2['MPJPE'], rel=1e-2)


def synth_test_poses():
    """Poses in the test split of ``synth.write_npz`` (1976): subjects S9 and S11, two clips
    each (120 and 127 frames), every frame seen by the 4 cameras."""
    world = synth.make_world()
    return len(CAMERA_IDS) * sum(len(X) for s in ('S9', 'S11') for X in world[s].values())


def test_runs_from_tools_folder_with_relative_paths(tiny_data):
    cfg, tmp = tiny_data
    r = main_process(['--cfg', os.path.relpath(str(cfg), os.path.join(REPO, 'tools')), '--gpu', '-1',
                  '--opts', 'DATA.FORMAT', 'npz', 'EVAL.STRIDE', '4'], cwd=os.path.join(REPO, 'tools'))
    assert r.returncode == 0, r.stderr
    res = json.load(open(tmp / 'out' / 'tiny' / 'results.json'))
    assert res['eval_stride'] == 4 and res['num_poses'] == math.ceil(synth_test_poses() / 4)


@pytest.mark.parametrize('cfg_name,warm', [('h36m_gt_scale.yaml', False), ('pre_tmc_klbone.yaml', False),
                                           ('ablation_klbone.yaml', False), ('ablation_tmc.yaml', False),
                                           ('h36m_gt_scale.yaml', True)])
def test_scale_configs_short_run(tiny_data, cfg_name, warm):
    """The method's configs train from scratch with no checkpoint present (as the authors'
    files say), and also warm-started from an adv checkpoint given with --pretrain."""
    cfg, tmp = tiny_data
    extra = []
    if warm:
        r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--model_dir', str(tmp / 'adv'),
                      '--opts', 'DATA.FORMAT', 'h5'])
        assert r.returncode == 0, r.stderr
        extra = ['--pretrain', str(tmp / 'adv' / 'tiny' / 'checkpoint.pth.tar')]
    r = main_process(['--cfg', os.path.join(REPO, 'cfg', cfg_name), '--gpu', '-1', *extra,
                  '--data_dir', str(tmp / 'data'), '--model_dir', str(tmp / 'best'), '--log_dir', str(tmp / 'log'),
                  '--opts', 'DATA.DATASET_NAME', 'synth', 'DATA.FORMAT', 'h5', 'TRAIN.NUM_EPOCHS', '1',
                  'BATCH_SIZE', '64', 'NETWORK.NUM_CHANNELS', '32', 'NETWORK.LIFTER_RES_BLOCKS', '2'])
    assert r.returncode == 0, r.stderr
    if warm:
        assert 'LIFTER_RES_BLOCKS = 1' in r.stdout          # read off the warm-start checkpoint
    else:
        assert 'pretrain' not in r.stdout.lower()
    stem = cfg_name[:-5]
    res = check_results_against_predictions(str(tmp / 'best' / stem))
    ck = torch.load(tmp / 'best' / stem / 'checkpoint.pth.tar', weights_only=True)
    has_scaler = any(k.startswith('scaler.') for k in ck['pose_model_state_dict'])
    assert has_scaler == (cfg_name != 'ablation_tmc.yaml')
    assert ('scale_mean' in res) == has_scaler


# --- a new user's first runs: warm start, evaluation folders, logs ------------------

def epoch_line(stdout, epoch):
    """(MPJPE, P-MPJPE) of 'epoch N/M [...]' in a training printout."""
    for line in stdout.splitlines():
        if line.startswith('epoch %d/' % epoch):
            w = line.split()
            return float(w[w.index('MPJPE') + 1]), float(w[w.index('P-MPJPE') + 1])
    raise AssertionError('no epoch %d line in %s' % (epoch, stdout[-2000:]))


def all_frames(stdout):
    line = [l for l in stdout.splitlines() if l.startswith('all frames')][-1]
    return float(line.split()[2]), float(line.split()[3])


@pytest.fixture(scope='module')
def warm_run(tmp_path_factory):
    """A 2-epoch run of a tiny config with a scaler and one adv warm-start epoch (scaler
    bypassed), keeping the epoch-1 checkpoint aside; returns (cfg, tmp, stdout, ck1, ck2)."""
    import synth
    tmp = tmp_path_factory.mktemp('warm')
    synth.write_npz(str(tmp / 'data'))
    cfg = tmp / 'tiny.yaml'
    cfg.write_text(synth.TINY_YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log').replace(
        'NUM_EPOCHS: 1', 'NUM_EPOCHS: 1\n  USE_SCALER: true\n  WARM_START_EPOCHS: 1') + 'EVAL:\n  STRIDE: 3\n')
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz')
    assert r.returncode == 0, r.stderr
    out = tmp / 'out' / 'tiny'
    ck1 = tmp / 'epoch1.pth.tar'
    os.replace(out / 'checkpoint.pth.tar', ck1)
    r2 = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--resume', ck1,
             '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.NUM_EPOCHS', '2')
    assert r2.returncode == 0, r2.stderr
    return cfg, tmp, r.stdout + r2.stdout, ck1, out / 'checkpoint.pth.tar'


def test_warm_start_checkpoint_evaluates_as_training_printed(warm_run):
    """Both checkpoints evaluate to what training printed for them; the evaluations go into
    their own folders and leave the training's outputs as they were."""
    import torch
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    assert torch.load(ck1, weights_only=True)['scaler_bypassed'] is True
    assert torch.load(ck2, weights_only=True)['scaler_bypassed'] is False
    before = {f: (out / f).read_bytes() for f in ('results.json', 'predictions.npz', 'model_best.pth.tar')}
    for epoch, ck in ((1, ck1), (2, ck2)):
        r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck,
                '--opts', 'DATA.FORMAT', 'npz')
        assert r.returncode == 0, r.stderr
        assert all_frames(r.stdout) == pytest.approx(epoch_line(stdout, epoch), abs=0.011)
        assert ('adv warm start' in r.stdout) == (epoch == 1)
    assert {f: (out / f).read_bytes() for f in before} == before and 'history' in json.loads(before['results.json'])
    ev = out / 'eval_checkpoint'
    assert (ev / 'results.json').exists() and (ev / 'predictions.npz').exists() and str(ev) in r.stdout
    assert json.load(open(ev / 'results.json'))['MPJPE'] == pytest.approx(epoch_line(stdout, 2)[0], abs=0.006)
    # an explicit --opts wins over the checkpoint, with a note
    # (--force: these replace the evaluations above, in the same eval_<checkpoint> folders)
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck1, '--force',
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'true')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER true' in r.stdout
    assert all_frames(r.stdout) != pytest.approx(epoch_line(stdout, 1), abs=0.011)
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck2, '--force',
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'false')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER false' in r.stdout


def test_inference_of_a_warm_start_checkpoint_bypasses_its_scaler(warm_run):
    """scripts/inference.py and tools/eval_lsp.py load through lib.eval.load_model: the warm-start
    checkpoint lifts as training's evaluation did (s = 1), the later one with its scaler."""
    import torch
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.lifting import lift_in_batches
    from lib.eval.load_model import load_pose_model
    cfg, tmp, stdout, ck1, ck2 = warm_run
    x = np.random.RandomState(0).normal(0, 0.05, (5, 17, 2)).astype(np.float32)
    m1 = load_pose_model(update_config(get_default(), str(cfg)), str(ck1), log=lambda m: None)
    assert m1.scaler is None and lift_in_batches(m1, x)[1] is None
    full = torch.load(ck1, weights_only=True)['pose_model_state_dict']
    c = update_config(get_default(), str(cfg))
    c.TRAIN.USE_SCALER = True
    from lib.data.formats import pose_model_args
    from lib.models.pose_model import get_pose_model
    ref = get_pose_model(c, **pose_model_args(c))
    ref.load_state_dict(full)
    want, _ = lift_in_batches(ref, torch.as_tensor(x), use_scaler=False)
    assert np.allclose(lift_in_batches(m1, x)[0], want, atol=1e-5)
    m2 = load_pose_model(update_config(get_default(), str(cfg)), str(ck2), log=lambda m: None)
    assert m2.scaler is not None and lift_in_batches(m2, x)[1] is not None
    # the real script, on a pose file
    d = tmp / 'in'
    d.mkdir()
    np.save(d / 'p.npy', np.random.RandomState(1).uniform(100, 900, (17, 2)).astype(np.float32))
    r = run_repo_script('scripts/inference.py', '--indir', d, '--outdir', tmp / 'o', '--cfg', cfg, '--pretrain', ck1,
            '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'adv warm start' in r.stderr
    assert json.load(open(tmp / 'o' / 'p_3d.json'))['scale'] is None


def test_failed_run_leaves_nothing_and_a_second_run_needs_force(warm_run):
    """A run refused on its input (missing data, a bad key) leaves no log or folder behind; a run
    over a finished one is refused without --force (the earlier results unchanged) and, with it,
    warns that it replaces them."""
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    before = {f: (out / f).read_bytes() for f in os.listdir(out) if os.path.isfile(out / f)}
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--threads', '3', '--force',
                        '--opts', 'DATA.DATASET_NAME', 'none')
    assert r.returncode == 2
    # missing data: one line naming where each layout comes from
    assert len(r.stderr.strip().splitlines()) == 1
    assert 'sites.google.com/view/ambiguity-aware-hpe' in r.stderr and 'prepare_data_h36m.py' in r.stderr
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCS', '1')
    assert r.returncode == 2 and r.stdout == ''
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz',
                        'TRAIN.NUM_EPOCHS', '0')               # a run over the finished one
    assert r.returncode == 2 and 'holds a finished run' in r.stderr and '--force' in r.stderr and r.stdout == ''
    assert {f: (out / f).read_bytes() for f in os.listdir(out) if os.path.isfile(out / f)} == before
    env = {k: v for k, v in ENV.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    r = run_repo_script('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--force', '--opts', 'DATA.FORMAT', 'npz',
                        'TRAIN.NUM_EPOCHS', '0', env=env)
    assert r.returncode == 0 and 'holds an earlier run' in r.stdout
    assert 'threads: 1 (default' in r.stdout
    logs = [f for f in os.listdir(out) if f.endswith('.log') and f not in before]
    assert len(logs) == 1 and 'threads: 1 (default' in (out / logs[0]).read_text()   # the held lines reach it


# --- start-up: arguments and config are checked before torch loads ------------------------

PROBE = '''
import os, runpy, sys
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))       # as `python script.py` does
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
    code = e.code
print('TORCH_LOADED=%s EXIT=%s' % ('torch' in sys.modules, code))
'''


def probe(script, *args):
    r = subprocess.run([sys.executable, '-c', PROBE, os.path.join(REPO, script)] + [str(a) for a in args],
                       cwd=REPO, capture_output=True, text=True, timeout=120, env=ENV)
    return r.stdout.strip().splitlines()[-1], r.stderr


@pytest.mark.parametrize('script', ['tools/main.py', 'tools/eval_lsp.py', 'scripts/inference.py',
                                    'tools/prepare_data.py'])
def test_help_does_not_import_torch(script):
    last, _ = probe(script, '--help')
    assert last == 'TORCH_LOADED=False EXIT=0'


def test_bad_config_fails_before_torch_with_a_suggestion(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('TRAIN:\n  NUM_EPOCS: 3\n')
    indir = tmp_path / 'in'
    indir.mkdir()
    np.save(indir / 'p.npy', np.zeros((17, 2), np.float32))
    lsp = tmp_path / 'lsp_in'                # an LSP folder of its own: the test needs no ../shared
    write_lsp(str(lsp), np.full((1, 14, 2), 50.0), np.ones((1, 14)), 'lspet')
    for script, args in (('tools/main.py', ['--cfg', bad, '--gpu', '-1']),
                         ('tools/eval_lsp.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                '--lsp-root', lsp, '--out', tmp_path / 'lsp']),
                         ('scripts/inference.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                   '--indir', indir, '--outdir', tmp_path / 'o'])):
        last, err = probe(script, *args)
        assert last == 'TORCH_LOADED=False EXIT=2', (script, err)
        assert 'unknown config key TRAIN.NUM_EPOCS' in err and 'did you mean TRAIN.NUM_EPOCHS?' in err
    last, err = probe('tools/prepare_data.py', 'bvh', '--src', tmp_path / 'none', '--out', tmp_path / 'o',
                      '--name', 'x')
    assert last == 'TORCH_LOADED=False EXIT=2' and 'source folder not found' in err


def test_threads_precedence_and_bad_values(monkeypatch):
    from lib.utils.errors import UserError
    from lib.utils.runtime import resolve_threads
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    assert resolve_threads(None, 0)[0] == 1
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert resolve_threads(None, 0) == (2, '$OMP_NUM_THREADS')
    assert resolve_threads(None, 4) == (4, 'THREADS in the config')
    assert resolve_threads(3, 4) == (3, '--threads')
    with pytest.raises(UserError, match='positive integer'):
        resolve_threads(0, 0)


# --- prepare_data: a dataset without a test split is refused ------------------------------

def test_prepare_bvh_refuses_a_dataset_without_test_split(tmp_path):
    (tmp_path / 'src' / 'only').mkdir(parents=True)
    (tmp_path / 'src' / 'only' / 'a.bvh').write_text('HIERARCHY\n')
    r = run_repo_script('tools/prepare_data.py', 'bvh', '--src', tmp_path / 'src', '--out', tmp_path / 'out',
                        '--name', 'x')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert 'no test subject' in r.stderr and '--test-subjects only' in r.stderr and 'second one' in r.stderr
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


def test_archive_without_test_subjects_names_the_key_and_the_subjects(tmp_path):
    import synth
    from lib.data.dataset import read_npz_archives
    from lib.utils.errors import UserError
    synth.write_npz(str(tmp_path), frames=40)
    p3 = tmp_path / 'data_3d_synth.npz'
    pos = np.load(p3, allow_pickle=True)['positions_3d'].item()
    pos = {s: pos[s] for s in ('S1', 'S5')}             # a mocap set: no S9 / S11
    np.savez(p3, positions_3d=pos, metadata={'train_subjects': ['S1'], 'test_subjects': []})
    with pytest.raises(UserError) as e:
        read_npz_archives(str(p3), str(tmp_path / 'data_2d_synth_gt.npz'))
    msg = e.value.line()
    assert 'names no test subjects' in msg and 'set DATA.TEST_SUBJECTS to some of S1, S5' in msg


# --- a quiet console, and the main job without the photo-and-video packages ---------------

def test_shipped_config_says_nothing_of_its_unused_keys_unless_verbose(tmp_path):
    """The authors' YAMLs set DATA.USE_RANDOM_DIFF and TRAIN.LOSS_TYPE, which their code never reads:
    no console line for them by default; with --verbose, one each; a key the user adds still warns."""
    args = ['tools/main.py', '--cfg', os.path.join('cfg', 'h36m_gt_adv.yaml'), '--gpu', '-1',
            '--model_dir', tmp_path / 'out', '--opts', 'DATA_DIR', tmp_path / 'none']
    r = run_repo_script(*args)
    assert_one_error_line(r.returncode, r.stderr, 'data folder not found')
    assert 'unused' not in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_repo_script(*(args[:1] + ['--verbose'] + args[1:]))
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if 'accepted but unused' in ln]
    assert len(said) == 2 and 'DATA.USE_RANDOM_DIFF' in said[0] and 'TRAIN.LOSS_TYPE' in said[1], said
    r = run_repo_script(*(args + ['TRAIN.WD', '0.1']))
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if 'accepted but unused' in ln]
    assert said == ['warning: config key TRAIN.WD is accepted but unused (as in the original)'], said


def test_main_path_imports_without_the_media_and_test_packages():
    """Every lib module and every entry point's --help, with the packages of requirements-media.txt
    and requirements-dev.txt made unimportable: requirements.txt is enough for the main job."""
    blocked = ['mediapipe', 'cv2', 'jax', 'jaxlib', 'sounddevice', 'sentencepiece', 'bvhio', 'pytest']
    code = ('import importlib, os, sys\n'
            'for m in %r: sys.modules[m] = None\n'
            'sys.path.insert(0, %r)\n'
            'mods = [os.path.relpath(os.path.join(d, f), %r)[:-3].replace(os.sep, ".").replace(".__init__", "")\n'
            '        for d, _, fs in os.walk(os.path.join(%r, "lib")) for f in fs if f.endswith(".py")]\n'
            'for m in mods: importlib.import_module(m)\n'
            'print(len(mods))\n' % (blocked, REPO, REPO, REPO))
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and int(r.stdout) > 60, r.stderr[-2000:]
    for script in ('tools/main.py', 'tools/eval_lsp.py', 'tools/prepare_data.py', 'tools/vis_sequences.py',
                   'tools/export_model.py', 'scripts/inference.py'):
        r = run_without(blocked, script, '--help')
        assert r.returncode == 0 and 'usage' in r.stdout, (script, r.stderr[-1000:])
