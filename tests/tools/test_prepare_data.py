"""tools/prepare_data.py: a BVH cut in half, a dataset without a test split."""
import glob
import os

import numpy as np
import pytest

import synth
from helpers import assert_one_error_line, need_script, run_repo_script, run_script


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
