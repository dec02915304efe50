"""The bad-input catalogue of tools/main.py's paths, output folders and MPI-INF-3DHP / SURREAL
files (the contract is in bad_input_catalogue.py; its configs, readers and checkpoints are in
test_main_bad_inputs.py)."""
import numpy as np
import pytest
import torch

import layout_fixtures as lf
from helpers import NPZ, edit_h5, make_state_checkpoint, write_cfg
from .bad_input_catalogue import check_case


def _main(build, *needles, quiet=True):
    return ('tools/main.py', build, needles, quiet)



# tools/main.py: paths, folders, files of the MPI / SURREAL layouts

def main_cfg(tmp, ctx, *extra, data=None):
    return ['--cfg', write_cfg(tmp, data or ctx['data']), '--gpu', '-1'] + list(extra)


def main_eval_missing(tmp, ctx):
    return main_cfg(tmp, ctx, '--eval', '--pretrain', tmp / 'nonexistent.pth.tar')


def main_missing_data(tmp, ctx):
    return main_cfg(tmp, ctx, data=tmp / 'nonexistent')


def main_resume_missing(tmp, ctx):
    return main_cfg(tmp, ctx, '--resume', tmp / 'nowhere' / 'checkpoint.pth.tar')


def _finished(tmp):
    run = tmp / 'out' / 'tiny'
    run.mkdir(parents=True)
    for f in ('checkpoint.pth.tar', 'model_best.pth.tar', 'results.json', 'config.yaml'):
        (run / f).write_text('an earlier run\'s %s' % f)


def main_over_finished(tmp, ctx):
    _finished(tmp)
    return main_cfg(tmp, ctx, '--opts') + NPZ


def main_bad_value_over_finished(tmp, ctx):       # refused before its config.yaml is written
    _finished(tmp)
    return main_cfg(tmp, ctx, '--opts') + NPZ + ['NETWORK.DROPOUT', '2.0']


def main_eval_over_evaluated(tmp, ctx):
    ck = tmp / 'ck.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    ev = tmp / 'out' / 'tiny' / 'eval_ck'
    ev.mkdir(parents=True)
    (ev / 'results.json').write_text('{}')
    return main_cfg(tmp, ctx, '--eval', '--pretrain', ck, '--opts') + NPZ


def main_output_is_file(tmp, ctx):
    (tmp / 'o.txt').write_text('x')
    return main_cfg(tmp, ctx, '--model_dir', tmp / 'o.txt', '--opts') + NPZ


def main_save_final_is_pretrain(tmp, ctx):
    ck = tmp / 'warm.pth.tar'
    make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    return main_cfg(tmp, ctx, '--pretrain', ck, '--save-final', ck, '--opts') + NPZ


def main_save_final_is_folder(tmp, ctx):
    (tmp / 'dir').mkdir()
    return main_cfg(tmp, ctx, '--save-final', tmp / 'dir', '--opts') + NPZ


def main_text_resume(tmp, ctx):
    (tmp / 'notes.txt').write_text('not a checkpoint\n')
    return main_cfg(tmp, ctx, '--resume', tmp / 'notes.txt', '--opts') + NPZ


def main_nan_eval(tmp, ctx):
    ck = tmp / 'ck.pth.tar'
    st = make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
    sd = st.model.state_dict()
    sd['lifter_before.pre.0.weight'][:] = float('nan')
    torch.save({'pose_model_state_dict': sd}, str(ck))
    return main_cfg(tmp, ctx, '--eval', '--pretrain', ck, '--opts') + NPZ


def main_opts(*opts):
    def build(tmp, ctx):
        return main_cfg(tmp, ctx, '--opts') + NPZ + list(opts)
    return build


def main_threads_env(value):
    def build(tmp, ctx):
        ctx['monkeypatch'].setenv('OMP_NUM_THREADS', value)
        return main_cfg(tmp, ctx, '--opts') + NPZ
    return build


def main_layout(dataset, edit, *opts):
    def build(tmp, ctx):
        edit_h5(dataset, edit)(tmp)
        return lf.layout_argv(tmp, dataset, opts)
    return build


def _retype(key, fn):
    def edit(f):
        a = fn(np.array(f[key]))
        del f[key]
        f[key] = a
    return edit


def _as_group(key):
    def edit(f):
        del f[key]
        f.create_group(key).create_dataset('x', data=np.zeros(3))
    return edit


def _compound(a):
    return np.array([(float(v),) for v in a.reshape(-1)], dtype=[('v', 'f8')]).reshape(a.shape)


CATALOGUE = {
    # tools/main.py: paths and folders (before anything is printed or made) ---------------
    'main/eval_missing_pretrain': _main(main_eval_missing, 'checkpoint not found', 'nonexistent.pth.tar'),
    'main/missing_data_dir': _main(main_missing_data, 'data folder not found'),
    'main/resume_missing': _main(main_resume_missing, 'nothing to resume'),
    'main/over_finished_run': _main(main_over_finished, 'finished run', '--force'),
    'main/bad_value_over_finished_run': _main(main_bad_value_over_finished, 'NETWORK.DROPOUT'),
    'main/eval_over_evaluation': _main(main_eval_over_evaluated, 'finished run', 'eval_ck'),
    'main/output_dir_is_file': _main(main_output_is_file, 'is a file', 'o.txt'),
    'main/save_final_is_pretrain': _main(main_save_final_is_pretrain, 'input file', '--save-final'),
    'main/save_final_is_folder': _main(main_save_final_is_folder, 'is a folder', '--save-final'),
    'main/threads_env_not_a_number': _main(main_threads_env('abc'), "'abc'", '$OMP_NUM_THREADS'),
    'main/threads_env_huge': _main(main_threads_env('100000'), '100000', '$OMP_NUM_THREADS'),
    'main/text_file_as_resume': _main(main_text_resume, 'not a PyTorch checkpoint', quiet=False),
    'main/nan_weights_eval': _main(main_nan_eval, 'not finite', quiet=False),
    # tools/main.py: every number has a range
    'main/dropout_2': _main(main_opts('NETWORK.DROPOUT', '2.0'), 'NETWORK.DROPOUT', '[0, 1)'),
    'main/scheduler_step_0': _main(main_opts('TRAIN.SCHEDULER_STEP_SIZE', '0'), 'TRAIN.SCHEDULER_STEP_SIZE'),
    'main/seed_negative': _main(main_opts('RANDOM_SEED', '-1'), 'RANDOM_SEED'),
    'main/seed_too_big': _main(main_opts('RANDOM_SEED', '99999999999'), 'RANDOM_SEED'),
    'main/pose_lr_negative': _main(main_opts('TRAIN.POSE_LR', '-1'), 'TRAIN.POSE_LR'),
    'main/pose_lr_nan': _main(main_opts('TRAIN.POSE_LR', '.nan'), 'TRAIN.POSE_LR'),
    'main/dis_channels_negative': _main(main_opts('NETWORK.DIS_NUM_CHANNELS', '-5'), 'NETWORK.DIS_NUM_CHANNELS'),
    'main/gamma_zero': _main(main_opts('TRAIN.SCHEDULER_GAMMA', '0'), 'TRAIN.SCHEDULER_GAMMA'),
    'main/camera_distance_zero': _main(main_opts('TRAIN.CAMERA_SKELETON_DISTANCE', '0'),
                                       'TRAIN.CAMERA_SKELETON_DISTANCE'),
    'main/scale_std_zero': _main(main_opts('DATA.SCALE_MID_STD', '0'), 'DATA.SCALE_MID_STD'),
    'main/loss_weight_negative': _main(main_opts('TRAIN.LOSS_WEIGHTS', '[1, -1, 1, 1]'), 'TRAIN.LOSS_WEIGHTS'),
    'main/bound_elev_huge': _main(main_opts('TRAIN.BOUND_ELEV', '100'), 'TRAIN.BOUND_ELEV'),
    'main/warm_start_negative': _main(main_opts('TRAIN.WARM_START_EPOCHS', '-2'), 'TRAIN.WARM_START_EPOCHS'),
    'main/batch_size_absurd': _main(main_opts('BATCH_SIZE', '10000000000'), 'BATCH_SIZE'),
    # tools/main.py: MPI-INF-3DHP / SURREAL files
    'main/mpi_2d_as_bytes': _main(main_layout('mpi', _retype('joint_2d_gt', lambda a: np.char.encode(
        a.astype(str).reshape(len(a), -1)[:, 0]))), 'joint_2d_gt', 'dtype', quiet=False),
    'main/mpi_2d_compound': _main(main_layout('mpi', _retype('joint_2d_gt', _compound)), 'joint_2d_gt', 'dtype',
                                  quiet=False),
    'main/mpi_zero_rows': _main(main_layout('mpi', _retype('joint_3d_gt', lambda a: a[:0])), 'joint_3d_gt',
                                'no rows', quiet=False),
    'main/mpi_group_for_2d': _main(main_layout('mpi', _as_group('joint_2d_gt')), 'joint_2d_gt', 'group',
                                   quiet=False),
    'main/mpi_x1e30': _main(main_layout('mpi', _retype('joint_2d_gt', lambda a: a * 1e30)), '2D keypoints',
                             'mpi_valid_pred3.h5', quiet=False),
    'main/surreal_3d_bytes': _main(main_layout('surreal', _retype('joint_3d_gt', lambda a: np.char.encode(
        a.astype(str).reshape(len(a), -1)[:, 0]))), 'joint_3d_gt', 'dtype', quiet=False),
    'main/surreal_group_for_names': _main(main_layout('surreal', _as_group('imagename')), 'imagename', 'group',
                                          quiet=False),
    'main/surreal_zero_rows': _main(main_layout('surreal', _retype('original_joint_2d_gt', lambda a: a[:0])),
                                    'original_joint_2d_gt', 'no rows', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
