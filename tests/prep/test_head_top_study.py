"""The head-top study (lib/prep/head_top_study.py, tools/measure_head_top.py): on a tree written
here with a known answer, and on the real CMU-derived clips, where it must give the shipped
constant of the rule."""
import os

import numpy as np
import pytest

import synth
from helpers import REPO, run_repo_script
from lib.prep.head_top_study import measure_head_top
from lib.prep.skeletons import HEAD_TOP_K
from lib.utils.errors import UserError

CMU = os.path.join(REPO, '..', 'shared', 'data', 'mocap_bvh')


def test_known_answer_on_written_clips(tmp_path):
    # synth.cmu_bvh: neck -> head (0, 7, 0) cm, the eyes at (+-4, 8, 8) from the head, no rotation:
    # the eyes' midpoint projects 8 cm along the neck direction, k = 8 / 7, and lies 8 cm in front
    for folder in ('a', 'b'):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / 'c.bvh').write_text(synth.cmu_bvh(np.zeros(30)))
    lines = []
    out = measure_head_top(str(tmp_path), say=lines.append)
    assert out['k_all'] == pytest.approx(8 / 7, abs=1e-9)
    assert out['held_out_a'][0] == pytest.approx(8 / 7, abs=1e-9)
    assert out['held_out_a'][1] == pytest.approx(80.0, abs=1e-6)         # mm: the 8 cm in front
    assert any('held out' in ln for ln in lines)


def test_needs_two_folders(tmp_path):
    (tmp_path / 'a').mkdir()
    with pytest.raises(UserError, match='two or more sub-folders'):
        measure_head_top(str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(CMU), reason='real CMU-derived clips absent (needs <repo>/../shared)')
def test_shipped_constant_is_the_cmu_fit():
    r = run_repo_script('tools/measure_head_top.py', '--bandai', 'none', '--h36m', 'none')
    assert r.returncode == 0, r.stderr
    k = float(r.stdout.split('k fitted on all clips: ')[1].split(';')[0])
    assert round(k, 2) == HEAD_TOP_K
    shipped = r.stdout.split('shipped HEAD_TOP_K')[1].splitlines()[0]
    median = float(shipped.split('median ')[1].split(',')[0])
    assert median < 60                                  # measured 53.1 mm
