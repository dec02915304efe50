"""The ``scale_fit`` scheme (TRAIN.FREEZE_LIFTER) of the recommended recipe, and the learning
curves a run records (EVAL.CURVE_EVERY)."""
import json

import numpy as np
import pytest
import torch

from helpers import run_inproc, tiny_cfg, tiny_split, write_cfg
from lib.data import skeleton as sk
from lib.eval import metrics as M
from lib.train import step as T
from lib.train import schedule as TS
from lib.train.state import TrainState, seed_everything

FIT = ('TRAIN.USE_SCALER', 'true', 'TRAIN.FREEZE_LIFTER', 'true', 'TRAIN.SCALE_ON_3D', 'true',
       'TRAIN.SCALE_LOSS_WEIGHTS', '[0.01, 1.0]')


def _state(*opts):
    seed_everything(0)
    return TrainState(tiny_cfg(*opts), torch.device('cpu'))


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_schedule_and_batches_of_scale_fit():
    cfg = tiny_cfg(*FIT)
    assert TS.epoch_scheme(cfg, 0) == 'scale_fit'
    assert all(TS.step_phase(cfg, 'scale_fit', k) == ('scale_fit', False, True) for k in range(7))
    assert TS.batch_needs(cfg, 'scale_fit') == (False, True)        # the bone partner, no neighbour
    cfg = tiny_cfg(*FIT, 'TRAIN.WARM_START_EPOCHS', '2')
    assert [TS.epoch_scheme(cfg, e) for e in range(4)] == ['adv', 'adv', 'scale_fit', 'scale_fit']


def test_scale_fit_trains_the_scaler_alone_and_leaves_the_lifter_as_it_was():
    """A scale_fit epoch: every lifter weight and BatchNorm statistic bit for bit as before,
    the discriminators untouched, the scaler moved, and only the KL and bone terms."""
    st = _state(*FIT, 'COMPAT.FROZEN_KEEP_MOMENTUM', 'true')
    lifter = {n: _snapshot(getattr(st.model, n)) for n in ('lifter_before', 'lifter_after')}
    scaler, D = _snapshot(st.model.scaler), _snapshot(st.D)
    data = tiny_split(96, seqs=3)
    T.train_epoch(st, data, st.cfg, 0)
    assert st.step == 6 and st.gan_step == 0
    for n, before in lifter.items():
        for k, v in getattr(st.model, n).state_dict().items():
            assert torch.equal(v, before[k]), '%s.%s moved' % (n, k)
    assert all(torch.equal(v, D[k]) for k, v in st.D.state_dict().items())
    moved = [k for k, v in st.model.scaler.state_dict().items() if not torch.equal(v, scaler[k])]
    assert 'out.weight' in moved and any('running_mean' in k for k in moved)
    batch = data.batch(torch.arange(16), st.cfg, torch.Generator().manual_seed(0), need_far=True)
    terms = T.generator_losses(st.model, st.D, st.Dt, batch, st.cfg, 'scale_fit', 'scale_fit')
    assert set(terms) == {'kl', 'bone'} and terms['kl'][0] == 0.01 and terms['bone'][0] == 1.0


def test_scale_on_3d_keeps_the_structure_exactly():
    """With the scale on the lifted 3D the lifter sees the 2D it was trained on: N-MPJPE and
    P-MPJPE (scale-free) equal those of the lifter alone; only MPJPE changes."""
    st = _state(*FIT)
    with torch.no_grad():
        st.model.scaler.out.bias.fill_(0.9)              # a scale far from 1
    st.model.eval()
    data = tiny_split(64)
    gt = np.random.RandomState(1).normal(0, 0.3, (64, 17, 3))
    gt -= gt[:, sk.ROOT:sk.ROOT + 1]
    with torch.no_grad():
        scaled = st.model.lift(data.pose_2d).est_3d.numpy().astype(np.float64)
        plain = st.model.lift(data.pose_2d, use_scaler=False).est_3d.numpy().astype(np.float64)
    scaled -= scaled[:, sk.ROOT:sk.ROOT + 1]
    plain -= plain[:, sk.ROOT:sk.ROOT + 1]
    assert not np.allclose(M.mpjpe(scaled, gt), M.mpjpe(plain, gt))
    np.testing.assert_allclose(M.n_mpjpe(scaled, gt), M.n_mpjpe(plain, gt), rtol=1e-5)
    np.testing.assert_allclose(M.p_mpjpe(scaled, gt), M.p_mpjpe(plain, gt), rtol=1e-5)
    # the scale on the 2D input (the paper's) does change the structure the lifter gives
    st.model.scale_on_3d = False
    with torch.no_grad():
        inp = st.model.lift(data.pose_2d).est_3d.numpy().astype(np.float64)
    inp -= inp[:, sk.ROOT:sk.ROOT + 1]
    assert np.abs(M.n_mpjpe(inp, gt) - M.n_mpjpe(plain, gt)).max() > 1e-4


def test_a_run_records_its_learning_curve(tmp_path, capsys, data_dir):
    """EVAL.CURVE_EVERY 1 on a 3-epoch run that evaluates only at the end: a point per epoch
    with the scale and structure metrics; model_best and the history come from the end alone."""
    cfg = write_cfg(tmp_path, data_dir)
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCHS', '3',
                               'EVAL.EVERY_EPOCH', 'false', 'EVAL.CURVE_EVERY', '1',
                               'TRAIN.MAX_STEPS_PER_EPOCH', '2', 'TRAIN.USE_SCALER', 'true'], capsys)
    assert rc == 0, err
    curve = json.load(open(tmp_path / 'out' / 'tiny' / 'curve.json'))
    assert [p['epoch'] for p in curve] == [1, 2, 3]
    for p in curve:
        for k in ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale', 'scale_mean', 'scale_std',
                  'scale_true_mean'):
            assert np.isfinite(p[k]), k
    res = json.load(open(tmp_path / 'out' / 'tiny' / 'results.json'))
    assert [h['epoch'] for h in res['history']] == [2]
    assert res['MPJPE'] == pytest.approx(curve[-1]['MPJPE'])
    assert 0.3 < res['scale_true_mean'] < 3


def test_a_checkpoint_lifts_with_its_own_scale_on_3d(tmp_path):
    """TRAIN.SCALE_ON_3D cannot be read off the weights: the loader takes it from the
    checkpoint's config (a --opts value wins), so a scale-after model lifts as it was trained."""
    from lib.config.defaults import get_default
    from lib.config.load import to_dict
    from lib.eval.load_model import load_pose_model
    st = _state(*FIT)
    path = tmp_path / 'fit.pth.tar'
    torch.save({'pose_model_state_dict': st.model.state_dict(), 'config': to_dict(st.cfg)}, path)
    notes = []
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS, cfg.NETWORK.LIFTER_RES_BLOCKS = 16, 1
    m = load_pose_model(cfg, str(path), log=notes.append)
    assert m.scale_on_3d is True and any('SCALE_ON_3D = True' in n for n in notes)
    cfg = get_default()
    m = load_pose_model(cfg, str(path), log=notes.append, explicit=('TRAIN.SCALE_ON_3D',))
    assert m.scale_on_3d is False


def test_a_new_scaler_can_start_at_the_prior(tmp_path, capsys, data_dir):
    """TRAIN.SCALER_INIT_PRIOR: a run warm-started from a lifter without a scaler starts its
    scaler near scale_mid = the prior mean for every pose, with a small spread: a batch of
    identical values would make the KL term (log of the batch std) infinite at the first step."""
    from lib.train import losses as L
    from lib.train.run import init_scaler_at_prior
    st = _state(*FIT)
    with torch.no_grad():
        _, before = st.model.scaler(tiny_split(32).pose_2d)
    init_scaler_at_prior(st.model.scaler, 0.57)
    st.model.eval()
    with torch.no_grad():
        scale, mid = st.model.scaler(tiny_split(32).pose_2d)
    assert (mid - 0.57).abs().max() < 0.01 and 1e-6 < mid.std() < 0.02 * before.std()
    assert torch.isfinite(L.loss_kl_scale(mid, 0.57, 0.05))
    cfg = write_cfg(tmp_path, data_dir)
    rc, _, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--model_dir', tmp_path / 'adv', '--opts',
                             'TRAIN.MAX_STEPS_PER_EPOCH', '1'], capsys)
    assert rc == 0, err
    rc, out, err = run_inproc(['--cfg', cfg, '--gpu', '-1', '--pretrain', tmp_path / 'adv' / 'tiny' / 'checkpoint.pth.tar',
                               '--opts', 'TRAIN.USE_SCALER', 'true', 'TRAIN.FREEZE_LIFTER', 'true',
                               'TRAIN.SCALER_INIT_PRIOR', 'true', 'DATA.SCALE_MID_MEAN', '0.6',
                               'TRAIN.NUM_EPOCHS', '0'], capsys)
    assert rc == 0 and 'scaler: starts near the prior, scale_mid 0.6' in out + err
