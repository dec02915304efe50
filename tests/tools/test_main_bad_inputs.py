"""tools/main.py's bad configs, readers and checkpoints.

* One catalogue of bad inputs: each must end in exit code 2 and exactly one stderr line
  ``error: <what> (<file/key>): <how to fix>``, no traceback, and no checkpoint / results
  written.  They run ``tools/main.py`` as a script in-process (``runpy``: fast); a few run
  the real scripts in a subprocess.
* Untrusted checkpoints and archives: malicious pickles refused without running them.
"""
import glob
import os
import shutil

import numpy as np
import pytest
import torch

import layout_fixtures as lf
import synth
from helpers import (Evil, MAIN, NPZ, assert_one_error_line, edit_h5, make_state_checkpoint, run_inproc, run_script,
                     set_nan, tiny_cfg_obj, write_cfg)


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
        return lf.layout_argv(tmp, dataset, opts), []
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
    # the structure candidates' keys (docs/STRUCTURE_STUDY.md)
    'bad_elev_sampling': (_opts('TRAIN.ELEV_SAMPLING', 'bogus'), ['TRAIN.ELEV_SAMPLING', 'uniform/learned']),
    'negative_flow_weight': (_opts('TRAIN.FLOW_WEIGHT', '-1'), ['TRAIN.FLOW_WEIGHT', '[0, inf)']),
    'nan_symmetry_weight': (_opts('TRAIN.SYMMETRY_WEIGHT', 'nan'), ['TRAIN.SYMMETRY_WEIGHT']),
    'negative_proportion_weight': (_opts('TRAIN.PROPORTION_WEIGHT', '-1'), ['TRAIN.PROPORTION_WEIGHT', '[0, inf)']),
    'zero_flow_pca_dims': (_opts('TRAIN.FLOW_PCA_DIMS', '0'), ['TRAIN.FLOW_PCA_DIMS', '[1, 32]']),
    'elev_momentum_above_one': (_opts('TRAIN.ELEV_MOMENTUM', '2'), ['TRAIN.ELEV_MOMENTUM', '(0, 1]']),
    # label-free model selection (lib/eval/criteria.py): only training-pose criteria, only with a curve
    'select_by_test_inputs': (_opts('EVAL.SELECT_BY', 'test_bone_spread', 'EVAL.CURVE_EVERY', '1'),
                              ['EVAL.SELECT_BY', 'train_bone_spread']),
    'select_by_without_curve': (_opts('EVAL.SELECT_BY', 'train_bone_spread'),
                                ['EVAL.SELECT_BY', 'EVAL.CURVE_EVERY 1']),
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


def test_gpu_index_beyond_the_machine_from_main(monkeypatch, data_dir, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    rc, out, err = run_inproc(['--cfg', write_cfg(tmp_path, data_dir), '--gpu', '3', '--opts'] + NPZ, capsys)
    assert_one_error_line(rc, err, '--gpu 3', '1 GPU')
    assert_no_outputs(tmp_path / 'out')


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
