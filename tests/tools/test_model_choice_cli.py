"""The entry points and the model choice: --pretrain without --cfg (the config stored in this
project's checkpoints), and one file given to --indir / --images."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from helpers import DEMO, assert_one_error_line, demo_image, main_process, needs_detector, run_python


def test_main_pretrain_alone_takes_the_config_stored_in_the_checkpoint(tiny_data):
    cfg, tmp = tiny_data
    r = main_process(['--cfg', str(cfg), '--gpu', '-1', '--quiet', '--opts', 'TRAIN.NUM_EPOCHS', '1'])
    assert r.returncode == 0, r.stderr
    best = tmp / 'out' / 'tiny' / 'model_best.pth.tar'
    trained = json.load(open(tmp / 'out' / 'tiny' / 'results.json'))
    r = main_process(['--eval', '--pretrain', str(best), '--gpu', '-1', '--quiet'])     # no --cfg
    assert r.returncode == 0, r.stderr
    res = json.load(open(tmp / 'out' / 'tiny' / 'eval_model_best' / 'results.json'))   # the run's folder
    assert res['MPJPE'] == pytest.approx(trained['MPJPE'], rel=1e-5)
    assert 'note:' not in r.stdout + r.stderr
    # training from it without --cfg: the stored recipe, into a folder of its own
    r = main_process(['--pretrain', str(best), '--gpu', '-1', '--quiet'])
    assert r.returncode == 0, r.stderr
    assert (tmp / 'out' / 'tiny_from_model_best' / 'model_best.pth.tar').is_file()


def test_main_pretrain_alone_refuses_a_checkpoint_without_config(tiny_checkpoint):
    r = main_process(['--eval', '--pretrain', tiny_checkpoint[1], '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'stores no config', '--cfg')
    assert r.stdout == ''
    r = main_process(['--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, '--cfg')


def test_indir_takes_one_keypoint_file(tmp_path, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    one = '%s/salsa_12_cam0.npy' % DEMO
    r = run_python(['scripts/inference.py', '--indir', one, '--outdir', str(tmp_path / 'o'), '--pretrain', ckpt,
                    '--cfg', cfg, '--gpu', '-1', '--gif-frames', '3', '--quiet'])
    assert r.returncode == 0, r.stderr
    assert 'lifted 1, skipped 0' in r.stdout
    assert np.load(tmp_path / 'o' / 'salsa_12_cam0_3d.npy').ndim == 3
    assert (tmp_path / 'o' / 'salsa_12_cam0.gif').is_file()
    # the folder holding the one input file is refused as the output, even with --force
    mine = tmp_path / 'kp' / 'walk.npy'
    mine.parent.mkdir()
    mine.write_bytes(open(one, 'rb').read())
    r = run_python(['scripts/inference.py', '--indir', str(mine), '--outdir', str(mine.parent), '--force',
                    '--pretrain', ckpt, '--cfg', cfg, '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'holds the input', 'walk.npy')
    assert sorted(p.name for p in mine.parent.iterdir()) == ['walk.npy']


@needs_detector
def test_images_takes_one_photo(tmp_path, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    photo = tmp_path / 'me.jpg'
    Image.fromarray(demo_image(0)).save(photo)
    (tmp_path / 'other.jpg').write_bytes(b'not read: only the file named is')
    r = run_python(['scripts/inference.py', '--images', str(photo), '--outdir', str(tmp_path / 'o'),
                    '--pretrain', ckpt, '--cfg', cfg, '--gpu', '-1', '--quiet'])
    assert r.returncode == 0, r.stderr
    assert 'lifted 1, skipped 0' in r.stdout
    assert (tmp_path / 'o' / 'me_3d.json').is_file() and not list((tmp_path / 'o').glob('other*'))
    notes = tmp_path / 'notes.txt'
    notes.write_text('x')
    r = run_python(['scripts/inference.py', '--images', str(notes), '--outdir', str(tmp_path / 'o2'),
                    '--pretrain', ckpt, '--cfg', cfg])
    assert_one_error_line(r.returncode, r.stderr, 'not an image', 'notes.txt')


def test_main_pretrain_alone_from_a_checkpoint_whose_recipe_freezes_the_lifter(tmp_path):
    """The shipped model's stored recipe is a stage 2 (TRAIN.FREEZE_LIFTER): --pretrain alone
    warm-starts from that very checkpoint, so the frozen-lifter check passes and it trains."""
    from helpers import DEMO_MODEL, REPO
    data = os.path.join(REPO, 'datasets', 'quickstart')
    r = main_process(['--pretrain', DEMO_MODEL, '--gpu', '-1', '--quiet', '--model_dir', str(tmp_path / 'out'),
                      '--data_dir', data, '--opts', 'DATA.DATASET_NAME', 'quickstart', 'TRAIN.NUM_EPOCHS', '1',
                      'TRAIN.MAX_STEPS_PER_EPOCH', '2', 'EVAL.STRIDE', '16',
                      'DATA.TRAIN_SUBJECTS', '[salsaA,martialA]', 'DATA.TEST_SUBJECTS', '[salsaB,martialB]'])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'out' / 'demo_model_from_demo' / 'results.json').is_file()
