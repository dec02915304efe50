"""The label-free structure criteria (lib/eval/criteria.py) and the model they choose
(EVAL.SELECT_BY -> model_selected.pth.tar, the benchmark's adv_selected)."""
import json
import math
import re

import numpy as np
import pytest
import torch

from helpers import assert_one_error_line, run_inproc, tiny_cfg, tiny_split, write_cfg
from lib.data import skeleton as sk
from lib.eval import criteria as C
from lib.models.geometry import rot_y
from lib.train.state import TrainState, seed_everything


def _skeleton(n, seed=0):
    """``n`` copies of one random skeleton (17 joints), each rotated about y, scaled and shifted:
    the same proportions in every frame."""
    rng = np.random.RandomState(seed)
    rest = torch.as_tensor(rng.normal(0, 0.2, (17, 3)), dtype=torch.float32)
    R = rot_y(torch.as_tensor(rng.uniform(-math.pi, math.pi, n), dtype=torch.float32))
    s = torch.as_tensor(rng.uniform(0.5, 2.0, (n, 1, 1)), dtype=torch.float32)
    return s * (rest @ R.transpose(1, 2)) + torch.as_tensor(rng.normal(0, 1, (n, 1, 3)), dtype=torch.float32)


def test_bone_spread_is_zero_for_one_rigid_skeleton_and_grows_with_wrong_depths():
    Y = _skeleton(50)
    assert C.bone_spread(Y) < 1e-5
    bad = Y.clone()
    bad[::2, sk.OURS_NAMES.index('RWrist'), 2] += 0.3       # every other frame: one joint's depth off
    assert C.bone_spread(bad) > 0.005
    assert C.bone_spread(bad * 3.0) == pytest.approx(C.bone_spread(bad), rel=1e-5)   # scale-free


def test_symmetry_is_zero_for_a_mirrored_pair_and_the_log_ratio_otherwise():
    Y = _skeleton(4)[:1].clone()
    for _ in range(4):       # make each left bone the mirror image of the right one (parents settle first)
        for r, l in sk.SYMMETRIC_BONES:
            p_r, p_l = sk.PARENTS[r], sk.PARENTS[l]
            Y[0, l] = Y[0, p_l] + (Y[0, r] - Y[0, p_r]) * torch.tensor([-1.0, 1.0, 1.0])
    assert C.symmetry(Y) < 1e-6
    r, l = sk.SYMMETRIC_BONES[0]
    assert l not in sk.PARENTS[[r2 for r2, _ in sk.SYMMETRIC_BONES]]   # a leaf: stretching it moves nothing else
    Y[0, r] = Y[0, sk.PARENTS[r]] + 2.0 * (Y[0, r] - Y[0, sk.PARENTS[r]])
    assert C.symmetry(Y) == pytest.approx(math.log(2.0) / len(sk.SYMMETRIC_BONES), rel=1e-4)


def test_subsample_is_every_frame_or_evenly_spaced_distinct_indices():
    assert list(C.subsample(5, 8)) == [0, 1, 2, 3, 4]
    idx = C.subsample(100000, 8192)
    assert len(idx) == 8192 and len(set(idx.tolist())) == 8192
    assert idx[0] == 0 and idx[-1] == 99999 and np.all(np.diff(idx) > 0)


def test_criteria_of_a_model_are_finite_repeatable_and_leave_it_training():
    seed_everything(0)
    st = TrainState(tiny_cfg(), torch.device('cpu'))
    data = tiny_split(64)
    sets = {'train': C.CriteriaSet(data.pose_2d, 2 * math.pi, math.pi / 9)}
    st.model.train()
    a = C.compute_all(st.model, sets)
    b = C.compute_all(st.model, sets)
    assert st.model.training
    assert sorted(a) == sorted('crit_train_' + c for c in C.CRITERIA)
    assert a == b and all(np.isfinite(v) and v >= 0 for v in a.values())


def test_select_by_keeps_the_checkpoint_of_the_lowest_criterion(tmp_path, capsys, data_dir):
    """A 3-epoch run with EVAL.SELECT_BY: every curve point carries the eight criteria, the run's
    results.json names the chosen point (its test metrics as recorded in the curve), and
    model_selected.pth.tar holds that epoch's weights."""
    from lib.train.run import selected_point
    cfg = write_cfg(tmp_path, data_dir)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCHS', '3',
                               'TRAIN.MAX_STEPS_PER_EPOCH', '3', 'EVAL.CURVE_EVERY', '1',
                               'EVAL.SELECT_BY', 'train_cycle_3d'], capsys)
    assert rc == 0, err
    run = tmp_path / 'out' / 'tiny'
    curve = json.load(open(run / 'curve.json'))
    assert [p['epoch'] for p in curve] == [1, 2, 3]
    assert all(np.isfinite(p['crit_%s' % n]) for p in curve for n in C.NAMES)
    chosen = min(curve, key=lambda p: p['crit_train_cycle_3d'])
    assert selected_point(curve, 'train_cycle_3d') is chosen
    res = json.load(open(run / 'results.json'))
    assert res['selected']['epoch'] == chosen['epoch'] and res['selected']['P-MPJPE'] == chosen['P-MPJPE']
    sel = torch.load(run / 'model_selected.pth.tar', weights_only=True)
    assert sel['epoch'] == chosen['epoch']
    # evaluating the kept checkpoint gives the metrics its curve point recorded
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', str(run / 'model_selected.pth.tar'),
                               '--model_dir', str(tmp_path / 'ev')], capsys)
    assert rc == 0, err
    ev = json.load(open(tmp_path / 'ev' / 'tiny' / 'eval_model_selected' / 'results.json'))
    assert ev['P-MPJPE'] == pytest.approx(chosen['P-MPJPE'], rel=1e-6)


def test_the_benchmark_judges_adv_selected_by_its_chosen_epoch_and_warm_starts_from_it():
    from lib.bench import accuracy as A
    res = {'MPJPE': 100.0, 'N-MPJPE': 90.0, 'P-MPJPE': 80.0, 'MPJPE_oracle_scale': 95.0,
           'selected': {'epoch': 5, 'MPJPE': 90.0, 'N-MPJPE': 80.0, 'P-MPJPE': 70.0,
                        'MPJPE_oracle_scale': 88.0, 'crit_train_bone_spread': 0.1}}
    rec = A.seed_record('unused', 0, 'adv_selected', res)
    assert (rec['P-MPJPE'], rec['MPJPE'], rec['selected_epoch']) == (70.0, 90.0, 5)
    assert A.VARIANTS['recommended_selected']['warm_from'] == 'adv_selected'
    assert A.run_order(['recommended_selected']) == ['adv_selected', 'recommended_selected']


def test_criteria_table_shows_each_criterions_choice_beside_the_last_epoch_and_the_test_minimum():
    from lib.bench.curves import criteria_table
    curve = [dict({'epoch': e, 'P-MPJPE': p}, **{'crit_train_' + c: v for c in C.CRITERIA})
             for e, p, v in ((1, 70.0, 0.3), (2, 55.0, 0.2), (3, 60.0, 0.1), (4, 62.0, 0.15))]
    curve[0]['crit_train_cycle_2d'] = 0.01                       # cycle_2d alone prefers epoch 1
    text = criteria_table({'adv_selected': {0: {'curve': curve}}, 'adv': {0: {'curve': [{'epoch': 1, 'P-MPJPE': 1.0}]}}})
    head, row = text.splitlines()[1:]
    assert row.split()[:2] == ['adv_selected', '0']          # adv's curve has no criteria: no row
    cells = dict(zip(['last'] + list(C.CRITERIA) + ['test_min'], re.findall(r'\d+\.\d \(\s*\d+\)', row)))
    assert cells['last'] == '62.0 ( 4)' and cells['bone_spread'] == '60.0 ( 3)'
    assert cells['cycle_2d'] == '70.0 ( 1)' and cells['test_min'] == '55.0 ( 2)'
    assert head.split()[-2:] == ['test', 'min']
    assert criteria_table({'adv': {0: {'curve': curve[:0]}}}) is None


def test_structure_criteria_tool_prints_the_model_and_the_ground_truth(tmp_path, capsys, data_dir):
    cfg = write_cfg(tmp_path, data_dir)
    rc, _, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCHS', '1',
                             'TRAIN.MAX_STEPS_PER_EPOCH', '2'], capsys)
    assert rc == 0, err
    ckpt = str(tmp_path / 'out' / 'tiny' / 'checkpoint.pth.tar')
    rc, out, err = run_inproc(['--pretrain', ckpt, '--data_dir', str(data_dir)], capsys, 'tools/structure_criteria.py')
    assert rc in (0, None), err
    lines = out.splitlines()
    assert lines[0].split() == list(C.CRITERIA)
    model = [line for line in lines if line.startswith('model, train 2D')][0]
    gt = [line for line in lines if line.startswith('ground truth, test 3D')][0]
    assert all(np.isfinite(float(v)) for v in model.split(')')[1].split())
    assert gt.split()[-2:] == ['-', '-'] and float(gt.split()[-4]) < float(model.split(')')[1].split()[0])
    for argv, what in ((['--pretrain', str(tmp_path / 'none.pth.tar'), '--data_dir', str(data_dir)], 'checkpoint not found'),
                       (['--pretrain', ckpt, '--data_dir', str(tmp_path / 'nodata')], 'data folder not found')):
        rc, _, err = run_inproc(argv, capsys, 'tools/structure_criteria.py')
        assert_one_error_line(rc, err, what)
